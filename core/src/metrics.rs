//! Counters and a latency histogram, as a JSON snapshot and as Prometheus text. Labels carry credential names,
//! outcomes and Coze codes only: never ids, tokens or anything a caller sent.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::credential::CredentialKind;
use crate::runtime::ForkMutex;
use crate::util::lock;

const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// "success" and every error kind name.
const OUTCOMES: [&str; 12] = [
    "success",
    "config",
    "api",
    "auth",
    "reauth_required",
    "transport",
    "timeout",
    "stream_interrupted",
    "cancelled",
    "invalid_argument",
    "conversation_stranded",
    "internal",
];
const CREDENTIALS: [&str; 3] = ["personal", "enterprise", "none"];

#[derive(Default)]
pub(crate) struct Metrics {
    /// Calls by credential (`CREDENTIALS`) and outcome (`OUTCOMES`).
    requests: [[AtomicU64; OUTCOMES.len()]; 3],
    fallbacks: ForkMutex<BTreeMap<i64, u64>>,
    token_mints: [AtomicU64; 2],
    token_refresh_failures: [AtomicU64; 2],
    retries: AtomicU64,
    sticky_routes: AtomicU64,
    /// WebSocket sessions opened (also counted in `requests` like any call).
    websocket_sessions: AtomicU64,
    conversations_carried: AtomicU64,
    conversation_carry_failures: AtomicU64,
    conversation_messages_copied: AtomicU64,
    attempts: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    /// The shared state store (docs/FLEET.md): configured, connected, its errors, the last mode change's lag.
    state_redis: std::sync::atomic::AtomicBool,
    state_up: std::sync::atomic::AtomicBool,
    state_errors: AtomicU64,
    /// Milliseconds between a mode change elsewhere in the fleet and its adoption here (+1; 0 = none yet).
    state_mode_lag_ms: AtomicU64,
}

impl Metrics {
    pub(crate) fn request_done(
        &self,
        credential: Option<CredentialKind>,
        outcome: &'static str,
        attempts: u32,
        took: Duration,
    ) {
        let cred = credential.map_or(2, CredentialKind::index);
        let slot = OUTCOMES
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or(OUTCOMES.len() - 1);
        self.requests[cred][slot].fetch_add(1, Relaxed);
        self.attempts.fetch_add(u64::from(attempts), Relaxed);
        let secs = took.as_secs_f64();
        // One increment per call; the cumulative counts are summed when read.
        if let Some(slot) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[slot].fetch_add(1, Relaxed);
        }
        self.latency_count.fetch_add(1, Relaxed);
        self.latency_sum_micros
            .fetch_add(took.as_micros() as u64, Relaxed);
    }

    pub(crate) fn fallback(&self, code: i64) {
        *lock(&self.fallbacks).entry(code).or_default() += 1;
    }
    pub(crate) fn token_mint(&self, c: CredentialKind) {
        self.token_mints[c.index()].fetch_add(1, Relaxed);
    }
    pub(crate) fn token_refresh_failure(&self, c: CredentialKind) {
        self.token_refresh_failures[c.index()].fetch_add(1, Relaxed);
    }
    pub(crate) fn retry(&self) {
        self.retries.fetch_add(1, Relaxed);
    }
    pub(crate) fn sticky_route(&self) {
        self.sticky_routes.fetch_add(1, Relaxed);
    }
    pub(crate) fn websocket_session(&self) {
        self.websocket_sessions.fetch_add(1, Relaxed);
    }
    /// A stranded conversation was carried over, copying `messages` messages.
    pub(crate) fn conversation_carried(&self, messages: u32) {
        self.conversations_carried.fetch_add(1, Relaxed);
        self.conversation_messages_copied
            .fetch_add(u64::from(messages), Relaxed);
    }
    /// A carry-over failed (its list or create).
    pub(crate) fn conversation_carry_failed(&self) {
        self.conversation_carry_failures.fetch_add(1, Relaxed);
    }

    /// This client shares its state on Redis.
    pub(crate) fn state_store_configured(&self) {
        self.state_redis.store(true, Relaxed);
    }
    /// The Redis store connected (`true`) or lost its connection.
    pub(crate) fn state_up(&self, up: bool) {
        self.state_up.store(up, Relaxed);
    }
    /// A Redis command or connection failed (the call it served went on locally).
    pub(crate) fn state_error(&self) {
        self.state_errors.fetch_add(1, Relaxed);
    }
    /// A mode set elsewhere in the fleet took `lag` to be in force here.
    pub(crate) fn state_mode_lag(&self, lag: Duration) {
        self.state_mode_lag_ms
            .store(lag.as_millis() as u64 + 1, Relaxed);
    }

    fn state_json(&self) -> serde_json::Value {
        let lag = self.state_mode_lag_ms.load(Relaxed);
        serde_json::json!({
            "store": if self.state_redis.load(Relaxed) { "redis" } else { "in_process" },
            "up": self.state_up.load(Relaxed),
            "errors_total": self.state_errors.load(Relaxed),
            "mode_lag_ms": if lag == 0 { serde_json::Value::Null } else { (lag - 1).into() },
        })
    }

    pub(crate) fn snapshot(&self, mode: &str) -> serde_json::Value {
        let mut requests = serde_json::Map::new();
        let mut total = 0;
        for (cred, outcome, n) in self.request_counts() {
            total += n;
            let entry = requests
                .entry(cred.to_string())
                .or_insert_with(|| serde_json::json!({}));
            entry[outcome] = n.into();
        }
        let fallbacks: BTreeMap<String, u64> = lock(&self.fallbacks)
            .iter()
            .map(|(c, n)| (c.to_string(), *n))
            .collect();
        let per_cred = |a: &[AtomicU64; 2]| serde_json::json!({"personal": a[0].load(Relaxed), "enterprise": a[1].load(Relaxed)});
        let count = self.latency_count.load(Relaxed);
        let buckets: serde_json::Map<String, serde_json::Value> = BUCKETS
            .iter()
            .zip(self.cumulative_buckets())
            .map(|(b, n)| (b.to_string(), n.into()))
            .collect();
        serde_json::json!({
            "mode": mode,
            "requests_total": total,
            "requests": requests,
            "attempts_total": self.attempts.load(Relaxed),
            "fallbacks_total": fallbacks.values().sum::<u64>(),
            "fallbacks": fallbacks,
            "token_mints": per_cred(&self.token_mints),
            "token_refresh_failures": per_cred(&self.token_refresh_failures),
            "retries_total": self.retries.load(Relaxed),
            "sticky_routes_total": self.sticky_routes.load(Relaxed),
            "websocket_sessions_total": self.websocket_sessions.load(Relaxed),
            "conversations_carried_over_total": self.conversations_carried.load(Relaxed),
            "conversation_carry_over_failures_total": self.conversation_carry_failures.load(Relaxed),
            "conversation_messages_copied_total": self.conversation_messages_copied.load(Relaxed),
            "state": self.state_json(),
            "latency_seconds": {
                "count": count,
                "sum": self.latency_sum_micros.load(Relaxed) as f64 / 1e6,
                "buckets": buckets,
            },
        })
    }

    /// Non-zero (credential, outcome, count) triples.
    fn request_counts(&self) -> Vec<(&'static str, &'static str, u64)> {
        let mut out = Vec::new();
        for (c, row) in self.requests.iter().enumerate() {
            for (o, n) in row.iter().enumerate() {
                let n = n.load(Relaxed);
                if n > 0 {
                    out.push((CREDENTIALS[c], OUTCOMES[o], n));
                }
            }
        }
        out
    }

    fn cumulative_buckets(&self) -> Vec<u64> {
        let mut sum = 0;
        self.buckets
            .iter()
            .map(|n| {
                sum += n.load(Relaxed);
                sum
            })
            .collect()
    }

    /// Every metric in the Prometheus text format; `mode` is the routing mode in force.
    pub(crate) fn prometheus(&self, mode: &str) -> String {
        let mut out = String::new();
        self.write_requests(&mut out);
        self.write_per_credential_counters(&mut out);
        self.write_plain_counters(&mut out);
        write_mode(&mut out, mode);
        if self.state_redis.load(Relaxed) {
            self.write_state_store(&mut out);
        }
        self.write_duration_histogram(&mut out);
        out
    }

    /// `requests_total` by credential and outcome, and `fallbacks_total` by reason.
    fn write_requests(&self, out: &mut String) {
        write_family(
            out,
            "requests_total",
            "counter",
            "Calls finished, by the credential of their last attempt and outcome.",
        );
        for (cred, outcome, n) in self.request_counts() {
            let _ = writeln!(
                out,
                "cozefallback_requests_total{{credential=\"{cred}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        write_family(
            out,
            "fallbacks_total",
            "counter",
            "Switches to the other credential, by the Coze code that caused them.",
        );
        for (code, n) in lock(&self.fallbacks).iter() {
            let _ = writeln!(out, "cozefallback_fallbacks_total{{reason=\"{code}\"}} {n}");
        }
    }

    /// The token counters, one sample per credential.
    fn write_per_credential_counters(&self, out: &mut String) {
        for (name, help, values) in [
            (
                "token_mints_total",
                "Access tokens minted or refreshed, by credential.",
                &self.token_mints,
            ),
            (
                "token_refresh_failures_total",
                "Failed token mints or refreshes, by credential.",
                &self.token_refresh_failures,
            ),
        ] {
            write_family(out, name, "counter", help);
            for c in [CredentialKind::Personal, CredentialKind::Enterprise] {
                let _ = writeln!(
                    out,
                    "cozefallback_{name}{{credential=\"{c}\"}} {}",
                    values[c.index()].load(Relaxed)
                );
            }
        }
    }

    /// The counters without labels.
    fn write_plain_counters(&self, out: &mut String) {
        for (name, help, value) in [
            (
                "retries_total",
                "Retries of transient failures.",
                &self.retries,
            ),
            (
                "sticky_routes_total",
                "Calls routed to a credential remembered for their resource.",
                &self.sticky_routes,
            ),
            (
                "websocket_sessions_total",
                "WebSocket sessions that reached their first server event (the realtime APIs).",
                &self.websocket_sessions,
            ),
            (
                "attempts_total",
                "HTTP attempts, fallbacks and retries included.",
                &self.attempts,
            ),
            (
                "conversations_carried_over_total",
                "Stranded conversations carried over to the credential that reaches their bot.",
                &self.conversations_carried,
            ),
            (
                "conversation_carry_over_failures_total",
                "Carry-overs that failed (listing the old conversation or creating the new one).",
                &self.conversation_carry_failures,
            ),
            (
                "conversation_messages_copied_total",
                "Messages copied into carried-over conversations.",
                &self.conversation_messages_copied,
            ),
        ] {
            write_family(out, name, "counter", help);
            let _ = writeln!(out, "cozefallback_{name} {}", value.load(Relaxed));
        }
    }

    /// The Redis state store's health: up, errors and (once a fleet mode change was adopted) its lag.
    fn write_state_store(&self, out: &mut String) {
        write_family(
            out,
            "state_up",
            "gauge",
            "Whether the Redis state store is connected (1) or not (0).",
        );
        let _ = writeln!(
            out,
            "cozefallback_state_up {}",
            u8::from(self.state_up.load(Relaxed))
        );
        write_family(
            out,
            "state_errors_total",
            "counter",
            "Failed Redis connections and commands (the calls they served went on from local state).",
        );
        let _ = writeln!(
            out,
            "cozefallback_state_errors_total {}",
            self.state_errors.load(Relaxed)
        );
        let lag = self.state_mode_lag_ms.load(Relaxed);
        if lag > 0 {
            write_family(
                out,
                "state_mode_lag_seconds",
                "gauge",
                "Time between the last fleet mode change and its adoption in this process.",
            );
            let _ = writeln!(
                out,
                "cozefallback_state_mode_lag_seconds {}",
                (lag - 1) as f64 / 1e3
            );
        }
    }

    /// `request_duration_seconds`: cumulative buckets, sum and count.
    fn write_duration_histogram(&self, out: &mut String) {
        write_family(
            out,
            "request_duration_seconds",
            "histogram",
            "Duration of whole calls, fallback and retries included.",
        );
        for (b, n) in BUCKETS.iter().zip(self.cumulative_buckets()) {
            let _ = writeln!(
                out,
                "cozefallback_request_duration_seconds_bucket{{le=\"{b}\"}} {}",
                n
            );
        }
        let count = self.latency_count.load(Relaxed);
        let _ = writeln!(
            out,
            "cozefallback_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "cozefallback_request_duration_seconds_sum {}",
            self.latency_sum_micros.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "cozefallback_request_duration_seconds_count {count}");
    }
}

/// The `# HELP` and `# TYPE` lines that open metric family `cozefallback_{name}`.
fn write_family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(
        out,
        "# HELP cozefallback_{name} {help}\n# TYPE cozefallback_{name} {kind}"
    );
}

/// `mode`: one sample per routing mode, 1 for the one in force.
fn write_mode(out: &mut String, mode: &str) {
    write_family(
        out,
        "mode",
        "gauge",
        "The routing mode in force (1 for the current one).",
    );
    for m in [
        "personal_first",
        "enterprise_first",
        "personal_only",
        "enterprise_only",
    ] {
        let _ = writeln!(
            out,
            "cozefallback_mode{{mode=\"{m}\"}} {}",
            u8::from(m == mode)
        );
    }
}
