//! The business endpoints: chat, conversations, workflows, files, bots and workspaces.

use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use crate::body::{Reply, code_msg};
use crate::conversations;
use crate::ctx::Ctx;
use crate::identities::{
    ACCOUNT_ID, BOTS, ENTERPRISE_BOT, ENTERPRISE_ID, WORKFLOW_ID, WORKSPACE_ID,
};
use crate::shared::Shared;
use crate::sse::{self, Event, Framing};
use crate::state::{Conversation, ErrorSpec, Principal, State};
use crate::util::{new_id, now_secs};

/// What the mock's bots say, and how a stream splits it.
const ANSWER: &str = "hello";
const ANSWER_DELTAS: [&str; 3] = ["he", "ll", "o"];

/// A handler's early exit: an error reply.
pub(crate) type Res<T> = Result<T, Reply>;

pub(crate) fn err(ctx: &Ctx, code: i64) -> Reply {
    Reply::business(StatusCode::OK, code, code_msg(code), &ctx.logid)
}

fn err_spec(ctx: &Ctx, spec: ErrorSpec) -> Reply {
    let status = StatusCode::from_u16(spec.http_status).unwrap_or(StatusCode::OK);
    Reply::business(status, spec.code, code_msg(spec.code), &ctx.logid)
}

/// Routes an authenticated business request.
pub(crate) fn route(shared: &Shared, ctx: &Ctx, p: Principal) -> Reply {
    let r = match (&ctx.method, ctx.path.as_str()) {
        (&Method::POST, "/v3/chat") => chat(shared, ctx, p, "/v3/chat"),
        (&Method::GET, "/v3/chat/retrieve") => chat_retrieve(shared, ctx, p),
        (&Method::GET, "/v3/chat/message/list") => chat_messages(shared, ctx, p),
        (&Method::POST, "/v1/conversation/create") => conversations::create(shared, ctx, p),
        (&Method::GET, "/v1/conversation/retrieve") => conversations::retrieve(shared, ctx, p),
        (&Method::POST, "/v1/conversation/message/list") => conversations::list(shared, ctx, p),
        (&Method::POST, "/v1/conversation/message/create") => {
            conversations::message_create(shared, ctx, p)
        }
        (&Method::POST, "/v1/workflow/run") => workflow_run(shared, ctx, p),
        (&Method::POST, "/v1/workflow/stream_run") => workflow_stream(shared, ctx, p),
        (&Method::POST, "/v1/workflows/chat") => chat(shared, ctx, p, "/v1/workflows/chat"),
        (&Method::POST, "/v1/files/upload") => upload(shared, ctx, p),
        (&Method::GET, "/v1/bot/get_online_info") => {
            let id = ctx.query.get("bot_id").cloned().unwrap_or_default();
            bot_retrieve(shared, ctx, p, &id)
        }
        (&Method::GET, "/v1/bots") => bots_list(shared, ctx, p),
        (&Method::GET, "/v1/workspaces") => workspaces(shared, p),
        (&Method::GET, "/v1/users/me") => Ok(users_me(p)),
        (&Method::GET, "/v1/space/published_bots_list") => published_bots(shared, ctx, p),
        (&Method::GET, path) => match (
            path.strip_prefix("/v1/bots/"),
            path.strip_prefix("/v1/workflows/"),
        ) {
            (Some(id), _) if !id.is_empty() && !id.contains('/') => {
                bot_retrieve(shared, ctx, p, id)
            }
            (_, Some(id)) if !id.is_empty() && !id.contains('/') => {
                workflow_retrieve(shared, ctx, p, id)
            }
            _ => Err(unknown_endpoint(ctx)),
        },
        _ => Err(unknown_endpoint(ctx)),
    };
    r.unwrap_or_else(|e| e)
}

/// HTTP 404 `{"code":4000,"msg":"unknown endpoint"}`.
pub(crate) fn unknown_endpoint(ctx: &Ctx) -> Reply {
    Reply::business(StatusCode::NOT_FOUND, 4000, "unknown endpoint", &ctx.logid)
}

pub(crate) fn json_body(ctx: &Ctx) -> Res<Value> {
    if ctx.body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice::<Value>(&ctx.body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| {
            Reply::business(
                StatusCode::BAD_REQUEST,
                4000,
                "request body is not a JSON object",
                &ctx.logid,
            )
        })
}

/// A request parameter from the query string, else from the JSON body.
pub(crate) fn param(ctx: &Ctx, body: &Value, key: &str) -> Option<String> {
    ctx.query.get(key).cloned().or_else(|| match body.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

pub(crate) fn required(ctx: &Ctx, body: &Value, key: &str) -> Res<String> {
    param(ctx, body, key)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            Reply::business(
                StatusCode::OK,
                4000,
                &format!("{key} is required"),
                &ctx.logid,
            )
        })
}

fn check_workspace(st: &State, ctx: &Ctx, p: Principal) -> Res<()> {
    st.workspace_access(p).map_err(|spec| err_spec(ctx, spec))
}

/// The move rule for a bot; the enterprise bot is the enterprise's only.
pub(crate) fn check_bot(st: &State, ctx: &Ctx, p: Principal, bot_id: &str) -> Res<()> {
    if bot_id == ENTERPRISE_BOT {
        return match p {
            Principal::Enterprise => Ok(()),
            Principal::Personal => Err(err(ctx, 4101)),
        };
    }
    if !BOTS.contains(&bot_id) {
        return Err(err(ctx, 4200));
    }
    check_workspace(st, ctx, p)
}

fn check_workflow(st: &State, ctx: &Ctx, p: Principal, workflow_id: &str) -> Res<()> {
    if workflow_id != WORKFLOW_ID {
        return Err(err(ctx, 4200));
    }
    check_workspace(st, ctx, p)
}

/// The conversation if `p` reaches it: 4002 when unknown, 4101 when another account's (unless the enterprise
/// was granted the personal account's resources).
pub(crate) fn owned<'a>(
    st: &'a mut State,
    ctx: &Ctx,
    p: Principal,
    conversation_id: &str,
) -> Res<&'a mut Conversation> {
    let owner = st
        .conversations
        .get(conversation_id)
        .ok_or_else(|| err(ctx, 4002))?
        .owner;
    if !st.reaches_account_resource(p, owner) {
        return Err(err(ctx, 4101));
    }
    Ok(st.conversations.get_mut(conversation_id).expect("checked"))
}

pub(crate) fn new_conversation(st: &mut State, p: Principal) -> (String, i64) {
    let id = new_id();
    let created_at = now_secs();
    st.conversations.insert(
        id.clone(),
        Conversation {
            owner: p,
            created_at,
            section_id: new_id(),
            chats: Vec::new(),
            messages: Vec::new(),
        },
    );
    (id, created_at)
}

fn chat_object(id: &str, conv: &str, bot: &str, created_at: i64, status: &str) -> Value {
    let mut c = json!({"id": id, "conversation_id": conv, "bot_id": bot,
                       "created_at": created_at, "status": status,
                       "last_error": {"code": 0, "msg": ""}});
    if status == "completed" {
        c["completed_at"] = json!(created_at + 1);
        c["usage"] = json!({"token_count": 12, "output_count": 2, "input_count": 10});
    }
    c
}

fn answer_message(chat: &str, conv: &str, bot: &str, content: &str, ts: i64) -> Value {
    json!({"id": new_id(), "conversation_id": conv, "bot_id": bot, "chat_id": chat,
           "role": "assistant", "type": "answer", "content": content, "content_type": "text",
           "created_at": ts, "updated_at": ts})
}

/// `POST /v3/chat` and `POST /v1/workflows/chat` (always streamed).
fn chat(shared: &Shared, ctx: &Ctx, p: Principal, endpoint: &str) -> Res<Reply> {
    let body = json_body(ctx)?;
    let workflow_chat = endpoint == "/v1/workflows/chat";
    let mut st = shared.state.lock().expect("state lock");
    // A workflow chat is keyed on its workflow; its optional bot_id is an app hint only.
    let bot_id = if workflow_chat {
        let wf = required(ctx, &body, "workflow_id")?;
        check_workflow(&st, ctx, p, &wf)?;
        param(ctx, &body, "bot_id").unwrap_or_else(|| BOTS[0].to_string())
    } else {
        let bot = required(ctx, &body, "bot_id")?;
        check_bot(&st, ctx, p, &bot)?;
        bot
    };
    conversations::check_files(&st, ctx, p, &body)?;
    let conv_id = match param(ctx, &body, "conversation_id").filter(|c| !c.is_empty()) {
        Some(c) => {
            owned(&mut st, ctx, p, &c)?;
            c
        }
        None => new_conversation(&mut st, p).0,
    };
    let chat_id = new_id();
    let now = now_secs();
    if let Some(conv) = st.conversations.get_mut(&conv_id) {
        conv.chats.push((chat_id.clone(), bot_id.clone()));
    }
    conversations::record_chat(&mut st, &conv_id, &bot_id, &chat_id, &body, ANSWER);
    drop(st);
    let stream = workflow_chat || body.get("stream").and_then(Value::as_bool) == Some(true);
    if !stream {
        return Ok(Reply::ok(chat_object(
            &chat_id,
            &conv_id,
            &bot_id,
            now,
            "in_progress",
        )));
    }
    let mut events: Vec<Event> = vec![(
        "conversation.chat.created".into(),
        chat_object(&chat_id, &conv_id, &bot_id, now, "created"),
    )];
    for d in ANSWER_DELTAS {
        events.push((
            "conversation.message.delta".into(),
            answer_message(&chat_id, &conv_id, &bot_id, d, now),
        ));
    }
    events.push((
        "conversation.message.completed".into(),
        answer_message(&chat_id, &conv_id, &bot_id, ANSWER, now),
    ));
    events.push((
        "conversation.chat.completed".into(),
        chat_object(&chat_id, &conv_id, &bot_id, now, "completed"),
    ));
    events.push(("done".into(), json!("[DONE]")));
    Ok(sse::stream(
        Framing::Chat,
        events,
        ctx.fault.as_ref(),
        &ctx.logid,
    ))
}

/// Finds a chat of an owned conversation: (bot id, conversation created_at).
fn owned_chat(shared: &Shared, ctx: &Ctx, p: Principal) -> Res<(String, String, String, i64)> {
    let conv_id = required(ctx, &Value::Null, "conversation_id")?;
    let chat_id = required(ctx, &Value::Null, "chat_id")?;
    let mut st = shared.state.lock().expect("state lock");
    let conv = owned(&mut st, ctx, p, &conv_id)?;
    let bot = conv
        .chats
        .iter()
        .find(|(c, _)| *c == chat_id)
        .map(|(_, b)| b.clone())
        .ok_or_else(|| err(ctx, 4001))?;
    Ok((conv_id, chat_id, bot, conv.created_at))
}

/// `GET /v3/chat/retrieve`: every chat is already completed.
fn chat_retrieve(shared: &Shared, ctx: &Ctx, p: Principal) -> Res<Reply> {
    let (conv, chat, bot, ts) = owned_chat(shared, ctx, p)?;
    Ok(Reply::ok(chat_object(&chat, &conv, &bot, ts, "completed")))
}

/// `GET /v3/chat/message/list`.
fn chat_messages(shared: &Shared, ctx: &Ctx, p: Principal) -> Res<Reply> {
    let (conv, chat, bot, ts) = owned_chat(shared, ctx, p)?;
    Ok(Reply::ok(json!([answer_message(
        &chat, &conv, &bot, ANSWER, ts
    )])))
}

fn debug_url(execute_id: &str) -> String {
    format!("https://www.coze.cn/work_flow?execute_id={execute_id}")
}

fn checked_workflow(shared: &Shared, ctx: &Ctx, p: Principal) -> Res<()> {
    let body = json_body(ctx)?;
    let wf = required(ctx, &body, "workflow_id")?;
    let st = shared.state.lock().expect("state lock");
    check_workflow(&st, ctx, p, &wf)
}

/// `GET /v1/workflows/{workflow_id}`: the workflow's basic information, under the workspace's access rule.
fn workflow_retrieve(shared: &Shared, ctx: &Ctx, p: Principal, id: &str) -> Res<Reply> {
    let st = shared.state.lock().expect("state lock");
    check_workflow(&st, ctx, p, id)?;
    Ok(Reply::json(
        StatusCode::OK,
        json!({"code": 0, "msg": "", "data": {"workflow_detail": {"workflow_id": id, "workflow_name": "mock_workflow",
               "description": "a workflow of the mock workspace", "app_id": "0", "created_at": 1_720_000_000}}}),
    ))
}

/// `POST /v1/workflow/run`.
fn workflow_run(shared: &Shared, ctx: &Ctx, p: Principal) -> Res<Reply> {
    checked_workflow(shared, ctx, p)?;
    let execute_id = new_id();
    Ok(Reply::json(
        StatusCode::OK,
        json!({"code": 0, "msg": "", "data": json!({"output": ANSWER}).to_string(),
               "execute_id": execute_id, "debug_url": debug_url(&execute_id),
               "usage": {"token_count": 12, "output_count": 2, "input_count": 10}}),
    ))
}

/// `POST /v1/workflow/stream_run`: two `Message` events, then `Done`.
fn workflow_stream(shared: &Shared, ctx: &Ctx, p: Principal) -> Res<Reply> {
    checked_workflow(shared, ctx, p)?;
    let execute_id = new_id();
    let message = |content: &str, seq: &str, finished: bool| {
        json!({"content": content, "content_type": "text", "node_title": "Message",
               "node_seq_id": seq, "node_is_finish": finished, "ext": null})
    };
    let events: Vec<Event> = vec![
        ("Message".into(), message("hel", "0", false)),
        ("Message".into(), message("lo", "1", true)),
        ("Done".into(), json!({"debug_url": debug_url(&execute_id)})),
    ];
    Ok(sse::stream(
        Framing::Workflow,
        events,
        ctx.fault.as_ref(),
        &ctx.logid,
    ))
}

/// `POST /v1/files/upload`: counts the bytes of the multipart part named `file`.
fn upload(shared: &Shared, ctx: &Ctx, p: Principal) -> Res<Reply> {
    let ct = ctx
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let bad = |msg: &str| Reply::business(StatusCode::OK, 4000, msg, &ctx.logid);
    let boundary = multipart_boundary(ct).ok_or_else(|| bad("expected multipart/form-data"))?;
    let (file_name, bytes) = find_file_part(&ctx.body, &boundary)
        .ok_or_else(|| bad("multipart part `file` is missing"))?;
    let id = new_id();
    // Files are account-level: only the uploader can name this id in a chat.
    shared
        .state
        .lock()
        .expect("state lock")
        .files
        .insert(id.clone(), p);
    Ok(Reply::ok(
        json!({"id": id, "bytes": bytes, "file_name": file_name,
                        "created_at": now_secs()}),
    ))
}

fn multipart_boundary(content_type: &str) -> Option<String> {
    let mut parts = content_type.split(';');
    if !parts
        .next()?
        .trim()
        .eq_ignore_ascii_case("multipart/form-data")
    {
        return None;
    }
    parts.find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.eq_ignore_ascii_case("boundary")
            .then(|| v.trim_matches('"').to_string())
    })
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// The file name and byte count of the part named `file`.
fn find_file_part(body: &[u8], boundary: &str) -> Option<(String, usize)> {
    let delim = format!("--{boundary}");
    let mut pos = find(body, delim.as_bytes(), 0)? + delim.len();
    loop {
        if body.get(pos..pos + 2) == Some(b"--") {
            return None;
        }
        let headers_start = pos + 2; // skip CRLF after the delimiter
        let headers_end = find(body, b"\r\n\r\n", headers_start)?;
        let content_start = headers_end + 4;
        let next = find(body, format!("\r\n{delim}").as_bytes(), content_start)?;
        let headers = String::from_utf8_lossy(body.get(headers_start..headers_end)?);
        let disposition = headers
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"));
        if let Some(d) = disposition
            && disposition_param(d, "name").as_deref() == Some("file")
        {
            let name = disposition_param(d, "filename").unwrap_or_default();
            return Some((name, next - content_start));
        }
        pos = next + 2 + delim.len();
    }
}

fn disposition_param(line: &str, key: &str) -> Option<String> {
    line.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
    })
}

fn bot_object(id: &str, i: usize) -> Value {
    json!({"bot_id": id, "name": format!("Mock bot {}", i + 1),
           "description": "a coze-mock bot", "icon_url": "", "create_time": 1_700_000_000,
           "update_time": 1_700_000_000, "version": "1", "bot_mode": 0})
}

fn bot_index(id: &str) -> usize {
    BOTS.iter().position(|b| *b == id).unwrap_or(8)
}

/// `GET /v1/bots/{bot_id}` and `GET /v1/bot/get_online_info?bot_id=`.
fn bot_retrieve(shared: &Shared, ctx: &Ctx, p: Principal, id: &str) -> Res<Reply> {
    let st = shared.state.lock().expect("state lock");
    check_bot(&st, ctx, p, id)?;
    Ok(Reply::ok(bot_object(id, bot_index(id))))
}

fn check_space(shared: &Shared, ctx: &Ctx, p: Principal, key: &str) -> Res<()> {
    let space = required(ctx, &Value::Null, key)?;
    if space != WORKSPACE_ID {
        return Err(err(ctx, 4200));
    }
    let st = shared.state.lock().expect("state lock");
    check_workspace(&st, ctx, p)
}

/// `GET /v1/bots?workspace_id=`.
fn bots_list(shared: &Shared, ctx: &Ctx, p: Principal) -> Res<Reply> {
    check_space(shared, ctx, p, "workspace_id")?;
    let items: Vec<Value> = BOTS
        .iter()
        .enumerate()
        .map(|(i, id)| {
            json!({"id": id, "name": format!("Mock bot {}", i + 1),
                   "description": "a coze-mock bot", "icon_url": "", "is_published": true,
                   "updated_at": 1_700_000_000, "published_at": 1_700_000_000,
                   "owner_user_id": ACCOUNT_ID})
        })
        .collect();
    Ok(Reply::ok(json!({"items": items, "total": BOTS.len()})))
}

/// `GET /v1/space/published_bots_list?space_id=`.
fn published_bots(shared: &Shared, ctx: &Ctx, p: Principal) -> Res<Reply> {
    check_space(shared, ctx, p, "space_id")?;
    let bots: Vec<Value> = BOTS
        .iter()
        .enumerate()
        .map(|(i, id)| {
            json!({"bot_id": id, "bot_name": format!("Mock bot {}", i + 1),
                   "description": "a coze-mock bot", "icon_url": "",
                   "publish_time": "1700000000"})
        })
        .collect();
    Ok(Reply::ok(json!({"space_bots": bots, "total": BOTS.len()})))
}

/// `GET /v1/workspaces`: the workspace, for whoever can reach it now.
fn workspaces(shared: &Shared, p: Principal) -> Res<Reply> {
    let st = shared.state.lock().expect("state lock");
    let list: Vec<Value> = if st.workspace_access(p).is_ok() {
        let (kind, enterprise) = if st.moved {
            ("team", ENTERPRISE_ID)
        } else {
            ("personal", "")
        };
        vec![
            json!({"id": WORKSPACE_ID, "name": "Mock workspace", "icon_url": "",
                    "role_type": "owner", "workspace_type": kind,
                    "enterprise_id": enterprise}),
        ]
    } else {
        Vec::new()
    };
    let total = list.len();
    Ok(Reply::ok(json!({"workspaces": list, "total_count": total})))
}

/// `GET /v1/users/me` (the official SDKs' `users.me()`): who the token belongs to. Any valid token may call
/// it and it changes nothing, so `cozefallback check` proves a credential with it.
fn users_me(p: Principal) -> Reply {
    let (id, name) = match p {
        Principal::Personal => (ACCOUNT_ID, "mock-personal-owner"),
        Principal::Enterprise => ("2100000000002", "mock-enterprise-member"),
    };
    Reply::ok(json!({"user_id": id, "user_name": name, "nick_name": name, "avatar_url": ""}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nx\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\
Content-Type: text/plain\r\n\r\nhello\r\nworld\r\n--XyZ--\r\n";
        assert_eq!(
            multipart_boundary("multipart/form-data; boundary=\"XyZ\"").as_deref(),
            Some("XyZ")
        );
        assert_eq!(find_file_part(body, "XyZ"), Some(("a.txt".to_string(), 12)));
        assert_eq!(find_file_part(b"--XyZ--\r\n", "XyZ"), None);
    }
}
