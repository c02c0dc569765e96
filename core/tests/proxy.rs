//! The process environment's say: HTTPS_PROXY / HTTP_PROXY / NO_PROXY and SSL_CERT_FILE, read when a client is
//! built. The variables are process-wide, so this file is a test binary of its own and every test holds `ENV`.
//!
//! The proxy is a small loopback one written here: it answers `CONNECT host:port` by opening a tunnel and
//! relaying bytes both ways, recording what it saw; any other request (a forward-proxied `http://` call) is
//! recorded and answered 502.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use coze_mock::{MockOptions, MockServer};
use cozefallback::{Client, ErrorKind, Request};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

static ENV: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const PROXY_VARS: [&str; 9] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "REQUEST_METHOD",
];

/// Sets variables for one test and puts the old values back on drop.
struct EnvGuard {
    saved: Vec<(&'static str, Option<std::ffi::OsString>)>,
}

impl EnvGuard {
    /// Clears every proxy variable, then applies `vars` (`None` removes).
    fn set(vars: &[(&'static str, Option<&str>)]) -> EnvGuard {
        let mut names: Vec<&'static str> = PROXY_VARS.to_vec();
        names.extend(vars.iter().map(|(k, _)| *k));
        names.push("SSL_CERT_FILE");
        names.push("SSL_CERT_DIR");
        names.sort_unstable();
        names.dedup();
        let saved = names.iter().map(|k| (*k, std::env::var_os(k))).collect();
        for k in PROXY_VARS {
            // SAFETY: every test of this binary holds ENV while it touches the environment or builds a client.
            unsafe { std::env::remove_var(k) };
        }
        for (k, v) in vars {
            match v {
                // SAFETY: as above.
                Some(v) => unsafe { std::env::set_var(k, v) },
                None => unsafe { std::env::remove_var(k) },
            }
        }
        EnvGuard { saved }
    }
}

impl Drop for EnvGuard {
    fn drop(&mut self) {
        for (k, v) in &self.saved {
            match v {
                // SAFETY: as above; the guard is dropped before ENV is released.
                Some(v) => unsafe { std::env::set_var(k, v) },
                None => unsafe { std::env::remove_var(k) },
            }
        }
    }
}

#[derive(Default)]
struct Seen {
    /// The first line of every request the proxy received.
    request_lines: Vec<String>,
    /// The whole head of every non-CONNECT request.
    forward_heads: Vec<String>,
    /// Every byte relayed through a tunnel, both directions.
    relayed: Vec<u8>,
}

struct Proxy {
    url: String,
    seen: Arc<Mutex<Seen>>,
}

async fn start_proxy() -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let sink = seen.clone();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(serve(conn, sink.clone()));
        }
    });
    Proxy {
        url: format!("http://{addr}"),
        seen,
    }
}

async fn serve(mut client: TcpStream, seen: Arc<Mutex<Seen>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let line = text.lines().next().unwrap_or_default().to_string();
    seen.lock().unwrap().request_lines.push(line.clone());
    let target = line
        .strip_prefix("CONNECT ")
        .and_then(|rest| rest.split(' ').next());
    let Some(target) = target else {
        seen.lock().unwrap().forward_heads.push(text);
        let _ = client
            .write_all(
                b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            )
            .await;
        return;
    };
    let Ok(upstream) = TcpStream::connect(target).await else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
        return;
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
    let (cr, cw) = client.into_split();
    let (ur, uw) = upstream.into_split();
    tokio::join!(relay(cr, uw, seen.clone()), relay(ur, cw, seen));
}

async fn relay(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    seen: Arc<Mutex<Seen>>,
) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                seen.lock().unwrap().relayed.extend_from_slice(&buf[..n]);
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}

async fn tls_mock() -> MockServer {
    MockServer::start(MockOptions {
        tls: true,
        ..MockOptions::default()
    })
    .await
    .unwrap()
}

fn config(mock: &MockServer, extra: Value) -> String {
    let info = mock.info();
    let mut c = json!({
        "base_url": info.base_url,
        "personal": {"type": "pat", "token": info.personal_pat},
        "enterprise": {"type": "pat", "token": info.enterprise_pat},
        "retry": {"max_retries": 0},
    });
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c.to_string()
}

fn with_ca(mock: &MockServer) -> String {
    config(
        mock,
        json!({"tls": {"ca_file": mock.info().ca_file.unwrap()}}),
    )
}

fn chat(mock: &MockServer) -> Request {
    Request::post_json(
        "/v3/chat",
        json!({"bot_id": mock.info().bots[0], "user_id": "u1", "stream": false,
               "additional_messages": [{"role": "user", "content": "hi", "content_type": "text"}]}),
    )
}

#[tokio::test]
async fn https_proxy_tunnels_the_call_and_never_sees_the_token() {
    let _lock = ENV.lock().await;
    let mock = tls_mock().await;
    let proxy = start_proxy().await;
    let _env = EnvGuard::set(&[("HTTPS_PROXY", Some(&proxy.url))]);
    let client = Client::from_json(&with_ca(&mock)).unwrap();

    let resp = client
        .request(chat(&mock))
        .await
        .expect("through the proxy");
    assert_eq!(resp.json().unwrap()["code"], 0);
    // After the move the enterprise PAT goes through the same tunnel.
    mock.control().set_moved(true);
    let resp = client
        .request(chat(&mock))
        .await
        .expect("fallback through the proxy");
    assert_eq!(resp.credential, cozefallback::CredentialKind::Enterprise);

    let seen = proxy.seen.lock().unwrap();
    assert_eq!(
        seen.request_lines,
        vec![format!("CONNECT 127.0.0.1:{} HTTP/1.1", mock.port())],
        "one tunnel to the mock's host:port, reused"
    );
    assert!(seen.forward_heads.is_empty());
    // The tunnel carried TLS (a handshake record first) and nothing readable.
    assert_eq!(seen.relayed.first(), Some(&0x16), "a TLS handshake record");
    assert!(seen.relayed.len() > 1000, "{} bytes", seen.relayed.len());
    let info = mock.info();
    for clear in [
        info.personal_pat.as_bytes(),
        info.enterprise_pat.as_bytes(),
        b"Bearer",
        b"/v3/chat",
        info.bots[0].as_bytes(),
    ] {
        assert!(
            !seen.relayed.windows(clear.len()).any(|w| w == clear),
            "the proxy saw {:?} in clear",
            String::from_utf8_lossy(clear)
        );
    }
    assert_eq!(mock.control().stats()["requests"]["total"], 3);
}

#[tokio::test]
async fn no_proxy_bypasses_the_proxy() {
    let _lock = ENV.lock().await;
    let mock = tls_mock().await;
    let proxy = start_proxy().await;
    let _env = EnvGuard::set(&[
        ("HTTPS_PROXY", Some(&proxy.url)),
        ("NO_PROXY", Some("example.com, 127.0.0.1")),
    ]);
    let client = Client::from_json(&with_ca(&mock)).unwrap();
    let resp = client.request(chat(&mock)).await.expect("direct");
    assert_eq!(resp.json().unwrap()["code"], 0);
    assert!(proxy.seen.lock().unwrap().request_lines.is_empty());
}

#[tokio::test]
async fn http_proxy_carries_plain_http_calls_in_clear() {
    let _lock = ENV.lock().await;
    let mock = MockServer::start(MockOptions::default()).await.unwrap();
    let proxy = start_proxy().await;
    let _env = EnvGuard::set(&[("HTTP_PROXY", Some(&proxy.url))]);
    let client = Client::from_json(&config(&mock, json!({}))).unwrap();
    let err = client
        .request(Request::get("/v1/workspaces"))
        .await
        .expect_err("the test proxy answers 502 to forwarded requests");
    assert_eq!(err.http_status(), Some(502), "{err}");
    let seen = proxy.seen.lock().unwrap();
    assert_eq!(
        seen.request_lines,
        vec![format!(
            "GET http://127.0.0.1:{}/v1/workspaces HTTP/1.1",
            mock.port()
        )]
    );
    // Why the README says to keep tokens on https://: over http:// a proxy reads the bearer token.
    let head = seen.forward_heads[0].to_ascii_lowercase();
    assert!(
        head.contains("authorization: bearer pat_mock_personal"),
        "{head}"
    );
    assert_eq!(mock.control().stats()["requests"]["total"], 0);
}

#[tokio::test]
async fn ssl_cert_file_trusts_the_mock_without_config() {
    let _lock = ENV.lock().await;
    let mock = tls_mock().await;
    let ca = mock.info().ca_file.unwrap();
    let _env = EnvGuard::set(&[("SSL_CERT_FILE", Some(&ca))]);
    let client = Client::from_json(&config(&mock, json!({}))).unwrap();
    let resp = client
        .request(chat(&mock))
        .await
        .expect("trusted through SSL_CERT_FILE");
    assert_eq!(resp.json().unwrap()["code"], 0);
    assert_eq!(
        mock.control().stats()["requests"]["by_http_version"]["HTTP/2"],
        1
    );
}

#[tokio::test]
async fn a_missing_ssl_cert_file_is_a_config_error_naming_the_variable() {
    let _lock = ENV.lock().await;
    let mock = tls_mock().await;
    let _env = EnvGuard::set(&[("SSL_CERT_FILE", Some("/nonexistent/bundle.pem"))]);
    let err = Client::from_json(&config(&mock, json!({}))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_eq!(err.field(), Some("SSL_CERT_FILE"));
    assert!(err.message().contains("/nonexistent/bundle.pem"), "{err}");
}

#[tokio::test]
async fn a_machine_without_any_root_certificate_is_told_how_to_fix_it() {
    let _lock = ENV.lock().await;
    let mock = tls_mock().await;
    // No SSL_CERT_FILE, and SSL_CERT_DIR pointing at nothing: no root at all (as in a slim container).
    let _env = EnvGuard::set(&[
        ("SSL_CERT_FILE", None),
        ("SSL_CERT_DIR", Some("/nonexistent-cert-dir")),
    ]);
    let err = Client::from_json(&config(&mock, json!({}))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert_eq!(err.field(), Some("tls"));
    assert!(
        err.message().contains("no trusted root certificates"),
        "{err}"
    );
    // With the mock's CA in the config the client builds, and works.
    let client = Client::from_json(&with_ca(&mock)).unwrap();
    let resp = client
        .request(chat(&mock))
        .await
        .expect("trusted through tls.ca_file");
    assert_eq!(resp.json().unwrap()["code"], 0);
}

#[tokio::test]
async fn a_dead_proxy_is_a_transport_error_without_its_password() {
    let _lock = ENV.lock().await;
    let mock = tls_mock().await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // closed again: nothing listens there now
    let url = format!("http://proxyuser:proxy-s3cret@127.0.0.1:{port}");
    let _env = EnvGuard::set(&[("HTTPS_PROXY", Some(&url))]);
    let client = Client::from_json(&with_ca(&mock)).unwrap();
    let err = client.request(chat(&mock)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
    assert!(!err.to_string().contains("proxy-s3cret"), "{err}");
    assert!(!format!("{err:?}").contains("proxy-s3cret"), "{err:?}");
    assert_eq!(mock.control().stats()["requests"]["total"], 0);
}
