//! A fleet of OS processes sharing state on one real redis-server, against one mock (docs/FLEET.md).
//!
//! This binary is its own worker: each test starts it again with `COZEFALLBACK_FLEET_WORKER` set to a client
//! config, and drives every process with one JSON command per line on stdin (one JSON answer per line on stdout).

#[path = "support/redis_server.rs"]
mod redis_server;

use std::io::{BufRead, Write};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use coze_mock::child::JsonLinesChild;
use coze_mock::{BlockingMockServer, MockOptions, MockServer};
use cozefallback::{Client, CredentialKind, Mode, Request};
use redis_server::RedisServer;
use serde_json::{Value, json};

const WORKER: &str = "COZEFALLBACK_FLEET_WORKER";

fn main() {
    if let Ok(config) = std::env::var(WORKER) {
        worker(&config);
        return;
    }
    let tests: Vec<(&str, fn())> = vec![
        (
            "after_the_move_the_fleet_pays_one_round_trip_per_resource",
            fleet_pays_once,
        ),
        (
            "set_mode_in_one_process_is_in_force_in_all_within_1s",
            mode_propagates,
        ),
        (
            "eight_processes_racing_on_a_stranded_conversation_create_one",
            eight_race_one_create,
        ),
        (
            "share_tokens_mints_once_per_target_for_the_fleet",
            share_tokens_mint_once,
        ),
        (
            "redis_killed_during_a_soak_fails_no_request_and_reconciles_the_mode",
            redis_killed_soak,
        ),
        (
            "a_redis_password_never_shows_and_a_wrong_one_is_no_hang",
            password_redaction,
        ),
        (
            "a_forked_child_joins_the_fleet_on_its_own_connection",
            forked_child_joins,
        ),
        (
            "rediss_connects_with_a_trusted_ca_and_refuses_an_unknown_one",
            rediss_tls,
        ),
    ];
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in &tests {
            println!("{name}: test");
        }
        return;
    }
    let filters: Vec<&String> = args
        .iter()
        .filter(|a| !a.starts_with('-') && a.parse::<u64>().is_err())
        .collect();
    let chosen: Vec<_> = tests
        .into_iter()
        .filter(|(n, _)| filters.is_empty() || filters.iter().any(|f| n.contains(f.as_str())))
        .collect();
    println!("\nrunning {} tests", chosen.len());
    let (mut passed, mut failed) = (0, Vec::new());
    for (name, test) in chosen {
        let started = Instant::now();
        match std::panic::catch_unwind(test) {
            Ok(()) => {
                passed += 1;
                println!(
                    "test {name} ... ok ({:.1} s)",
                    started.elapsed().as_secs_f64()
                );
            }
            Err(_) => {
                println!("test {name} ... FAILED");
                failed.push(name);
            }
        }
    }
    let verdict = if failed.is_empty() { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {verdict}. {passed} passed; {} failed; 0 ignored; 0 measured; 0 filtered out\n",
        failed.len()
    );
    if !failed.is_empty() {
        println!("failures: {failed:?}");
        std::process::exit(101);
    }
}

// ---------------------------------------------------------------- the worker process

fn worker(config: &str) {
    let client = Client::from_json(config).unwrap_or_else(|e| {
        println!("{}", json!({"build_error": e.to_string()}));
        std::process::exit(0)
    });
    println!("{}", json!({"built": true, "mode": client.mode().as_str()}));
    let mut worker = WorkerState {
        client,
        soak: Arc::default(),
        soak_errors: Arc::default(),
        soak_task: None,
    };
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let cmd: Value = serde_json::from_str(&line).expect("a JSON command");
        let Some(answer) = worker.answer(&cmd) else {
            break;
        };
        println!("{answer}");
        let _ = std::io::stdout().flush();
    }
}

/// What a worker process holds between commands: its client, and the background soak (stop flag, calls
/// served, calls failed).
struct WorkerState {
    client: Client,
    soak: Arc<(AtomicBool, AtomicU64, AtomicU64)>,
    soak_errors: Arc<std::sync::Mutex<Vec<String>>>,
    soak_task: Option<tokio::task::JoinHandle<()>>,
}

impl WorkerState {
    /// The answer to one command; `None` for `quit`.
    fn answer(&mut self, cmd: &Value) -> Option<Value> {
        Some(match cmd["op"].as_str().unwrap_or("") {
            "ready" => self.wait_until_state_up(),
            "get" => self.get_n_times(cmd),
            "mode" => json!({"mode": self.client.mode().as_str()}),
            "set_mode" => self.set_mode(cmd),
            "wait_mode" => self.wait_mode(cmd),
            "chat" => self.chat(cmd),
            "token" => {
                let fetched = cozefallback::runtime()
                    .block_on(self.client.fetch_token(CredentialKind::Enterprise));
                match fetched {
                    Ok(()) => json!({"ok": true}),
                    Err(e) => json!({"ok": false, "error": e.to_string()}),
                }
            }
            "soak_start" => self.start_soak(cmd),
            "soak_stop" => self.stop_soak(),
            "fork_learn_and_wait_mode" => fork_child(&self.client, cmd),
            "metrics" => self.client.metrics(),
            "debug" => json!({"debug": format!("{:?}", self.client)}),
            "quit" => return None,
            other => json!({"error": format!("unknown op {other}")}),
        })
    }

    /// Waits (at most 10 s) for the Redis state store to be up; answers whether it is.
    fn wait_until_state_up(&self) -> Value {
        let until = Instant::now() + Duration::from_secs(10);
        while self.client.metrics()["state"]["up"] != json!(true) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        json!({"up": self.client.metrics()["state"]["up"]})
    }

    /// `GET path`, `n` times in a row; answers how many succeeded and failed.
    fn get_n_times(&self, cmd: &Value) -> Value {
        let (mut ok, mut failed) = (0, 0);
        for _ in 0..cmd["n"].as_u64().unwrap_or(1) {
            let req = Request::get(cmd["path"].as_str().unwrap());
            match cozefallback::runtime().block_on(self.client.request(req)) {
                Ok(_) => ok += 1,
                Err(_) => failed += 1,
            }
        }
        json!({"ok": ok, "failed": failed})
    }

    /// Sets the fleet's mode; answers when (Unix ms), for the propagation delay.
    fn set_mode(&self, cmd: &Value) -> Value {
        let mode: Mode = cmd["mode"].as_str().unwrap().parse().unwrap();
        let at = unix_ms();
        self.client.set_mode(mode).unwrap();
        json!({"at_ms": at})
    }

    /// Waits (at most `timeout_ms`) for this process to be in `mode`; answers when it saw it (Unix ms), or null.
    fn wait_mode(&self, cmd: &Value) -> Value {
        let want = cmd["mode"].as_str().unwrap();
        let until = Instant::now() + Duration::from_millis(cmd["timeout_ms"].as_u64().unwrap());
        let mut seen = Value::Null;
        while Instant::now() < until {
            if self.client.mode().as_str() == want {
                seen = json!(unix_ms());
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        json!({"seen_ms": seen})
    }

    /// One non-streaming chat with `bot`, in conversation `conv` if given; answers its conversation and where
    /// it was carried over to, or the error.
    fn chat(&self, cmd: &Value) -> Value {
        let req = Request::post_json(
            "/v3/chat",
            json!({"bot_id": cmd["bot"], "user_id": "u", "stream": false,
                   "additional_messages": [{"role": "user", "content": "hi", "content_type": "text"}]}),
        );
        let req = match cmd["conv"].as_str() {
            Some(c) => req.query("conversation_id", c),
            None => req,
        };
        match cozefallback::runtime().block_on(self.client.request(req)) {
            Ok(r) => {
                let conv = r.json().unwrap()["data"]["conversation_id"].clone();
                json!({"ok": true, "conversation_id": conv,
                       "moved_to": r.conversation_moved.as_ref().map(|m| m.to.clone())})
            }
            Err(e) => json!({"ok": false, "error": e.to_string()}),
        }
    }

    /// Starts GETs of `paths` in turn, one every 5 ms, in the background until `soak_stop`.
    fn start_soak(&mut self, cmd: &Value) -> Value {
        let paths: Vec<String> = serde_json::from_value(cmd["paths"].clone()).unwrap();
        let (c, s) = (self.client.clone(), self.soak.clone());
        self.soak_errors = Arc::default();
        let errors = self.soak_errors.clone();
        self.soak_task = Some(cozefallback::runtime().spawn(async move {
            let mut i = 0;
            while !s.0.load(Ordering::Relaxed) {
                let path = &paths[i % paths.len()];
                i += 1;
                match c.request(Request::get(path)).await {
                    Ok(_) => s.1.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        errors.lock().unwrap().push(e.to_string());
                        s.2.fetch_add(1, Ordering::Relaxed)
                    }
                };
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
        json!({"started": true})
    }

    /// Stops the soak and waits for it; answers its calls served and failed, and its first errors.
    fn stop_soak(&mut self) -> Value {
        self.soak.0.store(true, Ordering::Relaxed);
        if let Some(t) = self.soak_task.take() {
            let _ = cozefallback::runtime().block_on(t);
        }
        let errors = self.soak_errors.lock().unwrap().clone();
        json!({"ok": self.soak.1.load(Ordering::Relaxed), "failed": self.soak.2.load(Ordering::Relaxed),
               "errors": errors.into_iter().take(5).collect::<Vec<_>>()})
    }
}

/// Forks; the child (a gunicorn-style worker of this process) makes one call, which learns a route after the
/// move, then waits for the fleet's mode to become `mode`; its exit status says whether it did.
fn fork_child(client: &Client, cmd: &Value) -> Value {
    let want = cmd["mode"].as_str().unwrap().to_string();
    let path = cmd["path"].as_str().unwrap().to_string();
    // SAFETY: the child only uses the client (fork-aware, docs/RUNTIME.md) and leaves with _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let served = cozefallback::runtime()
            .block_on(client.request(Request::get(path)))
            .is_ok();
        let until = Instant::now() + Duration::from_secs(5);
        while client.mode().as_str() != want && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(2));
        }
        let seen = client.mode().as_str() == want;
        std::thread::sleep(Duration::from_millis(300)); // its learned route reaches Redis
        unsafe {
            libc::_exit(if served && seen {
                0
            } else if served {
                3
            } else {
                4
            })
        };
    }
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, 0) };
    json!({"child_exit": libc::WEXITSTATUS(status)})
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

// ---------------------------------------------------------------- the test side

/// One worker process.
/// One fleet member: this test binary again, in worker mode, spoken to in JSON lines.
struct Worker {
    child: JsonLinesChild,
    /// The member's first line: whether its client was built.
    pub built: Value,
}

impl Worker {
    fn start(config: &Value) -> Worker {
        Worker::start_with_env(config, &[])
    }
    fn start_with_env(config: &Value, env: &[(&str, &str)]) -> Worker {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.env_remove("SSL_CERT_FILE");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.env(WORKER, config.to_string());
        let mut child = JsonLinesChild::spawn(cmd).expect("start a worker process");
        let built = child.read().expect("the worker reports its client");
        Worker { child, built }
    }
    fn send(&mut self, cmd: Value) {
        self.child.send(&cmd).expect("send to a worker");
    }
    fn read(&mut self) -> Value {
        self.child.read().expect("a worker's answer")
    }
    fn call(&mut self, cmd: Value) -> Value {
        self.send(cmd);
        self.read()
    }
}

fn mock() -> BlockingMockServer {
    MockServer::start_blocking(MockOptions::default()).expect("start the mock")
}

fn pat_config(mock: &BlockingMockServer, redis: &RedisServer, prefix: &str) -> Value {
    let info = mock.info();
    json!({
        "base_url": info.base_url,
        "personal": {"type": "pat", "token": info.personal_pat},
        "enterprise": {"type": "pat", "token": info.enterprise_pat},
        "state": {"redis_url": redis.url(), "key_prefix": prefix},
    })
}

/// `n` workers, each connected to Redis.
fn fleet(n: usize, config: &Value) -> Vec<Worker> {
    let mut ws: Vec<Worker> = (0..n).map(|_| Worker::start(config)).collect();
    for w in &mut ws {
        assert_eq!(
            w.call(json!({"op": "ready"}))["up"],
            json!(true),
            "the worker connected to Redis"
        );
    }
    ws
}

fn requests_by(mock: &BlockingMockServer, credential: &str) -> u64 {
    mock.control().stats()["requests"]["by_credential"][credential]
        .as_u64()
        .unwrap()
}

fn fleet_pays_once() {
    let redis = RedisServer::start();
    let mock = mock();
    let bots = mock.info().bots.clone();
    let mut ws = fleet(4, &pat_config(&mock, &redis, "once:"));
    mock.control().set_moved(true);
    let (p0, e0) = (
        requests_by(&mock, "personal"),
        requests_by(&mock, "enterprise"),
    );
    let per_bot = 5;
    // The first process meets the move and learns; then the others call the same bots.
    for (i, w) in ws.iter_mut().enumerate() {
        for bot in &bots {
            let r = w.call(json!({"op": "get", "path": format!("/v1/bots/{bot}"), "n": per_bot}));
            assert_eq!(r["failed"], 0, "worker {i}: {r}");
        }
        if i == 0 {
            std::thread::sleep(Duration::from_millis(300)); // the fleet hears of the routes
        }
    }
    let extra = requests_by(&mock, "personal") - p0;
    let served = requests_by(&mock, "enterprise") - e0;
    let calls = (ws.len() * bots.len() * per_bot) as u64;
    println!(
        "fleet of {}: {calls} calls, {} mock requests: {extra} extra round trip(s) for {} resources (one per resource, not per process)",
        ws.len(),
        extra + served,
        bots.len()
    );
    assert_eq!(served, calls);
    assert_eq!(
        extra,
        bots.len() as u64,
        "one extra round trip per resource for the whole fleet"
    );
}

fn mode_propagates() {
    let redis = RedisServer::start();
    let mock = mock();
    let config = pat_config(&mock, &redis, "mode:");
    let mut ws = fleet(4, &config);
    for w in &mut ws[1..] {
        w.send(json!({"op": "wait_mode", "mode": "enterprise_only", "timeout_ms": 3000}));
    }
    std::thread::sleep(Duration::from_millis(50));
    let set_at = ws[0].call(json!({"op": "set_mode", "mode": "enterprise_only"}))["at_ms"]
        .as_u64()
        .unwrap();
    let mut lags = Vec::new();
    for w in &mut ws[1..] {
        let seen = w.read()["seen_ms"]
            .as_u64()
            .expect("the mode reached every process");
        lags.push(seen.saturating_sub(set_at));
    }
    let worst = *lags.iter().max().unwrap();
    println!(
        "set_mode propagation to {} processes: {lags:?} ms (worst {worst} ms)",
        lags.len()
    );
    assert!(worst < 1000, "set_mode took {worst} ms to reach the fleet");
    let lag = ws[1].call(json!({"op": "metrics"}))["state"]["mode_lag_ms"].clone();
    assert!(
        lag.as_u64().is_some_and(|l| l < 1000),
        "mode lag metric: {lag}"
    );
    // A process that starts now adopts the fleet's mode over its configured personal_first.
    let late = Worker::start(&config);
    assert_eq!(late.built["mode"], "enterprise_only", "{}", late.built);
    // The CLI-visible stored value.
    assert!(
        redis
            .command(&["GET", "mode:mode"])
            .contains("enterprise_only")
    );
}

fn eight_race_one_create() {
    let redis = RedisServer::start();
    let mock = mock();
    let bot = mock.info().bots[0].clone();
    let mut ws = fleet(8, &pat_config(&mock, &redis, "race:"));
    let first = ws[0].call(json!({"op": "chat", "bot": bot}));
    let conv = first["conversation_id"]
        .as_str()
        .expect("a personal conversation")
        .to_string();
    mock.control().set_moved(true);
    let creates = |m: &BlockingMockServer| {
        m.control().stats()["requests"]["by_path"]["/v1/conversation/create"]
            .as_u64()
            .unwrap_or(0)
    };
    let before = creates(&mock);
    for w in &mut ws {
        w.send(json!({"op": "chat", "bot": bot, "conv": conv}));
    }
    let answers: Vec<Value> = ws.iter_mut().map(Worker::read).collect();
    let created = creates(&mock) - before;
    println!(
        "8 processes on one stranded conversation: {created} conversation(s) created at the mock"
    );
    let ids: std::collections::HashSet<String> = answers
        .iter()
        .map(|a| {
            assert_eq!(a["ok"], true, "{a}");
            a["conversation_id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        created, 1,
        "exactly one carry-over for the fleet: {answers:?}"
    );
    assert_eq!(ids.len(), 1, "every process uses the new id: {ids:?}");
    assert!(!ids.contains(&conv));
    // A process that heard of the carry-over before its own call sends it to the new id directly (as a process
    // does once it has a mapping); the others report the move.
    let new_id = ids.iter().next().unwrap().as_str();
    for a in &answers {
        assert!(a["moved_to"].is_null() || a["moved_to"] == new_id, "{a}");
    }
    let reported = answers.iter().filter(|a| a["moved_to"] == new_id).count();
    println!(
        "   {reported} of 8 calls reported conversation_moved, the others were already mapped"
    );
    assert!(reported >= 1);
}

fn jwt_config(mock: &BlockingMockServer, redis: &RedisServer, prefix: &str, share: bool) -> Value {
    let info = mock.info();
    json!({
        "base_url": info.base_url,
        "mode": "enterprise_only",
        "enterprise": {"type": "jwt", "client_id": info.jwt_client_id, "private_key_file": info.private_key_file,
                       "public_key_id": info.jwt_kid, "enterprise_id": info.enterprise_id},
        "state": {"redis_url": redis.url(), "key_prefix": prefix, "share_tokens": share},
    })
}

fn share_tokens_mint_once() {
    let redis = RedisServer::start();
    let mock = mock();
    let mints = |m: &BlockingMockServer| {
        m.control().stats()["token_mints"]["enterprise"]
            .as_u64()
            .unwrap()
    };
    for (share, want) in [(true, 1), (false, 4)] {
        let prefix = format!("tok-{share}:");
        let mut ws = fleet(4, &jwt_config(&mock, &redis, &prefix, share));
        let before = mints(&mock);
        for w in &mut ws {
            w.send(json!({"op": "token"}));
        }
        for w in &mut ws {
            assert_eq!(w.read()["ok"], true);
        }
        // And a call in every process uses a token (no further mint).
        let bot = mock.info().enterprise_bot.clone();
        for w in &mut ws {
            let r = w.call(json!({"op": "get", "path": format!("/v1/bots/{bot}"), "n": 2}));
            assert_eq!(r["failed"], 0, "{r}");
        }
        let minted = mints(&mock) - before;
        println!("share_tokens={share}: {minted} mint(s) for a fleet of 4");
        assert_eq!(minted, want, "share_tokens={share}");
    }
    let keys = redis.command(&["KEYS", "tok-true:token:*"]);
    assert!(keys.contains("tok-true:token:"), "{keys}");
    let ttl = redis.command(&[
        "PTTL",
        keys.lines().find(|l| l.starts_with("tok-true:")).unwrap(),
    ]);
    assert!(
        ttl.trim_start_matches(':').trim().parse::<i64>().unwrap() > 0,
        "the key expires with the token: {ttl}"
    );
}

fn redis_killed_soak() {
    let mut redis = RedisServer::start();
    let mock = mock();
    let bots = mock.info().bots.clone();
    let paths: Vec<String> = bots.iter().map(|b| format!("/v1/bots/{b}")).collect();
    let mut ws = fleet(4, &pat_config(&mock, &redis, "soak:"));
    mock.control().set_moved(true);
    for w in &mut ws {
        assert_eq!(
            w.call(json!({"op": "soak_start", "paths": paths}))["started"],
            true
        );
    }
    std::thread::sleep(Duration::from_millis(800));
    redis.kill();
    std::thread::sleep(Duration::from_millis(700));
    // Set during the outage, in one process only: the others cannot hear of it yet.
    ws[0].call(json!({"op": "set_mode", "mode": "enterprise_first"}));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(ws[1].call(json!({"op": "mode"}))["mode"], "personal_first");
    let down = ws[1].call(json!({"op": "metrics"}))["state"].clone();
    assert_eq!(down["up"], false, "{down}");
    std::thread::sleep(Duration::from_millis(700));
    redis.restart(); // empty: the mode set during the outage is newer than anything stored, so it is published
    for w in &mut ws {
        assert_eq!(w.call(json!({"op": "ready"}))["up"], true, "reconnected");
    }
    for w in &mut ws {
        let seen =
            w.call(json!({"op": "wait_mode", "mode": "enterprise_first", "timeout_ms": 3000}));
        assert!(
            seen["seen_ms"].is_u64(),
            "the outage's mode reached every process: {seen}"
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    let mut total = 0;
    for (i, w) in ws.iter_mut().enumerate() {
        let r = w.call(json!({"op": "soak_stop"}));
        assert_eq!(r["failed"], 0, "worker {i}: {r}");
        total += r["ok"].as_u64().unwrap();
        let state = w.call(json!({"op": "metrics"}))["state"].clone();
        assert!(
            state["errors_total"].as_u64().unwrap() > 0,
            "the outage was counted: {state}"
        );
    }
    println!(
        "soak across a Redis restart: {total} requests, 0 failed; the mode set during the outage won"
    );
    assert!(
        redis
            .command(&["GET", "soak:mode"])
            .contains("enterprise_first")
    );
}

fn password_redaction() {
    let redis = RedisServer::with_password("s3cretpass");
    let mock = mock();
    let info = mock.info();
    let url = |pw: &str| format!("redis://:{pw}@127.0.0.1:{}/0", redis.port);
    let config = |url: String| {
        json!({"base_url": info.base_url, "personal": {"type": "pat", "token": info.personal_pat},
               "state": {"redis_url": url}})
    };
    // Debug of the config.
    let parsed = cozefallback::Config::from_json(&config(url("s3cretpass")).to_string()).unwrap();
    let shown = format!("{parsed:?}");
    assert!(
        !shown.contains("s3cretpass") && shown.contains("***"),
        "{shown}"
    );
    // A bad scheme is a ConfigError at build that names the field and hides the password.
    let bad = Client::from_json(&config("http://:s3cretpass@127.0.0.1:1/0".into()).to_string())
        .unwrap_err();
    assert_eq!(bad.kind(), cozefallback::ErrorKind::Config);
    assert!(
        bad.to_string().contains("state.redis_url") && !bad.to_string().contains("s3cretpass"),
        "{bad}"
    );
    let bad_db = Client::from_json(
        &config(format!("redis://:s3cretpass@127.0.0.1:{}/x", redis.port)).to_string(),
    )
    .unwrap_err();
    assert!(
        !format!("{bad_db} {bad_db:?}").contains("s3cretpass"),
        "{bad_db:?}"
    );
    // The right password connects.
    let mut good = Worker::start(&config(url("s3cretpass")));
    assert_eq!(good.call(json!({"op": "ready"}))["up"], true);
    // A wrong one: the client builds fast, serves locally, and says so in its metrics (never a hang).
    let started = Instant::now();
    let mut wrong = Worker::start(&config(url("wrongpass")));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "building took {:?}",
        started.elapsed()
    );
    let m = wrong.call(json!({"op": "metrics"}));
    assert_eq!(m["state"]["up"], false, "{m}");
    assert!(m["state"]["errors_total"].as_u64().unwrap() > 0, "{m}");
    let r = wrong.call(json!({"op": "get", "path": format!("/v1/bots/{}", info.bots[0]), "n": 1}));
    assert_eq!(r["ok"], 1, "served without Redis: {r}");
    let d = wrong.call(json!({"op": "debug"}));
    for text in [m.to_string(), d.to_string()] {
        assert!(
            !text.contains("wrongpass") && !text.contains("s3cretpass"),
            "{text}"
        );
    }
}

fn forked_child_joins() {
    let redis = RedisServer::start();
    let mock = mock();
    let bot = mock.info().bots[0].clone();
    let mut ws = fleet(2, &pat_config(&mock, &redis, "fork:"));
    mock.control().set_moved(true);
    let p0 = requests_by(&mock, "personal");
    ws[0].send(json!({"op": "fork_learn_and_wait_mode", "mode": "enterprise_only", "path": format!("/v1/bots/{bot}")}));
    std::thread::sleep(Duration::from_millis(700));
    ws[1].call(json!({"op": "set_mode", "mode": "enterprise_only"}));
    let child = ws[0].read();
    assert_eq!(
        child["child_exit"], 0,
        "the child served its call and followed the fleet's mode: {child}"
    );
    // The route the child learned reached the other process: it pays no extra round trip.
    ws[1].call(json!({"op": "set_mode", "mode": "personal_first"}));
    let r = ws[1].call(json!({"op": "get", "path": format!("/v1/bots/{bot}"), "n": 3}));
    assert_eq!(r["failed"], 0, "{r}");
    assert_eq!(
        requests_by(&mock, "personal") - p0,
        1,
        "one extra round trip: the child's"
    );
}

fn rediss_tls() {
    let redis = RedisServer::with_tls();
    let mock = mock();
    let config = pat_config(&mock, &redis, "tls:");
    assert!(
        config["state"]["redis_url"]
            .as_str()
            .unwrap()
            .starts_with("rediss://")
    );
    let ca = redis.tls_dir.as_ref().unwrap().join("ca.pem");
    let ca = ca.to_str().unwrap();
    let mut a = Worker::start_with_env(&config, &[("SSL_CERT_FILE", ca)]);
    let mut b = Worker::start_with_env(&config, &[("SSL_CERT_FILE", ca)]);
    for w in [&mut a, &mut b] {
        assert_eq!(
            w.call(json!({"op": "ready"}))["up"],
            true,
            "connected over TLS"
        );
    }
    b.send(json!({"op": "wait_mode", "mode": "enterprise_first", "timeout_ms": 2000}));
    a.call(json!({"op": "set_mode", "mode": "enterprise_first"}));
    assert!(b.read()["seen_ms"].is_u64(), "the mode travelled over TLS");
    // A certificate from a CA the process does not trust: no connection, local service, no hang.
    let started = Instant::now();
    let mut untrusted = Worker::start(&config);
    assert!(started.elapsed() < Duration::from_secs(5));
    let m = untrusted.call(json!({"op": "metrics"}));
    assert_eq!(m["state"]["up"], false, "{m}");
    assert!(m["state"]["errors_total"].as_u64().unwrap() > 0, "{m}");
    let r = untrusted
        .call(json!({"op": "get", "path": format!("/v1/bots/{}", mock.info().bots[0]), "n": 1}));
    assert_eq!(r["ok"], 1, "{r}");
}
