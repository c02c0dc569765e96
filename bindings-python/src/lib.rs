//! `cozefallback._native`: the PyO3 layer under the `cozefallback` Python package.
//!
//! It converts types, maps errors and bridges the runtimes; the core decides everything. The Pythonic API
//! (`Client`, `AsyncClient`, exceptions, httpx transports) is in `python/cozefallback/`.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use cozefallback::{
    Body, Client, CredentialKind, EventStream, Mode, OAuthApp, Request, ResponseMeta, Secret,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

mod bridge;
mod conversations;
mod convert;
mod errors;
mod log;
mod numbers;
mod ws;

use bridge::{Aio, Pending};

/// A successful answer.
///
/// ```python
/// r = native.request("GET", "/v1/bots/1")
/// print(r.status, r.credential, r.attempts, r.logid)
/// ```
#[pyclass(frozen, module = "cozefallback._native", name = "Response")]
pub struct PyResponse {
    /// Status, credential, attempts, log id and carry-over: the core's `ResponseMeta`.
    meta: ResponseMeta,
    header_pairs: Vec<(String, String)>,
    body: Bytes,
}

#[pymethods]
impl PyResponse {
    /// HTTP status.
    #[getter]
    fn status(&self) -> u16 {
        self.meta.status
    }
    /// "personal" or "enterprise": the credential that served it.
    #[getter]
    fn credential(&self) -> &'static str {
        self.meta.credential.as_str()
    }
    /// HTTP attempts (fallback and retries included).
    #[getter]
    fn attempts(&self) -> u32 {
        self.meta.attempts
    }
    /// The Coze log id.
    #[getter]
    fn logid(&self) -> Option<String> {
        self.meta.logid.clone()
    }
    /// Response headers as a dict with lower-case names (repeated headers joined with ", ").
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in &self.header_pairs {
            let k = k.to_ascii_lowercase();
            match d.get_item(&k)? {
                Some(prev) => d.set_item(&k, format!("{}, {v}", prev.extract::<String>()?))?,
                None => d.set_item(&k, v)?,
            }
        }
        Ok(d)
    }
    /// Response headers as (name, value) pairs, in order.
    #[getter]
    fn header_list(&self) -> Vec<(String, String)> {
        self.header_pairs.clone()
    }
    /// The body.
    #[getter]
    fn content<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.body)
    }
    /// The body as text (invalid UTF-8 replaced).
    #[getter]
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The body parsed as JSON.
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("json")?
            .call_method1("loads", (PyBytes::new(py, &self.body),))
    }
    /// A ConversationMoved when the call's conversation was stranded by the move and carried over, else None.
    #[getter]
    fn conversation_moved(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        conversations::moved_to_py(py, self.meta.conversation_moved.as_ref())
    }
    fn __repr__(&self) -> String {
        let moved = match &self.meta.conversation_moved {
            Some(m) => format!(" conversation_moved={:?}->{:?}", m.from, m.to),
            None => String::new(),
        };
        format!(
            "<Response status={} credential={:?} attempts={} logid={:?} bytes={}{moved}>",
            self.meta.status,
            self.meta.credential.as_str(),
            self.meta.attempts,
            self.meta.logid.as_deref().unwrap_or(""),
            self.body.len()
        )
    }
}

fn response_to_py(py: Python<'_>, r: cozefallback::Response) -> PyResult<Py<PyAny>> {
    let resp = PyResponse {
        meta: r.meta(),
        header_pairs: r.headers,
        body: r.body,
    };
    Ok(Bound::new(py, resp)?.into_any().unbind())
}

/// What `Event.__reduce__` gives pickle: the class and its constructor arguments.
type Reduced<'py> = (Bound<'py, PyAny>, (String, String, Option<String>));

/// One server-sent event.
#[pyclass(frozen, eq, module = "cozefallback._native", name = "Event")]
#[derive(PartialEq)]
pub struct PyEvent {
    /// The event name (`message` when the server named none).
    #[pyo3(get)]
    event: String,
    /// The data lines joined with "\n".
    #[pyo3(get)]
    data: String,
    /// The `id:` field, if any.
    #[pyo3(get)]
    id: Option<String>,
}

#[pymethods]
impl PyEvent {
    #[new]
    #[pyo3(signature = (event, data, id=None))]
    fn new(event: String, data: String, id: Option<String>) -> Self {
        PyEvent { event, data, id }
    }
    /// `data` parsed as JSON.
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("json")?.call_method1("loads", (&self.data,))
    }
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Reduced<'py>> {
        let me = slf.get();
        Ok((
            slf.get_type().into_any(),
            (me.event.clone(), me.data.clone(), me.id.clone()),
        ))
    }
    fn __repr__(&self) -> String {
        let data: String = self.data.chars().take(80).collect();
        match &self.id {
            Some(id) => format!("Event(event={:?}, data={data:?}, id={id:?})", self.event),
            None => format!("Event(event={:?}, data={data:?})", self.event),
        }
    }
}

fn event_opt_to_py(py: Python<'_>, e: Option<cozefallback::Event>) -> PyResult<Py<PyAny>> {
    match e {
        Some(e) => Ok(Bound::new(
            py,
            PyEvent {
                event: e.event,
                data: e.data,
                id: e.id,
            },
        )?
        .into_any()
        .unbind()),
        None => Ok(py.None()),
    }
}

/// An open event stream. `next()` gives the next Event or None at the end; `next_sse()` the same event as
/// server-sent-event text.
///
/// ```python
/// s = native.request("POST", "/v3/chat", json=body, stream=True)
/// while (ev := s.next()) is not None:
///     print(ev.event)
/// ```
#[pyclass(frozen, module = "cozefallback._native", name = "NativeStream")]
pub struct NativeStream {
    inner: Arc<tokio::sync::Mutex<Option<EventStream>>>,
    /// The fork generation it was opened in: a child must not wait for the lock (see `next`).
    born: u64,
    /// Status, credential, attempts, log id and carry-over: the core's `ResponseMeta`.
    meta: ResponseMeta,
    header_pairs: Vec<(String, String)>,
}

fn stream_to_py(py: Python<'_>, s: EventStream) -> PyResult<Py<PyAny>> {
    let stream = NativeStream {
        meta: s.meta(),
        header_pairs: s.headers().to_vec(),
        born: cozefallback::fork_generation(),
        inner: Arc::new(tokio::sync::Mutex::new(Some(s))),
    };
    Ok(Bound::new(py, stream)?.into_any().unbind())
}

/// An event as the core frames it for an SDK that parses SSE itself (`Event::to_sse`), or None at the end.
fn sse_opt_to_py(py: Python<'_>, e: Option<cozefallback::Event>) -> PyResult<Py<PyAny>> {
    Ok(match e {
        Some(e) => PyBytes::new(py, e.to_sse().as_bytes()).into_any().unbind(),
        None => py.None(),
    })
}

impl NativeStream {
    /// Reads the next event (None at the end or once closed) and converts it with `convert`.
    fn read(
        &self,
        py: Python<'_>,
        aio: Aio,
        convert: bridge::Convert<Option<cozefallback::Event>>,
    ) -> PyResult<Py<PyAny>> {
        // Before the lock: a parent thread inside `next` at the fork holds it forever in the child.
        cozefallback::ensure_not_forked(self.born).map_err(|e| errors::to_pyerr(py, &e))?;
        let inner = self.inner.clone();
        let work = async move {
            let mut guard = inner.lock().await;
            let Some(stream) = guard.as_mut() else {
                return Ok(None);
            };
            let r = stream.next().await;
            if !matches!(r, Ok(Some(_))) {
                *guard = None; // finished or broken: release the connection now
            }
            r
        };
        bridge::run(py, aio, work, convert)
    }
}

fn reply_to_py(py: Python<'_>, r: cozefallback::Reply) -> PyResult<Py<PyAny>> {
    match r {
        cozefallback::Reply::Full(r) => response_to_py(py, r),
        cozefallback::Reply::Stream(s) => stream_to_py(py, *s),
    }
}

#[pymethods]
impl NativeStream {
    /// The next event, or None after the last one. With `aio` = (loop, future), completes the future instead.
    #[pyo3(signature = (aio=None))]
    fn next(&self, py: Python<'_>, aio: Aio) -> PyResult<Py<PyAny>> {
        self.read(py, aio, event_opt_to_py)
    }

    /// The next event as SSE bytes framed by the core (`id:`, `event:`, `data:` lines, a blank line), or None
    /// after the last one; for the httpx transports, which hand the SDK a byte stream. `aio` as for `next`.
    #[pyo3(signature = (aio=None))]
    fn next_sse(&self, py: Python<'_>, aio: Aio) -> PyResult<Py<PyAny>> {
        self.read(py, aio, sse_opt_to_py)
    }

    /// Closes the stream and its connection. Idempotent; with a `next` in flight, closes once it returns
    /// (the async wrapper cancels that `next` first).
    fn close(&self) {
        if cozefallback::ensure_not_forked(self.born).is_err() {
            return; // the parent's connection: left alone (see `EventStream::close`)
        }
        if let Ok(mut guard) = self.inner.try_lock() {
            if let Some(mut s) = guard.take() {
                let _rt = cozefallback::runtime().enter();
                s.close();
            }
            return;
        }
        let inner = self.inner.clone();
        {
            {
                cozefallback::runtime().spawn(async move {
                    if let Some(mut s) = inner.lock().await.take() {
                        s.close();
                    }
                });
            }
        }
    }

    /// Response headers as a dict with lower-case names.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in &self.header_pairs {
            d.set_item(k.to_ascii_lowercase(), v)?;
        }
        Ok(d)
    }

    /// HTTP status of the stream's response.
    #[getter]
    fn status(&self) -> u16 {
        self.meta.status
    }
    /// The credential serving the stream.
    #[getter]
    fn credential(&self) -> &'static str {
        self.meta.credential.as_str()
    }
    /// HTTP attempts it took to open the stream.
    #[getter]
    fn attempts(&self) -> u32 {
        self.meta.attempts
    }
    /// The Coze log id.
    #[getter]
    fn logid(&self) -> Option<String> {
        self.meta.logid.clone()
    }

    /// A ConversationMoved when the chat was carried over before the stream opened, else None.
    #[getter]
    fn conversation_moved(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        conversations::moved_to_py(py, self.meta.conversation_moved.as_ref())
    }
}

/// The native client; `cozefallback.Client` and `AsyncClient` wrap it.
#[pyclass(frozen, module = "cozefallback._native", name = "NativeClient")]
pub struct NativeClient {
    client: RwLock<Option<Client>>,
}

fn closed_error(py: Python<'_>) -> PyErr {
    errors::simple(py, "invalid_argument", "the client is closed")
}

#[allow(clippy::too_many_arguments)]
fn build_request(
    method: &str,
    path: &str,
    query: Option<Vec<(String, String)>>,
    headers: Option<Vec<(String, String)>>,
    json: Option<&Bound<'_, PyAny>>,
    data: Option<&[u8]>,
    file: Option<(String, &[u8])>,
    timeout: Option<Duration>,
) -> PyResult<Request> {
    let mut req = Request::new(method, path);
    if let Some(q) = query {
        req.query = q;
    }
    if let Some(h) = headers {
        req.headers = h;
    }
    if let Some(j) = json {
        req.body = Body::Json(convert::to_json(j)?);
    } else if let Some(d) = data {
        req.body = Body::Bytes {
            content_type: None,
            data: Bytes::copy_from_slice(d),
        };
    } else if let Some((name, content)) = file {
        req = Request::upload(path, name, Bytes::copy_from_slice(content))
            .timeout_opt(req.timeout)
            .with_parts(req.query, req.headers);
    }
    if timeout.is_some() {
        req.timeout = timeout;
    }
    Ok(req)
}

trait RequestExt {
    fn timeout_opt(self, t: Option<Duration>) -> Self;
    fn with_parts(self, query: Vec<(String, String)>, headers: Vec<(String, String)>) -> Self;
}

impl RequestExt for Request {
    fn timeout_opt(mut self, t: Option<Duration>) -> Self {
        self.timeout = t;
        self
    }
    fn with_parts(mut self, query: Vec<(String, String)>, headers: Vec<(String, String)>) -> Self {
        self.query = query;
        self.headers = headers;
        self
    }
}

impl NativeClient {
    fn get(&self, py: Python<'_>) -> PyResult<Client> {
        self.client
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| closed_error(py))
    }
}

fn metrics_to_py(py: Python<'_>, v: serde_json::Value) -> PyResult<Py<PyAny>> {
    Ok(convert::from_json(py, &v)?.unbind())
}

#[pymethods]
impl NativeClient {
    /// Builds a client from the JSON configuration schema: a JSON string, or a dict (any mapping) whose values
    /// JSON can hold; another value raises ConfigError naming its dotted path.
    #[new]
    fn new(py: Python<'_>, config: &Bound<'_, PyAny>) -> PyResult<Self> {
        log::refresh(py);
        let text = match config.cast::<pyo3::types::PyString>() {
            Ok(text) => text.to_cow()?.into_owned(),
            Err(_) => convert::config_to_json(config)
                .map(|v| v.to_string())
                .map_err(|e| errors::to_pyerr(py, &e))?,
        };
        // Building may take a bounded first look at a configured Redis store: other threads keep the GIL.
        let built = py.detach(|| {
            let _rt = cozefallback::runtime().enter();
            Client::from_json(&text)
        });
        let client = built.map_err(|e| errors::to_pyerr(py, &e))?;
        Ok(NativeClient {
            client: RwLock::new(Some(client)),
        })
    }

    /// Builds a client from the official SDKs' environment variables.
    #[staticmethod]
    fn from_env(py: Python<'_>) -> PyResult<Self> {
        log::refresh(py);
        let client = py
            .detach(|| {
                let _rt = cozefallback::runtime().enter();
                Client::from_env()
            })
            .map_err(|e| errors::to_pyerr(py, &e))?;
        Ok(NativeClient {
            client: RwLock::new(Some(client)),
        })
    }

    /// Sends a request (or opens a stream when `stream` is true). `file` = (filename, bytes) sends a multipart
    /// upload with one part named `file`.
    ///
    /// With `auto`, takes whichever answer the server gives: a NativeStream for `text/event-stream`, else a
    /// Response (for the httpx transports, which cannot know in advance).
    #[pyo3(signature = (method, path, *, query=None, headers=None, json=None, data=None, file=None, timeout=None, stream=false, auto=false, aio=None))]
    #[allow(clippy::too_many_arguments)]
    fn request(
        &self,
        py: Python<'_>,
        method: &str,
        path: &str,
        query: Option<Vec<(String, String)>>,
        headers: Option<Vec<(String, String)>>,
        json: Option<Bound<'_, PyAny>>,
        data: Option<&[u8]>,
        file: Option<(String, Vec<u8>)>,
        timeout: Option<Bound<'_, PyAny>>,
        stream: bool,
        auto: bool,
        aio: Aio,
    ) -> PyResult<Py<PyAny>> {
        let client = self.get(py)?;
        let timeout = timeout
            .as_ref()
            .map(numbers::timeout)
            .transpose()
            .map_err(|e| errors::to_pyerr(py, &e))?;
        let file_ref = file.as_ref().map(|(n, d)| (n.clone(), d.as_slice()));
        let req = build_request(
            method,
            path,
            query,
            headers,
            json.as_ref(),
            data,
            file_ref,
            timeout,
        )?;
        drop(file);
        if auto {
            bridge::run(py, aio, async move { client.send(req).await }, reply_to_py)
        } else if stream {
            bridge::run(
                py,
                aio,
                async move { client.stream(req).await },
                stream_to_py,
            )
        } else {
            bridge::run(
                py,
                aio,
                async move { client.request(req).await },
                response_to_py,
            )
        }
    }

    /// Opens a realtime WebSocket session (`/v1/chat`, `/v1/audio/speech`, ...): a NativeWebSocket.
    #[pyo3(signature = (path, *, query=None, aio=None))]
    fn websocket(
        &self,
        py: Python<'_>,
        path: String,
        query: Option<Vec<(String, String)>>,
        aio: Aio,
    ) -> PyResult<Py<PyAny>> {
        let client = self.get(py)?;
        ws::open(py, client, path, query.unwrap_or_default(), aio)
    }

    /// Mints (or checks) one credential's token now ("personal" or "enterprise").
    #[pyo3(signature = (credential, *, aio=None))]
    fn fetch_token(&self, py: Python<'_>, credential: &str, aio: Aio) -> PyResult<Py<PyAny>> {
        let client = self.get(py)?;
        let kind: CredentialKind = credential.parse().map_err(|e| errors::to_pyerr(py, &e))?;
        bridge::run(
            py,
            aio,
            async move { client.fetch_token(kind).await },
            |py, ()| Ok(py.None()),
        )
    }

    /// Changes the routing mode (the cut-over switch).
    fn set_mode(&self, py: Python<'_>, mode: &str) -> PyResult<()> {
        log::refresh(py);
        let client = self.get(py)?;
        let mode: Mode = mode.parse().map_err(|e| errors::to_pyerr(py, &e))?;
        client.set_mode(mode).map_err(|e| errors::to_pyerr(py, &e))
    }

    /// The routing mode in force.
    #[getter]
    fn mode(&self, py: Python<'_>) -> PyResult<&'static str> {
        Ok(self.get(py)?.mode().as_str())
    }

    /// The configured base URL.
    #[getter]
    fn base_url(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self.get(py)?.base_url().to_string())
    }

    /// Counters and histograms as a dict.
    fn metrics(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        metrics_to_py(py, self.get(py)?.metrics())
    }

    /// The same as Prometheus text.
    fn metrics_prometheus(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self.get(py)?.metrics_prometheus())
    }

    /// Called (on a library thread) with a dict after an OBO refresh rotated the tokens; None removes it.
    fn set_refresh_hook(&self, py: Python<'_>, hook: Option<Py<PyAny>>) -> PyResult<()> {
        let client = self.get(py)?;
        let hook = hook.map(|f| {
            let f = Arc::new(f);
            let h: cozefallback::RefreshHook = Arc::new(move |r: &cozefallback::TokenRefresh| {
                let f = f.clone();
                bridge::with_python(|py| {
                    let call = (|| -> PyResult<()> {
                        let d = PyDict::new(py);
                        d.set_item("credential", r.credential.as_str())?;
                        d.set_item("access_token", r.access_token.expose())?;
                        d.set_item(
                            "refresh_token",
                            r.refresh_token.as_ref().map(|s| s.expose()),
                        )?;
                        d.set_item("expires_at", r.expires_at)?;
                        f.call1(py, (d,))?;
                        Ok(())
                    })();
                    if let Err(e) = call {
                        e.write_unraisable(py, None);
                    }
                });
            });
            h
        });
        client.set_refresh_hook(hook);
        Ok(())
    }

    /// Called (on a library thread) as `hook(from, to, messages_copied)` once per carry-over; None removes it.
    fn set_conversation_hook(&self, py: Python<'_>, hook: Option<Py<PyAny>>) -> PyResult<()> {
        let client = self.get(py)?;
        let hook = hook.map(|f| conversations::hook(py, f)).transpose()?;
        client.set_conversation_hook(hook);
        Ok(())
    }

    /// Preloads a mapping stored after an earlier carry-over: calls naming `from_` use `to`.
    fn map_conversation(&self, py: Python<'_>, from_: &str, to: &str) -> PyResult<()> {
        let client = self.get(py)?;
        client
            .map_conversation(from_, to)
            .map_err(|e| errors::to_pyerr(py, &e))
    }

    /// The conversation calls naming `from_` are sent to, if one is mapped.
    fn mapped_conversation(&self, py: Python<'_>, from_: &str) -> PyResult<Option<String>> {
        Ok(self.get(py)?.mapped_conversation(from_))
    }

    /// Cancels the calls in flight (they raise CancelledError) and drops the client: its connections close;
    /// later calls raise. Returns at once.
    fn close(&self) {
        let taken = self
            .client
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(c) = taken {
            c.close();
            let _rt = cozefallback::runtime().enter();
            drop(c);
        }
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.client
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }
}

/// An OAuth app for OBO users (authorize URL with PKCE, code exchange, refresh, device flow).
#[pyclass(frozen, module = "cozefallback._native", name = "NativeOAuthApp")]
pub struct NativeOAuthApp {
    app: Arc<OAuthApp>,
}

fn token_to_py(py: Python<'_>, t: cozefallback::OAuthToken) -> PyResult<Py<PyAny>> {
    let d = PyDict::new(py);
    d.set_item("access_token", t.access_token.expose())?;
    d.set_item(
        "refresh_token",
        t.refresh_token.as_ref().map(|s| s.expose()),
    )?;
    d.set_item("expires_at", t.expires_at)?;
    Ok(d.into_any().unbind())
}

fn device_to_py(py: Python<'_>, c: cozefallback::DeviceCode) -> PyResult<Py<PyAny>> {
    let d = PyDict::new(py);
    d.set_item("device_code", c.device_code)?;
    d.set_item("user_code", c.user_code)?;
    d.set_item("verification_uri", c.verification_uri)?;
    d.set_item("expires_in", c.expires_in)?;
    d.set_item("interval", c.interval)?;
    Ok(d.into_any().unbind())
}

#[pymethods]
impl NativeOAuthApp {
    #[new]
    #[pyo3(signature = (base_url, client_id, client_secret=None, *, allow_insecure_http=false, ca_file=None))]
    fn new(
        py: Python<'_>,
        base_url: &str,
        client_id: &str,
        client_secret: Option<String>,
        allow_insecure_http: bool,
        ca_file: Option<std::path::PathBuf>,
    ) -> PyResult<Self> {
        log::refresh(py);
        let options = cozefallback::OAuthAppOptions {
            allow_insecure_http,
            ca_file,
        };
        let app =
            OAuthApp::with_options(base_url, client_id, client_secret.map(Secret::new), options)
                .map_err(|e| errors::to_pyerr(py, &e))?;
        Ok(NativeOAuthApp { app: Arc::new(app) })
    }

    /// (url, state, code_verifier or None).
    #[pyo3(signature = (redirect_uri, workspace_id=None, pkce=true))]
    fn authorize_url(
        &self,
        redirect_uri: &str,
        workspace_id: Option<&str>,
        pkce: bool,
    ) -> (String, String, Option<String>) {
        let a = self.app.authorize_url(redirect_uri, workspace_id, pkce);
        (
            a.url,
            a.state,
            a.code_verifier.map(|v| v.expose().to_string()),
        )
    }

    #[pyo3(signature = (code, redirect_uri, code_verifier=None, *, aio=None))]
    fn exchange_code(
        &self,
        py: Python<'_>,
        code: String,
        redirect_uri: String,
        code_verifier: Option<String>,
        aio: Aio,
    ) -> PyResult<Py<PyAny>> {
        let app = self.app.clone();
        bridge::run(
            py,
            aio,
            async move {
                app.exchange_code(&code, &redirect_uri, code_verifier.as_deref())
                    .await
            },
            token_to_py,
        )
    }

    #[pyo3(signature = (refresh_token, *, aio=None))]
    fn refresh(&self, py: Python<'_>, refresh_token: String, aio: Aio) -> PyResult<Py<PyAny>> {
        let app = self.app.clone();
        bridge::run(
            py,
            aio,
            async move { app.refresh(&refresh_token).await },
            token_to_py,
        )
    }

    #[pyo3(signature = (workspace_id=None, *, aio=None))]
    fn device_code(
        &self,
        py: Python<'_>,
        workspace_id: Option<String>,
        aio: Aio,
    ) -> PyResult<Py<PyAny>> {
        let app = self.app.clone();
        bridge::run(
            py,
            aio,
            async move { app.device_code(workspace_id.as_deref()).await },
            device_to_py,
        )
    }

    #[pyo3(signature = (device_code, *, aio=None))]
    fn poll_device_token(
        &self,
        py: Python<'_>,
        device_code: String,
        aio: Aio,
    ) -> PyResult<Py<PyAny>> {
        let app = self.app.clone();
        bridge::run(
            py,
            aio,
            async move { app.poll_device_token(&device_code).await },
            token_to_py,
        )
    }

    #[pyo3(signature = (device_code, user_code, verification_uri, expires_in, interval, *, aio=None))]
    #[allow(clippy::too_many_arguments)]
    fn wait_device_token(
        &self,
        py: Python<'_>,
        device_code: String,
        user_code: String,
        verification_uri: String,
        expires_in: Bound<'_, PyAny>,
        interval: Bound<'_, PyAny>,
        aio: Aio,
    ) -> PyResult<Py<PyAny>> {
        let (expires_in, interval) =
            numbers::device_code(&expires_in, &interval).map_err(|e| errors::to_pyerr(py, &e))?;
        let app = self.app.clone();
        let code = cozefallback::DeviceCode {
            device_code,
            user_code,
            verification_uri,
            expires_in,
            interval,
        };
        bridge::run(
            py,
            aio,
            async move { app.wait_device_token(&code).await },
            token_to_py,
        )
    }
}

/// Re-reads the `cozefallback` logger's level (done automatically at every call).
#[pyfunction]
fn _refresh_log_level(py: Python<'_>) {
    log::refresh(py);
}

/// Redacts secrets (tokens, keys) from a text, as the core does for its messages.
#[pyfunction]
fn redact(text: &str) -> String {
    cozefallback::redact(text)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    log::install();
    m.add("__version__", cozefallback::VERSION)?;
    m.add_class::<NativeClient>()?;
    m.add_class::<NativeStream>()?;
    m.add_class::<ws::NativeWebSocket>()?;
    m.add_class::<NativeOAuthApp>()?;
    m.add_class::<PyResponse>()?;
    m.add_class::<PyEvent>()?;
    m.add_class::<Pending>()?;
    m.add_function(wrap_pyfunction!(_refresh_log_level, m)?)?;
    m.add_function(wrap_pyfunction!(redact, m)?)?;
    m.add_function(wrap_pyfunction!(bridge::_shutdown, m)?)?;
    m.py()
        .import("atexit")?
        .call_method1("register", (m.getattr("_shutdown")?,))?;
    Ok(())
}
