//! OBO user tokens through the C ABI: the OAuth app (`cozefallback_oauth_app`: authorize URL with PKCE, code
//! exchange, refresh, device flow), the objects it hands out (`cozefallback_authorize_url`,
//! `cozefallback_oauth_token`, `cozefallback_device_code`), and the client's refresh hook, called after an OBO
//! refresh rotated the tokens so the app can store the new refresh token. The core's `OAuthApp` and token
//! cache do the work; this module only checks arguments and converts.

use std::ffi::{CString, c_char, c_void};
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{Ordering, compiler_fence};

use cozefallback::{
    DeviceCode, OAuthApp, OAuthAppOptions, OAuthToken, RefreshHook, Secret, TokenRefresh, block_on,
};

use super::cancel::{cancel_of, cozefallback_cancel_token};
use super::client::cozefallback_client;
use super::error::{cozefallback_error, cozefallback_status, guard};
use super::ffi::{access, arg_out, arg_ref, arg_str, credential_cstr, cstring, free_box, put};

/// A secret (token, code verifier) as a C string, overwritten with zeros when dropped so a freed handle leaves
/// no copy in the C heap.
pub(crate) struct SecretC(Option<CString>);

impl SecretC {
    pub(crate) fn new(secret: &str) -> SecretC {
        SecretC(Some(cstring(secret)))
    }

    pub(crate) fn as_ptr(&self) -> *const c_char {
        self.0.as_ref().map_or(ptr::null(), |c| c.as_ptr())
    }
}

impl Drop for SecretC {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            let mut bytes = c.into_bytes();
            for b in bytes.iter_mut() {
                // SAFETY: a valid, exclusively owned byte; volatile so the compiler keeps the write.
                unsafe { ptr::write_volatile(b, 0) };
            }
            compiler_fence(Ordering::SeqCst);
        }
    }
}

fn secret_ptr(s: &Option<SecretC>) -> *const c_char {
    s.as_ref().map_or(ptr::null(), SecretC::as_ptr)
}

/// An optional UTF-8 string argument: NULL is "none".
unsafe fn opt_str<'a>(
    p: *const c_char,
    name: &str,
) -> Result<Option<&'a str>, cozefallback::Error> {
    if p.is_null() {
        Ok(None)
    } else {
        // SAFETY: non-NULL, so the caller's NUL-terminated string.
        unsafe { arg_str(p, name) }.map(Some)
    }
}

// ---------------------------------------------------------------------------------------------------------
// The app

/// An OAuth app (web, PKCE or device) on one Coze host, for OBO user tokens. Opaque.
pub struct cozefallback_oauth_app {
    inner: Arc<OAuthApp>,
}

/// Builds an OAuth app on `base_url` (such as `"https://api.coze.cn"`, no path) for the app `client_id`.
/// `client_secret` is the web app's secret, or NULL for PKCE and device apps. `allow_insecure_http` permits
/// `http://` to a host other than loopback (as the client config's `allow_insecure_http`); `ca_file` (NULL for
/// none) is a PEM file of CA certificates to trust besides the system's.
///
/// ```c
/// cozefallback_oauth_app *app = NULL;
/// if (cozefallback_oauth_app_new("https://api.coze.cn", "1130000000000000002", NULL, false, NULL, &app, &err)
///     != COZEFALLBACK_STATUS_OK) ...
/// ```
///
/// Ownership: on success `*out` is a new app to free with `cozefallback_oauth_app_free`; NULL on failure. The
/// strings are copied. Thread safety: any thread; an app may be used from several threads at once.
/// Errors: CONFIG (`cozefallback_error_field` names "base_url" or "client_id"), INVALID_ARGUMENT (NULL or
/// non-UTF-8 argument).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_oauth_app_new(
    base_url: *const c_char,
    client_id: *const c_char,
    client_secret: *const c_char,
    allow_insecure_http: bool,
    ca_file: *const c_char,
    out: *mut *mut cozefallback_oauth_app,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        arg_out(out, "out")?;
        let base_url = arg_str(base_url, "base_url")?;
        let client_id = arg_str(client_id, "client_id")?;
        let client_secret = opt_str(client_secret, "client_secret")?.map(Secret::new);
        let options = OAuthAppOptions {
            allow_insecure_http,
            ca_file: opt_str(ca_file, "ca_file")?.map(Into::into),
        };
        let app = OAuthApp::with_options(base_url, client_id, client_secret, options)?;
        put(
            out,
            cozefallback_oauth_app {
                inner: Arc::new(app),
            },
        );
        Ok(())
    })
}

/// Frees an app. NULL-safe.
///
/// Ownership: takes `app`; no call on it may be running. Thread safety: call once. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_oauth_app_free(app: *mut cozefallback_oauth_app) {
    unsafe { free_box(app) }
}

/// The authorize URL to send the user's browser to, with a random `state` and, when `pkce` is true, an S256
/// code challenge whose verifier `cozefallback_authorize_url_code_verifier` gives (keep it for
/// `cozefallback_oauth_app_exchange_code`). `workspace_id` may be NULL.
///
/// ```c
/// cozefallback_authorize_url *auth = NULL;
/// cozefallback_oauth_app_authorize_url(app, "https://example.com/cb", NULL, true, &auth, &err);
/// redirect_browser(cozefallback_authorize_url_url(auth));
/// save_for_callback(cozefallback_authorize_url_state(auth), cozefallback_authorize_url_code_verifier(auth));
/// cozefallback_authorize_url_free(auth);
/// ```
///
/// Ownership: borrows the arguments for the call; on success `*out` is a new object to free with
/// `cozefallback_authorize_url_free`. Thread safety: any thread. Errors: INVALID_ARGUMENT (NULL app, NULL or
/// non-UTF-8 string).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_oauth_app_authorize_url(
    app: *const cozefallback_oauth_app,
    redirect_uri: *const c_char,
    workspace_id: *const c_char,
    pkce: bool,
    out: *mut *mut cozefallback_authorize_url,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        arg_out(out, "out")?;
        let app = arg_ref(app, "app")?;
        let redirect_uri = arg_str(redirect_uri, "redirect_uri")?;
        let workspace_id = opt_str(workspace_id, "workspace_id")?;
        let auth = app.inner.authorize_url(redirect_uri, workspace_id, pkce);
        put(
            out,
            cozefallback_authorize_url {
                url: cstring(&auth.url),
                state: cstring(&auth.state),
                code_verifier: auth.code_verifier.map(|v| SecretC::new(v.expose())),
            },
        );
        Ok(())
    })
}

/// Runs one OAuth call of `app` on the library's runtime, honouring `cancel`, and hands back its token.
unsafe fn token_call<F>(
    app: *const cozefallback_oauth_app,
    cancel: *const cozefallback_cancel_token,
    out: *mut *mut cozefallback_oauth_token,
    call: impl FnOnce(Arc<OAuthApp>) -> F,
) -> Result<(), cozefallback::Error>
where
    F: Future<Output = cozefallback::Result<OAuthToken>> + Send + 'static,
{
    unsafe {
        arg_out(out, "out")?;
        let app = arg_ref(app, "app")?.inner.clone();
        let token = block_on(cancel_of(cancel), call(app))?;
        put(out, token_handle(&token));
    }
    Ok(())
}

/// Exchanges the authorization code from the redirect for tokens. A web app (built with its secret) passes
/// `code_verifier` NULL; a PKCE app passes the verifier of its authorize URL. `redirect_uri` must be the one
/// the authorize URL named.
///
/// ```c
/// cozefallback_oauth_token *tok = NULL;
/// st = cozefallback_oauth_app_exchange_code(app, code, "https://example.com/cb", verifier, NULL, &tok, &err);
/// store_refresh_token(user, cozefallback_oauth_token_refresh_token(tok));
/// cozefallback_oauth_token_free(tok);
/// ```
///
/// `cancel` may be NULL; cancelling it makes the call return CANCELLED promptly. The wait is bounded by the
/// first-byte timeout. Ownership: borrows the arguments for the call; on success `*out` is a new token to free
/// with `cozefallback_oauth_token_free`. Thread safety: any thread. Errors: AUTH (the endpoint refused:
/// `cozefallback_error_oauth_error` says why, e.g. "invalid_grant"), TRANSPORT, TIMEOUT, CANCELLED,
/// INVALID_ARGUMENT.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_oauth_app_exchange_code(
    app: *const cozefallback_oauth_app,
    code: *const c_char,
    redirect_uri: *const c_char,
    code_verifier: *const c_char,
    cancel: *const cozefallback_cancel_token,
    out: *mut *mut cozefallback_oauth_token,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        arg_out(out, "out")?;
        let code = arg_str(code, "code")?.to_string();
        let redirect_uri = arg_str(redirect_uri, "redirect_uri")?.to_string();
        let verifier = opt_str(code_verifier, "code_verifier")?.map(str::to_string);
        token_call(app, cancel, out, |app| async move {
            app.exchange_code(&code, &redirect_uri, verifier.as_deref())
                .await
        })
    })
}

/// Refreshes a user's tokens: the answer carries a new refresh token and the old one stops working (store the
/// new one).
///
/// ```c
/// st = cozefallback_oauth_app_refresh(app, stored_refresh_token, NULL, &tok, &err);
/// ```
///
/// `cancel` may be NULL. Ownership: borrows the arguments for the call; on success `*out` is a new token to
/// free with `cozefallback_oauth_token_free`. Thread safety: any thread. Errors: AUTH ("invalid_grant" for a
/// used or unknown refresh token), TRANSPORT, TIMEOUT, CANCELLED, INVALID_ARGUMENT.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_oauth_app_refresh(
    app: *const cozefallback_oauth_app,
    refresh_token: *const c_char,
    cancel: *const cozefallback_cancel_token,
    out: *mut *mut cozefallback_oauth_token,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        arg_out(out, "out")?;
        let refresh_token = Secret::new(arg_str(refresh_token, "refresh_token")?);
        token_call(app, cancel, out, |app| async move {
            app.refresh(refresh_token.expose()).await
        })
    })
}

/// Starts the device flow: show the user `cozefallback_device_code_user_code` and
/// `cozefallback_device_code_verification_uri`, then wait with `cozefallback_oauth_app_wait_device_token`.
/// `workspace_id` may be NULL.
///
/// ```c
/// cozefallback_device_code *dc = NULL;
/// st = cozefallback_oauth_app_device_code(app, NULL, NULL, &dc, &err);
/// printf("open %s and type %s\n", cozefallback_device_code_verification_uri(dc), cozefallback_device_code_user_code(dc));
/// ```
///
/// `cancel` may be NULL; the wait is bounded by the first-byte timeout. Ownership: borrows the arguments for
/// the call; on success `*out` is a new object to free with `cozefallback_device_code_free`. Thread safety:
/// any thread. Errors: AUTH, TRANSPORT, TIMEOUT, CANCELLED, INVALID_ARGUMENT.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_oauth_app_device_code(
    app: *const cozefallback_oauth_app,
    workspace_id: *const c_char,
    cancel: *const cozefallback_cancel_token,
    out: *mut *mut cozefallback_device_code,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        arg_out(out, "out")?;
        let app = arg_ref(app, "app")?.inner.clone();
        let workspace_id = opt_str(workspace_id, "workspace_id")?.map(str::to_string);
        let code = block_on(cancel_of(cancel), async move {
            app.device_code(workspace_id.as_deref()).await
        })?;
        put(
            out,
            cozefallback_device_code {
                device_code: SecretC::new(&code.device_code),
                user_code: cstring(&code.user_code),
                verification_uri: cstring(&code.verification_uri),
                expires_in: code.expires_in,
                interval: code.interval,
            },
        );
        Ok(())
    })
}

/// Polls once for the device flow's token. An AUTH error whose `cozefallback_error_oauth_error` is
/// "authorization_pending" or "slow_down" means "ask again later" (`cozefallback_oauth_app_wait_device_token`
/// does the waiting).
///
/// `cancel` may be NULL. Ownership: borrows the arguments for the call; on success `*out` is a new token to
/// free with `cozefallback_oauth_token_free`. Thread safety: any thread. Errors: AUTH, TRANSPORT, TIMEOUT,
/// CANCELLED, INVALID_ARGUMENT.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_oauth_app_poll_device_token(
    app: *const cozefallback_oauth_app,
    device_code: *const c_char,
    cancel: *const cozefallback_cancel_token,
    out: *mut *mut cozefallback_oauth_token,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        arg_out(out, "out")?;
        let device_code = arg_str(device_code, "device_code")?.to_string();
        token_call(app, cancel, out, |app| async move {
            app.poll_device_token(&device_code).await
        })
    })
}

/// Polls until the user approves the device code, every `interval` seconds (5 s more on "slow_down", at most
/// 30 s); gives up with AUTH when the user denies ("access_denied"), the code expires ("expired_token") or
/// `expires_in` seconds pass. The numbers are the code's (`cozefallback_device_code_expires_in` and
/// `_interval`), so a code stored earlier can be waited on again.
///
/// ```c
/// st = cozefallback_oauth_app_wait_device_token(app, cozefallback_device_code_device_code(dc),
///         cozefallback_device_code_expires_in(dc), cozefallback_device_code_interval(dc), cancel, &tok, &err);
/// ```
///
/// Every wait is bounded by `expires_in` (at most one day); `cancel` (may be NULL) ends it at once with
/// CANCELLED. Ownership: borrows the arguments for the call; on success `*out` is a new token to free with
/// `cozefallback_oauth_token_free`. Thread safety: any thread. Errors: AUTH, TRANSPORT, TIMEOUT, CANCELLED,
/// INVALID_ARGUMENT (NULL argument; `expires_in` or `interval` 0 or out of range, the message names it).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_oauth_app_wait_device_token(
    app: *const cozefallback_oauth_app,
    device_code: *const c_char,
    expires_in: u64,
    interval: u64,
    cancel: *const cozefallback_cancel_token,
    out: *mut *mut cozefallback_oauth_token,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        arg_out(out, "out")?;
        let code = DeviceCode {
            device_code: arg_str(device_code, "device_code")?.to_string(),
            // Not sent while polling: only the user sees them.
            user_code: String::new(),
            verification_uri: String::new(),
            expires_in,
            interval,
        };
        token_call(app, cancel, out, |app| async move {
            app.wait_device_token(&code).await
        })
    })
}

// ---------------------------------------------------------------------------------------------------------
// What the app hands out

/// An authorize URL with its `state` and, for PKCE, the code verifier. Opaque and immutable.
pub struct cozefallback_authorize_url {
    url: CString,
    state: CString,
    code_verifier: Option<SecretC>,
}

/// The URL to send the user's browser to.
///
/// Ownership: borrowed from `auth`. Thread safety: any thread. Errors: none (NULL for a NULL handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_authorize_url_url(
    auth: *const cozefallback_authorize_url,
) -> *const c_char {
    access(ptr::null(), || {
        unsafe { auth.as_ref() }.map_or(ptr::null(), |a| a.url.as_ptr())
    })
}

/// The random `state` the URL carries: check that the redirect brings it back.
///
/// Ownership: borrowed from `auth`. Thread safety: any thread. Errors: none (NULL for a NULL handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_authorize_url_state(
    auth: *const cozefallback_authorize_url,
) -> *const c_char {
    access(ptr::null(), || {
        unsafe { auth.as_ref() }.map_or(ptr::null(), |a| a.state.as_ptr())
    })
}

/// The PKCE code verifier (a secret: keep it server-side until the code exchange), or NULL when the URL was
/// built without PKCE.
///
/// Ownership: borrowed from `auth`; zeroed when it is freed. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_authorize_url_code_verifier(
    auth: *const cozefallback_authorize_url,
) -> *const c_char {
    access(ptr::null(), || {
        unsafe { auth.as_ref() }.map_or(ptr::null(), |a| secret_ptr(&a.code_verifier))
    })
}

/// Frees an authorize URL and zeroes its code verifier. NULL-safe.
///
/// Ownership: takes `auth`; strings borrowed from it become invalid. Thread safety: call once. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_authorize_url_free(auth: *mut cozefallback_authorize_url) {
    unsafe { free_box(auth) }
}

/// The tokens an OAuth call handed back. Opaque and immutable; its strings are secrets.
pub struct cozefallback_oauth_token {
    access_token: SecretC,
    refresh_token: Option<SecretC>,
    expires_at: u64,
}

fn token_handle(t: &OAuthToken) -> cozefallback_oauth_token {
    cozefallback_oauth_token {
        access_token: SecretC::new(t.access_token.expose()),
        refresh_token: t.refresh_token.as_ref().map(|r| SecretC::new(r.expose())),
        expires_at: t.expires_at,
    }
}

/// The user access token ("czu_..."), for an `oauth` credential's `access_token`.
///
/// Ownership: borrowed from `token`; zeroed when it is freed. Thread safety: any thread.
/// Errors: none (NULL for a NULL handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_oauth_token_access_token(
    token: *const cozefallback_oauth_token,
) -> *const c_char {
    access(ptr::null(), || {
        unsafe { token.as_ref() }.map_or(ptr::null(), |t| t.access_token.as_ptr())
    })
}

/// The refresh token, or NULL when the endpoint gave none. Store it: it rotates on every refresh.
///
/// Ownership: borrowed from `token`; zeroed when it is freed. Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_oauth_token_refresh_token(
    token: *const cozefallback_oauth_token,
) -> *const c_char {
    access(ptr::null(), || {
        unsafe { token.as_ref() }.map_or(ptr::null(), |t| secret_ptr(&t.refresh_token))
    })
}

/// Unix time (seconds) at which the access token expires (0 for a NULL handle).
///
/// Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_oauth_token_expires_at(
    token: *const cozefallback_oauth_token,
) -> u64 {
    access(0, || unsafe { token.as_ref() }.map_or(0, |t| t.expires_at))
}

/// Frees a token and zeroes its strings. NULL-safe.
///
/// Ownership: takes `token`; strings borrowed from it become invalid. Thread safety: call once.
/// Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_oauth_token_free(token: *mut cozefallback_oauth_token) {
    unsafe { free_box(token) }
}

/// A started device flow. Opaque and immutable.
pub struct cozefallback_device_code {
    device_code: SecretC,
    user_code: CString,
    verification_uri: CString,
    expires_in: u64,
    interval: u64,
}

/// The code the app polls with (keep it to itself).
///
/// Ownership: borrowed from `code`; zeroed when it is freed. Thread safety: any thread.
/// Errors: none (NULL for a NULL handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_device_code_device_code(
    code: *const cozefallback_device_code,
) -> *const c_char {
    access(ptr::null(), || {
        unsafe { code.as_ref() }.map_or(ptr::null(), |c| c.device_code.as_ptr())
    })
}

/// The code the user types at the verification URI.
///
/// Ownership: borrowed from `code`. Thread safety: any thread. Errors: none (NULL for a NULL handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_device_code_user_code(
    code: *const cozefallback_device_code,
) -> *const c_char {
    access(ptr::null(), || {
        unsafe { code.as_ref() }.map_or(ptr::null(), |c| c.user_code.as_ptr())
    })
}

/// Where the user types the user code.
///
/// Ownership: borrowed from `code`. Thread safety: any thread. Errors: none (NULL for a NULL handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_device_code_verification_uri(
    code: *const cozefallback_device_code,
) -> *const c_char {
    access(ptr::null(), || {
        unsafe { code.as_ref() }.map_or(ptr::null(), |c| c.verification_uri.as_ptr())
    })
}

/// Seconds the codes stay valid (0 for a NULL handle).
///
/// Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_device_code_expires_in(
    code: *const cozefallback_device_code,
) -> u64 {
    access(0, || unsafe { code.as_ref() }.map_or(0, |c| c.expires_in))
}

/// Seconds to wait between polls (0 for a NULL handle).
///
/// Thread safety: any thread. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_device_code_interval(
    code: *const cozefallback_device_code,
) -> u64 {
    access(0, || unsafe { code.as_ref() }.map_or(0, |c| c.interval))
}

/// Frees a device code and zeroes its device code. NULL-safe.
///
/// Ownership: takes `code`; strings borrowed from it become invalid. Thread safety: call once. Errors: none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_device_code_free(code: *mut cozefallback_device_code) {
    unsafe { free_box(code) }
}

// ---------------------------------------------------------------------------------------------------------
// The client's refresh hook

/// Called once per OBO refresh that rotated a credential's tokens, with the credential ("personal" or
/// "enterprise"), the new access token, the new refresh token (NULL when the endpoint gave none), the Unix
/// time at which the access token expires, and the `user_data` given to `cozefallback_client_set_refresh_hook`.
///
/// The strings are borrowed for the call only (and zeroed after it): copy the refresh token to store it.
pub type cozefallback_refresh_hook = Option<
    unsafe extern "C" fn(
        credential: *const c_char,
        access_token: *const c_char,
        refresh_token: *const c_char,
        expires_at: u64,
        user_data: *mut c_void,
    ),
>;

/// The caller's `user_data`, handed back untouched on whichever thread runs the hook.
struct UserData(*mut c_void);
// SAFETY: the library never dereferences it; the caller promises (header docs) that the callback may use it
// from any thread.
unsafe impl Send for UserData {}
unsafe impl Sync for UserData {}

/// Installs the hook called after an OBO refresh rotated a credential's tokens (the old refresh token no
/// longer works), so the app can store the new refresh token; `callback` NULL removes it. Replaces an earlier
/// hook.
///
/// ```c
/// static void on_refresh(const char *credential, const char *access_token, const char *refresh_token,
///                        uint64_t expires_at, void *user_data) {
///     store_refresh_token(user_data, credential, refresh_token); // copy: borrowed for this call only
/// }
/// cozefallback_client_set_refresh_hook(client, on_refresh, my_store, &err);
/// ```
///
/// The callback runs on one of the library's worker threads (not the thread that made the call), possibly on
/// several at once for different credentials; it must return promptly, must not unwind (C++ exception,
/// longjmp) out of itself, and must not make blocking calls on a client (`cozefallback_client_send`...).
/// The strings are borrowed for the call only. Ownership: borrows `client`; `user_data` is handed to every
/// call untouched and is never freed by the library. A refresh already running when the hook is replaced may
/// still call the old one: release `user_data` only once the calls in flight on the client have returned.
/// Thread safety: any thread. Errors: INVALID_ARGUMENT (NULL client).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_client_set_refresh_hook(
    client: *const cozefallback_client,
    callback: cozefallback_refresh_hook,
    user_data: *mut c_void,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        let client = arg_ref(client, "client")?;
        let hook = callback.map(|callback| {
            let user_data = UserData(user_data);
            Arc::new(move |r: &TokenRefresh| {
                let access_token = SecretC::new(r.access_token.expose());
                let refresh_token = r.refresh_token.as_ref().map(|t| SecretC::new(t.expose()));
                let user_data = &user_data;
                // SAFETY: the caller's callback, with NUL-terminated strings alive for the call.
                callback(
                    credential_cstr(r.credential).as_ptr(),
                    access_token.as_ptr(),
                    secret_ptr(&refresh_token),
                    r.expires_at,
                    user_data.0,
                );
            }) as RefreshHook
        });
        client.inner.inner().set_refresh_hook(hook);
        Ok(())
    })
}
