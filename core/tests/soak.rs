//! The live migration under load and faults. Short form by default (2,000 requests); the full form is
//! `SOAK_REQUESTS=20000 cargo test --release -p cozefallback --test soak -- --nocapture`.
//!
//! While 64 requests are in flight: the workspace moves halfway, tokens live 2 s, the token endpoint fails 5% of
//! the time and is slow 5% of the time, 1% of API answers are 502/503 and one connection in a thousand is reset.
//! It must show zero failures among the requests the migration guide's recipe could have served (the rest are reported by
//! cause), and that every request was answered exactly once: the attempts the client reports add up to the
//! requests the mock saw.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use coze_mock::{MockInfo, MockOptions, MockServer};
use cozefallback::{Client, Error, ErrorKind, Request};
use serde_json::json;

/// The cause of a failed request, when an injected fault explains it; `None` for an unexplained failure.
fn injected_cause(err: &Error) -> Option<&'static str> {
    match (err.kind(), err.http_status()) {
        (ErrorKind::Api, Some(502 | 503)) => Some("API answer 502/503 on a non-idempotent call"),
        (ErrorKind::Transport, _) => Some("connection reset on a non-idempotent call"),
        (ErrorKind::Auth, Some(503)) => Some("token endpoint 503 after retries"),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn live_migration_under_load_loses_nothing() {
    let requests: usize = std::env::var("SOAK_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let concurrency = 64;
    let mock = start_faulty_mock().await;
    let client = jwt_client(&mock.info());
    let outcomes = run_traffic(&client, &mock, requests, concurrency).await;
    assert_eq!(
        outcomes.len(),
        requests,
        "every request answered exactly once"
    );
    let tally = Tally::of(&outcomes);
    let stats = mock.control().stats();
    let seen = stats["requests"]["total"].as_u64().unwrap();
    let succeeded = outcomes.iter().filter(|o| o.is_ok()).count();
    let metrics = client.metrics();
    println!(
        "soak: {requests} requests, {concurrency} in flight, move at {}",
        requests / 2
    );
    println!(
        "  succeeded {succeeded}, failed by injected faults {:?}, unexplained {}",
        tally.excused,
        tally.unexplained.len()
    );
    println!(
        "  attempts reported {}, requests the mock saw {seen}",
        tally.attempts
    );
    println!(
        "  token mints {} (mock {}), refresh failures {}, retries {}, fallbacks {}",
        metrics["token_mints"],
        stats["token_mints"],
        metrics["token_refresh_failures"],
        metrics["retries_total"],
        metrics["fallbacks"]
    );
    assert!(
        tally.unexplained.is_empty(),
        "failures no injected fault explains: {:#?}",
        tally.unexplained
    );
    assert_eq!(
        tally.attempts, seen,
        "the client's attempts and the mock's count of requests agree"
    );
    assert!(
        succeeded as f64 >= requests as f64 * 0.97,
        "only {succeeded} of {requests} succeeded"
    );
}

/// A mock whose tokens live 2 s, whose token endpoint fails or is slow 5% of the time each, and whose API
/// answers 502/503 1% of the time and resets one connection in a thousand.
async fn start_faulty_mock() -> MockServer {
    let mock = MockServer::start(MockOptions::default()).await.unwrap();
    mock.control()
        .set_state(json!({
            "token_ttl_secs": 2,
            "faults": [
                {"path": "/api/permission/oauth2/", "probability": 0.05, "action": {"type": "http", "http_status": 503, "body": "busy", "content_type": "text/plain"}},
                {"path": "/api/permission/oauth2/", "probability": 0.05, "action": {"type": "latency", "ms": 300}},
                {"path": "/v", "probability": 0.001, "action": {"type": "reset"}},
                {"path": "/v", "probability": 0.005, "action": {"type": "http", "http_status": 502, "body": "<html>bad gateway</html>", "content_type": "text/html"}},
                {"path": "/v", "probability": 0.005, "action": {"type": "http", "http_status": 503, "body": "<html>unavailable</html>", "content_type": "text/html"}},
            ],
        }))
        .unwrap();
    mock
}

/// A client with the mock's JWT app on both sides (the personal account, the enterprise), short retry delays.
fn jwt_client(info: &MockInfo) -> Client {
    let jwt = |target: &str, id: &str| {
        let mut c = json!({"type": "jwt", "client_id": info.jwt_client_id, "private_key": info.private_key_pem, "public_key_id": info.jwt_kid});
        c[target] = json!(id);
        c
    };
    let config = json!({
        "base_url": info.base_url,
        "personal": jwt("account_id", &info.account_id),
        "enterprise": jwt("enterprise_id", &info.enterprise_id),
        "retry": {"base_delay_ms": 5, "max_delay_ms": 100},
    });
    Client::from_json(&config.to_string()).unwrap()
}

/// `requests` requests, `concurrency` in flight, the workspace moving at half; answers each request's attempts
/// or error.
async fn run_traffic(
    client: &Client,
    mock: &MockServer,
    requests: usize,
    concurrency: usize,
) -> Vec<Result<u32, Error>> {
    let next = Arc::new(AtomicUsize::new(0));
    let info = mock.info();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, next, mock_control, info) =
                (client.clone(), next.clone(), mock.control(), info.clone());
            tokio::spawn(async move {
                let mut results = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= requests {
                        return results;
                    }
                    if i == requests / 2 {
                        mock_control.set_moved(true);
                    }
                    let bot = &info.bots[i % info.bots.len()];
                    results.push(one_request(&client, bot, i).await);
                }
            })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(requests);
    for w in workers {
        outcomes.extend(w.await.unwrap());
    }
    outcomes
}

/// Request `i` of the mix: half bot GETs, a quarter chats, a quarter streamed chats; answers its attempts.
async fn one_request(client: &Client, bot: &str, i: usize) -> Result<u32, Error> {
    let chat = |stream: bool| {
        Request::post_json(
            "/v3/chat",
            json!({"bot_id": bot, "user_id": "soak", "stream": stream,
                   "additional_messages": [{"role": "user", "content": "hi", "content_type": "text"}]}),
        )
    };
    match i % 4 {
        0 | 1 => client
            .request(Request::get(format!("/v1/bots/{bot}")))
            .await
            .map(|r| r.attempts),
        2 => client.request(chat(false)).await.map(|r| r.attempts),
        _ => read_whole_stream(client, chat(true)).await,
    }
}

/// Streams `req` to its end (a finished stream must end with `done`); answers its attempts or the error.
async fn read_whole_stream(client: &Client, req: Request) -> Result<u32, Error> {
    let mut s = client.stream(req).await?;
    let attempts = s.attempts();
    let mut last = String::new();
    while let Some(ev) = s.next().await? {
        last = ev.event;
    }
    assert_eq!(last, "done", "a finished stream ends with done");
    Ok(attempts)
}

/// The outcomes added up: attempts in all, failures an injected fault explains (by cause), and the others.
struct Tally {
    attempts: u64,
    excused: BTreeMap<&'static str, usize>,
    unexplained: Vec<String>,
}

impl Tally {
    fn of(outcomes: &[Result<u32, Error>]) -> Tally {
        let mut tally = Tally {
            attempts: 0,
            excused: BTreeMap::new(),
            unexplained: Vec::new(),
        };
        for outcome in outcomes {
            match outcome {
                Ok(a) => tally.attempts += u64::from(*a),
                Err(e) => {
                    tally.attempts += u64::from(e.attempts());
                    match injected_cause(e) {
                        Some(cause) => *tally.excused.entry(cause).or_default() += 1,
                        None => tally.unexplained.push(e.to_string()),
                    }
                }
            }
        }
        tally
    }
}
