//! The decision table as a table: each row is what a try saw, where it stood, and the action expected.

use super::*;

const DEFAULT_CODES: [i64; 9] = [4100, 4101, 4200, 4001, 4002, 4005, 4006, 4015, 4314];

/// The starting point of every row: an HTTP GET with a PAT, two retries left.
fn state(codes: &HashSet<i64>) -> AttemptState<'_> {
    AttemptState {
        purpose: Purpose::Call,
        idempotent: true,
        replayable: true,
        retries_left: 2,
        renewable: false,
        renewed: false,
        obo: false,
        token_expiring: false,
        token_old: false,
        fallback_codes: codes,
    }
}

fn api(status: u16, code: i64) -> Observed {
    Observed::Answer {
        status,
        outcome: Outcome::Api {
            code,
            msg: "m".into(),
        },
        broken_json: false,
        wrong_shape: false,
        retry_after: None,
    }
}

fn http(status: u16) -> Observed {
    Observed::Answer {
        status,
        outcome: if status < 300 {
            Outcome::Success
        } else {
            Outcome::Http
        },
        broken_json: false,
        wrong_shape: false,
        retry_after: None,
    }
}

fn oauth(status: u16, error: &str) -> Observed {
    Observed::Answer {
        status,
        outcome: Outcome::OAuth {
            error: error.into(),
            message: String::new(),
        },
        broken_json: false,
        wrong_shape: false,
        retry_after: None,
    }
}

fn with_retry_after(seen: Observed, secs: u64) -> Observed {
    match seen {
        Observed::Answer {
            status,
            outcome,
            broken_json,
            wrong_shape,
            ..
        } => Observed::Answer {
            status,
            outcome,
            broken_json,
            wrong_shape,
            retry_after: Some(Duration::from_secs(secs)),
        },
        other => other,
    }
}

const RETRY: Action = Action::Retry { after: None };
const FALLBACK: Action = Action::Fallback {
    reauth: false,
    forget_token: false,
};

/// Changes to the default state a row makes.
#[derive(Clone, Copy)]
enum Tweak {
    Post,
    NoRetriesLeft,
    Jwt,
    JwtRenewed,
    Obo,
    Expiring,
    Old,
    Exchange,
    WebSocket,
    NotReplayable,
}

fn apply<'a>(mut st: AttemptState<'a>, tweaks: &[Tweak]) -> AttemptState<'a> {
    for t in tweaks {
        match t {
            Tweak::Post => st.idempotent = false,
            Tweak::NoRetriesLeft => st.retries_left = 0,
            Tweak::Jwt => st.renewable = true,
            Tweak::JwtRenewed => {
                st.renewable = true;
                st.renewed = true;
            }
            Tweak::Obo => {
                st.obo = true;
                st.renewable = true;
            }
            Tweak::Expiring => st.token_expiring = true,
            Tweak::Old => st.token_old = true,
            Tweak::Exchange => st.purpose = Purpose::TokenExchange,
            Tweak::WebSocket => st.purpose = Purpose::WebSocket,
            Tweak::NotReplayable => st.replayable = false,
        }
    }
    st
}

fn check(rows: &[(&str, Observed, &[Tweak], Action)]) {
    let codes: HashSet<i64> = DEFAULT_CODES.into_iter().collect();
    let mut wrong = Vec::new();
    for (name, seen, tweaks, want) in rows {
        let got = decide(seen, &apply(state(&codes), tweaks));
        if got != *want {
            wrong.push(format!("{name}: got {got:?}, want {want:?}"));
        }
    }
    assert!(wrong.is_empty(), "rows that differ:\n{}", wrong.join("\n"));
}

use Tweak::*;

#[test]
fn fallback_codes_fall_back_for_any_method_and_budget() {
    let mut rows = Vec::new();
    for code in DEFAULT_CODES {
        for status in [200, 401, 403, 404] {
            for tweaks in [&[][..], &[Post], &[NoRetriesLeft], &[Post, NoRetriesLeft]] {
                rows.push(("fallback code", api(status, code), tweaks, FALLBACK));
            }
        }
    }
    check(&rows);
}

#[test]
fn other_codes_end_the_call() {
    let mut rows = Vec::new();
    // 4020 and 5000 are neither fallback nor retry codes (scenarios no_fallback_code_4020 / _5000).
    for code in [4000, 4008, 4013, 4020, 5000] {
        for status in [200, 400, 500, 502] {
            for tweaks in [&[][..], &[Post], &[Jwt], &[Obo]] {
                rows.push(("other code", api(status, code), tweaks, FAIL));
            }
        }
    }
    check(&rows);
}

#[test]
fn what_is_retried_for_which_method() {
    check(&[
        ("GET 502 no code", http(502), &[], RETRY),
        ("GET 503 no code", http(503), &[], RETRY),
        ("GET 504 no code", http(504), &[], RETRY),
        ("GET 500 no code", http(500), &[], FAIL),
        ("GET 404 no code", http(404), &[], FAIL),
        ("POST 502 no code", http(502), &[Post], FAIL),
        ("POST 504 no code", http(504), &[Post], FAIL),
        ("GET 502 no retries left", http(502), &[NoRetriesLeft], FAIL),
        ("GET 429", http(429), &[], RETRY),
        ("POST 429: declined, any method", http(429), &[Post], RETRY),
        (
            "POST 429 no retries left",
            http(429),
            &[Post, NoRetriesLeft],
            FAIL,
        ),
        ("POST 4009 on 200", api(200, RATE_LIMITED), &[Post], RETRY),
        ("GET 4009", api(200, RATE_LIMITED), &[], RETRY),
        (
            "4009 no retries left",
            api(200, RATE_LIMITED),
            &[NoRetriesLeft],
            FAIL,
        ),
        (
            "502 with a Coze code is that code's",
            api(502, 4000),
            &[],
            FAIL,
        ),
        (
            "Retry-After carried",
            with_retry_after(http(429), 3),
            &[Post],
            Action::Retry {
                after: Some(Duration::from_secs(3)),
            },
        ),
        (
            "Retry-After on a 503",
            with_retry_after(http(503), 1),
            &[],
            Action::Retry {
                after: Some(Duration::from_secs(1)),
            },
        ),
        (
            "Retry-After on a 500 changes nothing",
            with_retry_after(http(500), 1),
            &[],
            FAIL,
        ),
    ]);
}

#[test]
fn connection_failures_and_timeouts() {
    let not_sent = Observed::NoAnswer {
        sent: false,
        cancelled: false,
    };
    // A reset, or a first-byte timeout, after the request left: the server may have acted on it.
    let after_send = Observed::NoAnswer {
        sent: true,
        cancelled: false,
    };
    let cancelled = Observed::NoAnswer {
        sent: true,
        cancelled: true,
    };
    check(&[
        ("connect failure, GET", not_sent.clone(), &[], RETRY),
        ("connect failure, POST", not_sent.clone(), &[Post], RETRY),
        (
            "connect failure, no retries left",
            not_sent.clone(),
            &[NoRetriesLeft],
            FAIL,
        ),
        ("reset after send, GET", after_send.clone(), &[], RETRY),
        ("reset after send, POST", after_send.clone(), &[Post], FAIL),
        (
            "reset after send, no retries",
            after_send.clone(),
            &[NoRetriesLeft],
            FAIL,
        ),
        ("cancelled", cancelled.clone(), &[], FAIL),
        ("cancelled, POST", cancelled, &[Post], FAIL),
        ("connect failure, WebSocket", not_sent, &[WebSocket], FAIL),
        ("reset, WebSocket", after_send, &[WebSocket], FAIL),
    ]);
}

#[test]
fn broken_bodies_and_shapes() {
    let truncated = Observed::Answer {
        status: 200,
        outcome: Outcome::Success,
        broken_json: true,
        wrong_shape: false,
        retry_after: None,
    };
    let not_a_stream = Observed::Answer {
        status: 200,
        outcome: Outcome::Success,
        broken_json: false,
        wrong_shape: true,
        retry_after: None,
    };
    let stalled = Observed::BrokenBody { over_limit: false };
    let too_big = Observed::BrokenBody { over_limit: true };
    check(&[
        ("200 OK", http(200), &[], Action::Deliver),
        (
            "200 OK, POST, no retries",
            http(200),
            &[Post, NoRetriesLeft],
            Action::Deliver,
        ),
        ("truncated JSON, GET", truncated.clone(), &[], RETRY),
        ("truncated JSON, POST", truncated.clone(), &[Post], FAIL),
        (
            "truncated JSON, no retries",
            truncated,
            &[NoRetriesLeft],
            FAIL,
        ),
        ("stream wanted, JSON came", not_a_stream.clone(), &[], FAIL),
        (
            "stream wanted, JSON came, POST",
            not_a_stream,
            &[Post],
            FAIL,
        ),
        ("body stalled, GET", stalled.clone(), &[], RETRY),
        ("body stalled, POST", stalled.clone(), &[Post], FAIL),
        ("body past the byte bound", too_big.clone(), &[], FAIL),
        ("body past the byte bound, POST", too_big, &[Post], FAIL),
        // A redirect that reaches the client was not followed (off the origin): the call did not happen.
        ("302 not followed", http(302), &[], FAIL),
        ("307 not followed, POST", http(307), &[Post], FAIL),
        ("301 not followed, JWT", http(301), &[Jwt], FAIL),
    ]);
}

#[test]
fn token_invalid_renews_a_renewable_token_once() {
    let token_invalid = api(401, TOKEN_INVALID);
    check(&[
        (
            "700012006, JWT",
            token_invalid.clone(),
            &[Jwt],
            Action::RenewToken,
        ),
        (
            "700012006, JWT, POST",
            token_invalid.clone(),
            &[Jwt, Post],
            Action::RenewToken,
        ),
        (
            "700012006, JWT renewed: other credential",
            token_invalid.clone(),
            &[JwtRenewed],
            FALLBACK,
        ),
        (
            "700012006, PAT: other credential",
            token_invalid.clone(),
            &[],
            FALLBACK,
        ),
        (
            "700012006, OBO",
            token_invalid.clone(),
            &[Obo],
            Action::RenewToken,
        ),
    ]);
}

#[test]
fn no_access_forgets_an_old_token_and_renews_an_expiring_one_once() {
    let forget = Action::Fallback {
        reauth: false,
        forget_token: true,
    };
    let obo_fallback = Action::Fallback {
        reauth: true,
        forget_token: false,
    };
    check(&[
        ("4100, JWT, fresh token", api(401, 4100), &[Jwt], FALLBACK),
        (
            "4100, JWT, old token: forget it",
            api(401, 4100),
            &[Jwt, Old],
            forget,
        ),
        (
            "4100, PAT, old: nothing to forget",
            api(401, 4100),
            &[Old],
            FALLBACK,
        ),
        (
            "4100, JWT expiring: in flight",
            api(401, 4100),
            &[Jwt, Expiring],
            Action::RenewToken,
        ),
        (
            "4100, JWT expiring, renewed",
            api(401, 4100),
            &[JwtRenewed, Expiring],
            FALLBACK,
        ),
        (
            "4100, PAT expiring: cannot renew",
            api(401, 4100),
            &[Expiring],
            FALLBACK,
        ),
        ("4100, OBO", api(401, 4100), &[Obo], Action::RenewToken),
        (
            "4101, OBO: no renewal",
            api(403, 4101),
            &[Obo],
            obo_fallback,
        ),
        (
            "4101, JWT old: keep the token",
            api(403, 4101),
            &[Jwt, Old],
            FALLBACK,
        ),
    ]);
}

#[test]
fn oauth_token_errors_renew_a_renewable_token_once() {
    check(&[
        (
            "OAuth invalid_token, JWT",
            oauth(401, "invalid_token"),
            &[Jwt],
            Action::RenewToken,
        ),
        (
            "OAuth token_expired, OBO",
            oauth(401, "token_expired"),
            &[Obo],
            Action::RenewToken,
        ),
        (
            "OAuth invalid_token, PAT",
            oauth(401, "invalid_token"),
            &[],
            FAIL,
        ),
        (
            "OAuth invalid_token, renewed",
            oauth(401, "invalid_token"),
            &[JwtRenewed],
            FAIL,
        ),
        (
            "OAuth other error",
            oauth(400, "invalid_request"),
            &[Jwt],
            FAIL,
        ),
    ]);
}

#[test]
fn obo_refusals_ask_for_reauthorization() {
    let reauth = |forget_token| Action::Fallback {
        reauth: true,
        forget_token,
    };
    let mut st_codes = DEFAULT_CODES.into_iter().collect::<HashSet<_>>();
    st_codes.remove(&4100);
    check(&[
        (
            "OBO renewed, 4100",
            api(401, 4100),
            &[Obo, JwtRenewed],
            reauth(false),
        ),
        (
            "OBO renewed, 4100 old",
            api(401, 4100),
            &[Obo, JwtRenewed, Old],
            reauth(true),
        ),
        (
            "OBO renewed, 700012006",
            api(401, TOKEN_INVALID),
            &[Obo, JwtRenewed],
            reauth(false),
        ),
        (
            "OBO, 4200: not an auth code",
            api(200, 4200),
            &[Obo],
            FALLBACK,
        ),
        (
            "OBO token refused by the endpoint",
            Observed::NoToken { refused: true },
            &[Obo],
            Action::Fail {
                reauth: true,
                not_replayable: false,
            },
        ),
        (
            "JWT token refused",
            Observed::NoToken { refused: true },
            &[Jwt],
            FAIL,
        ),
        (
            "OBO token endpoint down",
            Observed::NoToken { refused: false },
            &[Obo],
            FAIL,
        ),
    ]);
    // Narrowed fallback codes: a 4100 is no longer a fallback for a renewed OBO token.
    let st = apply(state(&st_codes), &[Obo, JwtRenewed]);
    assert_eq!(decide(&api(401, 4100), &st), FAIL);
}

#[test]
fn the_token_exchange_retries_what_calls_do_not() {
    check(&[
        ("exchange 500", http(500), &[Exchange], RETRY),
        ("exchange 502", http(502), &[Exchange], RETRY),
        ("exchange 503", http(503), &[Exchange], RETRY),
        ("exchange 504", http(504), &[Exchange], RETRY),
        ("exchange 429", http(429), &[Exchange], RETRY),
        (
            "exchange 500, budget spent",
            http(500),
            &[Exchange, NoRetriesLeft],
            FAIL,
        ),
        (
            "exchange 500 with a code",
            api(500, 5000),
            &[Exchange],
            RETRY,
        ),
        (
            "exchange 401 invalid_client",
            oauth(401, "invalid_client"),
            &[Exchange],
            FAIL,
        ),
        ("exchange 400", http(400), &[Exchange], FAIL),
        (
            "exchange 200 code 4100: not a fallback",
            api(200, 4100),
            &[Exchange],
            FAIL,
        ),
        ("exchange 200", http(200), &[Exchange], Action::Deliver),
        (
            "exchange reset after send",
            Observed::NoAnswer {
                sent: true,
                cancelled: false,
            },
            &[Exchange, Post],
            RETRY,
        ),
        (
            "exchange body past its bound",
            Observed::BrokenBody { over_limit: true },
            &[Exchange, Post],
            RETRY,
        ),
        (
            "exchange timeout, budget spent",
            Observed::NoAnswer {
                sent: true,
                cancelled: false,
            },
            &[Exchange, NoRetriesLeft],
            FAIL,
        ),
        (
            "exchange Retry-After",
            with_retry_after(http(429), 2),
            &[Exchange],
            Action::Retry {
                after: Some(Duration::from_secs(2)),
            },
        ),
    ]);
}

#[test]
fn first_events_of_streams_and_websockets() {
    let first = |code| Observed::FirstEvent {
        error_code: Some(code),
    };
    let stuck = Action::Fail {
        reauth: false,
        not_replayable: true,
    };
    check(&[
        (
            "no error event",
            Observed::FirstEvent { error_code: None },
            &[Post],
            Action::Deliver,
        ),
        ("4101 first", first(4101), &[Post], FALLBACK),
        ("4200 first, WebSocket", first(4200), &[WebSocket], FALLBACK),
        (
            "4000 first: delivered as an event",
            first(4000),
            &[Post],
            Action::Deliver,
        ),
        (
            "4009 first: delivered, not retried",
            first(RATE_LIMITED),
            &[],
            Action::Deliver,
        ),
        (
            "700012006 first, JWT",
            first(TOKEN_INVALID),
            &[Jwt, Post],
            Action::RenewToken,
        ),
        (
            "700012006 first, PAT",
            first(TOKEN_INVALID),
            &[WebSocket],
            FALLBACK,
        ),
        (
            "4100 first, JWT expiring",
            first(4100),
            &[Jwt, Expiring, WebSocket],
            Action::RenewToken,
        ),
        (
            "4101 first, not replayable",
            first(4101),
            &[WebSocket, NotReplayable],
            stuck,
        ),
        (
            "700012006 first, JWT, not replayable",
            first(TOKEN_INVALID),
            &[Jwt, NotReplayable],
            stuck,
        ),
        (
            "4000 first, not replayable",
            first(4000),
            &[WebSocket, NotReplayable],
            Action::Deliver,
        ),
    ]);
}

#[test]
fn websocket_handshakes_renew_and_fall_back_but_never_retry() {
    check(&[
        ("handshake 4101", api(403, 4101), &[WebSocket], FALLBACK),
        (
            "handshake 700012006, JWT",
            api(401, TOKEN_INVALID),
            &[WebSocket, Jwt],
            Action::RenewToken,
        ),
        ("handshake 429", http(429), &[WebSocket], FAIL),
        ("handshake 4009", api(200, RATE_LIMITED), &[WebSocket], FAIL),
        ("handshake 502", http(502), &[WebSocket], FAIL),
        ("handshake 403 no code", http(403), &[WebSocket], FAIL),
    ]);
}
