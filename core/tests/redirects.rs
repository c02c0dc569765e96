//! A redirect never carries the bearer token to another host: the client follows redirects only within the
//! configured origin, and any other redirect is an error carrying its HTTP status, never a success.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use cozefallback::{Client, ErrorKind, Request};
use serde_json::json;

/// A tiny HTTP/1.1 server answering each request with `answer(path)`; records the requests' head lines.
fn serve(
    listener: TcpListener,
    seen: Arc<Mutex<Vec<String>>>,
    answer: impl Fn(&str) -> String + Send + 'static,
) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 8192];
            let n = stream.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
            seen.lock().unwrap().push(head);
            let _ = stream.write_all(answer(&path).as_bytes());
        }
    });
}

#[test]
fn redirects_stay_within_the_configured_origin() {
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let other_url = format!("http://127.0.0.1:{}", other.local_addr().unwrap().port());
    let other_seen = Arc::new(Mutex::new(Vec::new()));
    serve(other, other_seen.clone(), |_| {
        "HTTP/1.1 200 OK\r\ncontent-length: 10\r\nconnection: close\r\n\r\n{\"code\":0}".into()
    });

    let api = TcpListener::bind("127.0.0.1:0").unwrap();
    let api_url = format!("http://127.0.0.1:{}", api.local_addr().unwrap().port());
    let api_seen = Arc::new(Mutex::new(Vec::new()));
    let target = other_url.clone();
    let hops = Arc::new(AtomicUsize::new(0));
    let counter = hops.clone();
    serve(api, api_seen.clone(), move |path| {
        counter.fetch_add(1, Ordering::SeqCst);
        match path {
            "/v1/moved-away" => format!("HTTP/1.1 302 Found\r\nlocation: {target}/steal\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"),
            "/v1/moved-here" => "HTTP/1.1 302 Found\r\nlocation: /v1/final\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into(),
            _ => "HTTP/1.1 200 OK\r\ncontent-length: 10\r\nconnection: close\r\n\r\n{\"code\":0}".into(),
        }
    });

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let config = json!({"base_url": api_url, "personal": {"type": "pat", "token": "pat_redirect_secret"}});
        let client = Client::from_json(&config.to_string()).unwrap();
        // Another origin: not followed, and the call failed (the answer it asked for never came).
        let err = client.request(Request::get("/v1/moved-away")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Api, "{err}");
        assert_eq!(err.http_status(), Some(302), "{err}");
        assert!(err.message().contains("redirect that was not followed"), "{err}");
        assert!(!err.to_string().contains("pat_redirect_secret"), "{err}");
        assert!(other_seen.lock().unwrap().is_empty(), "the other host was contacted");
        // The same origin: followed, with the token.
        let resp = client.request(Request::get("/v1/moved-here")).await.unwrap();
        assert_eq!(resp.status, 200);
    });
    let seen = api_seen.lock().unwrap();
    let last = seen.last().unwrap().to_ascii_lowercase();
    assert!(last.starts_with("get /v1/final"), "{last}");
    assert!(
        last.contains("authorization: bearer pat_redirect_secret"),
        "same-origin hop keeps the token"
    );
    assert_eq!(hops.load(Ordering::SeqCst), 3);
}
