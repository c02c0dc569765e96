//! The stream handle and its events: opening a server-sent event stream, reading it event by event, closing
//! it, and the event accessors. The core's `EventStream` decides (fallback before the first event, no replay
//! after); this module bridges it to blocking calls and guards against use in a forked child.

use std::ffi::{CString, c_char};
use std::ptr;
use std::sync::Mutex;

use cozefallback::{BlockingStream, Error, Event, EventStream, ResponseMeta, block_on};

use super::cancel::{cancel_of, cozefallback_cancel_token};
use super::client::cozefallback_client;
use super::conversations::MovedC;
use super::error::{cozefallback_error, cozefallback_status, credential_ptr, guard};
use super::ffi::{
    arg_out, arg_ref, cstring, free_box, lock, opt_ptr, out_str, put, put_new, put_opt, read_or,
};
use super::request::{cozefallback_request, request_arg};

/// An open server-sent event stream. Opaque; guarded by a lock.
pub struct cozefallback_stream {
    inner: Mutex<BlockingStream>,
    /// The fork generation it was opened in: a child must not wait for the lock (see `next`).
    born: u64,
    /// Where the stream came from, as the core reports it (`EventStream::meta`).
    meta: ResponseMeta,
    /// `meta.logid` as a C string, lent by the accessor.
    logid: Option<CString>,
    /// `meta.conversation_moved` as C strings (`cozefallback_*_conversation_moved`), if the call carried one over.
    pub(crate) moved: Option<MovedC>,
}

/// One server-sent event. Opaque and immutable.
pub struct cozefallback_event {
    name: CString,
    data: CString,
    id: Option<CString>,
}

/// The blocking side of one event stream: the runtime bridge only (the core's `EventStream` decides).
pub(crate) fn stream_handle(stream: EventStream) -> cozefallback_stream {
    let meta = stream.meta();
    cozefallback_stream {
        logid: meta.logid.as_deref().map(cstring),
        moved: meta.conversation_moved.as_ref().map(MovedC::from_core),
        meta,
        born: cozefallback::fork_generation(),
        inner: Mutex::new(BlockingStream::new(stream)),
    }
}

/// Opens a server-sent event stream (e.g. POST /v3/chat with "stream": true). The core falls back on the
/// response head or on a leading `error` event; once an event has been delivered nothing is replayed.
///
/// Ownership: borrows the arguments for the call; on success `*out` is a new stream to free with
/// `cozefallback_stream_free` (it keeps what it needs of the client). Thread safety: any thread.
/// Errors: API, AUTH, REAUTH_REQUIRED, TRANSPORT, TIMEOUT, CANCELLED, INVALID_ARGUMENT, CONVERSATION_STRANDED
/// (a chat naming a conversation or file only the other credential reaches, with `conversations.on_stranded`
/// "error" or a file id; `cozefallback_error_conversation_id` and the accessors next to it say which).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_stream_open(
    client: *const cozefallback_client,
    request: *const cozefallback_request,
    cancel: *const cozefallback_cancel_token,
    out: *mut *mut cozefallback_stream,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        put_new(out, || {
            let client = arg_ref(client, "client")?;
            let req = request_arg(request)?;
            let core = client.inner.inner().clone();
            let stream = block_on(cancel_of(cancel), async move { core.stream(req).await })?;
            Ok(stream_handle(stream))
        })
    })
}

/// Waits for the next event. On success `*out` is the event, or NULL at the end of the stream (and at every
/// later call). A broken stream gives STREAM_INTERRUPTED with `cozefallback_error_events_delivered`.
///
/// `cancel` may be NULL. Ownership: `*out` is a new event to free with `cozefallback_event_free`.
/// Thread safety: any thread; concurrent calls on one stream are serialised.
/// Errors: STREAM_INTERRUPTED, TIMEOUT (idle), CANCELLED, INVALID_ARGUMENT (also, at once, in a child of
/// fork() for a stream opened before the fork, even one that another thread was reading at the fork).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_stream_next(
    stream: *const cozefallback_stream,
    cancel: *const cozefallback_cancel_token,
    out: *mut *mut cozefallback_event,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        arg_out(out, "out")?;
        if let Some(ev) = next_event(stream, cancel)? {
            put(
                out,
                cozefallback_event {
                    name: cstring(&ev.event),
                    data: cstring(&ev.data),
                    id: ev.id.as_deref().map(cstring),
                },
            );
        }
        Ok(())
    })
}

/// The next event of `stream`, or None at its end: the wait both `next` readers share.
unsafe fn next_event(
    stream: *const cozefallback_stream,
    cancel: *const cozefallback_cancel_token,
) -> Result<Option<Event>, Error> {
    // SAFETY: NULL or a live stream handle, checked here.
    let stream = unsafe { arg_ref(stream, "stream")? };
    // Before the lock: a parent thread inside `next` at a fork() holds it forever in the child.
    cozefallback::ensure_not_forked(stream.born)?;
    lock(&stream.inner).next(unsafe { cancel_of(cancel) })
}

/// As `cozefallback_stream_next`, but hands the event out as server-sent-event text framed by the library
/// (docs/FORMS.md): `id:ID` (when the event had one), `event:NAME`, one `data:` line per line of the data,
/// then a blank line. For adapters that give a stream to code that parses SSE itself. On success `*out` is
/// the text and `*len` its length in bytes, or NULL and 0 at the end of the stream (and at every later call).
/// The wait is bounded like `cozefallback_stream_next` (the idle timeout, `cancel`), the text by
/// `max_event_bytes`.
///
/// ```c
/// char *sse = NULL;
/// size_t len = 0;
/// while ((st = cozefallback_stream_next_sse(stream, NULL, &sse, &len, &err)) == COZEFALLBACK_STATUS_OK && sse) {
///     fwrite(sse, 1, len, out); // "event:conversation.message.delta\ndata:{...}\n\n"
///     cozefallback_string_free(sse);
/// }
/// ```
///
/// `cancel` and `len` may be NULL. Ownership: `*out` is a new NUL-terminated string to free with
/// `cozefallback_string_free`. Thread safety: any thread; concurrent calls on one stream are serialised.
/// Errors: as `cozefallback_stream_next` (INVALID_ARGUMENT for a NULL `stream` or `out`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_stream_next_sse(
    stream: *const cozefallback_stream,
    cancel: *const cozefallback_cancel_token,
    out: *mut *mut c_char,
    len: *mut usize,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        put_opt(len, 0);
        arg_out(out, "out")?;
        if let Some(ev) = next_event(stream, cancel)? {
            put_opt(len, out_str(out, &ev.to_sse()));
        }
        Ok(())
    })
}

/// Stops reading and closes the connection; later `next` calls report the end. Idempotent. The handle must
/// still be freed with `cozefallback_stream_free`. To interrupt a `next` blocked in another thread, cancel
/// its token.
///
/// Thread safety: any thread. Errors: INVALID_ARGUMENT.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_stream_close(
    stream: *const cozefallback_stream,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        let stream = arg_ref(stream, "stream")?;
        // In a forked child the parent's connection is left alone, and its lock may never be released.
        if cozefallback::ensure_not_forked(stream.born).is_ok() {
            lock(&stream.inner).close();
        }
        Ok(())
    })
}

/// The HTTP status of the stream's response (0 for a NULL handle).
///
/// Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_stream_status(stream: *const cozefallback_stream) -> u16 {
    unsafe { read_or(stream, 0, |s| s.meta.status) }
}

/// The credential serving the stream: "personal" or "enterprise" (NULL for a NULL handle).
///
/// Ownership: a static string. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_stream_credential(
    stream: *const cozefallback_stream,
) -> *const c_char {
    unsafe {
        read_or(stream, ptr::null(), |s| {
            credential_ptr(Some(s.meta.credential))
        })
    }
}

/// HTTP attempts it took to open the stream (0 for a NULL handle).
///
/// Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_stream_attempts(stream: *const cozefallback_stream) -> u32 {
    unsafe { read_or(stream, 0, |s| s.meta.attempts) }
}

/// The Coze log id of the stream's response, or NULL.
///
/// Ownership: borrowed from `stream`. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_stream_logid(
    stream: *const cozefallback_stream,
) -> *const c_char {
    unsafe { read_or(stream, ptr::null(), |s| opt_ptr(&s.logid)) }
}

/// Closes (if needed) and frees a stream. NULL-safe.
///
/// Ownership: takes `stream`. Thread safety: call once no other thread uses it. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_stream_free(stream: *mut cozefallback_stream) {
    unsafe { free_box(stream) }
}

/// The event name (`message` when the server named none).
///
/// Ownership: borrowed from `event`. Thread safety: any thread. Errors: none (NULL for a NULL handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_event_name(
    event: *const cozefallback_event,
) -> *const c_char {
    unsafe { read_or(event, ptr::null(), |e| e.name.as_ptr()) }
}

/// The event data (data lines joined with "\n").
///
/// Ownership: borrowed from `event`. Thread safety: any thread. Errors: none (NULL for a NULL handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_event_data(
    event: *const cozefallback_event,
) -> *const c_char {
    unsafe { read_or(event, ptr::null(), |e| e.data.as_ptr()) }
}

/// The event's `id:` field, or NULL when it has none.
///
/// Ownership: borrowed from `event`. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_event_id(event: *const cozefallback_event) -> *const c_char {
    unsafe { read_or(event, ptr::null(), |e| opt_ptr(&e.id)) }
}

/// Frees an event. NULL-safe.
///
/// Ownership: takes `event`. Thread safety: call once. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_event_free(event: *mut cozefallback_event) {
    unsafe { free_box(event) }
}
