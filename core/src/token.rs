//! Bearer tokens per credential: PATs as they are, JWT app tokens minted and cached, OBO tokens refreshed.
//!
//! The cache is single-flight (one exchange in flight per credential), refreshes ahead of expiry by
//! min(60 s, 20% of the lifetime) with jitter, keeps serving a still-valid token while a refresh fails, and drops
//! a rejected token only if it is still the cached one.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng;
use reqwest::header::HeaderValue;

use crate::config::CredentialConfig;
use crate::credential::CredentialKind;
use crate::error::{Error, ErrorKind, Result};
use crate::http::{Http, Minted, bearer_header};
use crate::jwt::{AppClaims, JWT_GRANT, JwtSigner, KeyMaterial};
use crate::redact::Secret;
use crate::runtime::{ForkLocal, ForkMutex, fork_mutex};
use crate::util::lock;

/// A bearer token with the cache generation it came from (0 for PATs).
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub(crate) value: Secret,
    /// `Bearer <value>` as a sensitive header value, built once per token rather than once per call (`None`
    /// when the token holds characters a header cannot carry: the call then fails naming that).
    pub(crate) header: Option<HeaderValue>,
    pub(crate) generation: u64,
    /// When it was minted and when it expires (`None` for PATs, which do not expire here).
    pub(crate) minted_at: Option<SystemTime>,
    pub(crate) expires_at: Option<SystemTime>,
}

impl Token {
    /// Whether the token expires within `window` (or already has): a 4100 then means it expired in flight.
    pub(crate) fn expires_within(&self, window: Duration) -> bool {
        self.expires_at
            .is_some_and(|e| e <= SystemTime::now() + window)
    }
    /// Whether the token was minted more than `age` ago.
    pub(crate) fn older_than(&self, age: Duration) -> bool {
        self.minted_at
            .is_some_and(|m| m.elapsed().is_ok_and(|e| e > age))
    }
}

/// Told when an OBO refresh rotated the tokens, so the app can store the new refresh token.
///
/// ```
/// # use cozefallback::TokenRefresh;
/// let hook = |r: &TokenRefresh| println!("store the new refresh token for {}", r.credential);
/// # let _ = hook;
/// ```
#[derive(Clone, Debug)]
pub struct TokenRefresh {
    /// Which credential was refreshed.
    pub credential: CredentialKind,
    /// The new access token.
    pub access_token: Secret,
    /// The new refresh token (the old one no longer works).
    pub refresh_token: Option<Secret>,
    /// Unix time at which the access token expires.
    pub expires_at: u64,
}

/// The hook type for [`TokenRefresh`] notifications.
pub type RefreshHook = Arc<dyn Fn(&TokenRefresh) + Send + Sync>;

#[derive(Clone)]
struct Cached {
    token: Secret,
    header: Option<HeaderValue>,
    minted_at: SystemTime,
    expires_at: SystemTime,
    refresh_at: SystemTime,
    usable_until: SystemTime,
    generation: u64,
}

enum Source {
    /// A PAT, with its `Authorization` value built once.
    Pat(Secret, Option<HeaderValue>),
    Jwt {
        signer: Box<JwtSigner>,
        path: String,
        ttl_secs: u64,
        scope: Option<serde_json::Value>,
    },
    Oauth {
        client_id: String,
        client_secret: Option<Secret>,
        refresh_token: ForkMutex<Option<Secret>>,
    },
}

/// One configured credential and its token cache.
pub(crate) struct Credential {
    pub(crate) kind: CredentialKind,
    pub(crate) label: &'static str,
    source: Source,
    cache: ForkMutex<Option<Cached>>,
    /// The single flight: one exchange at a time. Per process: a parent's exchange never finishes in a child.
    refresh_lock: ForkLocal<tokio::sync::Mutex<()>>,
    next_generation: std::sync::atomic::AtomicU64,
    pub(crate) authorize_url: Option<String>,
    /// Who this credential is, as a hash (the key of its shared token; never an id or secret in clear).
    share_id: String,
    /// With `state.share_tokens`: the fleet's token store.
    shared: Option<Arc<crate::state::RedisStore>>,
    /// The last token rejected here, so a shared copy of it is not adopted again.
    rejected: ForkMutex<Option<Secret>>,
}

impl Credential {
    pub(crate) fn new(
        kind: CredentialKind,
        cfg: &CredentialConfig,
        base: &url::Url,
    ) -> Result<Self> {
        let side = kind.as_str();
        let share_id = share_id(kind, cfg, base);
        let mut authorize_url = None;
        let mut initial = None;
        let source = match cfg {
            CredentialConfig::Pat { token } => Source::Pat(token.clone(), bearer_header(token)),
            CredentialConfig::Jwt { .. } => jwt_source(cfg, side, base)?,
            CredentialConfig::Oauth {
                client_id,
                client_secret,
                access_token,
                refresh_token,
                expires_at,
                redirect_uri,
            } => {
                let far = SystemTime::now() + Duration::from_secs(10 * 365 * 86_400);
                let expires = expires_at
                    .map(|s| UNIX_EPOCH + Duration::from_secs(s))
                    .unwrap_or(far);
                initial = Some(Cached::new(
                    access_token.clone(),
                    SystemTime::now(),
                    expires,
                    1,
                ));
                authorize_url = Some(crate::oauth::authorize_url_for(
                    base,
                    client_id,
                    redirect_uri.as_deref().unwrap_or(""),
                    None,
                ));
                Source::Oauth {
                    client_id: client_id.clone(),
                    client_secret: client_secret.clone(),
                    refresh_token: fork_mutex(refresh_token.clone()),
                }
            }
        };
        Ok(Credential {
            kind,
            label: cfg.describe(),
            source,
            cache: fork_mutex(initial),
            refresh_lock: ForkLocal::new(tokio::sync::Mutex::new(()), |_| {
                tokio::sync::Mutex::new(())
            }),
            next_generation: std::sync::atomic::AtomicU64::new(2),
            authorize_url,
            share_id,
            shared: None,
            rejected: fork_mutex(None),
        })
    }

    /// Shares this credential's minted tokens with the fleet (`state.share_tokens`); PATs are not shared.
    pub(crate) fn share_through(&mut self, store: Arc<crate::state::RedisStore>) {
        if !matches!(self.source, Source::Pat(..)) {
            self.shared = Some(store);
        }
    }

    /// The fleet's fresh token, adopted into the local cache; else mint (holding the fleet's lock if `locked`).
    async fn fleet_token(&self) -> std::result::Result<Token, bool> {
        let Some(store) = &self.shared else {
            return Err(false);
        };
        let rejected = lock(&self.rejected).clone();
        match store.token_step(&self.share_id, rejected.as_ref()).await {
            crate::state::redis::TokenStep::Adopt(t) => {
                let generation = self
                    .next_generation
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let cached = Cached::new(t.access, t.minted_at, t.expires_at, generation);
                let token = cached.handle();
                *lock(&self.cache) = Some(cached);
                if let (Source::Oauth { refresh_token, .. }, Some(r)) = (&self.source, t.refresh) {
                    *lock(refresh_token) = Some(r);
                }
                tracing::debug!(credential = %self.kind, "adopted the fleet's access token");
                Ok(token)
            }
            crate::state::redis::TokenStep::Mint { locked } => Err(locked),
        }
    }

    /// Whether this credential's token is minted or refreshed (so a rejection can be cured by a new one).
    pub(crate) fn is_renewable(&self) -> bool {
        match &self.source {
            Source::Pat(..) => false,
            Source::Jwt { .. } => true,
            Source::Oauth { refresh_token, .. } => lock(refresh_token).is_some(),
        }
    }

    pub(crate) fn is_obo(&self) -> bool {
        matches!(self.source, Source::Oauth { .. })
    }

    /// The token to send now when there is nothing to wait for: a PAT, or a cached token not yet due for
    /// refresh. Most calls stop here, so they build no timer and no exchange future.
    pub(crate) fn ready_token(&self) -> Option<Token> {
        if let Source::Pat(t, header) = &self.source {
            return Some(Token {
                value: t.clone(),
                header: header.clone(),
                generation: 0,
                minted_at: None,
                expires_at: None,
            });
        }
        let now = SystemTime::now();
        self.cached(|c| now < c.refresh_at)
    }

    /// A token to send now: cached if fresh; otherwise one exchange for all concurrent callers.
    pub(crate) async fn token(&self, http: &Http, hook: Option<&RefreshHook>) -> Result<Token> {
        if let Some(t) = self.ready_token() {
            return Ok(t);
        }
        let now = SystemTime::now();
        let _guard = match self.refresh_lock.try_lock() {
            Ok(g) => g,
            Err(_) => {
                // A refresh is in flight: keep using a still-valid token rather than queueing behind it.
                if let Some(t) = self.cached(|c| now < c.usable_until) {
                    return Ok(t);
                }
                self.refresh_lock.lock().await
            }
        };
        let now = SystemTime::now();
        if let Some(t) = self.cached(|c| now < c.refresh_at) {
            return Ok(t); // another caller refreshed while we waited
        }
        let locked = match self.fleet_token().await {
            Ok(t) => return Ok(t),
            Err(locked) => locked,
        };
        match self.exchange(http).await {
            Ok(minted) => {
                http.metrics.token_mint(self.kind);
                if let Some(store) = &self.shared {
                    let shared = crate::state::redis::SharedToken {
                        access: minted.access_token.clone(),
                        refresh: minted.refresh_token.clone(),
                        minted_at: SystemTime::now(),
                        expires_at: minted.expires_at,
                    };
                    store.token_minted(&self.share_id, &shared, locked).await;
                }
                let generation = self
                    .next_generation
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let cached = Cached::new(
                    minted.access_token.clone(),
                    SystemTime::now(),
                    minted.expires_at,
                    generation,
                );
                let token = cached.handle();
                *lock(&self.cache) = Some(cached);
                if let (Source::Oauth { refresh_token, .. }, Some(new_refresh)) =
                    (&self.source, &minted.refresh_token)
                {
                    *lock(refresh_token) = Some(new_refresh.clone());
                }
                if self.is_obo()
                    && let Some(hook) = hook
                {
                    let refresh = TokenRefresh {
                        credential: self.kind,
                        access_token: minted.access_token.clone(),
                        refresh_token: minted.refresh_token.clone(),
                        expires_at: minted
                            .expires_at
                            .duration_since(UNIX_EPOCH)
                            .map(|d| d.as_secs())
                            .unwrap_or(0),
                    };
                    let hook = hook.clone();
                    // On a library thread, as documented; a panic in the app's hook is logged, the token kept.
                    if crate::caller::on_library_thread(move || hook(&refresh)).is_err() {
                        tracing::warn!(credential = %self.kind, "the token refresh hook panicked");
                    }
                }
                tracing::debug!(credential = %self.kind, kind = self.label, "minted a new access token");
                Ok(token)
            }
            Err(err) => {
                http.metrics.token_refresh_failure(self.kind);
                if let (Some(store), true) = (&self.shared, locked) {
                    store
                        .token_minted(&self.share_id, &crate::state::redis::unstored(), true)
                        .await;
                }
                let mut cache = lock(&self.cache);
                if let Some(c) = cache.as_mut().filter(|c| now < c.usable_until) {
                    // Keep serving the valid token; try again in a second rather than on every call.
                    c.refresh_at = (now + Duration::from_secs(1)).min(c.usable_until);
                    tracing::warn!(credential = %self.kind, error = %err, "token refresh failed; still serving the current token");
                    return Ok(c.handle());
                }
                Err(err.with_credential(self.kind))
            }
        }
    }

    /// Drops the cached token if it is still the one that was rejected.
    pub(crate) fn invalidate(&self, generation: u64) {
        let mut cache = lock(&self.cache);
        if let Some(c) = cache.as_ref().filter(|c| c.generation == generation) {
            if self.shared.is_some() {
                *lock(&self.rejected) = Some(c.token.clone());
            }
            *cache = None;
        }
    }

    fn cached(&self, usable: impl Fn(&Cached) -> bool) -> Option<Token> {
        let cache = lock(&self.cache);
        cache.as_ref().filter(|c| usable(c)).map(Cached::handle)
    }

    async fn exchange(&self, http: &Http) -> Result<Minted> {
        match &self.source {
            Source::Pat(..) => Err(Error::internal("a PAT is not exchanged")),
            Source::Jwt {
                signer,
                path,
                ttl_secs,
                scope,
            } => {
                let mut body =
                    serde_json::json!({"grant_type": JWT_GRANT, "duration_seconds": ttl_secs});
                if let Some(scope) = scope {
                    body["scope"] = scope.clone();
                }
                // A JWT is single use: sign a new one for every attempt, retries included.
                http.token_exchange(path, || signer.sign().map(Secret::new), body)
                    .await
            }
            Source::Oauth {
                client_id,
                client_secret,
                refresh_token,
            } => {
                let Some(refresh) = lock(refresh_token).clone() else {
                    return Err(Error::new(
                        ErrorKind::Auth,
                        "the OBO access token expired and no refresh_token was configured",
                    ));
                };
                let body = serde_json::json!({
                    "grant_type": "refresh_token",
                    "refresh_token": refresh.expose(),
                    "client_id": client_id,
                });
                let secret = client_secret.clone();
                http.token_exchange(
                    "/api/permission/oauth2/token",
                    || Ok(secret.clone().unwrap_or_else(|| Secret::new(""))),
                    body,
                )
                .await
            }
        }
    }
}

impl Cached {
    fn new(token: Secret, minted_at: SystemTime, expires_at: SystemTime, generation: u64) -> Self {
        let lifetime = expires_at.duration_since(minted_at).unwrap_or_default();
        let margin = Duration::from_secs(60).min(lifetime / 5);
        let jitter = margin.mul_f64(rand::rng().random_range(0.0..0.25));
        // Never send a token in its last moments: it could expire in flight.
        let safety = Duration::from_secs(2).min(lifetime / 10);
        Cached {
            header: bearer_header(&token),
            token,
            minted_at,
            expires_at,
            refresh_at: expires_at - margin - jitter,
            usable_until: expires_at - safety,
            generation,
        }
    }
}

impl Cached {
    fn handle(&self) -> Token {
        Token {
            value: self.token.clone(),
            header: self.header.clone(),
            generation: self.generation,
            minted_at: Some(self.minted_at),
            expires_at: Some(self.expires_at),
        }
    }
}

impl std::fmt::Debug for Cached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached")
            .field("expires_at", &self.expires_at)
            .field("generation", &self.generation)
            .finish()
    }
}

/// A hash naming the token a credential mints: the same app and target in every process give the same id.
fn share_id(kind: CredentialKind, cfg: &CredentialConfig, base: &url::Url) -> String {
    use sha2::{Digest, Sha256};
    let who = match cfg {
        CredentialConfig::Pat { .. } => String::new(),
        CredentialConfig::Jwt {
            client_id,
            public_key_id,
            account_id,
            enterprise_id,
            session_name,
            ttl_secs,
            scope,
            ..
        } => format!(
            "jwt|{client_id}|{public_key_id}|{account_id:?}|{enterprise_id:?}|{session_name:?}|{ttl_secs:?}|{scope:?}"
        ),
        CredentialConfig::Oauth { client_id, .. } => format!("obo|{client_id}"),
    };
    let digest = Sha256::digest(format!("{base}|{}|{who}", kind.as_str()).as_bytes());
    hex::encode(&digest[..16])
}

/// The JWT source of a JWT credential: its mint path and a signer over its key material.
fn jwt_source(cfg: &CredentialConfig, side: &str, base: &url::Url) -> Result<Source> {
    let CredentialConfig::Jwt {
        client_id,
        private_key,
        private_key_file,
        public_key_id,
        account_id,
        enterprise_id,
        session_name,
        ttl_secs,
        scope,
    } = cfg
    else {
        return Err(Error::internal("jwt_source on a non-JWT credential"));
    };
    let path = match (account_id, enterprise_id) {
        (Some(a), _) => format!("/api/permission/oauth2/account/{a}/token"),
        (None, Some(e)) => format!("/api/permission/oauth2/enterprise_id/{e}/token"),
        (None, None) => "/api/permission/oauth2/token".to_string(),
    };
    let key = KeyMaterial {
        side,
        private_key: private_key.as_ref(),
        private_key_file: private_key_file.as_deref(),
    };
    let claims = AppClaims {
        client_id: client_id.clone(),
        key_id: public_key_id.clone(),
        audience: crate::jwt::audience(base),
        session_name: session_name.clone(),
    };
    Ok(Source::Jwt {
        signer: Box::new(JwtSigner::new(&key, claims)?),
        path,
        ttl_secs: ttl_secs.unwrap_or(900),
        scope: scope.clone(),
    })
}
