//! Secret hygiene: every log record at trace level, error message, Debug string and metrics text from a run that
//! touches every path (PAT, JWT mint and refresh, fallback, OBO refresh and re-authorization, streams, uploads,
//! bad configs, token endpoint failures) must be free of PATs, access and refresh tokens, JWTs, private key
//! material and client secrets.

use std::fmt::Write;
use std::sync::{Arc, Mutex};

use coze_mock::{MockControl, MockInfo, MockOptions, MockServer};
use cozefallback::{Client, Config, OAuthApp, OAuthToken, Request, Secret, TokenRefresh};
use serde_json::json;
use tracing::field::{Field, Visit};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut line = Line(format!("span {} ", span.metadata().name()));
        span.record(&mut line);
        self.0.lock().unwrap().push(line.0);
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut line = Line(String::new());
        values.record(&mut line);
        self.0.lock().unwrap().push(line.0);
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = Line(format!(
            "{} {} ",
            event.metadata().level(),
            event.metadata().target()
        ));
        event.record(&mut line);
        self.0.lock().unwrap().push(line.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Finds a token-shaped secret: a known secret value, or an unredacted Coze token prefix followed by its body.
fn leaks(text: &str, known: &[String]) -> Vec<String> {
    let mut found: Vec<String> = known
        .iter()
        .filter(|s| text.contains(s.as_str()))
        .map(|s| format!("{:.10}...", s))
        .collect();
    for prefix in ["pat_", "czs_", "czu_", "czr_", "eyJ"] {
        for (i, _) in text.match_indices(prefix) {
            let next = text[i + prefix.len()..].chars().next();
            if next.is_some_and(|c| c.is_ascii_alphanumeric()) {
                found.push(format!("{prefix}{:.6}...", &text[i + prefix.len()..]));
            }
        }
    }
    if text.contains("PRIVATE KEY") && !text.contains("[PEM redacted]") {
        found.push("PEM".into());
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_a_run_prints_holds_a_secret() {
    let capture = Capture::default();
    tracing::subscriber::set_global_default(capture.clone()).unwrap();
    let mock = MockServer::start(MockOptions::default()).await.unwrap();
    let info = mock.info();
    let control = mock.control();
    let mut texts: Vec<String> = Vec::new();

    let config_text = pat_and_jwt_config(&info);
    pat_to_jwt_across_the_move(&info, &control, &config_text, &mut texts).await;
    refused_credentials(&info, &control, &config_text, &mut texts).await;
    let tokens = obo_refresh_then_reauthorization(&info, &control, &mut texts).await;
    bad_configs(&mut texts);
    warns_about_a_world_readable_key_file(&info, &capture);

    let known = vec![
        info.personal_pat.clone(),
        info.enterprise_pat.clone(),
        info.oauth_client_secret.clone(),
        info.private_key_pem.lines().nth(1).unwrap().to_string(),
        tokens.access_token.expose().to_string(),
        tokens.refresh_token.as_ref().unwrap().expose().to_string(),
        "supersecretvalue".into(),
        "MIIEsecretbody".into(),
        "pat_wrongregionsecret123".into(),
    ];
    let logs = capture.0.lock().unwrap().clone();
    assert!(
        !logs.is_empty(),
        "the run logged nothing: the scan would prove nothing"
    );
    assert_no_leak(&texts, &logs, &known);
    println!(
        "scanned {} outputs and {} log records: no secret",
        texts.len(),
        logs.len()
    );
}

/// The config of the main run: the personal PAT, then the JWT app of the enterprise.
fn pat_and_jwt_config(info: &MockInfo) -> String {
    let jwt = json!({"type": "jwt", "client_id": info.jwt_client_id, "private_key": info.private_key_pem,
                     "public_key_id": info.jwt_kid, "enterprise_id": info.enterprise_id});
    json!({"base_url": info.base_url, "personal": {"type": "pat", "token": info.personal_pat},
           "enterprise": jwt})
    .to_string()
}

/// PAT -> JWT, across the move, with streams and uploads; the Debug of each value, errors and metrics go to
/// `texts`.
async fn pat_to_jwt_across_the_move(
    info: &MockInfo,
    control: &MockControl,
    config_text: &str,
    texts: &mut Vec<String>,
) {
    let bot = &info.bots[0];
    let config = Config::from_json(config_text).unwrap();
    texts.push(format!("{config:?}"));
    let client = Client::new(config).unwrap();
    texts.push(format!("{client:?}"));
    let r = client
        .request(Request::get(format!("/v1/bots/{bot}")))
        .await
        .unwrap();
    texts.push(format!("{r:?}"));
    control.set_moved(true);
    let chat = json!({"bot_id": bot, "user_id": "u", "stream": true, "additional_messages": [{"role": "user", "content": "hi", "content_type": "text"}]});
    let mut stream = client
        .stream(Request::post_json("/v3/chat", chat))
        .await
        .unwrap();
    texts.push(format!("{stream:?}"));
    while let Some(ev) = stream.next().await.unwrap() {
        texts.push(format!("{ev:?}"));
    }
    texts.push(format!(
        "{:?}",
        client
            .upload("/v1/files/upload", "a.txt", b"hello".to_vec())
            .await
            .unwrap()
    ));
    let err = client
        .request(Request::get("/v1/bots/7350000000000000777"))
        .await
        .unwrap_err();
    texts.push(format!("{err:?}"));
    texts.push(err.to_string());
    texts.push(client.metrics().to_string());
    texts.push(client.metrics_prometheus());
}

/// A personal token Coze refuses (wrong region), and a token endpoint that fails: their errors go to `texts`.
async fn refused_credentials(
    info: &MockInfo,
    control: &MockControl,
    config_text: &str,
    texts: &mut Vec<String>,
) {
    let bot = &info.bots[0];
    let wrong = Client::from_json(&json!({"base_url": info.base_url, "personal": {"type": "pat", "token": "pat_wrongregionsecret123"}}).to_string()).unwrap();
    let e = wrong
        .request(Request::get(format!("/v1/bots/{bot}")))
        .await
        .unwrap_err();
    texts.push(format!("{e:?} {e}"));
    control.set_state(json!({"faults": [{"path": "/api/permission/oauth2/", "action": {"type": "oauth_error", "error": "invalid_client", "http_status": 401}}]})).unwrap();
    let failing = Client::from_json(config_text).unwrap();
    let e = failing
        .request(Request::get(format!("/v1/bots/{bot}")))
        .await
        .unwrap_err();
    texts.push(format!("{e:?} {e}"));
    control.reset();
}

/// OBO: code exchange, refresh on rejection with the hook, then re-authorization; the tokens, the hook's
/// records, the error and the metrics go to `texts`. Answers the tokens (secrets to look for).
async fn obo_refresh_then_reauthorization(
    info: &MockInfo,
    control: &MockControl,
    texts: &mut Vec<String>,
) -> OAuthToken {
    let bot = &info.bots[0];
    let http = reqwest::Client::new();
    let code: serde_json::Value = http
        .post(format!("{}/__mock/oauth/code", info.base_url))
        .json(&json!({"redirect_uri": "http://127.0.0.1/cb"}))
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
    let tokens = app
        .exchange_code(code["code"].as_str().unwrap(), "http://127.0.0.1/cb", None)
        .await
        .unwrap();
    texts.push(format!("{tokens:?}"));
    let obo = Client::from_json(&json!({"base_url": info.base_url, "mode": "personal_only", "personal": {
        "type": "oauth", "client_id": info.oauth_client_id, "client_secret": info.oauth_client_secret,
        "access_token": tokens.access_token.expose(), "refresh_token": tokens.refresh_token.as_ref().unwrap().expose(),
        "redirect_uri": "http://127.0.0.1/cb"}}).to_string()).unwrap();
    let hook_seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = hook_seen.clone();
    obo.set_refresh_hook(Some(Arc::new(move |r: &TokenRefresh| {
        sink.lock().unwrap().push(format!("{r:?}"))
    })));
    control.set_state(json!({"faults": [{"path": "/v1/bots/", "credential": "personal", "action": {"type": "error", "code": 4100, "http_status": 401}}]})).unwrap();
    let e = obo
        .request(Request::get(format!("/v1/bots/{bot}")))
        .await
        .unwrap_err();
    texts.push(format!("{e:?} {e}"));
    texts.extend(hook_seen.lock().unwrap().iter().cloned());
    texts.push(obo.metrics_prometheus());
    tokens
}

/// Bad configs echo nothing secret either: their errors go to `texts`.
fn bad_configs(texts: &mut Vec<String>) {
    for bad in [
        json!({"personal": {"type": "pat", "token": "pat_has\nnewline"}}),
        json!({"personal": {"type": "jwt", "client_id": "1", "public_key_id": "k", "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEsecretbody\n-----END PRIVATE KEY-----\n"}}),
        json!({"personal": {"type": "oauth", "client_id": "1", "client_secret": "supersecretvalue", "access_token": ""}}),
    ] {
        let e = Client::from_json(&bad.to_string()).unwrap_err();
        texts.push(format!("{e:?} {e}"));
    }
}

/// A world-readable private key file is warned about (the warning names the path, never the key).
fn warns_about_a_world_readable_key_file(info: &MockInfo, capture: &Capture) {
    let dir = std::env::temp_dir().join(format!("cozefallback-scan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("private_key.pem");
    std::fs::write(&key_file, &info.private_key_pem).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    Client::from_json(&json!({"base_url": info.base_url, "personal": {"type": "jwt", "client_id": info.jwt_client_id,
        "private_key_file": key_file, "public_key_id": info.jwt_kid, "account_id": info.account_id}}).to_string()).unwrap();
    assert!(
        capture
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("world-readable")),
        "no warning for a world-readable key file"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Fails naming every output or log record that holds a secret (a `known` one or a token-shaped one).
fn assert_no_leak(texts: &[String], logs: &[String], known: &[String]) {
    let mut problems = Vec::new();
    for (i, text) in texts.iter().chain(logs.iter()).enumerate() {
        let found = leaks(text, known);
        if !found.is_empty() {
            problems.push(format!("#{i}: {found:?} in {text:.300}"));
        }
    }
    assert!(
        problems.is_empty(),
        "secrets leaked:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_scanner_sees_a_leak() {
    assert_eq!(
        leaks("served by pat_*** in 1 attempt", &[]),
        Vec::<String>::new()
    );
    assert_eq!(leaks("Bearer czs_abcdef", &[]).len(), 1);
    assert_eq!(leaks("-----BEGIN PRIVATE KEY-----", &[]).len(), 1);
    assert_eq!(leaks("client secret s3cr3t", &["s3cr3t".into()]).len(), 1);
}
