//! Shared helpers of every export: C strings from Rust text, argument checks (NULL, UTF-8, byte ranges,
//! out-pointers), boxing handles out and back, and the two library-wide functions that belong to no handle
//! (`cozefallback_version`, `cozefallback_string_free`). It depends on no other module of this crate, so every
//! handle module can use it.

use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::Mutex;

use cozefallback::{CredentialKind, Error};

/// A C string from Rust text; an interior NUL (never expected) is replaced so nothing is lost silently.
pub(crate) fn cstring(s: &str) -> CString {
    CString::new(s)
        .unwrap_or_else(|_| CString::new(s.replace('\0', "\u{FFFD}")).expect("no NUL left"))
}

pub(crate) fn credential_cstr(kind: CredentialKind) -> &'static CStr {
    match kind {
        CredentialKind::Personal => c"personal",
        CredentialKind::Enterprise => c"enterprise",
    }
}

pub(crate) fn invalid(what: &str) -> Error {
    Error::invalid_argument(what.to_string())
}

/// Runs an accessor, returning `default` on a panic.
pub(crate) fn access<T>(default: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(default)
}

/// A required UTF-8 string argument.
pub(crate) unsafe fn arg_str<'a>(p: *const c_char, name: &str) -> Result<&'a str, Error> {
    if p.is_null() {
        return Err(invalid(&format!("`{name}` is NULL")));
    }
    // SAFETY: the caller passes a NUL-terminated string that lives for the call.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| invalid(&format!("`{name}` is not valid UTF-8")))
}

/// A required handle argument.
pub(crate) unsafe fn arg_ref<'a, T>(p: *const T, name: &str) -> Result<&'a T, Error> {
    // SAFETY: the caller passes NULL or a live handle from this library.
    unsafe { p.as_ref() }.ok_or_else(|| invalid(&format!("`{name}` is NULL")))
}

/// A required out-pointer: checked, and cleared so that it is NULL on every failure.
pub(crate) unsafe fn arg_out<T>(p: *mut *mut T, name: &str) -> Result<(), Error> {
    if p.is_null() {
        return Err(invalid(&format!("`{name}` (the out-pointer) is NULL")));
    }
    // SAFETY: non-NULL out-pointer from the caller.
    unsafe { *p = ptr::null_mut() };
    Ok(())
}

pub(crate) unsafe fn put<T>(out: *mut *mut T, value: T) {
    // SAFETY: `out` was checked by `arg_out`.
    unsafe { *out = Box::into_raw(Box::new(value)) };
}

/// The shape of every export that hands out one new handle: check and clear `out` (so it is NULL on every
/// failure), build the value, box it into `out`.
pub(crate) unsafe fn put_new<T>(
    out: *mut *mut T,
    make: impl FnOnce() -> Result<T, Error>,
) -> Result<(), Error> {
    // SAFETY: `arg_out` checks `out` before `put` writes through it.
    unsafe {
        arg_out(out, "out")?;
        put(out, make()?);
    }
    Ok(())
}

/// Hands `text` out as a new C string (freed with `cozefallback_string_free`) and returns its length in
/// bytes; an interior NUL is replaced first (see [`cstring`]), so the length is what C's `strlen` sees.
pub(crate) unsafe fn out_str(out: *mut *mut c_char, text: &str) -> usize {
    let owned = cstring(text);
    let len = owned.as_bytes().len();
    // SAFETY: `out` was checked by `arg_out`.
    unsafe { *out = owned.into_raw() };
    len
}

/// Writes `value` through an optional out-pointer (NULL: nothing is written).
pub(crate) unsafe fn put_opt<T>(out: *mut T, value: T) {
    // SAFETY: the caller passes NULL or a pointer to writable storage of `T`.
    if let Some(slot) = unsafe { out.as_mut() } {
        *slot = value;
    }
}

/// The shape of every accessor: `read` the handle, or `default` for a NULL handle (and on a panic). What `read`
/// returns may borrow from the handle (`'a` is the caller's promise that the handle outlives the use).
pub(crate) unsafe fn read_or<'a, T: 'a, R: Copy>(
    handle: *const T,
    default: R,
    read: impl FnOnce(&'a T) -> R,
) -> R {
    // SAFETY: the caller passes NULL or a live handle from this library.
    access(default, || unsafe { handle.as_ref() }.map_or(default, read))
}

pub(crate) unsafe fn free_box<T>(p: *mut T) {
    if !p.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: the caller passes a handle from this library, once.
            drop(unsafe { Box::from_raw(p) })
        }));
    }
}

pub(crate) fn opt_ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(ptr::null(), |c| c.as_ptr())
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) unsafe fn arg_bytes<'a>(
    data: *const u8,
    len: usize,
    name: &str,
) -> Result<&'a [u8], Error> {
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
