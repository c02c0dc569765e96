//! `cozefallback mock`: the mock Coze, standalone, with `export` lines to paste into a shell.

use std::io::Write;

use coze_mock::{MockOptions, MockServer};

use crate::MockArgs;
use crate::common::{CliError, CliResult, block_on, io_reason};

pub fn run(args: MockArgs) -> CliResult {
    if let Some(dir) = &args.keys_dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            CliError::Usage(format!("--keys-dir {}: {}", dir.display(), io_reason(&e)))
        })?;
    }
    block_on(async move {
        let opts = MockOptions {
            port: args.port,
            keys_dir: args.keys_dir.clone(),
            tls: args.tls,
        };
        let mock = MockServer::start(opts).await.map_err(|e| {
            CliError::Failed(format!(
                "cannot start the mock on 127.0.0.1:{}: {}",
                args.port,
                io_reason(&e)
            ))
        })?;
        let signal = on_signal();
        let info = mock.info();
        let q = shell_quote;
        let mut out = std::io::stdout().lock();
        // With --tls the CA must be trusted; SSL_CERT_FILE is what `from_env` clients read.
        let trust = match &info.ca_file {
            Some(ca) => format!(
                "# trust the mock's CA (in this shell SSL_CERT_FILE replaces the system roots; or set tls.ca_file)\n\
                 export SSL_CERT_FILE={}\n",
                q(ca)
            ),
            None => String::new(),
        };
        let text = format!(
            "# coze-mock listening on {base} (runs until killed: Ctrl-C)\n\
             export COZE_API_BASE={base_q}\n\
             {trust}\
             export COZE_API_TOKEN={pp}\n\
             export COZE_API_TOKEN_ENTERPRISE={ep}\n\
             export COZE_JWT_OAUTH_CLIENT_ID={cid}\n\
             export COZE_JWT_OAUTH_PRIVATE_KEY_FILE_PATH={key}\n\
             export COZE_JWT_OAUTH_PUBLIC_KEY_ID={kid}\n\
             export COZE_PERSONAL_ACCOUNT_ID={acct}\n\
             export COZE_ENTERPRISE_ID={ent}\n\
             # Stops on SIGINT (Ctrl-C), SIGTERM or SIGHUP, removing its temporary key directory.\n\
             # The PATs win over the JWT app when both are set: `unset COZE_API_TOKEN COZE_API_TOKEN_ENTERPRISE` to use the JWT app.\n\
             # bots {bots} (enterprise-only bot {ebot}), workflow {wf}, workspace {ws}\n\
             # move the workspace: {curl} -X POST {base}/__mock/state -d '{{\"moved\":true}}'   stats: {curl} {base}/__mock/stats\n",
            base = info.base_url,
            curl = info.ca_file.as_ref().map_or_else(
                || "curl".to_string(),
                |ca| format!("curl --cacert {}", q(ca))
            ),
            base_q = q(&info.base_url),
            pp = q(&info.personal_pat),
            ep = q(&info.enterprise_pat),
            cid = q(&info.jwt_client_id),
            key = q(&info.private_key_file),
            kid = q(&info.jwt_kid),
            acct = q(&info.account_id),
            ent = q(&info.enterprise_id),
            bots = info.bots.join(", "),
            ebot = info.enterprise_bot,
            wf = info.workflow_id,
            ws = info.workspace_id,
        );
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        drop(out);
        let signal = signal.await;
        // Dropping the server stops it and removes the key directory it created (not a --keys-dir).
        drop(mock);
        eprintln!("# coze-mock stopped ({signal}); temporary key files removed");
        Ok(())
    })
}

/// Installs the SIGINT, SIGTERM and SIGHUP handlers now (before the exports are printed, so a signal sent as
/// soon as they appear is caught) and returns a future that names the first signal to come.
#[cfg(unix)]
fn on_signal() -> std::pin::Pin<Box<dyn std::future::Future<Output = &'static str> + Send>> {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        // Without handlers the default action ends the process; nothing better to do than wait.
        return Box::pin(std::future::pending());
    };
    Box::pin(async move {
        tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
            _ = hup.recv() => "SIGHUP",
        }
    })
}

#[cfg(not(unix))]
fn on_signal() -> std::pin::Pin<Box<dyn std::future::Future<Output = &'static str> + Send>> {
    Box::pin(async {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    })
}

/// Single-quotes a value for a POSIX shell when it needs it.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
