//! The one tokio runtime of a Node process: the core's (docs/RUNTIME.md, "Who owns which runtime").
//!
//! napi-rs runs every `#[napi] async fn` on the `AsyncRuntime` backend an addon registers (napi's
//! `async-runtime` feature). [`CoreRuntime`] hands each of those futures to `cozefallback::runtime()`, the
//! core's fork-aware runtime, and napi's own tokio runtime is not built at all (its `tokio_rt` feature is
//! off). So a Node process runs one set of worker threads, the core's `cozefallback` threads, and the fork
//! rules of `core/src/runtime.rs` cover the binding with no code of its own: every `spawn` asks
//! `cozefallback::runtime()` afresh, which in a forked child is the child's new runtime.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cozefallback::CancelToken;
use napi::bindgen_prelude::{
    AsyncRuntime, AsyncRuntimeGuard, AsyncRuntimeRejection, AsyncRuntimeTask,
};

/// How long `shutdown` waits for the tasks it cancelled to be dropped (each drop is one wake-up away).
const QUIESCE_LIMIT: Duration = Duration::from_secs(1);

/// Registers [`CoreRuntime`] with napi. Runs as a library constructor (`#[module_init]`), before Node
/// activates the first environment, which is the only time napi accepts a backend.
#[napi_derive::module_init]
fn register_core_runtime() {
    napi::bindgen_prelude::register_async_runtime(CoreRuntime::default());
}

/// napi's async backend: the promises of `#[napi] async fn`s are driven on the core's shared runtime.
///
/// napi calls `start` when the first Node environment (the main thread or a worker) starts, and
/// `shutdown` when the last one ends; the core's runtime itself is never stopped, only the tasks napi
/// handed over are cancelled, which rejects their promises.
#[derive(Default)]
pub(crate) struct CoreRuntime {
    /// Set by `shutdown`, cleared by `start`: while set, napi's new work is declined.
    stopped: AtomicBool,
    /// Cancelled by `shutdown`: every task accepted since the last `start` is dropped.
    stop: Mutex<CancelToken>,
    /// Tasks accepted and not yet dropped.
    live: Arc<AtomicUsize>,
}

impl CoreRuntime {
    fn stop_token(&self) -> CancelToken {
        self.stop.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Counts one task as live until it is dropped.
struct LiveTask(Arc<AtomicUsize>);

impl LiveTask {
    fn enter(live: &Arc<AtomicUsize>) -> Self {
        live.fetch_add(1, Ordering::AcqRel);
        LiveTask(live.clone())
    }
}

impl Drop for LiveTask {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The core runtime's context, held while napi runs a synchronous export (so `tokio::spawn` and
/// reqwest find the core's runtime there too).
struct Entered(#[allow(dead_code)] tokio::runtime::EnterGuard<'static>);

impl AsyncRuntimeGuard for Entered {}

// SAFETY: the tasks napi hands over run on the core's runtime, which lives for the whole process and is
// never dropped (`core/src/runtime.rs`), and the addon image holding their code is the one that holds the
// core, so it stays loaded while they run. `shutdown` cancels every task it accepted and returns once they
// are dropped (bounded by `QUIESCE_LIMIT`).
unsafe impl AsyncRuntime for CoreRuntime {
    fn spawn(&self, task: AsyncRuntimeTask) -> Result<(), AsyncRuntimeRejection<AsyncRuntimeTask>> {
        // The token before the flag: a `shutdown` in between then either cancels this token or is seen.
        let stop = self.stop_token();
        if self.stopped.load(Ordering::Acquire) {
            return Err(AsyncRuntimeRejection::new(
                task,
                napi::Error::new(
                    napi::Status::Cancelled,
                    "the Node environment is shutting down",
                ),
            ));
        }
        let live = LiveTask::enter(&self.live);
        cozefallback::runtime().spawn(async move {
            let _live = live;
            // A cancelled task is dropped here, and napi rejects its promise.
            tokio::select! {
                biased;
                () = stop.cancelled() => {}
                () = task => {}
            }
        });
        Ok(())
    }

    fn block_on(&self, future: Pin<&mut dyn Future<Output = ()>>) -> napi::Result<()> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(napi::Error::new(
                napi::Status::GenericFailure,
                "block_on was called from inside a tokio runtime",
            ));
        }
        cozefallback::runtime().block_on(future);
        Ok(())
    }

    fn enter(&self) -> napi::Result<Box<dyn AsyncRuntimeGuard + '_>> {
        Ok(Box::new(Entered(cozefallback::runtime().enter())))
    }

    fn start(&self) -> napi::Result<()> {
        self.stopped.store(false, Ordering::Release);
        Ok(())
    }

    fn shutdown(&self) -> napi::Result<()> {
        self.stopped.store(true, Ordering::Release);
        let stop = std::mem::take(&mut *self.stop.lock().unwrap_or_else(|p| p.into_inner()));
        stop.cancel();
        let started = Instant::now();
        while self.live.load(Ordering::Acquire) > 0 && started.elapsed() < QUIESCE_LIMIT {
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }
}
