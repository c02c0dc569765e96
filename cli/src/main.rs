//! `cozefallback`: a live-migration demo on the embedded mock, the standalone mock, a preflight check, single
//! calls through the fallback client, and Prometheus metrics.
//!
//! Exit status: 0 success; 1 the command ran and found a failure (a failed request, an unreachable resource);
//! 2 bad input (an unknown flag, a missing or invalid config, an unreadable key, a bad URL).

mod call;
mod check;
mod common;
mod demo;
mod fleetdemo;
mod logging;
mod metrics;
mod mockcmd;
mod modecmd;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use common::CliError;

/// The command line: global flags and one subcommand.
#[derive(Parser)]
#[command(
    name = "cozefallback",
    version,
    about = "Coze OpenAPI calls that fall back between a personal and an enterprise credential during a workspace move",
    after_help = "Start here: `cozefallback demo` replays the workspace move on an embedded mock Coze.\n\
                  Exit status: 0 ok, 1 a request or check failed, 2 bad input."
)]
struct Cli {
    /// Log the core's decisions on stderr: -v info (fallbacks, mode changes), -vv debug (token mints),
    /// -vvv everything. Without it RUST_LOG applies (default: warnings). Tokens are never printed.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    cmd: Cmd,
}

/// The subcommands.
#[derive(Subcommand)]
enum Cmd {
    /// Replay the three steps of Coze's migration guide on an embedded mock Coze: before, move, cut-over.
    Demo(DemoArgs),
    /// Run the mock Coze standalone and print `export` lines to paste into a shell.
    Mock(MockArgs),
    /// Preflight: prove each credential, try each one on each resource, say if ready for the phase.
    Check(CheckArgs),
    /// Send one request through the fallback client; the body goes to stdout, who served it to stderr.
    Call(CallArgs),
    /// Probe resources through the fallback client and serve its Prometheus metrics on loopback.
    Metrics(MetricsArgs),
    /// Print the fleet's shared routing mode (Redis state store); `mode set MODE` sets it for every process.
    Mode(ModeArgs),
    /// Print the JSON Schema of the config document (for editors and validators), then exit.
    ConfigSchema,
}

/// `cozefallback mode`: the fleet's Redis and key prefix, and what to do with the mode there.
#[derive(Args)]
pub struct ModeArgs {
    /// `set MODE`; without it, the mode is printed.
    #[command(subcommand)]
    pub action: Option<ModeAction>,
    /// The fleet's Redis, redis://host:port/db, redis://user:password@host:port/db or rediss://
    /// (default: COZE_FALLBACK_REDIS_URL, or the state section of --config).
    #[arg(long, value_name = "URL", global = true)]
    pub redis_url: Option<String>,
    /// The fleet's key prefix (default: the config's, else cozefallback:).
    #[arg(long, value_name = "PREFIX", global = true)]
    pub key_prefix: Option<String>,
    /// A JSON config file whose `state` section names the Redis.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Print one JSON object instead of a sentence.
    #[arg(long, global = true)]
    pub json: bool,
}

/// What `cozefallback mode` does besides printing the mode.
#[derive(Subcommand)]
pub enum ModeAction {
    /// Set the mode of every process on the Redis and prefix: personal_first, enterprise_first, personal_only,
    /// enterprise_only.
    Set {
        /// The new mode.
        mode: String,
    },
}

/// `cozefallback demo`: credentials, traffic, output and the optional metrics server and fleet.
#[derive(Args)]
pub struct DemoArgs {
    /// Use personal access tokens instead of the JWT app (account -> enterprise).
    #[arg(long)]
    pub pat: bool,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Requests in total (the move happens at half, the cut-over at 90%).
    #[arg(long, default_value_t = 5000)]
    pub requests: usize,
    /// Print one JSON object (the last line of stdout) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also run the same traffic the way Coze's migration guide writes it by hand (two clients, retry on
    /// 4100/4101), for comparison. (`--compare-seed` is its old name.)
    #[arg(long = "compare-guide", alias = "compare-seed")]
    pub compare_seed: bool,
    /// Serve the client's Prometheus metrics at http://ADDR/metrics while the demo runs (loopback only).
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<String>,
    /// Keep serving --metrics-addr for this many seconds after the demo ends.
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub linger: u64,
    /// Run a fleet of N processes sharing their state on one Redis instead: the move costs one extra round trip
    /// per resource for the whole fleet, and `mode set enterprise_only` cuts every process over (docs/FLEET.md).
    #[arg(long, value_name = "N")]
    pub processes: Option<usize>,
    /// The fleet demo's Redis (default: COZE_FALLBACK_REDIS_URL, else a redis-server of its own from PATH).
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,
}

/// `cozefallback mock`: where the standalone mock listens and writes its keys.
#[derive(Args)]
pub struct MockArgs {
    /// TCP port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Where to write the JWT app's key pair (default: a fresh temporary directory).
    #[arg(long, value_name = "DIR")]
    pub keys_dir: Option<PathBuf>,
    /// Serve HTTPS (HTTP/2 and HTTP/1.1) with a certificate signed by a CA generated at start; the exports then
    /// include SSL_CERT_FILE naming that CA.
    #[arg(long)]
    pub tls: bool,
}

/// Where the client configuration comes from.
#[derive(Args, Clone)]
pub struct ConfigArgs {
    /// JSON config file (the schema shared by every binding). Default: the COZE_* environment variables.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override the routing mode: personal_first, enterprise_first, personal_only, enterprise_only.
    #[arg(long)]
    pub mode: Option<String>,
}

/// Resources to check or probe.
#[derive(Args, Clone)]
pub struct ResourceArgs {
    /// A bot id (repeatable).
    #[arg(long = "bot", value_name = "ID")]
    pub bots: Vec<String>,
    /// A workflow id (repeatable).
    #[arg(long = "workflow", value_name = "ID")]
    pub workflows: Vec<String>,
    /// A workspace id (repeatable).
    #[arg(long = "workspace", value_name = "ID")]
    pub workspaces: Vec<String>,
}

/// Where the workspace is in its move, for `check`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Phase {
    /// The workspace still lives with the personal account.
    Before,
    /// The workspace has moved to the enterprise.
    After,
}

/// `cozefallback check`: the config, the resources to try and the phase to judge readiness for.
#[derive(Args)]
pub struct CheckArgs {
    /// The client configuration.
    #[command(flatten)]
    pub cfg: ConfigArgs,
    /// The resources to try each credential on.
    #[command(flatten)]
    pub res: ResourceArgs,
    /// Judge readiness for this phase of the move (default: inferred from who reaches the resources).
    #[arg(long, value_enum)]
    pub phase: Option<Phase>,
    /// A conversation created with the personal credential: reports whether the enterprise credential reaches
    /// it (the grant of the personal account's resources) and what that means for conversations after the move.
    #[arg(long, value_name = "ID")]
    pub conversation: Option<String>,
    /// Print one JSON object (the last line of stdout) instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// `cozefallback call`: the config and the one request to send.
#[derive(Args)]
pub struct CallArgs {
    /// The client configuration.
    #[command(flatten)]
    pub cfg: ConfigArgs,
    /// HTTP method (GET, POST, ...).
    pub method: String,
    /// Path below the base URL, such as /v3/chat.
    pub path: String,
    /// A query parameter KEY=VALUE (repeatable).
    #[arg(long = "query", value_name = "KEY=VALUE")]
    pub query: Vec<String>,
    /// A header "Name: value" (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// JSON body, or @FILE to read it from a file.
    #[arg(long, value_name = "BODY|@FILE", conflicts_with = "file")]
    pub json: Option<String>,
    /// Upload this file as multipart/form-data, part `file`.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Read a server-sent event stream; events go to stdout one JSON object per line.
    #[arg(long)]
    pub stream: bool,
}

/// `cozefallback metrics`: the config, the resources to probe and where to serve the metrics.
#[derive(Args)]
pub struct MetricsArgs {
    /// The client configuration.
    #[command(flatten)]
    pub cfg: ConfigArgs,
    /// The resources each probe round reaches.
    #[command(flatten)]
    pub res: ResourceArgs,
    /// Loopback address to serve http://ADDR/metrics on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9464")]
    pub addr: String,
    /// Seconds between two probe rounds.
    #[arg(long, value_name = "SECS", default_value_t = 15)]
    pub interval: u64,
    /// One probe round, print the Prometheus text to stdout and exit (no server).
    #[arg(long)]
    pub once: bool,
}

fn main() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        eprintln!(
            "cozefallback: internal error: {}",
            cozefallback::redact(&msg)
        );
    }));
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind as K;
            if matches!(
                e.kind(),
                K::DisplayHelp | K::DisplayVersion | K::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let code = if e.kind() == K::DisplayHelpOnMissingArgumentOrSubcommand {
                    2
                } else {
                    0
                };
                let _ = e.print();
                std::process::exit(code);
            }
            // clap's message, on one line: the problem and what it names, without the usage block and tips.
            let text = e.to_string();
            let parts: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
                .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
                .collect();
            let line = parts.join(" ");
            let line = line.trim_start_matches("error:").trim();
            let line = if line.is_empty() {
                "invalid arguments"
            } else {
                line
            };
            eprintln!("cozefallback: {line} (see cozefallback --help)");
            std::process::exit(2);
        }
    };
    logging::init(cli.verbose);
    let result = match cli.cmd {
        Cmd::Demo(a) => match (std::env::var(fleetdemo::WORKER_ENV), a.processes) {
            (Ok(config), _) => fleetdemo::worker(&config),
            (_, Some(n)) => fleetdemo::run(a, n),
            _ => demo::run(a),
        },
        Cmd::Mock(a) => mockcmd::run(a),
        Cmd::Check(a) => check::run(a),
        Cmd::Call(a) => call::run(a),
        Cmd::Metrics(a) => metrics::run(a),
        Cmd::Mode(a) => modecmd::run(a),
        Cmd::ConfigSchema => {
            // The core's text as checked in, so `cozefallback config-schema > config.schema.json` is that file.
            print!("{}", cozefallback::CONFIG_SCHEMA);
            Ok(())
        }
    };
    match result {
        Ok(()) => {}
        Err(CliError::Usage(msg)) => {
            eprintln!("cozefallback: {msg}");
            std::process::exit(2);
        }
        Err(CliError::Failed(msg)) => {
            if !msg.is_empty() {
                eprintln!("cozefallback: {msg}");
            }
            std::process::exit(1);
        }
    }
}
