//! The WebSocket session (Coze's realtime APIs) for Node: a thin face of the core's `WebSocketSession`.
//! Every decision (fallback, held events, replay, sticky routes, time limits) is the core's; this file only
//! converts types and runs the core futures on its shared runtime.

use bytes::Bytes;
use cozefallback::{CancelToken, WebSocketSession, WsEvent};
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use crate::{on_runtime, to_napi};

/// One frame from the server: `json` (the event as JSON text) or `binary`.
#[napi(object)]
pub struct NativeWsFrame {
    /// The event as JSON text, for a text frame.
    pub json: Option<String>,
    /// The bytes of a binary frame.
    pub binary: Option<Buffer>,
}

fn to_frame(e: WsEvent) -> NativeWsFrame {
    match e {
        WsEvent::Json(v) => NativeWsFrame {
            json: Some(v.to_string()),
            binary: None,
        },
        WsEvent::Binary(b) => NativeWsFrame {
            json: None,
            binary: Some(Buffer::from(b.to_vec())),
        },
    }
}

/// Opens a session on the client (see `NativeClient::websocket`); `cancel` aborts the opening.
pub(crate) async fn open(
    client: cozefallback::Client,
    path: String,
    query: Vec<(String, String)>,
    cancel: CancelToken,
) -> napi::Result<NativeWebSocket> {
    let session =
        on_runtime(async move { cancel.run(client.websocket(&path, query)).await }).await?;
    Ok(NativeWebSocket {
        session,
        abort: CancelToken::new(),
    })
}

/// An open realtime session. Use the JS `WebSocketSession`, which wraps it.
#[napi]
pub struct NativeWebSocket {
    session: WebSocketSession,
    /// Fired by an AbortSignal: a pending and every later `next()`/`send()` reject with kind `cancelled`.
    abort: CancelToken,
}

#[napi]
impl NativeWebSocket {
    /// Sends one event given as JSON text (the core checks that it is an object).
    #[napi]
    pub async fn send(&self, json: String) -> napi::Result<()> {
        let event: serde_json::Value = serde_json::from_str(&json).map_err(|e| {
            to_napi(cozefallback::Error::invalid_argument(format!(
                "the WebSocket event is not valid JSON: {e}"
            )))
        })?;
        let s = self.session.clone();
        let abort = self.abort.clone();
        on_runtime(async move { abort.run(s.send(event)).await }).await
    }

    /// Sends one binary frame.
    #[napi]
    pub async fn send_binary(&self, data: Buffer) -> napi::Result<()> {
        let data = Bytes::from(data.to_vec());
        let s = self.session.clone();
        let abort = self.abort.clone();
        on_runtime(async move { abort.run(s.send_binary(data)).await }).await
    }

    /// The next frame, or `null` once the server closed normally or after `close()`.
    #[napi]
    pub async fn next(&self) -> napi::Result<Option<NativeWsFrame>> {
        let s = self.session.clone();
        let abort = self.abort.clone();
        on_runtime(async move { abort.run(s.next()).await.map(|o| o.map(to_frame)) }).await
    }

    /// Sends a close frame (the core waits at most 2 s) and ends the session. Idempotent.
    #[napi]
    pub async fn close(&self) -> napi::Result<()> {
        let s = self.session.clone();
        on_runtime(async move {
            s.close().await;
            Ok(())
        })
        .await
    }

    /// An AbortSignal fired: pending and later calls reject with kind `cancelled`; the session is closed.
    #[napi]
    pub fn abort(&self) {
        self.abort.cancel();
        let s = self.session.clone();
        cozefallback::runtime().spawn(async move { s.close().await });
    }

    /// `"personal"` or `"enterprise"`: the credential connected now.
    #[napi(getter)]
    pub fn credential(&self) -> String {
        self.session.credential().as_str().to_string()
    }
    /// Handshakes so far, fallback included.
    #[napi(getter)]
    pub fn attempts(&self) -> u32 {
        self.session.attempts()
    }
    /// The last handshake's Coze log id.
    #[napi(getter)]
    pub fn logid(&self) -> Option<String> {
        self.session.logid()
    }
    /// Events delivered to the caller so far.
    #[napi(getter)]
    pub fn events_delivered(&self) -> f64 {
        self.session.events_delivered() as f64
    }
    /// The close code the server sent, once it closed.
    #[napi(getter)]
    pub fn close_code(&self) -> Option<u32> {
        self.session.close_frame().map(|(code, _)| u32::from(code))
    }
    /// The close reason the server sent, once it closed.
    #[napi(getter)]
    pub fn close_reason(&self) -> Option<String> {
        self.session.close_frame().map(|(_, reason)| reason)
    }
    /// The session's URL (never carries the token).
    #[napi(getter)]
    pub fn url(&self) -> String {
        self.session.url().to_string()
    }
}
