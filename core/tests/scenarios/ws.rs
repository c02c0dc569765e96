//! The `websocket` step of the conformance scenarios, and the runner of `tests/scenarios/websocket/*.json`
//! (a folder of its own until every binding has a WebSocket session). Format: `tests/scenarios/README.md`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use coze_mock::{MockOptions, MockServer};
use cozefallback::{Client, Event, WebSocketSession, WsEvent};
use serde_json::{Value, json};

use super::{Outcome, check, check_keys, from_error, placeholders, run_scenario, scenario_dir};

/// Keys of a step's `expect` that only a `websocket` step has.
const WS_EXPECT: [&str; 3] = ["events", "close_code", "logid"];

/// Runs one `websocket` step (`repeat` times) and checks its `expect`.
pub(super) async fn step(client: &Client, step: &Value) -> Result<(), String> {
    let spec = &step["websocket"];
    let expect = step.get("expect").cloned().unwrap_or(json!({}));
    let times = step.get("repeat").and_then(Value::as_u64).unwrap_or(1);
    for _ in 0..times {
        let (out, close, logid) = run(client, spec).await?;
        let mut rest = expect.clone();
        if let Some(obj) = rest.as_object_mut() {
            for key in WS_EXPECT {
                obj.remove(key);
            }
        }
        check(&rest, &out)?;
        check_ws(&expect, &out, close, logid)?;
    }
    Ok(())
}

async fn run(client: &Client, spec: &Value) -> Result<(Outcome, Option<u16>, bool), String> {
    check_keys(spec, &["path", "query", "send", "on", "until"], "websocket")?;
    let path = spec["path"].as_str().ok_or("websocket.path")?;
    let query: Vec<(String, String)> = spec
        .get("query")
        .and_then(Value::as_object)
        .map(|q| {
            q.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let started = Instant::now();
    let session = match client.websocket(path, query).await {
        Ok(s) => s,
        Err(e) => return Ok((from_error(e, started.elapsed()), None, false)),
    };
    let mut out = Outcome::default();
    // Sent at once, before the server's first event: held, and replayed on a fallback.
    for event in spec
        .get("send")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Err(e) = session.send(event.clone()).await {
            out.error = Some(e);
        }
    }
    let until = spec.get("until").and_then(Value::as_str);
    if out.error.is_none() {
        read(&session, spec, until, &mut out).await?;
    }
    out.credential = Some(session.credential().as_str().to_string());
    out.attempts = Some(session.attempts());
    out.elapsed = started.elapsed();
    let close = session.close_frame().map(|(code, _)| code);
    let logid = session.logid().is_some();
    session.close().await;
    Ok((out, close, logid))
}

/// Reads events until `until` (or the end, or an error); `on` answers an event with one to send.
async fn read(
    session: &WebSocketSession,
    spec: &Value,
    until: Option<&str>,
    out: &mut Outcome,
) -> Result<(), String> {
    let on: Vec<&Value> = spec
        .get("on")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    loop {
        match session.next().await {
            Ok(Some(event)) => {
                let name = event.event_type().unwrap_or("binary").to_string();
                for rule in &on {
                    check_keys(rule, &["event", "send"], "websocket.on")?;
                    if rule["event"].as_str() == Some(name.as_str())
                        && let Err(e) = session.send(rule["send"].clone()).await
                    {
                        out.error = Some(e);
                        return Ok(());
                    }
                }
                out.events.push(as_event(&event, &name));
                if until == Some(name.as_str()) {
                    return Ok(());
                }
            }
            Ok(None) => return Ok(()),
            Err(e) => {
                out.error = Some(e);
                return Ok(());
            }
        }
    }
}

fn as_event(event: &WsEvent, name: &str) -> Event {
    Event {
        event: name.to_string(),
        data: event.data().map(Value::to_string).unwrap_or_default(),
        id: event.id().map(str::to_string),
    }
}

fn check_ws(expect: &Value, out: &Outcome, close: Option<u16>, logid: bool) -> Result<(), String> {
    let names: Vec<&str> = out.events.iter().map(|e| e.event.as_str()).collect();
    if let Some(want) = expect.get("events") {
        let want: Vec<&str> = want
            .as_array()
            .ok_or("expect.events must be an array")?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        if want != names {
            return Err(format!("events: expected {want:?}, got {names:?}"));
        }
    }
    if let Some(code) = expect.get("close_code")
        && code.as_u64() != close.map(u64::from)
    {
        return Err(format!("close_code: expected {code}, got {close:?}"));
    }
    if let Some(want) = expect.get("logid").and_then(Value::as_bool)
        && want != logid
    {
        return Err(format!(
            "logid: expected present={want}, got present={logid}"
        ));
    }
    Ok(())
}

/// Checks the `websocket_*` keys of `expect_mock`; answers the rest for the HTTP checks.
pub(super) fn check_mock(expect: &Value, stats: &Value) -> Result<Value, String> {
    let mut rest = expect.clone();
    let Some(obj) = rest.as_object_mut() else {
        return Ok(rest);
    };
    let ws = &stats["websocket"];
    if let Some(want) = obj.remove("websocket_handshakes") {
        for (name, n) in want.as_object().ok_or("websocket_handshakes")? {
            let got = if name == "total" {
                ws["handshakes"].as_u64()
            } else {
                ws["by_credential"][name.as_str()].as_u64()
            }
            .unwrap_or(0);
            if Some(got) != n.as_u64() {
                return Err(format!(
                    "mock websocket_handshakes.{name}: expected {n}, got {got}"
                ));
            }
        }
    }
    if let Some(want) = obj.remove("websocket_sessions") {
        check_sessions(&want, &ws["sessions"])?;
    }
    Ok(rest)
}

/// Each wanted session's listed fields, in order; `received` / `received_ids` compare the client events.
fn check_sessions(want: &Value, got: &Value) -> Result<(), String> {
    let want = want
        .as_array()
        .ok_or("websocket_sessions must be an array")?;
    let got = got.as_array().cloned().unwrap_or_default();
    if want.len() != got.len() {
        return Err(format!(
            "mock websocket_sessions: expected {} session(s), got {}: {got:?}",
            want.len(),
            got.len()
        ));
    }
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        check_keys(
            w,
            &[
                "credential",
                "outcome",
                "status",
                "code",
                "pong",
                "received",
                "received_ids",
            ],
            "websocket_sessions[]",
        )?;
        for (key, value) in w.as_object().into_iter().flatten() {
            let actual = match key.as_str() {
                "received" => Value::from(field_list(&g["received"], "event_type")),
                "received_ids" => Value::from(field_list(&g["received"], "id")),
                other => g[other].clone(),
            };
            if &actual != value {
                return Err(format!(
                    "mock websocket_sessions[{i}].{key}: expected {value}, got {actual}"
                ));
            }
        }
    }
    Ok(())
}

fn field_list(received: &Value, field: &str) -> Vec<Value> {
    received
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r[field].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_websocket_scenario_passes() {
    let mock = MockServer::start(MockOptions::default())
        .await
        .expect("start the mock");
    let vars: HashMap<String, String> = placeholders(&serde_json::to_value(mock.info()).unwrap());
    let control = mock.control();
    let mut files: Vec<PathBuf> = std::fs::read_dir(scenario_dir().join("websocket"))
        .expect("tests/scenarios/websocket exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "expected at least 10 WebSocket scenarios, found {}",
        files.len()
    );
    let mut failed = Vec::new();
    for file in &files {
        let name = file.file_stem().unwrap().to_string_lossy().to_string();
        match run_scenario(file, &control, &vars, None).await {
            Ok(()) => println!("ok   {name}"),
            Err(e) => {
                println!("FAIL {name}: {e}");
                failed.push(format!("{name}: {e}"));
            }
        }
    }
    println!(
        "websocket scenarios: {} passed, {} failed",
        files.len() - failed.len(),
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} scenario(s) failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
