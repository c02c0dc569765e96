//! The response handle: a whole answer (status, body, headers) with the credential that served it, its
//! attempts and log id, and the conversation carry-over it made. Also the form of a failed answer that an
//! error carries (`cozefallback_error_response`).

use std::ffi::{CStr, CString, c_char};
use std::ptr;

use cozefallback::{Response, ResponseMeta};

use super::conversations::MovedC;
use super::error::credential_ptr;
use super::ffi::{access, cstring, free_box, opt_ptr, put_opt, read_or};

/// A successful answer. Opaque and immutable.
pub struct cozefallback_response {
    /// Where the answer came from, as the core reports it (`Response::meta`).
    meta: ResponseMeta,
    /// The body followed by one extra NUL byte (not counted in the length).
    body: Vec<u8>,
    headers: Vec<(CString, CString)>,
    /// `meta.logid` as a C string, lent by the accessor.
    logid: Option<CString>,
    /// `meta.conversation_moved` as C strings (`cozefallback_*_conversation_moved`), if the call carried one over.
    pub(crate) moved: Option<MovedC>,
}

pub(crate) fn response_handle(r: Response) -> cozefallback_response {
    answer_handle(r.meta(), &r.body, &r.headers)
}

/// A response handle from the answer's metadata, body and headers (also the failed answer an error carries).
pub(crate) fn answer_handle(
    meta: ResponseMeta,
    data: &[u8],
    headers: &[(String, String)],
) -> cozefallback_response {
    let mut body = Vec::with_capacity(data.len() + 1);
    body.extend_from_slice(data);
    body.push(0);
    cozefallback_response {
        body,
        headers: headers
            .iter()
            .map(|(k, v)| (cstring(k), cstring(v)))
            .collect(),
        logid: meta.logid.as_deref().map(cstring),
        moved: meta.conversation_moved.as_ref().map(MovedC::from_core),
        meta,
    }
}

impl cozefallback_response {
    fn header(&self, index: usize) -> Option<&(CString, CString)> {
        self.headers.get(index)
    }
}

/// The HTTP status of the answer (0 for a NULL handle).
///
/// Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_response_status(
    response: *const cozefallback_response,
) -> u16 {
    unsafe { read_or(response, 0, |r| r.meta.status) }
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
    unsafe {
        let body = read_or(response, None, |r| Some(&r.body));
        put_opt(len, body.map_or(0, |b| b.len() - 1));
        body.map_or(ptr::null(), |b| b.as_ptr())
    }
}

/// The number of response headers.
///
/// Thread safety: any thread. Errors: none (0 for a NULL handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_response_header_count(
    response: *const cozefallback_response,
) -> usize {
    unsafe { read_or(response, 0, |r| r.headers.len()) }
}

/// The name (lower-case) of header `index`, or NULL when out of range.
///
/// Ownership: borrowed from `response`. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_response_header_name(
    response: *const cozefallback_response,
    index: usize,
) -> *const c_char {
    unsafe {
        read_or(response, ptr::null(), |r| {
            r.header(index).map_or(ptr::null(), |h| h.0.as_ptr())
        })
    }
}

/// The value of header `index`, or NULL when out of range.
///
/// Ownership: borrowed from `response`. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_response_header_value(
    response: *const cozefallback_response,
    index: usize,
) -> *const c_char {
    unsafe {
        read_or(response, ptr::null(), |r| {
            r.header(index).map_or(ptr::null(), |h| h.1.as_ptr())
        })
    }
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
    unsafe {
        read_or(response, ptr::null(), |r| {
            credential_ptr(Some(r.meta.credential))
        })
    }
}

/// HTTP attempts the call took, fallback and retries included (token requests excluded).
///
/// Thread safety: any thread. Errors: none (0 for a NULL handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_response_attempts(
    response: *const cozefallback_response,
) -> u32 {
    unsafe { read_or(response, 0, |r| r.meta.attempts) }
}

/// The Coze log id (X-Tt-Logid), or NULL.
///
/// Ownership: borrowed from `response`. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_response_logid(
    response: *const cozefallback_response,
) -> *const c_char {
    unsafe { read_or(response, ptr::null(), |r| opt_ptr(&r.logid)) }
}

/// Frees a response. NULL-safe.
///
/// Ownership: takes `response`; strings borrowed from it become invalid. Thread safety: call once.
/// Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_response_free(response: *mut cozefallback_response) {
    unsafe { free_box(response) }
}
