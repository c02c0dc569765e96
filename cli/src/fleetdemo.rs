//! `cozefallback demo --processes N`: a fleet-wide cut-over. N processes of this binary share their state on one
//! Redis (docs/FLEET.md) in front of one embedded mock Coze: the workspace moves, one process meets it first,
//! and the fleet pays one extra round trip per resource (not one per process); then the operator's `mode set enterprise_only` reaches every
//! process at once, and no call fails.

use std::io::{BufRead, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use coze_mock::child::JsonLinesChild;
use coze_mock::{MockOptions, MockServer};
use cozefallback::{Client, Mode, Request};
use serde_json::{Value, json};

use crate::DemoArgs;
use crate::common::{CliError, CliResult, block_on, core_err};

/// The variable that turns this binary into one process of the demo's fleet (its config, as JSON).
pub const WORKER_ENV: &str = "COZEFALLBACK_DEMO_FLEET_WORKER";

pub fn run(args: DemoArgs, processes: usize) -> CliResult {
    if !(2..=32).contains(&processes) {
        return Err(CliError::Usage(format!(
            "--processes {processes} must be between 2 and 32"
        )));
    }
    let per_phase = (args.requests / 3).clamp(3, 3000);
    let (url, _own) = redis_for(&args)?;
    let summary = block_on(async {
        let mock = MockServer::start(MockOptions::default())
            .await
            .map_err(|e| CliError::Failed(format!("cannot start the embedded mock: {e}")))?;
        fleet_demo(&mock, &url, processes, per_phase).await
    })?;
    if args.json {
        println!("{summary}");
    } else {
        print_summary(&summary);
    }
    let ok = summary["failed_total"] == 0 && summary["cut_over"]["all_followed"] == true;
    if ok {
        Ok(())
    } else {
        Err(CliError::Failed(
            "the fleet demo saw failed calls or a process that did not follow".into(),
        ))
    }
}

/// `--redis-url`, else `COZE_FALLBACK_REDIS_URL`, else a redis-server of its own from PATH.
fn redis_for(args: &DemoArgs) -> CliResult<(String, Option<OwnRedis>)> {
    if let Some(u) = args
        .redis_url
        .clone()
        .or_else(|| std::env::var(cozefallback::REDIS_URL_ENV).ok())
    {
        cozefallback::RedisUrl::new(u.clone())
            .check("--redis-url")
            .map_err(core_err)?;
        return Ok((u, None));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| CliError::Failed(format!("no free loopback port: {e}")))?;
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|_| {
            CliError::Usage(format!(
                "demo --processes needs a Redis: pass --redis-url redis://HOST:6379/0, set {}, or put redis-server on PATH",
                cozefallback::REDIS_URL_ENV
            ))
        })?;
    let own = OwnRedis(child);
    let until = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > until {
            return Err(CliError::Failed(
                "redis-server did not start within 10 s".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((format!("redis://127.0.0.1:{port}/0"), Some(own)))
}

struct OwnRedis(Child);

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn fleet_demo(mock: &MockServer, url: &str, n: usize, per_phase: usize) -> CliResult<Value> {
    let info = mock.info();
    let prefix = format!("cozefallback-demo-{}:", std::process::id());
    let config = json!({
        "base_url": info.base_url,
        "personal": {"type": "pat", "token": info.personal_pat},
        "enterprise": {"type": "pat", "token": info.enterprise_pat},
        "mode": "personal_first",
        "state": {"redis_url": url, "key_prefix": prefix},
    });
    let mut fleet = Vec::new();
    for _ in 0..n {
        fleet.push(Worker::start(&config)?);
    }
    for w in &mut fleet {
        if w.call(&json!({"op": "ready"}))?["up"] != true {
            return Err(CliError::Failed(
                "a demo process could not reach Redis within 10 s".into(),
            ));
        }
    }
    let paths: Vec<String> = info.bots.iter().map(|b| format!("/v1/bots/{b}")).collect();
    let control = mock.control();
    let count = |who: &str| {
        control.stats()["requests"]["by_credential"][who]
            .as_u64()
            .unwrap_or(0)
    };
    let mut phases = Vec::new();
    let mut failed_total = 0;
    for phase in ["before_move", "after_move", "cut_over"] {
        match phase {
            "after_move" => control.set_moved(true),
            "cut_over" => {}
            _ => {}
        }
        let mut cut_over = Value::Null;
        if phase == "cut_over" {
            let started = Instant::now();
            let state = cozefallback::StateConfig {
                redis_url: Some(cozefallback::RedisUrl::new(url)),
                key_prefix: prefix.clone(),
                share_tokens: false,
            };
            cozefallback::set_fleet_mode(&state, Mode::EnterpriseOnly)
                .await
                .map_err(core_err)?;
            for w in &mut fleet {
                w.send(&json!({"op": "wait_mode", "mode": "enterprise_only"}))?;
            }
            let mut all = true;
            for w in &mut fleet {
                all &= w.read()?["seen"] == true;
            }
            cut_over =
                json!({"all_followed": all, "took_ms": started.elapsed().as_millis() as u64});
        }
        let (p0, e0) = (count("personal"), count("enterprise"));
        let mut calls = Vec::new();
        if phase == "after_move" {
            // The first process meets the move (one call per bot); the fleet hears of the routes at once.
            let first = fleet[0].call(&json!({"op": "run", "paths": paths, "n": paths.len()}))?;
            failed_total += first["failed"].as_u64().unwrap_or(0);
            calls.push(first);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for w in &mut fleet {
            w.send(&json!({"op": "run", "paths": paths, "n": per_phase}))?;
        }
        for w in &mut fleet {
            let r = w.read()?;
            failed_total += r["failed"].as_u64().unwrap_or(0);
            calls.push(r);
        }
        let entry = json!({"phase": phase, "calls": calls, "mock_personal": count("personal") - p0,
                           "mock_enterprise": count("enterprise") - e0, "cut_over": cut_over});
        phases.push(entry);
    }
    let extra = phases[1]["mock_personal"].as_u64().unwrap_or(0);
    Ok(json!({
        "processes": n,
        "calls_per_process_per_phase": per_phase,
        "resources": paths.len(),
        "phases": phases,
        "extra_round_trips_after_move": extra,
        "without_sharing_up_to": n * paths.len(),
        "cut_over": phases[2]["cut_over"],
        "failed_total": failed_total,
    }))
}

fn print_summary(s: &Value) {
    println!(
        "fleet demo: {} processes on one Redis, one mock Coze, {} calls per process per phase over {} bots",
        s["processes"], s["calls_per_process_per_phase"], s["resources"]
    );
    println!(
        "{:<12} {:>8} {:>16} {:>18} {:>7}",
        "phase", "calls", "mock: personal", "mock: enterprise", "failed"
    );
    for p in s["phases"].as_array().into_iter().flatten() {
        let calls: u64 = p["calls"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c["ok"].as_u64().unwrap_or(0) + c["failed"].as_u64().unwrap_or(0))
            .sum();
        let failed: u64 = p["calls"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c["failed"].as_u64().unwrap_or(0))
            .sum();
        println!(
            "{:<12} {:>8} {:>16} {:>18} {:>7}",
            p["phase"].as_str().unwrap_or(""),
            calls,
            p["mock_personal"].as_u64().unwrap_or(0),
            p["mock_enterprise"].as_u64().unwrap_or(0),
            failed
        );
    }
    println!(
        "after the move the fleet paid {} extra round trip(s) for {} resources (without sharing: up to {})",
        s["extra_round_trips_after_move"], s["resources"], s["without_sharing_up_to"]
    );
    println!(
        "cut-over `mode set enterprise_only`: every process followed: {} in {} ms",
        s["cut_over"]["all_followed"], s["cut_over"]["took_ms"]
    );
}

/// One process of the fleet, driven by one JSON line per command.
/// One demo member: this program again, in worker mode, spoken to in JSON lines.
struct Worker(JsonLinesChild);

impl Worker {
    fn start(config: &Value) -> CliResult<Worker> {
        let exe = std::env::current_exe()
            .map_err(|e| CliError::Failed(format!("cannot find this program: {e}")))?;
        let mut cmd = Command::new(exe);
        cmd.arg("demo").env(WORKER_ENV, config.to_string());
        JsonLinesChild::spawn(cmd)
            .map(Worker)
            .map_err(|e| CliError::Failed(format!("cannot start a demo process: {e}")))
    }
    fn send(&mut self, cmd: &Value) -> CliResult {
        self.0
            .send(cmd)
            .map_err(|e| CliError::Failed(format!("a demo process went away: {e}")))
    }
    fn read(&mut self) -> CliResult<Value> {
        self.0
            .read()
            .map_err(|e| CliError::Failed(format!("a demo process did not answer: {e}")))
    }
    fn call(&mut self, cmd: &Value) -> CliResult<Value> {
        self.send(cmd)?;
        self.read()
    }
}

/// The process side: a client on the shared config, answering the demo's commands on stdin.
pub fn worker(config: &str) -> CliResult {
    let client = Client::from_json(config).map_err(core_err)?;
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let Ok(cmd) = serde_json::from_str::<Value>(&line) else {
            break;
        };
        let answer = match cmd["op"].as_str().unwrap_or("") {
            "ready" => {
                let until = Instant::now() + Duration::from_secs(10);
                while client.metrics()["state"]["up"] != true && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(10));
                }
                json!({"up": client.metrics()["state"]["up"]})
            }
            "run" => {
                let paths: Vec<String> =
                    serde_json::from_value(cmd["paths"].clone()).unwrap_or_default();
                let n = cmd["n"].as_u64().unwrap_or(0) as usize;
                let (mut ok, mut failed, mut enterprise, mut attempts) = (0u64, 0u64, 0u64, 0u64);
                for i in 0..n {
                    let Some(path) = paths.get(i % paths.len().max(1)) else {
                        break;
                    };
                    match block_on(client.request(Request::get(path.as_str()))) {
                        Ok(r) => {
                            ok += 1;
                            attempts += u64::from(r.attempts);
                            enterprise +=
                                u64::from(r.credential == cozefallback::CredentialKind::Enterprise);
                        }
                        Err(_) => failed += 1,
                    }
                }
                json!({"ok": ok, "failed": failed, "by_enterprise": enterprise, "attempts": attempts,
                       "mode": client.mode().as_str()})
            }
            "wait_mode" => {
                let want = cmd["mode"].as_str().unwrap_or("");
                let until = Instant::now() + Duration::from_secs(3);
                while client.mode().as_str() != want && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(1));
                }
                json!({"seen": client.mode().as_str() == want})
            }
            _ => break,
        };
        println!("{answer}");
        let _ = std::io::stdout().flush();
    }
    Ok(())
}
