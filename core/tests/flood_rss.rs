//! Memory stays bounded while a server floods a stream with one endless `data:` line.
//!
//! Its own test binary with a single test, so that the peak RSS (VmHWM) it reads is this test's alone.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use cozefallback::{Client, ErrorKind, Request};
use serde_json::json;

const BOUND: u64 = 8 << 20;
const FLOOD: usize = 400 << 20;

/// Peak resident set size of this process, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/self/status");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("a number of kB");
    kib * 1024
}

/// Serves one stream: a head, then `data:` and 400 MB without a line break, until the client hangs up.
fn flood_server() -> (String, std::thread::JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 16384];
        let _ = stream.read(&mut buf);
        let head =
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\ndata:";
        let _ = stream.write_all(head.as_bytes());
        let block = vec![b'a'; 1 << 20];
        let mut sent = 0;
        while sent < FLOOD && stream.write_all(&block).is_ok() {
            sent += block.len();
        }
        sent
    });
    (base, handle)
}

#[test]
fn a_flooded_stream_fails_at_max_event_bytes_with_memory_bounded() {
    let (base, server) = flood_server();
    let config = json!({"base_url": base, "personal": {"type": "pat", "token": "pat_flood"},
                        "max_event_bytes": BOUND, "timeouts": {"total_ms": 60_000, "idle_ms": 10_000}});
    let client = cozefallback::BlockingClient::new(Client::from_json(&config.to_string()).unwrap());
    let started = Instant::now();
    let req = Request::post_json(
        "/v3/chat",
        json!({"bot_id": "1", "user_id": "u", "stream": true}),
    );
    let Err(err) = client.stream(req, None) else {
        panic!("the flood must fail");
    };
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
    assert!(
        err.message()
            .contains(&format!("max_event_bytes ({BOUND} bytes)")),
        "{err}"
    );
    drop(client);
    let sent = server.join().unwrap();
    assert!(sent < FLOOD, "the client hung up early, after {sent} bytes");
    let peak = peak_rss();
    assert!(
        peak < (100 << 20) + BOUND,
        "peak RSS {} MiB while flooded (bound {} MiB)",
        peak >> 20,
        BOUND >> 20
    );
}
