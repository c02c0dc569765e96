//! A blocking face of [`WebSocketSession`] for the FFI bindings.

use super::{WebSocketSession, WsEvent};
use crate::blocking::{BlockingClient, CancelToken, block_on};
use crate::error::Result;

/// [`WebSocketSession`] with blocking methods, on the shared runtime. `send` and `next` may be called from
/// different threads at once.
///
/// ```no_run
/// let client = cozefallback::BlockingClient::from_json(r#"{"personal":{"type":"pat","token":"pat_x"}}"#).unwrap();
/// let session = cozefallback::BlockingWebSocket::open(&client, "/v1/audio/speech", &[], None).unwrap();
/// session.send(serde_json::json!({"event_type": "input_text_buffer.append", "data": {"delta": "hi"}}), None).unwrap();
/// while let Some(event) = session.next(None).unwrap() {
///     println!("{:?}", event.event_type());
/// }
/// ```
#[derive(Clone, Debug)]
pub struct BlockingWebSocket {
    session: WebSocketSession,
}

impl BlockingWebSocket {
    /// Opens a session (see [`crate::Client::websocket`]).
    pub fn open(
        client: &BlockingClient,
        path: &str,
        query: &[(String, String)],
        cancel: Option<&CancelToken>,
    ) -> Result<Self> {
        let client = client.inner().clone();
        let path = path.to_string();
        let query = query.to_vec();
        let session = block_on(cancel, async move { client.websocket(&path, query).await })?;
        Ok(BlockingWebSocket { session })
    }
    /// Sends one JSON event.
    pub fn send(&self, event: serde_json::Value, cancel: Option<&CancelToken>) -> Result<()> {
        let s = self.session.clone();
        block_on(cancel, async move { s.send(event).await })
    }
    /// Sends one binary frame.
    pub fn send_binary(&self, data: Vec<u8>, cancel: Option<&CancelToken>) -> Result<()> {
        let s = self.session.clone();
        block_on(cancel, async move { s.send_binary(data).await })
    }
    /// The next frame, `Ok(None)` at the end.
    pub fn next(&self, cancel: Option<&CancelToken>) -> Result<Option<WsEvent>> {
        let s = self.session.clone();
        block_on(cancel, async move { s.next().await })
    }
    /// Closes the session (bounded wait). Idempotent.
    pub fn close(&self) {
        let s = self.session.clone();
        let _ = block_on(None, async move {
            s.close().await;
            Ok(())
        });
    }
    /// The async session underneath (credential, attempts, logid...).
    pub fn get(&self) -> &WebSocketSession {
        &self.session
    }
}

// The bindings share one session across threads.
const _: fn() = || {
    fn check<T: Send + Sync>() {}
    check::<BlockingWebSocket>();
};
