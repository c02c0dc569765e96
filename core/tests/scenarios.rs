//! The Rust runner of the cross-language conformance scenarios (`tests/scenarios/*.json`).
//! Format: `tests/scenarios/README.md`. Every scenario runs; none is skipped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use coze_mock::{MockControl, MockOptions, MockServer};
use std::sync::{Arc, Mutex};

use cozefallback::{Body, Client, ConversationMoved, Error, Event, Multipart, Request, Response};
use serde_json::{Value, json};

/// A real redis-server for the run with the Redis state store.
#[path = "support/redis_server.rs"]
mod redis_server;

/// The `websocket` step and the runner of `tests/scenarios/websocket/`.
#[path = "scenarios/ws.rs"]
mod ws;

/// The OBO login flows, refresh hook and steps of `tests/scenarios/obo/`.
#[path = "scenarios/obo.rs"]
mod obo;

/// What one call ended with, in the terms the expectations speak of.
#[derive(Default)]
struct Outcome {
    status: Option<u16>,
    credential: Option<String>,
    attempts: Option<u32>,
    body: Option<String>,
    error: Option<Error>,
    events: Vec<Event>,
    elapsed: Duration,
    moved: Option<ConversationMoved>,
}

fn scenario_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/scenarios")
}

fn substitute(text: &str, vars: &HashMap<String, String>) -> String {
    let mut out = text.to_string();
    for (name, value) in vars {
        let escaped = serde_json::to_string(value).unwrap();
        out = out.replace(&format!("${{{name}}}"), &escaped[1..escaped.len() - 1]);
    }
    out
}

fn placeholders(info: &Value) -> HashMap<String, String> {
    let s = |k: &str| {
        info[k]
            .as_str()
            .unwrap_or_else(|| panic!("mock info lacks {k}"))
            .to_string()
    };
    let mut vars = HashMap::new();
    for (name, key) in [
        ("BASE_URL", "base_url"),
        ("PERSONAL_PAT", "personal_pat"),
        ("ENTERPRISE_PAT", "enterprise_pat"),
        ("JWT_CLIENT_ID", "jwt_client_id"),
        ("JWT_KID", "jwt_kid"),
        ("JWT_PRIVATE_KEY_FILE", "private_key_file"),
        ("JWT_PRIVATE_KEY", "private_key_pem"),
        ("ACCOUNT_ID", "account_id"),
        ("ENTERPRISE_ID", "enterprise_id"),
        ("OAUTH_CLIENT_ID", "oauth_client_id"),
        ("OAUTH_CLIENT_SECRET", "oauth_client_secret"),
        ("ENTERPRISE_BOT", "enterprise_bot"),
        ("WORKFLOW", "workflow_id"),
        ("WORKSPACE", "workspace_id"),
    ] {
        vars.insert(name.to_string(), s(key));
    }
    for i in 0..3 {
        vars.insert(
            format!("BOT_{}", i + 1),
            info["bots"][i].as_str().unwrap().to_string(),
        );
    }
    vars
}

fn build_request(spec: &Value) -> Result<Request, String> {
    check_keys(
        spec,
        &["method", "path", "query", "json", "headers"],
        "request",
    )?;
    let mut req = Request::new(
        spec["method"].as_str().ok_or("request.method")?,
        spec["path"].as_str().ok_or("request.path")?,
    );
    if let Some(q) = spec.get("query").and_then(Value::as_object) {
        for (k, v) in q {
            req = req.query(k, v.as_str().map_or_else(|| v.to_string(), str::to_string));
        }
    }
    if let Some(h) = spec.get("headers").and_then(Value::as_object) {
        for (k, v) in h {
            req = req.header(k, v.as_str().unwrap_or_default());
        }
    }
    if let Some(j) = spec.get("json") {
        req = req.json(j.clone());
    }
    Ok(req)
}

fn check_keys(obj: &Value, allowed: &[&str], what: &str) -> Result<(), String> {
    for key in obj
        .as_object()
        .map(|o| o.keys().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        if !allowed.contains(&key.as_str()) {
            return Err(format!("unknown key `{key}` in {what}"));
        }
    }
    Ok(())
}

fn from_response(r: Response, elapsed: Duration) -> Outcome {
    Outcome {
        status: Some(r.status),
        credential: Some(r.credential.as_str().to_string()),
        attempts: Some(r.attempts),
        body: Some(r.text()),
        moved: r.conversation_moved.clone(),
        elapsed,
        ..Outcome::default()
    }
}

fn from_error(e: Error, elapsed: Duration) -> Outcome {
    Outcome {
        credential: e.credential().map(|c| c.as_str().to_string()),
        attempts: Some(e.attempts()),
        error: Some(e),
        elapsed,
        ..Outcome::default()
    }
}

async fn call(client: &Client, step: &Value) -> Result<Outcome, String> {
    let started = Instant::now();
    if let Some(spec) = step.get("request") {
        let req = build_request(spec)?;
        return Ok(match client.request(req).await {
            Ok(r) => from_response(r, started.elapsed()),
            Err(e) => from_error(e, started.elapsed()),
        });
    }
    if let Some(spec) = step.get("upload") {
        check_keys(spec, &["path", "filename", "content"], "upload")?;
        let mut req = Request::new("POST", spec["path"].as_str().ok_or("upload.path")?);
        req.body = Body::Multipart(Multipart::file(
            spec["filename"].as_str().ok_or("upload.filename")?,
            spec["content"]
                .as_str()
                .ok_or("upload.content")?
                .as_bytes()
                .to_vec(),
        ));
        return Ok(match client.request(req).await {
            Ok(r) => from_response(r, started.elapsed()),
            Err(e) => from_error(e, started.elapsed()),
        });
    }
    if let Some(spec) = step.get("stream") {
        let req = build_request(spec)?;
        let mut stream = match client.stream(req).await {
            Ok(s) => s,
            Err(e) => return Ok(from_error(e, started.elapsed())),
        };
        let mut out = Outcome {
            status: Some(stream.status()),
            credential: Some(stream.credential().as_str().to_string()),
            attempts: Some(stream.attempts()),
            moved: stream.conversation_moved().cloned(),
            ..Outcome::default()
        };
        loop {
            match stream.next().await {
                Ok(Some(ev)) => out.events.push(ev),
                Ok(None) => break,
                Err(e) => {
                    out.error = Some(e);
                    break;
                }
            }
        }
        out.elapsed = started.elapsed();
        return Ok(out);
    }
    Err("step has no call".into())
}

/// The keys of a step's `expect`.
const EXPECT_KEYS: &[&str] = &[
    "status",
    "credential",
    "attempts",
    "json_code",
    "body_contains",
    "error",
    "events_min",
    "first_event",
    "last_event",
    "events_before_error",
    "elapsed_ms_min",
    "conversation_moved",
    "data_len",
];

/// The keys of `expect.error` (the `conversation_stranded` and OAuth ones included).
const ERROR_KEYS: &[&str] = &[
    "kind",
    "code",
    "http_status",
    "previous_code",
    "previous_credential",
    "conversation_id",
    "conversation_owner",
    "bot_credential",
    "file_id",
    "message_contains",
    "oauth_error",
    "authorize_url_contains",
];

fn mismatch(what: &str, want: &Value, got: String) -> Result<(), String> {
    Err(format!("{what}: expected {want}, got {got}"))
}

fn check(expect: &Value, out: &Outcome) -> Result<(), String> {
    check_keys(expect, EXPECT_KEYS, "expect")?;
    match (expect.get("error"), &out.error) {
        (Some(want), Some(err)) => check_error(want, err)?,
        (Some(want), None) => return mismatch("error", want, "success".into()),
        (None, Some(err)) => return Err(format!("unexpected error: {err}")),
        (None, None) => {}
    }
    check_moved(expect, out)?;
    check_answer(expect, out)?;
    check_events(expect, out)
}

/// `expect.error` against the error the call ended with.
fn check_error(want: &Value, err: &Error) -> Result<(), String> {
    check_keys(want, ERROR_KEYS, "expect.error")?;
    check_stranded(want, err)?;
    obo::check_error(want, err)?;
    if let Some(k) = want.get("kind")
        && k.as_str() != Some(err.kind().as_str())
    {
        return mismatch("error.kind", k, format!("{} ({err})", err.kind().as_str()));
    }
    if let Some(c) = want.get("code")
        && c.as_i64() != err.code()
    {
        return mismatch("error.code", c, format!("{:?} ({err})", err.code()));
    }
    if let Some(s) = want.get("http_status")
        && s.as_u64() != err.http_status().map(u64::from)
    {
        return mismatch("error.http_status", s, format!("{:?}", err.http_status()));
    }
    if let Some(c) = want.get("previous_code")
        && c.as_i64() != err.previous().and_then(Error::code)
    {
        return mismatch(
            "error.previous_code",
            c,
            format!("{:?}", err.previous().map(Error::code)),
        );
    }
    if let Some(c) = want.get("previous_credential")
        && c.as_str()
            != err
                .previous()
                .and_then(Error::credential)
                .map(|c| c.as_str())
    {
        return mismatch(
            "error.previous_credential",
            c,
            format!("{:?}", err.previous().map(Error::credential)),
        );
    }
    Ok(())
}

/// `status`, `credential`, `attempts`, `json_code`, `body_contains`.
fn check_answer(expect: &Value, out: &Outcome) -> Result<(), String> {
    if let Some(s) = expect.get("status")
        && s.as_u64() != out.status.map(u64::from)
    {
        return mismatch("status", s, format!("{:?}", out.status));
    }
    if let Some(c) = expect.get("credential")
        && c.as_str() != out.credential.as_deref()
    {
        return mismatch("credential", c, format!("{:?}", out.credential));
    }
    if let Some(a) = expect.get("attempts")
        && a.as_u64() != out.attempts.map(u64::from)
    {
        return mismatch("attempts", a, format!("{:?}", out.attempts));
    }
    if let Some(code) = expect.get("json_code") {
        let body: Value =
            serde_json::from_str(out.body.as_deref().unwrap_or("null")).unwrap_or(Value::Null);
        if body.get("code") != Some(code) {
            return mismatch(
                "json_code",
                code,
                body.get("code").map_or("none".into(), Value::to_string),
            );
        }
    }
    if let Some(sub) = expect.get("body_contains").and_then(Value::as_str)
        && !out.body.as_deref().unwrap_or_default().contains(sub)
    {
        return Err(format!("body_contains: {sub:?} not in {:?}", out.body));
    }
    Ok(())
}

/// The stream keys (`events_min`, `events_before_error`, `first_event`, `last_event`) and `elapsed_ms_min`.
fn check_events(expect: &Value, out: &Outcome) -> Result<(), String> {
    let names: Vec<&str> = out.events.iter().map(|e| e.event.as_str()).collect();
    if let Some(n) = expect.get("events_min").and_then(Value::as_u64)
        && (names.len() as u64) < n
    {
        return Err(format!("events_min: expected at least {n}, got {names:?}"));
    }
    if let Some(n) = expect.get("events_before_error").and_then(Value::as_u64)
        && names.len() as u64 != n
    {
        return Err(format!("events_before_error: expected {n}, got {names:?}"));
    }
    for (key, got) in [("first_event", names.first()), ("last_event", names.last())] {
        if let Some(want) = expect.get(key)
            && want.as_str() != got.copied()
        {
            return mismatch(key, want, format!("{names:?}"));
        }
    }
    if let Some(ms) = expect.get("elapsed_ms_min").and_then(Value::as_u64)
        && out.elapsed < Duration::from_millis(ms)
    {
        return Err(format!(
            "elapsed_ms_min: expected >= {ms} ms, took {:?}",
            out.elapsed
        ));
    }
    Ok(())
}

/// `expect.conversation_moved`: `false` (none), or `{"from", "to", "messages_copied"}` (each optional).
fn check_moved(expect: &Value, out: &Outcome) -> Result<(), String> {
    if let Some(n) = expect.get("data_len").and_then(Value::as_u64) {
        let body: Value =
            serde_json::from_str(out.body.as_deref().unwrap_or("null")).unwrap_or(Value::Null);
        let got = body["data"].as_array().map(Vec::len);
        if got != Some(n as usize) {
            return Err(format!("data_len: expected {n}, got {got:?}"));
        }
    }
    let Some(want) = expect.get("conversation_moved") else {
        return Ok(());
    };
    let got = &out.moved;
    if want == &json!(false) {
        return match got {
            None => Ok(()),
            Some(m) => Err(format!("conversation_moved: expected none, got {m:?}")),
        };
    }
    check_keys(
        want,
        &["from", "to", "messages_copied"],
        "expect.conversation_moved",
    )?;
    let m = got
        .as_ref()
        .ok_or_else(|| format!("conversation_moved: expected {want}, got none"))?;
    let same = want.get("from").is_none_or(|f| f.as_str() == Some(&m.from))
        && want.get("to").is_none_or(|t| t.as_str() == Some(&m.to))
        && want
            .get("messages_copied")
            .is_none_or(|n| n.as_u64() == Some(u64::from(m.messages_copied)));
    if !same || m.to == m.from || m.to.is_empty() {
        return Err(format!("conversation_moved: expected {want}, got {m:?}"));
    }
    Ok(())
}

/// The `conversation_stranded` fields of `expect.error`.
fn check_stranded(want: &Value, err: &Error) -> Result<(), String> {
    let cred = |c: Option<cozefallback::CredentialKind>| c.map(|c| c.as_str().to_string());
    for (key, got) in [
        ("conversation_id", err.conversation_id().map(str::to_string)),
        ("file_id", err.file_id().map(str::to_string)),
        ("conversation_owner", cred(err.conversation_owner())),
        ("bot_credential", cred(err.bot_credential())),
    ] {
        if let Some(w) = want.get(key)
            && w.as_str() != got.as_deref()
        {
            return Err(format!("error.{key}: expected {w}, got {got:?} ({err})"));
        }
    }
    if let Some(sub) = want.get("message_contains").and_then(Value::as_str)
        && !err.to_string().contains(sub)
    {
        return Err(format!("error message {:?} lacks {sub:?}", err.to_string()));
    }
    Ok(())
}

fn check_mock(expect: &Value, stats: &Value) -> Result<(), String> {
    check_keys(
        expect,
        &[
            "token_mints",
            "requests_by_credential",
            "by_path",
            "total_requests",
        ],
        "expect_mock",
    )?;
    for (key, path) in [
        ("token_mints", "/token_mints"),
        ("requests_by_credential", "/requests/by_credential"),
        ("by_path", "/requests/by_path"),
    ] {
        if let Some(want) = expect.get(key).and_then(Value::as_object) {
            for (name, n) in want {
                let escaped = name.replace('~', "~0").replace('/', "~1");
                let got = stats
                    .pointer(&format!("{path}/{escaped}"))
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                if Some(got) != n.as_u64() {
                    return Err(format!("mock {key}.{name}: expected {n}, got {got}"));
                }
            }
        }
    }
    if let Some(n) = expect.get("total_requests")
        && stats.pointer("/requests/total") != Some(n)
    {
        return Err(format!(
            "mock total_requests: expected {n}, got {:?}",
            stats.pointer("/requests/total")
        ));
    }
    Ok(())
}

/// The top-level keys of a scenario (the conversation and OBO ones included).
const SCENARIO_KEYS: &[&str] = &[
    "name",
    "description",
    "mock",
    "config",
    "steps",
    "expect_mock",
    "expect_config_error",
    "expect_hook",
    "obo_login",
    "expect_refresh_hook",
];

/// The keys a step may have.
const STEP_KEYS: &[&str] = &[
    "request",
    "stream",
    "upload",
    "concurrent",
    "repeat",
    "set_mode",
    "mock",
    "sleep_ms",
    "expect",
    "save",
    "websocket",
    "save_moved_to",
    "map_conversation",
    "new_client",
    "fetch_token",
    "oauth_refresh",
];

/// A scenario's client, what its hooks recorded, and what a `new_client` step needs to build another.
struct Run<'a> {
    client: Client,
    moves: Arc<Mutex<Vec<ConversationMoved>>>,
    refreshes: obo::Refreshes,
    /// The substituted config without the Redis store, as JSON (for `new_client` and `oauth_refresh`).
    plain_config: String,
    config_json: Value,
    path: &'a Path,
    redis: Option<&'a str>,
    restarts: u32,
}

impl<'a> Run<'a> {
    fn new(client: Client, plain_config: String, path: &'a Path, redis: Option<&'a str>) -> Self {
        let config_json = serde_json::from_str(&plain_config).unwrap_or(Value::Null);
        let run = Run {
            client,
            moves: Arc::default(),
            refreshes: obo::Refreshes::default(),
            plain_config,
            config_json,
            path,
            redis,
            restarts: 0,
        };
        run.install_hooks();
        run
    }

    /// The conversation hook and the refresh hook, recording every call.
    fn install_hooks(&self) {
        let calls = self.moves.clone();
        self.client
            .set_conversation_hook(Some(Arc::new(move |m: &ConversationMoved| {
                calls.lock().unwrap().push(m.clone());
            })));
        self.refreshes.install(&self.client);
    }

    /// The config the clients are built from (on the Redis store, under a prefix per client).
    fn config(&self) -> String {
        match self.redis {
            Some(url) => with_redis_store(&self.plain_config, url, self.path, self.restarts),
            None => self.plain_config.clone(),
        }
    }

    /// A fresh client knows no conversation binding (an app restart). On the Redis store the fleet would
    /// remember (core/tests/fleet.rs covers that), so the restarted client gets a prefix of its own.
    fn restart(&mut self) -> Result<(), String> {
        self.restarts += 1;
        self.client = Client::from_json(&self.config()).map_err(|e| e.to_string())?;
        self.install_hooks();
        Ok(())
    }
}

async fn run_scenario(
    path: &Path,
    control: &MockControl,
    vars: &HashMap<String, String>,
    redis: Option<&str>,
) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let scenario: Value =
        serde_json::from_str(&text).map_err(|e| format!("bad scenario JSON: {e}"))?;
    check_keys(&scenario, SCENARIO_KEYS, "scenario")?;
    control.reset();
    if let Some(m) = scenario.get("mock") {
        control.set_state(m.clone())?;
    }
    let mut vars = vars.clone();
    if let Some(flow) = scenario.get("obo_login") {
        obo::login(flow, &mut vars).await?;
    }
    let plain_config = substitute(&scenario["config"].to_string(), &vars);
    let config = match redis {
        Some(url) => with_redis_store(&plain_config, url, path, 0),
        None => plain_config.clone(),
    };
    let client = Client::from_json(&config);
    if let Some(want) = scenario.get("expect_config_error") {
        return check_config_error(want, client);
    }
    let client = client.map_err(|e| format!("client: {e}"))?;
    let mut run = Run::new(client, plain_config, path, redis);
    for (i, step) in scenario["steps"]
        .as_array()
        .ok_or("steps")?
        .iter()
        .enumerate()
    {
        let step: Value = serde_json::from_str(&substitute(&step.to_string(), &vars)).unwrap();
        run_step(&mut run, &step, &mut vars, control)
            .await
            .map_err(|e| format!("step {i}: {e}"))?;
    }
    check_after(&scenario, &run, control, &vars)
}

/// `expect_config_error`: building the client failed with a config error naming every string given.
fn check_config_error(want: &Value, client: cozefallback::Result<Client>) -> Result<(), String> {
    check_keys(want, &["message_contains"], "expect_config_error")?;
    let err = match client {
        Ok(_) => return Err("expected a config error, the client was built".into()),
        Err(e) => e,
    };
    if err.kind() != cozefallback::ErrorKind::Config {
        return Err(format!("expected a config error, got {:?}", err));
    }
    for s in want["message_contains"]
        .as_array()
        .ok_or("message_contains")?
    {
        let s = s.as_str().unwrap();
        if !err.to_string().contains(s) {
            return Err(format!(
                "config error {:?} does not mention {s:?}",
                err.to_string()
            ));
        }
    }
    Ok(())
}

/// One step (its placeholders already substituted).
async fn run_step(
    run: &mut Run<'_>,
    step: &Value,
    vars: &mut HashMap<String, String>,
    control: &MockControl,
) -> Result<(), String> {
    check_keys(step, STEP_KEYS, "step")?;
    if let Some(mode) = step.get("set_mode").and_then(Value::as_str) {
        let mode = mode.parse().map_err(|e: Error| e.to_string())?;
        run.client.set_mode(mode).map_err(|e| e.to_string())
    } else if let Some(m) = step.get("map_conversation") {
        let id = |k: &str| m[k].as_str().unwrap_or_default().to_string();
        run.client
            .map_conversation(&id("from"), &id("to"))
            .map_err(|e| e.to_string())
    } else if step.get("new_client") == Some(&json!(true)) {
        run.restart()
    } else if let Some(m) = step.get("mock") {
        control.set_state(m.clone()).map(|_| ())
    } else if let Some(ms) = step.get("sleep_ms").and_then(Value::as_u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(())
    } else if step.get("websocket").is_some() {
        ws::step(&run.client, step).await
    } else if obo::is_step(step) {
        obo::step(&run.client, step, &run.refreshes, &run.config_json, vars).await
    } else if let Some(n) = step.get("concurrent").and_then(Value::as_u64) {
        concurrent_calls(&run.client, step, n).await
    } else {
        repeated_calls(&run.client, step, vars).await
    }
}

/// `concurrent`: N identical calls at once, each meeting `expect`.
async fn concurrent_calls(client: &Client, step: &Value, n: u64) -> Result<(), String> {
    let expect = step.get("expect").cloned().unwrap_or(json!({}));
    let calls = (0..n).map(|_| {
        let (client, step) = (client.clone(), step.clone());
        tokio::spawn(async move { call(&client, &step).await })
    });
    for handle in calls.collect::<Vec<_>>() {
        let out = handle.await.map_err(|e| e.to_string())??;
        check(&expect, &out)?;
    }
    Ok(())
}

/// A call `repeat` times (once by default), keeping what `save` and `save_moved_to` name.
async fn repeated_calls(
    client: &Client,
    step: &Value,
    vars: &mut HashMap<String, String>,
) -> Result<(), String> {
    let expect = step.get("expect").cloned().unwrap_or(json!({}));
    let times = step.get("repeat").and_then(Value::as_u64).unwrap_or(1);
    for _ in 0..times {
        let out = call(client, step).await?;
        check(&expect, &out)?;
        if let Some(name) = step.get("save_moved_to").and_then(Value::as_str) {
            let to = out.moved.as_ref().ok_or("save_moved_to: no move")?;
            vars.insert(name.to_string(), to.to.clone());
        }
        if let Some(save) = step.get("save").and_then(Value::as_object) {
            let body: Value =
                serde_json::from_str(out.body.as_deref().unwrap_or("null")).unwrap_or(Value::Null);
            for (name, pointer) in save {
                let v = body
                    .pointer(pointer.as_str().unwrap_or_default())
                    .ok_or_else(|| format!("save: {pointer} not in body"))?;
                vars.insert(
                    name.clone(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_string),
                );
            }
        }
    }
    Ok(())
}

/// After the steps: `expect_mock`, `expect_hook` (conversation moves), `expect_refresh_hook`.
fn check_after(
    scenario: &Value,
    run: &Run<'_>,
    control: &MockControl,
    vars: &HashMap<String, String>,
) -> Result<(), String> {
    if let Some(want) = scenario.get("expect_mock") {
        let stats = control.stats();
        check_mock(&ws::check_mock(want, &stats)?, &stats)?;
    }
    if let Some(want) = scenario.get("expect_hook") {
        let want: Value = serde_json::from_str(&substitute(&want.to_string(), vars)).unwrap();
        check_moves(&want, &run.moves.lock().unwrap())?;
    }
    if let Some(want) = scenario.get("expect_refresh_hook") {
        run.refreshes.check(want, &run.config_json)?;
    }
    Ok(())
}

/// `expect_hook`: the conversation hook's calls, in number and order.
fn check_moves(want: &Value, calls: &[ConversationMoved]) -> Result<(), String> {
    let want = want.as_array().ok_or("expect_hook must be an array")?;
    if calls.len() != want.len() {
        return Err(format!(
            "hook: expected {} call(s), got {calls:?}",
            want.len()
        ));
    }
    for (w, got) in want.iter().zip(calls) {
        let out = Outcome {
            moved: Some(got.clone()),
            ..Outcome::default()
        };
        check_moved(&json!({"conversation_moved": w}), &out).map_err(|e| format!("hook: {e}"))?;
    }
    Ok(())
}

/// The scenario's config with a `state` section on `url`, under a key prefix of its own (scenarios are
/// independent: one's learned routes must not reach the next).
fn with_redis_store(config: &str, url: &str, path: &Path, restart: u32) -> String {
    let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(config) else {
        return config.to_string(); // a config error scenario: left as it is
    };
    if !map.contains_key("state") {
        let name = path.file_stem().unwrap_or_default().to_string_lossy();
        let dir = path
            .parent()
            .and_then(|p| p.file_name())
            .unwrap_or_default()
            .to_string_lossy();
        let prefix = format!("scenario:{dir}:{name}:{restart}:");
        map.insert(
            "state".into(),
            json!({"redis_url": url, "key_prefix": prefix}),
        );
    }
    Value::Object(map).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_conformance_scenario_passes() {
    run_folder(scenario_dir(), 40, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_conversation_scenario_passes() {
    run_folder(scenario_dir().join("conversations"), 10, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_obo_scenario_passes() {
    run_folder(scenario_dir().join("obo"), 9, None).await;
}

/// The same scenarios with the Redis state store on (docs/FLEET.md): sharing state changes no answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_scenario_passes_with_the_redis_state_store() {
    let redis = redis_server::RedisServer::start();
    run_folder(scenario_dir(), 40, Some(&redis.url())).await;
    run_folder(scenario_dir().join("conversations"), 10, Some(&redis.url())).await;
    let keys: u64 = redis
        .command(&["DBSIZE"])
        .trim()
        .trim_start_matches(':')
        .parse()
        .unwrap();
    println!("keys in Redis after the scenarios: {keys}");
    assert!(
        keys > 0,
        "the scenarios' clients wrote their learned state to Redis"
    );
}

async fn run_folder(dir: PathBuf, at_least: usize, redis: Option<&str>) {
    let mock = MockServer::start(MockOptions::default())
        .await
        .expect("start the mock");
    let vars = placeholders(&serde_json::to_value(mock.info()).unwrap());
    let control = mock.control();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the scenario folder exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= at_least,
        "expected at least {at_least} scenarios in {}, found {}",
        dir.display(),
        files.len()
    );
    let (mut passed, mut failed) = (0, Vec::new());
    for file in &files {
        let name = file.file_stem().unwrap().to_string_lossy().to_string();
        match run_scenario(file, &control, &vars, redis).await {
            Ok(()) => {
                passed += 1;
                println!("ok   {name}");
            }
            Err(e) => {
                println!("FAIL {name}: {e}");
                failed.push(format!("{name}: {e}"));
            }
        }
    }
    println!("scenarios: {passed} passed, {} failed", failed.len());
    assert!(
        failed.is_empty(),
        "{} scenario(s) failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
