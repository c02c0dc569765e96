//! `Client::close()`: one client-wide cancel token that every call and stream selects on.

use std::future::Future;

use crate::blocking::CancelToken;
use crate::error::{Error, ErrorKind, Result};
use crate::runtime::ForkLocal;

/// Whether a client was closed, and the wake-up for the calls in flight when it is.
pub(crate) struct Closer(ForkLocal<CancelToken>);

impl Closer {
    pub(crate) fn new() -> Self {
        // Per process: a child must not wake the parent's waiting tasks (they live on the parent's runtime).
        Closer(ForkLocal::new(CancelToken::new(), |parent| {
            let fresh = CancelToken::new();
            if parent.is_cancelled() {
                fresh.cancel();
            }
            fresh
        }))
    }

    /// Cancels every call and stream in flight, now and later.
    pub(crate) fn close(&self) {
        self.0.cancel();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.0.is_cancelled()
    }

    /// The token itself, for a stream that outlives the call that opened it.
    pub(crate) fn token(&self) -> CancelToken {
        self.0.get().clone()
    }

    /// Runs `fut` unless the client is (or gets) closed: refused before it starts, cancelled while it runs.
    pub(crate) fn guard<T, F: Future<Output = Result<T>>>(
        &self,
        fut: F,
    ) -> impl Future<Output = Result<T>> {
        self.0.get().guard(fut, closed_error, closed_in_flight)
    }
}

/// A call on a client after `close()`.
pub(crate) fn closed_error() -> Error {
    Error::invalid_argument("the client is closed: calls on it are refused (build a new client)")
}

/// A call or stream that `close()` stopped.
pub(crate) fn closed_in_flight() -> Error {
    Error::new(
        ErrorKind::Cancelled,
        "the call was cancelled: the client was closed while it was in flight",
    )
}
