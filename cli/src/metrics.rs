//! `cozefallback metrics`: watch the success rate after the move (Coze's migration guide: 步骤三：线上观测).
//!
//! Builds the fallback client from the config, probes the named resources through it (the read-only calls of
//! `check`, but with fallback; `GET /v1/workspaces` when none is named) every `--interval` seconds, and serves
//! the client's Prometheus text at `http://ADDR/metrics` on loopback. `--once` runs one round and prints the
//! text to stdout instead (exit 1 if a probe failed).

use std::sync::Arc;
use std::time::Duration;

use cozefallback::{Client, Request};

use crate::MetricsArgs;
use crate::common::{
    CliError, CliResult, bind_metrics, block_on, load_client, parse_loopback, resources,
    serve_metrics,
};

pub fn run(args: MetricsArgs) -> CliResult {
    let resources = resources(&args.res)?;
    let addr = if args.once {
        None
    } else {
        Some(parse_loopback("--addr", &args.addr)?)
    };
    if args.interval == 0 {
        return Err(CliError::Usage(
            "--interval must be at least 1 second".into(),
        ));
    }
    let client = load_client(&args.cfg)?;
    let probes: Vec<(String, Request)> = if resources.is_empty() {
        vec![("workspaces".into(), Request::get("/v1/workspaces"))]
    } else {
        resources.iter().map(|r| (r.label(), r.request())).collect()
    };
    block_on(async move {
        if args.once {
            let failed = probe(&client, &probes).await;
            print!("{}", client.metrics_prometheus());
            return if failed == 0 {
                Ok(())
            } else {
                Err(CliError::Failed(format!(
                    "{failed} of {} probe(s) failed",
                    probes.len()
                )))
            };
        }
        let addr = addr.expect("set unless --once");
        let listener = bind_metrics("--addr", addr).await?;
        let render_client = client.clone();
        tokio::spawn(serve_metrics(
            listener,
            Arc::new(move || render_client.metrics_prometheus()),
        ));
        eprintln!(
            "cozefallback metrics: serving http://{addr}/metrics; probing {} resource(s) every {} s (runs until killed)",
            probes.len(),
            args.interval
        );
        loop {
            probe(&client, &probes).await;
            tokio::time::sleep(Duration::from_secs(args.interval)).await;
        }
    })
}

/// One round of probes; failures are reported on stderr. Returns how many failed.
async fn probe(client: &Client, probes: &[(String, Request)]) -> usize {
    let mut failed = 0;
    for (label, req) in probes {
        if let Err(e) = client.request(req.clone()).await {
            failed += 1;
            eprintln!("probe {label} failed: {e}");
        }
    }
    failed
}
