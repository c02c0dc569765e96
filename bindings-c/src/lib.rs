//! libcozefallback: the C ABI over the `cozefallback` core.
//!
//! This crate only converts types and maps errors: every decision (fallback, retries, tokens, routing) is the
//! core's. Each exported function is wrapped in `catch_unwind`, checks every pointer and string it is given,
//! and reports failures as a [`cozefallback_status`] plus an optional [`cozefallback_error`].
#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::Mutex;

mod conversations;
mod ws;

use conversations::MovedC;

use cozefallback::{
    BlockingClient, BlockingStream, CancelToken, CredentialKind, Error, ErrorKind, Event,
    EventStream, Mode, Reply, Request, Response, block_on,
};

/// The outcome of a call: `COZEFALLBACK_STATUS_OK` (0) or the kind of the error. The non-zero values match
/// the core's error kinds (`cozefallback_error_kind_name` gives the scenario names: "config", "api", ...).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cozefallback_status {
    /// Success.
    Ok = 0,
    /// The configuration is invalid; `cozefallback_error_field` names the field.
    Config = 1,
    /// Coze answered with a business error code, an HTTP error status, or a redirect that was not followed.
    Api = 2,
    /// An OAuth endpoint refused, or a token could not be minted.
    Auth = 3,
    /// An OBO user token was rejected even after a refresh; see `cozefallback_error_authorize_url`.
    ReauthRequired = 4,
    /// The connection failed, the answer was unreadable, or it passed max_event_bytes / max_response_bytes.
    Transport = 5,
    /// A timeout fired (connect, first byte, idle stream, overall deadline).
    Timeout = 6,
    /// A stream broke after at least one event had been delivered; nothing was replayed.
    StreamInterrupted = 7,
    /// The call was cancelled through its `cozefallback_cancel_token`.
    Cancelled = 8,
    /// A NULL pointer, a string that is not UTF-8, a number out of range (a `timeout_ms` above
    /// `cozefallback_max_timeout_ms()`), or another malformed argument; the message names the parameter.
    InvalidArgument = 9,
    /// A bug: a panic was caught inside the library (never an abort).
    Panic = 10,
    /// A chat named a conversation (or a file) that only the other credential reaches, and
    /// `conversations.on_stranded` is "error"; the message says what to do.
    ConversationStranded = 11,
}

fn status_of(kind: ErrorKind) -> cozefallback_status {
    match kind {
        ErrorKind::Config => cozefallback_status::Config,
        ErrorKind::Api => cozefallback_status::Api,
        ErrorKind::Auth => cozefallback_status::Auth,
        ErrorKind::ReauthRequired => cozefallback_status::ReauthRequired,
        ErrorKind::Transport => cozefallback_status::Transport,
        ErrorKind::Timeout => cozefallback_status::Timeout,
        ErrorKind::StreamInterrupted => cozefallback_status::StreamInterrupted,
        ErrorKind::Cancelled => cozefallback_status::Cancelled,
        ErrorKind::InvalidArgument => cozefallback_status::InvalidArgument,
        ErrorKind::ConversationStranded => cozefallback_status::ConversationStranded,
        _ => cozefallback_status::Panic,
    }
}

// ---------------------------------------------------------------------------------------------------------
// Handles

/// A client: two credentials, the fallback between them, a token cache, metrics. Opaque.
pub struct cozefallback_client {
    inner: BlockingClient,
}

/// A request being built (method, path, query, headers, body). Opaque; guarded by a lock.
pub struct cozefallback_request {
    inner: Mutex<Request>,
}

/// A successful answer. Opaque and immutable.
pub struct cozefallback_response {
    status: u16,
    /// The body followed by one extra NUL byte (not counted in the length).
    body: Vec<u8>,
    headers: Vec<(CString, CString)>,
    credential: CredentialKind,
    attempts: u32,
    logid: Option<CString>,
    /// The carry-over this call made (`cozefallback_response_conversation_moved`), if any.
    moved: Option<MovedC>,
}

/// An open server-sent event stream. Opaque; guarded by a lock.
pub struct cozefallback_stream {
    inner: Mutex<BlockingStream>,
    /// The fork generation it was opened in: a child must not wait for the lock (see `next`).
    born: u64,
    status: u16,
    credential: CredentialKind,
    attempts: u32,
    logid: Option<CString>,
    /// The carry-over made before the stream opened (`cozefallback_stream_conversation_moved`), if any.
    moved: Option<MovedC>,
}

/// One server-sent event. Opaque and immutable.
pub struct cozefallback_event {
    name: CString,
    data: CString,
    id: Option<CString>,
}

/// A failed call: kind, message and the Coze details. Opaque and immutable.
pub struct cozefallback_error {
    status: cozefallback_status,
    kind_name: &'static CStr,
    message: CString,
    field: Option<CString>,
    code: Option<i64>,
    http_status: Option<u16>,
    logid: Option<CString>,
    credential: Option<CredentialKind>,
    authorize_url: Option<CString>,
    oauth_error: Option<CString>,
    events_delivered: u64,
    attempts: u32,
    coze_message: Option<CString>,
    response: Option<cozefallback_response>,
    previous: Option<Box<cozefallback_error>>,
    /// For CONVERSATION_STRANDED: the conversation or file that only `conversation_owner` reaches, and the
    /// credential that reaches the bot.
    conversation_id: Option<CString>,
    file_id: Option<CString>,
    conversation_owner: Option<CredentialKind>,
    bot_credential: Option<CredentialKind>,
}

/// Cancels in-flight calls from another thread (a Go context, a signal handler's helper thread...). Opaque.
pub struct cozefallback_cancel_token {
    inner: CancelToken,
}

// ---------------------------------------------------------------------------------------------------------
// Helpers

/// A C string from Rust text; an interior NUL (never expected) is replaced so nothing is lost silently.
fn cstring(s: &str) -> CString {
    CString::new(s)
        .unwrap_or_else(|_| CString::new(s.replace('\0', "\u{FFFD}")).expect("no NUL left"))
}

fn credential_cstr(kind: CredentialKind) -> &'static CStr {
    match kind {
        CredentialKind::Personal => c"personal",
        CredentialKind::Enterprise => c"enterprise",
    }
}

fn kind_name(kind: ErrorKind) -> &'static CStr {
    match kind {
        ErrorKind::Config => c"config",
        ErrorKind::Api => c"api",
        ErrorKind::Auth => c"auth",
        ErrorKind::ReauthRequired => c"reauth_required",
        ErrorKind::Transport => c"transport",
        ErrorKind::Timeout => c"timeout",
        ErrorKind::StreamInterrupted => c"stream_interrupted",
        ErrorKind::Cancelled => c"cancelled",
        ErrorKind::InvalidArgument => c"invalid_argument",
        ErrorKind::ConversationStranded => c"conversation_stranded",
        _ => c"internal",
    }
}

impl cozefallback_error {
    fn from_core(e: &Error) -> cozefallback_error {
        cozefallback_error {
            status: status_of(e.kind()),
            kind_name: kind_name(e.kind()),
            message: cstring(&e.to_string()),
            field: e.field().map(cstring),
            code: e.code(),
            http_status: e.http_status(),
            logid: e.logid().map(cstring),
            credential: e.credential(),
            authorize_url: e.authorize_url().map(cstring),
            oauth_error: e.oauth_error().map(cstring),
            events_delivered: e.events_delivered(),
            attempts: e.attempts(),
            coze_message: e.coze_message().map(cstring),
            response: e.response().map(|r| {
                body_and_headers(
                    r.status,
                    &r.body,
                    &r.headers,
                    e.credential().unwrap_or(CredentialKind::Personal),
                    e.attempts(),
                    e.logid(),
                )
            }),
            previous: e
                .previous()
                .map(|p| Box::new(cozefallback_error::from_core(p))),
            conversation_id: e.conversation_id().map(cstring),
            file_id: e.file_id().map(cstring),
            conversation_owner: e.conversation_owner(),
            bot_credential: e.bot_credential(),
        }
    }
}

fn invalid(what: &str) -> Error {
    Error::invalid_argument(what.to_string())
}

/// Runs `f`, catching panics, and reports its error through `err`.
fn guard(
    err: *mut *mut cozefallback_error,
    f: impl FnOnce() -> Result<(), Error>,
) -> cozefallback_status {
    if !err.is_null() {
        // SAFETY: the caller passes either NULL or a valid pointer to a `cozefallback_error *`.
        unsafe { *err = ptr::null_mut() };
    }
    let result = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(Error::internal(format!(
                "a panic was caught inside libcozefallback: {what}"
            )))
        }
    };
    match result {
        Ok(()) => cozefallback_status::Ok,
        Err(e) => {
            let boxed = cozefallback_error::from_core(&e);
            let status = boxed.status;
            if !err.is_null() {
                // SAFETY: as above.
                unsafe { *err = Box::into_raw(Box::new(boxed)) };
            }
            status
        }
    }
}

/// Runs an accessor, returning `default` on a panic.
fn access<T>(default: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(default)
}

/// A required UTF-8 string argument.
unsafe fn arg_str<'a>(p: *const c_char, name: &str) -> Result<&'a str, Error> {
    if p.is_null() {
        return Err(invalid(&format!("`{name}` is NULL")));
    }
    // SAFETY: the caller passes a NUL-terminated string that lives for the call.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| invalid(&format!("`{name}` is not valid UTF-8")))
}

/// A required handle argument.
unsafe fn arg_ref<'a, T>(p: *const T, name: &str) -> Result<&'a T, Error> {
    // SAFETY: the caller passes NULL or a live handle from this library.
    unsafe { p.as_ref() }.ok_or_else(|| invalid(&format!("`{name}` is NULL")))
}

/// A required out-pointer: checked, and cleared so that it is NULL on every failure.
unsafe fn arg_out<T>(p: *mut *mut T, name: &str) -> Result<(), Error> {
    if p.is_null() {
        return Err(invalid(&format!("`{name}` (the out-pointer) is NULL")));
    }
    // SAFETY: non-NULL out-pointer from the caller.
    unsafe { *p = ptr::null_mut() };
    Ok(())
}

unsafe fn put<T>(out: *mut *mut T, value: T) {
    // SAFETY: `out` was checked by `arg_out`.
    unsafe { *out = Box::into_raw(Box::new(value)) };
}

unsafe fn free_box<T>(p: *mut T) {
    if !p.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: the caller passes a handle from this library, once.
            drop(unsafe { Box::from_raw(p) })
        }));
    }
}

fn opt_ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(ptr::null(), |c| c.as_ptr())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

unsafe fn arg_bytes<'a>(data: *const u8, len: usize, name: &str) -> Result<&'a [u8], Error> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(invalid(&format!(
            "`{name}` is NULL but its length is {len}"
        )));
    }
    // SAFETY: the caller passes `len` readable bytes at `data`.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

fn response_handle(r: Response) -> cozefallback_response {
    let mut handle = body_and_headers(
        r.status,
        &r.body,
        &r.headers,
        r.credential,
        r.attempts,
        r.logid.as_deref(),
    );
    handle.moved = r.conversation_moved.as_ref().map(MovedC::from_core);
    handle
}

fn body_and_headers(
    status: u16,
    data: &[u8],
    headers: &[(String, String)],
    credential: CredentialKind,
    attempts: u32,
    logid: Option<&str>,
) -> cozefallback_response {
    let mut body = Vec::with_capacity(data.len() + 1);
    body.extend_from_slice(data);
    body.push(0);
    cozefallback_response {
        status,
        body,
        headers: headers
            .iter()
            .map(|(k, v)| (cstring(k), cstring(v)))
            .collect(),
        credential,
        attempts,
        logid: logid.map(cstring),
        moved: None,
    }
}

/// The blocking side of one event stream: the runtime bridge only (the core's `EventStream` decides).
fn stream_handle(stream: EventStream) -> cozefallback_stream {
    cozefallback_stream {
        status: stream.status(),
        credential: stream.credential(),
        attempts: stream.attempts(),
        logid: stream.logid().map(cstring),
        moved: stream.conversation_moved().map(MovedC::from_core),
        born: cozefallback::fork_generation(),
        inner: Mutex::new(BlockingStream::new(stream)),
    }
}

unsafe fn cancel_of<'a>(cancel: *const cozefallback_cancel_token) -> Option<&'a CancelToken> {
    // SAFETY: NULL or a live token.
    unsafe { cancel.as_ref() }.map(|c| &c.inner)
}

// ---------------------------------------------------------------------------------------------------------
// Library

/// The library version, e.g. "0.1.0".
///
/// Ownership: a static string; do not free. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub extern "C" fn cozefallback_version() -> *const c_char {
    static VERSION: std::sync::LazyLock<CString> =
        std::sync::LazyLock::new(|| cstring(cozefallback::VERSION));
    access(ptr::null(), || VERSION.as_ptr())
}

/// The stable name of a status value ("ok", "config", "api", "auth", "reauth_required", "transport",
/// "timeout", "stream_interrupted", "cancelled", "invalid_argument", "internal", "conversation_stranded"), or
/// "unknown".
///
/// Ownership: a static string; do not free. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub extern "C" fn cozefallback_status_name(status: i32) -> *const c_char {
    let name: &'static CStr = match status {
        0 => c"ok",
        1 => c"config",
        2 => c"api",
        3 => c"auth",
        4 => c"reauth_required",
        5 => c"transport",
        6 => c"timeout",
        7 => c"stream_interrupted",
        8 => c"cancelled",
        9 => c"invalid_argument",
        10 => c"internal",
        11 => c"conversation_stranded",
        _ => c"unknown",
    };
    name.as_ptr()
}

/// Frees a string returned by this library (metrics). NULL-safe.
///
/// Ownership: takes back `s`, which must come from this library and not be freed twice.
/// Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_string_free(s: *mut c_char) {
    if !s.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: a string from `CString::into_raw` in this library.
            drop(unsafe { CString::from_raw(s) })
        }));
    }
}

// ---------------------------------------------------------------------------------------------------------
// Client

/// Builds a client from the JSON configuration schema (the same document as every other language).
///
/// Ownership: on success `*out` is a new client to free with `cozefallback_client_free`; on failure `*out` is
/// NULL. `config_json` is only read during the call. Thread safety: any thread.
/// Errors: CONFIG (the message names the field, `cozefallback_error_field` gives its dotted path; a number
/// past its bound, such as `timeouts.total_ms` above 86400000, is a CONFIG error too), INVALID_ARGUMENT (NULL or
/// non-UTF-8 argument).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_client_new(
    config_json: *const c_char,
    out: *mut *mut cozefallback_client,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        arg_out(out, "out")?;
        let json = arg_str(config_json, "config_json")?;
        let client = BlockingClient::from_json(json)?;
        put(out, cozefallback_client { inner: client });
        Ok(())
    })
}

/// Builds a client from the official SDKs' environment variables (COZE_API_BASE, COZE_API_TOKEN,
/// COZE_API_TOKEN_ENTERPRISE, COZE_JWT_OAUTH_*, COZE_PERSONAL_ACCOUNT_ID, COZE_ENTERPRISE_ID).
///
/// Ownership: on success `*out` is a new client to free with `cozefallback_client_free`; NULL on failure.
/// Thread safety: any thread (reads the process environment). Errors: CONFIG, INVALID_ARGUMENT.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_client_new_from_env(
    out: *mut *mut cozefallback_client,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        arg_out(out, "out")?;
        let client = BlockingClient::from_env()?;
        put(out, cozefallback_client { inner: client });
        Ok(())
    })
}

/// Frees a client. NULL-safe. Streams opened from it stay usable until they are freed.
///
/// Ownership: takes `client`; no call on it may be running or start afterwards. Thread safety: call once, after
/// every other thread is done with the client. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_client_free(client: *mut cozefallback_client) {
    unsafe { free_box(client) }
}

/// Closes a client: every call and stream in flight on it ends promptly with CANCELLED, and every later call
/// fails with INVALID_ARGUMENT ("the client is closed"). Returns at once; idempotent; NULL-safe. The handle stays
/// valid (free it with `cozefallback_client_free` once the calls have returned).
///
/// Ownership: borrows `client`. Thread safety: any thread, concurrently with calls on the client (that is its
/// purpose: a shutdown path stops the workers' calls). Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_client_close(client: *const cozefallback_client) {
    // SAFETY: NULL or a live client handle.
    if let Some(c) = unsafe { client.as_ref() } {
        let _ = catch_unwind(AssertUnwindSafe(|| c.inner.inner().close()));
    }
}

/// Changes the routing mode at run time (the cut-over switch): "personal_first", "enterprise_first",
/// "personal_only" or "enterprise_only".
///
/// Ownership: borrows both arguments for the call. Thread safety: any thread, concurrently with requests.
/// Errors: CONFIG (unknown mode, or a mode needing a credential that is not configured), INVALID_ARGUMENT.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_client_set_mode(
    client: *const cozefallback_client,
    mode: *const c_char,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        let client = arg_ref(client, "client")?;
        let mode: Mode = arg_str(mode, "mode")?.parse()?;
        client.inner.set_mode(mode)
    })
}

/// The client's metrics snapshot as a JSON document (counters and histograms, the mode in force).
///
/// Ownership: on success `*out` is a new NUL-terminated string to free with `cozefallback_string_free`.
/// Thread safety: any thread. Errors: INVALID_ARGUMENT.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_client_metrics_json(
    client: *const cozefallback_client,
    out: *mut *mut c_char,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        arg_out(out, "out")?;
        let client = arg_ref(client, "client")?;
        let text = serde_json::to_string(&client.inner.metrics())
            .map_err(|e| Error::internal(e.to_string()))?;
        *out = cstring(&text).into_raw();
        Ok(())
    })
}

/// The client's metrics as Prometheus text exposition (names prefixed `cozefallback_`).
///
/// Ownership: on success `*out` is a new NUL-terminated string to free with `cozefallback_string_free`.
/// Thread safety: any thread. Errors: INVALID_ARGUMENT.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_client_metrics_prometheus(
    client: *const cozefallback_client,
    out: *mut *mut c_char,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        arg_out(out, "out")?;
        let client = arg_ref(client, "client")?;
        *out = cstring(&client.inner.metrics_prometheus()).into_raw();
        Ok(())
    })
}

/// Sends a request through the fallback and waits for the answer. Any Coze error comes back as an error.
///
/// `cancel` may be NULL; cancelling it from another thread makes this call return CANCELLED promptly.
/// Ownership: borrows `client`, `request` and `cancel` for the call (the request may be sent again later);
/// on success `*out` is a new response to free with `cozefallback_response_free`, NULL on failure.
/// Thread safety: any thread; many calls may share one client and one request at once.
/// Errors: API, AUTH, REAUTH_REQUIRED, TRANSPORT, TIMEOUT, CANCELLED, INVALID_ARGUMENT, CONVERSATION_STRANDED
/// (a chat naming a conversation or file only the other credential reaches, with `conversations.on_stranded`
/// "error" or a file id; `cozefallback_error_conversation_id` and the accessors next to it say which).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_client_send(
    client: *const cozefallback_client,
    request: *const cozefallback_request,
    cancel: *const cozefallback_cancel_token,
    out: *mut *mut cozefallback_response,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        arg_out(out, "out")?;
        let client = arg_ref(client, "client")?;
        let req = lock(&arg_ref(request, "request")?.inner).clone();
        let resp = client.inner.request(req, cancel_of(cancel))?;
        put(out, response_handle(resp));
        Ok(())
    })
}

/// Uploads a file from disk as multipart/form-data (one part named `file`, file name = the path's last
/// component) to `api_path` (Coze: "/v1/files/upload"). The content is buffered so a fallback can replay it.
///
/// Ownership: borrows every argument for the call; on success `*out` is a new response to free with
/// `cozefallback_response_free`. Thread safety: any thread. Errors: as `cozefallback_client_send`, and
/// INVALID_ARGUMENT when the file cannot be read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_client_upload_file(
    client: *const cozefallback_client,
    api_path: *const c_char,
    file_path: *const c_char,
    cancel: *const cozefallback_cancel_token,
    out: *mut *mut cozefallback_response,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        arg_out(out, "out")?;
        let client = arg_ref(client, "client")?;
        let api_path = arg_str(api_path, "api_path")?;
        let file_path = std::path::Path::new(arg_str(file_path, "file_path")?);
        let data = std::fs::read(file_path).map_err(|e| {
            invalid(&format!(
                "cannot read the file {}: {e}",
                file_path.display()
            ))
        })?;
        let filename = file_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
        let resp = client
            .inner
            .request(Request::upload(api_path, filename, data), cancel_of(cancel))?;
        put(out, response_handle(resp));
        Ok(())
    })
}

/// Uploads `len` bytes at `data` as multipart/form-data (one part named `file`, sent as `filename`) to
/// `api_path` (Coze: "/v1/files/upload"). `data` may be NULL when `len` is 0.
///
/// Ownership: borrows every argument for the call (the bytes are copied); on success `*out` is a new
/// response to free with `cozefallback_response_free`. Thread safety: any thread.
/// Errors: as `cozefallback_client_send`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_client_upload_bytes(
    client: *const cozefallback_client,
    api_path: *const c_char,
    data: *const u8,
    len: usize,
    filename: *const c_char,
    cancel: *const cozefallback_cancel_token,
    out: *mut *mut cozefallback_response,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        arg_out(out, "out")?;
        let client = arg_ref(client, "client")?;
        let api_path = arg_str(api_path, "api_path")?;
        let data = arg_bytes(data, len, "data")?.to_vec();
        let filename = arg_str(filename, "filename")?;
        let resp = client
            .inner
            .request(Request::upload(api_path, filename, data), cancel_of(cancel))?;
        put(out, response_handle(resp));
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------------------
// Request

/// Starts a request: `method` ("GET", "POST", ...) and `path` below the base URL ("/v3/chat", optionally with a
/// query string). A full URL is accepted only when it points at the configured base.
///
/// Ownership: on success `*out` is a new request to free with `cozefallback_request_free`; the strings are
/// copied. Thread safety: any thread; the request is internally locked. Errors: INVALID_ARGUMENT.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_request_new(
    method: *const c_char,
    path: *const c_char,
    out: *mut *mut cozefallback_request,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        arg_out(out, "out")?;
        let method = arg_str(method, "method")?;
        let path = arg_str(path, "path")?;
        put(
            out,
            cozefallback_request {
                inner: Mutex::new(Request::new(method, path)),
            },
        );
        Ok(())
    })
}

/// Appends a query parameter (encoded by the library).
///
/// Ownership: copies `key` and `value`. Thread safety: any thread. Errors: INVALID_ARGUMENT.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_request_add_query(
    request: *const cozefallback_request,
    key: *const c_char,
    value: *const c_char,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        let request = arg_ref(request, "request")?;
        let (key, value) = (arg_str(key, "key")?, arg_str(value, "value")?);
        lock(&request.inner).query.push((key.into(), value.into()));
        Ok(())
    })
}

/// Appends a header. `Authorization` is always set by the library: a caller's value is dropped.
///
/// Ownership: copies `name` and `value`. Thread safety: any thread. Errors: INVALID_ARGUMENT (an invalid header
/// name or value is reported when the request is sent).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_request_add_header(
    request: *const cozefallback_request,
    name: *const c_char,
    value: *const c_char,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        let request = arg_ref(request, "request")?;
        let (name, value) = (arg_str(name, "name")?, arg_str(value, "value")?);
        lock(&request.inner)
            .headers
            .push((name.into(), value.into()));
        Ok(())
    })
}

/// Sets the body: `len` bytes at `data` (NULL allowed when `len` is 0) with an optional content type
/// (NULL: none; use "application/json" for JSON). Replaces an earlier body.
///
/// Ownership: copies the bytes and the string. Thread safety: any thread. Errors: INVALID_ARGUMENT.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_request_set_body(
    request: *const cozefallback_request,
    data: *const u8,
    len: usize,
    content_type: *const c_char,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        let request = arg_ref(request, "request")?;
        let data = arg_bytes(data, len, "data")?.to_vec();
        let content_type = if content_type.is_null() {
            None
        } else {
            Some(arg_str(content_type, "content_type")?.to_string())
        };
        let mut req = lock(&request.inner);
        let taken = std::mem::replace(&mut *req, Request::new("GET", "/"));
        *req = taken.bytes(content_type, data);
        Ok(())
    })
}

/// Sets the overall deadline of the call in milliseconds, fallback and retries included. 0 means no per-call
/// timeout: the configured `timeouts.total_ms` applies. Other values must be at most
/// `cozefallback_max_timeout_ms()` (one day, 86400000).
///
/// Ownership: none. Thread safety: any thread. Errors: INVALID_ARGUMENT for a NULL request or a `timeout_ms`
/// above the maximum (the message names `timeout_ms` and the value; the request keeps its earlier timeout).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_request_set_timeout_ms(
    request: *const cozefallback_request,
    timeout_ms: u64,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        let request = arg_ref(request, "request")?;
        let timeout = match timeout_ms {
            0 => None,
            ms => Some(cozefallback::timeout_from_whole_millis("timeout_ms", ms)?),
        };
        lock(&request.inner).timeout = timeout;
        Ok(())
    })
}

/// The largest `timeout_ms` that `cozefallback_request_set_timeout_ms` accepts: 86400000 (one day).
///
/// Ownership: none. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub extern "C" fn cozefallback_max_timeout_ms() -> u64 {
    cozefallback::MAX_TIMEOUT.as_millis() as u64
}

/// Lets the core retry this request after it was sent even though its method is not idempotent (overrides
/// `retry.non_idempotent` of the configuration).
///
/// Ownership: none. Thread safety: any thread. Errors: INVALID_ARGUMENT.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_request_set_retry_non_idempotent(
    request: *const cozefallback_request,
    retry: bool,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        let request = arg_ref(request, "request")?;
        lock(&request.inner).retry_non_idempotent = Some(retry);
        Ok(())
    })
}

/// Frees a request. NULL-safe.
///
/// Ownership: takes `request`. Thread safety: call once no other thread uses it. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_request_free(request: *mut cozefallback_request) {
    unsafe { free_box(request) }
}

// ---------------------------------------------------------------------------------------------------------
// Response

/// The HTTP status of the answer (0 for a NULL handle).
///
/// Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_response_status(
    response: *const cozefallback_response,
) -> u16 {
    access(0, || unsafe { response.as_ref() }.map_or(0, |r| r.status))
}

/// The body: returns a pointer to the bytes and stores their count in `*len` (when `len` is non-NULL). The
/// bytes are followed by a NUL that is not counted, so a text body can be used as a C string.
///
/// Ownership: borrowed from `response`, valid until it is freed. Thread safety: any thread.
/// Errors: none; a NULL handle gives NULL and a length of 0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_response_body(
    response: *const cozefallback_response,
    len: *mut usize,
) -> *const u8 {
    access(ptr::null(), || unsafe {
        let r = response.as_ref();
        if !len.is_null() {
            *len = r.map_or(0, |r| r.body.len() - 1);
        }
        r.map_or(ptr::null(), |r| r.body.as_ptr())
    })
}

/// The number of response headers.
///
/// Thread safety: any thread. Errors: none (0 for a NULL handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_response_header_count(
    response: *const cozefallback_response,
) -> usize {
    access(0, || {
        unsafe { response.as_ref() }.map_or(0, |r| r.headers.len())
    })
}

/// The name (lower-case) of header `index`, or NULL when out of range.
///
/// Ownership: borrowed from `response`. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_response_header_name(
    response: *const cozefallback_response,
    index: usize,
) -> *const c_char {
    access(ptr::null(), || {
        unsafe { response.as_ref() }
            .and_then(|r| r.headers.get(index))
            .map_or(ptr::null(), |h| h.0.as_ptr())
    })
}

/// The value of header `index`, or NULL when out of range.
///
/// Ownership: borrowed from `response`. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_response_header_value(
    response: *const cozefallback_response,
    index: usize,
) -> *const c_char {
    access(ptr::null(), || {
        unsafe { response.as_ref() }
            .and_then(|r| r.headers.get(index))
            .map_or(ptr::null(), |h| h.1.as_ptr())
    })
}

/// The value of the first header called `name` (case-insensitive), or NULL.
///
/// Ownership: borrowed from `response`. Thread safety: any thread. Errors: none (NULL for NULL arguments).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_response_header_get(
    response: *const cozefallback_response,
    name: *const c_char,
) -> *const c_char {
    access(ptr::null(), || unsafe {
        let (Some(r), false) = (response.as_ref(), name.is_null()) else {
            return ptr::null();
        };
        let name = CStr::from_ptr(name).to_bytes();
        r.headers
            .iter()
            .find(|(k, _)| k.to_bytes().eq_ignore_ascii_case(name))
            .map_or(ptr::null(), |h| h.1.as_ptr())
    })
}

/// The credential that served the answer: "personal" or "enterprise".
///
/// Ownership: a static string. Thread safety: any thread. Errors: none (NULL for a NULL handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_response_credential(
    response: *const cozefallback_response,
) -> *const c_char {
    access(ptr::null(), || {
        unsafe { response.as_ref() }.map_or(ptr::null(), |r| credential_cstr(r.credential).as_ptr())
    })
}

/// HTTP attempts the call took, fallback and retries included (token requests excluded).
///
/// Thread safety: any thread. Errors: none (0 for a NULL handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_response_attempts(
    response: *const cozefallback_response,
) -> u32 {
    access(0, || unsafe { response.as_ref() }.map_or(0, |r| r.attempts))
}

/// The Coze log id (X-Tt-Logid), or NULL.
///
/// Ownership: borrowed from `response`. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_response_logid(
    response: *const cozefallback_response,
) -> *const c_char {
    access(ptr::null(), || {
        unsafe { response.as_ref() }.map_or(ptr::null(), |r| opt_ptr(&r.logid))
    })
}

/// Frees a response. NULL-safe.
///
/// Ownership: takes `response`; strings borrowed from it become invalid. Thread safety: call once.
/// Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_response_free(response: *mut cozefallback_response) {
    unsafe { free_box(response) }
}

// ---------------------------------------------------------------------------------------------------------
// Stream

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
        arg_out(out, "out")?;
        let client = arg_ref(client, "client")?;
        let req = lock(&arg_ref(request, "request")?.inner).clone();
        let core = client.inner.inner().clone();
        let stream = block_on(cancel_of(cancel), async move { core.stream(req).await })?;
        put(out, stream_handle(stream));
        Ok(())
    })
}

/// Sends a request and takes whichever answer the server gives: an event stream when it answers
/// `text/event-stream` (with the fallback of `cozefallback_stream_open`), else a whole answer (as
/// `cozefallback_client_send`). For HTTP-client adapters that cannot know in advance whether a call streams.
///
/// On success exactly one of `*out_response` and `*out_stream` is set (the other is NULL).
/// Ownership: borrows the arguments for the call; the caller frees what it gets with
/// `cozefallback_response_free` or `cozefallback_stream_free`. Thread safety: any thread.
/// Errors: API, AUTH, REAUTH_REQUIRED, TRANSPORT, TIMEOUT, CANCELLED, INVALID_ARGUMENT, CONVERSATION_STRANDED
/// (a chat naming a conversation or file only the other credential reaches, with `conversations.on_stranded`
/// "error" or a file id; `cozefallback_error_conversation_id` and the accessors next to it say which).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_client_send_any(
    client: *const cozefallback_client,
    request: *const cozefallback_request,
    cancel: *const cozefallback_cancel_token,
    out_response: *mut *mut cozefallback_response,
    out_stream: *mut *mut cozefallback_stream,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        arg_out(out_response, "out_response")?;
        arg_out(out_stream, "out_stream")?;
        let client = arg_ref(client, "client")?;
        let req = lock(&arg_ref(request, "request")?.inner).clone();
        match client.inner.send(req, cancel_of(cancel))? {
            Reply::Full(resp) => put(out_response, response_handle(resp)),
            Reply::Stream(stream) => put(out_stream, stream_handle(*stream)),
        }
        Ok(())
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
        let stream = arg_ref(stream, "stream")?;
        // Before the lock: a parent thread inside `next` at a fork() holds it forever in the child.
        cozefallback::ensure_not_forked(stream.born)?;
        let next: Option<Event> = lock(&stream.inner).next(cancel_of(cancel))?;
        if let Some(ev) = next {
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
    access(0, || unsafe { stream.as_ref() }.map_or(0, |s| s.status))
}

/// The credential serving the stream: "personal" or "enterprise" (NULL for a NULL handle).
///
/// Ownership: a static string. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_stream_credential(
    stream: *const cozefallback_stream,
) -> *const c_char {
    access(ptr::null(), || {
        unsafe { stream.as_ref() }.map_or(ptr::null(), |s| credential_cstr(s.credential).as_ptr())
    })
}

/// HTTP attempts it took to open the stream (0 for a NULL handle).
///
/// Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_stream_attempts(stream: *const cozefallback_stream) -> u32 {
    access(0, || unsafe { stream.as_ref() }.map_or(0, |s| s.attempts))
}

/// The Coze log id of the stream's response, or NULL.
///
/// Ownership: borrowed from `stream`. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_stream_logid(
    stream: *const cozefallback_stream,
) -> *const c_char {
    access(ptr::null(), || {
        unsafe { stream.as_ref() }.map_or(ptr::null(), |s| opt_ptr(&s.logid))
    })
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
    access(ptr::null(), || {
        unsafe { event.as_ref() }.map_or(ptr::null(), |e| e.name.as_ptr())
    })
}

/// The event data (data lines joined with "\n").
///
/// Ownership: borrowed from `event`. Thread safety: any thread. Errors: none (NULL for a NULL handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_event_data(
    event: *const cozefallback_event,
) -> *const c_char {
    access(ptr::null(), || {
        unsafe { event.as_ref() }.map_or(ptr::null(), |e| e.data.as_ptr())
    })
}

/// The event's `id:` field, or NULL when it has none.
///
/// Ownership: borrowed from `event`. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_event_id(event: *const cozefallback_event) -> *const c_char {
    access(ptr::null(), || {
        unsafe { event.as_ref() }.map_or(ptr::null(), |e| opt_ptr(&e.id))
    })
}

/// Frees an event. NULL-safe.
///
/// Ownership: takes `event`. Thread safety: call once. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_event_free(event: *mut cozefallback_event) {
    unsafe { free_box(event) }
}

// ---------------------------------------------------------------------------------------------------------
// Cancellation

/// Creates a cancellation token. Pass it to calls; `cozefallback_cancel_token_cancel` from any thread makes
/// them (and every later call given this token) return CANCELLED.
///
/// Ownership: on success `*out` is a new token to free with `cozefallback_cancel_token_free` once no call uses
/// it. Thread safety: any thread. Errors: INVALID_ARGUMENT.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_cancel_token_new(
    out: *mut *mut cozefallback_cancel_token,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        arg_out(out, "out")?;
        put(
            out,
            cozefallback_cancel_token {
                inner: CancelToken::new(),
            },
        );
        Ok(())
    })
}

/// Cancels every call using this token, now and later. Idempotent.
///
/// Thread safety: any thread, while calls using the token run in others. Errors: INVALID_ARGUMENT.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_cancel_token_cancel(
    token: *const cozefallback_cancel_token,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        arg_ref(token, "token")?.inner.cancel();
        Ok(())
    })
}

/// Whether the token was cancelled (false for a NULL handle).
///
/// Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_cancel_token_is_cancelled(
    token: *const cozefallback_cancel_token,
) -> bool {
    access(false, || {
        unsafe { token.as_ref() }.is_some_and(|t| t.inner.is_cancelled())
    })
}

/// Frees a token. NULL-safe.
///
/// Ownership: takes `token`; no call may still be using it. Thread safety: call once. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_cancel_token_free(token: *mut cozefallback_cancel_token) {
    unsafe { free_box(token) }
}

// ---------------------------------------------------------------------------------------------------------
// Error

/// The kind of the error, the same value the failing call returned (INVALID_ARGUMENT for a NULL handle).
///
/// Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_kind(
    error: *const cozefallback_error,
) -> cozefallback_status {
    access(cozefallback_status::Panic, || {
        unsafe { error.as_ref() }.map_or(cozefallback_status::InvalidArgument, |e| e.status)
    })
}

/// The kind as its stable name: "config", "api", "auth", "reauth_required", "transport", "timeout",
/// "stream_interrupted", "cancelled", "invalid_argument", "internal" or "conversation_stranded".
///
/// Ownership: a static string. Thread safety: any thread. Errors: none (NULL for a NULL handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_kind_name(
    error: *const cozefallback_error,
) -> *const c_char {
    access(ptr::null(), || {
        unsafe { error.as_ref() }.map_or(ptr::null(), |e| e.kind_name.as_ptr())
    })
}

/// A human-readable UTF-8 message (never contains a secret), with the log id and, when both credentials
/// failed, the first credential's error.
///
/// Ownership: borrowed from `error`. Thread safety: any thread. Errors: none (NULL for a NULL handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_message(
    error: *const cozefallback_error,
) -> *const c_char {
    access(ptr::null(), || {
        unsafe { error.as_ref() }.map_or(ptr::null(), |e| e.message.as_ptr())
    })
}

/// The Coze business code (body `code`, or of a stream `error` event), or 0 when there is none.
///
/// Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_code(error: *const cozefallback_error) -> i64 {
    access(0, || {
        unsafe { error.as_ref() }.and_then(|e| e.code).unwrap_or(0)
    })
}

/// The HTTP status of the failing answer, or 0 when there was none (transport errors, timeouts...).
///
/// Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_http_status(error: *const cozefallback_error) -> u16 {
    access(0, || {
        unsafe { error.as_ref() }
            .and_then(|e| e.http_status)
            .unwrap_or(0)
    })
}

/// The Coze log id of the failing answer, or NULL.
///
/// Ownership: borrowed from `error`. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_logid(
    error: *const cozefallback_error,
) -> *const c_char {
    access(ptr::null(), || {
        unsafe { error.as_ref() }.map_or(ptr::null(), |e| opt_ptr(&e.logid))
    })
}

/// The credential of the failing attempt ("personal" or "enterprise"), or NULL.
///
/// Ownership: a static string. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_credential(
    error: *const cozefallback_error,
) -> *const c_char {
    access(ptr::null(), || {
        unsafe { error.as_ref() }
            .and_then(|e| e.credential)
            .map_or(ptr::null(), |c| credential_cstr(c).as_ptr())
    })
}

/// For REAUTH_REQUIRED: the URL to send the user to so they authorize the app again, or NULL.
///
/// Ownership: borrowed from `error`. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_authorize_url(
    error: *const cozefallback_error,
) -> *const c_char {
    access(ptr::null(), || {
        unsafe { error.as_ref() }.map_or(ptr::null(), |e| opt_ptr(&e.authorize_url))
    })
}

/// Coze's own message (the body's `msg`, or an OAuth `error_message`) without anything the library added, or
/// NULL.
///
/// Ownership: borrowed from `error`. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_coze_message(
    error: *const cozefallback_error,
) -> *const c_char {
    access(ptr::null(), || {
        unsafe { error.as_ref() }.map_or(ptr::null(), |e| opt_ptr(&e.coze_message))
    })
}

/// The failed answer as the server sent it (API and AUTH errors that had one), or NULL: a response handle
/// (status, body, headers; its credential, attempts and log id are the error's). Lets an
/// HTTP-client adapter hand an SDK the very error response it would have seen without the fallback.
///
/// Ownership: borrowed from `error` (do not free it; it lives as long as `error`). Thread safety: any thread.
/// Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_response(
    error: *const cozefallback_error,
) -> *const cozefallback_response {
    access(ptr::null(), || {
        unsafe { error.as_ref() }
            .and_then(|e| e.response.as_ref())
            .map_or(ptr::null(), |r| r as *const _)
    })
}

/// For AUTH: the OAuth error code ("invalid_client", "invalid_grant", ...), or NULL.
///
/// Ownership: borrowed from `error`. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_oauth_error(
    error: *const cozefallback_error,
) -> *const c_char {
    access(ptr::null(), || {
        unsafe { error.as_ref() }.map_or(ptr::null(), |e| opt_ptr(&e.oauth_error))
    })
}

/// For CONFIG: the dotted name of the offending field ("enterprise.private_key_file"), or NULL.
///
/// Ownership: borrowed from `error`. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_field(
    error: *const cozefallback_error,
) -> *const c_char {
    access(ptr::null(), || {
        unsafe { error.as_ref() }.map_or(ptr::null(), |e| opt_ptr(&e.field))
    })
}

/// For STREAM_INTERRUPTED: how many events had been delivered before the stream broke.
///
/// Thread safety: any thread. Errors: none (0 for a NULL handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_events_delivered(
    error: *const cozefallback_error,
) -> u64 {
    access(0, || {
        unsafe { error.as_ref() }.map_or(0, |e| e.events_delivered)
    })
}

/// HTTP attempts the failed call made, fallback and retries included (token requests excluded). For the
/// error of `cozefallback_error_previous`: the attempts that first credential made.
///
/// Thread safety: any thread. Errors: none (0 for a NULL handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_attempts(error: *const cozefallback_error) -> u32 {
    access(0, || unsafe { error.as_ref() }.map_or(0, |e| e.attempts))
}

/// When both credentials failed: the first credential's error, or NULL.
///
/// Ownership: borrowed from `error` (do not free it; it lives as long as `error`). Thread safety: any thread.
/// Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_previous(
    error: *const cozefallback_error,
) -> *const cozefallback_error {
    access(ptr::null(), || {
        unsafe { error.as_ref() }
            .and_then(|e| e.previous.as_deref())
            .map_or(ptr::null(), |p| p as *const _)
    })
}

/// When both credentials failed: the first credential's Coze code, or 0 (shorthand for
/// `cozefallback_error_code(cozefallback_error_previous(error))`).
///
/// Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_previous_code(error: *const cozefallback_error) -> i64 {
    access(0, || {
        unsafe { error.as_ref() }
            .and_then(|e| e.previous.as_ref())
            .and_then(|p| p.code)
            .unwrap_or(0)
    })
}

/// Frees an error (and the previous error it holds). NULL-safe.
///
/// Ownership: takes `error`; strings borrowed from it become invalid. Thread safety: call once.
/// Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_free(error: *mut cozefallback_error) {
    unsafe { free_box(error) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_panic_status() {
        let mut err: *mut cozefallback_error = ptr::null_mut();
        let status = guard(&mut err, || panic!("boom"));
        assert_eq!(status, cozefallback_status::Panic);
        assert!(!err.is_null());
        unsafe {
            let msg = CStr::from_ptr(cozefallback_error_message(err))
                .to_str()
                .unwrap();
            assert!(msg.contains("boom"), "{msg}");
            assert_eq!(
                CStr::from_ptr(cozefallback_error_kind_name(err))
                    .to_str()
                    .unwrap(),
                "internal"
            );
            cozefallback_error_free(err);
        }
    }

    #[test]
    fn null_arguments_are_invalid() {
        let mut err: *mut cozefallback_error = ptr::null_mut();
        let mut client: *mut cozefallback_client = ptr::null_mut();
        let s = unsafe { cozefallback_client_new(ptr::null(), &mut client, &mut err) };
        assert_eq!(s, cozefallback_status::InvalidArgument);
        assert!(client.is_null());
        unsafe { cozefallback_error_free(err) };
    }
}
