//! Where the client keeps what it learned: in the process (the default), or shared by a fleet on Redis.
//!
//! The store keeps what the core decided (the mode, learned routes, conversation bindings and carry-overs,
//! optionally tokens); it decides nothing about Coze. Lookups on the hot path always read the in-memory tables
//! of `route.rs` and `conversations.rs`: with Redis those tables are kept current from the store in the
//! background, so a request never waits for Redis. See docs/FLEET.md.

pub(crate) mod redis;

use std::sync::Arc;

use crate::error::Result;

pub(crate) use self::redis::RedisStore;

pub(crate) use crate::state_config::scrub;
pub use crate::state_config::{REDIS_URL_ENV, RedisUrl, StateConfig};

/// The routing mode a fleet shares, as stored in Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetMode {
    /// The mode every process on the prefix is in.
    pub mode: crate::Mode,
    /// When it was set (Unix milliseconds of the process or operator that set it).
    pub set_at_unix_ms: u64,
}

/// The fleet's stored mode (`None`: never set, each process uses its configured one). For operators:
/// `cozefallback mode`. Bounded: an unreachable Redis is a `Transport` error within a few seconds.
///
/// ```no_run
/// # async fn demo() -> cozefallback::Result<()> {
/// let state = cozefallback::StateConfig {
///     redis_url: Some(cozefallback::RedisUrl::new("redis://127.0.0.1:6379/0")),
///     ..Default::default()
/// };
/// if let Some(m) = cozefallback::fleet_mode(&state).await? {
///     println!("the fleet is in {}", m.mode);
/// }
/// # Ok(()) }
/// ```
pub async fn fleet_mode(state: &StateConfig) -> Result<Option<FleetMode>> {
    redis::read_fleet_mode(state).await
}

/// Sets the mode of every process on `state`'s Redis and prefix (they follow within a second). For operators:
/// `cozefallback mode set enterprise_only`. A process whose credentials cannot serve the mode keeps its own
/// and logs a warning.
///
/// ```no_run
/// # async fn demo() -> cozefallback::Result<()> {
/// let state = cozefallback::StateConfig {
///     redis_url: Some(cozefallback::RedisUrl::new("redis://127.0.0.1:6379/0")),
///     ..Default::default()
/// };
/// cozefallback::set_fleet_mode(&state, cozefallback::Mode::EnterpriseOnly).await?;
/// # Ok(()) }
/// ```
pub async fn set_fleet_mode(state: &StateConfig, mode: crate::Mode) -> Result<FleetMode> {
    redis::write_fleet_mode(state, mode).await
}

/// The store a client keeps its learned state in.
pub(crate) enum StateStore {
    /// This process only: today's behaviour, the default.
    InProcess,
    /// Shared with every process on the same Redis and key prefix.
    Redis(Arc<RedisStore>),
}

impl StateStore {
    /// The store the config asks for; a bad URL is a ConfigError, an unreachable Redis is not.
    pub(crate) fn build(cfg: &StateConfig, metrics: Arc<crate::metrics::Metrics>) -> Result<Self> {
        let Some(url) = cfg.effective_url() else {
            return Ok(StateStore::InProcess);
        };
        let field = if cfg.redis_url.is_some() {
            "state.redis_url"
        } else {
            REDIS_URL_ENV
        };
        url.check(field)?;
        Ok(StateStore::Redis(RedisStore::new(url, cfg, metrics)?))
    }

    /// The Redis store, if this client shares its state.
    pub(crate) fn redis(&self) -> Option<&Arc<RedisStore>> {
        match self {
            StateStore::InProcess => None,
            StateStore::Redis(r) => Some(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_shows_no_password_in_any_form() {
        for (raw, shown) in [
            ("redis://:pw1@h:6379/0", "redis://:***@h:6379/0"),
            ("rediss://app:pw2@h/3", "rediss://app:***@h/3"),
            ("redis://h:6379", "redis://h:6379"),
        ] {
            let url = RedisUrl::new(raw);
            assert_eq!(url.to_string(), shown);
            assert_eq!(format!("{url:?}"), format!("RedisUrl({shown})"));
        }
        let broken = RedisUrl::new("redis://:pw3@[broken");
        assert!(!format!("{broken} {broken:?}").contains("pw3"));
        let err = broken.check("state.redis_url").unwrap_err();
        assert!(!format!("{err} {err:?}").contains("pw3"), "{err:?}");
    }

    #[test]
    fn bad_urls_are_config_errors_naming_the_field() {
        for (raw, needle) in [
            ("http://:pw@h:1/0", "scheme must be redis:// or rediss://"),
            ("redis://:pw@h:1/zero", "db number"),
            ("not a url", "is not a URL"),
        ] {
            let err = RedisUrl::new(raw).check("state.redis_url").unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Config, "{raw}");
            assert_eq!(err.field(), Some("state.redis_url"));
            assert!(err.to_string().contains(needle), "{raw}: {err}");
            assert!(!err.to_string().contains(":pw@"), "{err}");
        }
        let cfg = StateConfig {
            key_prefix: "has space".into(),
            ..StateConfig::default()
        };
        assert_eq!(
            cfg.validate().unwrap_err().field(),
            Some("state.key_prefix")
        );
    }

    #[test]
    fn the_state_section_refuses_unknown_fields_and_env_names_the_variable() {
        let err = crate::Config::from_json(
            r#"{"personal":{"type":"pat","token":"pat_a"},"state":{"redis":"redis://h"}}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("redis"), "{err}");
        let env = |k: &str| match k {
            "COZE_API_TOKEN" => Some("pat_a".to_string()),
            "COZE_FALLBACK_REDIS_URL" => Some("ftp://:pw@h".to_string()),
            _ => None,
        };
        let err = crate::Config::from_env_with(env).unwrap_err();
        assert_eq!(err.field(), Some(REDIS_URL_ENV));
        assert!(!err.to_string().contains(":pw@"), "{err}");
    }

    #[test]
    fn without_a_state_section_the_store_is_in_process() {
        let client =
            crate::Client::from_json(r#"{"personal":{"type":"pat","token":"pat_a"}}"#).unwrap();
        if std::env::var_os(REDIS_URL_ENV).is_none() {
            assert_eq!(client.metrics()["state"]["store"], "in_process");
            assert!(client.inner.state.redis().is_none());
        }
    }
}
