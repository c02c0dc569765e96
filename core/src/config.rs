//! The one configuration schema shared by Rust, C, Go, Python, Node and the CLI.
//!
//! Parsing rejects unknown fields and names the field; [`Config::validate`] refuses every invalid value before a
//! client exists, so a misconfiguration is found at start-up and not at the first request after the move.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::credential::Mode;
use crate::error::{Error, Result};
use crate::redact::Secret;

/// The text of `core/config.schema.json`: the JSON Schema of [`Config`] (see [`Config::json_schema`]).
pub const CONFIG_SCHEMA: &str = include_str!("../config.schema.json");

/// The Coze host the official SDKs default to.
pub const DEFAULT_BASE_URL: &str = "https://api.coze.com";

/// The client configuration.
///
/// ```
/// let config = cozefallback::Config::from_json(r#"{
///     "base_url": "https://api.coze.cn",
///     "personal": {"type": "pat", "token": "pat_old"},
///     "enterprise": {"type": "pat", "token": "pat_new"}
/// }"#).unwrap();
/// assert_eq!(config.mode, cozefallback::Mode::PersonalFirst);
/// assert!(format!("{config:?}").contains("***"));
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `https://api.coze.cn` or `https://api.coze.com` (default).
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// The old credential, of the personal edition.
    #[serde(default)]
    pub personal: Option<CredentialConfig>,
    /// The new credential, of the enterprise edition.
    #[serde(default)]
    pub enterprise: Option<CredentialConfig>,
    /// Which credential goes first.
    #[serde(default)]
    pub mode: Mode,
    /// What triggers a switch of credential, and how long a switch is remembered.
    #[serde(default)]
    pub fallback: FallbackConfig,
    /// Retries of transient failures.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Per-attempt and overall time limits.
    #[serde(default)]
    pub timeouts: TimeoutConfig,
    /// Extra trusted CA certificates (`{"ca_file": "/path/ca.pem"}`), in addition to the system's.
    #[serde(default)]
    pub tls: crate::tls::TlsConfig,
    /// Permit `http://` to a non-loopback host (tokens would travel in clear text).
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// What a chat naming a conversation stranded by the move does (carry it over by default).
    #[serde(default)]
    pub conversations: crate::conversations_config::ConversationsConfig,
    /// Largest request body, in bytes (default 64 MiB); bodies are buffered so a fallback can replay them.
    /// It bounds requests only. Its old name `max_body_bytes` is still accepted (not both at once).
    #[serde(default = "default_max_request_bytes", alias = "max_body_bytes")]
    pub max_request_bytes: u64,
    /// Largest single stream event (or line) the parser buffers, in bytes (default 16 MiB).
    #[serde(default = "default_max_event_bytes")]
    pub max_event_bytes: u64,
    /// Largest whole (non-stream) answer, in bytes (default 256 MiB); bodies downloaded again by retries of one
    /// call count together.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: u64,
    /// The WebSocket base of the realtime APIs (default: derived from `base_url`, `https://api.coze.cn` ->
    /// `wss://ws.coze.cn`).
    #[serde(default)]
    pub ws_base_url: Option<String>,
    /// Where learned state lives: in the process (default), or shared by a fleet on Redis (docs/FLEET.md).
    #[serde(default)]
    pub state: crate::state_config::StateConfig,
}

/// One credential: a personal access token, a JWT app, or an OBO user token.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum CredentialConfig {
    /// A personal access token (`pat_...`), used as is.
    Pat {
        /// The token.
        token: Secret,
    },
    /// A JWT (service) OAuth app whose signed JWTs are exchanged for access tokens.
    Jwt {
        /// The app (client) id.
        client_id: String,
        /// PEM private key text (PKCS#8 or PKCS#1).
        #[serde(default)]
        private_key: Option<Secret>,
        /// Path of the PEM private key file.
        #[serde(default)]
        private_key_file: Option<PathBuf>,
        /// The public key id (`kid`).
        public_key_id: String,
        /// Mint at `/account/{account_id}/token` (the workspace owner's UID).
        #[serde(default, deserialize_with = "string_or_number")]
        account_id: Option<String>,
        /// Mint at `/enterprise_id/{enterprise_id}/token`.
        #[serde(default, deserialize_with = "string_or_number")]
        enterprise_id: Option<String>,
        /// Per-end-user isolation (`session_name` claim).
        #[serde(default)]
        session_name: Option<String>,
        /// Requested token lifetime in seconds (default 900, max 86399).
        #[serde(default)]
        ttl_secs: Option<u64>,
        /// Optional token scope, sent as is.
        #[serde(default)]
        scope: Option<serde_json::Value>,
    },
    /// An OBO user token (from the code, PKCE or device flow) with its refresh token.
    Oauth {
        /// The OAuth app (client) id.
        client_id: String,
        /// The web app's client secret (absent for PKCE and device apps).
        #[serde(default)]
        client_secret: Option<Secret>,
        /// The current access token.
        access_token: Secret,
        /// The refresh token.
        #[serde(default)]
        refresh_token: Option<Secret>,
        /// Unix time (seconds) at which the access token expires.
        #[serde(default)]
        expires_at: Option<u64>,
        /// The redirect URI registered for the app, used to build the re-authorization URL.
        #[serde(default)]
        redirect_uri: Option<String>,
    },
}

/// What makes a request switch credential.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackConfig {
    /// Authentication and permission codes (default 4100, 4101).
    #[serde(default = "default_fallback_codes")]
    pub codes: Vec<i64>,
    /// "Resource does not exist" codes (default 4200, 4001, 4002, 4005, 4006, 4015, 4314).
    #[serde(default = "default_not_found_codes")]
    pub not_found_codes: Vec<i64>,
    /// How long a resource stays with the credential that last served it (default 3600 s). After that the
    /// preferred credential is probed again.
    #[serde(default = "default_sticky_ttl")]
    pub sticky_ttl_secs: u64,
    /// Remember per-resource routes at all (default true).
    #[serde(default = "default_true")]
    pub sticky: bool,
}

/// Retries of transient failures: a failure to connect, HTTP 429 and code 4009 for any method; HTTP 502/503/504
/// with no Coze code, a reset or timeout after sending, and a broken body for idempotent requests only. Other
/// codes (4020 and 5000 included) are not retried. The table is `core/src/decide.rs` (docs/ARCHITECTURE.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Retries per credential attempt (default 2).
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// Also retry non-idempotent requests (POST) on failures after the request was sent (default false).
    #[serde(default)]
    pub non_idempotent: bool,
    /// First backoff step in milliseconds (default 100); doubles each retry, full jitter.
    #[serde(default = "default_base_delay_ms")]
    pub base_delay_ms: u64,
    /// Cap of one backoff step in milliseconds (default 5000), Retry-After included.
    #[serde(default = "default_max_delay_ms")]
    pub max_delay_ms: u64,
    /// Client-wide retry budget: retries allowed per 10 requests, on top of a reserve of 10 (default 2).
    #[serde(default = "default_budget_ratio")]
    pub budget_per_10_requests: u32,
}

/// Time limits. Each attempt has its own connect and first-byte limits; `total_ms` bounds the whole call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutConfig {
    /// TCP + TLS connect (default 5000).
    #[serde(default = "default_connect_ms")]
    pub connect_ms: u64,
    /// From sending to the response head (default 60000).
    #[serde(default = "default_first_byte_ms")]
    pub first_byte_ms: u64,
    /// Longest silence between two stream chunks (default 60000).
    #[serde(default = "default_idle_ms")]
    pub idle_ms: u64,
    /// Overall deadline of one call, fallback and retries included (default 600000).
    #[serde(default = "default_total_ms")]
    pub total_ms: u64,
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
}
fn default_max_request_bytes() -> u64 {
    64 << 20
}
fn default_max_event_bytes() -> u64 {
    crate::sse::DEFAULT_MAX_EVENT_BYTES
}
fn default_max_response_bytes() -> u64 {
    256 << 20
}
fn default_fallback_codes() -> Vec<i64> {
    vec![4100, 4101]
}
fn default_not_found_codes() -> Vec<i64> {
    vec![4200, 4001, 4002, 4005, 4006, 4015, 4314]
}
fn default_sticky_ttl() -> u64 {
    3600
}
fn default_true() -> bool {
    true
}
fn default_max_retries() -> u32 {
    2
}
fn default_base_delay_ms() -> u64 {
    100
}
fn default_max_delay_ms() -> u64 {
    5000
}
fn default_budget_ratio() -> u32 {
    2
}
fn default_connect_ms() -> u64 {
    5000
}
fn default_first_byte_ms() -> u64 {
    60_000
}
fn default_idle_ms() -> u64 {
    60_000
}
fn default_total_ms() -> u64 {
    600_000
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    // The migration guide's Go sample holds account ids as int64; Coze shows them as strings. Accept both.
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(other) => {
            return Err(serde::de::Error::custom(format!(
                "expected a string or a number, got {other}"
            )));
        }
    })
}

impl Default for FallbackConfig {
    fn default() -> Self {
        FallbackConfig {
            codes: default_fallback_codes(),
            not_found_codes: default_not_found_codes(),
            sticky_ttl_secs: default_sticky_ttl(),
            sticky: true,
        }
    }
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_retries: default_max_retries(),
            non_idempotent: false,
            base_delay_ms: default_base_delay_ms(),
            max_delay_ms: default_max_delay_ms(),
            budget_per_10_requests: default_budget_ratio(),
        }
    }
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        TimeoutConfig {
            connect_ms: default_connect_ms(),
            first_byte_ms: default_first_byte_ms(),
            idle_ms: default_idle_ms(),
            total_ms: default_total_ms(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            base_url: default_base_url(),
            personal: None,
            enterprise: None,
            mode: Mode::default(),
            fallback: FallbackConfig::default(),
            retry: RetryConfig::default(),
            timeouts: TimeoutConfig::default(),
            tls: crate::tls::TlsConfig::default(),
            allow_insecure_http: false,
            conversations: crate::conversations_config::ConversationsConfig::default(),
            max_request_bytes: default_max_request_bytes(),
            max_event_bytes: default_max_event_bytes(),
            max_response_bytes: default_max_response_bytes(),
            ws_base_url: None,
            state: crate::state_config::StateConfig::default(),
        }
    }
}

impl Config {
    /// Parses the JSON schema. Unknown fields and wrong types are refused with the field's dotted path, what
    /// was expected and what was found (never a secret's value).
    ///
    /// ```
    /// let err = cozefallback::Config::from_json(r#"{"personal": {"type": "pat", "tokn": "x"}}"#).unwrap_err();
    /// assert_eq!(err.field(), Some("personal.tokn"));
    /// assert!(err.to_string().contains("unknown field `tokn`"), "{err}");
    /// ```
    pub fn from_json(text: &str) -> Result<Config> {
        refuse_both_names(text)?;
        crate::config_parse::from_text(text)
    }

    /// The JSON Schema (draft 2020-12) of the config document, as checked in at `core/config.schema.json`.
    ///
    /// Every binding's config type is tested against it; `cozefallback config-schema` prints it.
    ///
    /// ```
    /// let schema = cozefallback::Config::json_schema();
    /// assert_eq!(schema["properties"]["mode"]["default"], "personal_first");
    /// ```
    pub fn json_schema() -> serde_json::Value {
        serde_json::from_str(CONFIG_SCHEMA).expect("core/config.schema.json is valid JSON (tested)")
    }

    /// Parses a `serde_json::Value` (a binding's dict or object converted to JSON).
    pub fn from_value(value: serde_json::Value) -> Result<Config> {
        crate::config_parse::from_value(value)
    }

    /// Builds a config from the official SDKs' environment variables.
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `COZE_API_BASE` | base URL (default `https://api.coze.com`) |
    /// | `COZE_API_TOKEN` | personal PAT |
    /// | `COZE_API_TOKEN_ENTERPRISE` | enterprise PAT |
    /// | `COZE_JWT_OAUTH_CLIENT_ID`, `COZE_JWT_OAUTH_PRIVATE_KEY` or `COZE_JWT_OAUTH_PRIVATE_KEY_FILE_PATH`, `COZE_JWT_OAUTH_PUBLIC_KEY_ID` | the JWT app |
    /// | `COZE_PERSONAL_ACCOUNT_ID` | the JWT personal target (workspace owner UID) |
    /// | `COZE_ENTERPRISE_ID` | the JWT enterprise target |
    /// | `COZE_FALLBACK_MODE` | optional mode |
    /// | `COZE_FALLBACK_REDIS_URL` | optional: share state with a fleet on Redis (`state.redis_url`) |
    ///
    /// A PAT wins over a JWT target for the same side.
    pub fn from_env() -> Result<Config> {
        Config::from_env_with(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// [`Config::from_env`] with a custom lookup (for tests and embedding).
    ///
    /// The config is validated here, and an error names the variable (`field` is the variable's name).
    pub fn from_env_with(get: impl Fn(&str) -> Option<String>) -> Result<Config> {
        crate::config_parse::from_env(get)
    }

    /// Checks every value; the error names the field. Called by `Client::new`.
    pub fn validate(&self) -> Result<()> {
        self.parsed_base_url()?;
        if let Some(raw) = &self.ws_base_url {
            crate::urls::explicit_ws_base(raw, self.allow_insecure_http)?;
        }
        if self.personal.is_none() && self.enterprise.is_none() {
            return Err(Error::config(
                "personal",
                "at least one of `personal` and `enterprise` must be set",
            ));
        }
        for (name, cred) in [
            ("personal", &self.personal),
            ("enterprise", &self.enterprise),
        ] {
            if let Some(cred) = cred {
                cred.validate(name)?;
            }
        }
        self.check_mode(self.mode)?;
        self.conversations.validate()?;
        self.state.validate()?;
        let t = &self.timeouts;
        for (field, value) in [
            ("timeouts.connect_ms", t.connect_ms),
            ("timeouts.first_byte_ms", t.first_byte_ms),
            ("timeouts.idle_ms", t.idle_ms),
            ("timeouts.total_ms", t.total_ms),
        ] {
            if value == 0 {
                return Err(Error::config(field, "must be greater than 0"));
            }
        }
        if self.retry.max_retries > 10 {
            return Err(Error::config("retry.max_retries", "must be at most 10"));
        }
        for (field, value) in [
            ("max_request_bytes", self.max_request_bytes),
            ("max_event_bytes", self.max_event_bytes),
            ("max_response_bytes", self.max_response_bytes),
        ] {
            if value == 0 {
                return Err(Error::config(field, "must be greater than 0"));
            }
        }
        crate::limits::check_config(self)
    }

    /// Refuses a mode whose credentials are not configured.
    pub(crate) fn check_mode(&self, mode: Mode) -> Result<()> {
        let has = |kind| match kind {
            crate::credential::CredentialKind::Personal => self.personal.is_some(),
            crate::credential::CredentialKind::Enterprise => self.enterprise.is_some(),
        };
        if !mode.order().iter().any(|k| has(*k)) {
            return Err(Error::config(
                "mode",
                format!("mode {mode} needs a credential that is not configured"),
            ));
        }
        if matches!(mode, Mode::PersonalOnly) && !has(crate::credential::CredentialKind::Personal) {
            return Err(Error::config(
                "mode",
                "mode personal_only needs the `personal` credential",
            ));
        }
        if matches!(mode, Mode::EnterpriseOnly)
            && !has(crate::credential::CredentialKind::Enterprise)
        {
            return Err(Error::config(
                "mode",
                "mode enterprise_only needs the `enterprise` credential",
            ));
        }
        Ok(())
    }

    pub(crate) fn parsed_base_url(&self) -> Result<url::Url> {
        let shown = crate::urls::without_userinfo(&self.base_url);
        let url = url::Url::parse(self.base_url.trim_end_matches('/'))
            .map_err(|e| Error::config("base_url", format!("{shown:?} is not a URL: {e}")))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::config(
                "base_url",
                format!(
                    "{shown} must not carry a user name or password: credentials go in `personal` / `enterprise`"
                ),
            ));
        }
        match url.scheme() {
            "https" => {}
            "http" => {
                let loopback = match url.host() {
                    Some(url::Host::Domain(d)) => d == "localhost",
                    Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
                    Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
                    None => false,
                };
                if !loopback && !self.allow_insecure_http {
                    return Err(Error::config(
                        "base_url",
                        format!(
                            "{shown} uses http:// to a non-loopback host, which would send tokens in clear text; use https:// or set allow_insecure_http"
                        ),
                    ));
                }
            }
            other => {
                return Err(Error::config(
                    "base_url",
                    format!("scheme {other:?} is not http or https"),
                ));
            }
        }
        if url.host().is_none() {
            return Err(Error::config("base_url", "has no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Error::config(
                "base_url",
                "must not have a query or fragment",
            ));
        }
        Ok(url)
    }

    pub(crate) fn fallback_codes(&self) -> BTreeMap<i64, ()> {
        self.fallback
            .codes
            .iter()
            .chain(&self.fallback.not_found_codes)
            .map(|c| (*c, ()))
            .collect()
    }

    pub(crate) fn total_timeout(&self) -> Duration {
        Duration::from_millis(self.timeouts.total_ms)
    }
}

impl CredentialConfig {
    fn validate(&self, side: &str) -> Result<()> {
        match self {
            CredentialConfig::Pat { token } => {
                if token.is_empty() {
                    return Err(Error::config(format!("{side}.token"), "must not be empty"));
                }
                check_header_safe(&format!("{side}.token"), token.expose())
            }
            CredentialConfig::Jwt {
                client_id,
                private_key,
                private_key_file,
                public_key_id,
                account_id,
                enterprise_id,
                ttl_secs,
                ..
            } => {
                if client_id.trim().is_empty() {
                    return Err(Error::config(
                        format!("{side}.client_id"),
                        "must not be empty",
                    ));
                }
                if public_key_id.trim().is_empty() {
                    return Err(Error::config(
                        format!("{side}.public_key_id"),
                        "must not be empty",
                    ));
                }
                if account_id.is_some() && enterprise_id.is_some() {
                    return Err(Error::config(
                        format!("{side}.enterprise_id"),
                        "set account_id or enterprise_id, not both",
                    ));
                }
                for (name, value) in [("account_id", account_id), ("enterprise_id", enterprise_id)]
                {
                    if let Some(v) = value
                        && (v.is_empty()
                            || !v
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                    {
                        return Err(Error::config(
                            format!("{side}.{name}"),
                            format!("{v:?} is not an id (letters, digits, `_` and `-` only)"),
                        ));
                    }
                }
                if let Some(ttl) = ttl_secs
                    && !(1..=86399).contains(ttl)
                {
                    return Err(Error::config(
                        format!("{side}.ttl_secs"),
                        "must be between 1 and 86399",
                    ));
                }
                crate::jwt::load_signing_key(&crate::jwt::KeyMaterial {
                    side,
                    private_key: private_key.as_ref(),
                    private_key_file: private_key_file.as_deref(),
                })
                .map(|_| ())
            }
            CredentialConfig::Oauth {
                client_id,
                access_token,
                refresh_token,
                ..
            } => {
                if client_id.trim().is_empty() {
                    return Err(Error::config(
                        format!("{side}.client_id"),
                        "must not be empty",
                    ));
                }
                if access_token.is_empty() {
                    return Err(Error::config(
                        format!("{side}.access_token"),
                        "must not be empty",
                    ));
                }
                check_header_safe(&format!("{side}.access_token"), access_token.expose())?;
                if let Some(r) = refresh_token
                    && r.is_empty()
                {
                    return Err(Error::config(
                        format!("{side}.refresh_token"),
                        "must not be empty when given",
                    ));
                }
                Ok(())
            }
        }
    }

    /// A short label for metrics and logs: the credential type and target, never a secret.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            CredentialConfig::Pat { .. } => "pat",
            CredentialConfig::Jwt {
                account_id: Some(_),
                ..
            } => "jwt_account",
            CredentialConfig::Jwt {
                enterprise_id: Some(_),
                ..
            } => "jwt_enterprise",
            CredentialConfig::Jwt { .. } => "jwt_app",
            CredentialConfig::Oauth { .. } => "oauth",
        }
    }
}

/// `max_request_bytes` and its old name `max_body_bytes` name one setting: giving both is a mistake to report,
/// not a silent pick.
fn refuse_both_names(text: &str) -> Result<()> {
    #[derive(Deserialize)]
    struct Names {
        max_request_bytes: Option<serde::de::IgnoredAny>,
        max_body_bytes: Option<serde::de::IgnoredAny>,
    }
    // A document that does not parse is reported by the real parse, with its path.
    if let Ok(Names {
        max_request_bytes: Some(_),
        max_body_bytes: Some(_),
    }) = serde_json::from_str::<Names>(text)
    {
        return Err(Error::config(
            "max_body_bytes",
            "is the old name of max_request_bytes; set only max_request_bytes",
        ));
    }
    Ok(())
}

fn check_header_safe(field: &str, value: &str) -> Result<()> {
    if value.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(Error::config(
            field,
            "contains control characters (a stray newline?)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(token: &str) -> Option<CredentialConfig> {
        Some(CredentialConfig::Pat {
            token: Secret::new(token),
        })
    }

    #[test]
    fn unknown_field_is_named_with_its_path() {
        let err = Config::from_json(r#"{"fallback": {"codez": [1]}}"#).unwrap_err();
        assert_eq!(err.field(), Some("fallback.codez"));
        assert!(err.message().contains("codez"), "{err}");
    }

    #[test]
    fn unknown_mode_is_named() {
        let err = Config::from_json(r#"{"mode": "sideways"}"#).unwrap_err();
        assert_eq!(err.field(), Some("mode"));
    }

    #[test]
    fn http_only_for_loopback() {
        let mut c = Config {
            base_url: "http://api.coze.cn".into(),
            personal: pat("pat_x"),
            ..Config::default()
        };
        assert_eq!(c.validate().unwrap_err().field(), Some("base_url"));
        c.allow_insecure_http = true;
        c.validate().unwrap();
        c.base_url = "http://127.0.0.1:8080".into();
        c.allow_insecure_http = false;
        c.validate().unwrap();
        c.base_url = "ftp://x".into();
        assert_eq!(c.validate().unwrap_err().field(), Some("base_url"));
    }

    #[test]
    fn user_info_in_base_url_is_refused_without_the_password() {
        for base in [
            "http://admin:pw-sekrit@127.0.0.1:8080",
            "https://admin:pw-sekrit@api.coze.cn/",
            "http://admin:pw-sekrit@example.com",
            "http://:pw-sekrit@[::1]:9",
        ] {
            let c = Config {
                base_url: base.into(),
                personal: pat("pat_x"),
                ..Config::default()
            };
            let err = c.validate().unwrap_err();
            assert_eq!(err.field(), Some("base_url"), "{base}: {err}");
            assert!(!format!("{err} {err:?}").contains("pw-sekrit"), "{err:?}");
        }
        let c = Config {
            base_url: "http://admin:pw-sekrit@[bad".into(),
            personal: pat("pat_x"),
            ..Config::default()
        };
        assert!(!c.validate().unwrap_err().to_string().contains("pw-sekrit"));
    }

    #[test]
    fn limits_have_defaults_and_the_old_name_is_an_alias() {
        let c = Config::from_json("{}").unwrap();
        assert_eq!(c.max_request_bytes, 64 << 20);
        assert_eq!(c.max_event_bytes, 16 << 20);
        assert_eq!(c.max_response_bytes, 256 << 20);
        let c = Config::from_json(r#"{"max_body_bytes": 10, "max_event_bytes": 5}"#).unwrap();
        assert_eq!((c.max_request_bytes, c.max_event_bytes), (10, 5));
        let err =
            Config::from_json(r#"{"max_body_bytes": 10, "max_request_bytes": 10}"#).unwrap_err();
        assert_eq!(err.field(), Some("max_body_bytes"));
        assert!(err.message().contains("max_request_bytes"), "{err}");
        let c = Config {
            personal: pat("pat_x"),
            max_response_bytes: 0,
            ..Config::default()
        };
        assert_eq!(
            c.validate().unwrap_err().field(),
            Some("max_response_bytes")
        );
    }

    #[test]
    fn empty_token_is_refused() {
        let c = Config {
            personal: pat(" "),
            ..Config::default()
        };
        assert_eq!(c.validate().unwrap_err().field(), Some("personal.token"));
    }

    #[test]
    fn env_prefers_pat_and_reads_jwt_targets() {
        let env = |k: &str| match k {
            "COZE_API_TOKEN" => Some("pat_a".to_string()),
            "COZE_JWT_OAUTH_CLIENT_ID" => Some("11".to_string()),
            "COZE_JWT_OAUTH_PUBLIC_KEY_ID" => Some("kid".to_string()),
            "COZE_ENTERPRISE_ID" => Some("volcano_1".to_string()),
            _ => None,
        };
        // The PAT serves the personal side; the enterprise side asks for the JWT app, whose key is missing.
        // (A complete JWT app from the environment: tests/plain_errors.rs.)
        let err = Config::from_env_with(env).unwrap_err();
        assert_eq!(err.field(), Some("COZE_JWT_OAUTH_PRIVATE_KEY"), "{err}");
        let pat_only = |k: &str| (k == "COZE_API_TOKEN").then(|| "pat_a".to_string());
        let c = Config::from_env_with(pat_only).unwrap();
        assert!(matches!(c.personal, Some(CredentialConfig::Pat { .. })));
        assert!(c.enterprise.is_none());
    }

    #[test]
    fn numeric_account_id_is_accepted() {
        let c = Config::from_json(
            r#"{"personal": {"type":"jwt","client_id":"1","public_key_id":"k","private_key":"x","account_id":12345}}"#,
        )
        .unwrap();
        assert!(
            matches!(c.personal, Some(CredentialConfig::Jwt { account_id: Some(a), .. }) if a == "12345")
        );
    }
}
