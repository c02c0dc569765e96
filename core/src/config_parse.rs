//! Reading the configuration JSON with errors a user can act on.
//!
//! serde's own messages speak Rust (`expected u32`, `internally tagged enum CredentialConfig`) and lose the
//! path inside a credential, because an internally tagged enum is buffered before it is read. So the text is
//! parsed to a JSON value first (syntax errors say "not valid JSON"), each credential is checked field by field
//! against [`CREDENTIAL_FIELDS`] (the dotted path, what was expected, what was found; never a secret's value),
//! and what remains goes through serde with its messages put into plain words.

use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::config::{Config, CredentialConfig};
use crate::error::{Error, ErrorKind, Result};
use crate::redact::Secret;
use crate::redact::redact;

/// The JSON type a credential field takes.
#[derive(Clone, Copy)]
enum Want {
    Str,
    StrOrNumber,
    WholeNumber,
    Any,
}

/// One credential field: name, type, required, secret (its value is never shown).
type Field = (&'static str, Want, bool, bool);

/// The fields of each credential type, as [`CredentialConfig`] declares them.
const CREDENTIAL_FIELDS: [(&str, &[Field]); 3] = [
    ("pat", &[("token", Want::Str, true, true)]),
    (
        "jwt",
        &[
            ("client_id", Want::Str, true, false),
            ("private_key", Want::Str, false, true),
            ("private_key_file", Want::Str, false, false),
            ("public_key_id", Want::Str, true, false),
            ("account_id", Want::StrOrNumber, false, false),
            ("enterprise_id", Want::StrOrNumber, false, false),
            ("session_name", Want::Str, false, false),
            ("ttl_secs", Want::WholeNumber, false, false),
            ("scope", Want::Any, false, false),
        ],
    ),
    (
        "oauth",
        &[
            ("client_id", Want::Str, true, false),
            ("client_secret", Want::Str, false, true),
            ("access_token", Want::Str, true, true),
            ("refresh_token", Want::Str, false, true),
            ("expires_at", Want::WholeNumber, false, false),
            ("redirect_uri", Want::Str, false, false),
        ],
    ),
];

/// Parses the config text. See [`Config::from_json`].
pub(crate) fn from_text(text: &str) -> Result<Config> {
    // Tracking the path while parsing lets a syntax error inside a value (`"total_ms": NaN`) name its field.
    let de = &mut serde_json::Deserializer::from_str(text);
    let value: Value = serde_path_to_error::deserialize(de).map_err(|e| {
        // `?` marks a place the parser had not named yet (a trailing comma): keep the part of the path before it.
        let full = e.path().to_string();
        let path = full
            .split('.')
            .take_while(|segment| *segment != "?")
            .filter(|segment| !segment.is_empty())
            .collect::<Vec<_>>()
            .join(".");
        let inner = e.into_inner();
        if path.is_empty() {
            Error::new(
                ErrorKind::Config,
                format!("the config is not valid JSON: {inner}"),
            )
        } else {
            Error::config(path, format!("the value is not valid JSON: {inner}"))
        }
    })?;
    from_value(value)
}

/// Parses a config already in JSON form. See [`Config::from_value`].
pub(crate) fn from_value(value: Value) -> Result<Config> {
    let Value::Object(mut map) = value else {
        return Err(Error::new(
            ErrorKind::Config,
            format!(
                "the config must be a JSON object, found {}",
                found(&value, false)
            ),
        ));
    };
    let personal = map.remove("personal");
    let enterprise = map.remove("enterprise");
    let mut config: Config = serde_path_to_error::deserialize(Value::Object(map)).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." || path.is_empty() {
            "config".to_string()
        } else {
            path
        };
        Error::config(field, plain(&e.into_inner().to_string()))
    })?;
    config.personal = credential("personal", personal)?;
    config.enterprise = credential("enterprise", enterprise)?;
    Ok(config)
}

/// One credential (`side` is `personal` or `enterprise`), checked field by field.
fn credential(side: &str, value: Option<Value>) -> Result<Option<CredentialConfig>> {
    let value = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    let Value::Object(map) = &value else {
        return Err(Error::config(
            side,
            format!(
                "expected an object such as {{\"type\": \"pat\", \"token\": \"pat_...\"}}, found {}",
                found(&value, true)
            ),
        ));
    };
    let kinds = "\"pat\", \"jwt\" or \"oauth\"";
    let ty = match map.get("type") {
        None => {
            return Err(Error::config(
                format!("{side}.type"),
                format!("missing: expected {kinds}"),
            ));
        }
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(Error::config(
                format!("{side}.type"),
                format!("expected {kinds}, found {}", found(other, false)),
            ));
        }
    };
    let Some((_, fields)) = CREDENTIAL_FIELDS.iter().find(|(name, _)| *name == ty) else {
        return Err(Error::config(
            format!("{side}.type"),
            format!("expected {kinds}, found {ty:?}"),
        ));
    };
    check_fields(side, ty, fields, map)?;
    serde_json::from_value(value)
        .map(Some)
        .map_err(|e| Error::config(side, plain(&e.to_string())))
}

fn check_fields(side: &str, ty: &str, fields: &[Field], map: &Map<String, Value>) -> Result<()> {
    for (key, value) in map {
        if key == "type" {
            continue;
        }
        let Some(&(_, want, _, secret)) = fields.iter().find(|f| f.0 == key) else {
            let names: Vec<&str> = fields.iter().map(|f| f.0).collect();
            // A key may be a pasted secret: the path is redacted like the message.
            return Err(Error::config(
                redact(&format!("{side}.{key}")),
                format!(
                    "unknown field `{key}`; a {ty} credential takes type, {}",
                    names.join(", ")
                ),
            ));
        };
        if value.is_null() || type_ok(want, value) {
            continue;
        }
        return Err(Error::config(
            format!("{side}.{key}"),
            format!(
                "expected {}, found {}",
                want_words(want),
                found(value, secret)
            ),
        ));
    }
    for &(key, _, required, _) in fields {
        if required && map.get(key).is_none_or(Value::is_null) {
            return Err(Error::config(
                format!("{side}.{key}"),
                format!("missing: a {ty} credential needs `{key}`"),
            ));
        }
    }
    Ok(())
}

fn type_ok(want: Want, v: &Value) -> bool {
    match want {
        Want::Str => v.is_string(),
        Want::StrOrNumber => v.is_string() || v.is_number(),
        Want::WholeNumber => v.is_u64(),
        Want::Any => true,
    }
}

fn want_words(want: Want) -> &'static str {
    match want {
        Want::Str => "a string",
        Want::StrOrNumber => "a string or a number",
        Want::WholeNumber => "a whole number of 0 or more",
        Want::Any => "any JSON value",
    }
}

/// What a value is, in words; its text only when it is not a secret (and short).
fn found(v: &Value, secret: bool) -> String {
    let kind = match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    };
    let text = v.to_string();
    if secret || matches!(v, Value::Array(_) | Value::Object(_)) || text.len() > 60 {
        kind.to_string()
    } else {
        format!("{kind} ({text})")
    }
}

/// serde's message in plain words: `expected u32` -> `expected a whole number ...`, `invalid type: X,
/// expected Y` -> `expected Y, found X`.
pub(crate) fn plain(msg: &str) -> String {
    let mut m = msg.to_string();
    for (rust, words) in [
        ("u8", "a whole number from 0 to 255"),
        ("u16", "a whole number from 0 to 65535"),
        ("u32", "a whole number from 0 to 4294967295"),
        ("u64", "a whole number of 0 or more"),
        ("usize", "a whole number of 0 or more"),
        ("i32", "a whole number"),
        ("i64", "a whole number"),
        ("f64", "a number"),
        ("a sequence", "a list"),
        ("a map", "an object"),
        ("a borrowed string", "a string"),
    ] {
        m = m.replace(&format!("expected {rust}"), &format!("expected {words}"));
    }
    if let Some(pos) = m.find("expected struct ") {
        let end = m[pos + 16..]
            .find(|c: char| !c.is_alphanumeric())
            .map_or(m.len(), |e| pos + 16 + e);
        m.replace_range(pos..end, "expected an object");
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = m.strip_prefix(prefix)
            && let Some((what, expected)) = rest.split_once(", expected ")
        {
            let what = what
                .replace("map", "an object")
                .replace("sequence", "a list")
                .replace("floating point", "the number")
                .replace("integer", "the number")
                .replace('`', "");
            return format!("expected {expected}, found {what}");
        }
    }
    m
}

const CLIENT_ID: &str = "COZE_JWT_OAUTH_CLIENT_ID";
const KEY: &str = "COZE_JWT_OAUTH_PRIVATE_KEY";
const KEY_FILE: &str = "COZE_JWT_OAUTH_PRIVATE_KEY_FILE_PATH";
const KID: &str = "COZE_JWT_OAUTH_PUBLIC_KEY_ID";

/// The config from the official SDKs' variables, validated; errors name the variable. See
/// [`Config::from_env`].
pub(crate) fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Config> {
    let mut config = Config::default();
    if let Some(base) = get("COZE_API_BASE") {
        config.base_url = base;
    }
    let jwt = |target_var: &str, account: Option<String>, enterprise: Option<String>| {
        let Some(client_id) = get(CLIENT_ID) else {
            return Err(env_error(
                CLIENT_ID,
                format!("{CLIENT_ID} is empty or not set, but {target_var} asks for the JWT app"),
            ));
        };
        let Some(public_key_id) = get(KID) else {
            return Err(env_error(
                KID,
                format!("{KID} is empty or not set: the JWT app needs its public key id"),
            ));
        };
        let (private_key, private_key_file) = match (get(KEY), get(KEY_FILE)) {
            (None, None) => {
                return Err(env_error(
                    KEY,
                    format!("{KEY} (the PEM text) or {KEY_FILE} must be set for the JWT app"),
                ));
            }
            (Some(_), Some(_)) => {
                return Err(env_error(KEY, format!("set {KEY} or {KEY_FILE}, not both")));
            }
            (key, file) => (key.map(Secret::new), file.map(PathBuf::from)),
        };
        Ok(Some(CredentialConfig::Jwt {
            client_id,
            private_key,
            private_key_file,
            public_key_id,
            account_id: account,
            enterprise_id: enterprise,
            session_name: None,
            ttl_secs: None,
            scope: None,
        }))
    };
    let pat = |token: String| {
        Some(CredentialConfig::Pat {
            token: Secret::new(token),
        })
    };
    config.personal = match (get("COZE_API_TOKEN"), get("COZE_PERSONAL_ACCOUNT_ID")) {
        (Some(token), _) => pat(token),
        (None, Some(id)) => jwt("COZE_PERSONAL_ACCOUNT_ID", Some(id), None)?,
        (None, None) => None,
    };
    config.enterprise = match (get("COZE_API_TOKEN_ENTERPRISE"), get("COZE_ENTERPRISE_ID")) {
        (Some(token), _) => pat(token),
        (None, Some(id)) => jwt("COZE_ENTERPRISE_ID", None, Some(id))?,
        (None, None) => None,
    };
    if let Some(mode) = get("COZE_FALLBACK_MODE") {
        config.mode = mode
            .parse()
            .map_err(|e| rename_to_variable(e, "COZE_FALLBACK_MODE"))?;
    }
    if let Some(url) = get(crate::REDIS_URL_ENV) {
        config.state.redis_url = Some(crate::RedisUrl::new(url));
    }
    if config.personal.is_none() && config.enterprise.is_none() {
        return Err(Error::config(
            "environment",
            "no credential found: set COZE_API_TOKEN and/or COZE_API_TOKEN_ENTERPRISE, or \
             COZE_JWT_OAUTH_CLIENT_ID with COZE_PERSONAL_ACCOUNT_ID and/or COZE_ENTERPRISE_ID",
        ));
    }
    config.validate().map_err(|e| {
        let var = e.field().and_then(variable_of).unwrap_or("environment");
        rename_to_variable(e, var)
    })?;
    Ok(config)
}

fn env_error(var: &str, message: String) -> Error {
    let mut e = Error::new(ErrorKind::Config, message);
    e.field = Some(var.to_string());
    e
}

/// The variable a config field came from in [`from_env`].
fn variable_of(field: &str) -> Option<&'static str> {
    let (side, key) = field.split_once('.').unwrap_or(("", field));
    Some(match (side, key) {
        ("", "base_url") => "COZE_API_BASE",
        ("", "mode") => "COZE_FALLBACK_MODE",
        ("state", "redis_url") => crate::REDIS_URL_ENV,
        ("personal", "token") => "COZE_API_TOKEN",
        ("enterprise", "token") => "COZE_API_TOKEN_ENTERPRISE",
        (_, "client_id") => CLIENT_ID,
        (_, "public_key_id") => KID,
        (_, "private_key") => KEY,
        (_, "private_key_file") => KEY_FILE,
        (_, "account_id") => "COZE_PERSONAL_ACCOUNT_ID",
        (_, "enterprise_id") => "COZE_ENTERPRISE_ID",
        _ => return None,
    })
}

/// `invalid config `base_url`: reason` -> `COZE_API_BASE: reason`, with `field` the variable.
fn rename_to_variable(mut e: Error, var: &str) -> Error {
    let prefix = format!("invalid config `{}`: ", e.field().unwrap_or(""));
    let reason = e
        .message()
        .strip_prefix(&prefix)
        .unwrap_or(e.message())
        .to_string();
    let reason = reason.replace("must not be empty", "is empty");
    e.message = if reason.starts_with("is ") {
        format!("{var} {reason}")
    } else {
        format!("{var}: {reason}")
    };
    e.field = Some(var.to_string());
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> Error {
        from_text(text).unwrap_err()
    }

    #[test]
    fn a_syntax_error_says_not_json() {
        let e = err(r#"{"personal": {"type": "pat", "token": "x"},}"#);
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(
            e.message()
                .starts_with("the config is not valid JSON: trailing comma at line 1"),
            "{e}"
        );
        assert!(!e.message().contains('?'), "{e}");
        assert_eq!(e.field(), None);
    }

    #[test]
    fn a_syntax_error_inside_a_value_names_its_field() {
        for bad in ["NaN", "Infinity", "-Infinity"] {
            let e = err(&format!(
                r#"{{"personal": {{"type": "pat", "token": "x"}}, "timeouts": {{"total_ms": {bad}}}}}"#
            ));
            assert_eq!(e.field(), Some("timeouts.total_ms"), "{e}");
            assert!(e.message().contains("timeouts.total_ms"), "{e}");
            assert!(e.message().contains("not valid JSON"), "{e}");
        }
    }

    #[test]
    fn a_wrong_type_in_a_credential_names_the_dotted_path_and_hides_the_secret() {
        let e = err(r#"{"personal": {"type": "pat", "token": 5}}"#);
        assert_eq!(e.field(), Some("personal.token"));
        assert!(
            e.message().contains("expected a string, found a number"),
            "{e}"
        );
        assert!(
            !e.message().contains('5'),
            "a secret's value is never shown: {e}"
        );
        let e = err(r#"{"enterprise": {"type": "jwt", "client_id": 11, "public_key_id": "k"}}"#);
        assert_eq!(e.field(), Some("enterprise.client_id"));
        assert!(e.message().contains("found a number (11)"), "{e}");
    }

    #[test]
    fn an_unknown_key_in_a_credential_names_the_dotted_path() {
        let e = err(r#"{"enterprise": {"type": "pat", "tokn": "x"}}"#);
        assert_eq!(e.field(), Some("enterprise.tokn"));
        assert!(
            e.message()
                .contains("unknown field `tokn`; a pat credential takes type, token"),
            "{e}"
        );
        let e = err(r#"{"personal": {"type": "pat", "token": "x", "pat_abcdef123456": 1}}"#);
        assert_eq!(
            e.field(),
            Some("personal.pat_***"),
            "a pasted token as a key is masked"
        );
    }

    #[test]
    fn no_rust_names_in_messages() {
        for (text, field, words) in [
            (r#"{"personal": "pat_x"}"#, "personal", "expected an object"),
            (
                r#"{"personal": {"token": "x"}}"#,
                "personal.type",
                "missing",
            ),
            (
                r#"{"personal": {"type": "patx"}}"#,
                "personal.type",
                "found \"patx\"",
            ),
            (
                r#"{"personal": {"type": "pat"}}"#,
                "personal.token",
                "needs `token`",
            ),
            (
                r#"{"retry": {"max_retries": "a"}}"#,
                "retry.max_retries",
                "expected a whole number from 0 to 4294967295, found string \"a\"",
            ),
            (
                r#"{"timeouts": {"connect_ms": -1}}"#,
                "timeouts.connect_ms",
                "found the number -1",
            ),
            (
                r#"{"fallback": 3}"#,
                "fallback",
                "expected an object, found the number 3",
            ),
            (
                r#"{"personal": {"type": "jwt", "client_id": "1", "public_key_id": "k", "ttl_secs": 1e30}}"#,
                "personal.ttl_secs",
                "expected a whole number of 0 or more, found a number",
            ),
        ] {
            let e = err(text);
            assert_eq!(e.field(), Some(field), "{text}: {e}");
            assert!(e.message().contains(words), "{text}: {e}");
            for rust in ["u32", "u64", "struct", "enum", "CredentialConfig", "Some("] {
                assert!(!e.message().contains(rust), "{text}: {e}");
            }
        }
    }

    fn env(vars: &[(&str, &str)]) -> Result<Config> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        from_env(move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn env_errors_name_the_variable() {
        let e = env(&[
            ("COZE_JWT_OAUTH_CLIENT_ID", "11"),
            ("COZE_ENTERPRISE_ID", "volcano_1"),
            ("COZE_JWT_OAUTH_PRIVATE_KEY", "x"),
        ])
        .unwrap_err();
        assert_eq!(e.field(), Some("COZE_JWT_OAUTH_PUBLIC_KEY_ID"));
        assert!(
            e.message()
                .starts_with("COZE_JWT_OAUTH_PUBLIC_KEY_ID is empty"),
            "{e}"
        );
        let e = env(&[("COZE_API_TOKEN", "pat_x"), ("COZE_API_BASE", "ftp://x")]).unwrap_err();
        assert_eq!(e.field(), Some("COZE_API_BASE"));
        assert!(
            e.message().starts_with("COZE_API_BASE: scheme \"ftp\""),
            "{e}"
        );
        let e = env(&[("COZE_API_TOKEN", "pat_x\n")]).unwrap_err();
        assert_eq!(e.field(), Some("COZE_API_TOKEN"));
        let e = env(&[
            ("COZE_API_TOKEN", "pat_x"),
            ("COZE_FALLBACK_MODE", "sideways"),
        ])
        .unwrap_err();
        assert_eq!(e.field(), Some("COZE_FALLBACK_MODE"));
        assert!(e.message().contains("sideways"), "{e}");
        let e = env(&[
            ("COZE_JWT_OAUTH_CLIENT_ID", "11"),
            ("COZE_ENTERPRISE_ID", "volcano_1"),
            ("COZE_JWT_OAUTH_PUBLIC_KEY_ID", "k"),
            ("COZE_JWT_OAUTH_PRIVATE_KEY", "not a key"),
        ])
        .unwrap_err();
        assert_eq!(e.field(), Some("COZE_JWT_OAUTH_PRIVATE_KEY"));
        assert!(
            e.message()
                .starts_with("COZE_JWT_OAUTH_PRIVATE_KEY is not a PEM RSA private key"),
            "{e}"
        );
    }

    #[test]
    fn the_field_table_matches_the_credential_types() {
        // Every listed field is accepted by serde with a value of the listed type.
        for (ty, fields) in CREDENTIAL_FIELDS {
            let mut obj = Map::new();
            obj.insert("type".into(), ty.into());
            for (name, want, _, _) in fields {
                let v = match want {
                    Want::Str | Want::StrOrNumber => Value::from("x"),
                    Want::WholeNumber => Value::from(60),
                    Want::Any => Value::from("s"),
                };
                obj.insert(name.to_string(), v);
            }
            if ty == "jwt" {
                obj.remove("enterprise_id");
            }
            serde_json::from_value::<CredentialConfig>(Value::Object(obj))
                .unwrap_or_else(|e| panic!("{ty}: {e}"));
        }
    }
}
