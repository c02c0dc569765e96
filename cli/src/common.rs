//! Shared pieces: errors and exit codes, loading the client, the loopback metrics server, percentiles.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use cozefallback::{Client, Config, ErrorKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::{ConfigArgs, ResourceArgs};

/// What ends a command early. `Usage` exits 2 (bad input), `Failed` exits 1.
#[derive(Debug)]
pub enum CliError {
    Usage(String),
    Failed(String),
}

pub type CliResult<T = ()> = Result<T, CliError>;

/// A core error: bad input (config, argument) exits 2, anything else 1. Core messages are already redacted.
pub fn core_err(e: cozefallback::Error) -> CliError {
    match e.kind() {
        ErrorKind::Config | ErrorKind::InvalidArgument => CliError::Usage(e.to_string()),
        _ => CliError::Failed(e.to_string()),
    }
}

/// The config from `--config FILE` or the environment, with `--mode` applied.
pub fn load_config(args: &ConfigArgs) -> CliResult<Config> {
    let mut config = match &args.config {
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
        }
        None => Config::from_env().map_err(|e| CliError::Usage(e.to_string()))?,
    };
    if let Some(mode) = &args.mode {
        config.mode = mode
            .parse()
            .map_err(|e: cozefallback::Error| CliError::Usage(e.to_string()))?;
    }
    Ok(config)
}

/// A client from `--config FILE` or the environment.
pub fn load_client(args: &ConfigArgs) -> CliResult<Client> {
    let config = load_config(args)?;
    Client::new(config).map_err(|e| CliError::Usage(e.to_string()))
}

pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Runs a future on the core's shared runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    cozefallback::runtime().block_on(f)
}

/// `PORT`, `HOST:PORT` with a loopback host (`localhost`, `127.0.0.1`, `[::1]`). Anything else is refused:
/// metrics are served on loopback only.
pub fn parse_loopback(flag: &str, addr: &str) -> CliResult<SocketAddr> {
    let bad = |why: &str| CliError::Usage(format!("{flag} {addr:?} {why}"));
    if let Ok(port) = addr.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    let sock = if let Some(port) = addr.strip_prefix("localhost:") {
        let port = port.parse::<u16>().map_err(|_| bad("has no valid port"))?;
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
    } else {
        addr.parse::<SocketAddr>()
            .map_err(|_| bad("is not HOST:PORT or PORT"))?
    };
    if !sock.ip().is_loopback() {
        return Err(bad(
            "is not a loopback address: metrics are served on loopback only",
        ));
    }
    Ok(sock)
}

/// Binds the metrics listener now (so a busy port is reported before any work starts).
pub async fn bind_metrics(flag: &str, addr: SocketAddr) -> CliResult<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        CliError::Failed(format!(
            "{flag}: cannot listen on {addr}: {}",
            io_reason(&e)
        ))
    })
}

/// Serves `GET /metrics` (and `/`) with the Prometheus text `render` produces, until the task is dropped.
pub async fn serve_metrics(listener: TcpListener, render: Arc<dyn Fn() -> String + Send + Sync>) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let render = render.clone();
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(1024);
            let mut chunk = [0u8; 1024];
            let read = async {
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return false,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                true
            };
            if !matches!(
                tokio::time::timeout(Duration::from_secs(5), read).await,
                Ok(true)
            ) {
                return;
            }
            let line = String::from_utf8_lossy(&buf);
            let mut parts = line.split_whitespace();
            let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let path = target.split('?').next().unwrap_or("");
            let (status, ctype, body) = if method != "GET" && method != "HEAD" {
                (
                    "405 Method Not Allowed",
                    "text/plain; charset=utf-8",
                    "only GET\n".to_string(),
                )
            } else if path == "/metrics" || path == "/" {
                (
                    "200 OK",
                    "text/plain; version=0.0.4; charset=utf-8",
                    render(),
                )
            } else {
                (
                    "404 Not Found",
                    "text/plain; charset=utf-8",
                    "try /metrics\n".to_string(),
                )
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = sock.write_all(head.as_bytes()).await;
            if method != "HEAD" {
                let _ = sock.write_all(body.as_bytes()).await;
            }
            let _ = sock.shutdown().await;
        });
    }
}

/// The `q` quantile (0..=1) of sorted values, nearest rank; 0 for none.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Rounds for display and JSON.
pub fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// One resource to check or probe, and its read-only request.
pub struct Resource {
    pub kind: &'static str,
    pub id: String,
}

impl Resource {
    /// A read-only request that only succeeds for a credential that can reach the resource.
    pub fn request(&self) -> cozefallback::Request {
        match self.kind {
            "bot" => cozefallback::Request::get(format!("/v1/bots/{}", self.id)),
            "workflow" => cozefallback::Request::get(format!("/v1/workflows/{}", self.id)),
            _ => cozefallback::Request::get("/v1/bots").query("workspace_id", &self.id),
        }
    }

    pub fn label(&self) -> String {
        format!("{} {}", self.kind, self.id)
    }
}

/// The resources named by `--bot`, `--workflow`, `--workspace`; ids must be non-empty ASCII digits.
pub fn resources(args: &ResourceArgs) -> CliResult<Vec<Resource>> {
    let mut out = Vec::new();
    for (kind, ids) in [
        ("bot", &args.bots),
        ("workflow", &args.workflows),
        ("workspace", &args.workspaces),
    ] {
        for id in ids {
            let id = id.trim();
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(CliError::Usage(format!(
                    "--{kind} {id:?} is not a Coze id (digits only)"
                )));
            }
            out.push(Resource {
                kind,
                id: id.to_string(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only() {
        assert!(parse_loopback("--x", "9464").is_ok());
        assert!(parse_loopback("--x", "localhost:1").is_ok());
        assert!(parse_loopback("--x", "[::1]:80").is_ok());
        assert!(parse_loopback("--x", "0.0.0.0:80").is_err());
        assert!(parse_loopback("--x", "nonsense").is_err());
    }

    #[test]
    fn percentiles() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 0.5), 2.0);
        assert_eq!(percentile(&v, 0.99), 4.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
