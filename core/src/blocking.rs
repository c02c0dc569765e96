//! A blocking facade over [`Client`] on one shared tokio runtime, for the FFI layers (C, Go, Python's sync
//! client) and for programs without an async runtime. Each call can be cancelled from another thread.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

use crate::client::{Client, EventStream, Reply};
use crate::credential::Mode;
use crate::error::{Error, Result};
use crate::request::{Request, Response};
use crate::runtime::runtime;
use crate::sse::Event;

/// Cancels an in-flight call from another thread (a Go context, a Python task, a C caller).
///
/// ```
/// let token = cozefallback::CancelToken::new();
/// token.cancel();
/// assert!(token.is_cancelled());
/// ```
#[derive(Clone, Default, Debug)]
pub struct CancelToken(Arc<CancelState>);

#[derive(Default, Debug)]
struct CancelState {
    cancelled: AtomicBool,
    notify: Notify,
}

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }
    /// Cancels every call using this token, now and later.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }
    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }
    /// Resolves once cancelled.
    pub async fn cancelled(&self) {
        loop {
            let notified = self.0.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
    /// Runs `fut` unless cancelled first; a cancelled call gives an error of kind `Cancelled`.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let token = cozefallback::CancelToken::new();
    /// token.cancel();
    /// let err = token.run(async { Ok(1) }).await.unwrap_err();
    /// assert_eq!(err.kind(), cozefallback::ErrorKind::Cancelled);
    /// # });
    /// ```
    pub fn run<T, F: Future<Output = Result<T>>>(&self, fut: F) -> impl Future<Output = Result<T>> {
        self.guard(fut, Error::cancelled, Error::cancelled)
    }

    /// `fut`, unless the token is cancelled: `refused()` when it was before the start, `stopped()` when it is
    /// while `fut` runs.
    pub(crate) fn guard<F>(
        &self,
        fut: F,
        refused: fn() -> Error,
        stopped: fn() -> Error,
    ) -> Guarded<'_, F> {
        Guarded {
            fut,
            notified: self.0.notify.notified(),
            registered: None,
            token: self,
            refused,
            stopped,
        }
    }
}

pin_project_lite::pin_project! {
    /// A future that a [`CancelToken`] can stop. Written by hand rather than with `select!`: the future it runs
    /// is stored once, not twice (a call's future is several kilobytes, moved on every start).
    pub(crate) struct Guarded<'a, F> {
        #[pin]
        fut: F,
        #[pin]
        notified: tokio::sync::futures::Notified<'a>,
        // The waker the wait is registered with; `None` before the first poll.
        registered: Option<std::task::Waker>,
        token: &'a CancelToken,
        refused: fn() -> Error,
        stopped: fn() -> Error,
    }
}

impl<T, F: Future<Output = Result<T>>> Future for Guarded<'_, F> {
    type Output = Result<T>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<T>> {
        let mut this = self.project();
        let started = this.registered.is_some();
        // The wait is registered before the flag is read, so a cancel between the two is not missed; only
        // cancel() notifies, so a notification is a cancel. Registering again only when the task's waker
        // changed keeps the notifier's lock off every poll.
        let same_waker = this
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()));
        let notified = !same_waker && this.notified.as_mut().poll(cx).is_ready();
        if notified || this.token.is_cancelled() {
            let error = if started { this.stopped } else { this.refused };
            return std::task::Poll::Ready(Err(error()));
        }
        if !same_waker {
            *this.registered = Some(cx.waker().clone());
        }
        this.fut.poll(cx)
    }
}

/// Runs a future to completion on the shared runtime, honouring an optional cancel token.
pub fn block_on<T: Send + 'static>(
    cancel: Option<&CancelToken>,
    fut: impl Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    // Spawning (not block_on directly) lets a caller that is itself inside a runtime thread still use this.
    let handle = runtime().spawn(cancellable(cancel.cloned(), fut));
    match crate::caller::park_until(handle) {
        Ok(r) => r,
        Err(e) if e.is_panic() => Err(Error::internal("a panic occurred inside the client")),
        Err(_) => Err(Error::cancelled()),
    }
}

/// `fut`, ended early with a `Cancelled` error when `cancel` is cancelled first.
async fn cancellable<T>(
    cancel: Option<CancelToken>,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    match cancel {
        Some(c) => c.run(fut).await,
        None => fut.await,
    }
}

/// [`block_on`], driven on the calling thread when it can be ([`crate::caller`]): for a call whose answer
/// cannot outlive it as a live stream.
fn block_here_or_on_runtime<T: Send + 'static>(
    cancel: Option<&CancelToken>,
    ready: impl FnOnce() -> bool,
    fut: impl Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    match crate::caller::drive_here(cancellable(cancel.cloned(), fut), ready) {
        Ok(Ok(r)) => r,
        Ok(Err(())) => Err(Error::internal("a panic occurred inside the client")),
        Err(call) => block_on(None, call),
    }
}

/// [`Client`] with blocking methods. Thread-safe: share one across threads.
///
/// ```no_run
/// let client = cozefallback::BlockingClient::from_json(r#"{"personal":{"type":"pat","token":"pat_x"}}"#).unwrap();
/// let resp = client.request(cozefallback::Request::get("/v1/workspaces"), None).unwrap();
/// println!("{}", resp.text());
/// ```
#[derive(Clone, Debug)]
pub struct BlockingClient {
    client: Client,
}

impl BlockingClient {
    /// Wraps an async client.
    pub fn new(client: Client) -> Self {
        BlockingClient { client }
    }
    /// Builds from the JSON config schema.
    pub fn from_json(config: &str) -> Result<Self> {
        // Building touches reqwest, which wants a runtime context for its connector.
        let _guard = runtime().enter();
        Client::from_json(config).map(Self::new)
    }
    /// Builds from the environment.
    pub fn from_env() -> Result<Self> {
        let _guard = runtime().enter();
        Client::from_env().map(Self::new)
    }
    /// The async client underneath.
    pub fn inner(&self) -> &Client {
        &self.client
    }
    /// Sends a request through the fallback.
    pub fn request(&self, req: Request, cancel: Option<&CancelToken>) -> Result<Response> {
        let client = self.client.clone();
        let ready = || self.client.thread_pool_ready();
        block_here_or_on_runtime(cancel, ready, async move { client.request(req).await })
    }
    /// Opens a stream.
    pub fn stream(&self, req: Request, cancel: Option<&CancelToken>) -> Result<BlockingStream> {
        let client = self.client.clone();
        let stream = block_on(cancel, async move { client.stream(req).await })?;
        Ok(BlockingStream::new(stream))
    }
    /// Sends and takes whichever answer the server gives (see [`Client::send`]): for HTTP-client adapters.
    pub fn send(&self, req: Request, cancel: Option<&CancelToken>) -> Result<Reply> {
        let client = self.client.clone();
        if req.may_stream() {
            // A live stream must stay readable from any thread: its connection lives on the shared runtime.
            return block_on(cancel, async move { client.send(req).await });
        }
        let ready = || self.client.thread_pool_ready();
        block_here_or_on_runtime(cancel, ready, async move { client.send(req).await })
    }
    /// Changes the routing mode.
    pub fn set_mode(&self, mode: Mode) -> Result<()> {
        self.client.set_mode(mode)
    }
    /// Metrics as JSON.
    pub fn metrics(&self) -> serde_json::Value {
        self.client.metrics()
    }
    /// Metrics as Prometheus text.
    pub fn metrics_prometheus(&self) -> String {
        self.client.metrics_prometheus()
    }
}

/// A blocking event stream.
#[derive(Debug)]
pub struct BlockingStream {
    stream: Option<EventStream>,
}

impl BlockingStream {
    /// Wraps an open stream (from [`Client::stream`] or a [`Reply::Stream`]).
    pub fn new(stream: EventStream) -> Self {
        BlockingStream {
            stream: Some(stream),
        }
    }
    /// The next event, `Ok(None)` at the end.
    pub fn next(&mut self, cancel: Option<&CancelToken>) -> Result<Option<Event>> {
        let Some(mut stream) = self.stream.take() else {
            return Ok(None);
        };
        let (stream, result) = block_on(cancel, async move {
            let r = stream.next().await;
            Ok((stream, r))
        })
        .map_err(|e| (e, ()))
        .map_or_else(|(e, ())| (None, Err(e)), |(s, r)| (Some(s), r));
        self.stream = stream;
        result
    }
    /// Closes the stream. Idempotent.
    pub fn close(&mut self) {
        if let Some(mut s) = self.stream.take() {
            let _guard = runtime().enter();
            s.close();
        }
    }
    /// The underlying stream, if still open.
    pub fn get(&self) -> Option<&EventStream> {
        self.stream.as_ref()
    }
}

impl Drop for BlockingStream {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::{Context, Poll, Wake, Waker};

    struct Counting(AtomicUsize);
    impl Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Counting>, Waker) {
        let c = Arc::new(Counting(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn a_cancel_wakes_the_waker_a_guarded_call_was_last_polled_with() {
        let token = CancelToken::new();
        let mut call = std::pin::pin!(token.run(std::future::pending::<Result<()>>()));
        let (first, first_waker) = waker();
        let (second, second_waker) = waker();
        assert!(
            call.as_mut()
                .poll(&mut Context::from_waker(&first_waker))
                .is_pending()
        );
        assert!(
            call.as_mut()
                .poll(&mut Context::from_waker(&first_waker))
                .is_pending()
        );
        // Moved to another task: the wait follows it.
        assert!(
            call.as_mut()
                .poll(&mut Context::from_waker(&second_waker))
                .is_pending()
        );
        token.cancel();
        assert_eq!(
            second.0.load(Ordering::SeqCst),
            1,
            "the current task is woken"
        );
        assert_eq!(first.0.load(Ordering::SeqCst), 0, "the old task is not");
        match call.as_mut().poll(&mut Context::from_waker(&second_waker)) {
            Poll::Ready(Err(e)) => assert_eq!(e.kind, crate::ErrorKind::Cancelled),
            other => panic!("expected Cancelled, got {other:?}"),
        }
    }

    #[test]
    fn a_guarded_call_is_refused_when_cancelled_before_it_starts() {
        let token = CancelToken::new();
        token.cancel();
        let started = AtomicBool::new(false);
        let call = token.guard(
            async {
                started.store(true, Ordering::SeqCst);
                Ok(())
            },
            || Error::invalid_argument("refused"),
            Error::cancelled,
        );
        let (_, w) = waker();
        let mut call = std::pin::pin!(call);
        match call.as_mut().poll(&mut Context::from_waker(&w)) {
            Poll::Ready(Err(e)) => assert_eq!(e.message(), "refused"),
            other => panic!("expected the refusal, got {other:?}"),
        }
        assert!(!started.load(Ordering::SeqCst), "the call never ran");
    }
}
