//! The request handle: method, path, query, headers, body, per-call timeout and retry override, built up
//! by the caller and sent (any number of times) by the client or stream calls, which take a copy.

use std::ffi::c_char;
use std::sync::Mutex;

use cozefallback::{Error, Request};

use super::error::{cozefallback_error, cozefallback_status, guard};
use super::ffi::{arg_bytes, arg_out, arg_ref, arg_str, free_box, lock, put};

/// A request being built (method, path, query, headers, body). Opaque; guarded by a lock.
pub struct cozefallback_request {
    pub(crate) inner: Mutex<Request>,
}

/// The `request` argument of a sending call, checked and copied (the handle may be sent again, or from
/// several threads at once).
pub(crate) unsafe fn request_arg(request: *const cozefallback_request) -> Result<Request, Error> {
    // SAFETY: NULL or a live request handle, checked by `arg_ref`.
    Ok(lock(&unsafe { arg_ref(request, "request")? }.inner).clone())
}

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
