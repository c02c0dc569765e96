//! The URL rules of a request, in one place: how a request path becomes the URL the credentials are sent to.
//!
//! - A path is relative to `base_url` (`/v1/bots`); one without a leading slash (`v1/bots`) means the same.
//! - An absolute URL (`http://` or `https://`, in any case) is accepted only on the base's origin.
//! - Either way the result stays under the base's path: a dot segment (`..`, `.`, also percent-encoded, `%2e%2E`)
//!   is refused rather than resolved, so `/../x` never reaches a path outside `https://h/api/`.
//! - Control characters (NUL, CR, LF, tab, ...) are refused, never dropped.

use std::net::IpAddr;

use crate::error::{Error, Result};

/// `s` with any user info (`user:password@`) of its authority replaced by `***@`, for error messages.
pub(crate) fn without_userinfo(s: &str) -> String {
    let Some(start) = s.find("://").map(|i| i + 3) else {
        return s.to_string();
    };
    let end = s[start..]
        .find(['/', '?', '#'])
        .map_or(s.len(), |i| start + i);
    match s[start..end].rfind('@') {
        Some(at) => format!("{}***@{}", &s[..start], &s[start + at + 1..]),
        None => s.to_string(),
    }
}

/// Resolves a request `path` against `base` (already validated, without user info, query or fragment).
///
/// `base_text` is `base` without its trailing slash, the prefix a relative path is appended to.
pub(crate) fn resolve(base: &url::Url, base_text: &str, path: &str) -> Result<url::Url> {
    if is_plain_path(path) {
        return Ok(under_base(base, path));
    }
    resolve_checked(base, base_text, path)
}

/// [`resolve`] for any path: control characters, schemes, origins, dot segments (plain or percent-encoded)
/// and the base path are all checked.
fn resolve_checked(base: &url::Url, base_text: &str, path: &str) -> Result<url::Url> {
    if let Some(bad) = path.chars().find(|c| c.is_control()) {
        return Err(Error::invalid_argument(format!(
            "path {:?} contains the control character {:?}; it is refused rather than dropped",
            path.escape_debug().to_string(),
            bad
        )));
    }
    let url = match scheme_of(path) {
        Some(scheme)
            if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") =>
        {
            refuse_dot_segments(path, after_authority(path))?;
            let url = url::Url::parse(path)
                .map_err(|e| Error::invalid_argument(format!("path is not a URL: {e}")))?;
            if url.origin() != base.origin() {
                return Err(Error::invalid_argument(format!(
                    "refusing to send credentials to {}: only the configured base {} receives them",
                    url.origin().ascii_serialization(),
                    base.origin().ascii_serialization()
                )));
            }
            url
        }
        Some(scheme) => {
            return Err(Error::invalid_argument(format!(
                "path {path:?} is a {scheme}: URL; only a path (/v1/...) or an http(s) URL on the base is accepted"
            )));
        }
        None => {
            refuse_dot_segments(path, path)?;
            let sep = if path.starts_with('/') { "" } else { "/" };
            url::Url::parse(&format!("{base_text}{sep}{path}"))
                .map_err(|e| Error::invalid_argument(format!("path {path:?} is not valid: {e}")))?
        }
    };
    let root = base.path().trim_end_matches('/');
    let under = url.path() == root || url.path().starts_with(&format!("{root}/"));
    if !under {
        return Err(Error::invalid_argument(format!(
            "path {:?} leaves the base path {}/ of base_url",
            url.path(),
            root
        )));
    }
    Ok(url)
}

/// Whether `path` is a plain absolute path, such as `/v1/bots/7?x=1`, that needs none of the checks: only
/// unreserved characters and `/?=&`, and no segment that is `.` or `..` (anything else takes the full route).
fn is_plain_path(path: &str) -> bool {
    path.starts_with('/')
        && path.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~' | b'?' | b'=' | b'&')
        })
        && !path
            .split(['/', '?', '&', '='])
            .any(|s| s == "." || s == "..")
}

/// `base` with a plain path appended to its own path: only the path and the query are parsed.
fn under_base(base: &url::Url, path: &str) -> url::Url {
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let root = base.path().trim_end_matches('/');
    let mut joined = String::with_capacity(root.len() + path.len());
    joined.push_str(root);
    joined.push_str(path);
    let mut url = base.clone();
    url.set_path(&joined);
    url.set_query(query);
    url
}

/// The scheme of an absolute URL (`HTTP` in `HTTP://h/x`), or `None` for a path.
fn scheme_of(path: &str) -> Option<&str> {
    let (scheme, _) = path.split_once("://")?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}

/// The part of an absolute URL after its authority (`/x?y` of `https://h/x?y`).
fn after_authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find(['/', '\\', '?', '#']).map_or("", |i| &rest[i..])
}

/// Refuses `.` and `..` segments, written plainly or percent-encoded, before the URL parser would resolve them.
fn refuse_dot_segments(original: &str, path: &str) -> Result<()> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    for segment in path.split(['/', '\\']) {
        let decoded = percent_decode(segment);
        if decoded.split(['/', '\\']).any(|p| p == "." || p == "..") {
            return Err(Error::invalid_argument(format!(
                "path {original:?} has a dot segment ({segment:?}); a request path must stay under base_url's path"
            )));
        }
    }
    Ok(())
}

/// `%XX` escapes decoded (invalid ones kept as they are); enough to see a dot or a slash however it is written.
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Checks an explicit `ws_base_url` (`wss://`, or `ws://` to a loopback host or with `allow_insecure_http`).
///
/// Here, below `config`, because `Config::validate` checks the field at start-up and the WebSocket
/// client resolves it when it connects.
pub(crate) fn explicit_ws_base(raw: &str, allow_insecure: bool) -> Result<url::Url> {
    let field = "ws_base_url";
    let url = url::Url::parse(raw.trim_end_matches('/'))
        .map_err(|e| Error::config(field, format!("{raw:?} is not a URL: {e}")))?;
    match url.scheme() {
        "wss" => {}
        "ws" if is_loopback(&url) || allow_insecure => {}
        "ws" => {
            return Err(Error::config(
                field,
                format!(
                    "{raw} uses ws:// to a non-loopback host, which would send tokens in clear text; use wss:// or set allow_insecure_http"
                ),
            ));
        }
        other => {
            return Err(Error::config(
                field,
                format!("scheme {other:?} is not ws or wss (expected e.g. wss://ws.coze.cn)"),
            ));
        }
    }
    if url.host().is_none() {
        return Err(Error::config(field, "has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::config(field, "must not have a query or fragment"));
    }
    Ok(url)
}

/// Whether the URL names `localhost` or a loopback IP address.
pub(crate) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(s: &str) -> (url::Url, String) {
        let url = url::Url::parse(s).unwrap();
        let text = url.as_str().trim_end_matches('/').to_string();
        (url, text)
    }

    fn kind(r: Result<url::Url>) -> crate::ErrorKind {
        r.unwrap_err().kind()
    }

    #[test]
    fn paths_stay_under_the_base_path() {
        let (b, t) = base("http://h/api/");
        assert_eq!(
            resolve(&b, &t, "/v1/bots").unwrap().as_str(),
            "http://h/api/v1/bots"
        );
        assert_eq!(
            resolve(&b, &t, "v1/bots").unwrap().as_str(),
            "http://h/api/v1/bots"
        );
        for bad in [
            "/../x",
            "/%2e%2e/x",
            "/%2E%2e/x",
            "/.%2E/x",
            "/v1/../../x",
            "/./x",
            "/..\\x",
            "/..%2fx",
        ] {
            let err = resolve(&b, &t, bad).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument, "{bad}");
            assert!(err.message().contains("dot segment"), "{bad}: {err}");
        }
        // A dot inside a name is not a segment.
        assert!(resolve(&b, &t, "/v1/files/a..b.txt").is_ok());
        // An absolute URL on the origin but outside the base path.
        assert_eq!(
            kind(resolve(&b, &t, "http://h/other")),
            crate::ErrorKind::InvalidArgument
        );
        assert!(resolve(&b, &t, "http://h/api/v1/x").is_ok());
    }

    #[test]
    fn a_plain_path_resolves_as_the_full_checks_would() {
        for b in ["http://h/", "http://h:8/api/", "https://h/api/v3"] {
            let (b, t) = base(b);
            for path in [
                "/v1/bots/7",
                "/",
                "/v1/bot/get_online_info?bot_id=7&x=",
                "/v1/x?",
                "/v1/files/a..b.txt",
                "//other.example/x",
                "/v1/a-b_c~d.e",
            ] {
                assert!(is_plain_path(path), "{path}");
                let fast = resolve(&b, &t, path).unwrap();
                let full = resolve_checked(&b, &t, path).unwrap();
                assert_eq!(fast.as_str(), full.as_str(), "{path}");
                assert_eq!(fast.host_str(), Some("h"), "{path}");
            }
        }
        for not_plain in [
            "v1/x", "/v1/../x", "/./x", "/x?a=..", "/%2e%2e", "/a\\b", "/a#b", "/é", "/a b",
        ] {
            assert!(!is_plain_path(not_plain), "{not_plain}");
        }
    }

    #[test]
    fn schemes_are_case_insensitive() {
        let (b, t) = base("http://h/");
        assert_eq!(
            resolve(&b, &t, "HTTP://h/v1/x").unwrap().as_str(),
            "http://h/v1/x"
        );
        let err = resolve(&b, &t, "HTTP://evil.example/v1/x").unwrap_err();
        assert!(
            err.message().contains("refusing to send credentials"),
            "{err}"
        );
        assert_eq!(
            kind(resolve(&b, &t, "Https://h/v1/x")),
            crate::ErrorKind::InvalidArgument
        );
        assert_eq!(
            kind(resolve(&b, &t, "ftp://h/v1/x")),
            crate::ErrorKind::InvalidArgument
        );
    }

    #[test]
    fn control_characters_are_refused() {
        let (b, t) = base("http://h/");
        for bad in ["/v1/bots\0/x", "/v1/\nbots", "/v1/\tbots", "/v1/bots\x7f"] {
            let err = resolve(&b, &t, bad).unwrap_err();
            assert!(err.message().contains("control character"), "{err}");
        }
    }

    #[test]
    fn user_info_is_masked() {
        assert_eq!(without_userinfo("http://a:b@h:1/x@y"), "http://***@h:1/x@y");
        assert_eq!(without_userinfo("https://h/x"), "https://h/x");
        assert_eq!(without_userinfo("not a url"), "not a url");
    }
}
