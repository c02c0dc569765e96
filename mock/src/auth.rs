//! The OAuth token endpoints: JWT app exchange (app, account and enterprise paths), OBO code,
//! refresh and device flows.

use std::collections::HashMap;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper::StatusCode;
use jsonwebtoken::{Algorithm, Validation, decode, decode_header};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::body::Reply;
use crate::ctx::Ctx;
use crate::identities::{
    ACCOUNT_ID, ENTERPRISE_ID, JWT_CLIENT_ID, JWT_KID, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET,
};
use crate::shared::Shared;
use crate::state::{DeviceGrant, IssuedToken, MAX_TOKEN_TTL, MintKind, Principal, State};
use crate::util::{now_secs, random_hex};

const GRANT_JWT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const GRANT_DEVICE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Default `duration_seconds` of a JWT exchange, and the lifetime of OBO access tokens.
const DEFAULT_TTL: i64 = 900;
/// Poll interval announced by the device flow (Coze says 5; 1 keeps tests fast).
const DEVICE_INTERVAL: i64 = 1;
const DEVICE_EXPIRES_IN: i64 = 600;

/// Which token endpoint a path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenRoute {
    /// `/token` (also `/workspace_id/{id}/token`): JWT app tokens and every OBO grant.
    App,
    Account(String),
    Enterprise(String),
    DeviceCode,
    Unknown,
}

impl TokenRoute {
    /// `None` when the path is not under `/api/permission/oauth2/`.
    pub fn parse(path: &str) -> Option<TokenRoute> {
        let rest = path.strip_prefix("/api/permission/oauth2/")?;
        let parts: Vec<&str> = rest.split('/').collect();
        Some(match parts.as_slice() {
            ["token"] | ["workspace_id", _, "token"] => TokenRoute::App,
            ["device", "code"] | ["workspace_id", _, "device", "code"] => TokenRoute::DeviceCode,
            ["account", id, "token"] => TokenRoute::Account((*id).to_string()),
            ["enterprise_id", id, "token"] => TokenRoute::Enterprise((*id).to_string()),
            _ => TokenRoute::Unknown,
        })
    }

    /// The credential a token request targets (for faults, stats and the log).
    pub fn credential(&self) -> Principal {
        match self {
            TokenRoute::Enterprise(_) => Principal::Enterprise,
            _ => Principal::Personal,
        }
    }
}

fn invalid_client(msg: &str) -> Reply {
    Reply::oauth(StatusCode::UNAUTHORIZED, "invalid_client", msg)
}

fn bad_request(error: &str, msg: &str) -> Reply {
    Reply::oauth(StatusCode::BAD_REQUEST, error, msg)
}

/// Reads the request's parameters from a JSON body, or a form body when it is not JSON.
fn params(ctx: &Ctx) -> Result<HashMap<String, Value>, Reply> {
    if ctx.body.is_empty() {
        return Ok(HashMap::new());
    }
    if let Ok(map) = serde_json::from_slice(&ctx.body) {
        return Ok(map);
    }
    let ct = ctx
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.starts_with("application/x-www-form-urlencoded") {
        return Ok(url::form_urlencoded::parse(&ctx.body)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect());
    }
    Err(bad_request(
        "invalid_request",
        "request body is not a JSON object",
    ))
}

fn str_param<'a>(p: &'a HashMap<String, Value>, key: &str) -> Option<&'a str> {
    p.get(key).and_then(Value::as_str)
}

/// Answers a request on `/api/permission/oauth2/...`.
pub(crate) fn token_endpoint(shared: &Shared, ctx: &Ctx, route: &TokenRoute) -> Reply {
    if ctx.method != hyper::Method::POST || *route == TokenRoute::Unknown {
        return Reply::business(StatusCode::NOT_FOUND, 4000, "unknown endpoint", &ctx.logid);
    }
    let p = match params(ctx) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut st = shared.state.lock().expect("state lock");
    if st.app_disabled {
        return invalid_client("the app is disabled");
    }
    if *route == TokenRoute::DeviceCode {
        return device_code(&mut st, &p, &shared.base_url);
    }
    let grant = str_param(&p, "grant_type").unwrap_or("");
    match (grant, route) {
        (GRANT_JWT, _) => {
            drop(st);
            jwt_exchange(shared, ctx, route, &p)
        }
        ("authorization_code", TokenRoute::App) => code_exchange(&mut st, ctx, &p),
        ("refresh_token", TokenRoute::App) => refresh(&mut st, ctx, &p),
        (GRANT_DEVICE, TokenRoute::App) => device_poll(&mut st, &p),
        ("", _) => bad_request("invalid_request", "grant_type is required"),
        _ => bad_request(
            "unsupported_grant_type",
            &format!("grant_type {grant} is not supported on this path"),
        ),
    }
}

#[derive(Deserialize)]
struct JwtClaims {
    exp: i64,
    iat: Option<i64>,
    jti: Option<String>,
}

/// Checks the app's JWT: RS256 with the app key, `kid`, `iss`, `aud`, `exp`, `iat`, a fresh `jti`.
fn verify_jwt(shared: &Shared, jwt: Option<&str>) -> Result<(), Reply> {
    let jwt = jwt.ok_or_else(|| invalid_client("missing JWT in the Authorization header"))?;
    let header = decode_header(jwt).map_err(|e| invalid_client(&format!("malformed JWT: {e}")))?;
    if header.alg != Algorithm::RS256 {
        return Err(invalid_client("JWT alg must be RS256"));
    }
    if header.kid.as_deref() != Some(JWT_KID) {
        return Err(invalid_client(&format!(
            "kid {:?} not been registered",
            header.kid.unwrap_or_default()
        )));
    }
    let mut v = Validation::new(Algorithm::RS256);
    v.leeway = 0;
    v.set_issuer(&[JWT_CLIENT_ID]);
    v.set_audience(&[shared.audience.as_str()]);
    v.set_required_spec_claims(&["exp", "iss", "aud"]);
    let claims = decode::<JwtClaims>(jwt, &shared.keys.decoding, &v)
        .map_err(|e| invalid_client(&format!("invalid JWT: {e}")))?
        .claims;
    let iat = claims
        .iat
        .ok_or_else(|| invalid_client("invalid JWT: iat is required"))?;
    if claims.exp - iat > 3600 {
        return Err(invalid_client(
            "invalid JWT: exp must be at most 3600 s after iat",
        ));
    }
    let jti = claims
        .jti
        .filter(|j| !j.is_empty())
        .ok_or_else(|| invalid_client("invalid JWT: jti is required"))?;
    if !shared.seen_jti.lock().expect("jti lock").insert(jti) {
        return Err(invalid_client("invalid JWT: jti has been used"));
    }
    Ok(())
}

fn jwt_exchange(
    shared: &Shared,
    ctx: &Ctx,
    route: &TokenRoute,
    p: &HashMap<String, Value>,
) -> Reply {
    if let Err(r) = verify_jwt(shared, ctx.bearer.as_deref()) {
        return r;
    }
    let (kind, principal) = match route {
        TokenRoute::App => (MintKind::App, Principal::Personal),
        TokenRoute::Account(id) if id == ACCOUNT_ID => (MintKind::Account, Principal::Personal),
        TokenRoute::Enterprise(id) if id == ENTERPRISE_ID => {
            (MintKind::Enterprise, Principal::Enterprise)
        }
        TokenRoute::Account(id) | TokenRoute::Enterprise(id) => {
            return Reply::oauth(
                StatusCode::FORBIDDEN,
                "access_denied",
                &format!("the app is not authorized for account {id}"),
            );
        }
        TokenRoute::DeviceCode | TokenRoute::Unknown => unreachable!("routed earlier"),
    };
    let duration = match p.get("duration_seconds") {
        None | Some(Value::Null) => DEFAULT_TTL,
        Some(v) => match v.as_i64() {
            Some(d) if (1..=MAX_TOKEN_TTL).contains(&d) => d,
            _ => {
                return bad_request(
                    "invalid_request",
                    "duration_seconds must be an integer in 1..=86399",
                );
            }
        },
    };
    let mut st = shared.state.lock().expect("state lock");
    let (token, expires_at) = issue(&mut st, "czs_", principal, duration);
    st.count_mint(kind);
    Reply::json(
        StatusCode::OK,
        json!({"access_token": token, "expires_in": expires_at, "token_type": "Bearer"}),
    )
}

/// Stores a new access token; its lifetime is `min(wanted, token_ttl_secs)`.
fn issue(st: &mut State, prefix: &str, principal: Principal, wanted: i64) -> (String, i64) {
    let token = format!("{prefix}{}", random_hex(24));
    let expires_at = now_secs() + wanted.min(st.token_ttl_secs);
    st.tokens.insert(
        token.clone(),
        IssuedToken {
            principal,
            expires_at,
        },
    );
    (token, expires_at)
}

/// An OBO answer: a user access token plus a new refresh token.
fn obo_tokens(st: &mut State) -> Reply {
    let (token, expires_at) = issue(st, "czu_", Principal::Personal, DEFAULT_TTL);
    let refresh = format!("czr_{}", random_hex(24));
    st.refresh_tokens.insert(refresh.clone());
    st.count_mint(MintKind::Oauth);
    Reply::json(
        StatusCode::OK,
        json!({"access_token": token, "expires_in": expires_at,
               "refresh_token": refresh, "token_type": "Bearer"}),
    )
}

fn check_client(p: &HashMap<String, Value>) -> Result<(), Reply> {
    match str_param(p, "client_id") {
        Some(OAUTH_CLIENT_ID) => Ok(()),
        Some(other) => Err(invalid_client(&format!("unknown client_id {other}"))),
        None => Err(bad_request("invalid_request", "client_id is required")),
    }
}

/// A client secret, when sent, must be right.
fn check_secret(ctx: &Ctx, required: bool) -> Result<(), Reply> {
    match ctx.bearer.as_deref() {
        Some(OAUTH_CLIENT_SECRET) => Ok(()),
        None if !required => Ok(()),
        None => Err(invalid_client("client secret is required")),
        Some(_) => Err(invalid_client("client secret is invalid")),
    }
}

fn code_exchange(st: &mut State, ctx: &Ctx, p: &HashMap<String, Value>) -> Reply {
    if let Err(r) = check_client(p) {
        return r;
    }
    let Some(code) = str_param(p, "code").and_then(|c| st.codes.remove(c)) else {
        return bad_request("invalid_grant", "the code is invalid, expired or used");
    };
    if str_param(p, "redirect_uri") != Some(code.redirect_uri.as_str()) {
        return bad_request("invalid_grant", "redirect_uri does not match the code's");
    }
    match &code.challenge {
        Some((challenge, method)) => {
            let Some(verifier) = str_param(p, "code_verifier") else {
                return bad_request("invalid_grant", "code_verifier is required");
            };
            let computed = if method == "plain" {
                verifier.to_string()
            } else {
                URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
            };
            if &computed != challenge {
                return bad_request("invalid_grant", "code_verifier does not match");
            }
            if let Err(r) = check_secret(ctx, false) {
                return r;
            }
        }
        None => {
            if let Err(r) = check_secret(ctx, true) {
                return r;
            }
        }
    }
    obo_tokens(st)
}

fn refresh(st: &mut State, ctx: &Ctx, p: &HashMap<String, Value>) -> Reply {
    if let Err(r) = check_client(p).and_then(|()| check_secret(ctx, false)) {
        return r;
    }
    let known = str_param(p, "refresh_token").is_some_and(|t| st.refresh_tokens.remove(t));
    if !known {
        return bad_request("invalid_grant", "the refresh token is invalid or used");
    }
    obo_tokens(st)
}

fn device_code(st: &mut State, p: &HashMap<String, Value>, base_url: &str) -> Reply {
    if let Err(r) = check_client(p) {
        return r;
    }
    let device_code = random_hex(16);
    let user_code = random_hex(4).to_uppercase();
    st.devices.insert(
        device_code.clone(),
        DeviceGrant {
            user_code: user_code.clone(),
            expires_at: now_secs() + DEVICE_EXPIRES_IN,
            decision: None,
        },
    );
    Reply::json(
        StatusCode::OK,
        json!({"device_code": device_code, "user_code": user_code,
               "verification_uri": format!("{base_url}/__mock/oauth/device"),
               "expires_in": DEVICE_EXPIRES_IN, "interval": DEVICE_INTERVAL}),
    )
}

fn device_poll(st: &mut State, p: &HashMap<String, Value>) -> Reply {
    if let Err(r) = check_client(p) {
        return r;
    }
    let code = str_param(p, "device_code").unwrap_or("");
    let Some(grant) = st.devices.get(code) else {
        return bad_request("invalid_grant", "unknown device_code");
    };
    if grant.expires_at <= now_secs() {
        st.devices.remove(code);
        return bad_request("expired_token", "the device code has expired");
    }
    match grant.decision {
        None => bad_request("authorization_pending", "the user has not authorized yet"),
        Some(false) => {
            st.devices.remove(code);
            bad_request("access_denied", "the user denied the authorization")
        }
        Some(true) => {
            st.devices.remove(code);
            obo_tokens(st)
        }
    }
}

/// `POST /__mock/oauth/code`: what the browser redirect would carry after the user consents.
pub(crate) fn new_auth_code(st: &mut State, req: &Value) -> Result<Value, String> {
    let redirect_uri = req
        .get("redirect_uri")
        .and_then(Value::as_str)
        .ok_or("redirect_uri is required")?
        .to_string();
    let challenge = req.get("code_challenge").and_then(Value::as_str).map(|c| {
        let method = req
            .get("code_challenge_method")
            .and_then(Value::as_str)
            .unwrap_or("S256");
        (c.to_string(), method.to_string())
    });
    let code = format!("code_{}", random_hex(16));
    st.codes.insert(
        code.clone(),
        crate::state::AuthCode {
            redirect_uri,
            challenge,
        },
    );
    Ok(json!({"code": code}))
}

/// `POST /__mock/oauth/device/approve`: the user approves (or, with `"deny":true`, denies) a device code.
pub(crate) fn decide_device(st: &mut State, req: &Value) -> Result<Value, String> {
    let user_code = req
        .get("user_code")
        .and_then(Value::as_str)
        .ok_or("user_code is required")?;
    let approve = !req.get("deny").and_then(Value::as_bool).unwrap_or(false);
    let grant = st
        .devices
        .values_mut()
        .find(|g| g.user_code.eq_ignore_ascii_case(user_code))
        .ok_or_else(|| format!("unknown user_code {user_code}"))?;
    grant.decision = Some(approve);
    Ok(json!({"ok": true}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let r = |p: &str| TokenRoute::parse(p);
        assert_eq!(r("/api/permission/oauth2/token"), Some(TokenRoute::App));
        assert_eq!(
            r("/api/permission/oauth2/account/21/token"),
            Some(TokenRoute::Account("21".into()))
        );
        assert_eq!(
            r("/api/permission/oauth2/enterprise_id/volcano_1/token"),
            Some(TokenRoute::Enterprise("volcano_1".into()))
        );
        assert_eq!(
            r("/api/permission/oauth2/workspace_id/7/device/code"),
            Some(TokenRoute::DeviceCode)
        );
        assert_eq!(r("/api/permission/oauth2/x"), Some(TokenRoute::Unknown));
        assert_eq!(r("/v3/chat"), None);
        assert_eq!(
            TokenRoute::Enterprise("e".into()).credential(),
            Principal::Enterprise
        );
    }
}
