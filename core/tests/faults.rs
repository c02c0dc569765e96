//! Faults a live service meets, beyond the conformance scenarios: a token endpoint down at start, huge and broken
//! bodies, Retry-After as an HTTP date, DNS failures, TLS spoken to a plain-HTTP port.

use std::time::{Duration, Instant, SystemTime};

use coze_mock::{MockOptions, MockServer};
use cozefallback::{Client, ErrorKind, Request};
use serde_json::json;

async fn mock() -> MockServer {
    MockServer::start(MockOptions::default())
        .await
        .expect("start the mock")
}

fn pat_client(base: &str, token: &str, extra: serde_json::Value) -> Client {
    let mut config = json!({"base_url": base, "personal": {"type": "pat", "token": token}, "retry": {"base_delay_ms": 10}});
    if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            c.insert(k.clone(), v.clone());
        }
    }
    Client::from_json(&config.to_string()).unwrap()
}

#[tokio::test]
async fn token_endpoint_down_at_start_fails_fast_with_a_clear_error() {
    let mock = mock().await;
    let info = mock.info();
    mock.control()
        .set_state(json!({"faults": [{"path": "/api/permission/oauth2/", "action": {"type": "http", "http_status": 503, "body": "down"}}]}))
        .unwrap();
    let config = json!({
        "base_url": info.base_url,
        "personal": {"type": "jwt", "client_id": info.jwt_client_id, "private_key": info.private_key_pem,
                     "public_key_id": info.jwt_kid, "account_id": info.account_id},
        "retry": {"max_retries": 2, "base_delay_ms": 10},
    });
    let client = Client::from_json(&config.to_string()).unwrap();
    let started = Instant::now();
    let err = client
        .request(Request::get(format!("/v1/bots/{}", info.bots[0])))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.to_string().contains("token request"), "{err}");
    assert!(err.to_string().contains("503"), "{err}");
    assert_eq!(
        mock.control().stats()["token_requests"],
        3,
        "one try and two retries"
    );
}

#[tokio::test]
async fn a_hanging_token_endpoint_is_bounded_by_the_call_deadline() {
    let mock = mock().await;
    let info = mock.info();
    mock.control()
        .set_state(
            json!({"faults": [{"path": "/api/permission/oauth2/", "action": {"type": "hang"}}]}),
        )
        .unwrap();
    let config = json!({
        "base_url": info.base_url,
        "personal": {"type": "jwt", "client_id": info.jwt_client_id, "private_key": info.private_key_pem,
                     "public_key_id": info.jwt_kid, "account_id": info.account_id},
        "timeouts": {"total_ms": 800},
    });
    let client = Client::from_json(&config.to_string()).unwrap();
    let started = Instant::now();
    let err = client
        .request(Request::get(format!("/v1/bots/{}", info.bots[0])))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.to_string().contains("access token"), "{err}");
}

#[tokio::test]
async fn a_ten_megabyte_body_arrives_whole() {
    let mock = mock().await;
    let info = mock.info();
    let big = format!("{{\"code\":0,\"data\":\"{}\"}}", "x".repeat(10 << 20));
    mock.control()
        .set_state(json!({"faults": [{"path": "/v1/bots/", "action": {"type": "body", "body": big, "content_type": "application/json", "http_status": 200}}]}))
        .unwrap();
    let client = pat_client(&info.base_url, &info.personal_pat, json!({}));
    let resp = client
        .request(Request::get(format!("/v1/bots/{}", info.bots[0])))
        .await
        .unwrap();
    assert_eq!(resp.body.len(), big.len());
    assert_eq!(
        resp.json().unwrap()["data"].as_str().unwrap().len(),
        10 << 20
    );
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured() {
    let mock = mock().await;
    let info = mock.info();
    let at = SystemTime::now() + Duration::from_secs(2);
    let secs = at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    let date = http_date(secs);
    mock.control()
        .set_state(json!({"faults": [{"path": "/v1/bots/", "times": 1, "action": {"type": "http", "http_status": 503,
            "body": "busy", "content_type": "text/plain", "retry_after": date}}]}))
        .unwrap();
    let client = pat_client(&info.base_url, &info.personal_pat, json!({}));
    let started = Instant::now();
    let resp = client
        .request(Request::get(format!("/v1/bots/{}", info.bots[0])))
        .await
        .unwrap();
    assert_eq!(resp.attempts, 2);
    // The date has one-second resolution: at least one second must have been waited.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited only {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_retry_after_beyond_the_deadline_is_not_waited_for() {
    let mock = mock().await;
    let info = mock.info();
    mock.control()
        .set_state(json!({"faults": [{"path": "/v1/bots/", "action": {"type": "http", "http_status": 429,
            "body": "{\"code\":4009,\"msg\":\"slow down\"}", "content_type": "application/json", "retry_after": "30"}}]}))
        .unwrap();
    let client = pat_client(
        &info.base_url,
        &info.personal_pat,
        json!({"timeouts": {"total_ms": 2000}}),
    );
    let started = Instant::now();
    let err = client
        .request(Request::get(format!("/v1/bots/{}", info.bots[0])))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.code(), Some(4009));
    assert_eq!(err.http_status(), Some(429));
}

#[tokio::test]
async fn dns_failure_is_a_transport_error() {
    let client = pat_client(
        "https://coze-mock-does-not-exist.invalid",
        "pat_x",
        json!({"timeouts": {"connect_ms": 3000, "total_ms": 8000}, "retry": {"max_retries": 0}}),
    );
    let err = client
        .request(Request::get("/v1/workspaces"))
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Transport | ErrorKind::Timeout),
        "{err:?}"
    );
    assert!(!err.to_string().contains("pat_x"));
}

#[tokio::test]
async fn tls_spoken_to_a_plain_http_port_is_a_transport_error() {
    let mock = mock().await;
    let info = mock.info();
    let https = info.base_url.replace("http://", "https://");
    let client = pat_client(
        &https,
        &info.personal_pat,
        json!({"retry": {"max_retries": 0}}),
    );
    let err = client
        .request(Request::get(format!("/v1/bots/{}", info.bots[0])))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport, "{err:?}");
    assert_eq!(
        mock.control().stats()["requests"]["total"],
        0,
        "nothing readable reached the server"
    );
}

#[tokio::test]
async fn a_body_over_the_cap_is_refused_before_sending() {
    let mock = mock().await;
    let info = mock.info();
    // max_request_bytes, and its old name max_body_bytes: the same setting.
    for key in ["max_request_bytes", "max_body_bytes"] {
        let client = pat_client(&info.base_url, &info.personal_pat, json!({key: 1024}));
        let err = client
            .upload("/v1/files/upload", "big.bin", vec![0u8; 4096])
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(
            err.to_string().contains("max_request_bytes (1024 bytes)"),
            "{err}"
        );
    }
    assert_eq!(mock.control().stats()["requests"]["total"], 0);
}

/// IMF-fixdate for a Unix time (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn http_date(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let (h, m, s) = ((secs % 86_400) / 3600, (secs % 3600) / 60, secs % 60);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    // Civil from days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let name = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(month - 1) as usize];
    format!("{weekday}, {day:02} {name} {year} {h:02}:{m:02}:{s:02} GMT")
}

#[test]
fn http_date_helper_matches_the_rfc_example() {
    assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
}
