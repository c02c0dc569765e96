//! `Client::close()` cancels what is in flight (calls, token exchanges, streams) at once, and refuses later calls.

use std::time::{Duration, Instant};

use coze_mock::{MockOptions, MockServer};
use cozefallback::{Client, ErrorKind, Request};
use serde_json::json;

async fn mock_that_never_answers() -> MockServer {
    let mock = MockServer::start(MockOptions::default()).await.unwrap();
    mock.control()
        .set_state(json!({"faults": [{"path": "/v1/", "action": {"type": "hang"}}]}))
        .unwrap();
    mock
}

fn chat(bot: &str) -> Request {
    Request::post_json(
        "/v3/chat",
        json!({"bot_id": bot, "user_id": "u1", "stream": true,
               "additional_messages": [{"role": "user", "content": "hi", "content_type": "text"}]}),
    )
}

#[tokio::test]
async fn close_cancels_a_call_in_flight_and_refuses_later_ones() {
    let mock = mock_that_never_answers().await;
    let info = mock.info();
    let client = Client::from_json(
        &json!({"base_url": info.base_url, "personal": {"type": "pat", "token": info.personal_pat}})
            .to_string(),
    )
    .unwrap();
    let calling = client.clone();
    let call = tokio::spawn(async move { calling.request(Request::get("/v1/workspaces")).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!call.is_finished(), "the mock should hang the call");

    let closed_at = Instant::now();
    client.close();
    assert!(
        closed_at.elapsed() < Duration::from_millis(100),
        "close() must not wait"
    );
    let err = tokio::time::timeout(Duration::from_secs(1), call)
        .await
        .expect("the call ends within 1 s of close()")
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert!(err.message().contains("closed"), "{}", err.message());

    assert!(client.is_closed());
    let later = client
        .request(Request::get("/v1/workspaces"))
        .await
        .unwrap_err();
    assert_eq!(later.kind(), ErrorKind::InvalidArgument);
    assert!(
        later.message().contains("the client is closed"),
        "{}",
        later.message()
    );
    let token = client
        .fetch_token(cozefallback::CredentialKind::Personal)
        .await
        .unwrap_err();
    assert_eq!(token.kind(), ErrorKind::InvalidArgument);
}

#[tokio::test]
async fn close_ends_an_open_stream_and_a_token_exchange() {
    let mock = MockServer::start(MockOptions::default()).await.unwrap();
    let info = mock.info();
    let client = Client::from_json(
        &json!({"base_url": info.base_url, "personal": {"type": "pat", "token": info.personal_pat},
                "enterprise": {"type": "jwt", "client_id": info.jwt_client_id,
                               "private_key_file": info.private_key_file, "public_key_id": info.jwt_kid,
                               "enterprise_id": info.enterprise_id}})
        .to_string(),
    )
    .unwrap();
    let mut stream = client.stream(chat(&info.bots[0])).await.unwrap();
    assert!(stream.next().await.unwrap().is_some());
    client.close();
    let err = stream.next().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);

    // A token exchange that never answers is cancelled too.
    let client = Client::from_json(
        &json!({"base_url": info.base_url,
                "enterprise": {"type": "jwt", "client_id": info.jwt_client_id,
                               "private_key_file": info.private_key_file, "public_key_id": info.jwt_kid,
                               "enterprise_id": info.enterprise_id}})
        .to_string(),
    )
    .unwrap();
    mock.control()
        .set_state(json!({"faults": [{"path": "/api/permission/", "action": {"type": "hang"}}]}))
        .unwrap();
    let minting = client.clone();
    let mint = tokio::spawn(async move {
        minting
            .fetch_token(cozefallback::CredentialKind::Enterprise)
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    client.close();
    let err = tokio::time::timeout(Duration::from_secs(1), mint)
        .await
        .expect("the exchange ends within 1 s of close()")
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
}
