//! Who owns the tokio runtime, and what survives a `fork()` (docs/RUNTIME.md).
//!
//! After `fork()` only the forking thread exists in the child: the runtime's worker threads, its reactor and any
//! lock a vanished thread held are gone. A `pthread_atfork` child handler therefore bumps a process-wide fork
//! generation and forgets the runtime; [`runtime`] builds a fresh one in the child on first use, and every piece
//! of per-process state inside a client lives in a [`ForkLocal`], which is rebuilt on first use in a new
//! generation. What belonged to the parent (its runtime, its pooled connections) is leaked in the child, never
//! dropped: dropping would wait for threads that do not exist, or deregister sockets from the epoll instance the
//! child shares with its parent.

use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Mutex, TryLockError};

use tokio::runtime::Runtime;

/// Forks between the process that loaded the library and this one (0 in the original process).
static GENERATION: AtomicU64 = AtomicU64::new(0);
/// The shared runtime of this process; null until first use, and again in a child right after a fork.
static RUNTIME: AtomicPtr<Runtime> = AtomicPtr::new(ptr::null_mut());
static FORK_HOOK: AtomicBool = AtomicBool::new(false);

/// The shared runtime every blocking call and binding runs on. Bindings with their own event loop spawn the
/// core's futures here and await the `JoinHandle`, so connections always live on this runtime.
///
/// Fork-aware: in a child process the first call builds a new runtime (the parent's threads did not survive the
/// fork). The returned reference stays valid for the life of the process: a runtime is never dropped.
///
/// ```
/// let answer = cozefallback::runtime().block_on(async { 6 * 7 });
/// assert_eq!(answer, 42);
/// ```
pub fn runtime() -> &'static Runtime {
    let rt = RUNTIME.load(Ordering::Acquire);
    if rt.is_null() {
        return start_runtime();
    }
    // SAFETY: a published runtime is leaked, never freed.
    unsafe { &*rt }
}

/// How many `fork()`s separate this process from the one that first loaded the library: 0 in the original
/// process, 1 in its children, 2 in their children.
///
/// ```
/// assert_eq!(cozefallback::fork_generation(), 0);
/// ```
pub fn fork_generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Refuses, in a forked child, what was opened in another process (`born` is the [`fork_generation`] taken
/// when it was opened): an `InvalidArgument` error. A binding calls it before taking the lock of a stream it
/// wraps, because a parent thread that was inside `next()` at the fork holds that lock forever in the child.
///
/// ```
/// assert!(cozefallback::ensure_not_forked(cozefallback::fork_generation()).is_ok());
/// let err = cozefallback::ensure_not_forked(cozefallback::fork_generation() + 1).unwrap_err();
/// assert_eq!(err.kind(), cozefallback::ErrorKind::InvalidArgument);
/// ```
pub fn ensure_not_forked(born: u64) -> crate::Result<()> {
    if born == fork_generation() {
        return Ok(());
    }
    Err(crate::Error::invalid_argument(
        "this stream was opened before a fork(): its connection belongs to the parent process",
    ))
}

#[cold]
fn start_runtime() -> &'static Runtime {
    install_fork_hook();
    let built = Box::into_raw(Box::new(build_runtime()));
    match RUNTIME.compare_exchange(ptr::null_mut(), built, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: just published; never freed.
        Ok(_) => unsafe { &*built },
        Err(winner) => {
            // Another thread started one first: stop ours without waiting, use theirs.
            // SAFETY: `built` was never published.
            unsafe { *Box::from_raw(built) }.shutdown_background();
            // SAFETY: a published runtime is never freed.
            unsafe { &*winner }
        }
    }
}

fn build_runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .clamp(2, 8),
        )
        .thread_name("cozefallback")
        .enable_all()
        .build()
        .expect("cannot start the cozefallback runtime")
}

/// Runs in the child right after `fork()`, before anything else: only async-signal-safe work (atomics).
#[cfg(unix)]
extern "C" fn after_fork_in_child() {
    // The parent's runtime is forgotten, not dropped: its threads do not exist here.
    RUNTIME.store(ptr::null_mut(), Ordering::Release);
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// Registers the fork handler once per process (a child inherits it). Lock-free: a fork can never catch it
/// half done in a way that blocks the child.
fn install_fork_hook() {
    if FORK_HOOK.load(Ordering::Acquire)
        || FORK_HOOK
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
    {
        return;
    }
    #[cfg(unix)]
    {
        // SAFETY: the handler only touches atomics.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
        if rc != 0 {
            tracing::warn!(
                rc,
                "pthread_atfork failed: a client will not work in a forked child"
            );
        }
    }
}

/// A value that belongs to one process: the one it was made in uses it as is; a forked child gets a copy made
/// by `rebuild` from the parent's value on first use, and the parent's value is never touched again there
/// (neither used nor dropped). Hot path: one atomic load.
pub(crate) struct ForkLocal<T> {
    born: u64,
    first: ManuallyDrop<T>,
    /// The value of a later generation (a forked child), leaked when replaced by a newer generation's.
    later: AtomicPtr<Slot<T>>,
    rebuild: Box<dyn Fn(&T) -> T + Send + Sync>,
}

struct Slot<T> {
    generation: u64,
    value: T,
}

impl<T: Send + Sync> ForkLocal<T> {
    /// `value` for this process; `rebuild` makes a child's value from its parent's (which it must only read
    /// without blocking: a lock the parent held at the fork is never released in the child).
    pub(crate) fn new(value: T, rebuild: impl Fn(&T) -> T + Send + Sync + 'static) -> Self {
        install_fork_hook();
        ForkLocal {
            born: fork_generation(),
            first: ManuallyDrop::new(value),
            later: AtomicPtr::new(ptr::null_mut()),
            rebuild: Box::new(rebuild),
        }
    }

    /// This process's value.
    #[inline]
    pub(crate) fn get(&self) -> &T {
        let now = GENERATION.load(Ordering::Acquire);
        if now == self.born {
            return &self.first;
        }
        self.in_child(now)
    }

    #[cold]
    fn in_child(&self, now: u64) -> &T {
        let current = self.later.load(Ordering::Acquire);
        // SAFETY: a slot is freed only when the ForkLocal is dropped.
        let parent = match unsafe { current.as_ref() } {
            Some(slot) if slot.generation == now => return &slot.value,
            Some(slot) => &slot.value,
            None => &*self.first,
        };
        let fresh = Box::into_raw(Box::new(Slot {
            generation: now,
            value: (self.rebuild)(parent),
        }));
        match self
            .later
            .compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire)
        {
            // The replaced slot (an older process's value) is leaked on purpose.
            // SAFETY: just published; freed only on drop.
            Ok(_) => unsafe { &(*fresh).value },
            Err(_) => {
                // Another thread of this child rebuilt first: keep theirs.
                // SAFETY: `fresh` was never published.
                drop(unsafe { Box::from_raw(fresh) });
                self.get()
            }
        }
    }
}

impl<T: Send + Sync> Deref for ForkLocal<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.get()
    }
}

impl<T> Drop for ForkLocal<T> {
    fn drop(&mut self) {
        let now = GENERATION.load(Ordering::Acquire);
        if now == self.born {
            // SAFETY: dropped once, here; made in this process.
            unsafe { ManuallyDrop::drop(&mut self.first) };
        }
        let slot = *self.later.get_mut();
        // SAFETY: a non-null slot is a leaked Box; only this process's own is freed.
        if !slot.is_null() && unsafe { (*slot).generation } == now {
            drop(unsafe { Box::from_raw(slot) });
        }
    }
}

/// A mutex whose content a forked child copies from its parent, unless a parent thread held the lock at the fork
/// (the content may be half written then): the child starts from the initial value instead of waiting forever.
pub(crate) type ForkMutex<T> = ForkLocal<Mutex<T>>;

/// A [`ForkMutex`] holding `value`.
pub(crate) fn fork_mutex<T: Clone + Send + Sync + 'static>(value: T) -> ForkMutex<T> {
    let initial = value.clone();
    ForkLocal::new(Mutex::new(value), move |parent: &Mutex<T>| {
        Mutex::new(match parent.try_lock() {
            Ok(v) => v.clone(),
            Err(TryLockError::Poisoned(p)) => p.into_inner().clone(),
            Err(TryLockError::WouldBlock) => initial.clone(),
        })
    })
}

/// Fills `buf` from the OS: a forked child's thread-local RNG is a copy of its parent's, so a value that must be
/// unique (a JWT id, an OAuth state, a PKCE verifier) is never drawn from it.
pub(crate) fn fill_unique(buf: &mut [u8]) {
    use rand::{RngCore, TryRngCore};
    if rand::rngs::OsRng.try_fill_bytes(buf).is_err() {
        rand::rng().fill_bytes(buf);
    }
}

impl<T: Default + Clone + Send + Sync + 'static> Default for ForkMutex<T> {
    fn default() -> Self {
        fork_mutex(T::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_per_process() {
        let cell = ForkLocal::new(1u32, |parent| parent + 1);
        assert_eq!(*cell, 1);
        assert!(std::ptr::eq(cell.get(), cell.get()));
        let m = fork_mutex(vec![1]);
        m.lock().unwrap().push(2);
        assert_eq!(*m.lock().unwrap(), [1, 2]);
    }

    #[test]
    fn the_runtime_is_shared() {
        assert!(std::ptr::eq(runtime(), runtime()));
        assert_eq!(runtime().block_on(async { 2 + 2 }), 4);
    }
}
