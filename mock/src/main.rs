//! `coze-mock [--port N] [--port-file FILE] [--info-file FILE] [--keys-dir DIR] [--tls] [--exit-on-stdin-close]`

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use coze_mock::{MockOptions, MockServer};

const USAGE: &str = "usage: coze-mock [--port N] [--port-file FILE] [--info-file FILE] \
[--keys-dir DIR] [--tls] [--exit-on-stdin-close]";

struct Args {
    opts: MockOptions,
    port_file: Option<PathBuf>,
    info_file: Option<PathBuf>,
    exit_on_stdin_close: bool,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut args = Args {
        opts: MockOptions::default(),
        port_file: None,
        info_file: None,
        exit_on_stdin_close: false,
    };
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--port" => {
                let v = value("--port")?;
                args.opts.port = v
                    .parse()
                    .map_err(|_| format!("--port: {v:?} is not a port number"))?;
            }
            "--port-file" => args.port_file = Some(value("--port-file")?.into()),
            "--info-file" => args.info_file = Some(value("--info-file")?.into()),
            "--keys-dir" => args.opts.keys_dir = Some(value("--keys-dir")?.into()),
            "--exit-on-stdin-close" if inline.is_none() => args.exit_on_stdin_close = true,
            "--tls" if inline.is_none() => args.opts.tls = true,
            "-h" | "--help" => return Ok(None),
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    Ok(Some(args))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("coze-mock: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coze-mock: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> std::io::Result<()> {
    let server = MockServer::start_blocking(args.opts)?;
    let info = serde_json::to_string(&server.info()).map_err(std::io::Error::other)?;
    if let Some(f) = &args.port_file {
        std::fs::write(f, server.port().to_string())?;
    }
    if let Some(f) = &args.info_file {
        std::fs::write(f, &info)?;
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "coze-mock listening on {}", server.base_url())?;
    writeln!(out, "{info}")?;
    // The CA's path is in the info JSON too (`ca_file`); this third line is for people reading the terminal,
    // after the two lines that programs parse.
    if let Some(ca) = server.info().ca_file {
        writeln!(out, "coze-mock TLS CA certificate: {ca}")?;
    }
    out.flush()?;
    drop(out);
    if args.exit_on_stdin_close {
        let mut sink = [0u8; 1024];
        let mut stdin = std::io::stdin().lock();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        server.shutdown();
        return Ok(());
    }
    // Serve until killed (SIGTERM/SIGINT end the process).
    loop {
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &[&str]) -> Result<Option<Args>, String> {
        parse_args(v.iter().map(|s| s.to_string()))
    }

    #[test]
    fn flags() {
        let a = parse(&[
            "--port",
            "8080",
            "--keys-dir=/tmp/k",
            "--exit-on-stdin-close",
            "--tls",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(a.opts.port, 8080);
        assert_eq!(a.opts.keys_dir, Some(PathBuf::from("/tmp/k")));
        assert!(a.exit_on_stdin_close);
        assert!(a.opts.tls);
        assert!(parse(&["--tls=yes"]).is_err());
        assert!(parse(&["--port", "x"]).is_err());
        assert!(parse(&["--port"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
        assert!(parse(&["--help"]).unwrap().is_none());
    }
}
