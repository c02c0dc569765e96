//! `cozefallback demo`: the three steps of Coze's migration guide, replayed on an embedded mock Coze.
//!
//! 1. `before_move`: the workspace lives with the personal account; the client runs `personal_first`.
//! 2. `after_move`: at half of the requests the workspace moves to the enterprise (the mock's switch), while
//!    requests are in flight. The client falls back once per resource and then routes it straight to the
//!    enterprise; conversations stay with the credential that created them.
//! 3. `settled`: at 90% the operator retires the old credential: `set_mode(enterprise_only)`.
//!
//! Traffic: chat, streaming chat, workflow run, upload, conversation create, retrieve and message list. As
//! Coze's migration guide advises (conversations belong to their creator; after the move the bot cannot use the personal ones),
//! the app retrieves and lists the conversations created before the move only until the move, and the ones created by
//! the enterprise after it. But its end users keep chatting in their conversations from before the move (one
//! chat in ten): the client carries each of those over once (`conversations.on_stranded`, default
//! `carry_over`), and the summary says how many were carried over and how many of those chats failed.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coze_mock::{MockControl, MockInfo, MockOptions, MockServer};
use cozefallback::{Client, CredentialKind, Mode, Request};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

use crate::DemoArgs;
use crate::common::{
    CliError, CliResult, bind_metrics, block_on, core_err, parse_loopback, percentile, round,
    serve_metrics,
};

const PHASES: [&str; 3] = ["before_move", "after_move", "settled"];
const UPLOAD: &[u8] = b"hello from the cozefallback demo\n";

/// `cozefallback demo`: the traffic on the fallback client, then (with `--compare-guide`) on the guide's recipe;
/// fails when a request failed.
pub fn run(args: DemoArgs) -> CliResult {
    let metrics_addr = check_demo_args(&args)?;
    let show_progress = !args.json && std::io::stderr().is_terminal();
    block_on(async move {
        let mock = start_mock().await?;
        let info = mock.info();
        let client = Client::from_json(&config_json(&info, args.pat, Side::Both).to_string())
            .map_err(core_err)?;
        let server = match metrics_addr {
            Some(addr) => Some(start_metrics_server(addr, &client).await?),
            None => None,
        };
        if !args.json {
            print_header(&args);
        }
        let recipe = Arc::new(Recipe::Fallback(client));
        let bar = progress_bar(show_progress, args.requests, "cozefallback");
        let main = traffic(recipe, &mock, &info, &args, bar).await;
        let mut summary = main.summary;
        summary["credentials"] = if args.pat { "pat" } else { "jwt" }.into();
        summary["concurrency"] = args.concurrency.into();
        if args.compare_seed {
            summary["seed"] = run_guide_recipe(&args, show_progress).await?;
        }
        if args.json {
            println!("{summary}");
        } else {
            print_report(&summary);
        }
        let _ = std::io::stdout().flush();
        if let Some(task) = server {
            linger_then_stop(task, args.linger).await;
        }
        drop(mock);
        let failed = summary["failed"].as_u64().unwrap_or(0);
        if failed > 0 {
            return Err(CliError::Failed(format!(
                "{failed} of {} requests failed",
                args.requests
            )));
        }
        Ok(())
    })
}

/// Refuses flag values the demo cannot run with; answers the `--metrics-addr` to serve on, if any.
fn check_demo_args(args: &DemoArgs) -> CliResult<Option<std::net::SocketAddr>> {
    if args.concurrency == 0 || args.concurrency > 4096 {
        return Err(CliError::Usage(format!(
            "--concurrency {} must be between 1 and 4096",
            args.concurrency
        )));
    }
    if args.requests < 10 {
        return Err(CliError::Usage(format!(
            "--requests {} must be at least 10 (three phases)",
            args.requests
        )));
    }
    args.metrics_addr
        .as_deref()
        .map(|a| parse_loopback("--metrics-addr", a))
        .transpose()
}

/// Serves `client`'s Prometheus metrics on `addr` until the task is aborted.
async fn start_metrics_server(
    addr: std::net::SocketAddr,
    client: &Client,
) -> CliResult<tokio::task::JoinHandle<()>> {
    let listener = bind_metrics("--metrics-addr", addr).await?;
    let c = client.clone();
    let task = tokio::spawn(serve_metrics(
        listener,
        Arc::new(move || c.metrics_prometheus()),
    ));
    eprintln!("cozefallback demo: metrics at http://{addr}/metrics");
    Ok(task)
}

/// The same traffic on a fresh mock, coded the way Coze's migration guide writes it (two clients, retry on
/// 4100/4101); answers its summary.
async fn run_guide_recipe(args: &DemoArgs, show_progress: bool) -> CliResult<Value> {
    let seed_mock = start_mock().await?;
    let seed_info = seed_mock.info();
    let personal =
        Client::from_json(&config_json(&seed_info, args.pat, Side::Personal).to_string())
            .map_err(core_err)?;
    let enterprise =
        Client::from_json(&config_json(&seed_info, args.pat, Side::Enterprise).to_string())
            .map_err(core_err)?;
    let recipe = Arc::new(Recipe::Seed {
        personal,
        enterprise,
        fallbacks: Mutex::new(BTreeMap::new()),
    });
    if !args.json {
        println!();
        println!("the same traffic, coded the way Coze's migration guide shows (two clients; on");
        println!(
            "4100/4101 from the personal one, the same request again with the enterprise one;"
        );
        println!("no cut-over switch):");
    }
    let bar = progress_bar(show_progress, args.requests, "guide recipe");
    let seed = traffic(recipe, &seed_mock, &seed_info, args, bar).await;
    Ok(seed.summary)
}

/// Keeps serving the metrics `linger` seconds more (`--linger`), then stops the server.
async fn linger_then_stop(task: tokio::task::JoinHandle<()>, linger: u64) {
    if linger > 0 {
        eprintln!("cozefallback demo: still serving metrics for {linger} s");
        tokio::time::sleep(Duration::from_secs(linger)).await;
    }
    task.abort();
}

async fn start_mock() -> CliResult<MockServer> {
    MockServer::start(MockOptions::default())
        .await
        .map_err(|e| CliError::Failed(format!("cannot start the embedded mock: {e}")))
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Both,
    Personal,
    Enterprise,
}

/// The demo's client config: JWT app (account -> enterprise) by default, PATs with `--pat`.
fn config_json(info: &MockInfo, pat: bool, side: Side) -> Value {
    let jwt = |target: (&str, &str)| {
        let mut c = json!({"type": "jwt", "client_id": info.jwt_client_id, "private_key_file": info.private_key_file,
                           "public_key_id": info.jwt_kid});
        c[target.0] = target.1.into();
        c
    };
    let (personal, enterprise) = if pat {
        (
            json!({"type": "pat", "token": info.personal_pat}),
            json!({"type": "pat", "token": info.enterprise_pat}),
        )
    } else {
        (
            jwt(("account_id", &info.account_id)),
            jwt(("enterprise_id", &info.enterprise_id)),
        )
    };
    let mut config = json!({"base_url": info.base_url});
    if side != Side::Enterprise {
        config["personal"] = personal;
    }
    if side != Side::Personal {
        config["enterprise"] = enterprise;
    }
    config
}

/// The progress line (stderr, terminals only): done/total, rate, elapsed, ETA, phase and failures. At most
/// 100 columns.
fn progress_bar(show: bool, len: usize, label: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{prefix:>12} [{bar:16}] {pos}/{len} {rate} elapsed {elapsed} eta {eta} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .with_key(
        "rate",
        |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.0} req/s", state.per_sec());
        },
    )
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(label.to_string());
    bar
}

/// How the traffic is sent: through the cozefallback client, or as Coze's migration guide codes it (two single-credential
/// clients; on 4100/4101 from the personal one, the same request again with the enterprise one).
enum Recipe {
    Fallback(Client),
    Seed {
        personal: Client,
        enterprise: Client,
        fallbacks: Mutex<BTreeMap<i64, u64>>,
    },
}

/// End users whose conversations from before the move keep chatting after it.
const END_USERS: usize = 8;

#[derive(Clone)]
enum Op {
    Chat {
        bot: String,
        stream: bool,
    },
    /// A chat in an end user's conversation from before the move.
    ChatIn {
        bot: String,
        conv: String,
    },
    Workflow,
    Upload,
    ConvCreate {
        bot: String,
    },
    ConvRetrieve {
        conv: String,
    },
    ConvMessages {
        conv: String,
    },
}

impl Op {
    fn name(&self) -> &'static str {
        match self {
            Op::Chat { stream: false, .. } => "chat",
            Op::Chat { stream: true, .. } => "chat_stream",
            Op::ChatIn { .. } => "chat_in_old_conversation",
            Op::Workflow => "workflow_run",
            Op::Upload => "upload",
            Op::ConvCreate { .. } => "conversation_create",
            Op::ConvRetrieve { .. } => "conversation_retrieve",
            Op::ConvMessages { .. } => "conversation_messages",
        }
    }
}

struct Done {
    attempts: u32,
    credential: CredentialKind,
    conversation: Option<String>,
}

/// One operation with one client (which may fall back internally).
async fn exec(client: &Client, op: &Op, info: &MockInfo, i: usize) -> cozefallback::Result<Done> {
    let chat_body = |bot: &str, stream: bool| {
        json!({"bot_id": bot, "user_id": format!("demo-user-{}", i % 64), "stream": stream, "auto_save_history": true,
               "additional_messages": [{"role": "user", "content": "hi", "content_type": "text"}]})
    };
    let full = |r: cozefallback::Response, conv_field: Option<&str>| {
        let conversation = conv_field.and_then(|f| {
            r.json()
                .ok()
                .and_then(|j| j["data"][f].as_str().map(str::to_string))
        });
        Done {
            attempts: r.attempts,
            credential: r.credential,
            conversation,
        }
    };
    match op {
        Op::Chat { bot, stream: false } => {
            let r = client
                .request(Request::post_json("/v3/chat", chat_body(bot, false)))
                .await?;
            Ok(full(r, Some("conversation_id")))
        }
        Op::Chat { bot, stream: true } => {
            let mut s = client
                .stream(Request::post_json("/v3/chat", chat_body(bot, true)))
                .await?;
            let mut conversation = None;
            while let Some(ev) = s.next().await? {
                if conversation.is_none() && ev.event == "conversation.chat.created" {
                    conversation = serde_json::from_str::<Value>(&ev.data)
                        .ok()
                        .and_then(|v| v["conversation_id"].as_str().map(str::to_string));
                }
            }
            Ok(Done {
                attempts: s.attempts(),
                credential: s.credential(),
                conversation,
            })
        }
        Op::ChatIn { bot, conv } => {
            let req = Request::post_json("/v3/chat", chat_body(bot, false))
                .query("conversation_id", conv);
            Ok(full(client.request(req).await?, None))
        }
        Op::Workflow => {
            let body = json!({"workflow_id": info.workflow_id, "parameters": {"input": "hi"}});
            Ok(full(
                client
                    .request(Request::post_json("/v1/workflow/run", body))
                    .await?,
                None,
            ))
        }
        Op::Upload => Ok(full(
            client
                .upload("/v1/files/upload", "demo.txt", UPLOAD.to_vec())
                .await?,
            None,
        )),
        Op::ConvCreate { bot } => {
            let r = client
                .request(Request::post_json(
                    "/v1/conversation/create",
                    json!({"bot_id": bot}),
                ))
                .await?;
            Ok(full(r, Some("id")))
        }
        Op::ConvRetrieve { conv } => {
            let r = client
                .request(Request::get("/v1/conversation/retrieve").query("conversation_id", conv))
                .await?;
            Ok(full(r, None))
        }
        Op::ConvMessages { conv } => {
            let req = Request::post_json("/v1/conversation/message/list", json!({}))
                .query("conversation_id", conv);
            Ok(full(client.request(req).await?, None))
        }
    }
}

impl Recipe {
    async fn run(&self, op: &Op, info: &MockInfo, i: usize) -> cozefallback::Result<Done> {
        match self {
            Recipe::Fallback(client) => exec(client, op, info, i).await,
            Recipe::Seed {
                personal,
                enterprise,
                fallbacks,
            } => match exec(personal, op, info, i).await {
                Ok(d) => Ok(d),
                Err(e) if matches!(e.code(), Some(4100 | 4101)) => {
                    *fallbacks
                        .lock()
                        .expect("lock")
                        .entry(e.code().unwrap_or(0))
                        .or_default() += 1;
                    let mut d = exec(enterprise, op, info, i).await?;
                    d.attempts += 1;
                    Ok(d)
                }
                Err(e) => Err(e),
            },
        }
    }

    /// Fallbacks by reason and token mints (personal, enterprise) so far.
    fn counters(&self) -> Counters {
        let from = |m: &Value| -> BTreeMap<String, u64> {
            m["fallbacks"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                        .collect()
                })
                .unwrap_or_default()
        };
        match self {
            Recipe::Fallback(c) => {
                let m = c.metrics();
                (
                    from(&m),
                    [
                        m["token_mints"]["personal"].as_u64().unwrap_or(0),
                        m["token_mints"]["enterprise"].as_u64().unwrap_or(0),
                    ],
                )
            }
            Recipe::Seed {
                personal,
                enterprise,
                fallbacks,
            } => {
                let f = fallbacks
                    .lock()
                    .expect("lock")
                    .iter()
                    .map(|(k, v)| (k.to_string(), *v))
                    .collect();
                let p = personal.metrics()["token_mints"]["personal"]
                    .as_u64()
                    .unwrap_or(0);
                let e = enterprise.metrics()["token_mints"]["enterprise"]
                    .as_u64()
                    .unwrap_or(0);
                (f, [p, e])
            }
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Recipe::Fallback(_) => "cozefallback",
            Recipe::Seed { .. } => "seed",
        }
    }
}

/// Fallbacks by reason, token mints (personal, enterprise).
type Counters = (BTreeMap<String, u64>, [u64; 2]);

struct Record {
    phase: usize,
    ok: bool,
    attempts: u32,
    ms: f64,
}

struct Run {
    summary: Value,
}

struct Shared {
    recipe: Arc<Recipe>,
    control: MockControl,
    info: MockInfo,
    next: AtomicUsize,
    n: usize,
    move_at: usize,
    settle_at: usize,
    /// Conversations the app created, with the credential that created them.
    conversations: Mutex<Vec<(String, CredentialKind)>>,
    records: Mutex<Vec<Record>>,
    /// Counters at the start, at the move, at the cut-over.
    snapshots: Mutex<[Option<Counters>; 3]>,
    ops: Mutex<BTreeMap<&'static str, u64>>,
    errors: Mutex<Vec<String>>,
    ok: AtomicUsize,
    failed: AtomicUsize,
    /// Failed chats in conversations from before the move.
    old_chats_failed: AtomicUsize,
    bar: ProgressBar,
    /// Print the step lines as they start (the table run, not `--json`).
    announce: bool,
}

impl Shared {
    fn phase(&self, i: usize) -> usize {
        if i < self.move_at {
            0
        } else if i < self.settle_at {
            1
        } else {
            2
        }
    }

    /// The operation of request `i`: a fixed mix, with conversations picked from the right generation.
    fn op(&self, i: usize, phase: usize) -> Op {
        let bot = self.info.bots[(i / 10) % self.info.bots.len()].clone();
        let pick = |messages: bool| {
            let convs = self.conversations.lock().expect("lock");
            let usable: Vec<&String> = convs
                .iter()
                .filter(|(_, c)| phase == 0 || *c == CredentialKind::Enterprise)
                .map(|(id, _)| id)
                .collect();
            if usable.is_empty() {
                return None;
            }
            let conv = usable[(i.wrapping_mul(2_654_435_761)) % usable.len()].clone();
            Some(if messages {
                Op::ConvMessages { conv }
            } else {
                Op::ConvRetrieve { conv }
            })
        };
        let end_user = || {
            let convs = self.conversations.lock().expect("lock");
            let users: Vec<&String> = convs
                .iter()
                .filter(|(_, c)| *c == CredentialKind::Personal)
                .map(|(id, _)| id)
                .take(END_USERS)
                .collect();
            (!users.is_empty()).then(|| users[(i / 10) % users.len()].clone())
        };
        match i % 10 {
            0 => Op::Chat { bot, stream: false },
            1 => match end_user() {
                Some(conv) => Op::ChatIn { bot, conv },
                None => Op::Chat { bot, stream: false },
            },
            2 | 3 => Op::Chat { bot, stream: true },
            4 => Op::Workflow,
            5 => Op::Upload,
            6 => Op::ConvCreate { bot },
            7 | 8 => pick(false).unwrap_or(Op::ConvCreate { bot }),
            _ => pick(true).unwrap_or(Op::ConvCreate { bot }),
        }
    }

    async fn worker(self: Arc<Self>) {
        loop {
            let i = self.next.fetch_add(1, Ordering::SeqCst);
            if i >= self.n {
                return;
            }
            if i == 0 {
                self.say(step_line(1, 0, self.move_at));
            }
            if i == self.move_at {
                self.snapshots.lock().expect("lock")[1] = Some(self.recipe.counters());
                self.say(step_line(2, i, self.n));
                self.control.set_moved(true);
            }
            if i == self.settle_at {
                self.snapshots.lock().expect("lock")[2] = Some(self.recipe.counters());
                self.say(step_line(3, i, self.n));
                if let Recipe::Fallback(c) = &*self.recipe {
                    let _ = c.set_mode(Mode::EnterpriseOnly);
                }
            }
            let phase = self.phase(i);
            let op = self.op(i, phase);
            *self.ops.lock().expect("lock").entry(op.name()).or_default() += 1;
            let started = Instant::now();
            let result = self.recipe.run(&op, &self.info, i).await;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            let record = match result {
                Ok(done) => {
                    if let Some(conv) = done.conversation {
                        self.conversations
                            .lock()
                            .expect("lock")
                            .push((conv, done.credential));
                    }
                    self.ok.fetch_add(1, Ordering::Relaxed);
                    Record {
                        phase,
                        ok: true,
                        attempts: done.attempts,
                        ms,
                    }
                }
                Err(e) => {
                    self.failed.fetch_add(1, Ordering::Relaxed);
                    if matches!(op, Op::ChatIn { .. }) {
                        self.old_chats_failed.fetch_add(1, Ordering::Relaxed);
                    }
                    let mut errors = self.errors.lock().expect("lock");
                    if errors.len() < 10 {
                        errors.push(format!("#{i} {} ({}): {e}", op.name(), PHASES[phase]));
                    }
                    Record {
                        phase,
                        ok: false,
                        attempts: 1,
                        ms,
                    }
                }
            };
            self.records.lock().expect("lock").push(record);
            self.bar.inc(1);
            if i.is_multiple_of(16) {
                self.bar.set_message(format!(
                    "{}, {} failed",
                    PHASES[phase],
                    self.failed.load(Ordering::Relaxed)
                ));
            }
        }
    }

    /// Prints a step line as the step starts (above the progress line, which is redrawn after it).
    fn say(&self, line: String) {
        if self.announce {
            self.bar.suspend(|| {
                println!("{line}");
                let _ = std::io::stdout().flush();
            });
        }
    }
}

/// The line that announces step `step`, starting at request `at`.
fn step_line(step: usize, at: usize, n: usize) -> String {
    match step {
        1 => format!(
            "  step 1  requests 0..{n}: the workspace lives with the personal account, mode personal_first"
        ),
        2 => format!(
            "  step 2  at request {at} of {n}: the workspace moves to the enterprise, traffic in flight"
        ),
        _ => format!(
            "  step 3  at request {at} of {n}: set_mode(enterprise_only) retires the old credential"
        ),
    }
}

/// Runs the demo's traffic through `recipe` against `mock` and summarizes it, phase by phase.
async fn traffic(
    recipe: Arc<Recipe>,
    mock: &MockServer,
    info: &MockInfo,
    args: &DemoArgs,
    bar: ProgressBar,
) -> Run {
    let n = args.requests;
    let shared = Arc::new(Shared {
        recipe: recipe.clone(),
        control: mock.control(),
        info: info.clone(),
        next: AtomicUsize::new(0),
        n,
        move_at: n / 2,
        settle_at: n * 9 / 10,
        conversations: Mutex::new(Vec::new()),
        records: Mutex::new(Vec::with_capacity(n)),
        snapshots: Mutex::new([Some(recipe.counters()), None, None]),
        ops: Mutex::new(BTreeMap::new()),
        errors: Mutex::new(Vec::new()),
        ok: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        old_chats_failed: AtomicUsize::new(0),
        bar: bar.clone(),
        announce: !args.json && matches!(*recipe, Recipe::Fallback(_)),
    });
    let elapsed = run_workers(&shared, args.concurrency.min(n)).await;
    bar.finish_and_clear();
    let mut summary = summarize_phases(&shared);
    summary["recipe"] = recipe.name().into();
    summary["phase_starts"] = json!({"before_move": 0, "after_move": n / 2, "settled": n * 9 / 10});
    let stats = mock.control().stats();
    summary["token_mints_server"] = stats["token_mints"].clone();
    summary["server_requests"] = stats["requests"]["total"].clone();
    summary["errors"] = json!(*shared.errors.lock().expect("lock"));
    summary["duration_ms"] = (elapsed.as_millis() as u64).into();
    let ops = shared.ops.lock().expect("lock");
    summary["operations"] = json!(*ops);
    summary["chats_in_old_conversations"] = json!({
        "requests": ops.get("chat_in_old_conversation").copied().unwrap_or(0),
        "failed": shared.old_chats_failed.load(Ordering::Relaxed),
        "conversations_carried_over": match &*recipe {
            Recipe::Fallback(c) => c.metrics()["conversations_carried_over_total"].clone(),
            Recipe::Seed { .. } => 0.into(),
        },
    });
    drop(ops);
    Run { summary }
}

/// Starts `workers` workers on the shared traffic and waits for all of them; answers how long they took.
async fn run_workers(shared: &Arc<Shared>, workers: usize) -> Duration {
    let started = Instant::now();
    let handles: Vec<_> = (0..workers)
        .map(|_| tokio::spawn(shared.clone().worker()))
        .collect();
    for h in handles {
        let _ = h.await;
    }
    started.elapsed()
}

/// The whole run's block (see [`results_block`]) with a `phases` object of one block per phase, and
/// `round_trips_per_request` per phase and overall.
fn summarize_phases(shared: &Shared) -> Value {
    let records = std::mem::take(&mut *shared.records.lock().expect("lock"));
    let snaps = shared.snapshots.lock().expect("lock").clone();
    let mut bounds: Vec<Counters> = snaps.into_iter().flatten().collect();
    bounds.push(shared.recipe.counters());
    let mut phases = serde_json::Map::new();
    for (p, name) in PHASES.iter().enumerate() {
        let recs: Vec<&Record> = records.iter().filter(|r| r.phase == p).collect();
        let counters = match (bounds.get(p), bounds.get(p + 1)) {
            (Some(a), Some(b)) => counters_between(a, b),
            _ => (BTreeMap::new(), [0, 0]),
        };
        phases.insert(name.to_string(), results_block(&recs, counters));
    }
    let all: Vec<&Record> = records.iter().collect();
    let total = counters_between(&bounds[0], bounds.last().expect("end snapshot"));
    let mut summary = results_block(&all, total);
    let mut rtpr = serde_json::Map::new();
    for name in PHASES {
        rtpr.insert(name.into(), phases[name]["round_trips_per_request"].clone());
    }
    rtpr.insert("overall".into(), summary["round_trips_per_request"].clone());
    summary["round_trips_per_request"] = Value::Object(rtpr);
    summary["phases"] = Value::Object(phases);
    summary
}

/// What the counters grew by from snapshot `a` to snapshot `b` (fallback reasons that did not grow left out).
fn counters_between(a: &Counters, b: &Counters) -> Counters {
    let fallbacks =
        b.0.iter()
            .map(|(k, v)| (k.clone(), v - a.0.get(k).copied().unwrap_or(0)))
            .filter(|(_, v)| *v > 0)
            .collect();
    (fallbacks, [b.1[0] - a.1[0], b.1[1] - a.1[1]])
}

/// Requests, outcomes, fallbacks, round trips, token mints and latency of `recs`, as the summary shows them.
fn results_block(recs: &[&Record], counters: Counters) -> Value {
    let requests = recs.len();
    let ok = recs.iter().filter(|r| r.ok).count();
    let attempts: u64 = recs.iter().map(|r| u64::from(r.attempts)).sum();
    let mut lat: Vec<f64> = recs.iter().map(|r| r.ms).collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    let rtpr = if requests == 0 {
        Value::Null
    } else {
        round(attempts as f64 / requests as f64, 4).into()
    };
    json!({
        "requests": requests, "succeeded": ok, "failed": requests - ok,
        "fallbacks": counters.0.values().sum::<u64>(), "fallbacks_by_reason": counters.0,
        "round_trips": attempts, "round_trips_per_request": rtpr,
        "token_mints": {"personal": counters.1[0], "enterprise": counters.1[1]},
        "latency_ms": {"p50": round(percentile(&lat, 0.5), 3), "p99": round(percentile(&lat, 0.99), 3),
                       "max": round(lat.last().copied().unwrap_or(0.0), 3)},
    })
}

/// `text` cut to `width` characters, with an ellipsis when cut.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('…');
    out
}

fn fmt_reasons(v: &Value) -> String {
    match v.as_object() {
        Some(o) if !o.is_empty() => o
            .iter()
            .map(|(k, n)| format!("{k}:{n}"))
            .collect::<Vec<_>>()
            .join(" "),
        _ => "-".into(),
    }
}

fn fmt_rt(v: &Value) -> String {
    v.as_f64().map_or("-".into(), |x| format!("{x:.4}"))
}

fn print_table(s: &Value) {
    println!(
        "  {:<12} {:>8} {:>9} {:>6}  {:<16} {:>9}  {:>11}  {:>8} {:>8}",
        "phase",
        "requests",
        "succeeded",
        "failed",
        "fallbacks",
        "rt/req",
        "mints p/e",
        "p50 ms",
        "p99 ms"
    );
    let row = |name: &str, b: &Value, rt: &Value| {
        println!(
            "  {:<12} {:>8} {:>9} {:>6}  {:<16} {:>9}  {:>11}  {:>8.2} {:>8.2}",
            name,
            b["requests"].as_u64().unwrap_or(0),
            b["succeeded"].as_u64().unwrap_or(0),
            b["failed"].as_u64().unwrap_or(0),
            fmt_reasons(&b["fallbacks_by_reason"]),
            fmt_rt(rt),
            format!(
                "{}/{}",
                b["token_mints"]["personal"], b["token_mints"]["enterprise"]
            ),
            b["latency_ms"]["p50"].as_f64().unwrap_or(0.0),
            b["latency_ms"]["p99"].as_f64().unwrap_or(0.0),
        );
    };
    for name in PHASES {
        let b = &s["phases"][name];
        row(name, b, &b["round_trips_per_request"]);
    }
    row("total", s, &s["round_trips_per_request"]["overall"]);
}

/// What the demo is about to do; the step lines follow as each step starts.
fn print_header(args: &DemoArgs) {
    let creds = if args.pat {
        "PATs (personal, enterprise)"
    } else {
        "JWT app (account -> enterprise)"
    };
    println!(
        "cozefallback demo: {} requests, concurrency {}, on an embedded mock Coze",
        args.requests, args.concurrency
    );
    println!("  credentials: {creds}");
    println!("  traffic: chat, streaming chat, workflow run, upload,");
    println!("           conversation create / retrieve / message list");
}

fn print_report(s: &Value) {
    println!();
    print_table(s);
    let mints: serde_json::Map<String, Value> = s["token_mints_server"]
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(_, v)| v.as_u64() != Some(0))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let total: u64 = mints.values().filter_map(Value::as_u64).sum();
    println!(
        "\n  seen by the mock: {total} token mint(s) ({}), {} HTTP round trips",
        fmt_reasons(&Value::Object(mints)),
        s["server_requests"]
    );
    println!("  took {} ms", s["duration_ms"]);
    let old = &s["chats_in_old_conversations"];
    println!(
        "  end users' conversations from before the move: {} carried over; {} chat(s) in them, {} failed",
        old["conversations_carried_over"], old["requests"], old["failed"]
    );
    if let Some(seed) = s.get("seed") {
        println!("\nthe same traffic, coded the way Coze's migration guide shows:");
        print_table(seed);
        println!("\n  round trips per request      cozefallback    guide");
        for name in PHASES {
            println!(
                "  {:<26} {:>14} {:>8}",
                name,
                fmt_rt(&s["round_trips_per_request"][name]),
                fmt_rt(&seed["round_trips_per_request"][name])
            );
        }
        println!(
            "  {:<26} {:>14} {:>8}",
            "failed requests",
            s["failed"].as_u64().unwrap_or(0),
            seed["failed"].as_u64().unwrap_or(0)
        );
    }
    if let Some(errors) = s["errors"].as_array().filter(|e| !e.is_empty()) {
        println!("\nfirst failures:");
        for e in errors {
            println!("  {}", fit(e.as_str().unwrap_or(""), 98));
        }
    }
    let failed = s["failed"].as_u64().unwrap_or(0);
    println!(
        "\n{}",
        if failed == 0 {
            "no request failed across the move.".to_string()
        } else {
            format!("{failed} request(s) failed.")
        }
    );
}
