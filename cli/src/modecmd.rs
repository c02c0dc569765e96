//! `cozefallback mode` and `cozefallback mode set MODE`: the fleet's shared routing mode on Redis
//! (docs/FLEET.md). The core reads and writes it; this only translates.

use std::time::{SystemTime, UNIX_EPOCH};

use cozefallback::{Config, Mode, RedisUrl, StateConfig};

use crate::common::{CliError, CliResult, block_on, core_err, io_reason};
use crate::{ModeAction, ModeArgs};

pub fn run(args: ModeArgs) -> CliResult {
    let state = state_of(&args)?;
    let prefix = state.key_prefix.clone();
    match &args.action {
        None => {
            let stored = block_on(cozefallback::fleet_mode(&state)).map_err(core_err)?;
            match stored {
                Some(m) if args.json => println!(
                    "{}",
                    serde_json::json!({"mode": m.mode.as_str(), "set_at_unix_ms": m.set_at_unix_ms, "key_prefix": prefix})
                ),
                Some(m) => println!(
                    "{} (set {} ago; fleet {prefix})",
                    m.mode,
                    ago(m.set_at_unix_ms)
                ),
                None if args.json => println!(
                    "{}",
                    serde_json::json!({"mode": null, "key_prefix": prefix})
                ),
                None => println!(
                    "no fleet mode is stored for {prefix}: each process uses its configured mode"
                ),
            }
        }
        Some(ModeAction::Set { mode }) => {
            let mode: Mode = mode
                .parse()
                .map_err(|e: cozefallback::Error| CliError::Usage(e.to_string()))?;
            let set = block_on(cozefallback::set_fleet_mode(&state, mode)).map_err(core_err)?;
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({"mode": set.mode.as_str(), "set_at_unix_ms": set.set_at_unix_ms, "key_prefix": prefix})
                );
            } else {
                println!(
                    "fleet {prefix} set to {}: every connected process follows within a second",
                    set.mode
                );
            }
        }
    }
    Ok(())
}

/// `--redis-url`, else the `state` of `--config FILE`, else `COZE_FALLBACK_REDIS_URL`; `--key-prefix` wins.
fn state_of(args: &ModeArgs) -> CliResult<StateConfig> {
    let mut state = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                CliError::Usage(format!(
                    "cannot read config file {}: {}",
                    path.display(),
                    io_reason(&e)
                ))
            })?;
            Config::from_json(&text)
                .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?
                .state
        }
        None => StateConfig::default(),
    };
    if let Some(url) = &args.redis_url {
        let url = RedisUrl::new(url.clone());
        url.check("--redis-url").map_err(core_err)?;
        state.redis_url = Some(url);
    }
    if let Some(p) = &args.key_prefix {
        state.key_prefix = p.clone();
    }
    if state.redis_url.is_none() && std::env::var_os(cozefallback::REDIS_URL_ENV).is_none() {
        return Err(CliError::Usage(format!(
            "no Redis to ask: pass --redis-url redis://HOST:6379/0, or set {}, or --config a file with a state section",
            cozefallback::REDIS_URL_ENV
        )));
    }
    Ok(state)
}

fn ago(at_ms: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let secs = now.saturating_sub(at_ms) / 1000;
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        _ => format!("{} h", secs / 3600),
    }
}
