//! What every connection of one mock server shares: the world ([`State`]), the keys and the info document.
//!
//! Below the handlers and the server: the per-request [`Ctx`](crate::ctx::Ctx) and the handlers use it, it
//! uses neither.

use std::collections::HashSet;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::keys::AppKeys;
use crate::state::State;

/// Everything a client needs to talk to the mock (the `GET /__mock/info` document).
///
/// ```
/// use coze_mock::{MockOptions, MockServer};
///
/// let mock = MockServer::start_blocking(MockOptions::default()).expect("mock starts");
/// let info = mock.info();
/// assert_eq!(info.base_url, mock.base_url());
/// assert_eq!(info.bots.len(), 3);
/// assert!(info.ca_file.is_none(), "no CA without `tls`");
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MockInfo {
    /// The mock's base URL (`http://127.0.0.1:PORT`, or `https://` with `tls`).
    pub base_url: String,
    /// A PAT of the personal account.
    pub personal_pat: String,
    /// A PAT of the enterprise.
    pub enterprise_pat: String,
    /// The JWT app's client id.
    pub jwt_client_id: String,
    /// The JWT app's public key id (`kid`).
    pub jwt_kid: String,
    /// The PEM file of the JWT app's private key.
    pub private_key_file: String,
    /// The PEM file of the JWT app's public key.
    pub public_key_file: String,
    /// The JWT app's private key, as PEM text.
    pub private_key_pem: String,
    /// The personal account's id (the `/account/{id}/token` path).
    pub account_id: String,
    /// The enterprise's id (the `/enterprise_id/{id}/token` path).
    pub enterprise_id: String,
    /// The OAuth app's client id.
    pub oauth_client_id: String,
    /// The OAuth app's client secret.
    pub oauth_client_secret: String,
    /// Every bot id the mock knows.
    pub bots: Vec<String>,
    /// The bot only the enterprise owns.
    pub enterprise_bot: String,
    /// The workflow id the mock knows.
    pub workflow_id: String,
    /// The workspace id the mock knows.
    pub workspace_id: String,
    /// With `tls`: the PEM file of the CA that signed the server certificate (trust it to connect); else null.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// With `tls`: the PEM file of the server certificate itself; else null.
    #[serde(default)]
    pub server_cert_file: Option<String>,
}

/// State shared by the accept loop, every connection and the control handles.
pub(crate) struct Shared {
    pub state: Mutex<State>,
    /// Every JWT id seen; survives `reset` because a replayed JWT is a replay whatever the scenario.
    pub seen_jti: Mutex<HashSet<String>>,
    pub keys: &'static AppKeys,
    pub info: MockInfo,
    pub base_url: String,
    /// The `aud` the app's JWTs must carry: `127.0.0.1:PORT`.
    pub audience: String,
}
