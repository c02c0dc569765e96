//! Core benchmarks against the mock on loopback, each printed as a ratio measured side by side in this process.
//!
//! `cargo run --release -p cozefallback-bench [-- --requests N --rounds N --part overhead --passes N]`
//!
//! 1. Round trips per request after the move, with stickiness, vs the migration guide's recipe (personal first, always).
//! 2. Token mints for 1,000 concurrent cold-start requests on JWT credentials (goal: 1 per target).
//! 3. Added latency of the core per request at p50 vs a bare reqwest call to the same mock (goal: <= 5%).

use std::sync::Arc;
use std::time::{Duration, Instant};

use coze_mock::{MockOptions, MockServer};
use cozefallback::{Client, Request};
use serde_json::{Value, json};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `--part round-trips|mints|overhead` runs one part only.
fn part() -> Option<&'static str> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == "--part")?;
    let known = ["round-trips", "mints", "overhead"];
    let wanted = args.get(i + 1).map(String::as_str).unwrap_or_default();
    let Some(p) = known.iter().find(|k| **k == wanted) else {
        eprintln!("--part takes one of {known:?}, not {wanted:?}");
        std::process::exit(2);
    };
    Some(p)
}

fn pat_config(info: &coze_mock::MockInfo, mode: &str) -> String {
    json!({
        "base_url": info.base_url,
        "personal": {"type": "pat", "token": info.personal_pat},
        "enterprise": {"type": "pat", "token": info.enterprise_pat},
        "mode": mode,
    })
    .to_string()
}

fn jwt_config(info: &coze_mock::MockInfo) -> String {
    let jwt = |target: (&str, &str)| {
        let mut c = json!({"type": "jwt", "client_id": info.jwt_client_id, "private_key": info.private_key_pem, "public_key_id": info.jwt_kid});
        c[target.0] = Value::String(target.1.to_string());
        c
    };
    json!({
        "base_url": info.base_url,
        "personal": jwt(("account_id", &info.account_id)),
        "enterprise": jwt(("enterprise_id", &info.enterprise_id)),
    })
    .to_string()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn round_trips(mock: &MockServer, requests: usize) {
    let info = mock.info();
    mock.control().reset();
    mock.control().set_moved(true);
    let client = Client::from_json(&pat_config(&info, "personal_first")).unwrap();
    let bots: Vec<String> = info.bots.clone();
    let attempts = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let per_task = requests / 32;
    let tasks: Vec<_> = (0..32)
        .map(|t| {
            let (client, bots, attempts) = (client.clone(), bots.clone(), attempts.clone());
            tokio::spawn(async move {
                for i in 0..per_task {
                    let bot = &bots[(t + i) % bots.len()];
                    let r = client
                        .request(Request::get(format!("/v1/bots/{bot}")))
                        .await
                        .expect("request");
                    attempts.fetch_add(u64::from(r.attempts), std::sync::atomic::Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let ours = attempts.load(std::sync::atomic::Ordering::Relaxed) as f64 / (per_task * 32) as f64;
    // The migration guide's recipe: a personal client, and on 4100/4101 an enterprise client. Same mock, same requests.
    mock.control().reset();
    mock.control().set_moved(true);
    let personal = Client::from_json(&pat_config(&info, "personal_only")).unwrap();
    let enterprise = Client::from_json(&pat_config(&info, "enterprise_only")).unwrap();
    let sample = 2_000.min(requests);
    let mut seed_attempts = 0u64;
    for i in 0..sample {
        let req = Request::get(format!("/v1/bots/{}", bots[i % bots.len()]));
        seed_attempts += 1;
        if let Err(e) = personal.request(req.clone()).await {
            assert!(matches!(e.code(), Some(4100 | 4101)), "{e}");
            seed_attempts += 1;
            enterprise.request(req).await.expect("enterprise serves");
        }
    }
    let seed = seed_attempts as f64 / sample as f64;
    println!(
        "1. round trips per request after the move ({} requests, 32 in flight, {} bots)",
        per_task * 32,
        bots.len()
    );
    println!(
        "   cozefallback {ours:.4}   seed recipe {seed:.4}   ratio guide/ours {:.2}x   goal <= 1.01: {}",
        seed / ours,
        pass(ours <= 1.01)
    );
}

async fn cold_start_mints(mock: &MockServer, concurrent: usize) {
    let info = mock.info();
    mock.control().reset();
    mock.control().set_moved(true);
    let client = Client::from_json(&jwt_config(&info)).unwrap();
    let bot = info.bots[0].clone();
    let tasks: Vec<_> = (0..concurrent)
        .map(|_| {
            let (client, bot) = (client.clone(), bot.clone());
            tokio::spawn(async move {
                client
                    .request(Request::get(format!("/v1/bots/{bot}")))
                    .await
                    .map(|r| r.attempts)
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        ok += usize::from(t.await.unwrap().is_ok());
    }
    let stats = mock.control().stats();
    let mints = |k: &str| stats["token_mints"][k].as_u64().unwrap_or(0);
    println!(
        "2. {concurrent} concurrent cold-start requests on JWT credentials after the move: {ok} succeeded"
    );
    println!(
        "   token mints: account {} enterprise {}   goal 1 per target: {}",
        mints("account"),
        mints("enterprise"),
        pass(mints("account") == 1 && mints("enterprise") == 1)
    );
}

async fn ours_once(client: &Client, path: &str) -> Duration {
    let t = Instant::now();
    let r = client.request(Request::get(path)).await.unwrap();
    let took = t.elapsed();
    assert_eq!(r.status, 200);
    took
}

async fn bare_once(bare: &reqwest::Client, url: &str, bearer: &str) -> Duration {
    let t = Instant::now();
    let resp = bare
        .get(url)
        .header("Authorization", bearer)
        .send()
        .await
        .unwrap();
    let body = resp.bytes().await.unwrap();
    let _: Value = serde_json::from_slice(&body).unwrap();
    t.elapsed()
}

async fn overhead(mock: &MockServer, rounds: usize) {
    let info = mock.info();
    mock.control().reset();
    let client = Client::from_json(&pat_config(&info, "personal_first")).unwrap();
    // The bare call sends the same protocol headers the core (and the official SDKs) send, so that the ratio
    // measures the library, not a different request.
    let mut sdk_headers = reqwest::header::HeaderMap::new();
    sdk_headers.insert(
        "user-agent",
        format!("cozefallback/{}", cozefallback::VERSION)
            .parse()
            .unwrap(),
    );
    sdk_headers.insert(
        "x-coze-client-user-agent",
        json!({"version": cozefallback::VERSION, "lang": "rust", "lang_version": "", "os_name": std::env::consts::OS, "os_version": ""})
            .to_string()
            .parse()
            .unwrap(),
    );
    let bare = reqwest::Client::builder()
        .tcp_nodelay(true)
        .default_headers(sdk_headers)
        .build()
        .unwrap();
    let url = format!("{}/v1/bots/{}", info.base_url, info.bots[0]);
    let bearer = format!("Bearer {}", info.personal_pat);
    let path = format!("/v1/bots/{}", info.bots[0]);
    let (mut ours, mut theirs) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for i in 0..rounds + 200 {
        // Interleave the two, alternating which goes first, so that machine noise hits both alike; the first
        // 200 warm up.
        let (a, b) = if i % 2 == 0 {
            let a = ours_once(&client, &path).await;
            (a, bare_once(&bare, &url, &bearer).await)
        } else {
            let b = bare_once(&bare, &url, &bearer).await;
            (ours_once(&client, &path).await, b)
        };
        if i >= 200 {
            ours.push(a);
            theirs.push(b);
        }
    }
    ours.sort();
    theirs.sort();
    let (p50a, p50b) = (percentile(&ours, 0.5), percentile(&theirs, 0.5));
    let ratio = p50a.as_secs_f64() / p50b.as_secs_f64();
    println!("3. added latency per request, {rounds} sequential GETs each, interleaved");
    println!(
        "   p50 cozefallback {:?}   bare reqwest {:?}   ratio {:.3} (+{:.1}%)   goal <= 5%: {}",
        p50a,
        p50b,
        ratio,
        (ratio - 1.0) * 100.0,
        pass(ratio <= 1.05)
    );
    println!(
        "   p99 cozefallback {:?}   bare reqwest {:?}",
        percentile(&ours, 0.99),
        percentile(&theirs, 0.99)
    );
}

fn pass(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mock = MockServer::start(MockOptions::default())
            .await
            .expect("mock");
        let part = part();
        if part.is_none_or(|p| p == "round-trips") {
            round_trips(&mock, arg("--requests", 10_000)).await;
        }
        if part.is_none_or(|p| p == "mints") {
            cold_start_mints(&mock, arg("--concurrent", 1_000)).await;
        }
        if part.is_none_or(|p| p == "overhead") {
            for _ in 0..arg("--passes", 1) {
                overhead(&mock, arg("--rounds", 3_000)).await;
            }
        }
    });
}
