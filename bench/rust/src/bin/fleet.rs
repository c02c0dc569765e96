//! The Redis state store (docs/FLEET.md), side by side with the in-process store, against the mock on loopback.
//!
//! `cargo run --release -p cozefallback-bench --bin fleet [-- --rounds N --members N --redis-url URL]`
//!
//! Without `--redis-url` it starts a redis-server of its own (on PATH) on a free loopback port. Each fleet member
//! is a client with a store of its own (its own Redis connections and background driver), as a process would be.
//!
//! 1. The hot path's p50 with the Redis store vs the in-process store (goal: at most 5% slower).
//! 2. The fleet's extra round trips after the move: one per resource, vs one per resource per member.
//! 3. The mode's propagation time from one member's `set_mode` to every member.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use coze_mock::{MockOptions, MockServer};
use cozefallback::{Client, Mode, Request};
use serde_json::json;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn config(mock: &MockServer, redis: Option<(&str, &str)>) -> String {
    let info = mock.info();
    let mut c = json!({
        "base_url": info.base_url,
        "personal": {"type": "pat", "token": info.personal_pat},
        "enterprise": {"type": "pat", "token": info.enterprise_pat},
    });
    if let Some((url, prefix)) = redis {
        c["state"] = json!({"redis_url": url, "key_prefix": prefix});
    }
    c.to_string()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn pass(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

/// A redis-server of the bench's own, killed at the end.
struct OwnRedis(Child);

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis() -> (String, OwnRedis) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server on PATH (or pass --redis-url)");
    let until = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    (format!("redis://127.0.0.1:{port}/0"), OwnRedis(child))
}

async fn hot_path(mock: &MockServer, url: &str, rounds: usize) {
    let local = Client::from_json(&config(mock, None)).unwrap();
    let shared = Client::from_json(&config(mock, Some((url, "bench-hot:")))).unwrap();
    mock.control().set_moved(true);
    let bot = mock.info().bots[0].clone();
    let (mut a, mut b) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for i in 0..rounds + 200 {
        // Interleaved so machine noise hits both alike; the first 200 warm up (and learn the route).
        let t = Instant::now();
        local
            .request(Request::get(format!("/v1/bots/{bot}")))
            .await
            .unwrap();
        let x = t.elapsed();
        let t = Instant::now();
        shared
            .request(Request::get(format!("/v1/bots/{bot}")))
            .await
            .unwrap();
        let y = t.elapsed();
        if i >= 200 {
            a.push(x);
            b.push(y);
        }
    }
    a.sort();
    b.sort();
    let (pa, pb) = (percentile(&a, 0.5), percentile(&b, 0.5));
    let ratio = pb.as_secs_f64() / pa.as_secs_f64();
    println!(
        "1. hot path after the move (sticky route), {rounds} sequential GETs each, interleaved"
    );
    println!(
        "   p50 in-process {pa:?}   redis {pb:?}   ratio {ratio:.3} ({:+.1}%)   goal <= 5% slower: {}",
        (ratio - 1.0) * 100.0,
        pass(ratio <= 1.05)
    );
    mock.control().reset();
}

async fn extra_round_trips(mock: &MockServer, url: Option<&str>, members: usize) -> u64 {
    let prefix = format!("bench-fleet-{}:", std::process::id());
    let fleet: Vec<Client> = (0..members)
        .map(|_| Client::from_json(&config(mock, url.map(|u| (u, prefix.as_str())))).unwrap())
        .collect();
    mock.control().reset();
    mock.control().set_moved(true);
    let bots = mock.info().bots.clone();
    let personal = || {
        mock.control().stats()["requests"]["by_credential"]["personal"]
            .as_u64()
            .unwrap()
    };
    // One member meets the move first; then every member calls every bot, all at once.
    for bot in &bots {
        fleet[0]
            .request(Request::get(format!("/v1/bots/{bot}")))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut calls = Vec::new();
    for c in &fleet {
        for bot in &bots {
            let (c, path) = (c.clone(), format!("/v1/bots/{bot}"));
            calls.push(tokio::spawn(async move {
                c.request(Request::get(path)).await.map(|_| ())
            }));
        }
    }
    for call in calls {
        call.await.unwrap().unwrap();
    }
    let extra = personal();
    mock.control().reset();
    extra
}

async fn propagation(mock: &MockServer, url: &str, members: usize, rounds: usize) -> Vec<Duration> {
    let prefix = format!("bench-mode-{}:", std::process::id());
    let fleet: Vec<Client> = (0..members)
        .map(|_| Client::from_json(&config(mock, Some((url, prefix.as_str())))).unwrap())
        .collect();
    let mut took = Vec::new();
    for i in 0..rounds {
        let mode = if i % 2 == 0 {
            Mode::EnterpriseFirst
        } else {
            Mode::PersonalFirst
        };
        let t = Instant::now();
        fleet[i % members].set_mode(mode).unwrap();
        while fleet.iter().any(|c| c.mode() != mode) {
            if t.elapsed() > Duration::from_secs(5) {
                break;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        took.push(t.elapsed());
    }
    took.sort();
    took
}

fn main() {
    let rounds: usize = arg("--rounds").and_then(|v| v.parse().ok()).unwrap_or(3000);
    let members: usize = arg("--members").and_then(|v| v.parse().ok()).unwrap_or(8);
    let (url, _own) = match arg("--redis-url") {
        Some(u) => (u, None),
        None => {
            let (u, own) = start_redis();
            (u, Some(own))
        }
    };
    cozefallback::runtime().block_on(async {
        let mock = MockServer::start(MockOptions::default()).await.unwrap();
        hot_path(&mock, &url, rounds).await;
        let bots = mock.info().bots.len();
        let shared = extra_round_trips(&mock, Some(&url), members).await;
        let alone = extra_round_trips(&mock, None, members).await;
        println!("2. extra round trips after the move, {members} members x {bots} resources");
        println!(
            "   redis store {shared}   in-process stores {alone}   goal one per resource ({bots}): {}",
            pass(shared == bots as u64)
        );
        let took = propagation(&mock, &url, members, 40).await;
        println!("3. set_mode in one member until all {members} are in the new mode, 40 changes");
        println!(
            "   p50 {:?}   max {:?}   goal < 1 s: {}",
            percentile(&took, 0.5),
            took[took.len() - 1],
            pass(took[took.len() - 1] < Duration::from_secs(1))
        );
    });
}
