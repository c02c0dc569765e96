//! The request lifecycle: route, token, send, classify, decide, stream, record (docs/ARCHITECTURE.md).

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::FutureExt;
use rand::RngCore;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use crate::budget::RetryBudget;
use crate::classify::{self, Outcome};
use crate::closing::Closer;
use crate::config::Config;
use crate::conversations::Conversations;
use crate::credential::{CredentialKind, Mode};
use crate::decide::{
    Action, AttemptState, EXPIRY_WINDOW, Observed, Purpose, TOKEN_RECHECK_AGE, decide,
};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{BodyError, ByteCap, Http, Prepared, header_str, is_connect_error};
use crate::metrics::Metrics;
use crate::request::{Body, Request, Response};
use crate::route::{ResourceKey, Router, conversation_in_answer, resource_keys};
use crate::runtime::{ForkMutex, fork_mutex};
use crate::token::{Credential, RefreshHook, Token};
use crate::util::{lock, unix_now};

// The event stream: a child module, so that it reads the client's limits and closer.
#[path = "stream.rs"]
mod stream;
pub use stream::EventStream;
use stream::StreamHead;

// WebSocket sessions: a child module, so that they reuse the routing, tokens and metrics of `Inner`.
#[path = "ws/mod.rs"]
pub(crate) mod ws;

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
        if let Some(store) = self.inner.state.redis() {
            store.ensure_driver(); // a forked child follows the fleet too
        }
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
            store.ensure_driver();
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
    ///
    /// ```no_run
    /// # async fn demo(client: &cozefallback::Client) -> cozefallback::Result<()> {
    /// let bot = client.request(cozefallback::Request::get("/v1/bots/7351")).await?;
    /// println!("{} served by the {} credential", bot.status, bot.credential);
    /// # Ok(()) }
    /// ```
    pub fn request(&self, req: Request) -> impl Future<Output = Result<Response>> + '_ {
        self.run(req, Want::Full, None).map(|answer| match answer? {
            Answer::Full(r, _) => Ok(r),
            Answer::Stream(_) => Err(Error::internal("a plain request produced a stream")),
        })
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
    pub fn stream(&self, req: Request) -> impl Future<Output = Result<EventStream>> + '_ {
        self.run(req, Want::Stream, None)
            .map(|answer| match answer? {
                Answer::Stream(s) => Ok(*s),
                Answer::Full(..) => {
                    Err(Error::internal("a stream request produced a plain answer"))
                }
            })
    }

    /// Sends a request and takes whichever answer the server gives: an event stream when it answers
    /// `text/event-stream` (with the same fallback as [`Client::stream`]), else a whole answer as [`Client::request`].
    /// For HTTP-client adapters (the Python httpx transport) that cannot know in advance whether a call streams.
    pub fn send(&self, req: Request) -> impl Future<Output = Result<Reply>> + '_ {
        self.run(req, Want::Either, None).map(|answer| {
            Ok(match answer? {
                Answer::Full(r, _) => Reply::Full(r),
                Answer::Stream(s) => Reply::Stream(s),
            })
        })
    }

    /// Mints (or checks) the bearer token of one credential now; for preflight checks and warm-up. An OBO refresh
    /// the token endpoint refuses is `ReauthRequired` with the authorize URL, as on a call.
    pub async fn fetch_token(&self, credential: CredentialKind) -> Result<()> {
        let cred = self.inner.credentials[credential.index()]
            .as_ref()
            .ok_or_else(|| {
                Error::invalid_argument(format!("the {credential} credential is not configured"))
            })?;
        let hook = lock(&self.inner.hook).clone();
        let mint = cred.token(&self.inner.http, hook.as_ref());
        let minted = self.inner.closer.guard(mint).await;
        minted
            .map(|_| ())
            .map_err(|e| self.token_failure(cred, true, e))
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

    /// Whether the calling thread has its own connection pool for this client (`crate::caller`).
    pub(crate) fn thread_pool_ready(&self) -> bool {
        self.inner.http.thread_pool_ready()
    }

    /// Whether [`Client::close`] was called (on this client or a clone).
    pub fn is_closed(&self) -> bool {
        self.inner.closer.is_closed()
    }

    /// [`Client::run_calls`] unless the client is closed before or while it runs.
    ///
    /// Not an `async fn`: the request moves straight into the call's future instead of being held once more
    /// by this layer (a call's future is moved as it starts, so every copy costs on every call).
    fn run(
        &self,
        req: Request,
        streaming: Want,
        forced: Option<CredentialKind>,
    ) -> impl Future<Output = Result<Answer>> + '_ {
        let started = Instant::now();
        let call = self
            .inner
            .closer
            .guard(self.run_conversations(req, streaming, forced));
        // `map`, not an `async` block: awaiting a captured future would store it twice.
        call.map(move |done| {
            if let Err(e) = &done
                && e.kind == ErrorKind::Cancelled
                && self.is_closed()
            {
                let took = started.elapsed();
                self.inner.metrics.request_done(None, "cancelled", 0, took);
            }
            done
        })
    }

    /// One call through the fallback, with no conversation carry-over (that is [`Client::run_conversations`]).
    pub(crate) async fn run_calls(
        &self,
        req: &Request,
        streaming: Want,
        forced: Option<CredentialKind>,
    ) -> Result<Answer> {
        let started = Instant::now();
        let inner = &self.inner;
        inner.budget.deposit();
        let (prep, keys) = self.prepare(req)?;
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
            let tried = self
                .attempt(cred, &prep, deadline, streaming, &mut attempts)
                .await;
            let mut err = match tried {
                Ok(answer) => {
                    return Ok(self.delivered(answer, kind, i > 0, &keys, attempts, started));
                }
                Err(Failure::Fallback { mut err, reauth }) => {
                    reauth_needed |= reauth;
                    // The first credential's error keeps its own count (all attempts so far were its).
                    err.attempts = attempts;
                    if let Some(next) = order.get(i + 1) {
                        self.falling_back(&err, kind, *next);
                        previous = Some(err);
                        continue;
                    }
                    self.final_error(err, previous.take(), reauth_needed)
                }
                Err(Failure::Final(err)) => match previous.take() {
                    Some(p) => err.with_previous(p),
                    None => err,
                },
            };
            err.attempts = attempts;
            let took = started.elapsed();
            inner
                .metrics
                .request_done(Some(kind), err.kind.as_str(), attempts, took);
            return Err(err);
        }
        Err(Error::internal("no credential to try"))
    }

    /// A served call: remember the route (when a fallback served it), bind a new conversation, count it.
    fn delivered(
        &self,
        answer: Answer,
        kind: CredentialKind,
        fell_back: bool,
        keys: &[ResourceKey],
        attempts: u32,
        started: Instant,
    ) -> Answer {
        let inner = &self.inner;
        if fell_back {
            inner.router.remember(keys, kind);
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
        let took = started.elapsed();
        inner
            .metrics
            .request_done(Some(kind), "success", attempts, took);
        answer
    }

    fn falling_back(&self, err: &Error, from: CredentialKind, to: CredentialKind) {
        self.inner.metrics.fallback(err.code.unwrap_or(0));
        let reason = err.code.map_or_else(
            || format!("HTTP {}", err.http_status.unwrap_or(0)),
            |c| c.to_string(),
        );
        tracing::info!(from = %from, to = %to, reason = %reason, "falling back to the other credential");
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

    /// One credential's tries: each one observed, [`decide`]d, and the action carried out.
    async fn attempt(
        &self,
        cred: &Credential,
        prep: &Prepared,
        deadline: Instant,
        want: Want,
        attempts: &mut u32,
    ) -> std::result::Result<Answer, Failure> {
        let call = Call {
            cred,
            prep,
            deadline,
            want,
        };
        let mut tries = Tries::default();
        loop {
            let token = match self.call_token(cred, deadline).await {
                Ok(t) => t,
                Err(e) => {
                    return Err(Failure::Final(self.token_failure(cred, prep.idempotent, e)));
                }
            };
            *attempts += 1;
            let (seen, got) = self.try_once(&call, &token, *attempts, &mut tries).await;
            let state = self.state(cred, prep.idempotent, Some(&token), &tries);
            match decide(&seen, &state) {
                Action::Deliver => return got.into_answer(),
                Action::RenewToken => {
                    cred.invalidate(token.generation);
                    tries.renewed = true;
                }
                Action::Retry { after } => {
                    if !self.may_retry(&mut tries.retries, deadline, after).await {
                        return Err(Failure::Final(got.into_error()));
                    }
                }
                Action::Fallback {
                    reauth,
                    forget_token,
                } => {
                    if forget_token {
                        cred.invalidate(token.generation);
                    }
                    let err = got.into_error();
                    return Err(Failure::Fallback { err, reauth });
                }
                Action::Fail { .. } => return Err(Failure::Final(got.into_error())),
            }
        }
    }

    /// What the table needs to know about this credential, its token and the tries so far.
    fn state(
        &self,
        cred: &Credential,
        idempotent: bool,
        token: Option<&Token>,
        tries: &Tries,
    ) -> AttemptState<'_> {
        AttemptState {
            purpose: Purpose::Call,
            idempotent,
            replayable: true,
            retries_left: self.inner.http.max_retries.saturating_sub(tries.retries),
            renewable: cred.is_renewable(),
            renewed: tries.renewed,
            obo: cred.is_obo(),
            token_expiring: token.is_some_and(|t| t.expires_within(EXPIRY_WINDOW)),
            token_old: token.is_some_and(|t| t.older_than(TOKEN_RECHECK_AGE)),
            fallback_codes: &self.inner.fallback_codes,
        }
    }

    /// The credential's token, within the call's deadline (the token exchange's own retries included).
    async fn call_token(&self, cred: &Credential, deadline: Instant) -> Result<Token> {
        if let Some(token) = cred.ready_token() {
            return Ok(token);
        }
        // The exchange's future is large and rarely built: boxed, so that every call's future stays small.
        let hook = lock(&self.inner.hook).clone();
        let minted = Box::pin(tokio::time::timeout_at(
            deadline.into(),
            cred.token(&self.inner.http, hook.as_ref()),
        ));
        minted.await.unwrap_or_else(|_| {
            Err(
                Error::timeout("the overall deadline passed while getting an access token")
                    .with_credential(cred.kind),
            )
        })
    }

    /// No token: the call ends, as ReauthRequired when the table says only the user can fix it (an OBO
    /// refresh the server refuses: invalid_grant, a revoked app).
    fn token_failure(&self, cred: &Credential, idempotent: bool, e: Error) -> Error {
        let refused =
            e.kind == ErrorKind::Auth && e.http_status.is_some_and(|s| (400..500).contains(&s));
        let seen = Observed::NoToken { refused };
        match decide(
            &seen,
            &self.state(cred, idempotent, None, &Tries::default()),
        ) {
            Action::Fail { reauth: true, .. } => self.reauth_error(cred, e),
            _ => e,
        }
    }

    /// Sends once and reads the answer (or opens the stream): what happened, and what to hand on.
    async fn try_once(
        &self,
        call: &Call<'_>,
        token: &Token,
        attempts: u32,
        tries: &mut Tries,
    ) -> (Observed, Got) {
        let Call {
            cred,
            prep,
            deadline,
            want,
        } = *call;
        let resp = match self
            .inner
            .http
            .send(prep, token.header.as_ref(), deadline)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                let seen = Observed::NoAnswer {
                    sent: !is_connect_error(&e),
                    cancelled: e.kind == ErrorKind::Cancelled,
                };
                return (seen, Got::Error(e.with_credential(cred.kind)));
            }
        };
        let head = Head::of(&resp);
        if want != Want::Full && head.status < 300 && head.event_stream {
            let resp = if crate::caller::driving_here() {
                match Box::pin(self.buffer_stream(resp, deadline, tries)).await {
                    Ok(r) => r,
                    Err(e) => {
                        let over_limit = matches!(e, BodyError::Limit(_));
                        let e = e.into_error().with_credential(cred.kind);
                        return (Observed::BrokenBody { over_limit }, Got::Error(e));
                    }
                }
            } else {
                resp
            };
            // Boxed, so that a whole answer's future (most calls) does not carry a stream's size.
            return Box::pin(self.open_stream(resp, head, cred.kind, attempts)).await;
        }
        self.read_answer(resp, head, call, attempts, tries).await
    }

    /// An event stream the request did not ask for, answered to a call its own thread drives
    /// ([`crate::caller`]): its connection is polled only while that thread drives a call, so the stream is read
    /// whole (within max_response_bytes and the deadline) and handed over from memory.
    async fn buffer_stream(
        &self,
        mut resp: reqwest::Response,
        deadline: Instant,
        tries: &mut Tries,
    ) -> std::result::Result<reqwest::Response, BodyError> {
        let cap = ByteCap {
            limit: self.inner.config.max_response_bytes,
            used: tries.downloaded,
            name: "max_response_bytes",
        };
        let mut whole = http::Response::new(Bytes::new());
        *whole.status_mut() = resp.status();
        *whole.headers_mut() = resp.headers().clone();
        *whole.body_mut() = self.inner.http.read_body(&mut resp, deadline, &cap).await?;
        tries.downloaded += whole.body().len() as u64;
        Ok(reqwest::Response::from(whole))
    }

    /// An event stream answer: read up to its first event (nothing reaches the caller yet, so it may fall back).
    async fn open_stream(
        &self,
        resp: reqwest::Response,
        head: Head,
        credential: CredentialKind,
        attempts: u32,
    ) -> (Observed, Got) {
        let status = head.status;
        let stream_head = StreamHead {
            status,
            headers: head.headers,
            logid: head.logid,
            credential,
            attempts,
        };
        let mut stream = EventStream::new(resp, stream_head, self);
        if let Err(mut e) = stream.fill_first().await {
            let over_limit = stream.over_limit();
            if over_limit {
                e.http_status = Some(status);
            }
            let seen = Observed::BrokenBody { over_limit };
            return (seen, Got::Error(e.with_credential(credential)));
        }
        let seen = Observed::FirstEvent {
            error_code: stream.first_error_code(),
        };
        (seen, Got::Answer(Answer::Stream(Box::new(stream))))
    }

    /// A whole answer: read within max_response_bytes (retries counted together), then classified.
    async fn read_answer(
        &self,
        mut resp: reqwest::Response,
        head: Head,
        call: &Call<'_>,
        attempts: u32,
        tries: &mut Tries,
    ) -> (Observed, Got) {
        let credential = call.cred.kind;
        let (prep, deadline, want) = (call.prep, call.deadline, call.want);
        let cap = ByteCap {
            limit: self.inner.config.max_response_bytes,
            used: tries.downloaded,
            name: "max_response_bytes",
        };
        let tag = |e: Error| Got::Error(e.with_credential(credential));
        let body = match self.inner.http.read_body(&mut resp, deadline, &cap).await {
            Ok(b) => b,
            Err(BodyError::Limit(mut e)) => {
                e.http_status = Some(head.status);
                return (Observed::BrokenBody { over_limit: true }, tag(e));
            }
            Err(BodyError::Other(e)) => {
                return (Observed::BrokenBody { over_limit: false }, tag(e));
            }
        };
        tries.downloaded += body.len() as u64;
        let json = serde_json::from_slice::<serde_json::Value>(&body).ok();
        let outcome = classify::classify_parsed(head.status, json.as_ref());
        let logid = classify::logid(head.logid.as_deref(), &body);
        let status = head.status;
        if outcome != Outcome::Success {
            let (seen, err) = failed_answer(outcome, head, logid, body);
            return (seen, tag(err));
        }
        let broken_json = json.is_none() && head.claims_json && !body.is_empty();
        let wrong_shape = want == Want::Stream;
        let seen = Observed::Answer {
            status,
            outcome,
            broken_json,
            wrong_shape,
            retry_after: None,
        };
        if broken_json || wrong_shape {
            let mut err = shape_error(&head, broken_json, body.len());
            err.logid = logid;
            return (seen, tag(err));
        }
        let conversation = json
            .as_ref()
            .and_then(|j| conversation_in_answer(prep.url.path(), j));
        let response = Response {
            status,
            headers: head.headers,
            body,
            credential,
            attempts,
            logid,
            conversation_moved: None,
        };
        (seen, Got::Answer(Answer::Full(response, conversation)))
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
        let mut headers = request_headers(&req.headers)?;
        let (body, json_for_keys) = encode_body(&req.body, &mut headers)?;
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

/// What one credential's tries send, and how: the same for each try.
#[derive(Clone, Copy)]
struct Call<'a> {
    cred: &'a Credential,
    prep: &'a Prepared,
    deadline: Instant,
    want: Want,
}

/// One credential's tries so far: what the table reads besides the answer.
#[derive(Default)]
struct Tries {
    /// Retries made (against max_retries).
    retries: u32,
    /// The token was renewed once already.
    renewed: bool,
    /// Bytes of answers downloaded, against max_response_bytes.
    downloaded: u64,
}

/// What a try hands on: an answer to deliver, or the error the credential ends (or falls back) with.
enum Got {
    Answer(Answer),
    Error(Error),
}

impl Got {
    fn into_answer(self) -> std::result::Result<Answer, Failure> {
        match self {
            Got::Answer(a) => Ok(a),
            Got::Error(e) => Err(Failure::Final(e)),
        }
    }

    /// The error to end with; for a stream whose first event refused the call, that event as an error.
    fn into_error(self) -> Error {
        match self {
            Got::Error(e) => e,
            Got::Answer(Answer::Stream(s)) => s.first_event_error(),
            Got::Answer(Answer::Full(..)) => {
                Error::internal("a delivered answer taken for an error")
            }
        }
    }
}

/// The response head, as the rest of the try needs it.
struct Head {
    status: u16,
    headers: Vec<(String, String)>,
    logid: Option<String>,
    event_stream: bool,
    claims_json: bool,
    retry_after: Option<String>,
}

impl Head {
    fn of(resp: &reqwest::Response) -> Head {
        let headers = header_pairs(resp.headers());
        // Names are lowercase in the pairs: a scan of a handful of them, no second lookup in the map.
        let find = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let content_type = find("content-type").unwrap_or_default();
        let (event_stream, claims_json) = (
            content_type.starts_with("text/event-stream"),
            content_type.contains("json"),
        );
        let logid = find("x-tt-logid").map(str::to_string);
        let retry_after = find("retry-after").map(str::to_string);
        Head {
            status: resp.status().as_u16(),
            headers,
            logid,
            event_stream,
            claims_json,
            retry_after,
        }
    }
}

/// A failed answer: what the table sees, and the error carrying the answer itself.
fn failed_answer(
    outcome: Outcome,
    head: Head,
    logid: Option<String>,
    body: Bytes,
) -> (Observed, Error) {
    let status = head.status;
    let retry_after = head
        .retry_after
        .as_deref()
        .and_then(|v| classify::parse_retry_after(v, unix_now()));
    let mut err = classify::to_error(&outcome, status, logid, &body);
    err.response = Some(crate::error::FailedResponse {
        status,
        headers: head.headers,
        body,
    });
    let seen = Observed::Answer {
        status,
        outcome,
        broken_json: false,
        wrong_shape: false,
        retry_after,
    };
    (seen, err)
}

/// A success of the wrong shape: a body that claims JSON and is cut, or a whole answer where a stream was asked.
fn shape_error(head: &Head, broken_json: bool, body_len: usize) -> Error {
    let status = head.status;
    let mut err = Error::transport(if broken_json {
        format!(
            "HTTP {status} claims JSON but the body ({body_len} bytes) is not valid JSON: truncated?"
        )
    } else {
        let content_type = head
            .headers
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
    err.http_status = Some(status);
    err
}

/// The caller's headers, less those the client owns (authorization, host, framing).
fn request_headers(given: &[(String, String)]) -> Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    for (name, value) in given {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::invalid_argument(format!("{name:?} is not a valid header name")))?;
        if matches!(
            name.as_str(),
            "authorization" | "host" | "content-length" | "transfer-encoding" | "connection"
        ) {
            continue;
        }
        let value = HeaderValue::from_str(value).map_err(|_| {
            Error::invalid_argument(format!("the value of header {name} is not valid"))
        })?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// The bytes to send (setting the content type), and the JSON body when there is one to find resource keys in.
fn encode_body(
    body: &Body,
    headers: &mut HeaderMap,
) -> Result<(Option<Bytes>, Option<serde_json::Value>)> {
    let mut json_for_keys = None;
    let body = match body {
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
            let is_json = header_str(headers, "content-type").is_some_and(|ct| ct.contains("json"));
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
    Ok((body, json_for_keys))
}

fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut pairs = Vec::with_capacity(headers.len());
    for (k, v) in headers {
        let value = match v.to_str() {
            Ok(text) => text.to_owned(),
            Err(_) => String::from_utf8_lossy(v.as_bytes()).into_owned(),
        };
        pairs.push((k.as_str().to_owned(), value));
    }
    pairs
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

#[cfg(test)]
mod future_size {
    /// Every call's future is moved as it starts, so its size is paid on every call: a layer that holds one
    /// more copy of the request, or awaits a captured future, shows here first.
    #[test]
    fn a_call_future_stays_small() {
        let client = super::Client::from_json(
            r#"{"base_url":"http://127.0.0.1:9","personal":{"type":"pat","token":"pat_x"}}"#,
        )
        .unwrap();
        let call = client.request(crate::Request::get("/v1/bots/1"));
        let size = std::mem::size_of_val(&call);
        assert!(size <= 3 * 1024, "a call's future is {size} bytes");
    }
}
