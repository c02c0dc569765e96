//! WebSocket sessions beyond the scenarios: wss with the trusted roots of the HTTP client, the token cache
//! shared with HTTP, metrics, `Client::close`, the blocking wrapper, and secrets kept out of errors.

use std::time::Duration;

use coze_mock::{MockOptions, MockServer};
use cozefallback::{BlockingClient, BlockingWebSocket, Client, CredentialKind, ErrorKind, WsEvent};
use serde_json::{Value, json};

fn config(mock: &MockServer, extra: Value) -> String {
    let info = mock.info();
    let mut c = json!({
        "base_url": info.base_url,
        "personal": {"type": "pat", "token": info.personal_pat},
        "enterprise": {"type": "jwt", "client_id": info.jwt_client_id, "private_key_file": info.private_key_file,
                       "public_key_id": info.jwt_kid, "enterprise_id": info.enterprise_id},
    });
    for (k, v) in extra.as_object().into_iter().flatten() {
        c[k] = v.clone();
    }
    c.to_string()
}

fn bot(mock: &MockServer) -> [(String, String); 1] {
    [("bot_id".to_string(), mock.info().bots[0].clone())]
}

fn chat_message() -> Value {
    json!({"id": "m1", "event_type": "conversation.message.create",
           "data": {"role": "user", "content_type": "text", "content": "hi"}})
}

async fn read_until(session: &cozefallback::WebSocketSession, last: &str) -> Vec<String> {
    let mut names = Vec::new();
    while let Some(event) = session.next().await.expect("event") {
        let name = event.event_type().unwrap_or("binary").to_string();
        names.push(name.clone());
        if name == last {
            break;
        }
    }
    names
}

#[tokio::test]
async fn wss_trusts_the_configured_ca_and_falls_back_with_a_jwt_token() {
    let mock = MockServer::start(MockOptions {
        tls: true,
        ..MockOptions::default()
    })
    .await
    .unwrap();
    mock.control().set_moved(true);
    let ca = mock.info().ca_file.unwrap();
    let client = Client::from_json(&config(&mock, json!({"tls": {"ca_file": ca}}))).unwrap();
    let session = client.websocket("/v1/chat", bot(&mock)).await.unwrap();
    assert!(
        session.url().starts_with("wss://127.0.0.1:"),
        "{}",
        session.url()
    );
    session.send(chat_message()).await.unwrap();
    let names = read_until(&session, "conversation.chat.completed").await;
    assert_eq!(names.first().map(String::as_str), Some("chat.created"));
    assert_eq!(session.credential(), CredentialKind::Enterprise);
    assert_eq!(session.attempts(), 2);
    session.close().await;
    // The JWT token minted for the session is cached and reused by HTTP calls and later sessions.
    let again = client.websocket("/v1/chat", bot(&mock)).await.unwrap();
    assert_eq!(read_until(&again, "chat.created").await, ["chat.created"]);
    assert_eq!(mock.control().stats()["token_mints"]["enterprise"], 1);
    let m = client.metrics();
    assert_eq!(m["fallbacks"]["4101"], 1, "{m}");
    assert_eq!(m["requests"]["enterprise"]["success"], 2, "{m}");
    assert_eq!(m["websocket_sessions_total"], 2, "{m}");
    assert!(
        client
            .metrics_prometheus()
            .contains("cozefallback_websocket_sessions_total 2")
    );
}

#[tokio::test]
async fn wss_without_the_ca_is_refused_in_words() {
    let mock = MockServer::start(MockOptions {
        tls: true,
        ..MockOptions::default()
    })
    .await
    .unwrap();
    let client = Client::from_json(&config(&mock, json!({}))).unwrap();
    let err = client.websocket("/v1/chat", bot(&mock)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
    assert!(
        err.message()
            .contains("not signed by a trusted certificate authority"),
        "{err}"
    );
    assert_eq!(mock.control().stats()["websocket"]["handshakes"], 0);
}

#[tokio::test]
async fn closing_the_client_cancels_a_waiting_session() {
    let mock = MockServer::start(MockOptions::default()).await.unwrap();
    let client = Client::from_json(&config(&mock, json!({}))).unwrap();
    let session = client.websocket("/v1/chat", bot(&mock)).await.unwrap();
    assert_eq!(read_until(&session, "chat.created").await, ["chat.created"]);
    let waiting = tokio::spawn({
        let session = session.clone();
        async move { session.next().await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    client.close();
    let err = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("next() returns once the client is closed")
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    let err = client.websocket("/v1/chat", bot(&mock)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
}

#[tokio::test]
async fn a_closed_session_ends_and_refuses_sends() {
    let mock = MockServer::start(MockOptions::default()).await.unwrap();
    let client = Client::from_json(&config(&mock, json!({}))).unwrap();
    let session = client
        .websocket("/v1/audio/speech", [("a", "b"); 0])
        .await
        .unwrap();
    assert_eq!(
        read_until(&session, "speech.created").await,
        ["speech.created"]
    );
    session.close().await;
    session.close().await;
    assert!(session.next().await.unwrap().is_none());
    let err = session
        .send(json!({"event_type": "speech.update"}))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("closed"), "{err}");
}

#[tokio::test]
async fn bad_events_and_paths_are_refused_with_words() {
    let mock = MockServer::start(MockOptions::default()).await.unwrap();
    let client = Client::from_json(&config(&mock, json!({}))).unwrap();
    let session = client.websocket("/v1/chat", bot(&mock)).await.unwrap();
    let err = session
        .send(json!(["not", "an", "object"]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(
        err.message().contains("JSON object") && err.message().contains("an array"),
        "{err}"
    );
    let err = client
        .websocket("wss://elsewhere.example/v1/chat", bot(&mock))
        .await
        .unwrap_err();
    assert!(
        err.message().contains("refusing to send credentials"),
        "{err}"
    );
    // An unknown endpoint is refused at the handshake (404, code 4000): not a fallback.
    let err = client
        .websocket("/v1/nothing", bot(&mock))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Api, "{err}");
    assert_eq!(err.http_status(), Some(404));
    assert_eq!(err.attempts(), 1);
}

#[tokio::test]
async fn the_token_never_shows_in_errors_or_debug() {
    let mock = MockServer::start(MockOptions::default()).await.unwrap();
    let pat = mock.info().personal_pat;
    mock.control()
        .set_state(json!({"faults": [{"path": "/v1/chat", "action": {"type": "http", "http_status": 403, "body": "Forbidden"}}]}))
        .unwrap();
    let client = Client::from_json(&config(&mock, json!({"mode": "personal_only"}))).unwrap();
    let err = client.websocket("/v1/chat", bot(&mock)).await.unwrap_err();
    assert_eq!(err.http_status(), Some(403));
    assert!(err.message().contains("may lack access"), "{err}");
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(&pat), "the token leaked: {text}");
    }
    mock.control().reset();
    let session = client.websocket("/v1/chat", bot(&mock)).await.unwrap();
    assert!(!format!("{session:?}").contains(&pat));
    assert!(!session.url().contains(&pat));
}

#[test]
fn the_blocking_session_serves_ffi_callers() {
    let mock = MockServer::start_blocking(MockOptions::default()).unwrap();
    let client = BlockingClient::from_json(&config(&mock, json!({}))).unwrap();
    let query = [("bot_id".to_string(), mock.info().bots[0].clone())];
    let session = BlockingWebSocket::open(&client, "/v1/chat", &query, None).unwrap();
    session.send(chat_message(), None).unwrap();
    session.send_binary(vec![1, 2, 3], None).unwrap();
    let mut names = Vec::new();
    while let Some(event) = session.next(None).unwrap() {
        let WsEvent::Json(v) = &event else {
            panic!("a binary frame from the chat endpoint")
        };
        names.push(v["event_type"].as_str().unwrap().to_string());
        if names.last().unwrap() == "conversation.chat.completed" {
            break;
        }
    }
    assert_eq!(names.len(), 8, "{names:?}");
    session.close();
    // The mock may answer the chat before it reads the binary frame sent after it: wait (bounded) for the record.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let received = loop {
        let received = mock.control().stats()["websocket"]["sessions"][0]["received"].clone();
        if received[1]["binary"] == 3 || std::time::Instant::now() > deadline {
            break received;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert_eq!(received[1]["binary"], 3, "{received}");
}

#[tokio::test]
async fn events_too_large_to_hold_are_not_replayed_on_another_credential() {
    let mock = MockServer::start(MockOptions::default()).await.unwrap();
    mock.control().set_moved(true);
    let client = Client::from_json(&config(&mock, json!({"max_request_bytes": 64}))).unwrap();
    let session = client.websocket("/v1/chat", bot(&mock)).await.unwrap();
    let big =
        json!({"event_type": "input_audio_buffer.append", "data": {"delta": "A".repeat(200)}});
    session.send(big).await.unwrap();
    let err = session.next().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Api, "{err}");
    assert_eq!(err.code(), Some(4101));
    assert!(err.message().contains("max_request_bytes"), "{err}");
    assert_eq!(err.credential(), Some(CredentialKind::Personal));
    assert_eq!(mock.control().stats()["websocket"]["handshakes"], 1);
}
