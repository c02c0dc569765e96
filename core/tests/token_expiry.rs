//! A 4100 on a JWT token at the end of its life means it expired in flight: the client mints a new token and
//! retries the same credential. A 4100 on a fresh token is a refusal: the client falls back (here: fails, one
//! credential) without re-minting, so that after the move new resources do not cost a token each.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use coze_mock::{MockOptions, MockServer};
use cozefallback::{Client, CredentialKind, ErrorKind, Request};
use serde_json::json;

/// A fake Coze: mints `czs_token{N}` living `ttl` seconds; refuses the first token with 4100.
fn fake_coze(ttl: u64) -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let mints = Arc::new(AtomicU64::new(0));
    let counter = mints.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
            let body = if head.starts_with("post /api/permission/oauth2/") {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                json!({"access_token": format!("czs_token{n}"), "expires_in": now + ttl, "token_type": "Bearer"})
            } else if head.contains("authorization: bearer czs_token1\r\n") {
                json!({"code": 4100, "msg": "authentication is invalid"})
            } else {
                json!({"code": 0, "data": {"bot_id": "1"}})
            };
            let body = body.to_string();
            let status = if body.contains("4100") {
                "401 Unauthorized"
            } else {
                "200 OK"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (base, mints)
}

async fn client_for(base: &str) -> Client {
    let key = MockServer::start(MockOptions::default())
        .await
        .unwrap()
        .info()
        .private_key_pem;
    let config = json!({
        "base_url": base,
        "personal": {"type": "jwt", "client_id": "1", "private_key": key, "public_key_id": "k", "account_id": "2"},
        "retry": {"max_retries": 0},
    });
    Client::from_json(&config.to_string()).unwrap()
}

#[tokio::test]
async fn a_token_that_expired_in_flight_is_reminted_and_the_same_credential_retried() {
    let (base, mints) = fake_coze(3);
    let client = client_for(&base).await;
    let resp = client
        .request(Request::get("/v1/bots/1"))
        .await
        .expect("served after a new token");
    assert_eq!(
        (resp.credential, resp.attempts),
        (CredentialKind::Personal, 2)
    );
    assert_eq!(mints.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_fresh_token_refused_with_4100_is_not_reminted_on_every_call() {
    let (base, mints) = fake_coze(3600);
    let client = client_for(&base).await;
    for _ in 0..3 {
        let err = client
            .request(Request::get("/v1/bots/1"))
            .await
            .unwrap_err();
        assert_eq!(
            (err.kind(), err.code(), err.attempts()),
            (ErrorKind::Api, Some(4100), 1)
        );
    }
    assert_eq!(mints.load(Ordering::SeqCst), 1);
}
