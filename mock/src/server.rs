//! The HTTP server: accept loop, request pipeline (count, fault, route, log) and the public handles.

use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::auth::{self, TokenRoute};
use crate::body::{MockBody, Reply, code_msg, respond};
use crate::ctx::{Ctx, bearer};
use crate::faults::{self, FaultAction};
use crate::identities as ids;
use crate::keys;
use crate::shared::{MockInfo, Shared};
use crate::state::{LogEntry, State};
use crate::util::{new_logid, parse_query};
use crate::{control, handlers, tls};

/// How to start a mock server.
#[derive(Debug, Clone, Default)]
pub struct MockOptions {
    /// TCP port on 127.0.0.1; 0 (the default) picks a free one.
    pub port: u16,
    /// Where to write `private_key.pem` / `public_key.pem` (and, with `tls`, `ca.pem` / `server_cert.pem`);
    /// `None` = a fresh temp dir, removed on shutdown.
    pub keys_dir: Option<PathBuf>,
    /// Serve HTTPS (HTTP/2 or HTTP/1.1 by ALPN) with a certificate for 127.0.0.1 and localhost, signed by a
    /// CA generated at start; [`MockInfo::ca_file`] names the CA's PEM file.
    pub tls: bool,
}

/// Past this many entries the oldest half of the request log is dropped (long benches).
const LOG_CAP: usize = 100_000;

/// Rust access to the control API, without HTTP.
#[derive(Clone)]
pub struct MockControl {
    shared: Arc<Shared>,
}

impl MockControl {
    /// Back to defaults: not moved, no faults, counters and log zeroed, issued tokens forgotten.
    pub fn reset(&self) {
        *self.shared.state.lock().expect("state lock") = State::default();
    }

    /// Applies a `POST /__mock/state` body; answers the full state, or why the patch was refused.
    pub fn set_state(&self, patch: Value) -> Result<Value, String> {
        self.shared.state.lock().expect("state lock").apply(patch)
    }

    /// The current settable state (as `GET /__mock/state`).
    pub fn state(&self) -> Value {
        self.shared.state.lock().expect("state lock").to_json()
    }

    /// The `GET /__mock/stats` document.
    pub fn stats(&self) -> Value {
        self.shared.state.lock().expect("state lock").stats_json()
    }

    /// Moves the workspace to the enterprise (`true`) or back to the personal account.
    pub fn set_moved(&self, moved: bool) {
        self.shared.state.lock().expect("state lock").moved = moved;
    }
}

/// A running mock. Dropping it stops the server (on the runtime that started it).
pub struct MockServer {
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    owned_key_dir: Option<PathBuf>,
}

impl MockServer {
    /// Binds 127.0.0.1:`port`, writes the key files and serves on the current tokio runtime.
    pub async fn start(opts: MockOptions) -> io::Result<MockServer> {
        let keys = tokio::task::spawn_blocking(keys::app_keys)
            .await
            .map_err(io::Error::other)??;
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], opts.port))).await?;
        let port = listener.local_addr()?.port();
        let files = keys::write_key_files(keys, opts.keys_dir.as_deref())?;
        let (acceptor, tls_files) = if opts.tls {
            let material = tokio::task::spawn_blocking(tls::material)
                .await
                .map_err(io::Error::other)??;
            let written = tls::write_files(material, &files.dir)?;
            (Some(material.acceptor.clone()), Some(written))
        } else {
            (None, None)
        };
        let scheme = if opts.tls { "https" } else { "http" };
        let base_url = format!("{scheme}://127.0.0.1:{port}");
        let info = MockInfo {
            base_url: base_url.clone(),
            personal_pat: ids::PERSONAL_PAT.into(),
            enterprise_pat: ids::ENTERPRISE_PAT.into(),
            jwt_client_id: ids::JWT_CLIENT_ID.into(),
            jwt_kid: ids::JWT_KID.into(),
            private_key_file: files.private_file.display().to_string(),
            public_key_file: files.public_file.display().to_string(),
            private_key_pem: keys.private_pem.clone(),
            account_id: ids::ACCOUNT_ID.into(),
            enterprise_id: ids::ENTERPRISE_ID.into(),
            oauth_client_id: ids::OAUTH_CLIENT_ID.into(),
            oauth_client_secret: ids::OAUTH_CLIENT_SECRET.into(),
            bots: ids::BOTS.iter().map(|b| b.to_string()).collect(),
            enterprise_bot: ids::ENTERPRISE_BOT.into(),
            workflow_id: ids::WORKFLOW_ID.into(),
            workspace_id: ids::WORKSPACE_ID.into(),
            ca_file: tls_files.as_ref().map(|f| f.ca_file.display().to_string()),
            server_cert_file: tls_files
                .as_ref()
                .map(|f| f.server_cert_file.display().to_string()),
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            seen_jti: Mutex::new(HashSet::new()),
            keys,
            info,
            base_url,
            audience: format!("127.0.0.1:{port}"),
        });
        let (shutdown, rx) = watch::channel(false);
        tokio::spawn(accept_loop(listener, acceptor, shared.clone(), rx));
        Ok(MockServer {
            shared,
            shutdown,
            owned_key_dir: files.owned_dir.then_some(files.dir),
        })
    }

    /// Starts the server on its own thread and runtime, for sync code; dropping the handle stops it.
    pub fn start_blocking(opts: MockOptions) -> io::Result<BlockingMockServer> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("coze-mock".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    match MockServer::start(opts).await {
                        Ok(server) => {
                            let mut stopped = server.shutdown.subscribe();
                            if tx.send(Ok(server)).is_ok() {
                                // Ends when the handle signals shutdown or is dropped.
                                while !*stopped.borrow_and_update() {
                                    if stopped.changed().await.is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            })?;
        let server = rx
            .recv()
            .map_err(|_| io::Error::other("mock server thread died"))??;
        Ok(BlockingMockServer {
            server: Some(server),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT` (`https://` with `tls`).
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.shared
            .base_url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    /// The identities and key material (same as `GET /__mock/info`).
    pub fn info(&self) -> MockInfo {
        self.shared.info.clone()
    }

    /// A handle on the control API.
    pub fn control(&self) -> MockControl {
        MockControl {
            shared: self.shared.clone(),
        }
    }

    /// Stops accepting and drops every open connection.
    pub fn shutdown(self) {
        drop(self)
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        if let Some(dir) = self.owned_key_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A mock running on its own thread (see [`MockServer::start_blocking`]); derefs to [`MockServer`].
pub struct BlockingMockServer {
    server: Option<MockServer>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BlockingMockServer {
    /// Stops the server and waits for its thread.
    pub fn shutdown(self) {
        drop(self)
    }
}

impl Deref for BlockingMockServer {
    type Target = MockServer;
    fn deref(&self) -> &MockServer {
        self.server.as_ref().expect("server present until drop")
    }
}

impl Drop for BlockingMockServer {
    fn drop(&mut self) {
        drop(self.server.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    let acceptor = acceptor.clone();
                    let mut stop = stop.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = connection(stream, acceptor, shared) => {}
                            _ = stop.wait_for(|s| *s) => {}
                        }
                    });
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
}

/// A client that connects but never finishes its TLS handshake is dropped after this.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves one connection: plain HTTP/1.1, or TLS then HTTP/2 or HTTP/1.1 as ALPN chose.
async fn connection(stream: TcpStream, acceptor: Option<TlsAcceptor>, shared: Arc<Shared>) {
    let svc = {
        let shared = shared.clone();
        service_fn(move |req| handle(shared.clone(), req))
    };
    let Some(acceptor) = acceptor else {
        let _ = http1::Builder::new()
            .serve_connection(TokioIo::new(stream), svc)
            .with_upgrades()
            .await;
        return;
    };
    let tls = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        // A client that refused our certificate (or spoke plain HTTP): counted, so tests can see it.
        Ok(Err(_)) | Err(_) => {
            shared
                .state
                .lock()
                .expect("state lock")
                .stats
                .tls_handshake_failures += 1;
            return;
        }
    };
    if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
        let _ = http2::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(tls), svc)
            .await;
    } else {
        let _ = http1::Builder::new()
            .serve_connection(TokioIo::new(tls), svc)
            .with_upgrades()
            .await;
    }
}

/// `HTTP/1.1`, `HTTP/2` ...: the protocol a request arrived on, for the stats.
fn version_name(v: hyper::Version) -> &'static str {
    match v {
        hyper::Version::HTTP_09 => "HTTP/0.9",
        hyper::Version::HTTP_10 => "HTTP/1.0",
        hyper::Version::HTTP_11 => "HTTP/1.1",
        hyper::Version::HTTP_2 => "HTTP/2",
        hyper::Version::HTTP_3 => "HTTP/3",
        _ => "other",
    }
}

/// Whether the call asks for an SSE answer (only those can be hit by streaming faults).
fn is_streaming_call(path: &str, body: &[u8]) -> bool {
    matches!(path, "/v1/workflow/stream_run" | "/v1/workflows/chat")
        || (path == "/v3/chat"
            && serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("stream").and_then(Value::as_bool))
                == Some(true))
}

/// The request pipeline. An `Err` makes hyper drop the connection without an answer.
async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> io::Result<Response<MockBody>> {
    if crate::ws::is_upgrade(&req) {
        return crate::ws::accept(shared, req).await;
    }
    let (parts, body) = req.into_parts();
    let http_version = version_name(parts.version);
    let body = body.collect().await.map_err(io::Error::other)?.to_bytes();
    let mut ctx = Ctx {
        bearer: bearer(&parts.headers),
        path: parts.uri.path().to_string(),
        query: parse_query(parts.uri.query()),
        method: parts.method,
        headers: parts.headers,
        body,
        logid: new_logid(),
        fault: None,
    };
    if ctx.path.starts_with("/__mock/") {
        return Ok(respond(control::handle(&shared, &ctx), &ctx.logid));
    }

    let token_route = TokenRoute::parse(&ctx.path);
    let streaming = is_streaming_call(&ctx.path, &ctx.body);
    let (principal, credential, fault) = {
        let mut st = shared.state.lock().expect("state lock");
        let principal = match (&token_route, &ctx.bearer) {
            (None, Some(token)) => st.principal_of(token),
            _ => None,
        };
        let credential = match (&token_route, principal) {
            (Some(route), _) => route.credential().name(),
            (None, Some(p)) => p.name(),
            (None, None) => "unauthenticated",
        };
        if token_route.is_some() {
            st.stats.token_requests += 1;
        } else {
            st.stats.total += 1;
            *st.stats
                .by_credential
                .entry(credential.to_string())
                .or_default() += 1;
            *st.stats.by_path.entry(ctx.path.clone()).or_default() += 1;
            *st.stats.by_http_version.entry(http_version).or_default() += 1;
        }
        let fault = faults::take(
            &mut st.faults,
            &ctx.path,
            ctx.method.as_str(),
            credential,
            streaming,
        );
        (principal, credential, fault)
    };
    let log = |status: Option<u16>, code: Option<i64>| {
        let mut st = shared.state.lock().expect("state lock");
        if st.stats.log.len() >= LOG_CAP {
            st.stats.log.drain(..LOG_CAP / 2);
        }
        st.stats.log.push(LogEntry {
            method: ctx.method.to_string(),
            path: ctx.path.clone(),
            credential: credential.to_string(),
            status,
            code,
        });
    };

    let reply = match fault {
        Some(FaultAction::Hang) => {
            log(None, None);
            return std::future::pending().await;
        }
        Some(FaultAction::Reset) => {
            log(None, None);
            return Err(io::Error::other("connection reset by fault"));
        }
        Some(FaultAction::Latency { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            None
        }
        Some(
            f @ (FaultAction::StreamErrorEvent { .. }
            | FaultAction::TruncateStream { .. }
            | FaultAction::SlowStream { .. }
            | FaultAction::CutEventAtEnd { .. }),
        ) => {
            ctx.fault = Some(f);
            None
        }
        Some(f) => Some(fault_reply(f, &ctx.logid)),
        None => None,
    };
    let reply = reply.unwrap_or_else(|| match (&token_route, principal) {
        (Some(route), _) => auth::token_endpoint(&shared, &ctx, route),
        (None, Some(p)) => handlers::route(&shared, &ctx, p),
        (None, None) => Reply::business(StatusCode::UNAUTHORIZED, 4100, code_msg(4100), &ctx.logid),
    });
    log(Some(reply.status.as_u16()), reply.code);
    Ok(respond(reply, &ctx.logid))
}

/// The answer of a fault that replaces the response.
fn fault_reply(action: FaultAction, logid: &str) -> Reply {
    let status = |s: u16| StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match action {
        FaultAction::Error {
            code,
            http_status,
            msg,
        } => Reply::business(
            status(http_status),
            code,
            msg.as_deref().unwrap_or(code_msg(code)),
            logid,
        ),
        FaultAction::OauthError {
            error,
            http_status,
            message,
        } => Reply::oauth(
            status(http_status),
            &error,
            message.as_deref().unwrap_or(&error),
        ),
        FaultAction::Http {
            http_status,
            body,
            content_type,
            retry_after,
        } => {
            let mut r = Reply::raw(status(http_status), &content_type, body);
            if let Some(ra) = retry_after {
                r.headers.push(("retry-after", ra));
            }
            r
        }
        FaultAction::Body {
            body,
            content_type,
            http_status,
        } => Reply::raw(status(http_status), &content_type, body),
        FaultAction::Latency { .. }
        | FaultAction::Hang
        | FaultAction::Reset
        | FaultAction::StreamErrorEvent { .. }
        | FaultAction::TruncateStream { .. }
        | FaultAction::SlowStream { .. }
        | FaultAction::CutEventAtEnd { .. } => unreachable!("handled in the pipeline"),
        // Only WebSocket sessions take it, and they never reach here.
        FaultAction::CloseSession { .. } => Reply::business(
            StatusCode::BAD_REQUEST,
            4000,
            "close_session fault on plain HTTP",
            logid,
        ),
    }
}
