//! `cozefallback check`: the preflight (Coze's migration guide: 验证授权逻辑), judged for one phase of the move.
//!
//! 1. Proves each credential: gets its token (diagnosing a wrong region, an unregistered kid, a disabled app),
//!    then makes `GET /v1/users/me`, the read-only call of the official SDKs' `users.me()` that any valid token
//!    may make. A 4100 (or HTTP 401) there means the token is rejected.
//! 2. Tries each credential alone on each named resource with a read-only call.
//! 3. Judges readiness for the phase (`--phase before|after`, else inferred from who reaches the resources):
//!    before the move the enterprise credential must be valid but need not reach the workspace yet; after it,
//!    the enterprise credential must reach every resource. Exit 0 ready, 1 not ready.

use cozefallback::{
    Client, Config, CredentialConfig, CredentialKind, ErrorKind, Request, code_hint,
};
use serde_json::{Value, json};

use crate::common::{CliError, CliResult, Resource, block_on, load_config, resources};
use crate::{CheckArgs, Phase};

const KINDS: [CredentialKind; 2] = [CredentialKind::Personal, CredentialKind::Enterprise];

/// The read-only identity call that proves a token (`users.me()` in cozepy and coze-go).
const PROOF_PATH: &str = "/v1/users/me";

/// What proving one credential found.
enum Proof {
    /// The server accepted the token.
    Valid(String),
    /// No token could be had (JWT exchange refused, unreachable token endpoint).
    NoToken(String),
    /// The server rejected the token (4100 / HTTP 401).
    Rejected(String),
    /// The proof call failed for another reason (unreachable, timeout, unknown endpoint).
    Unverified(String),
}

impl Proof {
    fn valid(&self) -> bool {
        matches!(self, Proof::Valid(_))
    }
    fn state(&self) -> &'static str {
        match self {
            Proof::Valid(_) => "valid",
            Proof::NoToken(_) => "no_token",
            Proof::Rejected(_) => "rejected",
            Proof::Unverified(_) => "unverified",
        }
    }
    /// The state in words, after "the credential".
    fn words(&self) -> &'static str {
        match self {
            Proof::Valid(_) => "is valid",
            Proof::NoToken(_) => "has no token",
            Proof::Rejected(_) => "was rejected",
            Proof::Unverified(_) => "could not be verified",
        }
    }
    fn detail(&self) -> &str {
        match self {
            Proof::Valid(d) | Proof::NoToken(d) | Proof::Rejected(d) | Proof::Unverified(d) => d,
        }
    }
}

struct Cred {
    kind: CredentialKind,
    label: String,
    proof: Proof,
}

pub fn run(args: CheckArgs) -> CliResult {
    let resources = resources(&args.res)?;
    if let Some(id) = &args.conversation
        && (id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(CliError::Usage(format!(
            "--conversation {id:?} is not a Coze id (digits only)"
        )));
    }
    let config = load_config(&args.cfg)?;
    let described: Vec<(CredentialKind, String)> = KINDS
        .iter()
        .filter_map(|k| {
            let cfg = match k {
                CredentialKind::Personal => config.personal.as_ref(),
                CredentialKind::Enterprise => config.enterprise.as_ref(),
            }?;
            Some((*k, describe(cfg)))
        })
        .collect();
    let base = config.base_url.clone();
    let client = Client::new(config.clone()).map_err(|e| CliError::Usage(e.to_string()))?;
    block_on(async move {
        let mut creds = Vec::new();
        for (kind, label) in described {
            let proof = prove(&client, kind, &config).await;
            creds.push(Cred { kind, label, proof });
        }
        let rows = reach(&client, &creds, &resources).await;
        let grant = match &args.conversation {
            Some(id) => Some(conversation_grant(&client, &creds, id, &config).await),
            None => None,
        };
        let (phase, reason) = match args.phase {
            Some(p) => (p, "given with --phase".to_string()),
            None => infer_phase(&rows),
        };
        let (ok, problems, notes) = assess(phase, &creds, &rows);
        let verdict = verdict(phase, ok, &problems, &rows);
        if args.json {
            let tokens: serde_json::Map<String, Value> = creds
                .iter()
                .map(|c| {
                    let v = json!({"credential": c.label, "ok": c.proof.valid(), "state": c.proof.state(),
                                   "detail": c.proof.detail()});
                    (c.kind.as_str().to_string(), v)
                })
                .collect();
            let out = json!({"base_url": base, "phase": phase_name(phase), "phase_inferred": args.phase.is_none(),
                             "phase_reason": reason, "ok": ok, "tokens": tokens, "resources": rows,
                             "problems": problems, "notes": notes, "verdict": verdict,
                             "conversation_grant": grant});
            println!("{out}");
        } else {
            println!("cozefallback check against {base}");
            println!("phase: {} ({reason})", phase_words(phase));
            print_credentials(&creds);
            print_rows(&rows);
            for n in &notes {
                println!("  note: {n}");
            }
            if let Some(g) = &grant {
                println!("  conversations: {}", g["meaning"].as_str().unwrap_or(""));
            }
            println!();
            for p in &problems {
                println!("problem: {p}");
            }
            println!("{} {verdict}", if ok { "READY:" } else { "NOT READY:" });
        }
        if ok {
            Ok(())
        } else {
            Err(CliError::Failed(String::new()))
        }
    })
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Before => "before",
        Phase::After => "after",
    }
}

fn phase_words(p: Phase) -> &'static str {
    match p {
        Phase::Before => "before the move",
        Phase::After => "after the move",
    }
}

/// Gets the credential's token and proves it with the read-only identity call.
async fn prove(client: &Client, kind: CredentialKind, config: &Config) -> Proof {
    if let Err(e) = client.fetch_token(kind).await {
        return Proof::NoToken(diagnose_token(&e, config));
    }
    match client.request_with(kind, Request::get(PROOF_PATH)).await {
        Ok(resp) => {
            let user = resp
                .json()
                .ok()
                .and_then(|j| j["data"]["user_name"].as_str().map(str::to_string));
            Proof::Valid(match user {
                Some(u) => format!("accepted by {PROOF_PATH} (user {u})"),
                None => format!("accepted by {PROOF_PATH}"),
            })
        }
        Err(e) if e.code() == Some(4100) || e.http_status() == Some(401) => {
            Proof::Rejected(format!(
                "the server answered {}: {}",
                e.code().map_or("HTTP 401".to_string(), |c| c.to_string()),
                code_hint(4100).unwrap_or("the token is rejected")
            ))
        }
        // Authenticated, but the token's scope does not include user info: the token itself is good.
        Err(e) if e.code() == Some(4101) || e.http_status() == Some(403) => Proof::Valid(format!(
            "authenticated ({PROOF_PATH} answered no permission: the token lacks that scope)"
        )),
        Err(e) if e.http_status() == Some(404) => Proof::Unverified(format!(
            "unverified: the server has no {PROOF_PATH} (HTTP 404)"
        )),
        Err(e) => match e.kind() {
            ErrorKind::Transport | ErrorKind::Timeout => {
                Proof::Unverified(format!("cannot reach {}: {}", config.base_url, e.message()))
            }
            _ => Proof::Unverified(format!("unverified: {e}")),
        },
    }
}

/// Whether the enterprise credential reaches a personal conversation (the guide's grant of the personal
/// account's resources to the enterprise app), and what that means for conversations after the move.
async fn conversation_grant(client: &Client, creds: &[Cred], id: &str, config: &Config) -> Value {
    let mut reached = json!({});
    for c in creds.iter().filter(|c| c.proof.valid()) {
        let req = Request::get("/v1/conversation/retrieve").query("conversation_id", id);
        reached[c.kind.as_str()] = match client.request_with(c.kind, req).await {
            Ok(_) => json!({"ok": true}),
            Err(e) => json!({"ok": false, "code": e.code(), "detail": e.message()}),
        };
    }
    let ok = |k: &str| reached[k]["ok"] == json!(true);
    let mode = config.conversations.on_stranded.as_str();
    let (granted, meaning) = match (ok("personal"), ok("enterprise")) {
        (true, true) => (
            true,
            format!(
                "granted: the enterprise credential reaches personal conversation {id}; after the move the plain              fallback serves chats in it and nothing is carried over"
            ),
        ),
        (true, false) => (
            false,
            format!(
                "not granted: the enterprise credential cannot reach personal conversation {id}; after the move a chat              in it is stranded and conversations.on_stranded = \"{mode}\" decides (carry_over copies up to {}              messages into a new enterprise conversation)",
                config.conversations.carry_over_messages
            ),
        ),
        (false, true) => (
            false,
            format!(
                "conversation {id} is reachable by the enterprise credential only: it is not a personal conversation"
            ),
        ),
        (false, false) => (
            false,
            format!("neither credential reaches conversation {id}: check the id"),
        ),
    };
    json!({"conversation_id": id, "granted": granted, "by_credential": reached, "meaning": meaning})
}

/// Tries each proven credential alone on each resource (no fallback).
async fn reach(client: &Client, creds: &[Cred], resources: &[Resource]) -> Vec<Value> {
    let mut rows = Vec::new();
    for r in resources {
        let mut row = serde_json::Map::new();
        row.insert("resource".into(), r.kind.into());
        row.insert("id".into(), r.id.clone().into());
        for c in creds {
            let cell = if !c.proof.valid() {
                json!({"ok": false, "detail": format!("not tried: credential {}", c.proof.state().replace('_', " "))})
            } else {
                match client.request_with(c.kind, r.request()).await {
                    Ok(resp) => json!({"ok": true, "detail": "reachable", "logid": resp.logid}),
                    Err(e) => {
                        json!({"ok": false, "code": e.code(), "detail": diagnose_call(&e, r), "logid": e.logid()})
                    }
                }
            };
            row.insert(c.kind.as_str().into(), cell);
        }
        rows.push(Value::Object(row));
    }
    rows
}

fn reaches(row: &Value, kind: &str) -> bool {
    row[kind]["ok"] == json!(true)
}

fn row_name(row: &Value) -> String {
    format!(
        "{} {}",
        row["resource"].as_str().unwrap_or(""),
        row["id"].as_str().unwrap_or("")
    )
}

/// Before the move the personal credential reaches the workspace and the enterprise one does not yet; after
/// it the enterprise one does.
fn infer_phase(rows: &[Value]) -> (Phase, String) {
    if let Some(row) = rows
        .iter()
        .find(|r| reaches(r, "personal") && !reaches(r, "enterprise"))
    {
        return (
            Phase::Before,
            format!(
                "inferred: the personal credential reaches {}, the enterprise one does not yet",
                row_name(row)
            ),
        );
    }
    if let Some(row) = rows.iter().find(|r| reaches(r, "enterprise")) {
        return (
            Phase::After,
            format!(
                "inferred: the enterprise credential reaches {}",
                row_name(row)
            ),
        );
    }
    let why = if rows.is_empty() {
        "no resource named"
    } else {
        "no credential reaches the named resources"
    };
    (
        Phase::Before,
        format!("assumed: {why}; name --bot/--workflow or give --phase"),
    )
}

/// Ready or not for `phase`: the problems that block it, and notes that do not.
fn assess(phase: Phase, creds: &[Cred], rows: &[Value]) -> (bool, Vec<String>, Vec<String>) {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let find = |k: CredentialKind| creds.iter().find(|c| c.kind == k);
    match find(CredentialKind::Enterprise) {
        None => problems.push(
            "no enterprise credential is configured: nothing would serve the workspace after the move".into(),
        ),
        Some(c) if !c.proof.valid() => problems.push(format!(
            "the enterprise credential {} ({}): after the move every call would fail",
            c.proof.words(),
            c.proof.detail()
        )),
        Some(_) => {}
    }
    if let Some(c) = find(CredentialKind::Personal).filter(|c| !c.proof.valid()) {
        let text = format!(
            "the personal credential {} ({})",
            c.proof.words(),
            c.proof.detail()
        );
        match phase {
            Phase::Before => {
                problems.push(format!("{text}: before the move it serves the workspace"))
            }
            Phase::After => notes.push(format!("{text}; after the move that is expected")),
        }
    }
    for row in rows {
        let (p, e) = (reaches(row, "personal"), reaches(row, "enterprise"));
        match phase {
            Phase::Before if !p && !e => {
                problems.push(format!("no credential reaches {}", row_name(row)))
            }
            Phase::Before if p && !e => notes.push(format!(
                "the enterprise credential cannot reach {} yet: expected before the move",
                row_name(row)
            )),
            Phase::After if !e => problems.push(format!(
                "the enterprise credential cannot reach {}: after the move that is an outage",
                row_name(row)
            )),
            _ => {}
        }
    }
    (problems.is_empty(), problems, notes)
}

fn verdict(phase: Phase, ok: bool, problems: &[String], rows: &[Value]) -> String {
    match (ok, phase) {
        (false, _) => format!(
            "{} problem(s) for {}; exit status 1",
            problems.len(),
            phase_words(phase)
        ),
        (true, Phase::Before) if rows.is_empty() => {
            "both credentials are valid; name --bot/--workflow/--workspace to check who reaches them".into()
        }
        (true, Phase::Before) => {
            "both credentials are valid and the workspace is served: ready to move".into()
        }
        (true, Phase::After) => "the enterprise credential is valid and reaches every resource".into(),
    }
}

fn cell_text(v: &Value) -> String {
    if v.is_null() {
        return "(not configured)".into();
    }
    if v["ok"] == json!(true) {
        "ok".into()
    } else {
        format!("NO: {}", v["detail"].as_str().unwrap_or(""))
    }
}

fn print_credentials(creds: &[Cred]) {
    println!("\ncredentials (each proven with GET {PROOF_PATH}, read-only)");
    for c in creds {
        let state = match &c.proof {
            Proof::Valid(d) => format!("valid: {d}"),
            Proof::NoToken(d) => format!("NO TOKEN: {d}"),
            Proof::Rejected(d) => format!("REJECTED: {d}"),
            Proof::Unverified(d) => format!("UNVERIFIED: {d}"),
        };
        println!("  {:<11} {}", c.kind.as_str(), c.label);
        println!("  {:<11} {state}", "");
    }
}

fn print_rows(rows: &[Value]) {
    if rows.is_empty() {
        return;
    }
    println!("\nwho reaches what (one read-only call per credential, no fallback)");
    for row in rows {
        println!("  {}", row_name(row));
        for kind in ["personal", "enterprise"] {
            println!("    {kind:<11} {}", cell_text(&row[kind]));
        }
    }
}

fn describe(cfg: &CredentialConfig) -> String {
    match cfg {
        CredentialConfig::Pat { .. } => "pat".into(),
        CredentialConfig::Jwt {
            client_id,
            account_id,
            enterprise_id,
            ..
        } => match (account_id, enterprise_id) {
            (Some(a), _) => format!("jwt app {client_id} -> account {a}"),
            (None, Some(e)) => format!("jwt app {client_id} -> enterprise {e}"),
            (None, None) => format!("jwt app {client_id}"),
        },
        CredentialConfig::Oauth { client_id, .. } => format!("oauth user token (app {client_id})"),
    }
}

fn region_note(config: &Config) -> String {
    let host = config
        .base_url
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let other = if host.contains("coze.cn") {
        "an app registered on coze.com needs https://api.coze.com"
    } else if host.contains("coze.com") {
        "an app registered on coze.cn needs https://api.coze.cn"
    } else {
        "apps from coze.cn need https://api.coze.cn, apps from coze.com need https://api.coze.com"
    };
    format!("base_url is {}; {other}", config.base_url)
}

/// Says in words why a token could not be minted.
fn diagnose_token(e: &cozefallback::Error, config: &Config) -> String {
    let msg = e.message().to_ascii_lowercase();
    match (e.kind(), e.oauth_error()) {
        (ErrorKind::Auth, _) if msg.contains("disabled") => {
            "the OAuth app is disabled: enable it again (Coze's migration guide warns never to disable or delete the personal app: \
             enterprise access goes through it)"
                .into()
        }
        (ErrorKind::Auth, _) if msg.contains("kid") => format!(
            "the public key id (kid) is not registered for this app: check public_key_id / COZE_JWT_OAUTH_PUBLIC_KEY_ID, \
             or the app lives in the other region ({})",
            region_note(config)
        ),
        (ErrorKind::Auth, Some("access_denied")) => {
            "the app is not authorized for this account or enterprise: the enterprise admin must authorize the app \
             for the enterprise with all workspaces (Coze's migration guide, step 2: 重新授权 OAuth 应用)"
                .into()
        }
        (ErrorKind::Auth, Some("invalid_client")) => format!(
            "the app rejected the JWT: wrong client id or private key, or wrong region ({})",
            region_note(config)
        ),
        (ErrorKind::Auth, _) => format!("the token endpoint refused: {}", e.message()),
        (ErrorKind::Transport | ErrorKind::Timeout, _) => format!("cannot reach {}: {}", config.base_url, e.message()),
        _ => e.message().to_string(),
    }
}

/// Says in words why a credential could not reach a resource.
fn diagnose_call(e: &cozefallback::Error, r: &Resource) -> String {
    match e.code() {
        Some(4000) if e.http_status() == Some(404) => {
            format!(
                "unverified: the server has no read-only endpoint for a {} (HTTP 404)",
                r.kind
            )
        }
        Some(c) => match code_hint(c) {
            Some(hint) => format!("error {c} on the {}: {hint}", r.kind),
            None => format!("error {c}: {}", e.message()),
        },
        None => e.message().to_string(),
    }
}
