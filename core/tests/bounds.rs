//! What a hostile or broken server can make the client do, and what it cannot: an event cut by the end of input
//! never reaches the caller, answers are bounded in size (retries included), an unfollowed redirect is an error,
//! and request paths stay where the configuration says.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use cozefallback::{Client, ErrorKind, OAuthApp, OAuthAppOptions, Request};
use serde_json::json;

/// A loopback HTTP/1.1 server: each connection gets `answer(request head)` and is closed. Returns the base URL
/// and the request heads it saw.
fn serve(answer: impl Fn(&str) -> Vec<u8> + Send + 'static) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 16384];
            let n = stream.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            log.lock().unwrap().push(head.clone());
            let _ = stream.write_all(&answer(&head));
        }
    });
    (base, seen)
}

fn head_line(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

fn client(base: &str, extra: serde_json::Value) -> Client {
    let mut config = json!({"base_url": base, "personal": {"type": "pat", "token": "pat_bounds_secret"},
                            "retry": {"base_delay_ms": 1, "max_delay_ms": 5}});
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    Client::from_json(&config.to_string()).unwrap()
}

fn chat() -> Request {
    Request::post_json(
        "/v3/chat",
        json!({"bot_id": "7350000000000000001", "user_id": "u", "stream": true}),
    )
}

#[tokio::test]
async fn an_event_cut_by_the_end_of_input_is_discarded() {
    let (base, _) = serve(|_| {
        // No content-length: the body ends when the connection closes, in the middle of the second event.
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n\
          event:conversation.message.delta\ndata:{\"content\":\"hel\"}\n\n\
          event:conversation.message.delta\ndata:{\"content\":\"l"
            .to_vec()
    });
    let client = client(&base, json!({}));
    let mut stream = client.stream(chat()).await.unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.data, r#"{"content":"hel"}"#);
    let err = stream.next().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StreamInterrupted, "{err}");
    assert_eq!(err.events_delivered(), 1, "{err}");
    assert!(err.message().contains("middle of an event"), "{err}");
    assert_eq!(stream.events_delivered(), 1);
}

#[tokio::test]
async fn a_stream_of_one_cut_event_fails_before_anything_is_delivered() {
    let (base, seen) = serve(|_| {
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\ndata:{\"content\":\"l"
            .to_vec()
    });
    let client = client(&base, json!({}));
    let err = client.stream(chat()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
    assert_eq!(err.events_delivered(), 0);
    assert_eq!(seen.lock().unwrap().len(), 1, "a POST is not retried");
}

#[tokio::test]
async fn one_event_past_max_event_bytes_is_a_transport_error() {
    let (base, _) = serve(|_| {
        let mut out =
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n\
                        event:conversation.message.delta\ndata:{\"content\":\"ok\"}\n\ndata:"
                .to_vec();
        out.extend(std::iter::repeat_n(b'a', 64 << 10));
        out
    });
    let client = client(&base, json!({"max_event_bytes": 4096}));
    let mut stream = client.stream(chat()).await.unwrap();
    assert_eq!(
        stream.next().await.unwrap().unwrap().data,
        r#"{"content":"ok"}"#
    );
    let err = stream.next().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
    assert!(
        err.message().contains("max_event_bytes (4096 bytes)"),
        "{err}"
    );
    assert_eq!(err.events_delivered(), 1);
}

#[tokio::test]
async fn a_whole_answer_past_max_response_bytes_is_a_transport_error() {
    let (base, seen) = serve(|_| {
        let body = format!(r#"{{"code":0,"data":"{}"}}"#, "x".repeat(5000));
        head_line("200 OK", "application/json", body.as_bytes())
    });
    let client = client(&base, json!({"max_response_bytes": 4096}));
    let err = client
        .request(Request::get("/v1/bots/1"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
    assert!(
        err.message().contains("max_response_bytes (4096 bytes)"),
        "{err}"
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "a body over the bound is not downloaded again"
    );
}

#[tokio::test]
async fn broken_json_retries_count_against_max_response_bytes() {
    // 1500 bytes of broken JSON per answer; the bound holds two of them, the retry limit four tries.
    let (base, seen) = serve(|_| {
        let body = format!(r#"{{"code":0,"data":"{}"#, "x".repeat(1500));
        head_line("200 OK", "application/json", body.as_bytes())
    });
    let client = client(
        &base,
        json!({"max_response_bytes": 4000, "retry": {"max_retries": 3, "base_delay_ms": 1}}),
    );
    let err = client
        .request(Request::get("/v1/bots/1"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
    assert!(err.message().contains("retries included"), "{err}");
    assert!(
        err.message().contains("max_response_bytes (4000 bytes)"),
        "{err}"
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        3,
        "the third download passes the bound"
    );
}

#[tokio::test]
async fn an_unfollowed_redirect_is_an_error_with_its_status() {
    let (base, _) = serve(|_| {
        b"HTTP/1.1 302 Found\r\nlocation: https://elsewhere.example/x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            .to_vec()
    });
    let client = client(&base, json!({}));
    let err = client
        .request(Request::get("/v1/bots/1"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Api, "{err}");
    assert_eq!(err.http_status(), Some(302));
    // A stream gets the same error, not an empty success.
    let err = client.stream(chat()).await.unwrap_err();
    assert_eq!(err.http_status(), Some(302), "{err}");
    assert_eq!(err.kind(), ErrorKind::Api, "{err}");
}

#[tokio::test]
async fn request_paths_stay_under_the_base_path() {
    let (base, seen) = serve(|_| head_line("200 OK", "application/json", br#"{"code":0}"#));
    let client = client(&format!("{base}/api/"), json!({}));
    client.request(Request::get("/v1/bots/1")).await.unwrap();
    client.request(Request::get("v1/bots/2")).await.unwrap();
    client
        .request(Request::get(format!(
            "{}/api/v1/bots/3",
            base.replacen("http://", "HTTP://", 1)
        )))
        .await
        .unwrap();
    for bad in [
        "/../x",
        "/%2e%2e/x",
        "/%2E%2E/x",
        "/v1/../../x",
        "/v1/bots\0/1",
        "HTTP://127.0.0.2:1/api/x",
    ] {
        let err = client.request(Request::get(bad)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad:?}: {err}");
    }
    let paths: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|h| h.split_whitespace().nth(1).unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        paths,
        ["/api/v1/bots/1", "/api/v1/bots/2", "/api/v1/bots/3"]
    );
}

#[test]
fn a_base_url_with_user_info_is_refused_without_echoing_the_password() {
    let config = json!({"base_url": "http://admin:pw-bounds-secret@127.0.0.1:9",
                        "personal": {"type": "pat", "token": "pat_x"}});
    let err = Client::from_json(&config.to_string()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_eq!(err.field(), Some("base_url"));
    assert!(err.message().contains("user name or password"), "{err}");
    assert!(
        !format!("{err} {err:?}").contains("pw-bounds-secret"),
        "{err:?}"
    );
}

#[test]
fn oauth_app_takes_allow_insecure_http_and_refuses_a_path() {
    let err = OAuthApp::new("http://coze.internal:8080", "1130", None)
        .err()
        .unwrap();
    assert!(err.message().contains("allow_insecure_http"), "{err}");
    let opts = OAuthAppOptions {
        allow_insecure_http: true,
        ..OAuthAppOptions::default()
    };
    assert!(OAuthApp::with_options("http://coze.internal:8080", "1130", None, opts).is_ok());
    let err = OAuthApp::new("https://api.coze.cn/api/", "1130", None)
        .err()
        .unwrap();
    assert_eq!(err.field(), Some("base_url"));
    assert!(err.message().contains("no path"), "{err}");
    assert!(OAuthApp::new("https://api.coze.cn/", "1130", None).is_ok());
}
