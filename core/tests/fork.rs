//! A client survives `fork()`: the child rebuilds the runtime and the connection pool on first use, keeps the
//! parent's tokens and learned routes, and a client made in the child works too. Before the fork support the
//! child's first call hung forever (the runtime's worker threads do not exist after a fork).
//!
//! One test per file: the process forks, so no other test thread should be running in it.
#![cfg(unix)]

use std::time::{Duration, Instant};

use coze_mock::{MockOptions, MockServer};
use cozefallback::{BlockingClient, BlockingWebSocket, CredentialKind, ErrorKind, Request};
use serde_json::json;

fn config(info: &coze_mock::MockInfo) -> String {
    let jwt = |target: (&str, &str)| {
        json!({"type": "jwt", "client_id": info.jwt_client_id, "private_key_file": info.private_key_file,
               "public_key_id": info.jwt_kid, target.0: target.1})
    };
    json!({
        "base_url": info.base_url,
        "personal": jwt(("account_id", &info.account_id)),
        "enterprise": jwt(("enterprise_id", &info.enterprise_id)),
        "timeouts": {"total_ms": 10_000},
    })
    .to_string()
}

fn mints(mock: &coze_mock::BlockingMockServer) -> u64 {
    let stats = mock.control().stats();
    ["app", "account", "enterprise", "oauth"]
        .iter()
        .map(|k| stats["token_mints"][k].as_u64().unwrap_or(0))
        .sum()
}

/// What the child checks; each failed step exits with its own code.
fn child(before: &BlockingClient, base_config: &str, bot: &str) -> i32 {
    assert_eq!(cozefallback::fork_generation(), 1);
    let get = Request::get(format!("/v1/bots/{bot}"));
    match before.request(get.clone(), None) {
        // The learned route came along: straight to enterprise, one attempt, with the parent's token.
        Ok(r) if r.credential == CredentialKind::Enterprise && r.attempts == 1 => {}
        Ok(r) => {
            eprintln!(
                "child: old client answered via {} in {} attempts",
                r.credential, r.attempts
            );
            return 2;
        }
        Err(e) => {
            eprintln!("child: old client failed: {e}");
            return 3;
        }
    }
    let chat = Request::post_json(
        "/v3/chat",
        json!({"bot_id": bot, "user_id": "u1", "stream": true,
               "additional_messages": [{"role": "user", "content": "hi", "content_type": "text"}]}),
    );
    match before.stream(chat, None) {
        Ok(mut s) => {
            let mut events = 0;
            loop {
                match s.next(None) {
                    Ok(Some(_)) => events += 1,
                    Ok(None) => break,
                    Err(e) => {
                        eprintln!("child: stream broke: {e}");
                        return 4;
                    }
                }
            }
            if events != 7 {
                eprintln!("child: stream gave {events} events");
                return 5;
            }
        }
        Err(e) => {
            eprintln!("child: stream failed: {e}");
            return 6;
        }
    }
    let fresh = match BlockingClient::from_json(base_config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("child: new client: {e}");
            return 7;
        }
    };
    match fresh.request(get, None) {
        Ok(r) if r.credential == CredentialKind::Enterprise && r.attempts == 2 => 0,
        Ok(r) => {
            eprintln!(
                "child: new client via {} in {} attempts",
                r.credential, r.attempts
            );
            8
        }
        Err(e) => {
            eprintln!("child: new client failed: {e}");
            9
        }
    }
}

/// Forks; the child runs `check` (with an alarm: a hang ends it) and exits with its code; the parent waits for
/// it, bounded, and returns the code.
fn in_child(check: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child only runs `check` and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: plain libc calls in the child.
        unsafe { libc::alarm(30) };
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)).unwrap_or(10);
        // Leaves without running the parent's destructors in the child.
        unsafe { libc::_exit(code) };
    }
    wait_bounded(pid, Duration::from_secs(40))
}

/// Waits for `pid` at most `limit`; kills it (and fails) past that.
fn wait_bounded(pid: libc::pid_t, limit: Duration) -> i32 {
    let until = Instant::now() + limit;
    loop {
        let mut status = 0;
        // SAFETY: plain libc call on our own child.
        let got = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if got == pid {
            if libc::WIFEXITED(status) {
                return libc::WEXITSTATUS(status);
            }
            panic!(
                "the child died of signal {} (a hang ended by its alarm?)",
                libc::WTERMSIG(status)
            );
        }
        if Instant::now() > until {
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            unsafe { libc::waitpid(pid, &mut status, 0) };
            panic!("the child hung for {limit:?} and was killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_client_made_before_fork_works_in_the_child_and_so_does_a_new_one() {
    let mock = MockServer::start_blocking(MockOptions::default()).expect("start the mock");
    let info = mock.info();
    let cfg = config(&info);
    let bot = info.bots[0].clone();
    let client = BlockingClient::from_json(&cfg).unwrap();
    let get = Request::get(format!("/v1/bots/{bot}"));

    // The parent mints both tokens and learns that the bot moved: state a child may inherit.
    let r = client.request(get.clone(), None).unwrap();
    assert_eq!(r.credential, CredentialKind::Personal);
    mock.control().set_moved(true);
    let r = client.request(get.clone(), None).unwrap();
    assert_eq!((r.credential, r.attempts), (CredentialKind::Enterprise, 2));
    let minted_before_fork = mints(&mock);

    let code = in_child(|| child(&client, &cfg, &bot));
    assert_eq!(code, 0, "the child failed at step {code} (see its stderr)");
    // The child kept the parent's tokens: only its new client minted (personal, then enterprise).
    assert_eq!(mints(&mock) - minted_before_fork, 2);

    // The parent is unaffected by what the child did with the shared connections.
    let r = client.request(get, None).unwrap();
    assert_eq!((r.credential, r.attempts), (CredentialKind::Enterprise, 1));
    assert_eq!(cozefallback::fork_generation(), 0);

    // Fork while a parent thread is inside a token exchange (it holds the single flight): the child must not
    // queue behind an exchange that will never finish there; it mints its own.
    let minting = BlockingClient::from_json(&cfg).unwrap();
    mock.control()
        .set_state(json!({"faults": [{"path": "/api/permission/", "times": 1,
                                       "action": {"type": "latency", "ms": 1500}}]}))
        .unwrap();
    let parent_minting = minting.inner().clone();
    let slow = std::thread::spawn(move || {
        cozefallback::block_on(None, async move {
            parent_minting.fetch_token(CredentialKind::Enterprise).await
        })
    });
    std::thread::sleep(Duration::from_millis(300));
    let code = in_child(|| {
        let started = Instant::now();
        let c = minting.inner().clone();
        match cozefallback::block_on(None, async move {
            c.fetch_token(CredentialKind::Enterprise).await
        }) {
            Ok(()) if started.elapsed() < Duration::from_secs(5) => 0,
            Ok(()) => 11,
            Err(e) => {
                eprintln!("child: token during the parent's exchange: {e}");
                12
            }
        }
    });
    assert_eq!(code, 0, "the child failed at step {code} (see its stderr)");
    slow.join().unwrap().expect("the parent's slow exchange");

    websocket_across_fork(&client, &bot);

    // close() in the parent: later calls are refused with a clear error.
    client.inner().close();
    let err = client
        .request(Request::get("/v1/workspaces"), None)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("closed"), "{}", err.message());
}

/// A WebSocket session opened before the fork is refused in the child (its connection is the parent's), a new
/// one in the child works, and the parent's session goes on.
fn websocket_across_fork(client: &BlockingClient, bot: &str) {
    let query = [("bot_id".to_string(), bot.to_string())];
    let session = BlockingWebSocket::open(client, "/v1/chat", &query, None).expect("open");
    let first = session.next(None).unwrap().expect("the first event");
    assert_eq!(first.event_type(), Some("chat.created"));
    let code = in_child(|| {
        match session.next(None) {
            Err(e) if e.kind() == ErrorKind::InvalidArgument && e.message().contains("fork") => {}
            other => {
                eprintln!("child: the parent's session answered {other:?}");
                return 13;
            }
        }
        match BlockingWebSocket::open(client, "/v1/chat", &query, None)
            .and_then(|fresh| fresh.next(None))
        {
            Ok(Some(e)) if e.event_type() == Some("chat.created") => 0,
            other => {
                eprintln!("child: a new session gave {other:?}");
                14
            }
        }
    });
    assert_eq!(code, 0, "the child failed at step {code} (see its stderr)");
    let message = json!({"event_type": "conversation.message.create",
                         "data": {"role": "user", "content_type": "text", "content": "hi"}});
    session
        .send(message, None)
        .expect("the parent's session still sends");
    let next = session.next(None).expect("and reads").expect("an event");
    assert_eq!(next.event_type(), Some("conversation.chat.created"));
    session.close();
}
