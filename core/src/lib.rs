//! # cozefallback
//!
//! A Coze OpenAPI client that holds two credentials, the old **personal** one and the new **enterprise** one,
//! and moves each request to the credential that works, so a workspace can move from the personal to the
//! enterprise edition with no failed call.
//!
//! ```no_run
//! # async fn demo() -> cozefallback::Result<()> {
//! let client = cozefallback::Client::from_json(r#"{
//!     "base_url": "https://api.coze.cn",
//!     "personal":   {"type": "pat", "token": "pat_old"},
//!     "enterprise": {"type": "jwt", "client_id": "1132", "private_key_file": "private_key.pem",
//!                    "public_key_id": "kid", "enterprise_id": "volcano_2105850"}
//! }"#)?;
//! let chat = cozefallback::Request::post_json("/v3/chat", serde_json::json!({
//!     "bot_id": "7350000000000000001", "user_id": "u1", "stream": false,
//!     "additional_messages": [{"role": "user", "content": "hi", "content_type": "text"}]
//! }));
//! let resp = client.request(chat).await?;
//! println!("{} answered via the {} credential", resp.status, resp.credential);
//! # Ok(()) }
//! ```
//!
//! The core decides everything (fallback codes, stickiness, token cache, retries, metrics); the C, Go,
//! Python and Node bindings only translate.

mod blocking;
mod budget;
mod caller;
mod classify;
mod client;
mod closing;
mod config;
mod config_parse;
mod conversations;
mod conversations_config;
mod credential;
mod credential_parse;
mod decide;
mod error;
mod forms;
mod http;
mod jwt;
mod limits;
mod metrics;
mod oauth;
mod redact;
mod request;
mod route;
mod runtime;
mod sse;
mod state;
mod state_config;
mod tls;
mod token;
mod urls;
mod util;

pub use blocking::{BlockingClient, BlockingStream, CancelToken, block_on};
pub use classify::{Outcome, classify, code_hint};
pub use client::ws::{BlockingWebSocket, WebSocketSession, WsEvent};
pub use client::{Client, EventStream, Reply};
pub use config::{
    CONFIG_SCHEMA, Config, CredentialConfig, DEFAULT_BASE_URL, FallbackConfig, RetryConfig,
    TimeoutConfig,
};
pub use conversations::{ConversationHook, ConversationMoved};
pub use conversations_config::{ConversationsConfig, MAX_CARRY_OVER_MESSAGES, OnStranded};
pub use credential::{CredentialKind, Mode};
pub use error::{Error, ErrorKind, FailedResponse, Result};
pub use forms::{ERROR_JSON_KEYS, ResponseMeta};
pub use limits::{
    MAX_POLL_INTERVAL_SECS, MAX_STICKY_TTL_SECS, MAX_TIMEOUT, MAX_UNIX_TIME, device_code_numbers,
    device_seconds, timeout_from_millis, timeout_from_secs, timeout_from_whole_millis,
    whole_number,
};
pub use oauth::{AuthorizeUrl, DeviceCode, OAuthApp, OAuthAppOptions, OAuthToken};
pub use redact::{Secret, redact};
pub use request::{Body, Multipart, Request, Response};
pub use runtime::{ensure_not_forked, fork_generation, runtime};
pub use sse::{DEFAULT_MAX_EVENT_BYTES, Event, SseParser};
pub use state::{FleetMode, fleet_mode, set_fleet_mode};
pub use state_config::{REDIS_URL_ENV, RedisUrl, StateConfig};
pub use tls::TlsConfig;
pub use token::{RefreshHook, TokenRefresh};

/// The library version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
