//! The decision table: after each try, what the client does next (docs/ARCHITECTURE.md, "Where each decision
//! lives"). Pure: no I/O, no clock, no randomness. HTTP calls, event streams, token exchanges and WebSocket
//! sessions describe what they saw as an [`Observed`] and carry out the [`Action`] this module picks.

use std::collections::HashSet;
use std::time::Duration;

use crate::classify::Outcome;

/// Coze answers "access token invalid" with this code: mint a new token and try again.
pub(crate) const TOKEN_INVALID: i64 = 700_012_006;
/// "Authentication invalid": a wrong, expired, revoked or other-region token.
pub(crate) const AUTH_INVALID: i64 = 4100;
/// "No permission" for this resource or workspace.
pub(crate) const NO_PERMISSION: i64 = 4101;
/// "Rate limited": the server declined the request without processing it.
pub(crate) const RATE_LIMITED: i64 = 4009;
/// A token refused with 4100 this close to its expiry is taken as expired in flight.
pub(crate) const EXPIRY_WINDOW: Duration = Duration::from_secs(5);
/// A token refused with 4100 is dropped only if older than this (see [`Action::Fallback`]).
pub(crate) const TOKEN_RECHECK_AGE: Duration = Duration::from_secs(60);

/// What one try produced, as far as the table cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Observed {
    /// The credential's token could not be had. `refused`: the token endpoint refused it with a 4xx (an OAuth
    /// refresh the server rejects), as opposed to a transient failure.
    NoToken { refused: bool },
    /// No response head came back. `sent`: the request may have reached the server (a reset or a timeout after
    /// it left), as opposed to a failure to connect; `cancelled`: the client was closed.
    NoAnswer { sent: bool, cancelled: bool },
    /// The head came but the body (or an event stream's first event) could not be read. `over_limit`: past a
    /// configured byte bound, which reading again would not change.
    BrokenBody { over_limit: bool },
    /// A whole answer. `broken_json`: a success that claims JSON but does not parse (truncated);
    /// `wrong_shape`: a success that is not what the call wants (a stream was asked for, a whole answer came).
    Answer {
        status: u16,
        outcome: Outcome,
        broken_json: bool,
        wrong_shape: bool,
        retry_after: Option<Duration>,
    },
    /// An event stream opened and its first event was read: `error_code` when that event is a Coze `error`.
    FirstEvent { error_code: Option<i64> },
}

/// Which exchange a try belongs to: where the wire differs, the rules differ, and that is written here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// An OpenAPI call or the opening of an event stream.
    Call,
    /// A token endpoint exchange (JWT or OAuth): it creates nothing, so every transport failure and a 429,
    /// 500, 502, 503 or 504 is retried, whatever the body says; the rest ends the exchange.
    TokenExchange,
    /// A WebSocket handshake or a session's first event: never retried (renewal and fallback only).
    WebSocket,
}

/// Where the try stands: the facts about the call, the credential and its token the table needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AttemptState<'a> {
    pub(crate) purpose: Purpose,
    /// The request may be sent again after it reached the server (idempotent method, or opted in).
    pub(crate) idempotent: bool,
    /// What was sent can be sent again at all (false: a WebSocket session's frames past max_request_bytes).
    pub(crate) replayable: bool,
    /// Retries this credential may still make (max_retries less those already made).
    pub(crate) retries_left: u32,
    /// The credential mints or refreshes its tokens (JWT, OBO with a refresh token); a PAT does not.
    pub(crate) renewable: bool,
    /// This credential already renewed its token once in this call.
    pub(crate) renewed: bool,
    /// The credential is an OAuth (OBO) user token: an auth refusal may need the user to authorize again.
    pub(crate) obo: bool,
    /// The token sent expires within [`EXPIRY_WINDOW`].
    pub(crate) token_expiring: bool,
    /// The token sent is older than [`TOKEN_RECHECK_AGE`].
    pub(crate) token_old: bool,
    /// The Coze codes on which the other credential is tried (config `fallback.codes` and `not_found_codes`).
    pub(crate) fallback_codes: &'a HashSet<i64>,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Hand the answer (or the opened stream) to the caller.
    Deliver,
    /// Drop the token from the cache, mint a new one and try the same credential again (once per call).
    RenewToken,
    /// Try the same credential again after the backoff (`after`: the server's Retry-After, when longer). The
    /// executor ends the call with the error instead if the deadline or the client-wide budget does not allow it.
    Retry { after: Option<Duration> },
    /// Try the next credential; on the last one the call ends with this error. `reauth`: an OBO user must
    /// authorize again (the call ends with ReauthRequired when nothing else serves it). `forget_token`: drop the
    /// refused token from the cache first (a 4100 on a token old enough to have been revoked).
    Fallback { reauth: bool, forget_token: bool },
    /// End the call with the error. `reauth`: as a ReauthRequired error for this (OBO) credential;
    /// `not_replayable`: a fallback was ruled out only because the request cannot be sent again.
    Fail { reauth: bool, not_replayable: bool },
}

const FAIL: Action = Action::Fail {
    reauth: false,
    not_replayable: false,
};

/// The table. See the module docs; each arm's rule is spelled out in its helper.
///
/// ```text
/// decide(NoAnswer { sent: false, .. }, Call, 1 retry left)  -> Retry   (connect failures are safe for any method)
/// decide(Answer { 200, code 4101 }, Call)                   -> Fallback
/// decide(Answer { 500, no code }, TokenExchange, 1 left)    -> Retry
/// ```
pub(crate) fn decide(seen: &Observed, st: &AttemptState<'_>) -> Action {
    match seen {
        // A token refused by its endpoint is the user's to fix, not the other credential's.
        Observed::NoToken { refused } => Action::Fail {
            reauth: *refused && st.obo,
            not_replayable: false,
        },
        Observed::NoAnswer { sent, cancelled } => match st.purpose {
            Purpose::TokenExchange => retry_if(true, None, st),
            _ => retry_if(!sent || (st.idempotent && !cancelled), None, st),
        },
        Observed::BrokenBody { over_limit } => match st.purpose {
            Purpose::TokenExchange => retry_if(true, None, st),
            _ => retry_if(st.idempotent && !over_limit, None, st),
        },
        Observed::Answer {
            status,
            outcome,
            broken_json,
            wrong_shape,
            retry_after,
        } => match (st.purpose, outcome) {
            (Purpose::TokenExchange, Outcome::Success) => Action::Deliver,
            (Purpose::TokenExchange, _) => {
                retry_if(matches!(status, 429 | 500 | 502..=504), *retry_after, st)
            }
            (_, Outcome::Success) if *broken_json => retry_if(st.idempotent, None, st),
            (_, Outcome::Success) if *wrong_shape => FAIL,
            (_, Outcome::Success) => Action::Deliver,
            (_, failed) => refused(*status, failed, *retry_after, st),
        },
        Observed::FirstEvent { error_code: None } => Action::Deliver,
        Observed::FirstEvent {
            error_code: Some(code),
        } => {
            let code = Some(*code);
            renew_or_fall_back(code, false, st).unwrap_or(Action::Deliver)
        }
    }
}

/// A failed answer: renew a rejected token, fall back on a fallback code, retry what the server declined
/// (429, 4009: any method) or a gateway failure (502 to 504 with no Coze code: idempotent requests only).
fn refused(
    status: u16,
    outcome: &Outcome,
    retry_after: Option<Duration>,
    st: &AttemptState<'_>,
) -> Action {
    let code = match outcome {
        Outcome::Api { code, .. } => Some(*code),
        _ => None,
    };
    let oauth_token_rejected = matches!(outcome, Outcome::OAuth { error, .. } if error == "invalid_token" || error == "token_expired");
    if let Some(action) = renew_or_fall_back(code, oauth_token_rejected, st) {
        return action;
    }
    let declined = status == 429 || code == Some(RATE_LIMITED);
    let gateway = matches!(status, 502..=504) && code.is_none();
    retry_if(declined || (gateway && st.idempotent), retry_after, st)
}

/// The code rules shared by answers and first events; `None` when the code calls for neither.
///
/// A minted token the server no longer accepts is renewed once: 700012006, a 4100 on a token at the end of
/// its life (expired in flight, not a lost access), a 4100 on an OBO token, an OAuth `invalid_token`. Then a
/// fallback code, or 700012006 (which the other credential may not have), tries the next credential.
fn renew_or_fall_back(
    code: Option<i64>,
    oauth_token_rejected: bool,
    st: &AttemptState<'_>,
) -> Option<Action> {
    let token_rejected = code == Some(TOKEN_INVALID)
        || (code == Some(AUTH_INVALID) && (st.token_expiring || st.obo))
        || oauth_token_rejected;
    if token_rejected && st.renewable && !st.renewed && st.replayable {
        return Some(Action::RenewToken);
    }
    let code = code.filter(|c| st.fallback_codes.contains(c) || *c == TOKEN_INVALID)?;
    let reauth = st.obo && matches!(code, AUTH_INVALID | NO_PERMISSION | TOKEN_INVALID);
    if !st.replayable {
        return Some(Action::Fail {
            reauth: false,
            not_replayable: true,
        });
    }
    // A 4100 may mean the token was revoked: drop it, but not one minted moments ago (after the move the old
    // credential answers 4100 to every new resource; re-minting each time would multiply token requests).
    let forget_token = code == AUTH_INVALID && st.renewable && st.token_old;
    Some(Action::Fallback {
        reauth,
        forget_token,
    })
}

/// `Retry` when the rule allows it and the credential has retries left (never for WebSockets); else `Fail`.
fn retry_if(allowed: bool, after: Option<Duration>, st: &AttemptState<'_>) -> Action {
    if allowed && st.retries_left > 0 && st.replayable && st.purpose != Purpose::WebSocket {
        Action::Retry { after }
    } else {
        FAIL
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
