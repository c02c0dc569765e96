//! The fixed identities the mock knows (also served by `GET /__mock/info`).

/// The personal account's PAT.
pub const PERSONAL_PAT: &str = "pat_mock_personal_0123456789abcdef";
/// The enterprise PAT (valid for all workspaces of the enterprise).
pub const ENTERPRISE_PAT: &str = "pat_mock_enterprise_0123456789abcdef";
/// The JWT app's client id (`iss` of the app's JWTs).
pub const JWT_CLIENT_ID: &str = "1130000000000000001";
/// The id of the JWT app's public key (`kid` header of the app's JWTs).
pub const JWT_KID: &str = "mock_kid_0001";
/// The personal account id (UID of the workspace owner).
pub const ACCOUNT_ID: &str = "2100000000001";
/// The enterprise id.
pub const ENTERPRISE_ID: &str = "volcano_2105850000";
/// The OAuth (OBO) app's client id.
pub const OAUTH_CLIENT_ID: &str = "1130000000000000002";
/// The OAuth (OBO) app's client secret.
pub const OAUTH_CLIENT_SECRET: &str = "mock_client_secret_0123456789";
/// The workspace holding the bots and the workflow; it is what "moves" to the enterprise.
pub const WORKSPACE_ID: &str = "7340000000000000001";
/// The bots of the workspace.
pub const BOTS: [&str; 3] = [
    "7350000000000000001",
    "7350000000000000002",
    "7350000000000000003",
];
/// A bot that only the enterprise can reach, moved or not.
pub const ENTERPRISE_BOT: &str = "7350000000000000009";
/// The workflow of the workspace.
pub const WORKFLOW_ID: &str = "7360000000000000001";
