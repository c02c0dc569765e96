//! Stranded conversations against the mock: message/list paging, the create limit, carry-overs longer than
//! one `conversation/create`, and the carry-over metrics.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coze_mock::{MockOptions, MockServer};
use cozefallback::{BlockingClient, Client, ErrorKind, Request};
use serde_json::{Value, json};

fn client(mock: &MockServer, conversations: Value) -> Client {
    let info = mock.info();
    Client::from_json(
        &json!({
            "base_url": info.base_url,
            "personal": {"type": "pat", "token": info.personal_pat},
            "enterprise": {"type": "pat", "token": info.enterprise_pat},
            "conversations": conversations,
        })
        .to_string(),
    )
    .unwrap()
}

fn chat(bot: &str, conv: Option<&str>, text: &str) -> Request {
    let req = Request::post_json(
        "/v3/chat",
        json!({"bot_id": bot, "user_id": "u", "stream": false,
               "additional_messages": [{"role": "user", "content": text, "content_type": "text"}]}),
    );
    match conv {
        Some(c) => req.query("conversation_id", c),
        None => req,
    }
}

fn list(conv: &str, body: Value) -> Request {
    Request::post_json("/v1/conversation/message/list", body).query("conversation_id", conv)
}

/// A personal conversation with `chats` chats (2 messages each), made before the move.
async fn personal_conversation(client: &Client, bot: &str, chats: usize) -> String {
    let first = client.request(chat(bot, None, "q0")).await.unwrap();
    let conv = first.json().unwrap()["data"]["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    for i in 1..chats {
        client
            .request(chat(bot, Some(&conv), &format!("q{i}")))
            .await
            .unwrap();
    }
    conv
}

#[tokio::test]
async fn message_list_pages_newest_first_with_before_id() {
    let mock = MockServer::start(MockOptions::default()).await.unwrap();
    let client = client(&mock, json!({}));
    let bot = mock.info().bots[0].clone();
    let conv = personal_conversation(&client, &bot, 6).await; // 12 messages
    let mut seen = Vec::new();
    let mut before: Option<String> = None;
    for _ in 0..3 {
        let mut body = json!({"limit": 5});
        if let Some(b) = &before {
            body["before_id"] = json!(b);
        }
        let page = client
            .request(list(&conv, body))
            .await
            .unwrap()
            .json()
            .unwrap();
        let data = page["data"].as_array().unwrap();
        seen.extend(
            data.iter()
                .map(|m| m["content"].as_str().unwrap().to_string()),
        );
        before = page["first_id"].as_str().map(str::to_string);
        if page["has_more"] != json!(true) {
            break;
        }
    }
    assert_eq!(seen.len(), 12, "{seen:?}");
    assert_eq!(seen[1], "q5", "newest first: {seen:?}");
    assert_eq!(seen[11], "q0", "{seen:?}");
    let bad = client
        .request(list(&conv, json!({"limit": 51})))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Some(4000));
    assert!(bad.to_string().contains("limit"), "{bad}");
}

#[tokio::test]
async fn create_takes_at_most_16_messages() {
    let mock = MockServer::start(MockOptions::default()).await.unwrap();
    let client = client(&mock, json!({}));
    let m = json!({"role": "user", "content": "x", "content_type": "text"});
    let ok = client
        .request(Request::post_json(
            "/v1/conversation/create",
            json!({"messages": vec![m.clone(); 16]}),
        ))
        .await;
    assert!(ok.is_ok(), "{ok:?}");
    let err = client
        .request(Request::post_json(
            "/v1/conversation/create",
            json!({"messages": vec![m; 17]}),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(4000));
    assert!(err.to_string().contains("16"), "{err}");
}

#[tokio::test]
async fn a_long_carry_over_adds_the_rest_one_by_one_and_counts_in_the_metrics() {
    let mock = MockServer::start(MockOptions::default()).await.unwrap();
    let client = client(&mock, json!({"carry_over_messages": 20}));
    let hooks = Arc::new(AtomicU32::new(0));
    let h = hooks.clone();
    client.set_conversation_hook(Some(Arc::new(move |_| {
        h.fetch_add(1, Ordering::SeqCst);
    })));
    let bot = mock.info().bots[0].clone();
    let conv = personal_conversation(&client, &bot, 12).await; // 24 messages
    mock.control().set_moved(true);
    let resp = client
        .request(chat(&bot, Some(&conv), "after"))
        .await
        .unwrap();
    let moved = resp.conversation_moved.clone().expect("carried over");
    assert_eq!(
        (moved.from.as_str(), moved.messages_copied),
        (conv.as_str(), 20)
    );
    let page = client
        .request(list(&moved.to, json!({"order": "asc"})))
        .await
        .unwrap()
        .json()
        .unwrap();
    let contents: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    // The latest 20 of 24, oldest first (q2's question onwards), then this chat's question and answer.
    assert_eq!(contents.len(), 22, "{contents:?}");
    assert_eq!(contents[0], "q2");
    assert_eq!(contents[20], "after");
    let stats = mock.control().stats();
    assert_eq!(
        stats["requests"]["by_path"]["/v1/conversation/message/create"],
        4
    );
    let m = client.metrics();
    assert_eq!(m["conversations_carried_over_total"], 1);
    assert_eq!(m["conversation_messages_copied_total"], 20);
    assert_eq!(m["conversation_carry_over_failures_total"], 0);
    assert!(
        client
            .metrics_prometheus()
            .contains("cozefallback_conversations_carried_over_total 1")
    );
    assert_eq!(hooks.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_failed_carry_over_counts_and_the_error_kind_is_kept() {
    let mock = MockServer::start(MockOptions::default()).await.unwrap();
    let client = client(&mock, json!({}));
    let bot = mock.info().bots[0].clone();
    let conv = personal_conversation(&client, &bot, 1).await;
    mock.control()
        .set_state(
            json!({"moved": true, "faults": [{"path": "/v1/conversation/create", "times": 1,
            "action": {"type": "http", "http_status": 503}}]}),
        )
        .unwrap();
    let err = client
        .request(chat(&bot, Some(&conv), "x"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Api);
    assert!(err.to_string().contains(&conv), "{err}");
    assert_eq!(client.mapped_conversation(&conv), None);
    assert_eq!(
        client.metrics()["conversation_carry_over_failures_total"],
        1
    );
}

#[test]
fn map_conversation_refuses_bad_ids() {
    let c = Client::from_json(r#"{"personal":{"type":"pat","token":"pat_a"}}"#).unwrap();
    let err = c.map_conversation("a", "a").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("same id"));
    assert!(c.map_conversation("a", " ").is_err());
}

#[tokio::test]
async fn a_panicking_hook_does_not_fail_the_call() {
    let mock = MockServer::start(MockOptions::default()).await.unwrap();
    let client = client(&mock, json!({"on_stranded": "new"}));
    client.set_conversation_hook(Some(Arc::new(|_| panic!("the app's hook broke"))));
    let bot = mock.info().bots[0].clone();
    let conv = personal_conversation(&client, &bot, 1).await;
    mock.control().set_moved(true);
    let resp = client.request(chat(&bot, Some(&conv), "x")).await.unwrap();
    let moved = resp.conversation_moved.expect("carried over");
    assert_eq!(moved.messages_copied, 0);
    assert_eq!(client.mapped_conversation(&conv), Some(moved.to));
}

#[tokio::test]
async fn message_list_pages_forward_with_after_id_and_checks_its_input() {
    let mock = MockServer::start(MockOptions::default()).await.unwrap();
    let client = client(&mock, json!({}));
    let bot = mock.info().bots[0].clone();
    let conv = personal_conversation(&client, &bot, 3).await; // 6 messages: q0 a q1 a q2 a
    let page = client
        .request(list(&conv, json!({"order": "asc", "limit": 4})))
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 4);
    assert_eq!(page["data"][0]["content"], "q0");
    assert_eq!(page["has_more"], true);
    let after = page["last_id"].as_str().unwrap().to_string();
    let rest = client
        .request(list(&conv, json!({"order": "asc", "after_id": after})))
        .await
        .unwrap()
        .json()
        .unwrap();
    let contents: Vec<&str> = rest["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["q2", "hello"]);
    assert_eq!(rest["has_more"], false);
    for (body, needle) in [
        (json!({"order": "sideways"}), "order"),
        (json!({"limit": 0}), "limit"),
        (json!({"before_id": "1", "after_id": "2"}), "not both"),
    ] {
        let err = client.request(list(&conv, body)).await.unwrap_err();
        assert_eq!(err.code(), Some(4000), "{err}");
        assert!(err.to_string().contains(needle), "{err}");
    }
    // The enterprise credential does not reach a personal conversation, unless granted.
    let denied = client
        .request_with(
            cozefallback::CredentialKind::Enterprise,
            list(&conv, json!({})),
        )
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Some(4101));
    mock.control()
        .set_state(json!({"account_resources_granted": true}))
        .unwrap();
    let granted = client
        .request_with(
            cozefallback::CredentialKind::Enterprise,
            list(&conv, json!({})),
        )
        .await;
    assert!(granted.is_ok(), "{granted:?}");
}

/// C, Go and the Rust docs promise the hook a library thread. A blocking call driven on its caller's own thread
/// (a thread's third call on, docs/RUNTIME.md) still calls it on one, and waits for it.
#[test]
fn the_hook_runs_on_a_library_thread_when_the_call_is_driven_on_the_callers_thread() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mock = runtime
        .block_on(MockServer::start(MockOptions::default()))
        .unwrap();
    let core = client(&mock, json!({"on_stranded": "new"}));
    let hook_threads = Arc::new(Mutex::new(Vec::new()));
    let seen = hook_threads.clone();
    core.set_conversation_hook(Some(Arc::new(move |_| {
        seen.lock().unwrap().push(std::thread::current().id());
    })));
    let blocking = BlockingClient::new(core);
    let bot = mock.info().bots[0].clone();
    let control = mock.control();
    let caller = std::thread::spawn(move || {
        let first = blocking.request(chat(&bot, None, "q0"), None).unwrap();
        let conv = first.json().unwrap()["data"]["conversation_id"]
            .as_str()
            .unwrap()
            .to_string();
        blocking
            .request(chat(&bot, Some(&conv), "q1"), None)
            .unwrap();
        // The thread's connection pool is built after its second call, off the call path.
        std::thread::sleep(Duration::from_millis(150));
        control.set_moved(true);
        let resp = blocking
            .request(chat(&bot, Some(&conv), "after the move"), None)
            .unwrap();
        assert!(resp.conversation_moved.is_some(), "carried over");
        std::thread::current().id()
    })
    .join()
    .unwrap();
    let hook_threads = hook_threads.lock().unwrap();
    assert_eq!(
        hook_threads.len(),
        1,
        "the hook ran once before the call returned"
    );
    assert_ne!(
        hook_threads[0], caller,
        "the hook ran on the caller's thread"
    );
}
