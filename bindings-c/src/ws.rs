//! WebSocket sessions (the realtime APIs) through the C ABI: a session handle over the core's
//! `BlockingWebSocket`; the fallback, the held events and their replay are the core's.

use std::ffi::{CString, c_char};
use std::ptr;

use cozefallback::{BlockingWebSocket, Error, WsEvent};

use super::cancel::{cancel_of, cozefallback_cancel_token};
use super::client::cozefallback_client;
use super::error::{cozefallback_error, cozefallback_status, guard};
use super::ffi::{
    access, arg_bytes, arg_out, arg_ref, arg_str, credential_cstr, cstring, free_box, invalid, put,
};

/// An open WebSocket session of the realtime APIs. Opaque. `send` and `next` may be called from different
/// threads at once.
pub struct cozefallback_websocket {
    inner: BlockingWebSocket,
}

/// One frame from the server: a JSON event or a binary frame. Opaque and immutable.
pub struct cozefallback_ws_event {
    /// The JSON text of a JSON event.
    json: Option<CString>,
    event_type: Option<CString>,
    binary: Option<Vec<u8>>,
}

/// `{"k": "v", ...}` as query pairs (numbers are written as they are).
fn query_pairs(text: Option<&str>) -> Result<Vec<(String, String)>, Error> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    let expected = "`query_json` must be a JSON object of strings, e.g. {\"bot_id\": \"7350...\"}";
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| invalid(&format!("{expected}: {e}")))?;
    let obj = value.as_object().ok_or_else(|| invalid(expected))?;
    obj.iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k.clone(), s.clone())),
            serde_json::Value::Number(n) => Ok((k.clone(), n.to_string())),
            _ => Err(invalid(&format!("{expected}; `{k}` is not a string"))),
        })
        .collect()
}

/// Opens a WebSocket session on the WebSocket base (`wss://ws.coze.cn` for `https://api.coze.cn`, or the
/// config's `ws_base_url`), e.g. path "/v1/chat" with query_json `{"bot_id": "..."}` (NULL for none). A
/// handshake refused with a fallback code connects with the other credential; so does a first server event
/// `error` with a fallback code, replaying the events sent so far in order. Once a non-error event was
/// delivered nothing is replayed.
///
/// Ownership: borrows the arguments for the call; on success `*out` is a new session to free with
/// `cozefallback_websocket_free`. Thread safety: any thread.
/// Errors: API (a refused handshake: `cozefallback_error_http_status`, `cozefallback_error_code`), AUTH,
/// TRANSPORT, TIMEOUT, CANCELLED, INVALID_ARGUMENT.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_websocket_open(
    client: *const cozefallback_client,
    path: *const c_char,
    query_json: *const c_char,
    cancel: *const cozefallback_cancel_token,
    out: *mut *mut cozefallback_websocket,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        arg_out(out, "out")?;
        let client = arg_ref(client, "client")?;
        let path = arg_str(path, "path")?;
        let query = if query_json.is_null() {
            None
        } else {
            Some(arg_str(query_json, "query_json")?)
        };
        let query = query_pairs(query)?;
        let inner = BlockingWebSocket::open(&client.inner, path, &query, cancel_of(cancel))?;
        put(out, cozefallback_websocket { inner });
        Ok(())
    })
}

/// Sends one JSON event (an object with `event_type`), given as JSON text.
///
/// Ownership: borrows the arguments. Thread safety: any thread.
/// Errors: INVALID_ARGUMENT (not a JSON object, a closed session), STREAM_INTERRUPTED, TIMEOUT, CANCELLED.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_websocket_send(
    session: *const cozefallback_websocket,
    event_json: *const c_char,
    cancel: *const cozefallback_cancel_token,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        let session = arg_ref(session, "session")?;
        let text = arg_str(event_json, "event_json")?;
        let event: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| invalid(&format!("`event_json` is not JSON: {e}")))?;
        session.inner.send(event, cancel_of(cancel))
    })
}

/// Sends one binary frame of `len` bytes.
///
/// Ownership: borrows the arguments. Thread safety: any thread.
/// Errors: INVALID_ARGUMENT, STREAM_INTERRUPTED, TIMEOUT, CANCELLED.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_websocket_send_binary(
    session: *const cozefallback_websocket,
    data: *const u8,
    len: usize,
    cancel: *const cozefallback_cancel_token,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        let session = arg_ref(session, "session")?;
        let bytes = arg_bytes(data, len, "data")?.to_vec();
        session.inner.send_binary(bytes, cancel_of(cancel))
    })
}

/// Waits for the next frame. On success `*out` is the frame, or NULL at the end (the server closed normally,
/// or `cozefallback_websocket_close` was called). A break after the first event gives STREAM_INTERRUPTED
/// with `cozefallback_error_events_delivered`; a close code other than 1000/1001 is such a break too.
///
/// `cancel` may be NULL. Ownership: `*out` is a new frame to free with `cozefallback_ws_event_free`.
/// Thread safety: any thread. Errors: API (both credentials refused), STREAM_INTERRUPTED, TIMEOUT (idle),
/// TRANSPORT, CANCELLED, INVALID_ARGUMENT.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_websocket_next(
    session: *const cozefallback_websocket,
    cancel: *const cozefallback_cancel_token,
    out: *mut *mut cozefallback_ws_event,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        arg_out(out, "out")?;
        let session = arg_ref(session, "session")?;
        if let Some(event) = session.inner.next(cancel_of(cancel))? {
            put(out, event_handle(event));
        }
        Ok(())
    })
}

fn event_handle(event: WsEvent) -> cozefallback_ws_event {
    match event {
        WsEvent::Json(v) => cozefallback_ws_event {
            event_type: v.get("event_type").and_then(|t| t.as_str()).map(cstring),
            json: Some(cstring(&v.to_string())),
            binary: None,
        },
        WsEvent::Binary(b) => cozefallback_ws_event {
            json: None,
            event_type: None,
            binary: Some(b.to_vec()),
        },
    }
}

/// Sends a close frame (waiting at most 2 s) and ends the session; later `next` calls report the end.
/// Idempotent. The handle must still be freed with `cozefallback_websocket_free`.
///
/// Thread safety: any thread. Errors: INVALID_ARGUMENT.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_websocket_close(
    session: *const cozefallback_websocket,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        arg_ref(session, "session")?.inner.close();
        Ok(())
    })
}

/// The credential connected now: "personal" or "enterprise" (final once the first event was delivered; NULL
/// for a NULL handle).
///
/// Ownership: a static string. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_websocket_credential(
    session: *const cozefallback_websocket,
) -> *const c_char {
    access(ptr::null(), || {
        unsafe { session.as_ref() }.map_or(ptr::null(), |s| {
            credential_cstr(s.inner.get().credential()).as_ptr()
        })
    })
}

/// Handshakes made so far, over both credentials (0 for a NULL handle).
///
/// Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_websocket_attempts(
    session: *const cozefallback_websocket,
) -> u32 {
    access(0, || {
        unsafe { session.as_ref() }.map_or(0, |s| s.inner.get().attempts())
    })
}

/// Events delivered so far (0 for a NULL handle).
///
/// Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_websocket_events_delivered(
    session: *const cozefallback_websocket,
) -> u64 {
    access(0, || {
        unsafe { session.as_ref() }.map_or(0, |s| s.inner.get().events_delivered())
    })
}

/// The server's close code once it closed the session, else 0.
///
/// Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_websocket_close_code(
    session: *const cozefallback_websocket,
) -> u16 {
    access(0, || {
        unsafe { session.as_ref() }
            .and_then(|s| s.inner.get().close_frame())
            .map_or(0, |(code, _)| code)
    })
}

/// The log id of the last handshake answer, or NULL.
///
/// Ownership: a new string to free with `cozefallback_string_free` (it may change at a fallback).
/// Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_websocket_logid(
    session: *const cozefallback_websocket,
) -> *mut c_char {
    access(ptr::null_mut(), || {
        unsafe { session.as_ref() }
            .and_then(|s| s.inner.get().logid())
            .map_or(ptr::null_mut(), |l| cstring(&l).into_raw())
    })
}

/// Closes (if needed) and frees a session. NULL-safe.
///
/// Ownership: takes `session`. Thread safety: call once no other thread uses it. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_websocket_free(session: *mut cozefallback_websocket) {
    if let Some(s) = unsafe { session.as_ref() } {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.inner.close()));
    }
    unsafe { free_box(session) }
}

/// The frame's JSON text (the server's object as sent), or NULL for a binary frame.
///
/// Ownership: borrowed from `event`. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_ws_event_json(
    event: *const cozefallback_ws_event,
) -> *const c_char {
    access(ptr::null(), || {
        unsafe { event.as_ref() }
            .and_then(|e| e.json.as_ref())
            .map_or(ptr::null(), |j| j.as_ptr())
    })
}

/// The frame's `event_type` (e.g. "chat.created", "error"), or NULL for a binary frame.
///
/// Ownership: borrowed from `event`. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_ws_event_type(
    event: *const cozefallback_ws_event,
) -> *const c_char {
    access(ptr::null(), || {
        unsafe { event.as_ref() }
            .and_then(|e| e.event_type.as_ref())
            .map_or(ptr::null(), |t| t.as_ptr())
    })
}

/// The bytes of a binary frame (their count in `*len`), or NULL (and `*len` = 0) for a JSON event.
/// `len` may be NULL.
///
/// Ownership: borrowed from `event`. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_ws_event_binary(
    event: *const cozefallback_ws_event,
    len: *mut usize,
) -> *const u8 {
    access(ptr::null(), || {
        let bytes = unsafe { event.as_ref() }.and_then(|e| e.binary.as_deref());
        if let Some(len) = unsafe { len.as_mut() } {
            *len = bytes.map_or(0, <[u8]>::len);
        }
        bytes.map_or(ptr::null(), <[u8]>::as_ptr)
    })
}

/// Frees a frame. NULL-safe.
///
/// Ownership: takes `event`. Thread safety: call once. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_ws_event_free(event: *mut cozefallback_ws_event) {
    unsafe { free_box(event) }
}
