//! The mock's mutable world: settings, issued tokens, owned conversations, faults and counters.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::faults::Fault;
use crate::identities::{ENTERPRISE_PAT, PERSONAL_PAT};
use crate::util::now_secs;

/// Who a bearer token acts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Principal {
    Personal,
    Enterprise,
}

impl Principal {
    pub fn name(self) -> &'static str {
        match self {
            Principal::Personal => "personal",
            Principal::Enterprise => "enterprise",
        }
    }
}

/// The error an unreachable principal gets.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ErrorSpec {
    pub code: i64,
    #[serde(default = "default_http_status")]
    pub http_status: u16,
}

fn default_http_status() -> u16 {
    200
}

/// Which kind of grant minted a token (the `token_mints` counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MintKind {
    App,
    Account,
    Enterprise,
    Oauth,
}

impl MintKind {
    fn key(self) -> &'static str {
        match self {
            MintKind::App => "app",
            MintKind::Account => "account",
            MintKind::Enterprise => "enterprise",
            MintKind::Oauth => "oauth",
        }
    }
}

pub(crate) struct IssuedToken {
    pub principal: Principal,
    pub expires_at: i64,
}

pub(crate) struct Conversation {
    pub owner: Principal,
    pub created_at: i64,
    pub section_id: String,
    /// Chat ids started in this conversation, with their bot.
    pub chats: Vec<(String, String)>,
    /// The conversation's messages, oldest first (ids grow with time): user queries, inserted messages and
    /// the bot's answers, as `message/list` returns them.
    pub messages: Vec<Value>,
}

pub(crate) struct AuthCode {
    pub redirect_uri: String,
    pub challenge: Option<(String, String)>,
}

pub(crate) struct DeviceGrant {
    pub user_code: String,
    pub expires_at: i64,
    /// `None` = pending, `Some(true)` = approved, `Some(false)` = denied.
    pub decision: Option<bool>,
}

/// One line of the request log.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LogEntry {
    pub method: String,
    pub path: String,
    pub credential: String,
    pub status: Option<u16>,
    pub code: Option<i64>,
}

#[derive(Default)]
pub(crate) struct Stats {
    pub total: u64,
    pub by_credential: BTreeMap<String, u64>,
    pub by_path: BTreeMap<String, u64>,
    /// Requests by protocol (`HTTP/1.1`, `HTTP/2`), to show what a client negotiated.
    pub by_http_version: BTreeMap<&'static str, u64>,
    /// TLS connections that ended before a request (the client refused the certificate, spoke plain HTTP...).
    pub tls_handshake_failures: u64,
    pub token_mints: BTreeMap<&'static str, u64>,
    pub token_requests: u64,
    pub log: Vec<LogEntry>,
    /// WebSocket handshakes and sessions (the realtime APIs).
    pub websocket: WsStats,
}

/// The `websocket` part of the stats.
#[derive(Default, Serialize)]
pub(crate) struct WsStats {
    pub handshakes: u64,
    pub by_credential: BTreeMap<String, u64>,
    pub by_path: BTreeMap<String, u64>,
    pub sessions: Vec<WsSessionLog>,
}

/// Everything `reset` puts back.
pub(crate) struct State {
    pub moved: bool,
    pub token_ttl_secs: i64,
    pub app_disabled: bool,
    pub personal_error_after_move: ErrorSpec,
    pub enterprise_error_before_move: ErrorSpec,
    pub faults: Vec<Fault>,
    pub tokens: HashMap<String, IssuedToken>,
    /// Live refresh tokens (rotated on use).
    pub refresh_tokens: HashSet<String>,
    pub conversations: HashMap<String, Conversation>,
    /// The enterprise credential may reach the personal account's conversations and files (the guide's grant).
    pub account_resources_granted: bool,
    /// Uploaded file ids and the account that uploaded them (a file is usable only by it).
    pub files: HashMap<String, Principal>,
    pub codes: HashMap<String, AuthCode>,
    pub devices: HashMap<String, DeviceGrant>,
    pub stats: Stats,
}

/// The longest lifetime Coze grants (`duration_seconds` max).
pub(crate) const MAX_TOKEN_TTL: i64 = 86_399;

impl Default for State {
    fn default() -> Self {
        let denied = ErrorSpec {
            code: 4101,
            http_status: 200,
        };
        State {
            moved: false,
            token_ttl_secs: MAX_TOKEN_TTL,
            app_disabled: false,
            personal_error_after_move: denied,
            enterprise_error_before_move: denied,
            faults: Vec::new(),
            tokens: HashMap::new(),
            refresh_tokens: HashSet::new(),
            conversations: HashMap::new(),
            account_resources_granted: false,
            files: HashMap::new(),
            codes: HashMap::new(),
            devices: HashMap::new(),
            stats: Stats::default(),
        }
    }
}

/// The settable part of the state (`POST /__mock/state`); unknown keys are rejected.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatePatch {
    moved: Option<bool>,
    token_ttl_secs: Option<i64>,
    app_disabled: Option<bool>,
    personal_error_after_move: Option<ErrorSpec>,
    enterprise_error_before_move: Option<ErrorSpec>,
    faults: Option<Vec<Fault>>,
    account_resources_granted: Option<bool>,
}

impl State {
    /// The principal a bearer token acts for, if the token is valid now.
    pub fn principal_of(&self, token: &str) -> Option<Principal> {
        match token {
            PERSONAL_PAT => Some(Principal::Personal),
            ENTERPRISE_PAT => Some(Principal::Enterprise),
            _ => {
                let t = self.tokens.get(token)?;
                (t.expires_at > now_secs() && !self.app_disabled).then_some(t.principal)
            }
        }
    }

    /// Whether `p` can reach the workspace's resources; otherwise the configured error.
    pub fn workspace_access(&self, p: Principal) -> Result<(), ErrorSpec> {
        match (p, self.moved) {
            (Principal::Personal, false) | (Principal::Enterprise, true) => Ok(()),
            (Principal::Personal, true) => Err(self.personal_error_after_move),
            (Principal::Enterprise, false) => Err(self.enterprise_error_before_move),
        }
    }

    /// Whether `p` may use an account-level resource (conversation, file) owned by `owner`.
    pub fn reaches_account_resource(&self, p: Principal, owner: Principal) -> bool {
        p == owner || (p == Principal::Enterprise && self.account_resources_granted)
    }

    pub fn count_mint(&mut self, kind: MintKind) {
        *self.stats.token_mints.entry(kind.key()).or_default() += 1;
    }

    /// Applies a patch; answers the full state.
    pub fn apply(&mut self, patch: Value) -> Result<Value, String> {
        let patch: StatePatch =
            serde_json::from_value(patch).map_err(|e| format!("bad state: {e}"))?;
        if patch.token_ttl_secs.is_some_and(|ttl| ttl < 1) {
            return Err("bad state: token_ttl_secs must be >= 1".into());
        }
        let bad_credential = patch.faults.iter().flatten().find(|f| {
            !matches!(
                f.credential.as_deref(),
                None | Some("any" | "personal" | "enterprise")
            )
        });
        if let Some(f) = bad_credential {
            return Err(format!(
                "bad state: fault credential {:?} is not personal|enterprise|any",
                f.credential
            ));
        }
        if let Some(v) = patch.moved {
            self.moved = v;
        }
        if let Some(v) = patch.token_ttl_secs {
            self.token_ttl_secs = v;
        }
        if let Some(v) = patch.app_disabled {
            self.app_disabled = v;
        }
        if let Some(v) = patch.personal_error_after_move {
            self.personal_error_after_move = v;
        }
        if let Some(v) = patch.enterprise_error_before_move {
            self.enterprise_error_before_move = v;
        }
        if let Some(v) = patch.account_resources_granted {
            self.account_resources_granted = v;
        }
        if let Some(fs) = patch.faults {
            self.faults.extend(fs);
        }
        Ok(self.to_json())
    }

    /// The settable state as JSON (faults with their remaining `times`).
    pub fn to_json(&self) -> Value {
        json!({
            "moved": self.moved,
            "token_ttl_secs": self.token_ttl_secs,
            "app_disabled": self.app_disabled,
            "personal_error_after_move": self.personal_error_after_move,
            "enterprise_error_before_move": self.enterprise_error_before_move,
            "faults": self.faults,
            "account_resources_granted": self.account_resources_granted,
        })
    }

    /// The `GET /__mock/stats` document.
    pub fn stats_json(&self) -> Value {
        let s = &self.stats;
        let mut by_credential = json!({"personal": 0, "enterprise": 0, "unauthenticated": 0});
        for (k, v) in &s.by_credential {
            by_credential[k.as_str()] = json!(v);
        }
        let mut mints = json!({"app": 0, "account": 0, "enterprise": 0, "oauth": 0});
        for (k, v) in &s.token_mints {
            mints[*k] = json!(v);
        }
        json!({
            "requests": {"total": s.total, "by_credential": by_credential, "by_path": s.by_path,
                         "by_http_version": s.by_http_version},
            "tls_handshake_failures": s.tls_handshake_failures,
            "token_mints": mints,
            "token_requests": s.token_requests,
            "log": s.log,
            "websocket": s.websocket,
        })
    }
}

/// One WebSocket session as the stats show it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct WsSessionLog {
    pub path: String,
    pub credential: String,
    /// `upgraded`, `refused_handshake` (HTTP answer), `refused` (error event then close), `hung`, `reset`.
    pub outcome: String,
    /// The HTTP status of the handshake answer (101 when upgraded).
    pub status: Option<u16>,
    /// The Coze code of the refusal (handshake body or first error event).
    pub code: Option<i64>,
    /// Client events received, in order: `event_type` and `id`.
    pub received: Vec<Value>,
    /// Server events sent.
    pub events_sent: u64,
    /// Whether the client answered the server's ping.
    pub pong: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_rejects_unknown_keys_and_appends_faults() {
        let mut s = State::default();
        assert!(s.apply(json!({"mooved": true})).is_err());
        let f = json!({"path": "/", "action": {"type": "hang"}});
        s.apply(json!({"moved": true, "faults": [f.clone()]}))
            .unwrap();
        let full = s.apply(json!({"faults": [f]})).unwrap();
        assert_eq!(full["moved"], true);
        assert_eq!(full["faults"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn move_flips_access() {
        let mut s = State::default();
        assert!(s.workspace_access(Principal::Personal).is_ok());
        assert!(s.workspace_access(Principal::Enterprise).is_err());
        s.moved = true;
        assert!(s.workspace_access(Principal::Personal).is_err());
        assert!(s.workspace_access(Principal::Enterprise).is_ok());
    }
}
