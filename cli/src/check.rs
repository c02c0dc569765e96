//! `cozefallback check`: the preflight before the move (seed: 验证授权逻辑).
//!
//! Mints each credential's token (diagnosing a wrong region, an unregistered kid, a disabled app), then tries
//! each credential alone on each resource with a read-only call, and prints who reaches what. Exit status 1
//! when the enterprise credential cannot reach a resource: after the move that is an outage.

use cozefallback::{Client, Config, CredentialConfig, CredentialKind, ErrorKind};
use serde_json::{Value, json};

use crate::CheckArgs;
use crate::common::{CliError, CliResult, Resource, block_on, load_config, resources};

const KINDS: [CredentialKind; 2] = [CredentialKind::Personal, CredentialKind::Enterprise];

pub fn run(args: CheckArgs) -> CliResult {
    let resources = resources(&args.res)?;
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
        let mut tokens = serde_json::Map::new();
        let mut token_ok = [false, false];
        for (kind, label) in &described {
            let entry = match client.fetch_token(*kind).await {
                Ok(()) => {
                    token_ok[idx(*kind)] = true;
                    json!({"credential": label, "ok": true, "detail": if label.starts_with("pat") { "personal access token (nothing to mint)" } else { "token minted" }})
                }
                Err(e) => {
                    json!({"credential": label, "ok": false, "detail": diagnose_token(&e, &config), "error": e.to_string()})
                }
            };
            tokens.insert(kind.as_str().into(), entry);
        }
        let mut rows = Vec::new();
        for r in &resources {
            let mut row = serde_json::Map::new();
            row.insert("resource".into(), r.kind.into());
            row.insert("id".into(), r.id.clone().into());
            for (kind, _) in &described {
                let cell = if !token_ok[idx(*kind)] {
                    json!({"ok": false, "detail": "no token"})
                } else {
                    match client.request_with(*kind, r.request()).await {
                        Ok(resp) => json!({"ok": true, "detail": "reachable", "logid": resp.logid}),
                        Err(e) => {
                            json!({"ok": false, "code": e.code(), "detail": diagnose_call(&e, r), "logid": e.logid()})
                        }
                    }
                };
                row.insert(kind.as_str().into(), cell);
            }
            rows.push(Value::Object(row));
        }
        let has_enterprise = described
            .iter()
            .any(|(k, _)| *k == CredentialKind::Enterprise);
        let enterprise_token = token_ok[1];
        let unreachable: Vec<String> = rows
            .iter()
            .filter(|row| row["enterprise"]["ok"] != json!(true))
            .map(|row| {
                format!(
                    "{} {}",
                    row["resource"].as_str().unwrap_or(""),
                    row["id"].as_str().unwrap_or("")
                )
            })
            .collect();
        let ok = has_enterprise && enterprise_token && unreachable.is_empty();
        let verdict = if !has_enterprise {
            "no enterprise credential is configured: nothing would serve the workspace after the move".to_string()
        } else if !enterprise_token {
            "the enterprise credential cannot get a token: after the move every call would fail"
                .to_string()
        } else if !unreachable.is_empty() {
            format!(
                "the enterprise credential cannot reach {} of {} resource(s) ({}): after the move that is an outage",
                unreachable.len(),
                rows.len(),
                unreachable.join(", ")
            )
        } else if rows.is_empty() {
            "tokens ok; name resources with --bot, --workflow, --workspace to check who reaches them".to_string()
        } else {
            "the enterprise credential reaches every resource: ready to move".to_string()
        };
        if args.json {
            let out = json!({"base_url": base, "ok": ok, "tokens": tokens, "resources": rows, "verdict": verdict});
            println!("{out}");
        } else {
            print_table(&base, &described, &tokens, &rows);
            println!("\n{} {verdict}", if ok { "OK:" } else { "NOT READY:" });
        }
        if ok {
            Ok(())
        } else {
            Err(CliError::Failed(String::new()))
        }
    })
}

fn idx(k: CredentialKind) -> usize {
    match k {
        CredentialKind::Personal => 0,
        CredentialKind::Enterprise => 1,
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
            "the OAuth app is disabled: enable it again (the seed warns never to disable or delete the personal app: \
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
             for the enterprise with all workspaces (seed, step 2: 重新授权 OAuth 应用)"
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
        Some(4100) => {
            "token rejected (4100): invalid, expired, or issued in the other region".into()
        }
        Some(4101) => "no permission (4101)".into(),
        Some(4200) => format!("not found (4200): no such {} for this credential", r.kind),
        Some(c @ (4001 | 4002 | 4005 | 4006 | 4015)) => format!("not found or no permission ({c})"),
        Some(4000) if e.http_status() == Some(404) => {
            format!(
                "unverified: the server has no read-only endpoint for a {} (HTTP 404)",
                r.kind
            )
        }
        Some(c) => format!("error {c}: {}", e.message()),
        None => e.message().to_string(),
    }
}

fn cell_text(v: &Value) -> String {
    if v.is_null() {
        return "(not configured)".into();
    }
    let detail = v["detail"].as_str().unwrap_or("");
    if v["ok"] == json!(true) {
        "ok".into()
    } else {
        format!("NO: {detail}")
    }
}

fn print_table(
    base: &str,
    described: &[(CredentialKind, String)],
    tokens: &serde_json::Map<String, Value>,
    rows: &[Value],
) {
    println!("cozefallback check against {base}\n");
    println!("tokens");
    for (kind, label) in described {
        let t = &tokens[kind.as_str()];
        let state = if t["ok"] == json!(true) {
            "ok".to_string()
        } else {
            format!("FAILED: {}", t["detail"].as_str().unwrap_or(""))
        };
        println!("  {:<11} {:<56} {state}", kind.as_str(), label);
    }
    if rows.is_empty() {
        return;
    }
    println!("\nwho reaches what (one read-only call per credential, no fallback)");
    println!("  {:<30} {:<34} enterprise", "resource", "personal");
    for row in rows {
        let name = format!(
            "{} {}",
            row["resource"].as_str().unwrap_or(""),
            row["id"].as_str().unwrap_or("")
        );
        println!(
            "  {:<30} {:<34} {}",
            name,
            cell_text(&row["personal"]),
            cell_text(&row["enterprise"])
        );
        let before_move =
            row["personal"]["ok"] == json!(true) && row["enterprise"]["code"] == json!(4101);
        if before_move {
            println!(
                "  {:<30} (expected before the move: the resource still lives in the personal workspace)",
                ""
            );
        }
    }
}
