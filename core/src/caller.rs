//! A blocking call driven on the thread that makes it (docs/RUNTIME.md, "Blocking calls on the caller's thread").
//!
//! A blocking call that is spawned on the shared runtime pays two cross-thread wake-ups (caller to worker, worker
//! to caller), and its connection's socket is polled by a third party, the runtime's reactor. For a call whose
//! whole life is one blocking call (a full answer, not a stream that outlives it), the calling thread can instead
//! drive the call and its own sockets itself, the way Go's net/http does: each thread that makes blocking calls
//! gets a current-thread runtime of its own, and [`crate::http`] gives calls driven here a connection pool of
//! this thread (a connection belongs to the runtime that polls it). Everything else a call touches (the token
//! cache, routes, the Redis store's connection, `close()`) is runtime-agnostic or lives on the shared runtime.
//!
//! The first blocking call of a thread still goes to the shared runtime: a program that starts a thread per
//! call would otherwise build a runtime and a connection pool, and open a connection, for every call.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::AssertUnwindSafe;

use tokio::runtime::Runtime;

use crate::runtime::fork_generation;

/// One thread's own runtime, and the fork generation it was built in.
struct ThreadDriver {
    generation: u64,
    runtime: Runtime,
}

thread_local! {
    /// This thread's driver, built on its second blocking call.
    static DRIVER: RefCell<Option<ThreadDriver>> = const { RefCell::new(None) };
    /// Blocking calls this thread made so far (saturating).
    static CALLS: Cell<u8> = const { Cell::new(0) };
    /// Whether this thread is inside [`drive_here`] now.
    static DRIVING: Cell<bool> = const { Cell::new(false) };
}

/// Whether the current code runs inside a call driven on its own thread by [`drive_here`].
pub(crate) fn driving_here() -> bool {
    DRIVING.try_with(Cell::get).unwrap_or(false)
}

/// Drives `fut` to completion on this thread, or hands it back (`Err`) when it should go to the shared runtime:
/// on a thread's first call, inside a tokio runtime (a caller already on a runtime thread, or a hook that makes a
/// blocking call from inside one), while the thread-local state is being torn down, or when no runtime can be
/// built, or when `ready` (asked last: whether the caller's connection pool for this thread is at hand) says
/// no. A panic inside `fut` is caught and given as `Ok(Err(()))`.
///
/// ```ignore
/// let v = crate::caller::drive_here(async { 6 * 7 }, || true);
/// ```
pub(crate) fn drive_here<F: Future>(
    fut: F,
    ready: impl FnOnce() -> bool,
) -> Result<Result<F::Output, ()>, F> {
    if tokio::runtime::Handle::try_current().is_ok() || driving_here() || !second_call() || !ready()
    {
        return Err(fut);
    }
    let taken = DRIVER.try_with(|d| d.borrow_mut().take()).ok().flatten();
    let Some(driver) = current(taken) else {
        return Err(fut);
    };
    let _driving = Driving::enter();
    let runtime = &driver.runtime;
    // What the previous call left to run (a connection going back to the pool, a socket the server closed
    // while idle) runs first, so that a pooled connection is known to be alive or dead before it is reused.
    runtime.block_on(settle());
    let out = std::panic::catch_unwind(AssertUnwindSafe(|| runtime.block_on(fut))).map_err(|_| ());
    // Put the driver back (a nested call cannot have put one: it was refused above); after a panic the next
    // call builds a fresh one.
    if out.is_ok() {
        let _ = DRIVER.try_with(|d| *d.borrow_mut() = Some(driver));
    }
    Ok(out)
}

/// Counts this thread's call; whether it is the second or a later one.
fn second_call() -> bool {
    CALLS
        .try_with(|c| {
            let n = c.get();
            c.set(n.saturating_add(1));
            n >= 1
        })
        .unwrap_or(false)
}

/// The thread's driver for this process: a driver built before a `fork()` belongs to the parent (its epoll
/// instance is shared with the parent) and is leaked, never dropped.
fn current(taken: Option<ThreadDriver>) -> Option<ThreadDriver> {
    let now = fork_generation();
    match taken {
        Some(d) if d.generation == now => Some(d),
        stale => {
            std::mem::forget(stale);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            Some(ThreadDriver {
                generation: now,
                runtime,
            })
        }
    }
}

/// Lets the runtime poll its sockets and run what is ready, a few times over.
async fn settle() {
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
}

/// Marks this thread as driving a call until dropped (also on a panic).
struct Driving;

impl Driving {
    fn enter() -> Self {
        let _ = DRIVING.try_with(|d| d.set(true));
        Driving
    }
}

impl Drop for Driving {
    fn drop(&mut self) {
        let _ = DRIVING.try_with(|d| d.set(false));
    }
}

/// Waits for `fut` by parking this thread until its waker runs: for a future that another runtime completes
/// (a task's `JoinHandle`), from a thread that must not become a runtime itself.
pub(crate) fn park_until<F: Future>(fut: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct ThreadWaker(std::thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

/// Runs an application hook (the conversation hook, the OBO refresh hook) on a library thread, as their docs
/// promise, and waits for it: where it is for a call on the shared runtime; for a call driven on its caller's
/// own thread, on the shared runtime's blocking pool (hooks are rare: once per carried conversation or minted
/// OBO token). `Err` when the hook panicked: the app's code must not take the call down.
pub(crate) fn on_library_thread<R: Send + 'static>(
    hook: impl FnOnce() -> R + Send + 'static,
) -> Result<R, ()> {
    if !driving_here() {
        return std::panic::catch_unwind(AssertUnwindSafe(hook)).map_err(|_| ());
    }
    let task = crate::runtime::runtime().spawn_blocking(hook);
    park_until(task).map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` on a new thread (each test needs a thread with no calls made yet).
    fn on_new_thread(f: impl FnOnce() + Send + 'static) {
        std::thread::spawn(f).join().unwrap();
    }

    #[test]
    fn first_call_goes_to_the_shared_runtime_later_ones_run_here() {
        on_new_thread(|| {
            assert!(
                drive_here(async { 1 }, || true).is_err(),
                "the first call is handed back"
            );
            let here = std::thread::current().id();
            let ran_on = drive_here(async { std::thread::current().id() }, || true);
            assert_eq!(ran_on.ok().and_then(Result::ok), Some(here));
            assert!(!driving_here());
        });
    }

    #[test]
    fn refused_inside_a_runtime_and_when_nested() {
        on_new_thread(|| {
            let _ = drive_here(async {}, || true);
            let nested = drive_here(async { drive_here(async {}, || true).is_err() }, || true);
            assert_eq!(nested.ok().and_then(Result::ok), Some(true));
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(async { assert!(drive_here(async {}, || true).is_err()) });
        });
    }

    #[test]
    fn a_panic_is_caught_and_the_thread_can_call_again() {
        on_new_thread(|| {
            let _ = drive_here(async {}, || true);
            let panicked = drive_here(async { panic!("inside a call") }, || true);
            assert!(matches!(panicked, Ok(Err(()))));
            assert!(!driving_here());
            assert_eq!(
                drive_here(async { 7 }, || true).ok().and_then(Result::ok),
                Some(7)
            );
        });
    }
}
