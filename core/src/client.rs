//! The request lifecycle: route, token, send, classify, decide, stream, record (docs/ARCHITECTURE.md).

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::RngCore;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use crate::classify::{self, Outcome};
use crate::closing::{Closer, closed_in_flight};
use crate::config::Config;
use crate::conversations::{ConversationMoved, Conversations};
use crate::credential::{CredentialKind, Mode};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{BodyError, ByteCap, Http, Prepared, header_str, is_connect_error, unix_now};
use crate::metrics::Metrics;
use crate::request::{Body, Request, Response};
use crate::route::{ResourceKey, Router, conversation_in_answer, resource_keys};
use crate::runtime::{ForkMutex, fork_generation, fork_mutex};
use crate::sse::{Event, SseParser};
use crate::token::{Credential, RefreshHook, lock};

// WebSocket sessions: a child module, so that they reuse the routing, tokens and metrics of `Inner`.
#[path = "ws/mod.rs"]
pub(crate) mod ws;

/// Coze answers "access token invalid" with this code: mint a new token and try again.
const TOKEN_INVALID: i64 = 700_012_006;
const AUTH_INVALID: i64 = 4100;
const NO_PERMISSION: i64 = 4101;
const RATE_LIMITED: i64 = 4009;
/// A token refused with 4100 this close to its expiry is taken as expired in flight.
const EXPIRY_WINDOW: Duration = Duration::from_secs(5);
/// A token refused with 4100 is dropped only if older than this.
const TOKEN_RECHECK_AGE: Duration = Duration::from_secs(60);

/// The dual-credential Coze client. Cheap to clone; clones share tokens, routes and metrics.
///
/// ```no_run
/// # async fn demo() -> cozefallback::Result<()> {
/// use cozefallback::{Client, Request};
/// let client = Client::from_json(r#"{
///     "base_url": "https://api.coze.cn",
///     "personal": {"type": "pat", "token": "pat_old"},
///     "enterprise": {"type": "pat", "token": "pat_new"}
/// }"#)?;
/// let resp = client.request(Request::get("/v1/bots/7350000000000000001")).await?;
/// println!("served by {} in {} attempt(s)", resp.credential, resp.attempts);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: Config,
    base: url::Url,
    http: Http,
    pub(crate) credentials: [Option<Credential>; 2],
    mode: AtomicU8,
    pub(crate) router: Router,
    pub(crate) metrics: Arc<Metrics>,
    /// Stranded conversations: the carried-over map, single flights and the hook.
    pub(crate) conversations: Conversations,
    budget: RetryBudget,
    fallback_codes: HashSet<i64>,
    hook: ForkMutex<Option<RefreshHook>>,
    closer: Closer,
    /// Where learned state lives: this process, or a fleet's Redis (docs/FLEET.md).
    pub(crate) state: crate::state::StateStore,
}

/// Up to two credentials in the order they are tried (no allocation on the hot path).
#[derive(Default, Clone, Copy)]
struct Order {
    items: [CredentialKind; 2],
    len: usize,
}

impl Order {
    fn one(kind: CredentialKind) -> Self {
        Order {
            items: [kind, kind.other()],
            len: 1,
        }
    }
    fn push(&mut self, kind: CredentialKind) {
        self.items[self.len] = kind;
        self.len += 1;
    }
    fn as_slice(&self) -> &[CredentialKind] {
        &self.items[..self.len]
    }
}

/// Why one credential's attempt ended without an answer.
enum Failure {
    /// A fallback code: the other credential may serve it. `reauth` when an OBO user must authorize again.
    Fallback { err: Error, reauth: bool },
    /// Anything else: returned as it is.
    Final(Error),
}

/// What a call accepts as an answer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// A whole answer (`request`).
    Full,
    /// An event stream (`stream`).
    Stream,
    /// Whichever the server sends (`send`, for HTTP-client adapters that cannot know in advance).
    Either,
}

/// What [`Client::send`] got back: a whole answer, or an event stream when the server answered with one.
#[derive(Debug)]
pub enum Reply {
    /// A whole (successful) answer.
    Full(Response),
    /// A `text/event-stream` answer, decided and fallen back like [`Client::stream`].
    Stream(Box<EventStream>),
}

pub(crate) enum Answer {
    /// A whole answer, and the conversation it created or used (to bind it to its credential).
    Full(Response, Option<String>),
    Stream(Box<EventStream>),
}

impl Client {
    /// Builds a client; every config value is checked first (see [`Config::validate`]).
    pub fn new(config: Config) -> Result<Client> {
        config.validate()?;
        let base = config.parsed_base_url()?;
        let metrics = Arc::new(Metrics::default());
        let http = Http::new(&config, &base, metrics.clone())?;
        let build = |kind: CredentialKind,
                     cfg: &Option<crate::CredentialConfig>|
         -> Result<Option<Credential>> {
            cfg.as_ref()
                .map(|c| Credential::new(kind, c, &base))
                .transpose()
        };
        let mut credentials = [
            build(CredentialKind::Personal, &config.personal)?,
            build(CredentialKind::Enterprise, &config.enterprise)?,
        ];
        let state = crate::state::StateStore::build(&config.state, metrics.clone())?;
        let shared = state.redis().cloned();
        if let Some(store) = shared.as_ref().filter(|s| s.share_tokens) {
            for cred in credentials.iter_mut().flatten() {
                cred.share_through(store.clone());
            }
        }
        let fallback_codes = config.fallback_codes().into_keys().collect();
        let budget = RetryBudget::new(config.retry.budget_per_10_requests);
        let router = Router::shared(
            Duration::from_secs(config.fallback.sticky_ttl_secs),
            config.fallback.sticky,
            shared.clone(),
        );
        let configured = config.mode;
        let client = Client {
            inner: Arc::new(Inner {
                mode: AtomicU8::new(config.mode.index()),
                config,
                base,
                http,
                credentials,
                router,
                metrics,
                budget,
                fallback_codes,
                conversations: Conversations::default(),
                hook: fork_mutex(None),
                closer: Closer::new(),
                state,
            }),
        };
        if let Some(store) = shared {
            store.start(Arc::downgrade(&client.inner), configured);
        }
        Ok(client)
    }

    /// Parses the JSON schema and builds a client.
    pub fn from_json(config: &str) -> Result<Client> {
        Client::new(Config::from_json(config)?)
    }

    /// Builds a client from the official SDKs' environment variables (see [`Config::from_env`]).
    pub fn from_env() -> Result<Client> {
        Client::new(Config::from_env()?)
    }

    /// The configured base URL.
    pub fn base_url(&self) -> &str {
        &self.inner.http.base
    }

    /// Whether a credential of this kind is configured.
    pub fn has_credential(&self, kind: CredentialKind) -> bool {
        self.inner.credentials[kind.index()].is_some()
    }

    /// The routing mode in force.
    pub fn mode(&self) -> Mode {
        Mode::from_index(self.inner.mode.load(Ordering::Relaxed))
    }

    /// Changes the routing mode at run time: the cut-over switch. Refused if the mode needs a credential that
    /// is not configured.
    ///
    /// ```
    /// # let client = cozefallback::Client::from_json(r#"{"personal":{"type":"pat","token":"pat_a"},"enterprise":{"type":"pat","token":"pat_b"}}"#).unwrap();
    /// client.set_mode(cozefallback::Mode::EnterpriseOnly).unwrap();
    /// assert_eq!(client.mode().as_str(), "enterprise_only");
    /// ```
    pub fn set_mode(&self, mode: Mode) -> Result<()> {
        self.inner.config.check_mode(mode)?;
        self.inner.mode.store(mode.index(), Ordering::Relaxed);
        if let Some(store) = self.inner.state.redis() {
            store.mode_set(mode); // the fleet follows within a second (docs/FLEET.md)
        }
        tracing::info!(mode = %mode, "routing mode changed");
        Ok(())
    }

    /// Called after an OBO refresh rotated the tokens, so the app can store the new refresh token.
    pub fn set_refresh_hook(&self, hook: Option<RefreshHook>) {
        *lock(&self.inner.hook) = hook;
    }

    /// Counters and histograms as JSON.
    pub fn metrics(&self) -> serde_json::Value {
        self.inner.metrics.snapshot(self.mode().as_str())
    }

    /// The same as Prometheus text (prefix `cozefallback_`).
    pub fn metrics_prometheus(&self) -> String {
        self.inner.metrics.prometheus(self.mode().as_str())
    }

    /// Sends a request through the fallback; any Coze error comes back as `Err`.
    pub async fn request(&self, req: Request) -> Result<Response> {
        match self.run(req, Want::Full, None).await? {
            Answer::Full(r, _) => Ok(r),
            Answer::Stream(_) => Err(Error::internal("a plain request produced a stream")),
        }
    }

    /// Sends a request with one credential only, no fallback (for preflight checks).
    pub async fn request_with(&self, credential: CredentialKind, req: Request) -> Result<Response> {
        if !self.has_credential(credential) {
            return Err(Error::invalid_argument(format!(
                "the {credential} credential is not configured"
            )));
        }
        match self.run(req, Want::Full, Some(credential)).await? {
            Answer::Full(r, _) => Ok(r),
            Answer::Stream(_) => Err(Error::internal("a plain request produced a stream")),
        }
    }

    /// Uploads one file as multipart (part `file`), replayable on fallback.
    pub async fn upload(
        &self,
        path: &str,
        filename: &str,
        data: impl Into<Bytes>,
    ) -> Result<Response> {
        self.request(Request::upload(path, filename, data)).await
    }

    /// Opens a server-sent event stream. Falls back on the response head or on a leading `error` event; once an
    /// event has reached the caller nothing is replayed.
    pub async fn stream(&self, req: Request) -> Result<EventStream> {
        match self.run(req, Want::Stream, None).await? {
            Answer::Stream(s) => Ok(*s),
            Answer::Full(..) => Err(Error::internal("a stream request produced a plain answer")),
        }
    }

    /// Sends a request and takes whichever answer the server gives: an event stream when it answers
    /// `text/event-stream` (with the same fallback as [`Client::stream`]), else a whole answer as [`Client::request`].
    /// For HTTP-client adapters (the Python httpx transport) that cannot know in advance whether a call streams.
    pub async fn send(&self, req: Request) -> Result<Reply> {
        Ok(match self.run(req, Want::Either, None).await? {
            Answer::Full(r, _) => Reply::Full(r),
            Answer::Stream(s) => Reply::Stream(s),
        })
    }

    /// Mints (or checks) the bearer token of one credential now; for preflight checks and warm-up.
    pub async fn fetch_token(&self, credential: CredentialKind) -> Result<()> {
        let cred = self.inner.credentials[credential.index()]
            .as_ref()
            .ok_or_else(|| {
                Error::invalid_argument(format!("the {credential} credential is not configured"))
            })?;
        let hook = lock(&self.inner.hook).clone();
        let mint = cred.token(&self.inner.http, hook.as_ref());
        self.inner.closer.guard(mint).await.map(|_| ())
    }

    /// Cancels every call and stream in flight on this client and its clones (they end with `Cancelled`) and
    /// returns at once; later calls fail with `InvalidArgument` ("the client is closed"). Idempotent.
    ///
    /// ```
    /// # let client = cozefallback::Client::from_json(r#"{"personal":{"type":"pat","token":"pat_a"}}"#).unwrap();
    /// client.close();
    /// assert!(client.is_closed());
    /// ```
    pub fn close(&self) {
        if !self.inner.closer.is_closed() {
            tracing::debug!("client closed: cancelling the calls in flight");
        }
        self.inner.closer.close();
    }

    /// Whether [`Client::close`] was called (on this client or a clone).
    pub fn is_closed(&self) -> bool {
        self.inner.closer.is_closed()
    }

    /// [`Client::run_calls`] unless the client is closed before or while it runs.
    async fn run(
        &self,
        req: Request,
        streaming: Want,
        forced: Option<CredentialKind>,
    ) -> Result<Answer> {
        let started = Instant::now();
        let done = self
            .inner
            .closer
            .guard(self.run_conversations(req, streaming, forced))
            .await;
        if let Err(e) = &done
            && e.kind == ErrorKind::Cancelled
            && self.is_closed()
        {
            let took = started.elapsed();
            self.inner.metrics.request_done(None, "cancelled", 0, took);
        }
        done
    }

    /// One call through the fallback, with no conversation carry-over (that is [`Client::run_conversations`]).
    pub(crate) async fn run_calls(
        &self,
        req: Request,
        streaming: Want,
        forced: Option<CredentialKind>,
    ) -> Result<Answer> {
        let started = Instant::now();
        let inner = &self.inner;
        inner.budget.deposit();
        let (prep, keys) = self.prepare(&req)?;
        let deadline = started + req.timeout.unwrap_or_else(|| inner.config.total_timeout());
        let order = match forced {
            Some(c) => Order::one(c),
            None => self.order(&keys),
        };
        let order = order.as_slice();
        let mut attempts = 0u32;
        let mut previous: Option<Error> = None;
        let mut reauth_needed = false;
        for (i, kind) in order.iter().copied().enumerate() {
            let cred = inner.credentials[kind.index()]
                .as_ref()
                .expect("order lists configured credentials");
            match self
                .attempt(cred, &prep, deadline, streaming, &mut attempts)
                .await
            {
                Ok(answer) => {
                    if i > 0 {
                        inner.router.remember(&keys, kind);
                    }
                    let answer = match answer {
                        Answer::Full(mut r, conversation) => {
                            r.attempts = attempts;
                            if let Some(conv) = &conversation {
                                inner.router.bind_conversation(conv, kind);
                            }
                            Answer::Full(r, conversation)
                        }
                        Answer::Stream(mut s) => {
                            s.attempts = attempts;
                            Answer::Stream(s)
                        }
                    };
                    inner
                        .metrics
                        .request_done(Some(kind), "success", attempts, started.elapsed());
                    return Ok(answer);
                }
                Err(Failure::Fallback { err, reauth }) if i + 1 < order.len() => {
                    reauth_needed |= reauth;
                    inner.metrics.fallback(err.code.unwrap_or(0));
                    let reason = err.code.map_or_else(
                        || format!("HTTP {}", err.http_status.unwrap_or(0)),
                        |c| c.to_string(),
                    );
                    tracing::info!(from = %kind, to = %order[i + 1], reason = %reason, "falling back to the other credential");
                    // The first credential's error keeps its own count (all attempts so far were its).
                    let mut err = err;
                    err.attempts = attempts;
                    previous = Some(err);
                }
                Err(Failure::Fallback { mut err, reauth }) => {
                    reauth_needed |= reauth;
                    err.attempts = attempts;
                    let mut err = self.final_error(err, previous.take(), reauth_needed);
                    err.attempts = attempts;
                    inner.metrics.request_done(
                        Some(kind),
                        err.kind.as_str(),
                        attempts,
                        started.elapsed(),
                    );
                    return Err(err);
                }
                Err(Failure::Final(err)) => {
                    let mut err = match previous.take() {
                        Some(p) => err.with_previous(p),
                        None => err,
                    };
                    err.attempts = attempts;
                    inner.metrics.request_done(
                        Some(kind),
                        err.kind.as_str(),
                        attempts,
                        started.elapsed(),
                    );
                    return Err(err);
                }
            }
        }
        Err(Error::internal("no credential to try"))
    }

    fn final_error(&self, err: Error, previous: Option<Error>, reauth_needed: bool) -> Error {
        let err = match previous {
            Some(p) => err.with_previous(p),
            None => err,
        };
        if !reauth_needed {
            return err;
        }
        match self.inner.credentials.iter().flatten().find(|c| c.is_obo()) {
            Some(obo) => self.reauth_error(obo, err),
            None => err,
        }
    }

    /// `ReauthRequired` for an OBO credential, carrying the authorize URL and the error that led to it.
    fn reauth_error(&self, obo: &Credential, err: Error) -> Error {
        let mut reauth = Error::new(
            ErrorKind::ReauthRequired,
            "the user's OAuth token was rejected and could not be refreshed: the user must authorize the app again",
        );
        reauth.credential = Some(obo.kind);
        reauth.authorize_url = obo.authorize_url.clone();
        reauth.code = err.code;
        reauth.logid = err.logid.clone();
        reauth.http_status = err.http_status;
        reauth.oauth_error = err.oauth_error.clone();
        reauth.with_previous(err)
    }

    /// The credentials to try, in order: the mode's, with a remembered route for this resource first.
    fn order(&self, keys: &[ResourceKey]) -> Order {
        let inner = &self.inner;
        let mut order = Order::default();
        for kind in self.mode().order() {
            if inner.credentials[kind.index()].is_some() {
                order.push(*kind);
            }
        }
        if order.len > 1
            && let Some(preferred) = inner.router.lookup(keys)
            && preferred != order.items[0]
        {
            order.items.swap(0, 1);
            inner.metrics.sticky_route();
        }
        order
    }

    /// One credential's attempts: token, send, classify, and retries or a token renewal where they help.
    async fn attempt(
        &self,
        cred: &Credential,
        prep: &Prepared,
        deadline: Instant,
        streaming: Want,
        attempts: &mut u32,
    ) -> std::result::Result<Answer, Failure> {
        let inner = &self.inner;
        let hook = lock(&inner.hook).clone();
        let mut retries = 0u32;
        let mut renewed = false;
        // Bytes of answers downloaded by this credential's tries, against max_response_bytes.
        let mut downloaded = 0u64;
        loop {
            // The token exchange has its own retries; the call's deadline bounds them too.
            let minted =
                tokio::time::timeout_at(deadline.into(), cred.token(&inner.http, hook.as_ref()));
            let token = match minted.await.unwrap_or_else(|_| {
                Err(
                    Error::timeout("the overall deadline passed while getting an access token")
                        .with_credential(cred.kind),
                )
            }) {
                Ok(t) => t,
                // An OBO refresh the server refuses (invalid_grant, revoked app): only the user can fix it.
                Err(e)
                    if cred.is_obo()
                        && e.kind == ErrorKind::Auth
                        && e.http_status.is_some_and(|s| (400..500).contains(&s)) =>
                {
                    return Err(Failure::Final(self.reauth_error(cred, e)));
                }
                Err(e) => return Err(Failure::Final(e)),
            };
            *attempts += 1;
            let tag = |e: Error| e.with_credential(cred.kind);
            let mut resp = match inner.http.send(prep, &token.value, deadline).await {
                Ok(r) => r,
                Err(e) => {
                    let safe =
                        is_connect_error(&e) || (prep.idempotent && e.kind != ErrorKind::Cancelled);
                    if safe && self.may_retry(&mut retries, deadline, None).await {
                        continue;
                    }
                    return Err(Failure::Final(tag(e)));
                }
            };
            let status = resp.status().as_u16();
            let headers = header_pairs(resp.headers());
            let logid_header = header_str(resp.headers(), "x-tt-logid");
            let content_type = resp
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let is_event_stream = content_type.starts_with("text/event-stream");
            let claims_json = content_type.contains("json");
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            if streaming != Want::Full && status < 300 && is_event_stream {
                let mut stream = EventStream {
                    response: Some(resp),
                    parser: SseParser::with_max_event_bytes(inner.config.max_event_bytes),
                    pending: VecDeque::new(),
                    delivered: 0,
                    finished: false,
                    saw_terminal: false,
                    idle: inner.http.idle,
                    status,
                    headers,
                    logid: logid_header.clone(),
                    credential: cred.kind,
                    attempts: *attempts,
                    client: self.clone(),
                    bound_conversation: false,
                    conversation_moved: None,
                    deferred: None,
                    born: fork_generation(),
                    over_limit: false,
                };
                match stream.fill_first().await {
                    Ok(()) => {}
                    Err(mut e) => {
                        if stream.over_limit {
                            e.http_status = Some(status);
                        } else if prep.idempotent
                            && self.may_retry(&mut retries, deadline, None).await
                        {
                            continue;
                        }
                        return Err(Failure::Final(tag(e)));
                    }
                }
                if let Some(first) = stream.pending.front()
                    && let Some(code) = first.error_code()
                    && inner.fallback_codes.contains(&code)
                {
                    let mut err = Error::new(
                        ErrorKind::Api,
                        format!(
                            "Coze API error {code} in the stream's first event: {}",
                            first.error_message()
                        ),
                    );
                    err.code = Some(code);
                    err.coze_message = Some(crate::redact(&first.error_message()));
                    err.http_status = Some(status);
                    err.logid = logid_header;
                    return Err(Failure::Fallback {
                        reauth: cred.is_obo() && is_auth_code(code),
                        err: tag(err),
                    });
                }
                return Ok(Answer::Stream(Box::new(stream)));
            }
            let cap = ByteCap {
                limit: inner.config.max_response_bytes,
                used: downloaded,
                name: "max_response_bytes",
            };
            let body = match inner.http.read_body(&mut resp, deadline, &cap).await {
                Ok(b) => b,
                Err(BodyError::Limit(mut e)) => {
                    e.http_status = Some(status);
                    return Err(Failure::Final(tag(e)));
                }
                Err(BodyError::Other(e)) => {
                    if prep.idempotent && self.may_retry(&mut retries, deadline, None).await {
                        continue;
                    }
                    return Err(Failure::Final(tag(e)));
                }
            };
            downloaded += body.len() as u64;
            let json = serde_json::from_slice::<serde_json::Value>(&body).ok();
            let outcome = classify::classify_parsed(status, json.as_ref());
            let logid = classify::logid(logid_header.as_deref(), &body);
            if outcome == Outcome::Success {
                let broken_json = json.is_none() && claims_json && !body.is_empty();
                if streaming == Want::Stream || broken_json {
                    let mut err = Error::transport(if broken_json {
                        format!(
                            "HTTP {status} claims JSON but the body ({} bytes) is not valid JSON: truncated?",
                            body.len()
                        )
                    } else {
                        let content_type = headers
                            .iter()
                            .find(|(k, _)| k == "content-type")
                            .map_or_else(
                                || "no Content-Type".to_string(),
                                |(_, v)| format!("Content-Type {v}"),
                            );
                        format!(
                            "expected an event stream (Content-Type text/event-stream), got {content_type} with HTTP {status}"
                        )
                    });
                    err.logid = logid;
                    err.http_status = Some(status);
                    if broken_json
                        && prep.idempotent
                        && self.may_retry(&mut retries, deadline, None).await
                    {
                        continue;
                    }
                    return Err(Failure::Final(tag(err)));
                }
                let conversation = json
                    .as_ref()
                    .and_then(|j| conversation_in_answer(prep.url.path(), j));
                return Ok(Answer::Full(
                    Response {
                        status,
                        headers,
                        body,
                        credential: cred.kind,
                        attempts: *attempts,
                        logid,
                        conversation_moved: None,
                    },
                    conversation,
                ));
            }
            let mut err = tag(classify::to_error(&outcome, status, logid, &body));
            err.response = Some(crate::error::FailedResponse {
                status,
                headers,
                body,
            });
            let code = match &outcome {
                Outcome::Api { code, .. } => Some(*code),
                _ => None,
            };
            // A minted token the server no longer accepts: drop it (if still cached) and try once with a new one.
            // A 4100 on a token at the end of its life means it expired in flight, not that the credential lost
            // access: mint a new one and retry the same credential rather than fall back.
            let expired_in_flight =
                code == Some(AUTH_INVALID) && token.expires_within(EXPIRY_WINDOW);
            let token_rejected = code == Some(TOKEN_INVALID)
                || expired_in_flight
                || (cred.is_obo() && code == Some(AUTH_INVALID))
                || matches!(&outcome, Outcome::OAuth { error, .. } if error == "invalid_token" || error == "token_expired");
            if token_rejected && cred.is_renewable() && !renewed {
                cred.invalidate(token.generation);
                renewed = true;
                continue;
            }
            if let Some(code) = code.filter(|c| inner.fallback_codes.contains(c)) {
                // A token refused with 4100 may have been revoked: drop it, but not one minted moments ago (after
                // the move the old credential answers 4100 to every new resource; re-minting each time would
                // multiply token requests). A revoked token heals within TOKEN_RECHECK_AGE.
                if code == AUTH_INVALID
                    && cred.is_renewable()
                    && token.older_than(TOKEN_RECHECK_AGE)
                {
                    cred.invalidate(token.generation);
                }
                return Err(Failure::Fallback {
                    reauth: cred.is_obo() && is_auth_code(code),
                    err,
                });
            }
            if code == Some(TOKEN_INVALID) {
                return Err(Failure::Fallback {
                    reauth: cred.is_obo(),
                    err,
                });
            }
            // 429 and 4009 mean the server declined to process: safe to retry any method. 5xx only when idempotent.
            let declined = status == 429 || code == Some(RATE_LIMITED);
            let gateway = matches!(status, 502..=504) && code.is_none();
            if declined || (gateway && prep.idempotent) {
                let retry_after = retry_after
                    .as_deref()
                    .and_then(|v| classify::parse_retry_after(v, unix_now()));
                if self.may_retry(&mut retries, deadline, retry_after).await {
                    continue;
                }
            }
            return Err(Failure::Final(err));
        }
    }

    /// Waits out a backoff if the retry limit, the client-wide budget and the deadline all allow one more try.
    async fn may_retry(
        &self,
        retries: &mut u32,
        deadline: Instant,
        retry_after: Option<Duration>,
    ) -> bool {
        let inner = &self.inner;
        if *retries >= inner.http.max_retries {
            return false;
        }
        let delay = inner.http.backoff(*retries, retry_after);
        if Instant::now() + delay >= deadline || !inner.budget.withdraw() {
            return false;
        }
        *retries += 1;
        inner.metrics.retry();
        tokio::time::sleep(delay).await;
        true
    }

    fn prepare(&self, req: &Request) -> Result<(Prepared, Vec<ResourceKey>)> {
        let inner = &self.inner;
        let method = match req.method.as_str() {
            "GET" => Ok(reqwest::Method::GET),
            "POST" => Ok(reqwest::Method::POST),
            other => reqwest::Method::from_bytes(other.trim().to_ascii_uppercase().as_bytes()),
        }
        .map_err(|_| Error::invalid_argument(format!("{:?} is not an HTTP method", req.method)))?;
        let mut url = crate::urls::resolve(&inner.base, &inner.http.base, &req.path)?;
        if !req.query.is_empty() {
            url.query_pairs_mut().extend_pairs(req.query.iter());
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &req.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                Error::invalid_argument(format!("{name:?} is not a valid header name"))
            })?;
            if matches!(
                name.as_str(),
                "authorization" | "host" | "content-length" | "transfer-encoding" | "connection"
            ) {
                continue; // the client owns these
            }
            let value = HeaderValue::from_str(value).map_err(|_| {
                Error::invalid_argument(format!("the value of header {name} is not valid"))
            })?;
            headers.append(name, value);
        }
        let mut json_for_keys = None;
        let body = match &req.body {
            Body::Empty => None,
            Body::Json(v) => {
                headers
                    .entry(CONTENT_TYPE)
                    .or_insert(HeaderValue::from_static("application/json"));
                json_for_keys = Some(v.clone());
                Some(Bytes::from(serde_json::to_vec(v).map_err(|e| {
                    Error::invalid_argument(format!("json body: {e}"))
                })?))
            }
            Body::Bytes { content_type, data } => {
                if let Some(ct) = content_type {
                    let v = HeaderValue::from_str(ct).map_err(|_| {
                        Error::invalid_argument("the content type is not a valid header value")
                    })?;
                    headers.insert(CONTENT_TYPE, v);
                }
                let is_json =
                    header_str(&headers, "content-type").is_some_and(|ct| ct.contains("json"));
                if is_json && data.len() < (1 << 20) {
                    json_for_keys = serde_json::from_slice(data).ok();
                }
                Some(data.clone())
            }
            Body::Multipart(form) => {
                let mut raw = [0u8; 12];
                rand::rng().fill_bytes(&mut raw);
                let (bytes, ct) = form.encode(&format!("cozefallback-{}", hex::encode(raw)));
                headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_str(&ct).expect("boundary is ASCII"),
                );
                Some(bytes)
            }
        };
        if let Some(b) = &body
            && b.len() as u64 > inner.config.max_request_bytes
        {
            return Err(Error::invalid_argument(format!(
                "the request body of {} bytes exceeds max_request_bytes ({} bytes)",
                b.len(),
                inner.config.max_request_bytes
            )));
        }
        let idempotent = matches!(
            method.as_str(),
            "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE" | "TRACE"
        ) || req
            .retry_non_idempotent
            .unwrap_or(inner.config.retry.non_idempotent);
        let keys = resource_keys(&url, json_for_keys.as_ref());
        Ok((
            Prepared {
                method,
                url,
                headers,
                body,
                idempotent,
            },
            keys,
        ))
    }
}

fn is_auth_code(code: i64) -> bool {
    code == AUTH_INVALID || code == NO_PERMISSION || code == TOKEN_INVALID
}

fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

impl Inner {
    /// The routing mode in force in this process.
    pub(crate) fn current_mode(&self) -> Mode {
        Mode::from_index(self.mode.load(Ordering::Relaxed))
    }

    /// A mode the fleet chose (from the state store); refused if it needs a credential this process lacks.
    pub(crate) fn apply_fleet_mode(&self, mode: Mode) -> Result<()> {
        self.config.check_mode(mode)?;
        self.mode.store(mode.index(), Ordering::Relaxed);
        Ok(())
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.http.base)
            .field("mode", &self.mode())
            .finish_non_exhaustive()
    }
}

/// A client-wide retry budget: each call deposits a fraction of a retry, each retry withdraws one, so that
/// retries stay a bounded share of traffic during an outage instead of multiplying it.
struct RetryBudget {
    milli: AtomicI64,
    per_call: i64,
}

const BUDGET_RESERVE: i64 = 10_000; // ten retries' worth, in thousandths

impl RetryBudget {
    fn new(per_10_calls: u32) -> Self {
        RetryBudget {
            milli: AtomicI64::new(BUDGET_RESERVE),
            per_call: i64::from(per_10_calls) * 100,
        }
    }
    fn deposit(&self) {
        let _ = self
            .milli
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |m| {
                Some((m + self.per_call).min(BUDGET_RESERVE))
            });
    }
    fn withdraw(&self) -> bool {
        self.milli
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |m| {
                (m >= 1000).then_some(m - 1000)
            })
            .is_ok()
    }
}

/// A stream of server-sent events from one credential.
///
/// ```no_run
/// # async fn demo(client: cozefallback::Client) -> cozefallback::Result<()> {
/// let req = cozefallback::Request::post_json("/v3/chat", serde_json::json!({"bot_id": "73", "user_id": "u", "stream": true}));
/// let mut stream = client.stream(req).await?;
/// while let Some(event) = stream.next().await? {
///     println!("{}: {}", event.event, event.data);
/// }
/// # Ok(()) }
/// ```
pub struct EventStream {
    response: Option<reqwest::Response>,
    parser: SseParser,
    pending: VecDeque<Event>,
    delivered: u64,
    finished: bool,
    saw_terminal: bool,
    idle: Duration,
    status: u16,
    headers: Vec<(String, String)>,
    logid: Option<String>,
    credential: CredentialKind,
    pub(crate) attempts: u32,
    client: Client,
    bound_conversation: bool,
    /// Set when this stream's conversation was carried over to a new one before the stream opened.
    pub(crate) conversation_moved: Option<ConversationMoved>,
    /// An end-of-input error found while events were still pending: raised once they are delivered.
    deferred: Option<Error>,
    /// The fork generation the connection belongs to: a forked child cannot read it (see `runtime.rs`).
    born: u64,
    /// The stream went past max_event_bytes: a Transport error (not an interruption), never retried.
    over_limit: bool,
}

impl EventStream {
    /// The next event; `Ok(None)` after the stream's final `done` event. A broken stream gives a
    /// `StreamInterrupted` error carrying how many events were delivered; [`Client::close`] ends it with
    /// `Cancelled`.
    pub async fn next(&mut self) -> Result<Option<Event>> {
        if let Err(e) = crate::runtime::ensure_not_forked(self.born) {
            self.close();
            return Err(e);
        }
        let closer = self.client.inner.closer.token();
        let next = tokio::select! {
            biased;
            _ = closer.cancelled() => Err(closed_in_flight()),
            r = self.next_event() => r,
        };
        if next.is_err() && closer.is_cancelled() {
            self.close();
        }
        next
    }

    async fn next_event(&mut self) -> Result<Option<Event>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.delivered += 1;
                self.saw_terminal |= event.is_terminal();
                self.learn(&event);
                return Ok(Some(event));
            }
            let failed = match self.deferred.take() {
                Some(e) => Err(e),
                None if self.finished => return Ok(None),
                None => self.fill().await,
            };
            if let Err(mut e) = failed {
                if !self.over_limit {
                    e.kind = ErrorKind::StreamInterrupted;
                }
                e.events_delivered = self.delivered;
                e.attempts = self.attempts;
                e.credential = Some(self.credential);
                e.logid = self.logid.clone();
                e.message = format!(
                    "the stream broke after {} event(s); it is not replayed: {}",
                    self.delivered, e.message
                );
                return Err(e);
            }
        }
    }

    /// Stops reading and closes the connection. Safe to call more than once.
    pub fn close(&mut self) {
        if let Some(resp) = self.response.take()
            && self.born != fork_generation()
        {
            // The parent's connection: dropping it here would unregister it from the parent's reactor too.
            std::mem::forget(resp);
        }
        self.pending.clear();
        self.finished = true;
    }

    /// The credential serving this stream.
    pub fn credential(&self) -> CredentialKind {
        self.credential
    }
    /// HTTP attempts it took to open the stream.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
    /// The Coze log id.
    pub fn logid(&self) -> Option<&str> {
        self.logid.as_deref()
    }
    /// HTTP status of the stream's response.
    pub fn status(&self) -> u16 {
        self.status
    }
    /// Response headers.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }
    /// Events handed to the caller so far.
    pub fn events_delivered(&self) -> u64 {
        self.delivered
    }
    /// When the call's conversation was stranded by the move and carried over: from which id to which.
    pub fn conversation_moved(&self) -> Option<&ConversationMoved> {
        self.conversation_moved.as_ref()
    }

    /// Reads until the first event is parsed (nothing reaches the caller yet, so a failure here may fall back).
    async fn fill_first(&mut self) -> Result<()> {
        while self.pending.is_empty() && !self.finished {
            self.fill().await?;
        }
        if self.pending.is_empty() {
            return Err(self
                .deferred
                .take()
                .unwrap_or_else(|| Error::transport("the stream ended before its first event")));
        }
        Ok(())
    }

    /// Reads one chunk into `pending`. An end of input before the terminal `done` event is an error.
    async fn fill(&mut self) -> Result<()> {
        let Some(resp) = self.response.as_mut() else {
            self.finished = true;
            return Ok(());
        };
        match tokio::time::timeout(self.idle, resp.chunk()).await {
            Ok(Ok(Some(chunk))) => {
                let mut events = Vec::new();
                let fed = self.parser.feed_into(&chunk, &mut events);
                self.pending.extend(events);
                if let Err(e) = fed {
                    // Past max_event_bytes: stop reading; events already parsed are delivered first.
                    self.finished = true;
                    self.response = None;
                    self.over_limit = true;
                    self.deferred = Some(e);
                }
                Ok(())
            }
            Ok(Ok(None)) => {
                self.finished = true;
                self.response = None;
                // An event the server did not finish is discarded, never delivered (its data may be cut).
                let partial = self.parser.finish();
                let terminal = self.saw_terminal || self.pending.iter().any(Event::is_terminal);
                if partial {
                    self.deferred = Some(Error::transport(
                        "the connection closed in the middle of an event, which was discarded",
                    ));
                } else if !terminal {
                    self.deferred = Some(Error::transport(
                        "the connection closed before the stream's final event",
                    ));
                }
                Ok(())
            }
            Ok(Err(e)) => {
                self.finished = true;
                self.response = None;
                Err(Error::transport(format!("the connection broke: {e}")))
            }
            Err(_) => {
                self.finished = true;
                self.response = None;
                Err(Error::timeout(format!(
                    "no data for {} ms (idle timeout)",
                    self.idle.as_millis()
                )))
            }
        }
    }

    fn learn(&mut self, event: &Event) {
        if self.bound_conversation || event.event != "conversation.chat.created" {
            return;
        }
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&event.data)
            && let Some(conv) = v.get("conversation_id").and_then(|c| c.as_str())
        {
            self.client
                .inner
                .router
                .bind_conversation(conv, self.credential);
            self.bound_conversation = true;
        }
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.close();
    }
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("credential", &self.credential)
            .field("attempts", &self.attempts)
            .field("delivered", &self.delivered)
            .finish_non_exhaustive()
    }
}
