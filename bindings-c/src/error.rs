//! The error handle and the status every fallible export returns: `cozefallback_status`, the
//! `cozefallback_error` built from a core `Error` (its kind, message and Coze details), the `guard` that turns a
//! core error or a caught panic into both, and the error's accessors. Kept together because the status, the
//! kind name and the handle must agree value for value.

use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use cozefallback::{CredentialKind, Error, ErrorKind};

use super::ffi::{access, credential_cstr, cstring, free_box, opt_ptr};
use super::response::{body_and_headers, cozefallback_response};

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
    /// A bug: a panic was caught inside the library (never an abort), or another internal error. Its name is
    /// "internal"; `COZEFALLBACK_STATUS_INTERNAL` (defined above) is the same value under that name.
    // The alias is a macro written by bindings-c/cbindgen.toml (`after_includes`): cbindgen cannot spell a
    // constant that names an enum variant.
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
    pub(crate) conversation_id: Option<CString>,
    pub(crate) file_id: Option<CString>,
    pub(crate) conversation_owner: Option<CredentialKind>,
    pub(crate) bot_credential: Option<CredentialKind>,
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

/// Runs `f`, catching panics, and reports its error through `err`.
pub(crate) fn guard(
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
}
