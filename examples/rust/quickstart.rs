//! The migration guide's migration, in Rust: one client with the old personal PAT and the new enterprise JWT app, against
//! the embedded mock Coze. Before the move the personal credential serves; after it the enterprise one does,
//! with no code change and no failed call. Run: `cargo run -p cozefallback --example quickstart`.

use coze_mock::{MockOptions, MockServer};
use cozefallback::{Client, Mode, Request};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mock = MockServer::start(MockOptions::default()).await?;
    let info = mock.info();
    // In production: Client::from_env() with COZE_API_TOKEN, COZE_JWT_OAUTH_* and COZE_ENTERPRISE_ID.
    let client = Client::from_json(
        &json!({
            "base_url": info.base_url,
            "personal": {"type": "pat", "token": info.personal_pat},
            "enterprise": {"type": "jwt", "client_id": info.jwt_client_id, "private_key": info.private_key_pem,
                           "public_key_id": info.jwt_kid, "enterprise_id": info.enterprise_id},
        })
        .to_string(),
    )?;
    let chat = || {
        Request::post_json(
            "/v3/chat",
            json!({"bot_id": info.bots[0], "user_id": "user-1", "stream": false,
                   "additional_messages": [{"role": "user", "content": "hi", "content_type": "text"}]}),
        )
    };
    let before = client.request(chat()).await?;
    println!(
        "before the move: {} credential, {} round trip(s)",
        before.credential, before.attempts
    );
    mock.control().set_moved(true);
    let during = client.request(chat()).await?;
    println!(
        "right after the move: {} credential, {} round trip(s)",
        during.credential, during.attempts
    );
    let after = client.request(chat()).await?;
    println!(
        "from then on: {} credential, {} round trip(s)",
        after.credential, after.attempts
    );
    client.set_mode(Mode::EnterpriseOnly)?; // the migration guide's last step: retire the old credential
    let retired = client.request(chat()).await?;
    println!(
        "old credential retired: {} credential, {} round trip(s)",
        retired.credential, retired.attempts
    );
    assert_eq!(
        (after.credential.as_str(), after.attempts),
        ("enterprise", 1)
    );
    Ok(())
}
