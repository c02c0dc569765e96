//! Core behaviour that the language-neutral scenarios cannot express: OBO refresh and re-authorization, the
//! refresh hook, the OAuth flows, token cache edge cases, secrets in Debug output, and metrics.

use std::sync::{Arc, Mutex};

use coze_mock::{MockOptions, MockServer};
use cozefallback::{Client, CredentialKind, ErrorKind, OAuthApp, Request, Secret, TokenRefresh};
use serde_json::json;

const REDIRECT: &str = "http://127.0.0.1/callback";

async fn mock() -> MockServer {
    MockServer::start(MockOptions::default())
        .await
        .expect("start the mock")
}

/// Drives the code flow as a browser would: the mock hands out a code, the app exchanges it.
async fn user_tokens(mock: &MockServer) -> cozefallback::OAuthToken {
    let info = mock.info();
    let http = reqwest::Client::new();
    let code: serde_json::Value = http
        .post(format!("{}/__mock/oauth/code", info.base_url))
        .json(&json!({"redirect_uri": REDIRECT}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let app = OAuthApp::new(
        &info.base_url,
        &info.oauth_client_id,
        Some(Secret::new(info.oauth_client_secret.clone())),
    )
    .unwrap();
    app.exchange_code(code["code"].as_str().unwrap(), REDIRECT, None)
        .await
        .expect("code exchange")
}

fn obo_config(mock: &MockServer, token: &cozefallback::OAuthToken, mode: &str) -> String {
    let info = mock.info();
    json!({
        "base_url": info.base_url,
        "personal": {
            "type": "oauth",
            "client_id": info.oauth_client_id,
            "client_secret": info.oauth_client_secret,
            "access_token": token.access_token.expose(),
            "refresh_token": token.refresh_token.as_ref().unwrap().expose(),
            "redirect_uri": REDIRECT,
        },
        "enterprise": {"type": "pat", "token": info.enterprise_pat},
        "mode": mode,
    })
    .to_string()
}

#[tokio::test]
async fn obo_token_is_refreshed_once_and_the_rotated_refresh_token_reaches_the_hook() {
    let mock = mock().await;
    let tokens = user_tokens(&mock).await;
    let client = Client::from_json(&obo_config(&mock, &tokens, "personal_first")).unwrap();
    let seen: Arc<Mutex<Vec<TokenRefresh>>> = Arc::default();
    let sink = seen.clone();
    client.set_refresh_hook(Some(Arc::new(move |r: &TokenRefresh| {
        sink.lock().unwrap().push(r.clone())
    })));
    mock.control()
        .set_state(
            json!({"faults": [{"path": "/v1/bots/", "credential": "personal", "times": 1,
            "action": {"type": "error", "code": 4100, "http_status": 401}}]}),
        )
        .unwrap();
    let bot = &mock.info().bots[0];
    let resp = client
        .request(Request::get(format!("/v1/bots/{bot}")))
        .await
        .expect("refreshed and served");
    assert_eq!(
        (resp.credential, resp.attempts),
        (CredentialKind::Personal, 2)
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "one refresh, one hook call");
    let new_refresh = seen[0]
        .refresh_token
        .as_ref()
        .expect("a rotated refresh token");
    assert_ne!(
        new_refresh.expose(),
        tokens.refresh_token.as_ref().unwrap().expose()
    );
    assert_eq!(
        mock.control().stats()["token_mints"]["oauth"],
        2,
        "code exchange + one refresh"
    );
}

#[tokio::test]
async fn obo_token_rejected_after_refresh_requires_reauthorization() {
    let mock = mock().await;
    let tokens = user_tokens(&mock).await;
    let client = Client::from_json(&obo_config(&mock, &tokens, "personal_only")).unwrap();
    mock.control()
        .set_state(
            json!({"faults": [{"path": "/v1/bots/", "credential": "personal",
            "action": {"type": "error", "code": 4100, "http_status": 401}}]}),
        )
        .unwrap();
    let bot = &mock.info().bots[0];
    let err = client
        .request(Request::get(format!("/v1/bots/{bot}")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ReauthRequired, "{err}");
    let url = err.authorize_url().expect("the authorize URL");
    assert!(url.contains("/api/permission/oauth2/authorize?"), "{url}");
    assert!(url.contains(&mock.info().oauth_client_id), "{url}");
    assert_eq!(err.code(), Some(4100));
    assert_eq!(err.attempts(), 2, "one try, one refresh, one more try");
}

#[tokio::test]
async fn after_the_move_an_obo_user_falls_back_then_is_told_to_reauthorize_if_both_fail() {
    let mock = mock().await;
    let tokens = user_tokens(&mock).await;
    let client = Client::from_json(&obo_config(&mock, &tokens, "personal_first")).unwrap();
    mock.control().set_state(json!({"moved": true})).unwrap();
    let bot = &mock.info().bots[0];
    // The enterprise PAT serves: the user is not bothered.
    let resp = client
        .request(Request::get(format!("/v1/bots/{bot}")))
        .await
        .unwrap();
    assert_eq!(resp.credential, CredentialKind::Enterprise);
    // When the enterprise credential fails too, the app learns the user must authorize again.
    mock.control()
        .set_state(
            json!({"faults": [{"path": "/v1/bots/", "credential": "enterprise",
            "action": {"type": "error", "code": 4101, "http_status": 200}}]}),
        )
        .unwrap();
    let err = client
        .request(Request::get(format!("/v1/bots/{}", mock.info().bots[1])))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ReauthRequired, "{err}");
    assert!(err.previous().is_some());
}

#[tokio::test]
async fn a_refused_obo_refresh_requires_reauthorization() {
    let mock = mock().await;
    let info = mock.info();
    let config = json!({
        "base_url": info.base_url,
        "mode": "personal_only",
        "personal": {"type": "oauth", "client_id": info.oauth_client_id, "access_token": "czu_revoked",
                     "refresh_token": "czr_revoked", "redirect_uri": REDIRECT},
    });
    let client = Client::from_json(&config.to_string()).unwrap();
    let err = client
        .request(Request::get(format!("/v1/bots/{}", info.bots[0])))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ReauthRequired, "{err}");
    assert!(err.authorize_url().unwrap().contains(&info.oauth_client_id));
    assert_eq!(err.previous().map(|p| p.kind()), Some(ErrorKind::Auth));
    assert_eq!(err.oauth_error(), Some("invalid_grant"));
}

#[tokio::test]
async fn pkce_and_device_flows_yield_working_tokens() {
    let mock = mock().await;
    let info = mock.info();
    let app = OAuthApp::new(&info.base_url, &info.oauth_client_id, None).unwrap();
    let auth = app.authorize_url(REDIRECT, None, true);
    let url = url::Url::parse(&auth.url).unwrap();
    let challenge = url
        .query_pairs()
        .find(|(k, _)| k == "code_challenge")
        .unwrap()
        .1
        .to_string();
    let http = reqwest::Client::new();
    let code: serde_json::Value = http
        .post(format!("{}/__mock/oauth/code", info.base_url))
        .json(&json!({"redirect_uri": REDIRECT, "code_challenge": challenge, "code_challenge_method": "S256"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let verifier = auth.code_verifier.unwrap();
    let token = app
        .exchange_code(
            code["code"].as_str().unwrap(),
            REDIRECT,
            Some(verifier.expose()),
        )
        .await
        .expect("PKCE exchange");
    assert!(token.access_token.expose().starts_with("czu_"));
    let wrong = app
        .exchange_code(code["code"].as_str().unwrap(), REDIRECT, Some("wrong"))
        .await
        .unwrap_err();
    assert_eq!(wrong.kind(), ErrorKind::Auth);

    let device = app.device_code(None).await.expect("device code");
    let pending = app
        .poll_device_token(&device.device_code)
        .await
        .unwrap_err();
    assert_eq!(pending.oauth_error(), Some("authorization_pending"));
    http.post(format!("{}/__mock/oauth/device/approve", info.base_url))
        .json(&json!({"user_code": device.user_code}))
        .send()
        .await
        .unwrap();
    let token = app.wait_device_token(&device).await.expect("approved");
    let refreshed = app
        .refresh(token.refresh_token.as_ref().unwrap().expose())
        .await
        .expect("refresh");
    assert_ne!(refreshed.access_token.expose(), token.access_token.expose());
}

#[tokio::test]
async fn a_failing_token_endpoint_keeps_serving_the_still_valid_token() {
    let mock = mock().await;
    let info = mock.info();
    // 6 s tokens are refreshed about a second before expiry; the refresh fails, the old token still serves.
    mock.control()
        .set_state(json!({"token_ttl_secs": 6}))
        .unwrap();
    let config = json!({
        "base_url": info.base_url,
        "personal": {"type": "jwt", "client_id": info.jwt_client_id, "private_key": info.private_key_pem,
                     "public_key_id": info.jwt_kid, "account_id": info.account_id},
        "retry": {"max_retries": 0},
    });
    let client = Client::from_json(&config.to_string()).unwrap();
    let bot = &info.bots[0];
    client
        .request(Request::get(format!("/v1/bots/{bot}")))
        .await
        .unwrap();
    mock.control()
        .set_state(json!({"faults": [{"path": "/api/permission/oauth2/", "action": {"type": "http", "http_status": 503, "body": "down"}}]}))
        .unwrap();
    // Call every 100 ms: once the token enters its refresh window the refresh fails, and that call (and the
    // next ones until expiry) must still be served by the valid token.
    for _ in 0..60 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let resp = client
            .request(Request::get(format!("/v1/bots/{bot}")))
            .await
            .expect("still served by the valid token");
        assert_eq!(resp.status, 200);
        if client.metrics()["token_refresh_failures"]["personal"]
            .as_u64()
            .unwrap()
            >= 1
        {
            return;
        }
    }
    panic!("no refresh was attempted within 6 s of a 6 s token");
}

#[tokio::test]
async fn secrets_never_show_in_debug_errors_or_metrics() {
    let mock = mock().await;
    let info = mock.info();
    let config = json!({
        "base_url": info.base_url,
        "personal": {"type": "pat", "token": info.personal_pat},
        "enterprise": {"type": "jwt", "client_id": info.jwt_client_id, "private_key": info.private_key_pem,
                       "public_key_id": info.jwt_kid, "enterprise_id": info.enterprise_id},
    });
    let parsed = cozefallback::Config::from_json(&config.to_string()).unwrap();
    let client = Client::new(parsed.clone()).unwrap();
    mock.control().set_state(json!({"moved": true})).unwrap();
    client
        .request(Request::get(format!("/v1/bots/{}", info.bots[0])))
        .await
        .unwrap();
    let err = client
        .request(Request::get("/v1/bots/7350000000000000777"))
        .await
        .unwrap_err();
    let texts = [
        format!("{parsed:?}"),
        format!("{client:?}"),
        format!("{err:?}"),
        err.to_string(),
        client.metrics().to_string(),
        client.metrics_prometheus(),
    ];
    let pem_body = info.private_key_pem.lines().nth(1).unwrap().to_string();
    for text in &texts {
        for secret in [&info.personal_pat, &pem_body, &"czs_".to_string()] {
            assert!(
                !text.contains(secret.as_str()),
                "secret {secret:.8}... leaked in {text:.200}"
            );
        }
    }
}

#[tokio::test]
async fn metrics_count_fallbacks_by_code_in_both_formats() {
    let mock = mock().await;
    let info = mock.info();
    let config = json!({
        "base_url": info.base_url,
        "personal": {"type": "pat", "token": info.personal_pat},
        "enterprise": {"type": "pat", "token": info.enterprise_pat},
    });
    let client = Client::from_json(&config.to_string()).unwrap();
    mock.control().set_state(json!({"moved": true})).unwrap();
    for _ in 0..3 {
        client
            .request(Request::get(format!("/v1/bots/{}", info.bots[0])))
            .await
            .unwrap();
    }
    let m = client.metrics();
    assert_eq!(m["fallbacks"]["4101"], 1);
    assert_eq!(m["sticky_routes_total"], 2);
    assert_eq!(m["requests"]["enterprise"]["success"], 3);
    assert_eq!(m["attempts_total"], 4);
    let text = client.metrics_prometheus();
    assert!(
        text.contains("cozefallback_fallbacks_total{reason=\"4101\"} 1"),
        "{text}"
    );
    assert!(
        text.contains(
            "cozefallback_requests_total{credential=\"enterprise\",outcome=\"success\"} 3"
        ),
        "{text}"
    );
    assert!(
        text.contains("cozefallback_request_duration_seconds_count 3"),
        "{text}"
    );
}

#[tokio::test]
async fn tokens_never_go_to_another_host() {
    let mock = mock().await;
    let info = mock.info();
    let config =
        json!({"base_url": info.base_url, "personal": {"type": "pat", "token": info.personal_pat}});
    let client = Client::from_json(&config.to_string()).unwrap();
    let err = client
        .request(Request::get("http://127.0.0.2:9/v1/bots/1"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(
        err.to_string().contains("refusing to send credentials"),
        "{err}"
    );
    // The same origin written as a full URL is fine (drop-in transports send those).
    let ok = client
        .request(Request::get(format!(
            "{}/v1/bots/{}",
            info.base_url, info.bots[0]
        )))
        .await
        .unwrap();
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn jti_is_unique_and_aud_names_the_port() {
    // The mock refuses a reused jti and a wrong aud; 200 sequential mints through fresh clients all succeed.
    let mock = mock().await;
    let info = mock.info();
    mock.control()
        .set_state(json!({"token_ttl_secs": 1}))
        .unwrap();
    let config = json!({
        "base_url": info.base_url,
        "personal": {"type": "jwt", "client_id": info.jwt_client_id, "private_key": info.private_key_pem,
                     "public_key_id": info.jwt_kid, "account_id": info.account_id},
    });
    for _ in 0..200 {
        let client = Client::from_json(&config.to_string()).unwrap();
        client
            .fetch_token(CredentialKind::Personal)
            .await
            .expect("every JWT accepted once");
    }
    assert_eq!(mock.control().stats()["token_mints"]["account"], 200);
}

#[tokio::test]
async fn an_api_error_keeps_coze_s_message_and_the_failed_answer() {
    let mock = mock().await;
    let info = mock.info();
    let config =
        json!({"base_url": info.base_url, "personal": {"type": "pat", "token": info.personal_pat}});
    let client = Client::from_json(&config.to_string()).unwrap();
    mock.control()
        .set_state(json!({"faults": [{"path": "/v1/bots/", "action": {"type": "error", "code": 4000, "http_status": 400, "msg": "bad bot id"}}]}))
        .unwrap();
    let err = client
        .request(Request::get(format!("/v1/bots/{}", info.bots[0])))
        .await
        .unwrap_err();
    assert_eq!(err.coze_message(), Some("bad bot id"));
    let answer = err.response().expect("the failed answer");
    assert_eq!(answer.status, 400);
    let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(body["code"], 4000);
    assert!(
        answer
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("x-tt-logid"))
    );
}

#[tokio::test]
async fn the_first_credential_s_error_keeps_its_own_attempts() {
    let mock = mock().await;
    let info = mock.info();
    let config = json!({
        "base_url": info.base_url,
        "personal": {"type": "pat", "token": info.personal_pat},
        "enterprise": {"type": "pat", "token": info.enterprise_pat},
        "retry": {"base_delay_ms": 1, "max_delay_ms": 5},
    });
    let client = Client::from_json(&config.to_string()).unwrap();
    // The personal credential is retried once (a 502), then gets "not found" and falls back; the enterprise
    // one gets "not found" too.
    mock.control()
        .set_state(
            json!({"faults": [{"path": "/v1/bots/", "credential": "personal", "times": 1,
                                      "action": {"type": "http", "http_status": 502}}]}),
        )
        .unwrap();
    let err = client
        .request(Request::get("/v1/bots/7359999999999999999"))
        .await
        .unwrap_err();
    assert_eq!(err.attempts(), 3, "{err}");
    let previous = err.previous().expect("the personal credential's error");
    assert_eq!(previous.credential(), Some(CredentialKind::Personal));
    assert_eq!(previous.attempts(), 2);
}

#[tokio::test]
async fn both_failing_keeps_each_credential_s_attempt_count() {
    let mock = mock().await;
    let info = mock.info();
    // The personal credential is retried once (a 502), then refused (4100); the enterprise one is refused too.
    mock.control()
        .set_state(json!({"faults": [
            {"path": "/v1/bots/", "credential": "personal", "times": 1,
             "action": {"type": "error", "code": 0, "http_status": 502}},
            {"path": "/v1/bots/", "credential": "personal",
             "action": {"type": "error", "code": 4100, "http_status": 401}},
            {"path": "/v1/bots/", "credential": "enterprise",
             "action": {"type": "error", "code": 4101, "http_status": 403}},
        ]}))
        .unwrap();
    let config = json!({
        "base_url": info.base_url,
        "personal": {"type": "pat", "token": info.personal_pat},
        "enterprise": {"type": "pat", "token": info.enterprise_pat},
        "retry": {"base_delay_ms": 1, "max_delay_ms": 5},
    });
    let client = Client::from_json(&config.to_string()).unwrap();
    let err = client
        .request(Request::get(format!("/v1/bots/{}", info.bots[0])))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(4101), "{err}");
    assert_eq!(err.attempts(), 3, "{err:?}");
    let previous = err.previous().expect("the personal credential's error");
    assert_eq!(previous.code(), Some(4100));
    assert_eq!(previous.attempts(), 2, "{previous:?}");
}
