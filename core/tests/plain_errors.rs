//! Errors in plain words: what a user sees for a bad key, a key in an environment variable, a stream that is
//! not one, and the world-readable key warning (once per file).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use coze_mock::{BlockingMockServer, MockOptions, MockServer};
use cozefallback::{Client, Config, ErrorKind, Request};

fn mock() -> BlockingMockServer {
    MockServer::start_blocking(MockOptions::default()).expect("start mock")
}

fn jwt_config(base: &str, key_field: serde_json::Value) -> String {
    let mut cred = serde_json::json!({"type": "jwt", "client_id": "1130000000000000001",
                                      "public_key_id": "mock_kid_0001", "enterprise_id": "volcano_2105850000"});
    for (k, v) in key_field.as_object().unwrap() {
        cred[k] = v.clone();
    }
    serde_json::json!({"base_url": base, "enterprise": cred}).to_string()
}

#[test]
fn a_bad_pem_is_described_without_rust_names_or_a_cut_hint() {
    let cases = [
        ("garbage", "found 7 characters without a PEM block"),
        (
            "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n",
            "found a public key",
        ),
        (
            "-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n",
            "does not decode to an RSA key",
        ),
    ];
    for (pem, words) in cases {
        let text = jwt_config(
            "http://127.0.0.1:9",
            serde_json::json!({"private_key": pem}),
        );
        let err = Client::from_json(&text).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert_eq!(err.field(), Some("enterprise.private_key"));
        let msg = err.to_string();
        assert!(msg.contains(words), "{msg}");
        assert!(
            msg.contains("BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY") || words.contains("decode"),
            "{msg}"
        );
        assert!(
            !msg.contains("InvalidKeyFormat") && !msg.contains("[PEM redacted]"),
            "{msg}"
        );
        assert!(
            !msg.contains("MIIB") && !msg.contains("not base64"),
            "key text shown: {msg}"
        );
    }
}

#[test]
fn a_pem_with_literal_backslash_n_from_the_environment_is_accepted() {
    let m = mock();
    let info = m.info();
    let escaped = info.private_key_pem.trim_end().replace('\n', "\\n");
    assert!(!escaped.contains('\n'));
    let env = |k: &str| -> Option<String> {
        match k {
            "COZE_API_BASE" => Some(info.base_url.clone()),
            "COZE_JWT_OAUTH_CLIENT_ID" => Some(info.jwt_client_id.clone()),
            "COZE_JWT_OAUTH_PUBLIC_KEY_ID" => Some(info.jwt_kid.clone()),
            "COZE_JWT_OAUTH_PRIVATE_KEY" => Some(escaped.clone()),
            "COZE_ENTERPRISE_ID" => Some(info.enterprise_id.clone()),
            _ => None,
        }
    };
    let config = Config::from_env_with(env).expect("the escaped PEM is accepted");
    let client = Client::new(config).unwrap();
    let resp = cozefallback::runtime()
        .block_on(client.request(Request::get("/v1/users/me")))
        .unwrap();
    assert_eq!(resp.credential.as_str(), "enterprise");
}

#[test]
fn a_json_answer_to_a_stream_names_the_content_type_in_words() {
    let m = mock();
    let info = m.info();
    let text = serde_json::json!({"base_url": info.base_url,
                                  "personal": {"type": "pat", "token": info.personal_pat}})
    .to_string();
    let client = Client::from_json(&text).unwrap();
    let Err(err) = cozefallback::runtime().block_on(client.stream(Request::get("/v1/workspaces")))
    else {
        panic!("a JSON answer is not a stream");
    };
    let msg = err.to_string();
    assert!(
        msg.contains("got Content-Type application/json with HTTP 200"),
        "{msg}"
    );
    assert!(!msg.contains("Some("), "{msg}");
}

/// Counts WARN records that mention the world-readable key.
struct CountWarnings(Arc<AtomicUsize>);

impl tracing::Subscriber for CountWarnings {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Msg(bool);
        impl tracing::field::Visit for Msg {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                self.0 |= f.name() == "message" && format!("{v:?}").contains("world-readable");
            }
        }
        let mut m = Msg(false);
        event.record(&mut m);
        if m.0 && *event.metadata().level() == tracing::Level::WARN {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[cfg(unix)]
#[test]
fn the_world_readable_key_warning_comes_once_per_file() {
    use std::os::unix::fs::PermissionsExt;
    let m = mock();
    let info = m.info();
    let dir = std::env::temp_dir().join(format!("cozefallback-warn-once-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("key.pem");
    std::fs::write(&key, &info.private_key_pem).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let jwt = |target: (&str, &str)| {
        let mut c = serde_json::json!({"type": "jwt", "client_id": info.jwt_client_id,
                                       "private_key_file": key, "public_key_id": info.jwt_kid});
        c[target.0] = target.1.into();
        c
    };
    let text = serde_json::json!({"base_url": info.base_url,
                                  "personal": jwt(("account_id", &info.account_id)),
                                  "enterprise": jwt(("enterprise_id", &info.enterprise_id))})
    .to_string();
    let count = Arc::new(AtomicUsize::new(0));
    tracing::subscriber::with_default(CountWarnings(count.clone()), || {
        let client = Client::from_json(&text).unwrap();
        drop(client);
        let _again = Client::from_json(&text).unwrap();
    });
    assert_eq!(
        count.load(Ordering::SeqCst),
        1,
        "one warning for one key file"
    );
    let _ = std::fs::remove_dir_all(dir);
}
