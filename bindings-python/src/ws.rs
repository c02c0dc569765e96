//! Realtime WebSocket sessions (`/v1/chat`, `/v1/audio/speech`, `/v1/audio/transcriptions`): the core's
//! [`WebSocketSession`] for Python. Events go and come as dicts, binary frames as bytes; the fallback, the
//! held-event replay and every timeout are the core's.

use bytes::Bytes;
use cozefallback::{Client, WebSocketSession, WsEvent};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::bridge::{self, Aio};
use crate::convert;

/// An open realtime session; `cozefallback.WebSocketSession` and `AsyncWebSocketSession` wrap it.
#[pyclass(frozen, module = "cozefallback._native", name = "NativeWebSocket")]
pub struct NativeWebSocket {
    session: WebSocketSession,
}

/// Opens a session on `client` (the sync call blocks with the GIL released; `aio` completes a future).
pub fn open(
    py: Python<'_>,
    client: Client,
    path: String,
    query: Vec<(String, String)>,
    aio: Aio,
) -> PyResult<Py<PyAny>> {
    bridge::run(
        py,
        aio,
        async move { client.websocket(&path, query).await },
        |py, session| {
            Ok(Bound::new(py, NativeWebSocket { session })?
                .into_any()
                .unbind())
        },
    )
}

fn event_to_py(py: Python<'_>, event: Option<WsEvent>) -> PyResult<Py<PyAny>> {
    match event {
        Some(WsEvent::Json(v)) => Ok(convert::from_json(py, &v)?.unbind()),
        Some(WsEvent::Binary(b)) => Ok(PyBytes::new(py, &b).into_any().unbind()),
        None => Ok(py.None()),
    }
}

fn none(py: Python<'_>, (): ()) -> PyResult<Py<PyAny>> {
    Ok(py.None())
}

#[pymethods]
impl NativeWebSocket {
    /// Sends one event (a dict with `event_type`); held for a replay until the server's first event.
    #[pyo3(signature = (event, *, aio=None))]
    fn send(&self, py: Python<'_>, event: &Bound<'_, PyAny>, aio: Aio) -> PyResult<Py<PyAny>> {
        let event = convert::to_json(event)?;
        let s = self.session.clone();
        bridge::run(py, aio, async move { s.send(event).await }, none)
    }

    /// Sends one binary frame.
    #[pyo3(signature = (data, *, aio=None))]
    fn send_binary(&self, py: Python<'_>, data: &[u8], aio: Aio) -> PyResult<Py<PyAny>> {
        let data = Bytes::copy_from_slice(data);
        let s = self.session.clone();
        bridge::run(py, aio, async move { s.send_binary(data).await }, none)
    }

    /// The next event (a dict), binary frame (bytes), or None once the session ended normally.
    #[pyo3(signature = (*, aio=None))]
    fn next(&self, py: Python<'_>, aio: Aio) -> PyResult<Py<PyAny>> {
        let s = self.session.clone();
        bridge::run(py, aio, async move { s.next().await }, event_to_py)
    }

    /// Sends a close frame (bounded wait) and ends the session. Idempotent.
    #[pyo3(signature = (*, aio=None))]
    fn close(&self, py: Python<'_>, aio: Aio) -> PyResult<Py<PyAny>> {
        let s = self.session.clone();
        let work = async move {
            s.close().await;
            Ok(())
        };
        bridge::run(py, aio, work, none)
    }

    /// "personal" or "enterprise": the credential connected now.
    #[getter]
    fn credential(&self) -> &'static str {
        self.session.credential().as_str()
    }

    /// Handshakes made so far, over both credentials.
    #[getter]
    fn attempts(&self) -> u32 {
        self.session.attempts()
    }

    /// The log id of the last handshake answer.
    #[getter]
    fn logid(&self) -> Option<String> {
        self.session.logid()
    }

    /// Events handed out so far.
    #[getter]
    fn events_delivered(&self) -> u64 {
        self.session.events_delivered()
    }

    /// The server's close code, once it closed the session.
    #[getter]
    fn close_code(&self) -> Option<u16> {
        self.session.close_frame().map(|(code, _)| code)
    }

    /// The server's close reason, once it closed the session.
    #[getter]
    fn close_reason(&self) -> Option<String> {
        self.session.close_frame().map(|(_, reason)| reason)
    }

    /// The session's URL (it never carries a token).
    #[getter]
    fn url(&self) -> &str {
        self.session.url()
    }

    fn __repr__(&self) -> String {
        format!(
            "<NativeWebSocket url={:?} credential={:?} attempts={}>",
            self.session.url(),
            self.session.credential().as_str(),
            self.session.attempts()
        )
    }
}
