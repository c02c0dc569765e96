//! Runs core futures on `cozefallback::runtime()` and hands their results to Python, either by blocking the
//! calling thread with the GIL released (the sync API) or by completing an asyncio future through
//! `loop.call_soon_threadsafe` (the async API).

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use crate::errors;

/// Converts a core result into a Python object (runs with the GIL held).
pub type Convert<T> = fn(Python<'_>, T) -> PyResult<Py<PyAny>>;

/// An asyncio loop and the future to complete on it.
pub type Aio = Option<(Py<PyAny>, Py<PyAny>)>;

/// A call running for an `AsyncClient`: `cancel()` stops it (its connection is dropped).
#[pyclass(frozen, module = "cozefallback._native")]
pub struct Pending {
    abort: tokio::task::AbortHandle,
}

#[pymethods]
impl Pending {
    /// Stops the call. Harmless once it finished.
    fn cancel(&self) {
        self.abort.abort();
    }
    /// Whether the call finished (or was stopped).
    fn done(&self) -> bool {
        self.abort.is_finished()
    }
}

static COMPLETE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Set at interpreter exit (an `atexit` hook): library threads stop entering Python.
static SHUTDOWN: AtomicBool = AtomicBool::new(false);
/// Library threads inside Python right now.
static ATTACHED: AtomicUsize = AtomicUsize::new(0);

/// `Python::try_attach` for library (tokio) threads, unless the interpreter is exiting.
///
/// Completing an asyncio future calls `loop.call_soon_threadsafe`, whose socket write releases the GIL; the loop
/// may then finish and the interpreter start finalizing while this thread still has to re-take the GIL. The
/// `atexit` hook [`shutdown`] therefore waits (GIL released) until no library thread is inside Python.
pub fn with_python<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Option<R> {
    if SHUTDOWN.load(Ordering::SeqCst) {
        return None;
    }
    ATTACHED.fetch_add(1, Ordering::SeqCst);
    let r = if SHUTDOWN.load(Ordering::SeqCst) {
        None
    } else {
        Python::try_attach(f)
    };
    ATTACHED.fetch_sub(1, Ordering::SeqCst);
    r
}

/// Registered with `atexit`: stops library threads from entering Python and waits for those inside.
#[pyfunction]
pub fn _shutdown(py: Python<'_>) {
    SHUTDOWN.store(true, Ordering::SeqCst);
    py.detach(|| {
        let give_up = std::time::Instant::now() + Duration::from_secs(2);
        while ATTACHED.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

fn complete_fn(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    COMPLETE
        .get_or_try_init(py, || -> PyResult<Py<PyAny>> {
            Ok(py
                .import("cozefallback._aio")?
                .getattr("_complete")?
                .unbind())
        })
        .map(|f| f.bind(py))
}

/// Runs `work` on the shared runtime. Sync (`aio` is None): blocks with the GIL released, waking every 100 ms to
/// let Python deliver signals (Ctrl-C cancels the call). Async: returns a [`Pending`] at once and completes the
/// future on its loop when done.
pub fn run<T: Send + 'static>(
    py: Python<'_>,
    aio: Aio,
    work: impl Future<Output = cozefallback::Result<T>> + Send + 'static,
    convert: Convert<T>,
) -> PyResult<Py<PyAny>> {
    crate::log::refresh(py);
    let rt = cozefallback::runtime();
    match aio {
        None => {
            let (tx, rx) = sync_channel(1);
            let task = rt.spawn(async move {
                let _ = tx.send(work.await);
            });
            let abort = task.abort_handle();
            let mut rx = rx;
            loop {
                let (back, got) = py.detach(move || {
                    let got = rx.recv_timeout(Duration::from_millis(100));
                    (rx, got)
                });
                rx = back;
                match got {
                    Ok(Ok(v)) => return convert(py, v),
                    Ok(Err(e)) => return Err(errors::to_pyerr(py, &e)),
                    Err(RecvTimeoutError::Timeout) => {
                        if let Err(e) = py.check_signals() {
                            abort.abort();
                            return Err(e);
                        }
                    }
                    Err(RecvTimeoutError::Disconnected) => {
                        return Err(errors::simple(
                            py,
                            "internal",
                            "a panic occurred inside the client",
                        ));
                    }
                }
            }
        }
        Some((event_loop, future)) => {
            let task = rt.spawn(work);
            let abort = task.abort_handle();
            rt.spawn(async move {
                let joined = task.await;
                with_python(move |py| {
                    let (ok, value) = match joined {
                        Ok(Ok(v)) => match convert(py, v) {
                            Ok(obj) => (true, obj),
                            Err(e) => (false, e.into_value(py).into_any()),
                        },
                        Ok(Err(e)) => (false, errors::to_pyerr(py, &e).into_value(py).into_any()),
                        Err(j) if j.is_cancelled() => (
                            false,
                            errors::simple(py, "cancelled", "the call was cancelled")
                                .into_value(py)
                                .into_any(),
                        ),
                        Err(_) => (
                            false,
                            errors::simple(py, "internal", "a panic occurred inside the client")
                                .into_value(py)
                                .into_any(),
                        ),
                    };
                    let done = complete_fn(py).and_then(|complete| {
                        event_loop
                            .call_method1(py, "call_soon_threadsafe", (complete, future, ok, value))
                            .map(|_| ())
                    });
                    // A closed loop (the program is exiting) has nobody left to tell.
                    drop(done);
                });
            });
            Ok(Pending { abort }.into_pyobject(py)?.into_any().unbind())
        }
    }
}
