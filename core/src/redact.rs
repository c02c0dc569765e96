//! Keeping secrets out of Debug output, error messages, logs and metrics.

use std::fmt;
use std::sync::Arc;

/// A secret string (token, private key, client secret). `Debug` and `Display` print `***`.
///
/// ```
/// use cozefallback::Secret;
/// let s = Secret::new("pat_abc");
/// assert_eq!(format!("{s:?}"), "Secret(***)");
/// assert_eq!(s.expose(), "pat_abc");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<Arc<str>>) -> Self {
        Secret(value.into())
    }
    /// The secret itself: call only where it goes on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

/// Prefixes of Coze bearer tokens: PATs, OAuth access tokens, service tokens, and JWTs (base64 of `{"`).
const TOKEN_PREFIXES: [&str; 5] = ["pat_", "czs_", "czu_", "sat_", "eyJ"];

/// Masks anything in `text` that looks like a Coze token, a JWT or PEM key material.
///
/// Applied to every message built from server answers, because a server may echo what it was sent.
///
/// ```
/// assert_eq!(cozefallback::redact("bad token pat_abcdef123 here"), "bad token pat_*** here");
/// ```
pub fn redact(text: &str) -> String {
    if let Some(start) = text.find("-----BEGIN") {
        return format!("{}[PEM redacted]", redact(&text[..start]));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'outer: while !rest.is_empty() {
        for prefix in TOKEN_PREFIXES {
            if rest.starts_with(prefix) && at_word_start(text, rest) {
                let tail = &rest[prefix.len()..];
                let len = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || "-_.+/=".contains(c)))
                    .unwrap_or(tail.len());
                if len >= 3 {
                    out.push_str(prefix);
                    out.push_str("***");
                    rest = &tail[len..];
                    continue 'outer;
                }
            }
        }
        let ch = rest.chars().next().expect("non-empty");
        out.push(ch);
        rest = &rest[ch.len_utf8()..];
    }
    out
}

fn at_word_start(whole: &str, rest: &str) -> bool {
    let offset = whole.len() - rest.len();
    whole[..offset]
        .chars()
        .next_back()
        .is_none_or(|c| !c.is_ascii_alphanumeric() && c != '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_tokens_jwts_and_pem() {
        let text = "a pat_x1y2z3 b czs_QWERTY c eyJhbGciOi.eyJzdWIi.sig d";
        assert_eq!(redact(text), "a pat_*** b czs_*** c eyJ*** d");
        assert_eq!(
            redact("key -----BEGIN PRIVATE KEY----- MII"),
            "key [PEM redacted]"
        );
        assert_eq!(redact("compat_mode"), "compat_mode");
        assert_eq!(redact("中文 pat_abcdef"), "中文 pat_***");
    }
}
