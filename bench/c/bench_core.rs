//! The Rust side of bench/c: the same requests as bench.c, straight through the core's BlockingClient (the
//! facade the C API wraps), so the difference is the C layer. Run by bench/c/run.sh; prints
//! `rust p50_us=.. p90_us=.. p99_us=.. n=..`.
//!
//! Env: COZE_API_BASE, COZE_API_TOKEN, COZE_API_TOKEN_ENTERPRISE (the client, as FromEnv), BENCH_PATH, BENCH_N.

use std::time::Instant;

fn main() {
    let client = cozefallback::BlockingClient::from_env().expect("config from the environment");
    let path = std::env::var("BENCH_PATH").expect("BENCH_PATH");
    let n: usize = std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    for _ in 0..200 {
        client
            .request(cozefallback::Request::get(path.as_str()), None)
            .expect("warm-up request");
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let resp = client
            .request(cozefallback::Request::get(path.as_str()), None)
            .expect("request");
        assert_eq!(resp.status, 200);
        drop(resp);
        samples.push(t.elapsed().as_nanos() as f64 / 1000.0);
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| samples[((samples.len() as f64 - 1.0) * p) as usize];
    println!(
        "rust p50_us={:.1} p90_us={:.1} p99_us={:.1} n={n}",
        q(0.5),
        q(0.9),
        q(0.99)
    );
}
