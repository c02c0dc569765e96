//! Blocking calls driven on the caller's own thread (docs/RUNTIME.md): what a C, Go or Python program sees.
//!
//! The server here is a few lines of plain HTTP/1.1 over std sockets, so that it can count the connections it
//! accepts and close an idle one the way a real load balancer does after its keep-alive time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cozefallback::{BlockingClient, BlockingStream, CancelToken, ErrorKind, Reply, Request};

/// How the test server treats a connection after each answer.
#[derive(Clone, Copy)]
enum AfterAnswer {
    KeepOpen,
    /// Close the connection this long after answering, while the client holds it idle in its pool.
    CloseIdleAfter(Duration),
}

struct Server {
    base: String,
    accepted: Arc<AtomicUsize>,
}

fn serve(after: AfterAnswer) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || answer_all(conn, after));
        }
    });
    Server { base, accepted }
}

/// Answers every request on one connection: `/v1/events` with an event stream (three events, 30 ms apart),
/// anything else with Coze's success envelope.
fn answer_all(conn: TcpStream, after: AfterAnswer) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split(' ').nth(1).unwrap_or("").to_string();
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header == "\r\n" {
                break;
            }
            if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if path == "/v1/hang" {
            std::thread::sleep(Duration::from_secs(10));
            return;
        }
        let (kind, text) = if path == "/v1/events" {
            (
                "text/event-stream",
                "event: a\ndata: 1\n\nevent: b\ndata: 2\n\nevent: done\ndata: 3\n\n",
            )
        } else {
            (
                "application/json",
                r#"{"code":0,"msg":"","data":{"ok":true}}"#,
            )
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\ncontent-length: {}\r\n\r\n",
            text.len()
        );
        if conn.write_all(head.as_bytes()).is_err() {
            return;
        }
        // Events come one by one, some time apart, as a live stream's do.
        for part in text.split_inclusive("\n\n") {
            if conn.write_all(part.as_bytes()).is_err() {
                return;
            }
            if kind == "text/event-stream" {
                std::thread::sleep(Duration::from_millis(30));
            }
        }
        if let AfterAnswer::CloseIdleAfter(wait) = after {
            std::thread::sleep(wait);
            return;
        }
    }
}

fn client(base: &str) -> BlockingClient {
    let config = serde_json::json!({
        "base_url": base,
        "personal": {"type": "pat", "token": "pat_caller_thread"},
        "retry": {"max_retries": 0},
    });
    BlockingClient::from_json(&config.to_string()).unwrap()
}

/// Two calls and a pause: from then on the thread drives its calls itself (its first call goes to the shared
/// runtime, the second starts building the thread's connection pool off the call path).
fn warm_up(client: &BlockingClient) {
    for _ in 0..2 {
        client.request(Request::get("/v1/things"), None).unwrap();
        // Past the idle-closing server's 20 ms, so that no call races the server's close.
        std::thread::sleep(Duration::from_millis(150));
    }
}

fn post() -> Request {
    Request::post_json("/v1/things", serde_json::json!({"name": "x"}))
}

#[test]
fn sequential_calls_on_one_thread_reuse_one_connection() {
    let server = serve(AfterAnswer::KeepOpen);
    let client = client(&server.base);
    std::thread::spawn(move || {
        for i in 0..40 {
            let resp = client.request(Request::get("/v1/things"), None).unwrap();
            assert_eq!(resp.status, 200, "call {i}");
        }
    })
    .join()
    .unwrap();
    let accepted = server.accepted.load(Ordering::SeqCst);
    // One connection for the thread's first call (on the shared runtime), one for the rest.
    assert!(accepted <= 2, "40 calls opened {accepted} connections");
}

#[test]
fn a_post_after_the_server_closed_the_idle_connection_is_sent_on_a_new_one() {
    let server = serve(AfterAnswer::CloseIdleAfter(Duration::from_millis(20)));
    let client = client(&server.base);
    std::thread::spawn(move || {
        warm_up(&client);
        for i in 0..8 {
            // A POST is not retried: sent on the connection the server closed, it would fail.
            let resp = client.request(post(), None);
            assert_eq!(resp.map(|r| r.status).ok(), Some(200), "call {i}");
            std::thread::sleep(Duration::from_millis(80));
        }
    })
    .join()
    .unwrap();
    // The warm-up's connections (closed by the server too), then one per POST.
    assert!(server.accepted.load(Ordering::SeqCst) >= 8);
}

#[test]
fn an_event_stream_nobody_asked_for_arrives_whole_and_reads_on_another_thread() {
    let server = serve(AfterAnswer::KeepOpen);
    let client = client(&server.base);
    let streams: Vec<BlockingStream> = std::thread::spawn(move || {
        warm_up(&client);
        (0..3)
            .map(
                |_| match client.send(Request::get("/v1/events"), None).unwrap() {
                    Reply::Stream(s) => BlockingStream::new(*s),
                    Reply::Full(r) => panic!("an event stream was answered as a whole body: {r:?}"),
                },
            )
            .collect()
    })
    .join()
    .unwrap();
    for mut stream in streams {
        let mut names = Vec::new();
        while let Some(event) = stream.next(None).unwrap() {
            names.push(event.event);
        }
        assert_eq!(names, ["a", "b", "done"]);
    }
}

/// What the Go `Transport` sends for coze-go's non-streaming chat: an encoded JSON body with `"stream": false`.
/// It cannot stream, so after the warm-up it is driven on the caller's thread, over that thread's own
/// connection (a second one); on the shared runtime it would reuse the warm-up's connection and pay two thread
/// hand-offs per call.
#[test]
fn a_send_whose_encoded_json_says_stream_false_is_driven_on_the_callers_thread() {
    let server = serve(AfterAnswer::KeepOpen);
    let client = client(&server.base);
    std::thread::spawn(move || {
        warm_up(&client);
        for i in 0..5 {
            let chat = Request::new("POST", "/v3/chat").bytes(
                Some("application/json".into()),
                r#"{"bot_id":"73","user_id":"u","stream":false}"#,
            );
            match client.send(chat, None).unwrap() {
                Reply::Full(r) => assert_eq!(r.status, 200, "call {i}"),
                Reply::Stream(_) => panic!("a whole answer came back as a stream"),
            }
        }
    })
    .join()
    .unwrap();
    let accepted = server.accepted.load(Ordering::SeqCst);
    assert_eq!(
        accepted, 2,
        "the warm-up's connection on the shared runtime, then one of the caller's thread"
    );
}

#[test]
fn many_threads_calling_at_once_all_get_their_answers() {
    let server = serve(AfterAnswer::KeepOpen);
    let client = client(&server.base);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            std::thread::spawn(move || {
                for _ in 0..25 {
                    assert_eq!(client.request(post(), None).unwrap().status, 200);
                    assert_eq!(
                        client
                            .request(Request::get("/v1/things"), None)
                            .unwrap()
                            .status,
                        200
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // 400 calls. Each thread's own pool holds one connection; the shared pool takes the calls made while those
    // are being built, up to 8 at once, plus a few when a call starts before the previous answer's connection
    // went back to the pool (measured: 16 to 19 in all).
    let accepted = server.accepted.load(Ordering::SeqCst);
    assert!(accepted <= 24, "8 threads opened {accepted} connections");
}

#[test]
fn a_call_made_from_inside_a_runtime_still_works() {
    let server = serve(AfterAnswer::KeepOpen);
    let client = client(&server.base);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let status = rt.block_on(async move {
        tokio::task::spawn_blocking(move || {
            (0..3)
                .map(|_| {
                    client
                        .request(Request::get("/v1/things"), None)
                        .unwrap()
                        .status
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap()
    });
    assert_eq!(status, [200, 200, 200]);
}

#[test]
fn a_call_on_its_own_thread_is_cancelled_promptly_from_another_thread() {
    let server = serve(AfterAnswer::KeepOpen);
    let client = client(&server.base);
    std::thread::spawn(move || {
        warm_up(&client);
        let token = CancelToken::new();
        let canceller = token.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            canceller.cancel();
        });
        let started = std::time::Instant::now();
        let err = client
            .request(Request::get("/v1/hang"), Some(&token))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Cancelled);
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "the cancel took {took:?}");
    })
    .join()
    .unwrap();
}
