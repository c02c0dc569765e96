//! The error handle and the status every fallible export returns: `cozefallback_status`, the
//! `cozefallback_error` that keeps the core `Error` (its accessors read from it and from its JSON form,
//! docs/FORMS.md), the `guard` that turns a core error or a caught panic into both, and the error's accessors.
//! Kept together because the status, the kind name and the handle must agree value for value.

use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use cozefallback::{CredentialKind, ERROR_JSON_KEYS, Error, ErrorKind, ResponseMeta};

use super::ffi::{credential_cstr, cstring, free_box, read_or};
use super::response::{answer_handle, cozefallback_response};

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

/// A failed call: the core's error as it was, with the strings its accessors lend. Opaque and immutable.
pub struct cozefallback_error {
    pub(crate) core: Error,
    status: cozefallback_status,
    /// Every string of the error's JSON form (`Error::to_json`, docs/FORMS.md) by key, made NUL-terminated
    /// once so the accessors can lend them for the error's lifetime.
    strings: Vec<(&'static str, CString)>,
    /// The failed answer as a response handle, so `cozefallback_error_response` can lend it.
    response: Option<cozefallback_response>,
    /// The first credential's error as a handle of its own, so `cozefallback_error_previous` can lend it.
    previous: Option<Box<cozefallback_error>>,
}

impl cozefallback_error {
    fn from_core(core: Error) -> cozefallback_error {
        let form = core.to_json();
        let strings = ERROR_JSON_KEYS
            .iter()
            .filter_map(|key| Some((*key, cstring(form.get(*key)?.as_str()?))))
            .collect();
        let response = core.response().map(|r| {
            let meta = ResponseMeta {
                status: r.status,
                credential: core.credential().unwrap_or(CredentialKind::Personal),
                attempts: core.attempts(),
                logid: core.logid().map(str::to_string),
                conversation_moved: None,
            };
            answer_handle(meta, &r.body, &r.headers)
        });
        let previous = core
            .previous()
            .map(|p| Box::new(cozefallback_error::from_core(p.clone())));
        cozefallback_error {
            status: status_of(core.kind()),
            core,
            strings,
            response,
            previous,
        }
    }

    /// The string under `key` of the error's JSON form, borrowed, or NULL when it is `null` there.
    pub(crate) fn text(&self, key: &str) -> *const c_char {
        self.strings
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(ptr::null(), |(_, v)| v.as_ptr())
    }
}

/// A credential as the static string the accessors return, or NULL.
pub(crate) fn credential_ptr(kind: Option<CredentialKind>) -> *const c_char {
    kind.map_or(ptr::null(), |c| credential_cstr(c).as_ptr())
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
            let boxed = cozefallback_error::from_core(e);
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
    unsafe { read_or(error, cozefallback_status::InvalidArgument, |e| e.status) }
}

/// The kind as its stable name: "config", "api", "auth", "reauth_required", "transport", "timeout",
/// "stream_interrupted", "cancelled", "invalid_argument", "internal" or "conversation_stranded".
///
/// Ownership: a static string. Thread safety: any thread. Errors: none (NULL for a NULL handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_kind_name(
    error: *const cozefallback_error,
) -> *const c_char {
    unsafe {
        read_or(error, ptr::null(), |e| {
            cozefallback_status_name(e.status as i32)
        })
    }
}

/// A human-readable UTF-8 message (never contains a secret), with the log id and, when both credentials
/// failed, the first credential's error.
///
/// Ownership: borrowed from `error`. Thread safety: any thread. Errors: none (NULL for a NULL handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_message(
    error: *const cozefallback_error,
) -> *const c_char {
    unsafe { read_or(error, ptr::null(), |e| e.text("message")) }
}

/// The Coze business code (body `code`, or of a stream `error` event), or 0 when there is none.
///
/// Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_code(error: *const cozefallback_error) -> i64 {
    unsafe { read_or(error, 0, |e| e.core.code().unwrap_or(0)) }
}

/// The HTTP status of the failing answer, or 0 when there was none (transport errors, timeouts...).
///
/// Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_http_status(error: *const cozefallback_error) -> u16 {
    unsafe { read_or(error, 0, |e| e.core.http_status().unwrap_or(0)) }
}

/// The Coze log id of the failing answer, or NULL.
///
/// Ownership: borrowed from `error`. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_logid(
    error: *const cozefallback_error,
) -> *const c_char {
    unsafe { read_or(error, ptr::null(), |e| e.text("logid")) }
}

/// The credential of the failing attempt ("personal" or "enterprise"), or NULL.
///
/// Ownership: a static string. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_credential(
    error: *const cozefallback_error,
) -> *const c_char {
    unsafe { read_or(error, ptr::null(), |e| credential_ptr(e.core.credential())) }
}

/// For REAUTH_REQUIRED: the URL to send the user to so they authorize the app again, or NULL.
///
/// Ownership: borrowed from `error`. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_authorize_url(
    error: *const cozefallback_error,
) -> *const c_char {
    unsafe { read_or(error, ptr::null(), |e| e.text("authorize_url")) }
}

/// Coze's own message (the body's `msg`, or an OAuth `error_message`) without anything the library added, or
/// NULL.
///
/// Ownership: borrowed from `error`. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_coze_message(
    error: *const cozefallback_error,
) -> *const c_char {
    unsafe { read_or(error, ptr::null(), |e| e.text("coze_message")) }
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
    unsafe {
        read_or(error, ptr::null(), |e| {
            e.response.as_ref().map_or(ptr::null(), |r| r as *const _)
        })
    }
}

/// For AUTH: the OAuth error code ("invalid_client", "invalid_grant", ...), or NULL.
///
/// Ownership: borrowed from `error`. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_oauth_error(
    error: *const cozefallback_error,
) -> *const c_char {
    unsafe { read_or(error, ptr::null(), |e| e.text("oauth_error")) }
}

/// For CONFIG: the dotted name of the offending field ("enterprise.private_key_file"), or NULL.
///
/// Ownership: borrowed from `error`. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_field(
    error: *const cozefallback_error,
) -> *const c_char {
    unsafe { read_or(error, ptr::null(), |e| e.text("field")) }
}

/// For STREAM_INTERRUPTED: how many events had been delivered before the stream broke.
///
/// Thread safety: any thread. Errors: none (0 for a NULL handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_events_delivered(
    error: *const cozefallback_error,
) -> u64 {
    unsafe { read_or(error, 0, |e| e.core.events_delivered()) }
}

/// HTTP attempts the failed call made, fallback and retries included (token requests excluded). For the
/// error of `cozefallback_error_previous`: the attempts that first credential made.
///
/// Thread safety: any thread. Errors: none (0 for a NULL handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_attempts(error: *const cozefallback_error) -> u32 {
    unsafe { read_or(error, 0, |e| e.core.attempts()) }
}

/// When both credentials failed: the first credential's error, or NULL.
///
/// Ownership: borrowed from `error` (do not free it; it lives as long as `error`). Thread safety: any thread.
/// Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_previous(
    error: *const cozefallback_error,
) -> *const cozefallback_error {
    unsafe {
        read_or(error, ptr::null(), |e| {
            e.previous.as_deref().map_or(ptr::null(), |p| p as *const _)
        })
    }
}

/// When both credentials failed: the first credential's Coze code, or 0 (shorthand for
/// `cozefallback_error_code(cozefallback_error_previous(error))`).
///
/// Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_previous_code(error: *const cozefallback_error) -> i64 {
    unsafe {
        read_or(error, 0, |e| {
            e.core.previous().and_then(Error::code).unwrap_or(0)
        })
    }
}

/// The whole error as one JSON object, the form docs/FORMS.md documents (the core's `Error::to_json`): every
/// key always present, `null` when it does not apply: `kind`, `message`, `code`, `coze_message`,
/// `http_status`, `logid`, `credential`, `attempts`, `field`, `authorize_url`, `oauth_error`,
/// `events_delivered`, `conversation_id`, `file_id`, `conversation_owner`, `bot_credential`, `response`
/// (`{"status", "headers": [[name, value], ...], "body"}`) and `previous` (the first credential's error, in the
/// same shape). No secret appears in it.
///
/// ```c
/// char *json = cozefallback_error_to_json(err);
/// log_line(json); // {"kind":"api","message":"...","code":4200,"coze_message":"resource not found",...}
/// cozefallback_string_free(json);
/// ```
///
/// Ownership: a new NUL-terminated string to free with `cozefallback_string_free`. Thread safety: any thread.
/// Errors: none (NULL for a NULL handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_error_to_json(
    error: *const cozefallback_error,
) -> *mut c_char {
    unsafe {
        read_or(error, ptr::null_mut(), |e| {
            cstring(&e.core.to_json().to_string()).into_raw()
        })
    }
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
