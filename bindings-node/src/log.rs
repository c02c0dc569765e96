//! The core's `tracing` records -> one JavaScript callback (`setLogger(fn, {level})` in `lib/log.js`).
//!
//! One process-wide subscriber, installed by the first `setLogger`. The level lives in an atomic, so a record
//! below it costs one load. A record's message and every text field pass through the core's `redact`, then the
//! record is queued to the JS thread through a weak, bounded threadsafe function: the thread that logs never
//! waits for JavaScript, a full queue drops the record, and the callback never keeps the process alive.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{SystemTime, UNIX_EPOCH};

use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};

/// Records waiting for the JS thread; past this many, new ones are dropped rather than buffered without bound.
const QUEUE: usize = 4096;

type LogFn =
    ThreadsafeFunction<NativeLogRecord, (), NativeLogRecord, napi::Status, false, true, QUEUE>;

/// Levels as numbers, most severe first: a record passes when its rank is at most the chosen one.
const OFF: u8 = 0;
const WARN: u8 = 2;

static LEVEL: AtomicU8 = AtomicU8::new(OFF);
static SINK: Mutex<Option<Arc<LogFn>>> = Mutex::new(None);
static INSTALL: Once = Once::new();

/// One log record as the JS layer receives it (`lib/log.js` turns `fields` into an object).
#[napi(object)]
pub struct NativeLogRecord {
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub level: String,
    /// The Rust module that logged (`cozefallback::client`, ...).
    pub target: String,
    /// The message, redacted.
    pub message: String,
    /// The other fields as a JSON object: numbers and booleans as they are, anything else as redacted text.
    pub fields: String,
    /// When it was logged, in ms since the Unix epoch.
    pub timestamp: f64,
}

fn rank(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        Level::TRACE => 5,
    }
}

fn parse_level(name: &str) -> cozefallback::Result<u8> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "off" => OFF,
        "error" => 1,
        "warn" => 2,
        "info" => 3,
        "debug" => 4,
        "trace" => 5,
        _ => {
            return Err(cozefallback::Error::invalid_argument(format!(
                "level must be one of off, error, warn, info, debug, trace; got {name:?}"
            )));
        }
    })
}

/// Sets (or with `null` removes) the process-wide receiver of the core's log records, at `level` and above.
#[napi(ts_args_type = "callback: ((record: NativeLogRecord) => void) | null, level: string")]
pub fn set_logger(callback: Option<LogFn>, level: String) -> napi::Result<()> {
    let level = parse_level(&level).map_err(crate::to_napi)?;
    INSTALL.call_once(|| {
        // Fails only if the process already has a global subscriber; then that one keeps the records.
        let _ = tracing::subscriber::set_global_default(JsLogging);
    });
    let mut sink = SINK.lock().unwrap_or_else(|p| p.into_inner());
    match callback {
        Some(f) => {
            *sink = Some(Arc::new(f));
            LEVEL.store(level, Ordering::Relaxed);
        }
        None => {
            LEVEL.store(OFF, Ordering::Relaxed);
            *sink = None;
        }
    }
    Ok(())
}

/// Collects a record's fields, redacting all text.
#[derive(Default)]
struct Fields {
    message: String,
    rest: Map<String, Value>,
}

impl Fields {
    fn text(&mut self, field: &Field, text: String) {
        if field.name() == "message" {
            self.message.push_str(&text);
        } else {
            let text = cozefallback::redact(&text);
            self.rest
                .insert(field.name().to_string(), Value::String(text));
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, value.to_string());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.text(field, value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        self.text(field, text);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.rest.insert(field.name().to_string(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.rest.insert(field.name().to_string(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.rest.insert(field.name().to_string(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        // NaN and infinities have no JSON form: keep them as text.
        let v = serde_json::Number::from_f64(value)
            .map_or_else(|| Value::String(value.to_string()), Value::Number);
        self.rest.insert(field.name().to_string(), v);
    }
}

/// The subscriber installed by the first `setLogger`.
struct JsLogging;

impl Subscriber for JsLogging {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        // The level changes at run time: ask `enabled` every time.
        Interest::sometimes()
    }
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        let rank = rank(metadata.level());
        // The core's own records at every level; its HTTP stack's (hyper, reqwest) only from warn up.
        rank <= LEVEL.load(Ordering::Relaxed)
            && (rank <= WARN || metadata.target().starts_with("cozefallback"))
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let Some(sink) = SINK.lock().unwrap_or_else(|p| p.into_inner()).clone() else {
            return;
        };
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let record = NativeLogRecord {
            level: meta.level().as_str().to_ascii_lowercase(),
            target: meta.target().to_string(),
            message: cozefallback::redact(&fields.message),
            fields: Value::Object(fields.rest).to_string(),
            timestamp: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        };
        // Queue full or JS thread gone: the record is dropped, the caller is never held up.
        let _ = sink.call(record, ThreadsafeFunctionCallMode::NonBlocking);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}
