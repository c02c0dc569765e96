//! The core's `tracing` records -> the Python logger `cozefallback`.
//!
//! The logger's effective level is cached in an atomic, refreshed (with the GIL already held) at every entry
//! into the native module, so a record the logger would drop costs one atomic load and never touches the GIL.
//! Messages pass through the core's `redact` before they reach Python.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};

/// The logger's effective level (Python numbering); 100 = disabled.
static LEVEL: AtomicU32 = AtomicU32::new(30);
static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn logger(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    LOGGER
        .get_or_try_init(py, || -> PyResult<Py<PyAny>> {
            Ok(py
                .import("logging")?
                .call_method1("getLogger", ("cozefallback",))?
                .unbind())
        })
        .map(|l| l.bind(py))
}

/// Re-reads the logger's effective level.
pub fn refresh(py: Python<'_>) {
    let level = (|| -> PyResult<u32> {
        let lg = logger(py)?;
        if lg.getattr("disabled")?.is_truthy()? {
            return Ok(100);
        }
        // Honour logging.disable() too.
        let disabled_below: u32 = lg
            .getattr("manager")?
            .getattr("disable")?
            .extract()
            .unwrap_or(0);
        let eff: u32 = lg.call_method0("getEffectiveLevel")?.extract()?;
        Ok(if disabled_below >= eff {
            disabled_below + 1
        } else {
            eff
        })
    })()
    .unwrap_or(30);
    LEVEL.store(level, Ordering::Relaxed);
}

fn py_level(level: &Level) -> u32 {
    match *level {
        Level::ERROR => 40,
        Level::WARN => 30,
        Level::INFO => 20,
        Level::DEBUG => 10,
        Level::TRACE => 5,
    }
}

/// The subscriber installed when the module loads.
pub struct PyLogging;

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={}", field.name(), value);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={:?}", field.name(), value);
        }
    }
}

impl Subscriber for PyLogging {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        let level = py_level(metadata.level());
        // The core's own records at every level; its HTTP stack's (hyper, reqwest) only from WARNING up.
        (level >= 30 || metadata.target().starts_with("cozefallback"))
            && level >= LEVEL.load(Ordering::Relaxed)
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let text = cozefallback::redact(&format!("{}{}", fields.message, fields.rest));
        let level = py_level(meta.level());
        let file = meta.file().unwrap_or("<rust>").to_string();
        let line = meta.line().unwrap_or(0);
        let target = meta.target().to_string();
        crate::bridge::with_python(move |py| {
            let emitted = (|| -> PyResult<()> {
                let lg = logger(py)?;
                let record = lg.call_method1(
                    "makeRecord",
                    (
                        "cozefallback",
                        level,
                        file,
                        line,
                        text,
                        py.None(),
                        py.None(),
                        target,
                    ),
                )?;
                lg.call_method1("handle", (record,))?;
                Ok(())
            })();
            if let Err(e) = emitted {
                e.write_unraisable(py, None);
            }
        });
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Installs the subscriber (unless the process already has a global one).
pub fn install() {
    let _ = tracing::subscriber::set_global_default(PyLogging);
}
