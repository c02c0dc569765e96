//! OAuth helpers for OBO (user) credentials: authorize URL with PKCE, code exchange, refresh, device flow
//! (docs/PROTOCOL.md, "OBO user tokens").

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use sha2::Digest;

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::http::Http;
use crate::metrics::Metrics;
use crate::redact::Secret;
use crate::util::unix_now;

/// Tokens handed back by an OAuth exchange.
#[derive(Clone, Debug)]
pub struct OAuthToken {
    /// The access token (`czu_...`).
    pub access_token: Secret,
    /// The refresh token; store it, it rotates on every refresh.
    pub refresh_token: Option<Secret>,
    /// Unix time at which the access token expires.
    pub expires_at: u64,
}

/// The answer of a device-code start.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct DeviceCode {
    /// Code the app polls with.
    pub device_code: String,
    /// Code the user types.
    pub user_code: String,
    /// Where the user types it.
    pub verification_uri: String,
    /// Seconds the codes stay valid (a duration here, unlike token `expires_in`).
    pub expires_in: u64,
    /// Seconds between polls.
    #[serde(default = "default_interval")]
    pub interval: u64,
}

fn default_interval() -> u64 {
    5
}

/// An authorize URL and, for PKCE, the verifier to keep until the code exchange.
#[derive(Clone, Debug)]
pub struct AuthorizeUrl {
    /// Where to send the user's browser.
    pub url: String,
    /// The random `state` to check on the redirect.
    pub state: String,
    /// The PKCE code verifier (send it with the code exchange).
    pub code_verifier: Option<Secret>,
}

/// An OAuth app (web, PKCE or device) on one Coze host.
///
/// ```
/// let app = cozefallback::OAuthApp::new("https://api.coze.cn", "1130000000000000002", None).unwrap();
/// let auth = app.authorize_url("https://example.com/cb", None, true);
/// assert!(auth.url.starts_with("https://www.coze.cn/api/permission/oauth2/authorize?"));
/// assert!(auth.url.contains("code_challenge_method=S256"));
/// ```
pub struct OAuthApp {
    base: url::Url,
    client_id: String,
    client_secret: Option<Secret>,
    http: Http,
}

/// Options of an [`OAuthApp`] beyond its host and client.
///
/// ```
/// use cozefallback::{OAuthApp, OAuthAppOptions};
/// let opts = OAuthAppOptions { allow_insecure_http: true, ..Default::default() };
/// assert!(OAuthApp::with_options("http://coze.internal:8080", "1130", None, opts).is_ok());
/// assert!(OAuthApp::new("http://coze.internal:8080", "1130", None).is_err());
/// ```
#[derive(Clone, Debug, Default)]
pub struct OAuthAppOptions {
    /// Permit `http://` to a non-loopback host (secrets and codes would travel in clear text), as the client
    /// config's `allow_insecure_http`.
    pub allow_insecure_http: bool,
    /// A PEM file of CA certificates to trust besides the system's roots, as the client config's
    /// `tls.ca_file` (`SSL_CERT_FILE` is read as for a client).
    pub ca_file: Option<std::path::PathBuf>,
}

impl OAuthApp {
    /// An app on `base_url` (`https://api.coze.cn`); `client_secret` only for web (code-flow) apps.
    pub fn new(base_url: &str, client_id: &str, client_secret: Option<Secret>) -> Result<Self> {
        OAuthApp::with_options(
            base_url,
            client_id,
            client_secret,
            OAuthAppOptions::default(),
        )
    }

    /// [`OAuthApp::new`] with options. The base URL follows the client config's rules (no user info, query or
    /// fragment; `http://` only to loopback unless allowed) and must have no path: Coze's OAuth endpoints sit
    /// at the host's root, so a path would be dropped, not used.
    pub fn with_options(
        base_url: &str,
        client_id: &str,
        client_secret: Option<Secret>,
        options: OAuthAppOptions,
    ) -> Result<Self> {
        if client_id.trim().is_empty() {
            return Err(Error::config("client_id", "must not be empty"));
        }
        let config = Config {
            base_url: base_url.to_string(),
            allow_insecure_http: options.allow_insecure_http,
            tls: crate::TlsConfig {
                ca_file: options.ca_file,
            },
            ..Config::default()
        };
        let base = config.parsed_base_url()?;
        if base.path() != "/" {
            return Err(Error::config(
                "base_url",
                format!(
                    "an OAuth app's base URL has no path (such as https://api.coze.cn), found path {:?}",
                    base.path()
                ),
            ));
        }
        let _guard = crate::runtime().enter();
        let http = Http::new(&config, &base, Arc::new(Metrics::default()))?;
        Ok(OAuthApp {
            base,
            client_id: client_id.to_string(),
            client_secret,
            http,
        })
    }

    /// The authorize URL on the `www.` host, with a random `state` and, if `pkce`, an S256 code challenge.
    pub fn authorize_url(
        &self,
        redirect_uri: &str,
        workspace_id: Option<&str>,
        pkce: bool,
    ) -> AuthorizeUrl {
        let state = random_hex(16);
        let verifier = pkce.then(|| random_url_safe(32));
        let mut url = authorize_url_for(&self.base, &self.client_id, redirect_uri, workspace_id);
        url.push_str(&format!("&state={state}"));
        if let Some(v) = &verifier {
            let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(v.as_bytes()));
            url.push_str(&format!(
                "&code_challenge={challenge}&code_challenge_method=S256"
            ));
        }
        AuthorizeUrl {
            url,
            state,
            code_verifier: verifier.map(Secret::new),
        }
    }

    /// Exchanges an authorization code (web apps send the client secret; PKCE apps the code verifier).
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
    ) -> Result<OAuthToken> {
        let mut body = serde_json::json!({
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.client_id,
        });
        if let Some(v) = code_verifier {
            body["code_verifier"] = v.into();
        }
        self.token_request("/api/permission/oauth2/token", body)
            .await
    }

    /// Refreshes: the answer carries a new refresh token; the old one stops working.
    pub async fn refresh(&self, refresh_token: &str) -> Result<OAuthToken> {
        let body = serde_json::json!({"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": self.client_id});
        self.token_request("/api/permission/oauth2/token", body)
            .await
    }

    /// Starts the device flow.
    pub async fn device_code(&self, workspace_id: Option<&str>) -> Result<DeviceCode> {
        let path = match workspace_id {
            Some(w) => format!("/api/permission/oauth2/workspace_id/{w}/device/code"),
            None => "/api/permission/oauth2/device/code".to_string(),
        };
        let request = self
            .http
            .client()?
            .post(format!("{}{}", self.http.base, path))
            .json(&serde_json::json!({"client_id": self.client_id}))
            .send();
        // Bounded in time and size like a token answer; a refused certificate says why.
        let limit = self.http.first_byte;
        let deadline = std::time::Instant::now() + limit;
        let mut resp = match tokio::time::timeout(limit, request).await {
            Ok(r) => r.map_err(|e| crate::http::transport_error(&e))?,
            Err(_) => return Err(device_code_timeout(limit)),
        };
        let status = resp.status().as_u16();
        let body = self
            .http
            .read_body(&mut resp, deadline, &crate::http::TOKEN_ANSWER_CAP)
            .await
            .map_err(crate::http::BodyError::into_error)?;
        let outcome = crate::classify::classify(status, &body);
        if outcome != crate::classify::Outcome::Success {
            let mut err = crate::classify::to_error(
                &outcome,
                status,
                crate::classify::logid(None, &body),
                &body,
            );
            err.kind = ErrorKind::Auth;
            return Err(err);
        }
        serde_json::from_slice(&body).map_err(|e| {
            Error::new(
                ErrorKind::Auth,
                format!("device code answer is not valid: {e}"),
            )
        })
    }

    /// Polls once for a device-flow token. An error whose `oauth_error()` is `authorization_pending` or
    /// `slow_down` means "ask again later".
    pub async fn poll_device_token(&self, device_code: &str) -> Result<OAuthToken> {
        let body = serde_json::json!({
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": device_code,
            "client_id": self.client_id,
        });
        self.token_request("/api/permission/oauth2/token", body)
            .await
    }

    /// Polls until the user approves, waiting `interval` between polls (5 s longer on `slow_down`, capped at
    /// 30 s); stops on `access_denied`, `expired_token` or when the code's lifetime passes. A code whose
    /// `expires_in` or `interval` is out of range ([`device_code_numbers`](crate::device_code_numbers)) is
    /// refused as `InvalidArgument` before the first poll.
    pub async fn wait_device_token(&self, code: &DeviceCode) -> Result<OAuthToken> {
        // A code from a caller (or a server) with a NaN-free but absurd number must not overflow the clock.
        let (expires_in, interval) =
            crate::limits::device_code_numbers(code.expires_in as f64, code.interval as f64)?;
        let mut interval = Duration::from_secs(interval);
        let give_up = std::time::Instant::now() + Duration::from_secs(expires_in);
        loop {
            match self.poll_device_token(&code.device_code).await {
                Ok(t) => return Ok(t),
                Err(e) => match e.oauth_error() {
                    Some("authorization_pending") => {}
                    Some("slow_down") => {
                        interval = (interval + Duration::from_secs(5)).min(Duration::from_secs(30))
                    }
                    _ => return Err(e),
                },
            }
            if std::time::Instant::now() + interval > give_up {
                return Err(Error::new(
                    ErrorKind::Auth,
                    "the device code expired before the user approved",
                ));
            }
            tokio::time::sleep(interval).await;
        }
    }

    async fn token_request(&self, path: &str, body: serde_json::Value) -> Result<OAuthToken> {
        let secret = self.client_secret.clone();
        let minted = self
            .http
            .token_exchange(
                path,
                || Ok(secret.clone().unwrap_or_else(|| Secret::new(""))),
                body,
            )
            .await?;
        Ok(OAuthToken {
            access_token: minted.access_token,
            refresh_token: minted.refresh_token,
            expires_at: minted
                .expires_at
                .duration_since(std::time::UNIX_EPOCH)
                .map_or_else(|_| unix_now(), |d| d.as_secs()),
        })
    }
}

/// `{www}/api/permission/oauth2[/workspace_id/{id}]/authorize?response_type=code&client_id=..&redirect_uri=..`
pub(crate) fn authorize_url_for(
    base: &url::Url,
    client_id: &str,
    redirect_uri: &str,
    workspace_id: Option<&str>,
) -> String {
    let host = base.host_str().unwrap_or_default();
    let www = host
        .strip_prefix("api.")
        .map_or_else(|| host.to_string(), |h| format!("www.{h}"));
    let port = base.port().map(|p| format!(":{p}")).unwrap_or_default();
    let mid = workspace_id
        .map(|w| format!("/workspace_id/{w}"))
        .unwrap_or_default();
    let mut url = url::Url::parse(&format!(
        "{}://{www}{port}/api/permission/oauth2{mid}/authorize",
        base.scheme()
    ))
    .expect("built from a valid base");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri);
    url.to_string()
}

fn random_hex(n: usize) -> String {
    let mut raw = vec![0u8; n];
    crate::runtime::fill_unique(&mut raw);
    hex::encode(raw)
}

fn random_url_safe(n: usize) -> String {
    let mut raw = vec![0u8; n];
    crate::runtime::fill_unique(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn device_code_timeout(limit: Duration) -> Error {
    Error::timeout(format!(
        "the device code request got no answer within the first-byte timeout of {} ms",
        limit.as_millis()
    ))
}
