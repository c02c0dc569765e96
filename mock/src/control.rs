//! The unauthenticated control API under `/__mock/`.

use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use crate::auth;
use crate::body::Reply;
use crate::ctx::Ctx;
use crate::shared::Shared;

/// Answers a `/__mock/...` request (never logged or counted).
pub(crate) fn handle(shared: &Shared, ctx: &Ctx) -> Reply {
    let body: Value = if ctx.body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&ctx.body) {
            Ok(v) => v,
            Err(e) => return bad(&format!("body is not JSON: {e}")),
        }
    };
    let answer = |r: Result<Value, String>| match r {
        Ok(v) => Reply::json(StatusCode::OK, v),
        Err(e) => bad(&e),
    };
    let mut st = shared.state.lock().expect("state lock");
    match (&ctx.method, ctx.path.as_str()) {
        (&Method::GET, "/__mock/info") => {
            answer(serde_json::to_value(&shared.info).map_err(|e| e.to_string()))
        }
        (&Method::POST, "/__mock/reset") => {
            *st = Default::default();
            Reply::json(StatusCode::OK, st.to_json())
        }
        (&Method::GET, "/__mock/state") => Reply::json(StatusCode::OK, st.to_json()),
        (&Method::POST, "/__mock/state") => answer(st.apply(body)),
        (&Method::GET, "/__mock/stats") => Reply::json(StatusCode::OK, st.stats_json()),
        (&Method::POST, "/__mock/oauth/code") => answer(auth::new_auth_code(&mut st, &body)),
        (&Method::POST, "/__mock/oauth/device/approve") => {
            answer(auth::decide_device(&mut st, &body))
        }
        _ => Reply::json(
            StatusCode::NOT_FOUND,
            json!({"error": format!("unknown control endpoint {} {}", ctx.method, ctx.path)}),
        ),
    }
}

fn bad(msg: &str) -> Reply {
    Reply::json(StatusCode::BAD_REQUEST, json!({"error": msg}))
}
