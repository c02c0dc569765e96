//! Injectable faults (`"faults"` in `POST /__mock/state`).

use serde::{Deserialize, Serialize};

/// One fault rule. The first live rule matching a request applies.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Fault {
    /// Matches as a path prefix.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// `personal`, `enterprise` or `any` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    /// Uses left; `None` = unlimited. A rule with 0 left is dead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u64>,
    /// Chance to apply per matching request (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    pub action: FaultAction,
}

/// What a fault does to the request it hits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum FaultAction {
    /// A business error `{"code","msg","detail"}`.
    Error {
        code: i64,
        #[serde(default = "http_200")]
        http_status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        msg: Option<String>,
    },
    /// An OAuth error `{"error","error_code","error_message"}`.
    OauthError {
        error: String,
        #[serde(default = "http_401")]
        http_status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// A plain HTTP answer (gateway errors, 429 with Retry-After).
    Http {
        http_status: u16,
        #[serde(default)]
        body: String,
        #[serde(default = "text_plain")]
        content_type: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<String>,
    },
    /// Waits, then answers normally.
    Latency { ms: u64 },
    /// Never answers.
    Hang,
    /// Closes the connection without an answer.
    Reset,
    /// On a streaming call, the first event is an error event.
    StreamErrorEvent {
        code: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        msg: Option<String>,
    },
    /// On a streaming call, sends `after_events` events then aborts the connection.
    TruncateStream { after_events: usize },
    /// On a streaming call, waits `gap_ms` between events (a slow model), then ends normally.
    SlowStream { gap_ms: u64 },
    /// On a streaming call, sends `after_events` events, then the first half of the next one (its `data:` line
    /// cut, no blank line after it), then ends the body cleanly: an event cut off by the end of input.
    CutEventAtEnd { after_events: usize },
    /// On a WebSocket session, sends `after_events` events then a close frame with `code` (and `reason`).
    CloseSession {
        after_events: usize,
        code: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A raw body.
    Body {
        body: String,
        #[serde(default = "application_json")]
        content_type: String,
        #[serde(default = "http_200")]
        http_status: u16,
    },
}

fn http_200() -> u16 {
    200
}
fn http_401() -> u16 {
    401
}
fn text_plain() -> String {
    "text/plain".into()
}
fn application_json() -> String {
    "application/json".into()
}

impl Fault {
    fn matches(&self, path: &str, method: &str, credential: &str, streaming: bool) -> bool {
        if self.times == Some(0) || !path.starts_with(&self.path) {
            return false;
        }
        let stream_only = matches!(
            self.action,
            FaultAction::StreamErrorEvent { .. }
                | FaultAction::TruncateStream { .. }
                | FaultAction::SlowStream { .. }
                | FaultAction::CutEventAtEnd { .. }
                | FaultAction::CloseSession { .. }
        );
        if stream_only && !streaming {
            return false;
        }
        if let Some(m) = &self.method
            && !m.eq_ignore_ascii_case(method)
        {
            return false;
        }
        match self.credential.as_deref() {
            None | Some("any") => true,
            Some(c) => c == credential,
        }
    }
}

/// Finds the first live rule matching the request whose probability draw fires, and uses it up by one. Rules
/// with a probability layer: a rule that does not fire lets the next matching rule draw.
/// Streaming actions only match streaming calls, so a non-streaming call never wastes them.
pub(crate) fn take(
    faults: &mut [Fault],
    path: &str,
    method: &str,
    credential: &str,
    streaming: bool,
) -> Option<FaultAction> {
    let fault = faults.iter_mut().find(|f| {
        f.matches(path, method, credential, streaming)
            && f.probability.is_none_or(|p| rand::random::<f64>() < p)
    })?;
    if let Some(t) = fault.times.as_mut() {
        *t -= 1;
    }
    Some(fault.action.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(json: &str) -> Fault {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn times_count_down_and_credential_filters() {
        let mut fs = vec![fault(
            r#"{"path":"/v3/chat","credential":"personal","times":1,"action":{"type":"error","code":4000}}"#,
        )];
        assert!(take(&mut fs, "/v3/chat", "POST", "enterprise", false).is_none());
        assert!(matches!(
            take(&mut fs, "/v3/chat/retrieve", "GET", "personal", false),
            Some(FaultAction::Error {
                code: 4000,
                http_status: 200,
                ..
            })
        ));
        assert!(take(&mut fs, "/v3/chat", "POST", "personal", false).is_none());
    }

    #[test]
    fn method_filter_and_unknown_action() {
        let mut fs = vec![fault(
            r#"{"path":"/","method":"get","action":{"type":"hang"}}"#,
        )];
        assert!(take(&mut fs, "/v1/bots", "POST", "any", false).is_none());
        assert!(matches!(
            take(&mut fs, "/v1/bots", "GET", "personal", false),
            Some(FaultAction::Hang)
        ));
        assert!(serde_json::from_str::<Fault>(r#"{"path":"/","action":{"type":"boom"}}"#).is_err());
    }

    #[test]
    fn stream_faults_wait_for_a_stream() {
        let mut fs = vec![fault(
            r#"{"path":"/v3/chat","times":1,"action":{"type":"truncate_stream","after_events":2}}"#,
        )];
        assert!(take(&mut fs, "/v3/chat", "POST", "personal", false).is_none());
        assert!(take(&mut fs, "/v3/chat", "POST", "personal", true).is_some());
    }
}
