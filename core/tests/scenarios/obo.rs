//! The OBO part of the conformance scenarios (`tests/scenarios/obo/*.json`, format in
//! `tests/scenarios/README.md`): the `obo_login` flows through the core's own `OAuthApp`, the record of the
//! client's refresh hook, the `fetch_token` and `oauth_refresh` steps and the OAuth keys of `expect.error`.
//! Token values are never printed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cozefallback::{Client, CredentialKind, Error, OAuthApp, OAuthToken, Secret, TokenRefresh};
use serde_json::{Value, json};

use super::{Outcome, check, from_error};

/// The redirect URI every login uses (nothing listens there: the mock hands out the code).
const REDIRECT: &str = "http://127.0.0.1:9/callback";

fn var<'a>(vars: &'a HashMap<String, String>, name: &str) -> Result<&'a str, String> {
    vars.get(name)
        .map(String::as_str)
        .ok_or_else(|| format!("no ${{{name}}}"))
}

/// The scenario's OAuth app on the mock: a web app with the client secret, or a public (PKCE, device) one.
fn app(vars: &HashMap<String, String>, with_secret: bool) -> Result<OAuthApp, String> {
    let secret = if with_secret {
        Some(Secret::new(var(vars, "OAUTH_CLIENT_SECRET")?))
    } else {
        None
    };
    OAuthApp::new(
        var(vars, "BASE_URL")?,
        var(vars, "OAUTH_CLIENT_ID")?,
        secret,
    )
    .map_err(|e| format!("OAuthApp: {e}"))
}

/// `POST /__mock/<path>`: what the user's browser (or phone) would do.
async fn mock_post(
    vars: &HashMap<String, String>,
    path: &str,
    body: Value,
) -> Result<Value, String> {
    let url = format!("{}/__mock/{path}", var(vars, "BASE_URL")?);
    let resp = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("POST /__mock/{path}: {e}"))?;
    let status = resp.status();
    let answer: Value = resp
        .json()
        .await
        .map_err(|e| format!("/__mock/{path}: {e}"))?;
    if !status.is_success() {
        return Err(format!("POST /__mock/{path}: {status} {answer}"));
    }
    Ok(answer)
}

/// The value of `name` in the query of `url`.
fn query_param(url: &str, name: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The code flow: an authorize URL (checked), a code from the mock, the exchange with the client secret.
async fn code_login(vars: &HashMap<String, String>) -> Result<OAuthToken, String> {
    let app = app(vars, true)?;
    let auth = app.authorize_url(REDIRECT, None, false);
    let client_id = var(vars, "OAUTH_CLIENT_ID")?;
    if query_param(&auth.url, "client_id").as_deref() != Some(client_id)
        || query_param(&auth.url, "redirect_uri").as_deref() != Some(REDIRECT)
        || !auth
            .url
            .contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback")
        || query_param(&auth.url, "state").is_none_or(|s| s.is_empty() || s != auth.state)
    {
        return Err(format!(
            "authorize URL lacks client_id, redirect_uri or state: {}",
            auth.url
        ));
    }
    let code = mock_post(vars, "oauth/code", json!({"redirect_uri": REDIRECT})).await?;
    let code = code["code"].as_str().ok_or("no code from the mock")?;
    app.exchange_code(code, REDIRECT, None)
        .await
        .map_err(|e| format!("code exchange: {e}"))
}

/// PKCE: an S256 challenge in the authorize URL, the code bound to it, the exchange with the verifier.
async fn pkce_login(vars: &HashMap<String, String>) -> Result<OAuthToken, String> {
    let app = app(vars, false)?;
    let auth = app.authorize_url(REDIRECT, None, true);
    let challenge = query_param(&auth.url, "code_challenge").filter(|c| !c.is_empty());
    let (Some(challenge), Some("S256"), Some(verifier)) = (
        challenge,
        query_param(&auth.url, "code_challenge_method").as_deref(),
        auth.code_verifier.as_ref(),
    ) else {
        return Err(format!(
            "PKCE authorize URL lacks an S256 challenge (or no verifier): {}",
            auth.url
        ));
    };
    let body = json!({"redirect_uri": REDIRECT, "code_challenge": challenge,
                      "code_challenge_method": "S256"});
    let code = mock_post(vars, "oauth/code", body).await?;
    let code = code["code"].as_str().ok_or("no code from the mock")?;
    app.exchange_code(code, REDIRECT, Some(verifier.expose()))
        .await
        .map_err(|e| format!("PKCE code exchange: {e}"))
}

/// The device flow: a device code, the user's approval, then the core's own polling.
async fn device_login(vars: &HashMap<String, String>) -> Result<OAuthToken, String> {
    let app = app(vars, false)?;
    let device = app
        .device_code(None)
        .await
        .map_err(|e| format!("device code: {e}"))?;
    if device.device_code.is_empty()
        || device.user_code.is_empty()
        || device.verification_uri.is_empty()
    {
        return Err(format!("incomplete device code: {device:?}"));
    }
    mock_post(
        vars,
        "oauth/device/approve",
        json!({"user_code": device.user_code}),
    )
    .await?;
    let wait = app.wait_device_token(&device);
    tokio::time::timeout(std::time::Duration::from_secs(30), wait)
        .await
        .map_err(|_| "the device token did not come within 30 s".to_string())?
        .map_err(|e| format!("device token: {e}"))
}

/// Runs the scenario's `obo_login` and keeps the tokens as `${OBO_ACCESS_TOKEN}` and `${OBO_REFRESH_TOKEN}`.
pub(super) async fn login(flow: &Value, vars: &mut HashMap<String, String>) -> Result<(), String> {
    let token = match flow.as_str() {
        Some("code") => code_login(vars).await?,
        Some("pkce") => pkce_login(vars).await?,
        Some("device") => device_login(vars).await?,
        _ => {
            return Err(format!(
                "obo_login must be code, pkce or device, not {flow}"
            ));
        }
    };
    let refresh = token
        .refresh_token
        .ok_or("the login gave no refresh token")?;
    if token.access_token.expose().is_empty() || refresh.expose().is_empty() {
        return Err("the login gave an empty token".into());
    }
    vars.insert(
        "OBO_ACCESS_TOKEN".into(),
        token.access_token.expose().into(),
    );
    vars.insert("OBO_REFRESH_TOKEN".into(), refresh.expose().into());
    Ok(())
}

/// Every call of a client's refresh hook, in order.
#[derive(Clone, Default)]
pub(super) struct Refreshes(Arc<Mutex<Vec<TokenRefresh>>>);

impl Refreshes {
    /// Installs the recording hook on `client`.
    pub(super) fn install(&self, client: &Client) {
        let calls = self.0.clone();
        client.set_refresh_hook(Some(Arc::new(move |r: &TokenRefresh| {
            calls.lock().unwrap().push(r.clone());
        })));
    }

    fn calls(&self) -> Vec<TokenRefresh> {
        self.0.lock().unwrap().clone()
    }

    /// `expect_refresh_hook`: the calls' credentials in order, each with fresh, rotated tokens.
    pub(super) fn check(&self, want: &Value, config: &Value) -> Result<(), String> {
        let want = want
            .as_array()
            .ok_or("expect_refresh_hook must be an array")?;
        let calls = self.calls();
        let names: Vec<&str> = calls.iter().map(|c| c.credential.as_str()).collect();
        let wanted: Vec<Option<&str>> = want
            .iter()
            .map(|w| w.get("credential").and_then(Value::as_str))
            .collect();
        if wanted != names.iter().map(|n| Some(*n)).collect::<Vec<_>>() {
            return Err(format!(
                "refresh hook: expected calls for {wanted:?}, got {names:?}"
            ));
        }
        let mut seen: Vec<String> = configured_refresh_token(config).into_iter().collect();
        let now = unix_now();
        for (i, call) in calls.iter().enumerate() {
            let refresh = call.refresh_token.as_ref().map(Secret::expose);
            if call.access_token.expose().is_empty() || refresh.is_none_or(str::is_empty) {
                return Err(format!("refresh hook call {i}: an empty token"));
            }
            let refresh = refresh.unwrap_or_default().to_string();
            if seen.contains(&refresh) {
                return Err(format!(
                    "refresh hook call {i}: the refresh token did not rotate"
                ));
            }
            if call.expires_at <= now {
                return Err(format!(
                    "refresh hook call {i}: expires_at {} is not in the future",
                    call.expires_at
                ));
            }
            seen.push(refresh);
        }
        Ok(())
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The refresh token of the config's OAuth credential (personal first).
fn configured_refresh_token(config: &Value) -> Option<String> {
    ["personal", "enterprise"]
        .iter()
        .map(|side| &config[side])
        .find(|c| c["type"] == "oauth")
        .and_then(|c| c["refresh_token"].as_str())
        .map(str::to_string)
}

/// Whether `step` is an OBO step (`fetch_token`, `oauth_refresh`).
pub(super) fn is_step(step: &Value) -> bool {
    step.get("fetch_token").is_some() || step.get("oauth_refresh").is_some()
}

/// Runs a `fetch_token` or `oauth_refresh` step and checks its `expect`.
pub(super) async fn step(
    client: &Client,
    step: &Value,
    refreshes: &Refreshes,
    config: &Value,
    vars: &HashMap<String, String>,
) -> Result<(), String> {
    let expect = step.get("expect").cloned().unwrap_or(json!({}));
    let out = if let Some(kind) = step.get("fetch_token") {
        let kind: CredentialKind = kind
            .as_str()
            .ok_or("fetch_token must be a credential name")?
            .parse()
            .map_err(|e: Error| format!("fetch_token: {e}"))?;
        match client.fetch_token(kind).await {
            Ok(()) => Outcome::default(),
            Err(e) => from_error(e, std::time::Duration::ZERO),
        }
    } else {
        let token = match step["oauth_refresh"].as_str() {
            Some("hooked") => refreshes
                .calls()
                .last()
                .and_then(|c| c.refresh_token.as_ref().map(|t| t.expose().to_string()))
                .ok_or("oauth_refresh hooked: the refresh hook was never called")?,
            Some("configured") => configured_refresh_token(config)
                .ok_or("oauth_refresh configured: no OAuth refresh_token in config")?,
            _ => return Err("oauth_refresh must be hooked or configured".into()),
        };
        match app(vars, true)?.refresh(&token).await {
            Ok(t) => fresh_tokens(&t)?,
            Err(e) => from_error(e, std::time::Duration::ZERO),
        }
    };
    check(&expect, &out)
}

/// A successful refresh must hand back a non-empty access and refresh token.
fn fresh_tokens(t: &OAuthToken) -> Result<Outcome, String> {
    let refresh = t.refresh_token.as_ref().map(Secret::expose);
    if t.access_token.expose().is_empty() || refresh.is_none_or(str::is_empty) {
        return Err("oauth_refresh: an empty access or refresh token".into());
    }
    Ok(Outcome::default())
}

/// The OAuth keys of `expect.error`: `oauth_error`, `authorize_url_contains`.
pub(super) fn check_error(want: &Value, err: &Error) -> Result<(), String> {
    if let Some(w) = want.get("oauth_error")
        && w.as_str() != err.oauth_error()
    {
        return Err(format!(
            "error.oauth_error: expected {w}, got {:?} ({err})",
            err.oauth_error()
        ));
    }
    if let Some(parts) = want.get("authorize_url_contains") {
        let parts = parts
            .as_array()
            .ok_or("error.authorize_url_contains must be an array")?;
        let url = err
            .authorize_url()
            .ok_or_else(|| format!("error.authorize_url: expected one, got none ({err})"))?;
        for part in parts {
            let part = part
                .as_str()
                .ok_or("authorize_url_contains: strings only")?;
            if !url.contains(part) {
                return Err(format!("authorize URL {url:?} lacks {part:?}"));
            }
        }
    }
    Ok(())
}
