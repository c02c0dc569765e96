//! What a blocking call (the C API, Go, Python's sync client) costs over a caller that drives its own socket, the
//! way Go's net/http does, against one mock on loopback. Every way is interleaved request by request in a
//! shuffled order, so that the shared machine's noise falls on all of them alike.
//!
//! `cargo run --release -p cozefallback-bench --bin blocking [-- --rounds N --passes N]`
//!
//! Ways (all one `GET /v1/bots/{id}` round trip with the same headers):
//! - `direct`: a bare reqwest client driven on the calling thread (a current-thread runtime): no thread hand-off.
//! - `BlockingClient`: the core's blocking call, as the C API and Go make it.
//! - `bare reqwest, spawned`: the bare call spawned on the core's runtime and waited for from the calling
//!   thread: what two thread hand-offs cost without the core.
//! - `diagnostic: refused before any I/O`: a blocking call the core refuses (another host): its fixed cost.
//!
//! The mock runs on a runtime of its own with one worker thread, as a separate server would.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use coze_mock::{MockInfo, MockOptions, MockServer};
use cozefallback::{BlockingClient, Request, runtime};
use serde_json::{Value, json};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Starts the mock on its own one-worker runtime, kept alive by a thread for the life of the process.
fn start_mock() -> MockInfo {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mock = MockServer::start(MockOptions::default())
                .await
                .expect("mock");
            tx.send(mock.info()).unwrap();
            std::future::pending::<()>().await;
        });
    });
    rx.recv().unwrap()
}

fn bare_client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "user-agent",
        format!("cozefallback/{}", cozefallback::VERSION)
            .parse()
            .unwrap(),
    );
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .default_headers(headers)
        .build()
        .unwrap()
}

async fn bare_get(client: reqwest::Client, url: String, bearer: String) {
    let resp = client
        .get(&url)
        .header("Authorization", &bearer)
        .send()
        .await
        .unwrap();
    let body = resp.bytes().await.unwrap();
    let _: Value = serde_json::from_slice(&body).unwrap();
}

/// Spawns `fut` on the core's runtime and waits for it, spinning (yielding the CPU) for up to 200 µs before it
/// parks: the caller is still running when the answer comes, so nothing has to wake it.
fn spin_wait<T: Send + 'static>(fut: impl std::future::Future<Output = T> + Send + 'static) -> T {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let done = Arc::new((AtomicBool::new(false), Mutex::new(None)));
    let theirs = done.clone();
    let caller = std::thread::current();
    runtime().spawn(async move {
        let v = fut.await;
        *theirs.1.lock().unwrap() = Some(v);
        theirs.0.store(true, Ordering::Release);
        caller.unpark();
    });
    let spin_until = Instant::now() + Duration::from_micros(200);
    while !done.0.load(Ordering::Acquire) {
        if Instant::now() < spin_until {
            std::thread::yield_now();
        } else {
            std::thread::park();
        }
    }
    done.1.lock().unwrap().take().unwrap()
}

type Way = (&'static str, Box<dyn FnMut()>);

fn ways(info: &MockInfo) -> Vec<Way> {
    let mut all = main_ways(info);
    all.extend(experiments(info));
    all
}

/// What splits the cost: a timer around the bare call, a spawn with nothing to do, a refusal without a hand-off.
fn experiments(info: &MockInfo) -> Vec<Way> {
    let config = json!({
        "base_url": info.base_url,
        "personal": {"type": "pat", "token": info.personal_pat},
    })
    .to_string();
    let refused2 = BlockingClient::from_json(&config).unwrap();
    let timed = runtime().block_on(async { bare_client() });
    let u4 = format!("{}/v1/bots/{}", info.base_url, info.bots[0]);
    let b4 = format!("Bearer {}", info.personal_pat);
    vec![
        (
            "x: bare spawned, send under a 10 s tokio timeout",
            Box::new(move || {
                let (c, u, b) = (timed.clone(), u4.clone(), b4.clone());
                let (tx, rx) = mpsc::sync_channel(1);
                runtime().spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(10), bare_get(c, u, b)).await;
                    tx.send(()).unwrap();
                });
                rx.recv().unwrap();
            }),
        ),
        (
            "x: empty future spawned",
            Box::new(move || {
                let (tx, rx) = mpsc::sync_channel(1);
                runtime().spawn(async move {
                    tx.send(()).unwrap();
                });
                rx.recv().unwrap();
            }),
        ),
        (
            "x: refused, polled on the caller",
            Box::new(move || {
                let req = Request::get("http://127.0.0.2:1/v1/bots/x");
                assert!(runtime().block_on(refused2.inner().request(req)).is_err());
            }),
        ),
    ]
}

/// The blocking call and the ways it could be made, next to the bare call on the caller's thread.
fn main_ways(info: &MockInfo) -> Vec<Way> {
    let config = json!({
        "base_url": info.base_url,
        "personal": {"type": "pat", "token": info.personal_pat},
    })
    .to_string();
    let blocking = BlockingClient::from_json(&config).unwrap();
    let refused = blocking.clone();
    let (on_caller, spinner) = (blocking.clone(), blocking.clone());
    let path = format!("/v1/bots/{}", info.bots[0]);
    let url = format!("{}{path}", info.base_url);
    let (path2, path3) = (path.clone(), path.clone());
    let bearer = format!("Bearer {}", info.personal_pat);
    let local = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let direct = local.block_on(async { bare_client() });
    let spawned = runtime().block_on(async { bare_client() });
    let one_worker = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let one_client = one_worker.block_on(async { bare_client() });
    let (u1, b1, u2, b2) = (url.clone(), bearer.clone(), url.clone(), bearer.clone());
    let (u3, b3) = (url, bearer);
    vec![
        (
            "direct (caller drives the socket)",
            Box::new(move || local.block_on(bare_get(direct.clone(), u1.clone(), b1.clone()))),
        ),
        (
            "BlockingClient",
            Box::new(move || {
                let r = blocking.request(Request::get(path.clone()), None).unwrap();
                assert_eq!(r.status, 200);
            }),
        ),
        (
            "bare reqwest, spawned on the core's runtime",
            Box::new(move || {
                let fut = bare_get(spawned.clone(), u2.clone(), b2.clone());
                let (tx, rx) = mpsc::sync_channel(1);
                runtime().spawn(async move {
                    fut.await;
                    tx.send(()).unwrap();
                });
                rx.recv().unwrap();
            }),
        ),
        (
            "bare reqwest, spawned on a 1-worker runtime",
            Box::new(move || {
                let fut = bare_get(one_client.clone(), u3.clone(), b3.clone());
                let (tx, rx) = mpsc::sync_channel(1);
                one_worker.spawn(async move {
                    fut.await;
                    tx.send(()).unwrap();
                });
                rx.recv().unwrap();
            }),
        ),
        (
            "async Client polled on the caller (Runtime::block_on)",
            Box::new(move || {
                let r = runtime()
                    .block_on(on_caller.inner().request(Request::get(path2.clone())))
                    .unwrap();
                assert_eq!(r.status, 200);
            }),
        ),
        (
            "spawned, caller spins before it parks",
            Box::new(move || {
                let client = spinner.inner().clone();
                let req = Request::get(path3.clone());
                let r = spin_wait(async move { client.request(req).await }).unwrap();
                assert_eq!(r.status, 200);
            }),
        ),
        (
            "diagnostic: refused before any I/O",
            Box::new(move || {
                let req = Request::get("http://127.0.0.2:1/v1/bots/x");
                assert!(refused.request(req, None).is_err());
            }),
        ),
    ]
}

fn p50(d: &mut [Duration]) -> Duration {
    d.sort();
    d[d.len() / 2]
}

fn main() {
    let info = start_mock();
    let mut ways = ways(&info);
    let (rounds, passes) = (arg("--rounds", 2_000), arg("--passes", 5));
    let mut order: Vec<usize> = (0..ways.len()).collect();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut ratios = vec![Vec::new(); ways.len()];
    println!(
        "blocking calls vs a caller driving its own socket, {rounds} GETs per way per pass, interleaved"
    );
    for pass in 0..=passes {
        let mut times = vec![Vec::with_capacity(rounds); ways.len()];
        for _ in 0..rounds {
            // A new order each time (xorshift): no way always runs first or after the same other way.
            for i in (1..order.len()).rev() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                order.swap(i, (seed % (i as u64 + 1)) as usize);
            }
            for &j in &order {
                let t = Instant::now();
                (ways[j].1)();
                times[j].push(t.elapsed());
            }
        }
        if pass == 0 {
            continue; // warm-up
        }
        let base = p50(&mut times[0]);
        print!("  pass {pass}: {} p50 {base:?}", ways[0].0);
        for (j, t) in times.iter_mut().enumerate().skip(1) {
            let p = p50(t);
            let r = p.as_secs_f64() / base.as_secs_f64();
            ratios[j].push(r);
            print!(" | {} {p:?} ({r:.3}x)", ways[j].0);
        }
        println!();
    }
    println!("ratio to direct, median of passes (min - max):");
    for (j, r) in ratios.iter_mut().enumerate().skip(1) {
        r.sort_by(f64::total_cmp);
        println!(
            "  {:<45} {:.3}x ({:.3} - {:.3})",
            ways[j].0,
            r[r.len() / 2],
            r[0],
            r[r.len() - 1]
        );
    }
}
