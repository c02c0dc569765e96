//! HTTPS for real: the client against the mock's TLS listener, trusting its CA through `tls.ca_file`, refusing
//! it when not trusted, and speaking HTTP/2 where the server offers it. (`SSL_CERT_FILE` and the proxy
//! variables change the process environment: they are tested in `proxy.rs`, a test binary of their own.)

use coze_mock::{MockOptions, MockServer};
use cozefallback::{Client, ErrorKind, Request};
use serde_json::{Value, json};

async fn tls_mock() -> MockServer {
    MockServer::start(MockOptions {
        tls: true,
        ..MockOptions::default()
    })
    .await
    .expect("start the TLS mock")
}

fn config(mock: &MockServer, tls: Option<Value>) -> Value {
    let info = mock.info();
    let mut c = json!({
        "base_url": info.base_url,
        "personal": {"type": "pat", "token": info.personal_pat},
        "enterprise": {"type": "jwt", "client_id": info.jwt_client_id, "private_key_file": info.private_key_file,
                       "public_key_id": info.jwt_kid, "enterprise_id": info.enterprise_id},
        "retry": {"base_delay_ms": 1, "max_delay_ms": 5},
    });
    if let Some(tls) = tls {
        c["tls"] = tls;
    }
    c
}

fn trusting(mock: &MockServer) -> Client {
    let ca = mock.info().ca_file.expect("the TLS mock writes its CA");
    Client::from_json(&config(mock, Some(json!({"ca_file": ca}))).to_string()).expect("client")
}

fn chat(mock: &MockServer, stream: bool) -> Request {
    Request::post_json(
        "/v3/chat",
        json!({"bot_id": mock.info().bots[0], "user_id": "u1", "stream": stream,
               "additional_messages": [{"role": "user", "content": "hi", "content_type": "text"}]}),
    )
}

#[tokio::test]
async fn ca_file_trusts_the_mock_and_http2_is_used() {
    let mock = tls_mock().await;
    assert!(mock.base_url().starts_with("https://"));
    let client = trusting(&mock);

    let resp = client
        .request(chat(&mock, false))
        .await
        .expect("HTTPS chat");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json().unwrap()["code"], 0);

    let mut stream = client
        .stream(chat(&mock, true))
        .await
        .expect("HTTPS stream");
    let mut events = 0;
    while let Some(_event) = stream.next().await.expect("event") {
        events += 1;
    }
    assert_eq!(events, 7);

    // After the move the enterprise JWT app takes over: a token minted over HTTPS, then the replayed call.
    mock.control().set_moved(true);
    let resp = client
        .request(chat(&mock, false))
        .await
        .expect("fallback over HTTPS");
    assert_eq!(resp.credential, cozefallback::CredentialKind::Enterprise);

    let stats = mock.control().stats();
    assert_eq!(stats["token_mints"]["enterprise"], 1, "{stats}");
    let versions = &stats["requests"]["by_http_version"];
    assert_eq!(
        versions.get("HTTP/1.1"),
        None,
        "every call went over HTTP/2: {versions}"
    );
    assert_eq!(versions["HTTP/2"], stats["requests"]["total"], "{stats}");
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_with_words_and_no_token_sent() {
    let mock = tls_mock().await;
    // No tls.ca_file: only the system's roots (or the ambient SSL_CERT_FILE), which do not hold the mock's CA.
    let client = Client::from_json(&config(&mock, None).to_string()).expect("client");
    let err = client.request(chat(&mock, false)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
    let msg = err.message();
    assert!(msg.contains("TLS") && msg.contains("certificate"), "{msg}");
    assert!(
        msg.contains("not signed by a trusted certificate authority"),
        "{msg}"
    );
    assert!(
        msg.contains("tls.ca_file"),
        "the message says how to fix it: {msg}"
    );
    assert!(msg.contains(&format!("127.0.0.1:{}", mock.port())), "{msg}");
    for debug in [
        "UnknownIssuer",
        "InvalidCertificate",
        "Custom {",
        "kind:",
        "Some(",
    ] {
        assert!(!msg.contains(debug), "no Debug dump in {msg:?}");
    }

    // The mock counts the failed handshake once its side of the connection ends, a moment after ours.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while mock.control().stats()["tls_handshake_failures"] == 0
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let stats = mock.control().stats();
    assert_eq!(
        stats["requests"]["total"], 0,
        "no request (no token) got through: {stats}"
    );
    // A refused certificate is not transient: one handshake, no retries, no fallback to the other credential.
    assert_eq!(stats["tls_handshake_failures"], 1, "{stats}");
    assert_eq!(stats["token_requests"], 0, "{stats}");
}

#[tokio::test]
async fn https_to_a_plain_http_server_says_so() {
    let plain = MockServer::start(MockOptions::default()).await.unwrap();
    let url = format!("https://127.0.0.1:{}", plain.port());
    let client = Client::from_json(
        &json!({"base_url": url, "personal": {"type": "pat", "token": plain.info().personal_pat}})
            .to_string(),
    )
    .unwrap();
    let err = client
        .request(Request::get("/v1/workspaces"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert!(
        err.message().contains("TLS") && err.message().contains("plain http://"),
        "{err}"
    );
}

#[tokio::test]
async fn a_bad_ca_file_is_a_config_error_naming_the_field() {
    let mock = tls_mock().await;
    let missing = config(&mock, Some(json!({"ca_file": "/nonexistent/ca.pem"})));
    let err = Client::from_json(&missing.to_string()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_eq!(err.field(), Some("tls.ca_file"));
    assert!(
        err.message().contains("/nonexistent/ca.pem") && err.message().contains("no such file"),
        "{err}"
    );

    // The JWT private key is a PEM file too, but not a certificate.
    let not_a_cert = config(
        &mock,
        Some(json!({"ca_file": mock.info().private_key_file})),
    );
    let err = Client::from_json(&not_a_cert.to_string()).unwrap_err();
    assert_eq!(err.field(), Some("tls.ca_file"));
    assert!(err.message().contains("BEGIN CERTIFICATE"), "{err}");
    assert!(
        !err.message().contains("PRIVATE KEY-----\n"),
        "no key material in {err}"
    );

    let unknown = config(&mock, Some(json!({"ca_fil": "x"})));
    let err = Client::from_json(&unknown.to_string()).unwrap_err();
    assert_eq!(err.field(), Some("tls.ca_fil"), "{err}");
}

#[tokio::test]
async fn an_oauth_app_trusts_a_ca_file_too() {
    use cozefallback::{OAuthApp, OAuthAppOptions};
    let mock = tls_mock().await;
    let info = mock.info();
    let opts = OAuthAppOptions {
        ca_file: info.ca_file.clone().map(Into::into),
        ..OAuthAppOptions::default()
    };
    let app =
        OAuthApp::with_options(&info.base_url, &info.oauth_client_id, None, opts).expect("app");
    let code = app.device_code(None).await.expect("device code over HTTPS");
    assert!(!code.user_code.is_empty());

    // Without it the mock's certificate is refused, in words.
    let app = OAuthApp::new(&info.base_url, &info.oauth_client_id, None).expect("app");
    let err = app.device_code(None).await.expect_err("untrusted");
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
    assert!(err.message().contains("TLS handshake"), "{err}");

    // A missing file is a config error naming the option, when the app is built.
    let opts = OAuthAppOptions {
        ca_file: Some("/nonexistent/ca.pem".into()),
        ..OAuthAppOptions::default()
    };
    let err = OAuthApp::with_options(&info.base_url, &info.oauth_client_id, None, opts)
        .err()
        .expect("missing ca_file");
    assert_eq!(err.field(), Some("tls.ca_file"), "{err}");
}
