//! Node.js binding of the cozefallback core (napi-rs 3).
//!
//! This layer only converts types and maps errors. There is one tokio runtime in the process, the core's
//! (`cozefallback::runtime()`): napi drives every `#[napi] async fn` there (`runtime.rs` registers it as
//! napi's async backend; napi builds no runtime of its own), so the Node main thread never blocks. The JavaScript layer (`lib/`) builds the public `Client`,
//! `CozeError` and the @coze/api adapter on top of these native classes.
//!
//! Errors: every failure is thrown as a JS `Error` whose message is the core's JSON form of the error
//! (`Error::to_json`, docs/FORMS.md) plus `"cozefallback_error": true`; `lib/errors.js` turns it into a
//! `CozeError` with `code = "COZE_" + kind.toUpperCase()` and every other key in camelCase.

#![deny(clippy::all)]

pub mod log;
mod runtime;
pub mod ws;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use cozefallback::{
    CancelToken, ConversationMoved, CredentialKind, Event, EventStream, Mode, Request, Response,
    ResponseMeta, Secret,
};
use napi::bindgen_prelude::Buffer;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;

/// Maps a core error to a napi error whose message is the core's JSON form of it (`Error::to_json`, see
/// docs/FORMS.md) marked with `"cozefallback_error": true`; `lib/errors.js` builds the `CozeError` from it.
fn to_napi(err: cozefallback::Error) -> napi::Error {
    let mut v = err.to_json();
    v["cozefallback_error"] = serde_json::Value::Bool(true);
    napi::Error::new(napi::Status::GenericFailure, v.to_string())
}

/// Runs a core future as a task of its own on the shared runtime and awaits it, so that a panic inside the
/// client becomes an `internal` error (the napi task awaiting it already runs on that runtime too).
async fn on_runtime<T: Send + 'static>(
    fut: impl Future<Output = cozefallback::Result<T>> + Send + 'static,
) -> napi::Result<T> {
    match cozefallback::runtime().spawn(fut).await {
        Ok(r) => r.map_err(to_napi),
        Err(e) if e.is_panic() => Err(to_napi(cozefallback::Error::internal(
            "a panic occurred inside the client",
        ))),
        Err(_) => Err(to_napi(cozefallback::Error::internal(
            "the call was dropped by the runtime",
        ))),
    }
}

fn closed_error() -> napi::Error {
    to_napi(cozefallback::Error::invalid_argument(
        "the client is closed",
    ))
}

/// What the JS layer sends for one request.
#[napi(object)]
pub struct NativeRequest {
    /// HTTP method (`GET`, `POST`, ...).
    pub method: String,
    /// Path below the base URL (`/v3/chat`), or a full URL on the configured host.
    pub path: String,
    /// Query pairs, in order.
    pub query: Option<Vec<Vec<String>>>,
    /// Header pairs, in order. `Authorization` is dropped by the core.
    pub headers: Option<Vec<Vec<String>>>,
    /// A JSON body, already serialized by `JSON.stringify`.
    pub json: Option<String>,
    /// A raw body.
    pub body: Option<Buffer>,
    /// The raw body's content type.
    pub content_type: Option<String>,
    /// A multipart upload: the file name (with `body` as the content).
    pub upload_filename: Option<String>,
    /// Overall deadline of this call, in ms.
    pub timeout_ms: Option<f64>,
    /// Retry this non-idempotent request on transient failures.
    pub retry_non_idempotent: Option<bool>,
    /// An id chosen by the caller; `cancel(id)` on the client cancels this call.
    pub cancel_id: Option<u32>,
}

fn pairs(v: Option<Vec<Vec<String>>>, what: &str) -> cozefallback::Result<Vec<(String, String)>> {
    v.unwrap_or_default()
        .into_iter()
        .map(|p| match <[String; 2]>::try_from(p) {
            Ok([k, v]) => Ok((k, v)),
            Err(_) => Err(cozefallback::Error::invalid_argument(format!(
                "each {what} entry must be a [name, value] pair"
            ))),
        })
        .collect()
}

fn build_request(r: NativeRequest) -> cozefallback::Result<Request> {
    let mut req = Request::new(r.method, r.path);
    req.query = pairs(r.query, "query")?;
    req.headers = pairs(r.headers, "header")?;
    if let Some(name) = r.upload_filename {
        let data = r
            .body
            .map(|b| bytes::Bytes::from(b.to_vec()))
            .unwrap_or_default();
        let mut up = Request::upload(req.path.clone(), name, data);
        up.method = req.method;
        up.query = req.query;
        up.headers = req.headers;
        req = up;
    } else if let Some(json) = r.json {
        let value: serde_json::Value = serde_json::from_str(&json).map_err(|e| {
            cozefallback::Error::invalid_argument(format!("the json body is not valid JSON: {e}"))
        })?;
        req = req.json(value);
    } else if let Some(body) = r.body {
        req = req.bytes(r.content_type, body.to_vec());
    }
    if let Some(ms) = r.timeout_ms {
        req.timeout = Some(cozefallback::timeout_from_millis("timeoutMs", ms)?);
    }
    req.retry_non_idempotent = r.retry_non_idempotent;
    Ok(req)
}

/// A stranded conversation the core carried over: the old id, the new one, the messages copied into it.
#[napi(object)]
#[derive(Clone)]
pub struct NativeConversationMoved {
    /// The stranded conversation's id.
    pub from: String,
    /// The new conversation's id (store it in place of `from`).
    pub to: String,
    /// Messages copied into the new conversation.
    pub messages_copied: u32,
}

fn to_moved(m: &ConversationMoved) -> NativeConversationMoved {
    NativeConversationMoved {
        from: m.from.clone(),
        to: m.to.clone(),
        messages_copied: m.messages_copied,
    }
}

/// Where an answer came from: the core's `ResponseMeta` (docs/FORMS.md), for a response and a stream alike.
///
/// ```js
/// const r = await native.request({ method: 'GET', path: '/v1/bots/1' })
/// console.log(r.meta.credential, r.meta.attempts, r.meta.logid)
/// ```
#[napi(object)]
#[derive(Clone)]
pub struct NativeResponseMeta {
    /// HTTP status of the answer.
    pub status: u32,
    /// `"personal"` or `"enterprise"`: the credential that served it.
    pub credential: String,
    /// HTTP attempts, fallback and retries included (token requests excluded).
    pub attempts: u32,
    /// The Coze log id, when the answer carried one.
    pub logid: Option<String>,
    /// Set when the call named a stranded conversation and was sent to a new one.
    pub conversation_moved: Option<NativeConversationMoved>,
}

/// The one conversion of the core's metadata to its JS object.
fn to_meta(m: ResponseMeta) -> NativeResponseMeta {
    NativeResponseMeta {
        status: u32::from(m.status),
        credential: m.credential.as_str().to_string(),
        attempts: m.attempts,
        logid: m.logid,
        conversation_moved: m.conversation_moved.as_ref().map(to_moved),
    }
}

/// `[name, value]` pairs, the shape JS receives headers in.
fn header_pairs(headers: &[(String, String)]) -> Vec<Vec<String>> {
    headers
        .iter()
        .map(|(k, v)| vec![k.clone(), v.clone()])
        .collect()
}

/// A successful answer: its metadata, headers and body.
///
/// ```js
/// const r = await native.request({ method: 'GET', path: '/v1/bots/1' })
/// console.log(r.meta.status, r.body.toString())
/// ```
#[napi(object)]
pub struct NativeResponse {
    /// Status, credential, attempts, log id and carry-over of the answer.
    pub meta: NativeResponseMeta,
    /// Response headers as `[name, value]` pairs, in order.
    pub headers: Vec<Vec<String>>,
    /// The body as received.
    pub body: Buffer,
}

fn to_response(r: Response) -> NativeResponse {
    NativeResponse {
        meta: to_meta(r.meta()),
        headers: header_pairs(&r.headers),
        body: Buffer::from(r.body.to_vec()),
    }
}

/// What an OBO refresh handed back: store `refreshToken`, the old one no longer works.
#[napi(object)]
pub struct NativeTokenRefresh {
    /// `"personal"` or `"enterprise"`: the credential that was refreshed.
    pub credential: String,
    /// The new access token.
    pub access_token: String,
    /// The new refresh token, when the server rotated it.
    pub refresh_token: Option<String>,
    /// When the access token expires, in Unix seconds.
    pub expires_at: f64,
}

/// One server-sent event.
#[napi(object)]
pub struct NativeEvent {
    /// The event name (`message` when the server named none).
    pub event: String,
    /// The data lines joined with `\n`.
    pub data: String,
    /// The `id:` field, if any.
    pub id: Option<String>,
}

fn to_event(e: Event) -> NativeEvent {
    NativeEvent {
        event: e.event,
        data: e.data,
        id: e.id,
    }
}

/// The native client. Use the JS `Client` class, which wraps it.
#[napi]
pub struct NativeClient {
    client: Mutex<Option<cozefallback::Client>>,
    cancels: Arc<Mutex<HashMap<u32, CancelToken>>>,
}

impl NativeClient {
    fn wrap(client: cozefallback::Client) -> Self {
        NativeClient {
            client: Mutex::new(Some(client)),
            cancels: Arc::default(),
        }
    }

    fn get(&self) -> napi::Result<cozefallback::Client> {
        self.client
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(closed_error)
    }

    /// A cancel token registered under `id` (if any), and a guard that unregisters it.
    fn cancel_token(&self, id: Option<u32>) -> (CancelToken, CancelGuard) {
        // `cancel(id)` may arrive before this call registers (the future starts on another thread): it then
        // left a cancelled token under `id`, which this call picks up.
        let token = match id {
            Some(id) => {
                let mut map = self.cancels.lock().unwrap_or_else(|p| p.into_inner());
                map.entry(id).or_default().clone()
            }
            None => CancelToken::new(),
        };
        (
            token,
            CancelGuard {
                id,
                cancels: self.cancels.clone(),
            },
        )
    }
}

/// Unregisters a call's cancel token when the call ends.
struct CancelGuard {
    id: Option<u32>,
    cancels: Arc<Mutex<HashMap<u32, CancelToken>>>,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.cancels
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
        }
    }
}

#[napi]
impl NativeClient {
    /// Builds a client from the JSON configuration schema.
    #[napi(constructor)]
    pub fn new(config_json: String) -> napi::Result<Self> {
        let _guard = cozefallback::runtime().enter();
        let client = cozefallback::Client::from_json(&config_json).map_err(to_napi)?;
        Ok(NativeClient::wrap(client))
    }

    /// Builds a client from the official SDKs' environment variables.
    #[napi(factory)]
    pub fn from_env() -> napi::Result<Self> {
        let _guard = cozefallback::runtime().enter();
        let client = cozefallback::Client::from_env().map_err(to_napi)?;
        Ok(NativeClient::wrap(client))
    }

    /// Sends one request through the fallback.
    #[napi]
    pub async fn request(&self, req: NativeRequest) -> napi::Result<NativeResponse> {
        let client = self.get()?;
        let (cancel, _guard) = self.cancel_token(req.cancel_id);
        let req = build_request(req).map_err(to_napi)?;
        on_runtime(async move { cancel.run(client.request(req)).await.map(to_response) }).await
    }

    /// Opens a server-sent event stream.
    #[napi]
    pub async fn stream(&self, req: NativeRequest) -> napi::Result<NativeStream> {
        let client = self.get()?;
        let (cancel, _guard) = self.cancel_token(req.cancel_id);
        let req = build_request(req).map_err(to_napi)?;
        let stream = on_runtime(async move { cancel.run(client.stream(req)).await }).await?;
        Ok(NativeStream::new(stream))
    }

    /// Opens a realtime WebSocket session (`query`: `[name, value]` pairs); `cancelId` as for `request`.
    #[napi]
    pub async fn websocket(
        &self,
        path: String,
        query: Option<Vec<Vec<String>>>,
        cancel_id: Option<u32>,
    ) -> napi::Result<ws::NativeWebSocket> {
        let client = self.get()?;
        let (cancel, _guard) = self.cancel_token(cancel_id);
        let query = pairs(query, "query").map_err(to_napi)?;
        ws::open(client, path, query, cancel).await
    }

    /// Mints (or checks) the token of one credential now (`"personal"` or `"enterprise"`).
    #[napi]
    pub async fn fetch_token(&self, credential: String) -> napi::Result<()> {
        let client = self.get()?;
        let kind = match credential.as_str() {
            "personal" => CredentialKind::Personal,
            "enterprise" => CredentialKind::Enterprise,
            other => {
                return Err(to_napi(cozefallback::Error::invalid_argument(format!(
                    "unknown credential {other:?}; expected personal or enterprise"
                ))));
            }
        };
        on_runtime(async move { client.fetch_token(kind).await }).await
    }

    /// Cancels the call registered under `id` (an AbortSignal fired); it rejects with kind `cancelled`.
    #[napi]
    pub fn cancel(&self, id: u32) {
        let mut map = self.cancels.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(id).or_default().cancel();
    }

    /// Changes the routing mode (the cut-over switch).
    #[napi]
    pub fn set_mode(&self, mode: String) -> napi::Result<()> {
        let client = self.get()?;
        let mode: Mode = mode.parse().map_err(to_napi)?;
        client.set_mode(mode).map_err(to_napi)
    }

    /// The routing mode in force.
    #[napi]
    pub fn mode(&self) -> napi::Result<String> {
        Ok(self.get()?.mode().as_str().to_string())
    }

    /// The configured base URL.
    #[napi]
    pub fn base_url(&self) -> napi::Result<String> {
        Ok(self.get()?.base_url().to_string())
    }

    /// Metrics snapshot as JSON text.
    #[napi]
    pub fn metrics(&self) -> napi::Result<String> {
        Ok(self.get()?.metrics().to_string())
    }

    /// Metrics as Prometheus text.
    #[napi]
    pub fn metrics_prometheus(&self) -> napi::Result<String> {
        Ok(self.get()?.metrics_prometheus())
    }

    /// Called (on the JS thread, asynchronously) after an OBO refresh rotated the tokens, so the app can store
    /// the new refresh token. `null` removes the hook. The hook does not keep the process alive.
    #[napi(ts_args_type = "hook: ((refresh: NativeTokenRefresh) => void) | null")]
    pub fn set_refresh_hook(
        &self,
        hook: Option<
            ThreadsafeFunction<
                NativeTokenRefresh,
                (),
                NativeTokenRefresh,
                napi::Status,
                false,
                true,
            >,
        >,
    ) -> napi::Result<()> {
        let client = self.get()?;
        let hook = hook.map(|f| {
            let f = Arc::new(f);
            let h: cozefallback::RefreshHook = Arc::new(move |r: &cozefallback::TokenRefresh| {
                let info = NativeTokenRefresh {
                    credential: r.credential.as_str().to_string(),
                    access_token: r.access_token.expose().to_string(),
                    refresh_token: r.refresh_token.as_ref().map(|s| s.expose().to_string()),
                    expires_at: r.expires_at as f64,
                };
                f.call(info, ThreadsafeFunctionCallMode::NonBlocking);
            });
            h
        });
        client.set_refresh_hook(hook);
        Ok(())
    }

    /// Called (on the JS thread, asynchronously) once per carry-over of a stranded conversation, so the app can
    /// store the new id. `null` removes the hook. The hook does not keep the process alive.
    #[napi(ts_args_type = "hook: ((moved: NativeConversationMoved) => void) | null")]
    pub fn set_conversation_hook(
        &self,
        hook: Option<
            ThreadsafeFunction<
                NativeConversationMoved,
                (),
                NativeConversationMoved,
                napi::Status,
                false,
                true,
            >,
        >,
    ) -> napi::Result<()> {
        let client = self.get()?;
        let hook = hook.map(|f| {
            let f = Arc::new(f);
            let h: cozefallback::ConversationHook = Arc::new(move |m: &ConversationMoved| {
                f.call(to_moved(m), ThreadsafeFunctionCallMode::NonBlocking);
            });
            h
        });
        client.set_conversation_hook(hook);
        Ok(())
    }

    /// Preloads a mapping the app stored after an earlier carry-over (after a restart): calls naming `from`
    /// use `to`. Empty or equal ids are refused (kind `invalid_argument`).
    #[napi]
    pub fn map_conversation(&self, from: String, to: String) -> napi::Result<()> {
        self.get()?.map_conversation(&from, &to).map_err(to_napi)
    }

    /// The conversation a call naming `from` uses now, if it was carried over or mapped.
    #[napi]
    pub fn mapped_conversation(&self, from: String) -> napi::Result<Option<String>> {
        Ok(self.get()?.mapped_conversation(&from))
    }

    /// Whether `close()` was called.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.client
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    /// Releases the client; later calls fail. In-flight calls are cancelled (COZE_CANCELLED). Idempotent.
    #[napi]
    pub fn close(&self) {
        let taken = self.client.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(c) = taken {
            c.close();
            let _guard = cozefallback::runtime().enter();
            drop(c);
        }
    }
}

/// An open event stream. Use the JS `CozeStream`, which wraps it.
///
/// ```js
/// const s = await native.stream({ method: 'POST', path: '/v3/chat', json: '{}' })
/// for (let ev; (ev = await s.next()) !== null; ) console.log(ev.event)
/// ```
#[napi]
pub struct NativeStream {
    stream: Arc<tokio::sync::Mutex<Option<EventStream>>>,
    cancel: CancelToken,
    /// Fired by an AbortSignal: unlike `cancel` (a close), a pending and every later `next()` reject.
    abort: CancelToken,
    meta: NativeResponseMeta,
    headers: Vec<Vec<String>>,
}

impl NativeStream {
    fn new(s: EventStream) -> Self {
        NativeStream {
            meta: to_meta(s.meta()),
            headers: header_pairs(s.headers()),
            stream: Arc::new(tokio::sync::Mutex::new(Some(s))),
            cancel: CancelToken::new(),
            abort: CancelToken::new(),
        }
    }

    /// Reads the next event on the shared runtime: `None` at the end or once closed; the core's `Cancelled`
    /// error once aborted.
    async fn read(&self) -> napi::Result<Option<Event>> {
        let stream = self.stream.clone();
        let cancel = self.cancel.clone();
        let abort = self.abort.clone();
        let read = async move {
            if cancel.is_cancelled() {
                return Ok(None);
            }
            let mut guard = stream.lock().await;
            let Some(s) = guard.as_mut() else {
                return Ok(None);
            };
            let r = tokio::select! {
                biased;
                _ = cancel.cancelled() => Ok(None),
                r = s.next() => r,
            };
            if !matches!(r, Ok(Some(_))) {
                // The end, an error or a close: release the connection now.
                if let Some(mut s) = guard.take() {
                    s.close();
                }
            }
            r
        };
        // Biased towards the abort: once aborted, the core's own `Cancelled` error, never an event or the end.
        on_runtime(async move { abort.run(read).await }).await
    }
}

#[napi]
impl NativeStream {
    /// The next event, or `null` at the end (or once closed); rejects with kind `cancelled` once aborted.
    #[napi]
    pub async fn next(&self) -> napi::Result<Option<NativeEvent>> {
        Ok(self.read().await?.map(to_event))
    }

    /// The next event as server-sent-event text (the core's `Event::to_sse`), or `null` at the end; for the
    /// axios adapter, which hands the SDK a byte stream to parse. Ends and rejects as `next()` does.
    ///
    /// ```js
    /// const frame = await s.nextSse() // Buffer 'event:conversation.message.delta\ndata:{...}\n\n'
    /// ```
    #[napi]
    pub async fn next_sse(&self) -> napi::Result<Option<Buffer>> {
        Ok(self
            .read()
            .await?
            .map(|e| Buffer::from(e.to_sse().into_bytes())))
    }

    /// An AbortSignal fired: closes the connection; a pending and every later `next()` reject with kind
    /// `cancelled`. Idempotent.
    #[napi]
    pub fn abort(&self) {
        self.abort.cancel();
        self.close();
    }

    /// Stops reading and closes the connection; a pending `next()` resolves to `null`. Idempotent.
    #[napi]
    pub fn close(&self) {
        self.cancel.cancel();
        let stream = self.stream.clone();
        cozefallback::runtime().spawn(async move {
            if let Some(mut s) = stream.lock().await.take() {
                s.close();
            }
        });
    }

    /// Where the stream came from (status, credential, attempts, log id, carry-over), known before the first
    /// event.
    #[napi(getter)]
    pub fn meta(&self) -> NativeResponseMeta {
        self.meta.clone()
    }

    /// The response headers as `[name, value]` pairs, in order.
    #[napi(getter)]
    pub fn headers(&self) -> Vec<Vec<String>> {
        self.headers.clone()
    }
}

/// OAuth tokens.
#[napi(object)]
pub struct NativeOAuthToken {
    /// The access token.
    pub access_token: String,
    /// The refresh token, if the server gave one.
    pub refresh_token: Option<String>,
    /// When the access token expires, in Unix seconds.
    pub expires_at: f64,
}

fn to_token(t: cozefallback::OAuthToken) -> NativeOAuthToken {
    NativeOAuthToken {
        access_token: t.access_token.expose().to_string(),
        refresh_token: t.refresh_token.map(|s| s.expose().to_string()),
        expires_at: t.expires_at as f64,
    }
}

/// An authorize URL with its state and PKCE verifier.
#[napi(object)]
pub struct NativeAuthorizeUrl {
    /// The URL to send the user to.
    pub url: String,
    /// The `state` to check on the redirect.
    pub state: String,
    /// The PKCE verifier to pass to `exchangeCode`, when PKCE is on.
    pub code_verifier: Option<String>,
}

/// A device-flow start.
#[napi(object)]
pub struct NativeDeviceCode {
    /// The code to poll with.
    pub device_code: String,
    /// The code the user types in.
    pub user_code: String,
    /// Where the user types it.
    pub verification_uri: String,
    /// Seconds until the codes expire.
    pub expires_in: f64,
    /// Seconds to wait between polls.
    pub interval: f64,
}

/// An OAuth app (web, PKCE or device) for OBO user tokens. Use the JS `OAuthApp`, which wraps it.
#[napi]
pub struct NativeOAuthApp {
    app: Arc<cozefallback::OAuthApp>,
}

#[napi]
impl NativeOAuthApp {
    /// Builds an OAuth app on `baseUrl` (its client secret, if any, never leaves the core's `Secret`).
    #[napi(constructor)]
    pub fn new(
        base_url: String,
        client_id: String,
        client_secret: Option<String>,
        allow_insecure_http: Option<bool>,
        ca_file: Option<String>,
    ) -> napi::Result<Self> {
        let options = cozefallback::OAuthAppOptions {
            allow_insecure_http: allow_insecure_http.unwrap_or(false),
            ca_file: ca_file.map(Into::into),
        };
        let app = cozefallback::OAuthApp::with_options(
            &base_url,
            &client_id,
            client_secret.map(Secret::new),
            options,
        )
        .map_err(to_napi)?;
        Ok(NativeOAuthApp { app: Arc::new(app) })
    }

    /// The authorize URL for a web or PKCE flow.
    #[napi]
    pub fn authorize_url(
        &self,
        redirect_uri: String,
        workspace_id: Option<String>,
        pkce: bool,
    ) -> NativeAuthorizeUrl {
        let a = self
            .app
            .authorize_url(&redirect_uri, workspace_id.as_deref(), pkce);
        NativeAuthorizeUrl {
            url: a.url,
            state: a.state,
            code_verifier: a.code_verifier.map(|s| s.expose().to_string()),
        }
    }

    /// Exchanges the code from the redirect for tokens.
    #[napi]
    pub async fn exchange_code(
        &self,
        code: String,
        redirect_uri: String,
        code_verifier: Option<String>,
    ) -> napi::Result<NativeOAuthToken> {
        let app = self.app.clone();
        on_runtime(async move {
            app.exchange_code(&code, &redirect_uri, code_verifier.as_deref())
                .await
                .map(to_token)
        })
        .await
    }

    /// Exchanges a refresh token for new tokens (store the new refresh token).
    #[napi]
    pub async fn refresh(&self, refresh_token: String) -> napi::Result<NativeOAuthToken> {
        let app = self.app.clone();
        on_runtime(async move { app.refresh(&refresh_token).await.map(to_token) }).await
    }

    /// Starts a device flow.
    #[napi]
    pub async fn device_code(
        &self,
        workspace_id: Option<String>,
    ) -> napi::Result<NativeDeviceCode> {
        let app = self.app.clone();
        on_runtime(async move {
            app.device_code(workspace_id.as_deref())
                .await
                .map(|d| NativeDeviceCode {
                    device_code: d.device_code,
                    user_code: d.user_code,
                    verification_uri: d.verification_uri,
                    expires_in: d.expires_in as f64,
                    interval: d.interval as f64,
                })
        })
        .await
    }

    /// Polls once for the device flow's tokens (`oauthError` `authorization_pending` until the user approves).
    #[napi]
    pub async fn poll_device_token(&self, device_code: String) -> napi::Result<NativeOAuthToken> {
        let app = self.app.clone();
        on_runtime(async move { app.poll_device_token(&device_code).await.map(to_token) }).await
    }

    /// Polls until the device flow's tokens arrive, the user refuses or the code expires.
    #[napi]
    pub async fn wait_device_token(
        &self,
        code: NativeDeviceCode,
    ) -> napi::Result<NativeOAuthToken> {
        let app = self.app.clone();
        let code = cozefallback::DeviceCode {
            expires_in: cozefallback::device_seconds("expiresIn", code.expires_in)
                .map_err(to_napi)?,
            interval: cozefallback::device_seconds("interval", code.interval).map_err(to_napi)?,
            device_code: code.device_code,
            user_code: code.user_code,
            verification_uri: code.verification_uri,
        };
        on_runtime(async move { app.wait_device_token(&code).await.map(to_token) }).await
    }
}

/// The core library version.
#[napi]
pub fn core_version() -> &'static str {
    cozefallback::VERSION
}
