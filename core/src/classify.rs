//! Deciding what an answer means (docs/PROTOCOL.md, "Errors"), before anything acts on it.

use crate::error::{Error, ErrorKind};

/// What one HTTP answer amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// HTTP 2xx (or 1xx) and no error in the body.
    Success,
    /// An OAuth error body (`error` / `error_code` strings).
    OAuth {
        /// `error_code` (or `error`).
        error: String,
        /// `error_message` (or `error_description`).
        message: String,
    },
    /// A business error: body `code` != 0.
    Api {
        /// The Coze code.
        code: i64,
        /// The `msg`.
        msg: String,
    },
    /// HTTP >= 400 with no Coze code (a gateway page, an empty body, ...), or a 3xx redirect that was not
    /// followed (the client follows redirects only within the configured origin).
    Http,
}

/// Classifies an answer: OAuth error shape first, then a non-zero body `code`, then the HTTP status (3xx and
/// above are failures: a redirect that reaches the caller was not followed, so the call did not happen).
///
/// ```
/// use cozefallback::{classify, Outcome};
/// assert_eq!(classify(200, br#"{"code":4101,"msg":"no permission"}"#), Outcome::Api { code: 4101, msg: "no permission".into() });
/// assert_eq!(classify(502, b"<html>bad gateway</html>"), Outcome::Http);
/// assert_eq!(classify(302, b""), Outcome::Http);
/// assert_eq!(classify(200, br#"{"code":0,"data":{}}"#), Outcome::Success);
/// ```
pub fn classify(status: u16, body: &[u8]) -> Outcome {
    classify_parsed(
        status,
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .as_ref(),
    )
}

/// [`classify`] on a body already parsed (`None` when it is not JSON).
pub(crate) fn classify_parsed(status: u16, json: Option<&serde_json::Value>) -> Outcome {
    if let Some(obj) = json.and_then(|v| v.as_object()) {
        let text = |k: &str| {
            obj.get(k)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
        };
        if let Some(error) = text("error_code").or_else(|| text("error")) {
            let message = text("error_message")
                .or_else(|| text("error_description"))
                .unwrap_or_default();
            return Outcome::OAuth {
                error: error.to_string(),
                message: message.to_string(),
            };
        }
        let code = obj.get("code").and_then(|c| {
            c.as_i64()
                .or_else(|| c.as_str().and_then(|s| s.parse().ok()))
        });
        if let Some(code) = code.filter(|c| *c != 0) {
            let msg = obj
                .get("msg")
                .or_else(|| obj.get("message"))
                .and_then(|m| m.as_str())
                .unwrap_or_default();
            return Outcome::Api {
                code,
                msg: msg.to_string(),
            };
        }
    }
    if status >= 300 {
        Outcome::Http
    } else {
        Outcome::Success
    }
}

/// The Coze log id of an answer: the `X-Tt-Logid` header, else `detail.logid` in the body.
pub(crate) fn logid(header: Option<&str>, body: &[u8]) -> Option<String> {
    if let Some(h) = header.filter(|h| !h.is_empty()) {
        return Some(h.to_string());
    }
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.pointer("/detail/logid")
        .and_then(|l| l.as_str())
        .map(str::to_string)
}

/// Builds the error a caller sees for a failed answer.
pub(crate) fn to_error(
    outcome: &Outcome,
    status: u16,
    logid: Option<String>,
    body: &[u8],
) -> Error {
    let mut err = match outcome {
        Outcome::Success => Error::internal("to_error on a success"),
        Outcome::OAuth { error, message } => {
            let mut e = Error::new(
                ErrorKind::Auth,
                format!(
                    "Coze OAuth error {error}: {message}{}",
                    region_hint(error, message)
                ),
            );
            e.oauth_error = Some(error.clone());
            e.coze_message = Some(crate::redact(message));
            e
        }
        Outcome::Api { code, msg } => {
            let mut e = Error::new(
                ErrorKind::Api,
                format!("Coze API error {code}: {msg}{}", message_hint(*code)),
            );
            e.code = Some(*code);
            e.coze_message = Some(crate::redact(msg));
            e
        }
        Outcome::Http => {
            let snippet: String = String::from_utf8_lossy(&body[..body.len().min(200)])
                .chars()
                .filter(|c| !c.is_control())
                .collect();
            let what = if (300..400).contains(&status) {
                "is a redirect that was not followed (redirects are followed only within base_url's origin)"
            } else {
                "came with no Coze code"
            };
            Error::new(ErrorKind::Api, format!("HTTP {status} {what}: {snippet}"))
        }
    };
    err.http_status = Some(status);
    err.logid = logid;
    err
}

/// What a Coze code means for the move between credentials, in a few words (docs/PROTOCOL.md, "Errors");
/// `None` for a code the client has nothing to say about. Error messages carry it, and the CLI's preflight
/// explains failures with it.
///
/// ```
/// use cozefallback::code_hint;
/// assert!(code_hint(4100).unwrap().contains("other region"));
/// assert!(code_hint(4200).unwrap().contains("other credential"));
/// assert_eq!(code_hint(12345), None);
/// ```
pub fn code_hint(code: i64) -> Option<&'static str> {
    Some(match code {
        4100 => {
            "the token is invalid or expired; a token from the other region, api.coze.cn vs api.coze.com, fails this way too"
        }
        4101 => "the token has no permission for this resource or workspace",
        4200 | 4001 | 4002 | 4005 | 4006 | 4015 | 4314 => {
            "not found with this credential; after the move it may belong to the other credential"
        }
        700_012_006 => {
            "the access token is invalid: a minted token is renewed once, then the other credential is tried"
        }
        4000 => "the request's parameters are wrong; the other credential is not tried",
        4008 | 4009 | 4020 => {
            "a rate or quota limit (4009 is retried with backoff); the other credential is not tried"
        }
        4013 | 5000 => "a model or server error; the other credential is not tried",
        _ => return None,
    })
}

/// The hints that error messages carry: those that say what the server's words do not.
fn message_hint(code: i64) -> String {
    match code {
        4100 | 4101 => code_hint(code).map_or_else(String::new, |h| format!(" ({h})")),
        _ => String::new(),
    }
}

fn region_hint(error: &str, message: &str) -> &'static str {
    if error == "invalid_client" || message.contains("kid") {
        " (check the app's client id and public key id; an app registered in the other region, api.coze.cn vs api.coze.com, fails this way too)"
    } else {
        ""
    }
}

/// Parses `Retry-After`: delta seconds or an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub(crate) fn parse_retry_after(value: &str, now_unix: u64) -> Option<std::time::Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs >= 0.0 && secs.is_finite())
            .then(|| std::time::Duration::from_secs_f64(secs.min(86_400.0)));
    }
    let at = parse_http_date(value)?;
    Some(std::time::Duration::from_secs(at.saturating_sub(now_unix)))
}

fn parse_http_date(s: &str) -> Option<u64> {
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() != 6 || parts[5] != "GMT" {
        return None;
    }
    let day: u64 = parts[1].parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[2])? as u64
        + 1;
    let year: i64 = parts[3].parse().ok()?;
    let hms: Vec<u64> = parts[4]
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    if hms.len() != 3 || !(1..=31).contains(&day) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m as i64 + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + (hms[0] * 3600 + hms[1] * 60 + hms[2]) as i64).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_shape_wins_and_non_json_is_http() {
        let o = classify(401, br#"{"error":"invalid_client","error_code":"invalid_client","error_message":"kid not been registred"}"#);
        assert!(matches!(o, Outcome::OAuth { ref error, .. } if error == "invalid_client"));
        assert_eq!(classify(200, b"{\"code\":0"), Outcome::Success);
        assert_eq!(
            classify(400, br#"{"code":4000,"msg":"bad"}"#),
            Outcome::Api {
                code: 4000,
                msg: "bad".into()
            }
        );
        assert_eq!(classify(404, b""), Outcome::Http);
    }

    #[test]
    fn every_default_fallback_code_has_a_hint_and_messages_keep_theirs() {
        let codes = crate::Config::default().fallback_codes();
        assert_eq!(codes.len(), 9, "the default fallback codes");
        for code in codes.into_keys() {
            let hint =
                code_hint(code).unwrap_or_else(|| panic!("no hint for fallback code {code}"));
            assert!(!hint.is_empty());
        }
        for code in [700_012_006, 4000, 4009, 4020, 5000] {
            assert!(code_hint(code).is_some(), "no hint for {code}");
        }
        let err = to_error(
            &Outcome::Api {
                code: 4100,
                msg: "authentication is invalid".into(),
            },
            401,
            None,
            b"",
        );
        assert!(err.message.contains("other region"), "{}", err.message);
    }

    #[test]
    fn retry_after_both_forms() {
        assert_eq!(
            parse_retry_after("2", 0),
            Some(std::time::Duration::from_secs(2))
        );
        let at = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(at, 784_111_777);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:40 GMT", 784_111_777),
            Some(std::time::Duration::from_secs(3))
        );
        assert_eq!(parse_retry_after("soon", 0), None);
    }
}
