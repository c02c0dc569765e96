//! The Redis store: a background driver keeps this process's tables current, and this process's decisions
//! reach the fleet. Nothing on the hot path waits for it (docs/FLEET.md).
//!
//! Keys (all under `key_prefix`):
//! - `mode`: `MODE|UNIX_MS|ORIGIN`, the fleet's routing mode and when it was set (newest wins);
//! - `route:FIELD:ID`: the credential a resource lives with, expiring with the route's TTL;
//! - `conv:ID`: a carried-over conversation (`{"to":..,"n":..,"c":..}`), and `claim:ID` while one is carried;
//! - `token:HASH` and `mint:HASH` (only with `share_tokens`): a shared token and its single-flight lock.
//!
//! One channel, `events`, carries every change as JSON (`{"o":ORIGIN,"t":"mode"|"route"|"conv",..}`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ::redis::aio::MultiplexedConnection;
use ::redis::{AsyncConnectionConfig, Value as RValue};
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::{RedisUrl, StateConfig, scrub};
use crate::client::Inner;
use crate::credential::{CredentialKind, Mode};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::redact::Secret;
use crate::runtime::{ForkLocal, ForkMutex, fork_mutex};
use crate::util::lock;

/// Connecting (TCP, TLS, AUTH, SELECT) gives up after this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// One command gives up after this: Redis must never hold a call for long.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(1000);
/// The safety net under publish/subscribe: the mode is read again this often.
const MODE_REREAD: Duration = Duration::from_millis(500);
/// A new client waits at most this long for its first look at the store (the fleet's mode).
const FIRST_SYNC_WAIT: Duration = Duration::from_millis(1500);
/// Reconnect backoff bounds.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Writes kept while Redis is unreachable (the oldest go first past this).
const MAX_QUEUED: usize = 10_000;
/// Writes sent per pipeline.
const BATCH: usize = 256;
/// A process that lost a claim polls for the winner's result this often.
const POLL: Duration = Duration::from_millis(50);
/// How long a token mint lock is held at most (a crashed minter frees it by expiry).
const MINT_LOCK: Duration = Duration::from_secs(15);
/// How long a process waits for another's mint before minting itself.
const MINT_WAIT: Duration = Duration::from_secs(5);
/// Conversation carry-overs are kept this long.
const CONV_TTL: Duration = Duration::from_secs(7 * 86_400);

/// Sets the mode only if the stored one is not newer (KEYS: mode, channel; ARGV: value, at, event).
const SET_MODE_IF_NEWER: &str = r#"
local cur = redis.call('GET', KEYS[1])
if cur then
  local at = tonumber(string.match(cur, '^[^|]*|(%d+)'))
  if at and at > tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('PUBLISH', KEYS[2], ARGV[3])
return 1
"#;

/// A mode and when it was chosen (0: the configured mode, older than any set one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ModeStamp {
    pub(crate) mode: Mode,
    pub(crate) at_ms: u64,
    origin: String,
}

impl ModeStamp {
    fn encode(&self) -> String {
        format!("{}|{}|{}", self.mode.as_str(), self.at_ms, self.origin)
    }
    fn decode(text: &str) -> Option<ModeStamp> {
        let mut parts = text.splitn(3, '|');
        let mode = parts.next()?.parse().ok()?;
        let at_ms = parts.next()?.parse().ok()?;
        let origin = parts.next().unwrap_or("").to_string();
        Some(ModeStamp {
            mode,
            at_ms,
            origin,
        })
    }
}

/// A learned route on its way to Redis.
struct RouteWrite {
    field: &'static str,
    id: String,
    credential: CredentialKind,
    ttl: Duration,
}

/// What another process carried a conversation over to.
#[derive(Clone, Debug)]
pub(crate) struct Carried {
    pub(crate) to: String,
    pub(crate) messages_copied: u32,
    pub(crate) credential: CredentialKind,
}

/// How a carry-over goes across the fleet.
pub(crate) enum Claim {
    /// This process carries it; report with [`RedisStore::carried`] or [`RedisStore::release`].
    Won,
    /// Another process carried it already (or while this one waited).
    Done(Carried),
    /// Redis cannot tell: carry it over locally.
    Unavailable,
}

/// A token kept in Redis for the fleet (`share_tokens`).
#[derive(Clone)]
pub(crate) struct SharedToken {
    pub(crate) access: Secret,
    pub(crate) refresh: Option<Secret>,
    pub(crate) minted_at: SystemTime,
    pub(crate) expires_at: SystemTime,
}

/// What the token cache does next.
pub(crate) enum TokenStep {
    /// Use the fleet's token.
    Adopt(SharedToken),
    /// Mint one; `locked` when this process holds the fleet's mint lock.
    Mint { locked: bool },
}

/// The shared store of one client.
pub(crate) struct RedisStore {
    client: ::redis::Client,
    url: RedisUrl,
    prefix: String,
    pub(crate) share_tokens: bool,
    metrics: Arc<Metrics>,
    /// The mode in force here and its stamp (a forked child starts from its parent's).
    local_mode: ForkMutex<Option<ModeStamp>>,
    /// The client the driver keeps current (set by `start`).
    inner: ForkMutex<Option<Weak<Inner>>>,
    /// What belongs to one process: connections, the write queue, the driver. A forked child gets a fresh one
    /// and starts its own driver on first use (docs/RUNTIME.md).
    here: ForkLocal<Here>,
    born: u64,
}

/// One process's side of the store.
struct Here {
    /// This process's id in events, so it ignores its own.
    origin: String,
    up: AtomicBool,
    conn: Mutex<Option<MultiplexedConnection>>,
    /// Redis has not got this process's `set_mode` yet.
    mode_dirty: AtomicBool,
    queue: Mutex<VecDeque<RouteWrite>>,
    wake: tokio::sync::Notify,
    first_sync: (Mutex<bool>, Condvar),
    driving: AtomicBool,
}

impl Here {
    fn new() -> Here {
        let mut raw = [0u8; 8];
        crate::runtime::fill_unique(&mut raw);
        Here {
            origin: format!("{}-{}", std::process::id(), hex::encode(raw)),
            up: AtomicBool::new(false),
            conn: Mutex::new(None),
            mode_dirty: AtomicBool::new(false),
            queue: Mutex::new(VecDeque::new()),
            wake: tokio::sync::Notify::new(),
            first_sync: (Mutex::new(false), Condvar::new()),
            driving: AtomicBool::new(false),
        }
    }
}

impl RedisStore {
    pub(crate) fn new(
        url: RedisUrl,
        cfg: &StateConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Self>> {
        let client = ::redis::Client::open(url.expose()).map_err(|e| {
            Error::config(
                "state.redis_url",
                format!("{url} is not usable: {}", scrub(&e.to_string(), &url)),
            )
        })?;
        metrics.state_store_configured();
        Ok(Arc::new(RedisStore {
            client,
            url,
            prefix: cfg.key_prefix.clone(),
            share_tokens: cfg.share_tokens,
            metrics,
            local_mode: fork_mutex(None),
            inner: fork_mutex(None),
            here: ForkLocal::new(Here::new(), |_| Here::new()),
            born: crate::runtime::fork_generation(),
        }))
    }

    /// Starts the background driver for `inner` and waits (bounded) for its first look at the store, so a new
    /// process starts in the fleet's mode.
    pub(crate) fn start(self: &Arc<Self>, inner: Weak<Inner>, configured: Mode) {
        *lock(&self.local_mode) = Some(ModeStamp {
            mode: configured,
            at_ms: 0,
            origin: self.here().origin.clone(),
        });
        *lock(&self.inner) = Some(inner);
        self.spawn_driver();
        let (done, cv) = &self.here().first_sync;
        let guard = lock(done);
        let _ = cv.wait_timeout_while(guard, FIRST_SYNC_WAIT, |d| !*d);
    }

    /// In a forked child, the parent's driver did not survive: start this process's own (once; never waits).
    /// One atomic load in the process that built the client.
    #[inline]
    pub(crate) fn ensure_driver(self: &Arc<Self>) {
        if crate::runtime::fork_generation() != self.born {
            self.spawn_driver();
        }
    }

    fn spawn_driver(self: &Arc<Self>) {
        if self.here().driving.swap(true, Ordering::AcqRel) {
            return;
        }
        let Some(inner) = lock(&self.inner).clone() else {
            return;
        };
        let store = self.clone();
        crate::runtime::runtime().spawn(async move { store.drive(inner).await });
    }

    fn here(&self) -> &Here {
        self.here.get()
    }

    /// Whether the store is connected now.
    pub(crate) fn is_up(&self) -> bool {
        self.here().up.load(Ordering::Relaxed)
    }

    fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    fn channel(&self) -> String {
        self.key("events")
    }

    fn first_sync_done(&self) {
        let (done, cv) = &self.here().first_sync;
        *lock(done) = true;
        cv.notify_all();
    }

    // ---- what the client tells the store (never blocking) ----

    /// `set_mode` ran in this process: the fleet gets it (now, or when Redis is back if newer).
    pub(crate) fn mode_set(&self, mode: Mode) {
        *lock(&self.local_mode) = Some(ModeStamp {
            mode,
            at_ms: unix_ms(),
            origin: self.here().origin.clone(),
        });
        self.here().mode_dirty.store(true, Ordering::Release);
        self.here().wake.notify_one();
    }

    /// A route was learned (or a conversation bound) here: queue it for the fleet.
    pub(crate) fn route_learned(
        &self,
        field: &'static str,
        id: &str,
        credential: CredentialKind,
        ttl: Duration,
    ) {
        let mut q = lock(&self.here().queue);
        if q.len() >= MAX_QUEUED {
            q.pop_front();
        }
        q.push_back(RouteWrite {
            field,
            id: id.to_string(),
            credential,
            ttl,
        });
        drop(q);
        self.here().wake.notify_one();
    }

    // ---- the driver ----

    async fn drive(self: Arc<Self>, inner: Weak<Inner>) {
        let mut backoff = BACKOFF_MIN;
        let mut reported = false;
        loop {
            if inner.strong_count() == 0 {
                return;
            }
            let mut connected = false;
            let ended = self.session(&inner, &mut connected).await;
            *lock(&self.here().conn) = None;
            let was_up = self.here().up.swap(false, Ordering::AcqRel);
            self.metrics.state_up(false);
            match ended {
                Ok(()) => return, // the client is gone
                Err(e) => {
                    self.metrics.state_error();
                    let e = scrub(&e, &self.url);
                    if was_up {
                        tracing::warn!(url = %self.url, error = %e, "lost the Redis state store: serving from local state, reconnecting");
                    } else if !reported {
                        tracing::warn!(url = %self.url, error = %e, "cannot reach the Redis state store: serving from local state, retrying in the background");
                    } else {
                        tracing::debug!(url = %self.url, error = %e, "Redis state store still unreachable");
                    }
                    reported = true;
                }
            }
            self.first_sync_done();
            if connected {
                backoff = BACKOFF_MIN;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// One connection's life: subscribe, catch up, then follow events and flush writes until an error.
    async fn session(
        &self,
        inner: &Weak<Inner>,
        connected: &mut bool,
    ) -> std::result::Result<(), String> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT));
        let mut conn = bounded(
            CONNECT_TIMEOUT * 2,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await?;
        let mut pubsub = bounded(CONNECT_TIMEOUT * 2, self.client.get_async_pubsub()).await?;
        bounded(COMMAND_TIMEOUT, pubsub.subscribe(self.channel())).await?;
        *connected = true;
        *lock(&self.here().conn) = Some(conn.clone());
        self.catch_up(&mut conn, inner).await?;
        self.here().up.store(true, Ordering::Release);
        self.metrics.state_up(true);
        tracing::info!(url = %self.url, prefix = %self.prefix, "connected to the Redis state store");
        self.first_sync_done();
        let mut events = pubsub.into_on_message();
        let mut tick = tokio::time::interval(MODE_REREAD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = events.next() => match msg {
                    Some(m) => {
                        let Some(inner) = inner.upgrade() else { return Ok(()) };
                        if let Ok(text) = m.get_payload::<String>() {
                            self.apply_event(&text, &inner);
                        }
                    }
                    None => return Err("the subscription connection closed".into()),
                },
                _ = self.here().wake.notified() => self.flush(&mut conn).await?,
                _ = tick.tick() => {
                    let Some(inner) = inner.upgrade() else { return Ok(()) };
                    self.flush(&mut conn).await?;
                    self.reread_mode(&mut conn, &inner).await?;
                }
            }
        }
    }

    /// On (re)connect: reconcile the mode, then load the routes and carry-overs others learned meanwhile.
    async fn catch_up(
        &self,
        conn: &mut MultiplexedConnection,
        inner: &Weak<Inner>,
    ) -> std::result::Result<(), String> {
        let Some(inner) = inner.upgrade() else {
            return Ok(());
        };
        let stored = self.stored_mode(conn).await?;
        let local = lock(&self.local_mode).clone();
        let local_at = local.as_ref().map_or(0, |l| l.at_ms);
        match stored {
            // The reconcile rule: the newest stamp wins. A mode set here while Redis was down is published if it
            // is newer than the stored one; otherwise the stored one is adopted.
            Some(s) if s.at_ms > local_at => {
                self.here().mode_dirty.store(false, Ordering::Release);
                self.adopt_mode(&inner, s, "the fleet's mode in Redis", false);
            }
            _ if local_at > 0 => self.here().mode_dirty.store(true, Ordering::Release),
            _ => {}
        }
        self.flush(conn).await?;
        self.load_routes(conn, &inner).await?;
        self.load_carried(conn, &inner).await?;
        Ok(())
    }

    async fn stored_mode(
        &self,
        conn: &mut MultiplexedConnection,
    ) -> std::result::Result<Option<ModeStamp>, String> {
        let v: Option<String> = cmd("GET")
            .arg(self.key("mode"))
            .query_async(conn)
            .await
            .map_err(|e| e.to_string())?;
        Ok(v.as_deref().and_then(ModeStamp::decode))
    }

    async fn reread_mode(
        &self,
        conn: &mut MultiplexedConnection,
        inner: &Arc<Inner>,
    ) -> std::result::Result<(), String> {
        if let Some(s) = self.stored_mode(conn).await? {
            let local_at = lock(&self.local_mode).as_ref().map_or(0, |l| l.at_ms);
            if s.at_ms > local_at {
                self.adopt_mode(inner, s, "the periodic re-read of the fleet's mode", true);
            }
        }
        Ok(())
    }

    /// Puts a mode from the fleet in force here (refused if it needs a credential this process lacks).
    /// `live`: a change happening now, whose lag is measured (not a stored mode read on connecting).
    fn adopt_mode(&self, inner: &Arc<Inner>, stamp: ModeStamp, via: &str, live: bool) {
        let before = inner.current_mode();
        if let Err(e) = inner.apply_fleet_mode(stamp.mode) {
            tracing::warn!(mode = %stamp.mode, error = %e, "the fleet's mode cannot apply to this process; keeping its own");
            *lock(&self.local_mode) = Some(stamp);
            return;
        }
        let lag = unix_ms().saturating_sub(stamp.at_ms);
        if live && stamp.at_ms > 0 {
            self.metrics.state_mode_lag(Duration::from_millis(lag));
        }
        if before != stamp.mode {
            tracing::info!(mode = %stamp.mode, previous = %before, lag_ms = lag, via, "adopted the fleet's routing mode");
        }
        *lock(&self.local_mode) = Some(stamp);
    }

    /// Sends the queued writes (and a mode set here), in pipelines; a failure keeps them for the next session.
    async fn flush(&self, conn: &mut MultiplexedConnection) -> std::result::Result<(), String> {
        if self.here().mode_dirty.swap(false, Ordering::AcqRel) {
            let stamp = lock(&self.local_mode).clone();
            if let Some(stamp) = stamp
                && let Err(e) = self.write_mode(conn, &stamp).await
            {
                self.here().mode_dirty.store(true, Ordering::Release);
                return Err(e);
            }
        }
        loop {
            let batch: Vec<RouteWrite> = {
                let mut q = lock(&self.here().queue);
                let n = q.len().min(BATCH);
                q.drain(..n).collect()
            };
            if batch.is_empty() {
                return Ok(());
            }
            let mut pipe = ::redis::pipe();
            for w in &batch {
                let ttl_ms = w.ttl.as_millis().max(1) as u64;
                pipe.cmd("SET")
                    .arg(self.key(&format!("route:{}:{}", w.field, w.id)))
                    .arg(w.credential.as_str())
                    .arg("PX")
                    .arg(ttl_ms)
                    .ignore();
                let event = json!({"o": self.here().origin, "t": "route", "f": w.field, "id": w.id,
                                   "c": w.credential.as_str(), "ttl": ttl_ms});
                pipe.cmd("PUBLISH")
                    .arg(self.channel())
                    .arg(event.to_string())
                    .ignore();
            }
            if let Err(e) = pipe.query_async::<()>(conn).await {
                let mut q = lock(&self.here().queue);
                for w in batch.into_iter().rev() {
                    q.push_front(w);
                }
                q.truncate(MAX_QUEUED);
                return Err(e.to_string());
            }
        }
    }

    async fn write_mode(
        &self,
        conn: &mut MultiplexedConnection,
        stamp: &ModeStamp,
    ) -> std::result::Result<(), String> {
        let event = json!({"o": self.here().origin, "t": "mode", "v": stamp.encode()});
        let written: i64 = cmd("EVAL")
            .arg(SET_MODE_IF_NEWER)
            .arg(2)
            .arg(self.key("mode"))
            .arg(self.channel())
            .arg(stamp.encode())
            .arg(stamp.at_ms)
            .arg(event.to_string())
            .query_async(conn)
            .await
            .map_err(|e| e.to_string())?;
        if written == 0 {
            tracing::info!(mode = %stamp.mode, "a newer mode is stored in Redis; this process's older set is not published");
        }
        Ok(())
    }

    fn apply_event(&self, text: &str, inner: &Arc<Inner>) {
        let Ok(ev) = serde_json::from_str::<Value>(text) else {
            return;
        };
        if ev["o"].as_str() == Some(self.here().origin.as_str()) {
            return;
        }
        match ev["t"].as_str() {
            Some("mode") => {
                if let Some(stamp) = ev["v"].as_str().and_then(ModeStamp::decode) {
                    let local_at = lock(&self.local_mode).as_ref().map_or(0, |l| l.at_ms);
                    if stamp.at_ms >= local_at {
                        self.adopt_mode(
                            inner,
                            stamp,
                            "a mode change published by another process",
                            true,
                        );
                    }
                }
            }
            Some("route") => {
                let (Some(field), Some(id), Some(c), Some(ttl)) = (
                    ev["f"].as_str(),
                    ev["id"].as_str(),
                    ev["c"].as_str().and_then(credential_named),
                    ev["ttl"].as_u64(),
                ) else {
                    return;
                };
                inner
                    .router
                    .apply_shared(field, id, c, Duration::from_millis(ttl));
            }
            Some("conv") => {
                if let (Some(from), Some(carried)) = (ev["from"].as_str(), carried_of(&ev)) {
                    inner.apply_shared_carry(from, &carried);
                }
            }
            _ => {}
        }
    }

    /// Every live route in Redis into the local table.
    async fn load_routes(
        &self,
        conn: &mut MultiplexedConnection,
        inner: &Arc<Inner>,
    ) -> std::result::Result<(), String> {
        let pattern = self.key("route:*");
        let strip = self.key("route:");
        self.scan(conn, &pattern, |key, value, pttl| {
            let rest = key.strip_prefix(&strip)?;
            let (field, id) = rest.split_once(':')?;
            let c = credential_named(value)?;
            if pttl > 0 {
                inner
                    .router
                    .apply_shared(field, id, c, Duration::from_millis(pttl as u64));
            }
            Some(())
        })
        .await
    }

    /// Every carry-over in Redis into the local map.
    async fn load_carried(
        &self,
        conn: &mut MultiplexedConnection,
        inner: &Arc<Inner>,
    ) -> std::result::Result<(), String> {
        let pattern = self.key("conv:*");
        let strip = self.key("conv:");
        self.scan(conn, &pattern, |key, value, _| {
            let from = key.strip_prefix(&strip)?;
            let v: Value = serde_json::from_str(value).ok()?;
            inner.apply_shared_carry(from, &carried_of(&v)?);
            Some(())
        })
        .await
    }

    /// SCAN for `pattern`, then GET and PTTL each key in one pipeline per page.
    async fn scan(
        &self,
        conn: &mut MultiplexedConnection,
        pattern: &str,
        mut each: impl FnMut(&str, &str, i64) -> Option<()>,
    ) -> std::result::Result<(), String> {
        let mut cursor: u64 = 0;
        let mut seen = 0usize;
        loop {
            let (next, keys): (u64, Vec<String>) = cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(conn)
                .await
                .map_err(|e| e.to_string())?;
            if !keys.is_empty() {
                let mut pipe = ::redis::pipe();
                for k in &keys {
                    pipe.cmd("GET").arg(k).cmd("PTTL").arg(k);
                }
                let values: Vec<RValue> =
                    pipe.query_async(conn).await.map_err(|e| e.to_string())?;
                for (k, pair) in keys.iter().zip(values.chunks(2)) {
                    if let [v, ttl] = pair
                        && let (Ok(v), Ok(ttl)) = (
                            ::redis::from_redis_value::<String>(v.clone()),
                            ::redis::from_redis_value::<i64>(ttl.clone()),
                        )
                    {
                        each(k, &v, ttl);
                    }
                }
                seen += keys.len();
            }
            cursor = next;
            if cursor == 0 || seen >= 200_000 {
                return Ok(());
            }
        }
    }

    // ---- carry-overs (not on the hot path: a stranded chat waits here within its deadline) ----

    fn connection(&self) -> Option<MultiplexedConnection> {
        if !self.is_up() {
            return None;
        }
        lock(&self.here().conn).clone()
    }

    /// Claims carrying `from` over for the fleet, or waits for the process that did. Bounded by the caller's
    /// deadline (the carry-over runs under the call's timeout) and by `hold`, the claim's own expiry.
    pub(crate) async fn claim_carry(&self, from: &str, hold: Duration) -> Claim {
        let Some(mut conn) = self.connection() else {
            return Claim::Unavailable;
        };
        let conv_key = self.key(&format!("conv:{from}"));
        let claim_key = self.key(&format!("claim:{from}"));
        loop {
            match self.carried_in(&mut conn, &conv_key).await {
                Ok(Some(c)) => return Claim::Done(c),
                Ok(None) => {}
                Err(()) => return Claim::Unavailable,
            }
            let won: std::result::Result<Option<String>, _> = cmd("SET")
                .arg(&claim_key)
                .arg(&self.here().origin)
                .arg("NX")
                .arg("PX")
                .arg(hold.as_millis().max(1) as u64)
                .query_async(&mut conn)
                .await;
            match won {
                // The previous winner may have stored its result and freed the claim between the read above and
                // this claim: look again before carrying it over a second time.
                Ok(Some(_)) => match self.carried_in(&mut conn, &conv_key).await {
                    Ok(Some(c)) => {
                        self.release(from).await;
                        return Claim::Done(c);
                    }
                    Ok(None) => return Claim::Won,
                    Err(()) => return Claim::Unavailable,
                },
                Ok(None) => {}
                Err(_) => return self.unavailable(),
            }
            // Another process carries it: wait for its result, or for its claim to go (it failed or died).
            loop {
                tokio::time::sleep(POLL).await;
                match self.carried_in(&mut conn, &conv_key).await {
                    Ok(Some(c)) => return Claim::Done(c),
                    Ok(None) => {}
                    Err(()) => return Claim::Unavailable,
                }
                let exists: std::result::Result<i64, _> =
                    cmd("EXISTS").arg(&claim_key).query_async(&mut conn).await;
                match exists {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(_) => return self.unavailable(),
                }
            }
        }
    }

    fn unavailable(&self) -> Claim {
        self.metrics.state_error();
        Claim::Unavailable
    }

    async fn carried_in(
        &self,
        conn: &mut MultiplexedConnection,
        key: &str,
    ) -> std::result::Result<Option<Carried>, ()> {
        let v: std::result::Result<Option<String>, _> = cmd("GET").arg(key).query_async(conn).await;
        match v {
            Ok(v) => Ok(v
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .and_then(|v| carried_of(&v))),
            Err(_) => {
                self.metrics.state_error();
                Err(())
            }
        }
    }

    /// The winner's result: stored, published to the fleet, and the claim freed.
    pub(crate) async fn carried(&self, from: &str, carried: &Carried) {
        let Some(mut conn) = self.connection() else {
            return;
        };
        let value = json!({"to": carried.to, "n": carried.messages_copied, "c": carried.credential.as_str()});
        let mut event = value.clone();
        event["o"] = json!(self.here().origin);
        event["t"] = json!("conv");
        event["from"] = json!(from);
        let mut pipe = ::redis::pipe();
        pipe.cmd("SET")
            .arg(self.key(&format!("conv:{from}")))
            .arg(value.to_string())
            .arg("PX")
            .arg(CONV_TTL.as_millis() as u64)
            .ignore()
            .cmd("PUBLISH")
            .arg(self.channel())
            .arg(event.to_string())
            .ignore()
            .cmd("DEL")
            .arg(self.key(&format!("claim:{from}")))
            .ignore();
        if pipe.query_async::<()>(&mut conn).await.is_err() {
            self.metrics.state_error();
        }
    }

    /// The winner failed: free the claim so another call may try.
    pub(crate) async fn release(&self, from: &str) {
        if let Some(mut conn) = self.connection() {
            let done: std::result::Result<(), _> = cmd("DEL")
                .arg(self.key(&format!("claim:{from}")))
                .query_async(&mut conn)
                .await;
            if done.is_err() {
                self.metrics.state_error();
            }
        }
    }

    // ---- shared tokens (`share_tokens`; inside the token cache's single flight, not on the hot path) ----

    /// The fleet's token for `id` if it is fresh (and not the one just rejected here), else whether to mint.
    pub(crate) async fn token_step(&self, id: &str, rejected: Option<&Secret>) -> TokenStep {
        let Some(mut conn) = self.connection() else {
            return TokenStep::Mint { locked: false };
        };
        let key = self.key(&format!("token:{id}"));
        let usable = |t: &SharedToken| Some(&t.access) != rejected && is_fresh(t);
        match self.read_token(&mut conn, &key).await {
            Ok(Some(t)) if usable(&t) => return TokenStep::Adopt(t),
            Ok(_) => {}
            Err(()) => return TokenStep::Mint { locked: false },
        }
        let won: std::result::Result<Option<String>, _> = cmd("SET")
            .arg(self.key(&format!("mint:{id}")))
            .arg(&self.here().origin)
            .arg("NX")
            .arg("PX")
            .arg(MINT_LOCK.as_millis() as u64)
            .query_async(&mut conn)
            .await;
        match won {
            // The previous minter may have stored its token and freed the lock since the read above.
            Ok(Some(_)) => {
                return match self.read_token(&mut conn, &key).await {
                    Ok(Some(t)) if usable(&t) => {
                        self.token_minted(id, &unstored(), true).await;
                        TokenStep::Adopt(t)
                    }
                    _ => TokenStep::Mint { locked: true },
                };
            }
            Ok(None) => {}
            Err(_) => {
                self.metrics.state_error();
                return TokenStep::Mint { locked: false };
            }
        }
        let until = Instant::now() + MINT_WAIT;
        while Instant::now() < until {
            tokio::time::sleep(POLL).await;
            match self.read_token(&mut conn, &key).await {
                Ok(Some(t)) if usable(&t) => return TokenStep::Adopt(t),
                Ok(_) => {}
                Err(()) => break,
            }
        }
        TokenStep::Mint { locked: false }
    }

    async fn read_token(
        &self,
        conn: &mut MultiplexedConnection,
        key: &str,
    ) -> std::result::Result<Option<SharedToken>, ()> {
        let v: std::result::Result<Option<String>, _> = cmd("GET").arg(key).query_async(conn).await;
        let Ok(v) = v else {
            self.metrics.state_error();
            return Err(());
        };
        Ok(v.and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| {
                Some(SharedToken {
                    access: Secret::new(v["a"].as_str()?),
                    refresh: v["r"].as_str().map(Secret::new),
                    minted_at: UNIX_EPOCH + Duration::from_millis(v["m"].as_u64()?),
                    expires_at: UNIX_EPOCH + Duration::from_millis(v["e"].as_u64()?),
                })
            }))
    }

    /// A token this process minted, for the fleet; it expires with the token. Frees the mint lock.
    pub(crate) async fn token_minted(&self, id: &str, token: &SharedToken, locked: bool) {
        let Some(mut conn) = self.connection() else {
            return;
        };
        let ms = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0)
        };
        let expires = ms(token.expires_at);
        let mut pipe = ::redis::pipe();
        if expires > unix_ms() {
            let value = json!({"a": token.access.expose(), "r": token.refresh.as_ref().map(Secret::expose),
                               "m": ms(token.minted_at), "e": expires});
            pipe.cmd("SET")
                .arg(self.key(&format!("token:{id}")))
                .arg(value.to_string())
                .arg("PXAT")
                .arg(expires)
                .ignore();
        }
        if locked {
            pipe.cmd("DEL")
                .arg(self.key(&format!("mint:{id}")))
                .ignore();
        }
        if pipe.query_async::<()>(&mut conn).await.is_err() {
            self.metrics.state_error();
        }
    }
}

/// Nothing to store: frees a mint lock only.
pub(crate) fn unstored() -> SharedToken {
    SharedToken {
        access: Secret::new(""),
        refresh: None,
        minted_at: UNIX_EPOCH,
        expires_at: UNIX_EPOCH,
    }
}

/// A shared token is fresh until the earliest point where a process would refresh it (min(60 s, 20% of its
/// life) before expiry, plus the cache's jitter of up to a quarter of that), so the fleet renews it once.
fn is_fresh(t: &SharedToken) -> bool {
    let life = t.expires_at.duration_since(t.minted_at).unwrap_or_default();
    let margin = Duration::from_secs(60).min(life / 5).mul_f64(1.25);
    SystemTime::now() + margin < t.expires_at
}

fn carried_of(v: &Value) -> Option<Carried> {
    Some(Carried {
        to: v["to"].as_str().filter(|s| !s.is_empty())?.to_string(),
        messages_copied: v["n"].as_u64().unwrap_or(0) as u32,
        credential: v["c"].as_str().and_then(credential_named)?,
    })
}

fn credential_named(s: &str) -> Option<CredentialKind> {
    match s {
        "personal" => Some(CredentialKind::Personal),
        "enterprise" => Some(CredentialKind::Enterprise),
        _ => None,
    }
}

fn cmd(name: &str) -> ::redis::Cmd {
    ::redis::cmd(name)
}

/// Milliseconds since the Unix epoch (the stamps compare across processes: keep the fleet's clocks in sync).
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A Redis future with an outer bound (the library's own timeouts cover most but not every step).
async fn bounded<T>(
    limit: Duration,
    fut: impl std::future::Future<Output = ::redis::RedisResult<T>>,
) -> std::result::Result<T, String> {
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} ms", limit.as_millis())),
    }
}

// ---- one-off access for operators (`cozefallback mode`), without a client ----

/// One short-lived connection, bounded like the store's own.
async fn operator_connection(cfg: &StateConfig) -> Result<(MultiplexedConnection, RedisUrl)> {
    let url = cfg.effective_url().ok_or_else(|| {
        Error::config(
            "state.redis_url",
            format!(
                "no Redis to ask: set state.redis_url or {}",
                super::REDIS_URL_ENV
            ),
        )
    })?;
    url.check("state.redis_url")?;
    let client = ::redis::Client::open(url.expose())
        .map_err(|e| Error::config("state.redis_url", scrub(&e.to_string(), &url)))?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(COMMAND_TIMEOUT));
    let conn = bounded(
        CONNECT_TIMEOUT * 2,
        client.get_multiplexed_async_connection_with_config(&config),
    )
    .await
    .map_err(|e| unreachable_error(&url, &e))?;
    Ok((conn, url))
}

fn unreachable_error(url: &RedisUrl, e: &str) -> Error {
    Error::transport(format!(
        "the Redis state store at {url} did not answer: {}",
        scrub(e, url)
    ))
}

/// The mode the fleet on `cfg`'s Redis and key prefix is in, and when it was set; `None` when no process or
/// operator ever set one (each process then uses its configured mode).
pub(crate) async fn read_fleet_mode(cfg: &StateConfig) -> Result<Option<super::FleetMode>> {
    let (mut conn, url) = operator_connection(cfg).await?;
    let v: Option<String> = cmd("GET")
        .arg(format!("{}mode", cfg.key_prefix))
        .query_async(&mut conn)
        .await
        .map_err(|e| unreachable_error(&url, &e.to_string()))?;
    Ok(v.as_deref()
        .and_then(ModeStamp::decode)
        .map(|s| super::FleetMode {
            mode: s.mode,
            set_at_unix_ms: s.at_ms,
        }))
}

/// Sets the fleet's mode (newest wins, as for `Client::set_mode`) and tells every process at once.
pub(crate) async fn write_fleet_mode(cfg: &StateConfig, mode: Mode) -> Result<super::FleetMode> {
    let (mut conn, url) = operator_connection(cfg).await?;
    let stamp = ModeStamp {
        mode,
        at_ms: unix_ms(),
        origin: format!("operator-{}", std::process::id()),
    };
    let event = json!({"o": stamp.origin, "t": "mode", "v": stamp.encode()});
    let written: i64 = cmd("EVAL")
        .arg(SET_MODE_IF_NEWER)
        .arg(2)
        .arg(format!("{}mode", cfg.key_prefix))
        .arg(format!("{}events", cfg.key_prefix))
        .arg(stamp.encode())
        .arg(stamp.at_ms)
        .arg(event.to_string())
        .query_async(&mut conn)
        .await
        .map_err(|e| unreachable_error(&url, &e.to_string()))?;
    if written == 0 {
        return Err(Error::invalid_argument(
            "a newer mode is stored (set after this command started, or the clocks differ): read it with `cozefallback mode`",
        ));
    }
    Ok(super::FleetMode {
        mode,
        set_at_unix_ms: stamp.at_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mode_stamp_round_trips_and_rejects_garbage() {
        let s = ModeStamp {
            mode: Mode::EnterpriseOnly,
            at_ms: 1_796_000_000_123,
            origin: "42-ab".into(),
        };
        assert_eq!(s.encode(), "enterprise_only|1796000000123|42-ab");
        assert_eq!(ModeStamp::decode(&s.encode()), Some(s));
        assert_eq!(ModeStamp::decode("sideways|1|x"), None);
        assert_eq!(ModeStamp::decode("personal_first|soon"), None);
    }

    #[test]
    fn a_shared_token_is_fresh_until_the_earliest_refresh_point() {
        let now = SystemTime::now();
        let token = |life: u64, left: u64| SharedToken {
            access: Secret::new("t"),
            refresh: None,
            minted_at: now + Duration::from_secs(left) - Duration::from_secs(life),
            expires_at: now + Duration::from_secs(left),
        };
        assert!(is_fresh(&token(900, 800)));
        assert!(
            !is_fresh(&token(900, 70)),
            "inside 75 s of a 900 s token's end"
        );
        assert!(!is_fresh(&token(900, 0)));
        assert!(is_fresh(&token(100, 80)));
        assert!(!is_fresh(&token(100, 20)));
    }
}
