//! The `state` section of the config ([`StateConfig`]) and the [`RedisUrl`] it holds.
//!
//! Kept apart from `state/` (the stores themselves, which work on a client) so `config` can hold a
//! `StateConfig` without using the layer above it.

use std::fmt;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::redact::Secret;

/// The environment variable read when the config names no `state.redis_url`.
pub const REDIS_URL_ENV: &str = "COZE_FALLBACK_REDIS_URL";

/// The `state` section of the config: where a fleet of processes shares its state.
///
/// ```
/// let c = cozefallback::Config::from_json(r#"{"personal":{"type":"pat","token":"pat_a"},
///     "state": {"redis_url": "redis://:hunter2@127.0.0.1:6379/0", "key_prefix": "svc:"}}"#).unwrap();
/// assert_eq!(c.state.key_prefix, "svc:");
/// assert!(!format!("{c:?}").contains("hunter2"));
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// `redis://[user:password@]host[:port][/db]` or `rediss://` (TLS). None: the in-process store, unless
    /// `COZE_FALLBACK_REDIS_URL` is set.
    #[serde(default)]
    pub redis_url: Option<RedisUrl>,
    /// Prepended to every key and channel; processes on the same prefix form one fleet.
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
    /// Share minted JWT and OBO tokens through Redis (off by default: it puts bearer tokens in Redis).
    #[serde(default)]
    pub share_tokens: bool,
}

fn default_key_prefix() -> String {
    "cozefallback:".to_string()
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            redis_url: None,
            key_prefix: default_key_prefix(),
            share_tokens: false,
        }
    }
}

impl StateConfig {
    /// The Redis URL in force: the config's, else `COZE_FALLBACK_REDIS_URL`.
    pub(crate) fn effective_url(&self) -> Option<RedisUrl> {
        self.redis_url.clone().or_else(|| {
            std::env::var(REDIS_URL_ENV)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(RedisUrl::new)
        })
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if let Some(url) = &self.redis_url {
            url.check("state.redis_url")?;
        }
        if self.key_prefix.is_empty() || self.key_prefix.chars().any(char::is_whitespace) {
            return Err(Error::config(
                "state.key_prefix",
                format!(
                    "must be a non-empty string without spaces, got {:?}",
                    self.key_prefix
                ),
            ));
        }
        Ok(())
    }
}

/// A Redis URL that may hold a password: `Debug` and `Display` print it with the password as `***`.
///
/// ```
/// let url = cozefallback::RedisUrl::new("redis://app:s3cret@10.0.0.5:6380/2");
/// assert_eq!(url.to_string(), "redis://app:***@10.0.0.5:6380/2");
/// assert!(url.check("state.redis_url").is_ok());
/// assert!(cozefallback::RedisUrl::new("http://x").check("state.redis_url").is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(Secret);

impl RedisUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        RedisUrl(Secret::new(url.into()))
    }

    /// The URL itself, password included: only for opening the connection.
    pub(crate) fn expose(&self) -> &str {
        self.0.expose()
    }

    /// Refuses what can never connect: not a URL, a scheme other than `redis`/`rediss`, no host, a db that is
    /// not a number. The error names `field` and never shows the password.
    pub fn check(&self, field: &str) -> Result<()> {
        let shown = self.to_string();
        let url = url::Url::parse(self.expose()).map_err(|e| {
            Error::config(
                field,
                format!("{shown} is not a URL ({e}); expected redis://host:6379/0"),
            )
        })?;
        if !matches!(url.scheme(), "redis" | "rediss") {
            return Err(Error::config(
                field,
                format!(
                    "{shown}: the scheme must be redis:// or rediss:// (TLS), not {}://",
                    url.scheme()
                ),
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(Error::config(field, format!("{shown} names no host")));
        }
        let db = url.path().trim_start_matches('/');
        if !db.is_empty() && db.parse::<u16>().is_err() {
            return Err(Error::config(
                field,
                format!("{shown}: the path must be a db number such as /0, got /{db}"),
            ));
        }
        ::redis::Client::open(self.expose()).map_err(|e| {
            Error::config(
                field,
                format!("{shown} is not usable: {}", scrub(&e.to_string(), self)),
            )
        })?;
        Ok(())
    }
}

/// Removes the password from a message that might echo it (a defence: redis errors do not normally).
pub(crate) fn scrub(message: &str, url: &RedisUrl) -> String {
    let password = url::Url::parse(url.expose())
        .ok()
        .and_then(|u| u.password().map(str::to_string));
    match password {
        Some(p) if !p.is_empty() => message.replace(&p, "***"),
        _ => message.to_string(),
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match url::Url::parse(self.expose()) {
            Ok(mut u) => {
                if u.password().is_some() {
                    let _ = u.set_password(Some("***"));
                }
                f.write_str(u.as_str())
            }
            // Not a URL: nothing can be told apart from a password, so show none of it.
            Err(_) => f.write_str("<a redis URL that does not parse>"),
        }
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({self})")
    }
}

impl<'de> Deserialize<'de> for RedisUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d).map(RedisUrl::new)
    }
}
