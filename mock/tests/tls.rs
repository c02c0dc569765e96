//! The mock over HTTPS (`--tls`): its CA, HTTP/2 and HTTP/1.1 by ALPN, refused handshakes counted.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use coze_mock::{MockOptions, MockServer, identities as ids};
use serde_json::{Value, json};

async fn start_tls() -> MockServer {
    MockServer::start(MockOptions {
        tls: true,
        ..MockOptions::default()
    })
    .await
    .unwrap()
}

/// A client that trusts the mock's CA and nothing else.
fn trusting(server: &MockServer) -> reqwest::ClientBuilder {
    let ca = std::fs::read(server.info().ca_file.expect("ca_file with tls")).unwrap();
    let ca = reqwest::Certificate::from_pem(&ca).unwrap();
    reqwest::Client::builder().tls_certs_only([ca])
}

async fn workspaces(client: &reqwest::Client, base: &str) -> reqwest::Response {
    client
        .get(format!("{base}/v1/workspaces"))
        .bearer_auth(ids::PERSONAL_PAT)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn https_with_the_ca_speaks_h2_and_http1() {
    let server = start_tls().await;
    let info = server.info();
    assert!(info.base_url.starts_with("https://127.0.0.1:"), "{info:?}");
    let ca_file = std::path::PathBuf::from(info.ca_file.clone().unwrap());
    let cert_file = std::path::PathBuf::from(info.server_cert_file.clone().unwrap());
    // Beside the JWT app keys.
    let key_dir = std::path::Path::new(&info.private_key_file)
        .parent()
        .unwrap();
    assert_eq!(ca_file.parent().unwrap(), key_dir);
    assert_eq!(cert_file.parent().unwrap(), key_dir);
    let ca_pem = std::fs::read_to_string(&ca_file).unwrap();
    assert!(
        ca_pem.starts_with("-----BEGIN CERTIFICATE-----\n"),
        "{ca_pem}"
    );
    assert_ne!(ca_pem, std::fs::read_to_string(&cert_file).unwrap());

    let h2 = trusting(&server).build().unwrap();
    let resp = workspaces(&h2, server.base_url()).await;
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], 0, "{body}");

    let h1 = trusting(&server).http1_only().build().unwrap();
    let resp = workspaces(&h1, server.base_url()).await;
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);
    assert_eq!(resp.status(), 200);

    // `localhost` is in the certificate too.
    let local = server.base_url().replace("127.0.0.1", "localhost");
    assert_eq!(workspaces(&h2, &local).await.status(), 200);

    let stats = server.control().stats();
    assert_eq!(
        stats["requests"]["by_http_version"],
        json!({"HTTP/2": 2, "HTTP/1.1": 1})
    );
    assert_eq!(stats["tls_handshake_failures"], 0);

    drop(server);
    assert!(
        !ca_file.exists(),
        "the temp dir with the CA is removed on drop"
    );
}

#[tokio::test]
async fn a_client_without_the_ca_is_refused_before_any_request() {
    let server = start_tls().await;
    let stranger = reqwest::Client::builder()
        .tls_certs_only(Vec::new())
        .build()
        .unwrap();
    let err = stranger
        .get(format!("{}/v1/workspaces", server.base_url()))
        .bearer_auth(ids::PERSONAL_PAT)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    // Plain HTTP to the TLS port fails as well.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/v1/workspaces", server.port()))
        .send()
        .await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);

    let stats = server.control().stats();
    assert_eq!(stats["tls_handshake_failures"], 2, "{stats}");
    assert_eq!(stats["requests"]["total"], 0, "no request got through");
    server.control().reset();
    assert_eq!(server.control().stats()["tls_handshake_failures"], 0);
}

#[tokio::test]
async fn streams_and_stream_faults_over_h2() {
    let server = start_tls().await;
    let client = trusting(&server).build().unwrap();
    let chat = json!({"bot_id": ids::BOTS[0], "user_id": "u", "stream": true,
                      "additional_messages": [{"role": "user", "content": "hi", "content_type": "text"}]});
    let send = || {
        client
            .post(format!("{}/v3/chat", server.base_url()))
            .bearer_auth(ids::PERSONAL_PAT)
            .json(&chat)
            .send()
    };
    let mut resp = send().await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let mut text = String::new();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert_eq!(text.matches("event:").count(), 7, "{text}");

    server
        .control()
        .set_state(json!({"faults": [{"path": "/v3/chat", "times": 1,
                                      "action": {"type": "truncate_stream", "after_events": 2}}]}))
        .unwrap();
    let mut resp = send().await.unwrap();
    let mut events = 0;
    let broke = loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => events += chunk.windows(6).filter(|w| w == b"event:").count(),
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    assert!(broke, "a truncated stream must not end cleanly over HTTP/2");
    assert_eq!(events, 2);
}

#[tokio::test]
async fn plain_mock_has_no_ca() {
    let server = MockServer::start(MockOptions::default()).await.unwrap();
    assert!(server.base_url().starts_with("http://"));
    assert_eq!(server.info().ca_file, None);
    assert_eq!(server.info().server_cert_file, None);
}

#[test]
fn binary_reports_the_ca_in_its_info_and_a_third_line() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_coze-mock"))
        .args(["--tls", "--exit-on-stdin-close"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let info: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let third = lines.next().unwrap().unwrap();
    drop(child.stdin.take());
    child.wait().unwrap();
    assert!(
        first.starts_with("coze-mock listening on https://127.0.0.1:"),
        "{first}"
    );
    let ca = info["ca_file"].as_str().unwrap();
    assert!(ca.ends_with("/ca.pem"), "{info}");
    assert_eq!(third, format!("coze-mock TLS CA certificate: {ca}"));
}
