//! Runs the `cozefallback` binary: every subcommand, its bad-input paths, and the demo's done-when.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use coze_mock::{BlockingMockServer, MockInfo, MockOptions, MockServer};
use serde_json::Value;

const SECRET_PAT: &str = "pat_do_not_print_me_0123456789";

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cozefallback"));
    for (k, _) in std::env::vars() {
        if k.starts_with("COZE_") {
            cmd.env_remove(k);
        }
    }
    cmd.env_remove("RUST_BACKTRACE");
    cmd.stdin(Stdio::null());
    cmd
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out: Output = cmd.output().expect("run cozefallback");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Bad input: exit 2, one line on stderr naming the problem, no backtrace, nothing on stdout.
fn assert_bad_input(args: &[&str], envs: &[(&str, &str)], needle: &str) {
    let mut cmd = bin();
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let (code, stdout, stderr) = run(&mut cmd);
    assert_eq!(code, 2, "{args:?}: stderr {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "{args:?}: one line expected, got {stderr:?}"
    );
    assert!(stderr.starts_with("cozefallback: "), "{stderr}");
    assert!(
        stderr.contains(needle),
        "{args:?}: {stderr:?} should mention {needle:?}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    assert!(!stderr.contains(SECRET_PAT), "secret leaked: {stderr}");
    assert!(stdout.is_empty(), "{stdout}");
}

fn last_json(stdout: &str) -> Value {
    let line = stdout.trim_end().lines().last().expect("a line on stdout");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("last line is not JSON ({e}): {line}"))
}

fn mock() -> BlockingMockServer {
    MockServer::start_blocking(MockOptions::default()).expect("start mock")
}

fn pat_env(info: &MockInfo) -> Vec<(&'static str, String)> {
    vec![
        ("COZE_API_BASE", info.base_url.clone()),
        ("COZE_API_TOKEN", info.personal_pat.clone()),
        ("COZE_API_TOKEN_ENTERPRISE", info.enterprise_pat.clone()),
    ]
}

fn jwt_env(info: &MockInfo) -> Vec<(&'static str, String)> {
    vec![
        ("COZE_API_BASE", info.base_url.clone()),
        ("COZE_JWT_OAUTH_CLIENT_ID", info.jwt_client_id.clone()),
        (
            "COZE_JWT_OAUTH_PRIVATE_KEY_FILE_PATH",
            info.private_key_file.clone(),
        ),
        ("COZE_JWT_OAUTH_PUBLIC_KEY_ID", info.jwt_kid.clone()),
        ("COZE_PERSONAL_ACCOUNT_ID", info.account_id.clone()),
        ("COZE_ENTERPRISE_ID", info.enterprise_id.clone()),
    ]
}

fn with_env(env: &[(&'static str, String)]) -> Command {
    let mut cmd = bin();
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP GET; the whole answer (head and body), or None if nothing listens yet.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn poll_http(port: u16, path: &str, needle: &str, child: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(text) = http_get(port, path)
            && text.contains(needle)
        {
            return text;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the process exited early with {status}");
        }
        assert!(
            Instant::now() < deadline,
            "no {needle:?} at 127.0.0.1:{port}{path}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------- demo

#[test]
fn demo_json_meets_the_done_when() {
    let (code, stdout, stderr) = run(bin().args(["demo", "--json", "--requests", "600"]));
    assert_eq!(code, 0, "stderr: {stderr}\nstdout: {stdout}");
    let j = last_json(&stdout);
    assert_eq!(j["requests"], 600);
    assert_eq!(j["failed"], 0, "{j}");
    assert_eq!(j["succeeded"], 600);
    let settled = j["round_trips_per_request"]["settled"].as_f64().unwrap();
    assert!(settled <= 1.01, "settled {settled}");
    assert!(
        j["round_trips_per_request"]["before_move"]
            .as_f64()
            .unwrap()
            < 1.05,
        "{j}"
    );
    assert!(j["round_trips_per_request"]["after_move"].is_number());
    assert_eq!(j["token_mints"]["personal"], 1, "{j}");
    assert_eq!(j["token_mints"]["enterprise"], 1, "{j}");
    assert_eq!(j["token_mints_server"]["account"], 1, "{j}");
    assert_eq!(j["token_mints_server"]["enterprise"], 1, "{j}");
    assert!(
        j["fallbacks"].as_u64().unwrap() >= 1,
        "the move must cause at least one fallback: {j}"
    );
    assert!(j["latency_ms"]["p50"].is_number() && j["latency_ms"]["p99"].is_number());
    for phase in ["before_move", "after_move", "settled"] {
        assert_eq!(j["phases"][phase]["failed"], 0, "{phase}: {j}");
    }
    // Every round trip the client counted reached the mock.
    assert_eq!(j["server_requests"], j["round_trips"]);
    for op in [
        "chat",
        "chat_stream",
        "workflow_run",
        "upload",
        "conversation_create",
        "conversation_retrieve",
    ] {
        assert!(
            j["operations"][op].as_u64().unwrap_or(0) > 0,
            "no {op}: {j}"
        );
    }
    assert!(
        !stderr.contains('\u{1b}'),
        "no progress bar when not a TTY: {stderr:?}"
    );
}

#[test]
fn demo_pat_with_seed_comparison() {
    let (code, stdout, stderr) = run(bin().args([
        "demo",
        "--json",
        "--pat",
        "--requests",
        "400",
        "--concurrency",
        "8",
        "--compare-seed",
    ]));
    assert_eq!(code, 0, "{stderr}");
    let j = last_json(&stdout);
    assert_eq!(j["failed"], 0, "{j}");
    assert_eq!(j["credentials"], "pat");
    assert_eq!(j["token_mints"]["personal"], 0, "PATs are not minted: {j}");
    assert!(j["round_trips_per_request"]["settled"].as_f64().unwrap() <= 1.01);
    // End users keep chatting in their conversations from before the move: each is carried over once, no chat
    // fails; the guide's recipe fails every such chat after the move.
    let old = &j["chats_in_old_conversations"];
    assert_eq!(old["conversations_carried_over"], 8, "{old}");
    assert_eq!(old["failed"], 0, "{old}");
    assert!(old["requests"].as_u64().unwrap() >= 30, "{old}");
    let seed = &j["seed"];
    assert_eq!(seed["recipe"], "seed");
    assert_eq!(seed["requests"], 400);
    assert!(
        seed["chats_in_old_conversations"]["failed"]
            .as_u64()
            .unwrap()
            > 0,
        "{seed}"
    );
    // The seed's recipe pays the personal attempt again and again after the move.
    assert!(
        seed["round_trips_per_request"]["after_move"]
            .as_f64()
            .unwrap()
            > 1.5,
        "{seed}"
    );
    assert!(
        seed["round_trips_per_request"]["settled"].as_f64().unwrap() > 1.5,
        "{seed}"
    );
}

#[test]
fn demo_table_names_every_phase() {
    let (code, stdout, stderr) = run(bin().args([
        "demo",
        "--requests",
        "100",
        "--concurrency",
        "4",
        "--compare-seed",
    ]));
    assert_eq!(code, 0, "{stderr}");
    for needle in [
        "before_move",
        "after_move",
        "settled",
        "rt/req",
        "Coze's migration guide",
        "no request failed",
    ] {
        assert!(stdout.contains(needle), "{needle} missing:\n{stdout}");
    }
}

#[test]
fn demo_serves_metrics_on_loopback() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let child = bin()
        .args([
            "demo",
            "--json",
            "--requests",
            "300",
            "--concurrency",
            "4",
            "--metrics-addr",
            &addr,
            "--linger",
            "30",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let text = poll_http(
        port,
        "/metrics",
        "cozefallback_requests_total{",
        &mut child.0,
    );
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("text/plain; version=0.0.4"), "{text}");
    assert!(
        http_get(port, "/other")
            .unwrap()
            .starts_with("HTTP/1.1 404")
    );
}

#[test]
fn demo_bad_input() {
    assert_bad_input(&["demo", "--bogus"], &[], "--bogus");
    assert_bad_input(&["demo", "--requests", "3"], &[], "--requests");
    assert_bad_input(&["demo", "--requests", "many"], &[], "many");
    assert_bad_input(&["demo", "--concurrency", "0"], &[], "--concurrency");
    assert_bad_input(&["demo", "--metrics-addr", "0.0.0.0:9464"], &[], "loopback");
    assert_bad_input(&["demo", "--metrics-addr", "nonsense"], &[], "nonsense");
    assert_bad_input(&["nosuchcommand"], &[], "nosuchcommand");
}

// ---------------------------------------------------------------- mock

#[test]
fn mock_prints_exports_and_serves_until_killed() {
    let child = bin()
        .args(["mock", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().unwrap();
    let mut exports = std::collections::BTreeMap::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("export ") {
            let (k, v) = rest.split_once('=').unwrap();
            exports.insert(k.to_string(), v.trim_matches('\'').to_string());
        }
        if exports.len() == 8 {
            break;
        }
    }
    for name in [
        "COZE_API_BASE",
        "COZE_API_TOKEN",
        "COZE_API_TOKEN_ENTERPRISE",
        "COZE_JWT_OAUTH_CLIENT_ID",
        "COZE_JWT_OAUTH_PRIVATE_KEY_FILE_PATH",
        "COZE_JWT_OAUTH_PUBLIC_KEY_ID",
        "COZE_PERSONAL_ACCOUNT_ID",
        "COZE_ENTERPRISE_ID",
    ] {
        assert!(exports.contains_key(name), "{name} missing: {exports:?}");
    }
    assert!(std::path::Path::new(&exports["COZE_JWT_OAUTH_PRIVATE_KEY_FILE_PATH"]).exists());
    let port: u16 = exports["COZE_API_BASE"]
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let info = http_get(port, "/__mock/info").expect("mock answers");
    assert!(info.contains("mock_kid_0001"), "{info}");
    // The exports configure the other subcommands as they are (PATs win over the JWT app).
    let env: Vec<(&'static str, String)> = exports
        .iter()
        .map(|(k, v)| {
            (
                Box::leak(k.clone().into_boxed_str()) as &'static str,
                v.clone(),
            )
        })
        .collect();
    let (code, _, stderr) = run(with_env(&env).args(["call", "GET", "/v1/workspaces"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "the mock keeps running"
    );
}

#[test]
fn mock_bad_input_and_busy_port() {
    assert_bad_input(&["mock", "--port", "http"], &[], "http");
    assert_bad_input(&["mock", "--port", "70000"], &[], "70000");
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let (code, _, stderr) = run(bin().args(["mock", "--port", &port]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(&port), "{stderr}");
}

// ---------------------------------------------------------------- check

#[test]
fn check_tells_who_reaches_what() {
    let m = mock();
    let info = m.info();
    // The enterprise-native bot: only the enterprise reaches it; that is what the seed says to verify.
    let (code, stdout, stderr) =
        run(with_env(&jwt_env(&info)).args(["check", "--json", "--bot", &info.enterprise_bot]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let j = last_json(&stdout);
    assert_eq!(j["ok"], true);
    assert_eq!(j["tokens"]["personal"]["ok"], true);
    assert_eq!(j["tokens"]["enterprise"]["ok"], true);
    assert_eq!(j["resources"][0]["enterprise"]["ok"], true);
    assert_eq!(j["resources"][0]["personal"]["ok"], false);
    assert_eq!(j["resources"][0]["personal"]["code"], 4101);

    // Before the move the enterprise cannot reach the workspace's bot yet: that is what ready looks like
    // before the move (phase inferred), and not ready for after it.
    let args = [
        "check",
        "--bot",
        &info.bots[0],
        "--workspace",
        &info.workspace_id,
    ];
    let (code, stdout, _) = run(with_env(&pat_env(&info)).args(args));
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("phase: before the move (inferred"),
        "{stdout}"
    );
    assert!(stdout.contains("expected before the move"), "{stdout}");
    assert!(stdout.contains("READY: "), "{stdout}");
    let (code, stdout, _) = run(with_env(&pat_env(&info))
        .args(args)
        .args(["--phase", "after"]));
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("NOT READY"), "{stdout}");
    assert!(
        stdout.contains("after the move that is an outage"),
        "{stdout}"
    );
    // After the move the enterprise reaches it: phase after inferred, ready.
    m.control().set_moved(true);
    let (code, stdout, _) = run(with_env(&pat_env(&info)).args(args));
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("phase: after the move (inferred"),
        "{stdout}"
    );
    m.control().set_moved(false);

    // Unknown bot: not found for both.
    let (code, stdout, _) =
        run(with_env(&pat_env(&info)).args(["check", "--json", "--bot", "7350000000000000777"]));
    assert_eq!(code, 1);
    assert_eq!(
        last_json(&stdout)["resources"][0]["enterprise"]["code"],
        4200
    );
}

#[test]
fn check_reports_the_conversation_grant() {
    let m = mock();
    let info = m.info();
    let (code, stdout, stderr) = run(with_env(&pat_env(&info)).args([
        "call",
        "POST",
        "/v1/conversation/create",
        "--json",
        "{}",
    ]));
    assert_eq!(code, 0, "{stderr}");
    let conv = last_json(&stdout)["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let check = ["check", "--json", "--conversation", conv.as_str()];
    let (_, stdout, _) = run(with_env(&pat_env(&info)).args(check));
    let g = &last_json(&stdout)["conversation_grant"];
    assert_eq!(g["granted"], false, "{g}");
    assert_eq!(g["by_credential"]["enterprise"]["code"], 4101, "{g}");
    assert!(g["meaning"].as_str().unwrap().contains("carry_over"), "{g}");
    m.control()
        .set_state(serde_json::json!({"account_resources_granted": true}))
        .unwrap();
    let (_, stdout, _) = run(with_env(&pat_env(&info)).args(check));
    let g = &last_json(&stdout)["conversation_grant"];
    assert_eq!(g["granted"], true, "{g}");
    assert!(
        g["meaning"]
            .as_str()
            .unwrap()
            .contains("nothing is carried over"),
        "{g}"
    );
    let (code, _, stderr) = run(with_env(&pat_env(&info)).args(["check", "--conversation", "abc"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--conversation"), "{stderr}");
}

#[test]
fn call_reports_a_carried_over_conversation() {
    let m = mock();
    let info = m.info();
    let chat = |conv: Option<&str>| {
        let body = serde_json::json!({"bot_id": info.bots[0], "user_id": "u", "stream": false,
            "additional_messages": [{"role": "user", "content": "hi", "content_type": "text"}]})
        .to_string();
        let mut args = vec![
            "call".to_string(),
            "POST".into(),
            "/v3/chat".into(),
            "--json".into(),
            body,
        ];
        if let Some(c) = conv {
            args.extend(["--query".into(), format!("conversation_id={c}")]);
        }
        run(with_env(&pat_env(&info)).args(args))
    };
    let (code, stdout, stderr) = chat(None);
    assert_eq!(code, 0, "{stderr}");
    let conv = last_json(&stdout)["data"]["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    m.control().set_moved(true);
    // A fresh process knows no binding: it probes the conversation's owner, then carries it over.
    let (code, _, stderr) = chat(Some(&conv));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!("conversation_moved from={conv} to="))
            && stderr.contains("messages_copied=2"),
        "{stderr}"
    );
    assert!(stderr.contains("credential=enterprise"), "{stderr}");
}

#[test]
fn check_diagnoses_token_failures() {
    let m = mock();
    let info = m.info();
    let mut env = jwt_env(&info);
    env.retain(|(k, _)| *k != "COZE_JWT_OAUTH_PUBLIC_KEY_ID");
    env.push((
        "COZE_JWT_OAUTH_PUBLIC_KEY_ID",
        "kid_from_the_other_region".into(),
    ));
    let (code, stdout, _) = run(with_env(&env).args(["check"]));
    assert_eq!(code, 1);
    assert!(
        stdout.contains("not registered") && stdout.contains("region"),
        "{stdout}"
    );

    m.control()
        .set_state(serde_json::json!({"app_disabled": true}))
        .unwrap();
    let (code, stdout, _) = run(with_env(&jwt_env(&info)).args(["check"]));
    assert_eq!(code, 1);
    assert!(stdout.contains("disabled"), "{stdout}");
    m.control().reset();

    let mut env = jwt_env(&info);
    env.retain(|(k, _)| *k != "COZE_ENTERPRISE_ID");
    env.push(("COZE_ENTERPRISE_ID", "volcano_not_installed".into()));
    let (code, stdout, _) = run(with_env(&env).args(["check", "--json"]));
    assert_eq!(code, 1);
    let j = last_json(&stdout);
    assert_eq!(j["tokens"]["personal"]["ok"], true);
    assert!(
        j["tokens"]["enterprise"]["detail"]
            .as_str()
            .unwrap()
            .contains("not authorized"),
        "{j}"
    );

    // Only a personal credential: nothing would serve after the move.
    let env = vec![
        ("COZE_API_BASE", info.base_url.clone()),
        ("COZE_API_TOKEN", info.personal_pat.clone()),
    ];
    let (code, stdout, _) = run(with_env(&env).args(["check"]));
    assert_eq!(code, 1);
    assert!(stdout.contains("no enterprise credential"), "{stdout}");
}

#[test]
fn check_bad_input() {
    let dir = std::env::temp_dir().join(format!("cozefallback-cli-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        format!(r#"{{"personal": {{"type": "pat", "tokn": "{SECRET_PAT}"}}}}"#),
    )
    .unwrap();
    let bad_url = dir.join("bad_url.json");
    std::fs::write(
        &bad_url,
        format!(r#"{{"base_url": "ftp://example", "personal": {{"type": "pat", "token": "{SECRET_PAT}"}}}}"#),
    )
    .unwrap();
    let bad_key = dir.join("bad_key.json");
    std::fs::write(
        &bad_key,
        r#"{"base_url": "http://127.0.0.1:9", "enterprise": {"type": "jwt", "client_id": "1", "private_key_file": "/nonexistent/key.pem", "public_key_id": "k", "enterprise_id": "e"}}"#,
    )
    .unwrap();
    let not_json = dir.join("not.json");
    std::fs::write(&not_json, "personal = pat").unwrap();
    assert_bad_input(
        &["check", "--config", bad.to_str().unwrap()],
        &[],
        "invalid config `personal.tokn`: unknown field `tokn`",
    );
    assert_bad_input(
        &["check", "--config", bad_url.to_str().unwrap()],
        &[],
        "base_url",
    );
    assert_bad_input(
        &["check", "--config", bad_key.to_str().unwrap()],
        &[],
        "private_key_file",
    );
    assert_bad_input(
        &["check", "--config", not_json.to_str().unwrap()],
        &[],
        "not.json: the config is not valid JSON",
    );
    assert_bad_input(
        &["check", "--config", "/nonexistent/config.json"],
        &[],
        "/nonexistent/config.json",
    );
    assert_bad_input(&["check"], &[], "COZE_API_TOKEN");
    assert_bad_input(
        &["check", "--bot", "abc"],
        &[("COZE_API_TOKEN", SECRET_PAT)],
        "abc",
    );
    assert_bad_input(
        &["check", "--phase", "during"],
        &[("COZE_API_TOKEN", SECRET_PAT)],
        "during",
    );
    assert_bad_input(
        &["check"],
        &[
            ("COZE_JWT_OAUTH_CLIENT_ID", "1"),
            ("COZE_ENTERPRISE_ID", "volcano_1"),
            ("COZE_JWT_OAUTH_PRIVATE_KEY", "x"),
        ],
        "COZE_JWT_OAUTH_PUBLIC_KEY_ID is empty",
    );
    assert_bad_input(
        &["check", "--mode", "sideways"],
        &[("COZE_API_TOKEN", SECRET_PAT)],
        "sideways",
    );
    assert_bad_input(
        &["check"],
        &[
            ("COZE_API_TOKEN", SECRET_PAT),
            ("COZE_API_BASE", "not a url"),
        ],
        "COZE_API_BASE: ",
    );
    assert_bad_input(
        &["check"],
        &[
            ("COZE_API_TOKEN", SECRET_PAT),
            ("COZE_API_BASE", "http://example.com"),
        ],
        "COZE_API_BASE: ",
    );
    let _ = std::fs::remove_dir_all(dir);
}

// ---------------------------------------------------------------- call

#[test]
fn call_goes_through_the_fallback() {
    let m = mock();
    let info = m.info();
    let env = jwt_env(&info);
    let bot_path = format!("/v1/bots/{}", info.bots[0]);
    let (code, stdout, stderr) = run(with_env(&env).args(["call", "GET", &bot_path]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        serde_json::from_str::<Value>(stdout.trim()).unwrap()["code"],
        0
    );
    assert!(
        stderr.contains("credential=personal")
            && stderr.contains("attempts=1")
            && stderr.contains("logid="),
        "{stderr}"
    );

    // A path without its leading slash means the same path, as in every binding (the core's one rule).
    let (code, stdout, stderr) = run(with_env(&env).args(["call", "GET", &bot_path[1..]]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        serde_json::from_str::<Value>(stdout.trim()).unwrap()["code"],
        0
    );

    // A 3xx that was not followed is a failure (exit 1) naming the status, never a success with an empty body.
    m.control()
        .set_state(serde_json::json!({"faults": [{"path": "/v1/bots/", "times": 1,
            "action": {"type": "http", "http_status": 302, "body": "", "content_type": "text/plain"}}]}))
        .unwrap();
    let (code, stdout, stderr) = run(with_env(&env).args(["call", "GET", &bot_path]));
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains("302"), "{stderr}");

    m.control().set_moved(true);
    let (code, _, stderr) = run(with_env(&env).args(["call", "get", &bot_path]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("credential=enterprise") && stderr.contains("attempts=2"),
        "{stderr}"
    );

    // Streaming: one JSON event per line, ending with done.
    let body = format!(
        r#"{{"bot_id": "{}", "user_id": "u1", "stream": true}}"#,
        info.bots[1]
    );
    let (code, stdout, stderr) =
        run(with_env(&env).args(["call", "POST", "/v3/chat", "--json", &body, "--stream"]));
    assert_eq!(code, 0, "{stderr}");
    let events: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        events.first().unwrap()["event"],
        "conversation.chat.created"
    );
    assert_eq!(events.last().unwrap()["event"], "done");
    assert!(stderr.contains("credential=enterprise"), "{stderr}");

    // A body from a file, query parameters, an upload.
    let dir = std::env::temp_dir().join(format!("cozefallback-cli-call-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let body_file = dir.join("body.json");
    std::fs::write(&body_file, r#"{"bot_id": "7350000000000000001"}"#).unwrap();
    let at = format!("@{}", body_file.display());
    let (code, stdout, _) =
        run(with_env(&env).args(["call", "POST", "/v1/conversation/create", "--json", &at]));
    assert_eq!(code, 0);
    let conv = serde_json::from_str::<Value>(stdout.trim()).unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let q = format!("conversation_id={conv}");
    let (code, stdout, stderr) =
        run(with_env(&env).args(["call", "GET", "/v1/conversation/retrieve", "--query", &q]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(&conv));
    let upload = dir.join("hello.txt");
    std::fs::write(&upload, "hello world\n").unwrap();
    let (code, stdout, _) = run(with_env(&env).args([
        "call",
        "POST",
        "/v1/files/upload",
        "--file",
        upload.to_str().unwrap(),
    ]));
    assert_eq!(code, 0);
    let j: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(j["data"]["bytes"], 12);
    assert_eq!(j["data"]["file_name"], "hello.txt");

    // A Coze error: exit 1, the code and the credential on stderr.
    let (code, stdout, stderr) =
        run(with_env(&env).args(["call", "GET", "/v1/bots/7350000000000000777"]));
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("code=4200") && stderr.contains("credential="),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn call_fails_on_a_redirect_that_was_not_followed() {
    let m = mock();
    let info = m.info();
    m.control()
        .set_state(serde_json::json!({"faults": [{"path": "/v1/bots", "action": {"type": "http", "http_status": 302}}]}))
        .unwrap();
    let bot_path = format!("/v1/bots/{}", info.bots[0]);
    let (code, stdout, stderr) = run(with_env(&pat_env(&info)).args(["call", "GET", &bot_path]));
    assert_eq!(code, 1, "a 302 is not a success: {stderr}");
    assert!(stderr.contains("status=302"), "{stderr}");
    assert!(
        stderr.contains("redirect that was not followed"),
        "{stderr}"
    );
    assert!(stdout.is_empty(), "{stdout}");
}

#[test]
fn call_bad_input() {
    let env = [
        ("COZE_API_TOKEN", SECRET_PAT),
        ("COZE_API_BASE", "http://127.0.0.1:9"),
    ];
    assert_bad_input(&["call", "GET"], &env, "PATH");
    assert_bad_input(
        &["call", "GET", "/v1/x", "--query", "novalue"],
        &env,
        "KEY=VALUE",
    );
    assert_bad_input(&["call", "POST", "/v1/x", "--json", "{bad"], &env, "--json");
    assert_bad_input(
        &["call", "POST", "/v1/x", "--json", "@/nonexistent/body.json"],
        &env,
        "/nonexistent/body.json",
    );
    assert_bad_input(
        &["call", "POST", "/v1/x", "--file", "/nonexistent/upload.bin"],
        &env,
        "/nonexistent/upload.bin",
    );
    assert_bad_input(
        &[
            "call",
            "POST",
            "/v1/x",
            "--json",
            "{}",
            "--file",
            "/etc/hostname",
        ],
        &env,
        "--file",
    );
    assert_bad_input(&["call", "G E T", "/v1/x"], &env, "HTTP method");
    // The core's path rules, the same as every binding's.
    assert_bad_input(&["call", "GET", "/%2E%2e/x"], &env, "dot segment");
    assert_bad_input(&["call", "GET", "/v1/x\u{1}"], &env, "control character");
    assert_bad_input(
        &["call", "GET", "/v1/x", "--header", "novalue"],
        &env,
        "--header",
    );
    assert_bad_input(
        &["call", "GET", "/v1/x"],
        &[("COZE_API_TOKEN", SECRET_PAT), ("COZE_API_BASE", "ftp://x")],
        "COZE_API_BASE: ",
    );
    assert_bad_input(
        &["call", "GET", "/v1/x", "--frobnicate"],
        &env,
        "--frobnicate",
    );
}

// ---------------------------------------------------------------- metrics

#[test]
fn metrics_once_and_served() {
    let m = mock();
    let info = m.info();
    let env = pat_env(&info);
    m.control().set_moved(true);
    let (code, stdout, stderr) = run(with_env(&env).args([
        "metrics",
        "--once",
        "--bot",
        &info.bots[0],
        "--bot",
        &info.bots[1],
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(
            "cozefallback_requests_total{credential=\"enterprise\",outcome=\"success\"} 2"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("cozefallback_fallbacks_total{reason=\"4101\"} 2"),
        "{stdout}"
    );

    // A probe that fails: exit 1.
    let (code, _, stderr) =
        run(with_env(&env).args(["metrics", "--once", "--bot", "7350000000000000777"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("4200"), "{stderr}");

    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let child = with_env(&env)
        .args([
            "metrics",
            "--addr",
            &addr,
            "--interval",
            "1",
            "--workspace",
            &info.workspace_id,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let text = poll_http(port, "/metrics", "outcome=\"success\"", &mut child.0);
    assert!(
        text.contains("cozefallback_mode{mode=\"personal_first\"} 1"),
        "{text}"
    );
}

#[test]
fn metrics_bad_input() {
    let env = [
        ("COZE_API_TOKEN", SECRET_PAT),
        ("COZE_API_BASE", "http://127.0.0.1:9"),
    ];
    assert_bad_input(&["metrics", "--addr", "10.1.2.3:9464"], &env, "loopback");
    assert_bad_input(&["metrics", "--interval", "0"], &env, "--interval");
    assert_bad_input(&["metrics", "--workflow", "x1"], &env, "x1");
    assert_bad_input(&["metrics", "--once"], &[], "COZE_API_TOKEN");
}

#[test]
fn check_workflow_reachable_only_by_the_credential_that_owns_it() {
    // `GET /v1/workflows/{id}` (Coze: 查询工作流基本信息) is the read-only call. After the move only the
    // enterprise credential reaches the workflow: check passes and says the personal one no longer does.
    let m = mock();
    let info = m.info();
    m.control().set_moved(true);
    let (code, stdout, _) =
        run(with_env(&pat_env(&info)).args(["check", "--json", "--workflow", &info.workflow_id]));
    let j = last_json(&stdout);
    assert_eq!(code, 0, "{j}");
    assert_eq!(j["resources"][0]["enterprise"]["ok"], true, "{j}");
    assert_eq!(j["resources"][0]["personal"]["ok"], false, "{j}");
    // Before the move the enterprise credential cannot reach it yet: ready for the phase before (inferred),
    // not for after.
    m.control().set_moved(false);
    let (code, stdout, _) =
        run(with_env(&pat_env(&info)).args(["check", "--json", "--workflow", &info.workflow_id]));
    let j = last_json(&stdout);
    assert_eq!(code, 0, "{j}");
    assert_eq!(j["phase"], "before", "{j}");
    assert_eq!(j["phase_inferred"], true, "{j}");
    assert_eq!(j["resources"][0]["enterprise"]["ok"], false, "{j}");
    let (code, stdout, _) = run(with_env(&pat_env(&info)).args([
        "check",
        "--json",
        "--phase",
        "after",
        "--workflow",
        &info.workflow_id,
    ]));
    let j = last_json(&stdout);
    assert_eq!(code, 1, "{j}");
    assert_eq!(j["phase"], "after", "{j}");
    assert_eq!(j["phase_inferred"], false, "{j}");
}

#[test]
fn check_rejects_garbage_tokens() {
    // Two PATs the server does not know: today's lie was "both fine, exit 0".
    let m = mock();
    let info = m.info();
    let env = vec![
        ("COZE_API_BASE", info.base_url.clone()),
        ("COZE_API_TOKEN", "pat_garbage_personal_000".to_string()),
        (
            "COZE_API_TOKEN_ENTERPRISE",
            "pat_garbage_enterprise_000".to_string(),
        ),
    ];
    for phase in [None, Some("before"), Some("after")] {
        let mut cmd = with_env(&env);
        cmd.arg("check");
        if let Some(p) = phase {
            cmd.args(["--phase", p]);
        }
        let (code, stdout, stderr) = run(&mut cmd);
        assert_eq!(code, 1, "{phase:?}: {stdout}{stderr}");
        assert!(
            stdout.contains("REJECTED") && stdout.contains("rejected"),
            "{stdout}"
        );
        assert!(stdout.contains("4100"), "{stdout}");
        assert!(
            !stdout.contains("pat_garbage"),
            "a token was printed: {stdout}"
        );
    }
    let (code, stdout, _) = run(with_env(&env).args(["check", "--json"]));
    assert_eq!(code, 1);
    let j = last_json(&stdout);
    assert_eq!(j["tokens"]["personal"]["state"], "rejected", "{j}");
    assert_eq!(j["tokens"]["enterprise"]["state"], "rejected", "{j}");
    assert_eq!(j["ok"], false);
    // One good, one garbage: the enterprise one rejected is never ready.
    let env = vec![
        ("COZE_API_BASE", info.base_url.clone()),
        ("COZE_API_TOKEN", info.personal_pat.clone()),
        (
            "COZE_API_TOKEN_ENTERPRISE",
            "pat_garbage_enterprise_000".to_string(),
        ),
    ];
    let (code, stdout, _) = run(with_env(&env).args(["check", "--bot", &info.bots[0]]));
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("the enterprise credential was rejected"),
        "{stdout}"
    );
}

#[test]
fn check_proves_each_credential_with_a_read_only_call() {
    let m = mock();
    let info = m.info();
    let (code, stdout, stderr) = run(with_env(&jwt_env(&info)).args(["check", "--json"]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let j = last_json(&stdout);
    assert_eq!(j["tokens"]["personal"]["state"], "valid", "{j}");
    assert_eq!(j["tokens"]["enterprise"]["state"], "valid", "{j}");
    assert_eq!(j["phase"], "before", "{j}");
    // Each credential made exactly one GET /v1/users/me, and nothing that writes.
    let stats = m.control().stats();
    assert_eq!(stats["requests"]["by_path"]["/v1/users/me"], 2, "{stats}");
}

// ---------------------------------------------------------------- secrets and files

/// Starts `cozefallback mock` and reads its export lines.
fn spawn_mock() -> (KillOnDrop, std::collections::BTreeMap<String, String>) {
    let child = bin()
        .args(["mock"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().unwrap();
    let mut exports = std::collections::BTreeMap::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("export ") {
            let (k, v) = rest.split_once('=').unwrap();
            exports.insert(k.to_string(), v.trim_matches('\'').to_string());
        }
        if exports.len() == 8 {
            break;
        }
    }
    (child, exports)
}

#[cfg(unix)]
#[test]
fn mock_key_is_private_and_removed_on_sigterm_and_sigint() {
    use std::os::unix::fs::PermissionsExt;
    for signal in ["TERM", "INT"] {
        let (mut child, exports) = spawn_mock();
        let key = std::path::PathBuf::from(&exports["COZE_JWT_OAUTH_PRIVATE_KEY_FILE_PATH"]);
        let dir = key.parent().unwrap().to_path_buf();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&key), 0o600, "private_key.pem");
        assert_eq!(mode(&dir), 0o700, "its directory");
        let pid = child.0.id().to_string();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        let exit = loop {
            if let Some(s) = child.0.try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "SIG{signal}: the mock did not stop"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(exit.success(), "SIG{signal}: {exit}");
        assert!(!dir.exists(), "SIG{signal}: {} left behind", dir.display());
        let mut err = String::new();
        child
            .0
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(err.contains(&format!("SIG{signal}")), "{err}");
    }
}

#[cfg(unix)]
#[test]
fn world_readable_key_warning_is_printed_once() {
    use std::os::unix::fs::PermissionsExt;
    let m = mock();
    let info = m.info();
    let dir = std::env::temp_dir().join(format!("cozefallback-cli-warn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("key.pem");
    std::fs::write(&key, &info.private_key_pem).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut env = jwt_env(&info);
    env.retain(|(k, _)| *k != "COZE_JWT_OAUTH_PRIVATE_KEY_FILE_PATH");
    env.push((
        "COZE_JWT_OAUTH_PRIVATE_KEY_FILE_PATH",
        key.display().to_string(),
    ));
    let (code, stdout, stderr) = run(with_env(&env).args(["check"]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        stderr.matches("world-readable").count(),
        1,
        "one warning for one key file: {stderr}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

// ---------------------------------------------------------------- logs

/// Every token-looking word is masked (`pat_***`, `czs_***`, `eyJ***`).
fn assert_no_token(text: &str, known: &[&str]) {
    for k in known {
        assert!(!text.contains(k), "token {k} printed: {text}");
    }
    for prefix in ["pat_", "czs_", "czu_", "sat_", "eyJ"] {
        for (i, _) in text.match_indices(prefix) {
            let rest = &text[i + prefix.len()..];
            assert!(
                rest.starts_with("***") || !rest.starts_with(|c: char| c.is_ascii_alphanumeric()),
                "unmasked {prefix}...: {}",
                &text[i..(i + 40).min(text.len())]
            );
        }
    }
}

#[test]
fn verbose_logs_show_the_fallback_and_no_token() {
    let m = mock();
    let info = m.info();
    m.control().set_moved(true);
    let bot = format!("/v1/bots/{}", info.bots[0]);
    // Without -v: nothing but the summary line.
    let (code, _, stderr) = run(with_env(&pat_env(&info)).args(["call", "GET", &bot]));
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("falling back"), "{stderr}");
    let (code, _, stderr) = run(with_env(&pat_env(&info)).args(["-v", "call", "GET", &bot]));
    assert_eq!(code, 0, "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("falling back to the other credential"))
        .unwrap_or_else(|| panic!("no fallback line: {stderr}"));
    assert!(
        line.contains("INFO") && line.contains("from=personal") && line.contains("to=enterprise"),
        "{line}"
    );
    assert!(
        line.contains("reason=4101") && !line.contains("Some("),
        "{line}"
    );
    // RUST_LOG alone works too.
    let (_, _, stderr) = run(with_env(&pat_env(&info))
        .env("RUST_LOG", "cozefallback=info")
        .args(["call", "GET", &bot]));
    assert!(stderr.contains("falling back"), "{stderr}");
    // -vv on the JWT app (tokens minted) and with PATs: no token on stderr.
    for env in [jwt_env(&info), pat_env(&info)] {
        let (code, _, stderr) = run(with_env(&env).args(["-vv", "call", "GET", &bot]));
        assert_eq!(code, 0, "{stderr}");
        assert!(
            stderr.contains("DEBUG") || stderr.contains("INFO"),
            "{stderr}"
        );
        assert_no_token(&stderr, &[&info.personal_pat, &info.enterprise_pat]);
    }
    let (_, _, stderr) = run(with_env(&jwt_env(&info)).args(["-vvv", "call", "GET", &bot]));
    assert_no_token(&stderr, &[&info.personal_pat, &info.enterprise_pat]);
}

// ---------------------------------------------------------------- demo display

#[test]
fn demo_output_fits_100_columns_and_speaks_plainly() {
    let plain = run(bin().args(["demo", "--requests", "200", "--compare-guide"]));
    let json = run(bin().args(["demo", "--json", "--requests", "200"]));
    for (name, (code, stdout, stderr), json_last) in [("plain", plain, false), ("json", json, true)]
    {
        assert_eq!(code, 0, "{name}: {stderr}");
        let mut lines: Vec<&str> = stdout.lines().chain(stderr.lines()).collect();
        if json_last {
            let last = stdout.trim_end().lines().last().unwrap();
            lines.retain(|l| *l != last);
        }
        for l in &lines {
            assert!(
                l.chars().count() <= 100,
                "{name}: {} columns: {l}",
                l.chars().count()
            );
        }
        let all = format!("{stdout}{stderr}");
        assert!(!all.to_lowercase().contains("the seed"), "{name}: {all}");
    }
}

#[test]
fn mock_tls_serves_https_and_exports_its_ca() {
    let child = bin()
        .args(["mock", "--tls"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().unwrap();
    let mut exports = std::collections::BTreeMap::new();
    let mut comments = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("export ") {
            let (k, v) = rest.split_once('=').unwrap();
            exports.insert(k.to_string(), v.trim_matches('\'').to_string());
        } else {
            comments.push_str(&line);
            comments.push('\n');
        }
        if line.contains("move the workspace") {
            break;
        }
    }
    assert_eq!(exports.len(), 9, "{exports:?}");
    assert!(
        exports["COZE_API_BASE"].starts_with("https://127.0.0.1:"),
        "{exports:?}"
    );
    let ca = std::path::Path::new(&exports["SSL_CERT_FILE"]);
    assert!(
        std::fs::read_to_string(ca)
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    assert!(comments.contains("curl --cacert "), "{comments}");
    let env: Vec<(&'static str, String)> = exports
        .iter()
        .map(|(k, v)| {
            (
                Box::leak(k.clone().into_boxed_str()) as &'static str,
                v.clone(),
            )
        })
        .collect();
    // A client built from the exports alone talks HTTPS to it, trusting the CA through SSL_CERT_FILE...
    let (code, stdout, stderr) = run(with_env(&env).args(["call", "GET", "/v1/workspaces"]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    // ...and without SSL_CERT_FILE the certificate is refused, with words naming TLS.
    let without: Vec<_> = env
        .iter()
        .filter(|(k, _)| *k != "SSL_CERT_FILE")
        .cloned()
        .collect();
    let (code, stdout, stderr) =
        run(with_env(&without)
            .env_remove("SSL_CERT_FILE")
            .args(["call", "GET", "/v1/workspaces"]));
    assert_ne!(code, 0, "{stdout}");
    assert!(stderr.contains("TLS handshake"), "{stderr}");
}

#[path = "../../core/tests/support/redis_server.rs"]
mod redis_server;

#[test]
fn mode_prints_and_sets_the_fleet_mode_on_redis() {
    let redis = redis_server::RedisServer::start();
    let url = redis.url();
    let (code, stdout, stderr) = run(bin().args(["mode", "--redis-url", &url]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("no fleet mode is stored"), "{stdout}");
    let (code, stdout, stderr) =
        run(bin().args(["mode", "set", "enterprise_only", "--redis-url", &url]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("enterprise_only"), "{stdout}");
    // The environment variable names the Redis too; --json gives one object.
    let (code, stdout, stderr) = run(bin()
        .args(["mode", "--json"])
        .env("COZE_FALLBACK_REDIS_URL", &url));
    assert_eq!(code, 0, "{stderr}");
    let v: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["mode"], "enterprise_only");
    assert!(v["set_at_unix_ms"].as_u64().unwrap() > 0);
    // A client built on this Redis starts in the fleet's mode, over its configured one.
    let cfg = serde_json::json!({"personal": {"type": "pat", "token": SECRET_PAT},
        "enterprise": {"type": "pat", "token": SECRET_PAT}, "mode": "personal_first",
        "state": {"redis_url": url}});
    let client = cozefallback_client(&cfg.to_string());
    assert_eq!(client.mode().as_str(), "enterprise_only");
    assert_bad_input(
        &["mode", "set", "sideways", "--redis-url", &url],
        &[],
        "unknown mode",
    );
    assert_bad_input(&["mode", "--redis-url", "http://:pw@x"], &[], "redis://");
    assert_bad_input(&["mode"], &[], "COZE_FALLBACK_REDIS_URL");
}

#[test]
fn mode_never_prints_the_redis_password_and_fails_fast_when_redis_is_away() {
    let redis = redis_server::RedisServer::with_password("hunter2secret");
    let wrong = format!("redis://:wrongsecret@127.0.0.1:{}/0", redis.port);
    let (code, stdout, stderr) = run(bin().args(["mode", "--redis-url", &wrong]));
    assert_eq!(code, 1, "{stdout} {stderr}");
    assert!(stderr.contains("redis://:***@"), "{stderr}");
    assert!(!stderr.contains("wrongsecret"), "{stderr}");
    let right = format!("redis://:hunter2secret@127.0.0.1:{}/0", redis.port);
    let (code, stdout, stderr) =
        run(bin().args(["mode", "set", "personal_only", "--redis-url", &right]));
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.contains("hunter2secret") && !stderr.contains("hunter2secret"));
    let started = Instant::now();
    let (code, _, stderr) =
        run(bin().args(["mode", "--redis-url", "redis://:pw1234@127.0.0.1:1/0"]));
    assert_eq!(code, 1);
    assert!(started.elapsed() < Duration::from_secs(10), "{stderr}");
    assert!(!stderr.contains("pw1234"), "{stderr}");
}

fn cozefallback_client(config: &str) -> cozefallback::Client {
    cozefallback::Client::from_json(config).unwrap()
}

#[test]
fn demo_processes_shows_a_fleet_wide_cut_over_on_one_redis() {
    let redis = redis_server::RedisServer::start();
    let (code, stdout, stderr) = run(bin().args([
        "demo",
        "--processes",
        "4",
        "--requests",
        "60",
        "--json",
        "--redis-url",
        &redis.url(),
    ]));
    assert_eq!(code, 0, "{stdout} {stderr}");
    let s: Value = serde_json::from_str(stdout.trim().lines().last().unwrap()).unwrap();
    assert_eq!(s["processes"], 4);
    assert_eq!(s["failed_total"], 0, "{s}");
    let resources = s["resources"].as_u64().unwrap();
    let extra = s["extra_round_trips_after_move"].as_u64().unwrap();
    assert_eq!(
        extra, resources,
        "one extra round trip per resource for the fleet: {s}"
    );
    assert_eq!(s["cut_over"]["all_followed"], true, "{s}");
    let cut = &s["phases"][2];
    assert_eq!(
        cut["mock_personal"], 0,
        "after the cut-over no call uses the old credential: {s}"
    );
    assert_eq!(
        cut["mock_enterprise"].as_u64().unwrap(),
        4 * s["calls_per_process_per_phase"].as_u64().unwrap()
    );
    assert_bad_input(&["demo", "--processes", "1"], &[], "--processes");
}

#[test]
fn a_process_that_starts_adopts_the_fleet_mode_and_logs_it() {
    let redis = redis_server::RedisServer::with_password("fleetpw123");
    let url = format!("redis://:fleetpw123@127.0.0.1:{}/0", redis.port);
    let (code, _, stderr) =
        run(bin().args(["mode", "set", "enterprise_only", "--redis-url", &url]));
    assert_eq!(code, 0, "{stderr}");
    let m = mock();
    m.control().set_moved(true); // the workspace moved: the enterprise credential reaches the bot
    let info = m.info();
    let mut env = pat_env(&info);
    env.push(("COZE_FALLBACK_REDIS_URL", url.clone()));
    env.push(("COZE_FALLBACK_MODE", "personal_first".into()));
    let bot_path = format!("/v1/bots/{}", info.bots[0]);
    let (code, stdout, stderr) = run(with_env(&env).args(["call", "GET", &bot_path, "-v"]));
    assert_eq!(code, 0, "{stdout} {stderr}");
    assert!(
        stderr.contains("adopted the fleet's routing mode"),
        "{stderr}"
    );
    assert!(stderr.contains("enterprise_only"), "{stderr}");
    assert!(
        stderr.contains("enterprise"),
        "served by the enterprise credential: {stderr}"
    );
    assert!(
        !stderr.contains("fleetpw123") && !stdout.contains("fleetpw123"),
        "{stderr}"
    );
    assert_eq!(
        m.control().stats()["requests"]["by_credential"]["personal"],
        0,
        "the fleet's enterprise_only won over the configured personal_first"
    );
}

#[test]
fn config_schema_prints_the_cores_schema() {
    let (code, stdout, stderr) = run(bin().arg("config-schema"));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    let printed: Value = serde_json::from_str(&stdout).expect("the schema is JSON");
    assert_eq!(printed, cozefallback::Config::json_schema());
    let on_disk = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../core/config.schema.json"
    ))
    .unwrap();
    assert_eq!(stdout, on_disk, "byte for byte the checked-in file");
    for field in ["base_url", "personal", "mode", "conversations", "state"] {
        assert!(printed["properties"].get(field).is_some(), "{field}");
    }
}
