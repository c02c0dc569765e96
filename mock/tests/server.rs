//! End-to-end checks of the mock over real HTTP.

use coze_mock::{MockInfo, MockOptions, MockServer};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

async fn start() -> (MockServer, reqwest::Client) {
    let server = MockServer::start(MockOptions::default()).await.unwrap();
    (server, reqwest::Client::new())
}

async fn get(c: &reqwest::Client, url: String, token: &str) -> (u16, Value) {
    let r = c.get(url).bearer_auth(token).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn post(c: &reqwest::Client, url: String, token: &str, body: Value) -> reqwest::Response {
    c.post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn sign(info: &MockInfo, claims: Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(info.jwt_kid.clone());
    let key = EncodingKey::from_rsa_pem(info.private_key_pem.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

fn claims(info: &MockInfo, jti: &str) -> Value {
    let t = now();
    json!({"iss": info.jwt_client_id, "aud": info.base_url.trim_start_matches("http://"),
           "iat": t, "exp": t + 3600, "jti": jti})
}

async fn mint(c: &reqwest::Client, info: &MockInfo, path: &str, jwt: &str) -> (u16, Value) {
    let r = post(
        c,
        format!("{}{path}", info.base_url),
        jwt,
        json!({"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "duration_seconds": 900}),
    )
    .await;
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn pat_access_follows_the_move() {
    let (m, c) = start().await;
    let info = m.info();
    let bot = |id: &str| format!("{}/v1/bots/{id}", info.base_url);
    let (p, e) = (&info.personal_pat, &info.enterprise_pat);

    assert_eq!(get(&c, bot(&info.bots[0]), p).await.1["code"], 0);
    assert_eq!(get(&c, bot(&info.bots[0]), e).await.1["code"], 4101);
    assert_eq!(get(&c, bot(&info.enterprise_bot), e).await.1["code"], 0);
    assert_eq!(get(&c, bot("1"), p).await.1["code"], 4200);

    m.control().set_moved(true);
    assert_eq!(get(&c, bot(&info.bots[0]), p).await.1["code"], 4101);
    assert_eq!(get(&c, bot(&info.bots[0]), e).await.1["code"], 0);

    // Configured error shape after the move, and an unauthenticated call.
    m.control()
        .set_state(json!({"personal_error_after_move": {"code": 4100, "http_status": 401}}))
        .unwrap();
    let (status, body) = get(&c, bot(&info.bots[0]), p).await;
    assert_eq!((status, body["code"].as_i64()), (401, Some(4100)));
    let r = c
        .get(bot(&info.bots[0]))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let logid = r.headers()["x-tt-logid"].to_str().unwrap().to_string();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], 4100);
    assert_eq!(body["detail"]["logid"], logid);
}

#[tokio::test]
async fn jwt_mint_on_account_and_enterprise_paths() {
    let (m, c) = start().await;
    let info = m.info();
    let account = format!("/api/permission/oauth2/account/{}/token", info.account_id);
    let enterprise = format!(
        "/api/permission/oauth2/enterprise_id/{}/token",
        info.enterprise_id
    );

    let jwt = sign(&info, claims(&info, "jti-1"));
    let (status, tok) = mint(&c, &info, &account, &jwt).await;
    assert_eq!(status, 200, "{tok}");
    let personal = tok["access_token"].as_str().unwrap().to_string();
    assert!(personal.starts_with("czs_"));
    let expires_in = tok["expires_in"].as_i64().unwrap();
    assert!(
        (now() + 890..=now() + 910).contains(&expires_in),
        "absolute time"
    );

    // The same JWT again: its jti was used.
    let (status, err) = mint(&c, &info, &account, &jwt).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(err["error_message"].as_str().unwrap().contains("jti"));

    let (status, tok) = mint(&c, &info, &enterprise, &sign(&info, claims(&info, "jti-2"))).await;
    assert_eq!(status, 200);
    let ent = tok["access_token"].as_str().unwrap().to_string();

    let bot = format!("{}/v1/bots/{}", info.base_url, info.bots[1]);
    assert_eq!(get(&c, bot.clone(), &personal).await.1["code"], 0);
    assert_eq!(get(&c, bot.clone(), &ent).await.1["code"], 4101);
    m.control().set_moved(true);
    assert_eq!(get(&c, bot.clone(), &ent).await.1["code"], 0);

    // Wrong audience, too long a lifetime, wrong issuer.
    let mut bad = claims(&info, "jti-3");
    bad["aud"] = json!("api.coze.cn");
    assert_eq!(mint(&c, &info, &account, &sign(&info, bad)).await.0, 401);
    let mut bad = claims(&info, "jti-4");
    bad["exp"] = json!(now() + 3700);
    assert_eq!(mint(&c, &info, &account, &sign(&info, bad)).await.0, 401);
    let mut bad = claims(&info, "jti-5");
    bad["iss"] = json!("42");
    assert_eq!(mint(&c, &info, &account, &sign(&info, bad)).await.0, 401);

    let stats = m.control().stats();
    assert_eq!(
        stats["token_mints"],
        json!({"app": 0, "account": 1, "enterprise": 1, "oauth": 0})
    );
    assert_eq!(stats["token_requests"], 6);
    assert_eq!(stats["requests"]["total"], 3);
}

#[tokio::test]
async fn fault_with_times_one_then_normal() {
    let (m, c) = start().await;
    let info = m.info();
    m.control()
        .set_state(
            json!({"faults": [{"path": "/v1/workflow/run", "credential": "personal", "times": 1,
            "action": {"type": "error", "code": 5000, "http_status": 500}}]}),
        )
        .unwrap();
    let url = format!("{}/v1/workflow/run", info.base_url);
    let body = json!({"workflow_id": info.workflow_id});
    let r = post(&c, url.clone(), &info.personal_pat, body.clone()).await;
    assert_eq!(r.status().as_u16(), 500);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], 5000);
    let r: Value = post(&c, url, &info.personal_pat, body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["code"], 0);
    assert_eq!(r["data"], "{\"output\":\"hello\"}");
    let log = &m.control().stats()["log"];
    assert_eq!(log[0]["code"], 5000);
    assert_eq!(log[1]["status"], 200);
}

#[tokio::test]
async fn reset_fault_drops_the_connection() {
    let (m, c) = start().await;
    let info = m.info();
    m.control()
        .set_state(
            json!({"faults": [{"path": "/v1/bots", "times": 1, "action": {"type": "reset"}}]}),
        )
        .unwrap();
    let url = format!("{}/v1/bots/{}", info.base_url, info.bots[0]);
    assert!(
        c.get(&url)
            .bearer_auth(&info.personal_pat)
            .send()
            .await
            .is_err()
    );
    assert_eq!(get(&c, url, &info.personal_pat).await.1["code"], 0);
}

#[tokio::test]
async fn chat_stream_framing_and_truncation() {
    let (m, c) = start().await;
    let info = m.info();
    let url = format!("{}/v3/chat", info.base_url);
    let body = json!({"bot_id": info.bots[0], "user_id": "u", "stream": true});
    let r = post(&c, url.clone(), &info.personal_pat, body.clone()).await;
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let text = r.text().await.unwrap();
    assert!(
        text.starts_with("event:conversation.chat.created\ndata:{"),
        "{text}"
    );
    assert!(text.ends_with("event:done\ndata:\"[DONE]\"\n\n"), "{text}");
    assert_eq!(
        text.matches("event:conversation.message.delta\n").count(),
        3
    );
    assert_eq!(text.matches("\n\n").count(), 7);

    // Without access the answer is plain JSON, not a stream.
    let r = post(&c, url.clone(), &info.enterprise_pat, body.clone()).await;
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.json::<Value>().await.unwrap()["code"], 4101);

    m.control()
        .set_state(json!({"faults": [{"path": "/v3/chat", "times": 1,
            "action": {"type": "truncate_stream", "after_events": 2}}]}))
        .unwrap();
    let r = post(&c, url.clone(), &info.personal_pat, body.clone()).await;
    assert!(
        r.text().await.is_err(),
        "a truncated stream must not end cleanly"
    );

    m.control()
        .set_state(json!({"faults": [{"path": "/v3/chat", "times": 1,
            "action": {"type": "stream_error_event", "code": 4101}}]}))
        .unwrap();
    let text = post(&c, url, &info.personal_pat, body)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text.starts_with("event:error\ndata:{\"code\":4101"),
        "{text}"
    );
}

#[tokio::test]
async fn workflow_stream_framing() {
    let (m, c) = start().await;
    let info = m.info();
    let url = format!("{}/v1/workflow/stream_run", info.base_url);
    let r = post(
        &c,
        url,
        &info.personal_pat,
        json!({"workflow_id": info.workflow_id}),
    )
    .await;
    let text = r.text().await.unwrap();
    assert!(text.starts_with("id: 0\nevent: Message\ndata: {"), "{text}");
    assert!(text.contains("id: 2\nevent: Done\ndata: {"), "{text}");
}

#[tokio::test]
async fn conversations_belong_to_their_creator() {
    let (m, c) = start().await;
    let info = m.info();
    let r: Value = post(
        &c,
        format!("{}/v1/conversation/create", info.base_url),
        &info.personal_pat,
        json!({}),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = r["data"]["id"].as_str().unwrap().to_string();
    let url = |id: &str| {
        format!(
            "{}/v1/conversation/retrieve?conversation_id={id}",
            info.base_url
        )
    };
    assert_eq!(get(&c, url(&id), &info.personal_pat).await.1["code"], 0);
    assert_eq!(
        get(&c, url(&id), &info.enterprise_pat).await.1["code"],
        4101
    );
    assert_eq!(
        get(&c, url("123"), &info.personal_pat).await.1["code"],
        4002
    );
}

#[tokio::test]
async fn multipart_upload_and_stats() {
    let (m, c) = start().await;
    let info = m.info();
    let boundary = "mockboundary42";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"notes.txt\"\r\n\
         Content-Type: text/plain\r\n\r\nhello world\r\n--{boundary}--\r\n"
    );
    let r: Value = c
        .post(format!("{}/v1/files/upload", info.base_url))
        .bearer_auth(&info.enterprise_pat)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["code"], 0);
    assert_eq!(r["data"]["bytes"], 11);
    assert_eq!(r["data"]["file_name"], "notes.txt");

    let _ = get(&c, format!("{}/nowhere", info.base_url), &info.personal_pat).await;
    let _ = get(&c, format!("{}/v1/workspaces", info.base_url), "bad").await;
    let stats = m.control().stats();
    assert_eq!(stats["requests"]["total"], 3);
    assert_eq!(
        stats["requests"]["by_credential"],
        json!({"personal": 1, "enterprise": 1, "unauthenticated": 1})
    );
    assert_eq!(stats["requests"]["by_path"]["/v1/files/upload"], 1);
    assert_eq!(stats["log"][1]["status"], 404);

    m.control().reset();
    assert_eq!(m.control().stats()["requests"]["total"], 0);
}

#[test]
fn blocking_server_stops_on_drop() {
    let m = MockServer::start_blocking(MockOptions::default()).unwrap();
    let addr = format!("127.0.0.1:{}", m.port());
    let info_file = m.info().private_key_file;
    assert!(
        std::fs::read_to_string(&info_file)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----\n")
    );
    assert!(std::net::TcpStream::connect(&addr).is_ok());
    drop(m);
    assert!(std::net::TcpStream::connect(&addr).is_err());
    assert!(
        !std::path::Path::new(&info_file).exists(),
        "temp key dir removed"
    );
}
