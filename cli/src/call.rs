//! `cozefallback call METHOD PATH`: one request through the fallback client.

use std::io::Write;

use cozefallback::{Body, Multipart, Request};

use crate::CallArgs;
use crate::common::{CliError, CliResult, block_on, core_err, io_reason, load_client};

pub fn run(args: CallArgs) -> CliResult {
    let req = build_request(&args)?;
    let client = load_client(&args.cfg)?;
    block_on(async move {
        let mut stdout = std::io::stdout().lock();
        if args.stream {
            let mut stream = client.stream(req).await.map_err(|e| report(&e))?;
            loop {
                match stream.next().await {
                    Ok(Some(ev)) => {
                        let data = serde_json::from_str::<serde_json::Value>(&ev.data)
                            .unwrap_or_else(|_| serde_json::Value::String(ev.data.clone()));
                        let mut line = serde_json::json!({"event": ev.event, "data": data});
                        if let Some(id) = &ev.id {
                            line["id"] = id.clone().into();
                        }
                        let _ = writeln!(stdout, "{line}");
                        let _ = stdout.flush();
                    }
                    Ok(None) => break,
                    Err(e) => return Err(report(&e)),
                }
            }
            print_moved(stream.conversation_moved());
            eprintln!(
                "credential={} attempts={} events={} logid={}",
                stream.credential(),
                stream.attempts(),
                stream.events_delivered(),
                stream.logid().unwrap_or("-")
            );
        } else {
            let resp = client.request(req).await.map_err(|e| report(&e))?;
            let _ = stdout.write_all(&resp.body);
            if !resp.body.ends_with(b"\n") {
                let _ = stdout.write_all(b"\n");
            }
            let _ = stdout.flush();
            print_moved(resp.conversation_moved.as_ref());
            eprintln!(
                "credential={} attempts={} status={} logid={}",
                resp.credential,
                resp.attempts,
                resp.status,
                resp.logid.as_deref().unwrap_or("-")
            );
        }
        Ok(())
    })
}

/// A carried-over conversation: one stderr line, so a script can store the new id.
fn print_moved(moved: Option<&cozefallback::ConversationMoved>) {
    if let Some(m) = moved {
        eprintln!(
            "conversation_moved from={} to={} messages_copied={}",
            m.from, m.to, m.messages_copied
        );
    }
}

/// Prints who failed it on stderr and turns the error into an exit status.
fn report(e: &cozefallback::Error) -> CliError {
    let mut details = Vec::new();
    if let Some(c) = e.credential() {
        details.push(format!("credential={c}"));
    }
    if let Some(c) = e.code() {
        details.push(format!("code={c}"));
    }
    if let Some(s) = e.http_status() {
        details.push(format!("status={s}"));
    }
    if let Some(l) = e.logid() {
        details.push(format!("logid={l}"));
    }
    let err = core_err(e.clone());
    if !details.is_empty() {
        eprintln!("{}", details.join(" "));
    }
    err
}

fn build_request(args: &CallArgs) -> CliResult<Request> {
    let method = args.method.trim().to_ascii_uppercase();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(CliError::Usage(format!(
            "{:?} is not an HTTP method",
            args.method
        )));
    }
    // The path rules (a leading slash optional, no dot segments, no control characters) are the core's.
    let mut req = Request::new(method, args.path.clone());
    for q in &args.query {
        let (k, v) = q
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| CliError::Usage(format!("--query expects KEY=VALUE, got {q:?}")))?;
        req = req.query(k, v);
    }
    for h in &args.headers {
        let (k, v) = h
            .split_once(':')
            .filter(|(k, _)| !k.trim().is_empty())
            .ok_or_else(|| {
                CliError::Usage(format!("--header expects \"Name: value\", got {h:?}"))
            })?;
        req = req.header(k.trim(), v.trim());
    }
    if let Some(body) = &args.json {
        let text = match body.strip_prefix('@') {
            Some(path) => std::fs::read_to_string(path).map_err(|e| {
                CliError::Usage(format!("--json @{path}: cannot read: {}", io_reason(&e)))
            })?,
            None => body.clone(),
        };
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| CliError::Usage(format!("--json is not valid JSON: {e}")))?;
        req = req.json(value);
    }
    if let Some(path) = &args.file {
        let data = std::fs::read(path).map_err(|e| {
            CliError::Usage(format!(
                "--file {}: cannot read: {}",
                path.display(),
                io_reason(&e)
            ))
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
        req.body = Body::Multipart(Multipart::file(name, data));
    }
    Ok(req)
}
