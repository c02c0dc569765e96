//! The wire: one reqwest client, per-attempt timeouts, and the token endpoint exchange.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rand::Rng;
use reqwest::header::{
    AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT,
};

use crate::classify::{self, Outcome};
use crate::config::Config;
use crate::decide::{Action, AttemptState, Observed, Purpose, decide};
use crate::error::{Error, ErrorKind, Result};
use crate::metrics::Metrics;
use crate::redact::Secret;
use crate::runtime::ForkLocal;
use crate::util::unix_now;

/// A request ready to send, as many times as needed.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub(crate) method: reqwest::Method,
    pub(crate) url: url::Url,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Bytes>,
    pub(crate) idempotent: bool,
}

/// How many bytes of answers one call may still download: `limit` (the config key `name`) less `used`, the
/// bodies this call already downloaded (a retry downloads the body again).
pub(crate) struct ByteCap {
    pub(crate) limit: u64,
    pub(crate) used: u64,
    pub(crate) name: &'static str,
}

/// A token endpoint's answer is a few hundred bytes; 1 MiB is far beyond any real one.
pub(crate) const TOKEN_ANSWER_CAP: ByteCap = ByteCap {
    limit: 1 << 20,
    used: 0,
    name: "the token answer limit",
};

impl ByteCap {
    fn exceeded(&self) -> Error {
        Error::transport(if self.used == 0 {
            format!(
                "the response body is larger than {} ({} bytes)",
                self.name, self.limit
            )
        } else {
            format!(
                "the response bodies of this call, retries included, add up to more than {} ({} bytes)",
                self.name, self.limit
            )
        })
    }
}

/// Why a body could not be read.
pub(crate) enum BodyError {
    /// Past the [`ByteCap`]: final, never retried.
    Limit(Error),
    /// The connection broke or stalled: a retry may help.
    Other(Error),
}

impl BodyError {
    pub(crate) fn into_error(self) -> Error {
        match self {
            BodyError::Limit(e) | BodyError::Other(e) => e,
        }
    }
}

/// Shared HTTP machinery of one client.
pub(crate) struct Http {
    /// The connection pool, bound to the runtime it was used on: a forked child builds its own.
    client: ForkLocal<Result<reqwest::Client>>,
    /// Builds a pool like `client` for a thread that drives its own calls ([`crate::caller`]); its liveness
    /// is what the thread's pools are keyed by.
    thread_pool: Arc<PoolBuilder>,
    pub(crate) base: String,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) first_byte: Duration,
    pub(crate) idle: Duration,
    pub(crate) max_retries: u32,
    pub(crate) base_delay: Duration,
    pub(crate) max_delay: Duration,
}

impl Http {
    pub(crate) fn new(config: &Config, base: &url::Url, metrics: Arc<Metrics>) -> Result<Self> {
        let origin = base.origin();
        let extra_roots = crate::tls::extra_roots(&config.tls, |name| std::env::var_os(name))?;
        let client = reqwest::Client::builder()
            .tls_certs_merge(extra_roots)
            .connect_timeout(Duration::from_millis(config.timeouts.connect_ms))
            .default_headers(default_headers())
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            // Follow a redirect only within the configured origin: the bearer token must never leave it.
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= 5 || attempt.url().origin() != origin {
                    attempt.stop()
                } else {
                    attempt.follow()
                }
            }))
            .build()
            .map_err(|e| crate::tls::build_error(&e))?;
        Ok(Http {
            client: ForkLocal::new(Ok(client), rebuild_client(config, base, &metrics)),
            thread_pool: Arc::new(PoolBuilder::new(Box::new(rebuild_client(
                config, base, &metrics,
            )))),
            base: base.as_str().trim_end_matches('/').to_string(),
            metrics,
            first_byte: Duration::from_millis(config.timeouts.first_byte_ms),
            idle: Duration::from_millis(config.timeouts.idle_ms),
            max_retries: config.retry.max_retries,
            base_delay: Duration::from_millis(config.retry.base_delay_ms),
            max_delay: Duration::from_millis(config.retry.max_delay_ms),
        })
    }

    /// Whether this thread has a connection pool of its own for this client, taking a spare built ahead when
    /// there is one; when there is none, one starts building off the call path and the call goes to the shared
    /// runtime ([`crate::caller`]).
    pub(crate) fn thread_pool_ready(&self) -> bool {
        if find_thread_pool(&self.thread_pool).is_some() {
            return true;
        }
        match self.thread_pool.take_spare() {
            Some(client) => {
                keep_thread_pool(&self.thread_pool, client);
                true
            }
            None => false,
        }
    }

    /// The connection pool for the current call: this process's (a forked child's is built on first use), or,
    /// for a call its own thread drives ([`crate::caller`]), that thread's.
    pub(crate) fn client(&self) -> Result<reqwest::Client> {
        if crate::caller::driving_here() {
            // Never the process's pool here: a connection opened on this thread's runtime is polled only
            // while this thread drives a call, so no other thread may be handed it.
            return thread_pool(&self.thread_pool);
        }
        self.client.get().clone()
    }

    /// Sends once and waits for the response head, within the first-byte limit and the deadline.
    /// `authorization` is the token's prebuilt `Bearer` value (`None`: a token no header can carry, an error).
    pub(crate) async fn send(
        &self,
        prep: &Prepared,
        authorization: Option<&HeaderValue>,
        deadline: Instant,
    ) -> Result<reqwest::Response> {
        let client = self.client()?;
        // A request built whole: the builder would merge a copy of the headers into its own map.
        let mut request = reqwest::Request::new(prep.method.clone(), prep.url.clone());
        let headers = request.headers_mut();
        headers.clone_from(&prep.headers);
        headers.insert(
            AUTHORIZATION,
            authorization.cloned().ok_or_else(unsendable_token)?,
        );
        if let Some(body) = &prep.body {
            *request.body_mut() = Some(body.clone().into());
        }
        let limit = self
            .first_byte
            .min(deadline.saturating_duration_since(Instant::now()));
        match tokio::time::timeout(limit, client.execute(request)).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => Err(transport_error(&e)),
            Err(_) => Err(Error::timeout(if limit < self.first_byte {
                "the overall deadline passed while waiting for the response".to_string()
            } else {
                format!(
                    "no response within the first-byte timeout of {} ms",
                    self.first_byte.as_millis()
                )
            })),
        }
    }

    /// Reads a whole body, each chunk within the idle limit, all before the deadline, and at most what `cap`
    /// has left. Going past the cap is [`BodyError::Limit`]: downloading again would not help.
    pub(crate) async fn read_body(
        &self,
        resp: &mut reqwest::Response,
        deadline: Instant,
        cap: &ByteCap,
    ) -> std::result::Result<Bytes, BodyError> {
        let mut out: Option<Vec<u8>> = None;
        let mut first: Option<Bytes> = None;
        loop {
            let limit = || {
                self.idle
                    .min(deadline.saturating_duration_since(Instant::now()))
            };
            match within(limit, resp.chunk()).await {
                Ok(Ok(Some(chunk))) => {
                    let held =
                        out.as_ref().map_or(0, Vec::len) + first.as_ref().map_or(0, Bytes::len);
                    if cap.used + (held + chunk.len()) as u64 > cap.limit {
                        return Err(BodyError::Limit(cap.exceeded()));
                    }
                    // Most Coze answers arrive in one chunk: keep it as is and copy only from the second on.
                    match (&mut out, first.take()) {
                        (Some(buf), _) => buf.extend_from_slice(&chunk),
                        (None, None) => first = Some(chunk),
                        (None, Some(head)) => {
                            let mut buf = head.to_vec();
                            buf.extend_from_slice(&chunk);
                            out = Some(buf);
                        }
                    }
                }
                Ok(Ok(None)) => return Ok(out.map(Bytes::from).or(first).unwrap_or_default()),
                Ok(Err(e)) => return Err(BodyError::Other(transport_error(&e))),
                Err(_) => {
                    return Err(BodyError::Other(Error::timeout(
                        "the response body stalled past the idle timeout or the deadline",
                    )));
                }
            }
        }
    }

    /// Exchanges at a token endpoint, retrying what the decision table calls transient for an exchange.
    /// `bearer` is called per attempt (a JWT is single use); an empty bearer sends no Authorization header.
    pub(crate) async fn token_exchange(
        &self,
        path: &str,
        bearer_for_attempt: impl Fn() -> Result<Secret>,
        body: serde_json::Value,
    ) -> Result<Minted> {
        let url = format!("{}{}", self.base, path);
        let body = Bytes::from(body.to_string());
        let no_fallback = HashSet::new();
        let mut retries = 0;
        loop {
            let (seen, got) = self
                .exchange_once(&url, &bearer_for_attempt()?, &body)
                .await?;
            let state = AttemptState {
                purpose: Purpose::TokenExchange,
                idempotent: true,
                replayable: true,
                retries_left: self.max_retries.saturating_sub(retries),
                renewable: false,
                renewed: false,
                obo: false,
                token_expiring: false,
                token_old: false,
                fallback_codes: &no_fallback,
            };
            match (decide(&seen, &state), got) {
                (Action::Deliver, Ok((bytes, logid))) => return parse_minted(&bytes, logid),
                (Action::Retry { after }, _) => {
                    retries += 1;
                    tokio::time::sleep(self.backoff(retries, after)).await;
                }
                (_, Err(mut err)) => {
                    err.message = format!("token request to {path} failed: {}", err.message);
                    return Err(err);
                }
                (_, Ok(_)) => {
                    return Err(Error::internal(
                        "a token answer neither delivered nor failed",
                    ));
                }
            }
        }
    }

    /// One POST to a token endpoint: what happened, and the answer's body and log id (or the error).
    /// `Err` only for a request that cannot be built (no try was made).
    async fn exchange_once(
        &self,
        url: &str,
        token: &Secret,
        body: &Bytes,
    ) -> Result<(
        Observed,
        std::result::Result<(Bytes, Option<String>), Error>,
    )> {
        let deadline = Instant::now() + self.first_byte;
        let mut req = self
            .client()?
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(body.clone());
        if !token.is_empty() {
            req = req.header(AUTHORIZATION, bearer(token)?);
        }
        let mut resp = match tokio::time::timeout(self.first_byte, req.send()).await {
            Ok(Ok(resp)) => resp,
            Ok(Err(e)) => {
                let err = transport_error(&e);
                let seen = Observed::NoAnswer {
                    sent: !is_connect_error(&err),
                    cancelled: false,
                };
                return Ok((seen, Err(err)));
            }
            Err(_) => {
                let err = Error::timeout(format!(
                    "the token endpoint gave no answer within {} ms",
                    self.first_byte.as_millis()
                ));
                let seen = Observed::NoAnswer {
                    sent: true,
                    cancelled: false,
                };
                return Ok((seen, Err(err)));
            }
        };
        let status = resp.status().as_u16();
        let retry_after = header_str(resp.headers(), "retry-after");
        let logid_header = header_str(resp.headers(), "x-tt-logid");
        let bytes = match self.read_body(&mut resp, deadline, &TOKEN_ANSWER_CAP).await {
            Ok(bytes) => bytes,
            Err(e) => {
                let over_limit = matches!(e, BodyError::Limit(_));
                return Ok((Observed::BrokenBody { over_limit }, Err(e.into_error())));
            }
        };
        let outcome = classify::classify(status, &bytes);
        let logid = classify::logid(logid_header.as_deref(), &bytes);
        if outcome == Outcome::Success {
            return Ok((answer(status, outcome, None), Ok((bytes, logid))));
        }
        let mut err = classify::to_error(&outcome, status, logid, &bytes);
        err.kind = ErrorKind::Auth;
        let retry_after = retry_after.and_then(|v| classify::parse_retry_after(&v, unix_now()));
        Ok((answer(status, outcome, retry_after), Err(err)))
    }

    /// Exponential backoff with full jitter; a server's Retry-After wins when longer.
    pub(crate) fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1 << attempt.min(16))
            .min(self.max_delay);
        let jittered = ceiling.mul_f64(rand::rng().random_range(0.0..=1.0));
        retry_after.map_or(jittered, |r| r.max(jittered))
    }
}

/// How a forked child makes its own connection pool: the same settings, a new client.
fn rebuild_client(
    config: &Config,
    base: &url::Url,
    metrics: &Arc<Metrics>,
) -> impl Fn(&Result<reqwest::Client>) -> Result<reqwest::Client> + Send + Sync + 'static {
    let (config, base, metrics) = (config.clone(), base.clone(), metrics.clone());
    move |_parent| {
        let fresh = Http::new(&config, &base, metrics.clone())?;
        fresh.client.get().clone()
    }
}

/// Builds connection pools with a client's settings for threads that drive their own calls, one spare ahead and
/// off the call path: building one reads the trust store, which is slow (seconds under valgrind) and could not be
/// cancelled inside a call.
struct PoolBuilder {
    build: Box<BuildPool>,
    /// A pool built ahead, and the fork generation it was built in.
    spare: std::sync::Mutex<Option<(u64, reqwest::Client)>>,
    building: std::sync::atomic::AtomicBool,
}

/// Makes a pool from the parent process's one (which a fresh build ignores).
type BuildPool = dyn Fn(&Result<reqwest::Client>) -> Result<reqwest::Client> + Send + Sync;

impl PoolBuilder {
    fn new(build: Box<BuildPool>) -> Self {
        PoolBuilder {
            build,
            spare: std::sync::Mutex::new(None),
            building: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn build_now(&self) -> Result<reqwest::Client> {
        (self.build)(&Err(Error::internal("no parent pool")))
    }

    /// The spare built in this process, if one is ready; a new one starts building either way.
    fn take_spare(self: &Arc<Self>) -> Option<reqwest::Client> {
        let now = crate::runtime::fork_generation();
        let taken = match self.spare.try_lock().ok().and_then(|mut s| s.take()) {
            Some((generation, client)) if generation == now => Some(client),
            // Built before a fork: its (empty) pool is the parent's; leaked, never dropped.
            stale => {
                std::mem::forget(stale);
                None
            }
        };
        self.build_spare();
        taken
    }

    fn build_spare(self: &Arc<Self>) {
        use std::sync::atomic::Ordering;
        if self.building.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        crate::runtime::runtime().spawn_blocking(move || {
            let generation = crate::runtime::fork_generation();
            if let Ok(client) = me.build_now()
                && let Ok(mut spare) = me.spare.lock()
            {
                *spare = Some((generation, client));
            }
            me.building.store(false, Ordering::Release);
        });
    }
}

/// One client's connection pool on one thread.
struct ThreadPool {
    owner: std::sync::Weak<PoolBuilder>,
    generation: u64,
    client: reqwest::Client,
}

/// Pools kept per thread at most: a thread serving more clients than this rebuilds the oldest one's.
const THREAD_POOLS_MAX: usize = 16;

thread_local! {
    static THREAD_POOLS: std::cell::RefCell<Vec<ThreadPool>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// This thread's pool for the client whose builder is `owner`, if it has one.
fn find_thread_pool(owner: &Arc<PoolBuilder>) -> Option<reqwest::Client> {
    let now = crate::runtime::fork_generation();
    THREAD_POOLS
        .try_with(|pools| {
            pools
                .borrow()
                .iter()
                .find(|p| p.generation == now && std::ptr::eq(p.owner.as_ptr(), Arc::as_ptr(owner)))
                .map(|p| p.client.clone())
        })
        .ok()
        .flatten()
}

/// Keeps `client` as this thread's pool for `owner`.
fn keep_thread_pool(owner: &Arc<PoolBuilder>, client: reqwest::Client) {
    let now = crate::runtime::fork_generation();
    let _ = THREAD_POOLS.try_with(|pools| {
        let mut pools = pools.borrow_mut();
        // A parent's pools are leaked in a forked child (their sockets are the parent's); dead clients' pools
        // are dropped.
        let (mine, others): (Vec<_>, Vec<_>) = pools.drain(..).partition(|p| p.generation == now);
        std::mem::forget(others);
        pools.extend(mine.into_iter().filter(|p| p.owner.strong_count() > 0));
        if pools.len() >= THREAD_POOLS_MAX {
            pools.remove(0);
        }
        pools.push(ThreadPool {
            owner: Arc::downgrade(owner),
            generation: now,
            client,
        });
    });
}

/// This thread's pool for `owner`, built here only if [`Http::thread_pool_ready`] did not give it one.
fn thread_pool(owner: &Arc<PoolBuilder>) -> Result<reqwest::Client> {
    if let Some(client) = find_thread_pool(owner) {
        return Ok(client);
    }
    let client = owner.build_now()?;
    keep_thread_pool(owner, client.clone());
    Ok(client)
}

/// A whole token answer for the table (a token answer is never a stream, and its JSON is checked after).
fn answer(status: u16, outcome: Outcome, retry_after: Option<Duration>) -> Observed {
    Observed::Answer {
        status,
        outcome,
        broken_json: false,
        wrong_shape: false,
        retry_after,
    }
}

/// What a token endpoint handed back.
pub(crate) struct Minted {
    pub(crate) access_token: Secret,
    pub(crate) expires_at: SystemTime,
    pub(crate) refresh_token: Option<Secret>,
}

fn parse_minted(body: &[u8], logid: Option<String>) -> Result<Minted> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        let mut err = Error::new(
            ErrorKind::Auth,
            format!("the token endpoint answered something that is not JSON: {e}"),
        );
        err.logid = logid.clone();
        err
    })?;
    let Some(access_token) = v
        .get("access_token")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
    else {
        let mut err = Error::new(
            ErrorKind::Auth,
            "the token endpoint answered without an access_token",
        );
        err.logid = logid;
        return Err(err);
    };
    let now = unix_now();
    let expires_in = v
        .get("expires_in")
        .and_then(|e| e.as_u64())
        .unwrap_or(now + 900);
    // Coze sends an absolute Unix time; tolerate a server that sends a duration instead.
    let expires_at = if expires_in < 1_000_000_000 {
        now + expires_in
    } else {
        expires_in
    };
    Ok(Minted {
        access_token: Secret::new(access_token),
        // A server's absurd `expires_in` must not overflow the clock.
        expires_at: UNIX_EPOCH + Duration::from_secs(expires_at.min(crate::limits::MAX_UNIX_TIME)),
        refresh_token: v
            .get("refresh_token")
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .map(Secret::new),
    })
}

pub(crate) fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `fut` within `limit()`; a future ready at once (a body read together with its head) builds no timer and
/// reads no clock.
async fn within<F: std::future::Future>(
    limit: impl FnOnce() -> Duration,
    fut: F,
) -> std::result::Result<F::Output, tokio::time::error::Elapsed> {
    let mut fut = std::pin::pin!(fut);
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx))).await;
    match first {
        std::task::Poll::Ready(out) => Ok(out),
        std::task::Poll::Pending => tokio::time::timeout(limit(), fut).await,
    }
}

/// `Bearer <token>` as a sensitive header value (kept out of debug output); `None` when the token holds
/// characters a header cannot carry.
pub(crate) fn bearer_header(token: &Secret) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose())).ok()?;
    value.set_sensitive(true);
    Some(value)
}

fn bearer(token: &Secret) -> Result<HeaderValue> {
    bearer_header(token).ok_or_else(unsendable_token)
}

fn unsendable_token() -> Error {
    Error::new(
        ErrorKind::Auth,
        "the token contains characters not allowed in a header",
    )
}

/// Whether a transport error happened before the request could reach the server (safe to retry any method).
pub(crate) fn is_connect_error(err: &Error) -> bool {
    err.kind == ErrorKind::Transport && err.message.starts_with("could not connect")
}

pub(crate) fn transport_error(e: &reqwest::Error) -> Error {
    // A refused certificate is not transient: its own words, and no "could not connect" (which is retried).
    if let Some(tls) = crate::tls::describe_failure(e) {
        return Error::transport(tls);
    }
    // reqwest's Display may include the URL but never headers; walk the sources for the root cause.
    let mut cause = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    let detail = if cause.is_empty() {
        e.to_string()
    } else {
        format!("{e}: {cause}")
    };
    if e.is_timeout() {
        Error::timeout(format!("timed out: {detail}"))
    } else if e.is_connect() {
        Error::transport(format!("could not connect: {detail}"))
    } else {
        Error::transport(format!("connection failed: {detail}"))
    }
}

fn default_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    let version = env!("CARGO_PKG_VERSION");
    h.insert(
        USER_AGENT,
        HeaderValue::from_str(&format!("cozefallback/{version}")).expect("static header"),
    );
    let client_ua = serde_json::json!({
        "version": version,
        "lang": "rust",
        "lang_version": "",
        "os_name": std::env::consts::OS,
        "os_version": "",
    });
    if let Ok(v) = HeaderValue::from_str(&client_ua.to_string()) {
        h.insert(HeaderName::from_static("x-coze-client-user-agent"), v);
    }
    h
}
