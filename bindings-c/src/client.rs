//! The client handle: building one (from JSON or the environment), closing and freeing it, the routing mode,
//! the metrics, and the calls that take a whole answer (`send`, the uploads, `send_any`). The fallback itself is
//! the core's `BlockingClient`; this module only checks arguments and converts the answer.

use std::ffi::c_char;
use std::panic::{AssertUnwindSafe, catch_unwind};

use cozefallback::{BlockingClient, CredentialKind, Error, Mode, Reply, Request, block_on};

use super::cancel::{cancel_of, cozefallback_cancel_token};
use super::error::{cozefallback_error, cozefallback_status, guard};
use super::ffi::{arg_bytes, arg_out, arg_ref, arg_str, free_box, invalid, out_str, put, put_new};
use super::request::{cozefallback_request, request_arg};
use super::response::{cozefallback_response, response_handle};
use super::stream::{cozefallback_stream, stream_handle};

/// A client: two credentials, the fallback between them, a token cache, metrics. Opaque.
pub struct cozefallback_client {
    pub(crate) inner: BlockingClient,
}

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
        out_str(out, &text);
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
        out_str(out, &client.inner.metrics_prometheus());
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
        send_with(client, cancel, out, || request_arg(request))
    })
}

/// The same call as `cozefallback_client_send`, under the name the core and the other languages use
/// (`Client::request`). An alias: both spellings stay, with the same arguments, ownership and errors.
///
/// Example: `st = cozefallback_client_request(client, req, NULL, &resp, &err);`
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_client_request(
    client: *const cozefallback_client,
    request: *const cozefallback_request,
    cancel: *const cozefallback_cancel_token,
    out: *mut *mut cozefallback_response,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    unsafe { cozefallback_client_send(client, request, cancel, out, err) }
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
        send_with(client, cancel, out, || {
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
            Ok(Request::upload(api_path, filename, data))
        })
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
        send_with(client, cancel, out, || {
            let api_path = arg_str(api_path, "api_path")?;
            let data = arg_bytes(data, len, "data")?.to_vec();
            let filename = arg_str(filename, "filename")?;
            Ok(Request::upload(api_path, filename, data))
        })
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
        let req = request_arg(request)?;
        match client.inner.send(req, cancel_of(cancel))? {
            Reply::Full(resp) => put(out_response, response_handle(resp)),
            Reply::Stream(stream) => put(out_stream, stream_handle(*stream)),
        }
        Ok(())
    })
}

/// The shape of `send` and the uploads: check `out` and the client, build the request, send it through the
/// fallback, box the answer into `out`.
unsafe fn send_with(
    client: *const cozefallback_client,
    cancel: *const cozefallback_cancel_token,
    out: *mut *mut cozefallback_response,
    build: impl FnOnce() -> Result<Request, Error>,
) -> Result<(), Error> {
    // SAFETY: the caller's pointers, each checked before use.
    unsafe {
        put_new(out, || {
            let client = arg_ref(client, "client")?;
            let resp = client.inner.request(build()?, cancel_of(cancel))?;
            Ok(response_handle(resp))
        })
    }
}

/// Mints (or checks) the bearer token of one credential now, "personal" or "enterprise": for preflight checks
/// and warm-up, and to refresh an expired OBO user token before the next call needs it (the refresh hook, see
/// `cozefallback_client_set_refresh_hook`, is called when the refresh rotated the tokens).
///
/// ```c
/// if (cozefallback_client_fetch_token(client, "personal", NULL, &err) != COZEFALLBACK_STATUS_OK)
///     fprintf(stderr, "personal credential: %s\n", cozefallback_error_message(err));
/// ```
///
/// `cancel` may be NULL; cancelling it makes the call return CANCELLED promptly. Ownership: borrows every
/// argument for the call. Thread safety: any thread, concurrently with calls on the client.
/// Errors: REAUTH_REQUIRED (the endpoint refused an OBO refresh token, as a call would report it:
/// `cozefallback_error_authorize_url` gives where to send the user, `cozefallback_error_oauth_error` why, e.g.
/// "invalid_grant"), AUTH (another token endpoint refusal), TRANSPORT, TIMEOUT, CANCELLED, INVALID_ARGUMENT
/// (NULL or unknown credential name, a credential that is not configured, a closed client).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cozefallback_client_fetch_token(
    client: *const cozefallback_client,
    credential: *const c_char,
    cancel: *const cozefallback_cancel_token,
    err: *mut *mut cozefallback_error,
) -> cozefallback_status {
    guard(err, || unsafe {
        let client = arg_ref(client, "client")?.inner.inner().clone();
        let kind: CredentialKind = arg_str(credential, "credential")?.parse()?;
        block_on(
            cancel_of(cancel),
            async move { client.fetch_token(kind).await },
        )
    })
}

#[cfg(test)]
mod tests {
    use std::ptr;

    use super::*;
    use crate::error::cozefallback_error_free;

    #[test]
    fn null_arguments_are_invalid() {
        let mut err: *mut cozefallback_error = ptr::null_mut();
        let mut client: *mut cozefallback_client = ptr::null_mut();
        let s = unsafe { cozefallback_client_new(ptr::null(), &mut client, &mut err) };
        assert_eq!(s, cozefallback_status::InvalidArgument);
        assert!(client.is_null());
        unsafe { cozefallback_error_free(err) };
    }

    #[test]
    fn the_request_alias_checks_its_arguments_like_send() {
        let mut err: *mut cozefallback_error = ptr::null_mut();
        let mut resp: *mut cozefallback_response = ptr::null_mut();
        let s = unsafe {
            cozefallback_client_request(ptr::null(), ptr::null(), ptr::null(), &mut resp, &mut err)
        };
        assert_eq!(s, cozefallback_status::InvalidArgument);
        assert!(resp.is_null() && !err.is_null());
        let message =
            unsafe { std::ffi::CStr::from_ptr(crate::error::cozefallback_error_message(err)) };
        assert!(
            message.to_string_lossy().contains("`client` is NULL"),
            "{message:?}"
        );
        unsafe { cozefallback_error_free(err) };
    }
}
