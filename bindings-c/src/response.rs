//! The response handle: a whole answer (status, body, headers) with the credential that served it, its
//! attempts and log id, and the conversation carry-over it made. Also the form of a failed answer that an
//! error carries (`cozefallback_error_response`).

use std::ffi::{CStr, CString, c_char};
use std::ptr;

use cozefallback::{CredentialKind, Response};

use super::conversations::MovedC;
use super::ffi::{access, credential_cstr, cstring, free_box, opt_ptr};

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
    pub(crate) moved: Option<MovedC>,
}

pub(crate) fn response_handle(r: Response) -> cozefallback_response {
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

pub(crate) fn body_and_headers(
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
