//! The cancellation token handle: made by the caller, passed to any blocking call, cancelled from another
//! thread to end those calls with CANCELLED.

use cozefallback::CancelToken;

use super::error::{cozefallback_error, cozefallback_status, guard};
use super::ffi::{access, arg_out, arg_ref, free_box, put};

/// Cancels in-flight calls from another thread (a Go context, a signal handler's helper thread...). Opaque.
pub struct cozefallback_cancel_token {
    inner: CancelToken,
}

pub(crate) unsafe fn cancel_of<'a>(
    cancel: *const cozefallback_cancel_token,
) -> Option<&'a CancelToken> {
    // SAFETY: NULL or a live token.
    unsafe { cancel.as_ref() }.map(|c| &c.inner)
}

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
