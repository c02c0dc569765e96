//! Conversations as account-level resources: their messages, `message/list` with Coze's paging,
//! `conversation/create` with `messages`, `message/create`, and files usable only by their uploader.

use hyper::StatusCode;
use serde_json::{Value, json};

use crate::body::Reply;
use crate::ctx::Ctx;
use crate::handlers::{Res, err, json_body, owned, param, required};
use crate::shared::Shared;
use crate::state::{Conversation, Principal, State};
use crate::util::{new_id, now_secs};

/// cozepy documents at most 16 messages in `conversation/create`; more is refused with 4000.
pub(crate) const MAX_CREATE_MESSAGES: usize = 16;
/// `message/list` pages hold 1..=50 messages (50 by default).
const MAX_PAGE: u64 = 50;

fn bad(ctx: &Ctx, msg: &str) -> Reply {
    Reply::business(StatusCode::OK, 4000, msg, &ctx.logid)
}

/// A stored message in Coze's shape.
fn message(conv: &str, bot: &str, chat: &str, m: &MessageIn, ts: i64) -> Value {
    json!({"id": new_id(), "conversation_id": conv, "bot_id": bot, "chat_id": chat,
           "role": m.role, "type": m.kind, "content": m.content, "content_type": m.content_type,
           "meta_data": {}, "created_at": ts, "updated_at": ts, "section_id": ""})
}

/// A message as a caller writes it (`additional_messages`, `messages`).
struct MessageIn {
    role: String,
    kind: String,
    content: String,
    content_type: String,
}

/// Reads one written message; `None` names what is wrong with it.
fn message_in(v: &Value) -> Result<MessageIn, String> {
    let role = v["role"].as_str().unwrap_or("");
    if role != "user" && role != "assistant" {
        return Err(format!(
            "message role must be user or assistant, got {:?}",
            v["role"]
        ));
    }
    let content_type = v["content_type"].as_str().unwrap_or("text");
    if content_type != "text" && content_type != "object_string" {
        return Err(format!(
            "message content_type must be text or object_string, got {content_type:?}"
        ));
    }
    let default_kind = if role == "user" { "question" } else { "answer" };
    Ok(MessageIn {
        role: role.into(),
        kind: v["type"].as_str().unwrap_or(default_kind).into(),
        content: v["content"].as_str().unwrap_or("").into(),
        content_type: content_type.into(),
    })
}

/// The user messages of a chat and the bot's answer, appended to the conversation (oldest first).
pub(crate) fn record_chat(
    st: &mut State,
    conv_id: &str,
    bot: &str,
    chat: &str,
    body: &Value,
    answer: &str,
) {
    let now = now_secs();
    let Some(conv) = st.conversations.get_mut(conv_id) else {
        return;
    };
    for m in body["additional_messages"].as_array().into_iter().flatten() {
        if let Ok(m) = message_in(m)
            && m.role == "user"
        {
            conv.messages.push(message(conv_id, bot, chat, &m, now));
        }
    }
    let reply = MessageIn {
        role: "assistant".into(),
        kind: "answer".into(),
        content: answer.into(),
        content_type: "text".into(),
    };
    conv.messages.push(message(conv_id, bot, chat, &reply, now));
}

/// The file ids a chat's `object_string` messages name.
fn named_files(body: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    for m in body["additional_messages"].as_array().into_iter().flatten() {
        if m["content_type"].as_str() != Some("object_string") {
            continue;
        }
        let parts: Value = m["content"]
            .as_str()
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or(Value::Null);
        for part in parts.as_array().into_iter().flatten() {
            if let Some(id) = part["file_id"].as_str() {
                ids.push(id.to_string());
            }
        }
    }
    ids
}

/// A file uploaded by another account is out of reach (4101), as Coze's account-level resources are.
pub(crate) fn check_files(st: &State, ctx: &Ctx, p: Principal, body: &Value) -> Res<()> {
    for id in named_files(body) {
        if let Some(owner) = st.files.get(&id)
            && !st.reaches_account_resource(p, *owner)
        {
            return Err(err(ctx, 4101));
        }
    }
    Ok(())
}

pub(crate) fn conversation_object(id: &str, c: &Conversation) -> Value {
    json!({"id": id, "created_at": c.created_at, "meta_data": {},
           "last_section_id": c.section_id, "creator_id": match c.owner {
               Principal::Personal => crate::identities::ACCOUNT_ID,
               Principal::Enterprise => crate::identities::ENTERPRISE_ID }})
}

/// `POST /v1/conversation/create`: owned by the caller; an optional `bot_id` must be reachable; up to 16
/// `messages` become its context.
pub(crate) fn create(shared: &Shared, ctx: &Ctx, p: Principal) -> Res<Reply> {
    let body = json_body(ctx)?;
    let written = body["messages"].as_array().cloned().unwrap_or_default();
    if written.len() > MAX_CREATE_MESSAGES {
        return Err(bad(
            ctx,
            &format!(
                "messages: at most {MAX_CREATE_MESSAGES} messages, got {}",
                written.len()
            ),
        ));
    }
    let parsed = written
        .iter()
        .map(message_in)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(ctx, &e))?;
    let mut st = shared.state.lock().expect("state lock");
    let bot = param(ctx, &body, "bot_id").filter(|b| !b.is_empty());
    if let Some(bot) = &bot {
        crate::handlers::check_bot(&st, ctx, p, bot)?;
    }
    let (id, _) = crate::handlers::new_conversation(&mut st, p);
    let now = now_secs();
    let bot = bot.unwrap_or_default();
    let conv = st.conversations.get_mut(&id).expect("just created");
    for m in &parsed {
        conv.messages.push(message(&id, &bot, "", m, now));
    }
    Ok(Reply::ok(conversation_object(&id, conv)))
}

/// `POST /v1/conversation/message/create?conversation_id=`: adds one message.
pub(crate) fn message_create(shared: &Shared, ctx: &Ctx, p: Principal) -> Res<Reply> {
    let id = required(ctx, &Value::Null, "conversation_id")?;
    let body = json_body(ctx)?;
    let m = message_in(&body).map_err(|e| bad(ctx, &e))?;
    let mut st = shared.state.lock().expect("state lock");
    let conv = owned(&mut st, ctx, p, &id)?;
    let stored = message(&id, "", "", &m, now_secs());
    conv.messages.push(stored.clone());
    Ok(Reply::ok(stored))
}

/// `GET /v1/conversation/retrieve`.
pub(crate) fn retrieve(shared: &Shared, ctx: &Ctx, p: Principal) -> Res<Reply> {
    let id = required(ctx, &Value::Null, "conversation_id")?;
    let mut st = shared.state.lock().expect("state lock");
    let conv = owned(&mut st, ctx, p, &id)?;
    Ok(Reply::ok(conversation_object(&id, conv)))
}

/// One page's request: order, cursor and size.
struct Page {
    desc: bool,
    before: Option<u64>,
    after: Option<u64>,
    limit: usize,
}

fn page_of(ctx: &Ctx, body: &Value) -> Res<Page> {
    let desc = match body["order"].as_str().unwrap_or("desc") {
        "desc" => true,
        "asc" => false,
        other => {
            return Err(bad(
                ctx,
                &format!("order must be desc or asc, got {other:?}"),
            ));
        }
    };
    let limit = match &body["limit"] {
        Value::Null => MAX_PAGE,
        v => v
            .as_u64()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| bad(ctx, &format!("limit must be 1..=50, got {v}")))?,
    } as usize;
    let cursor = |key: &str| -> Res<Option<u64>> {
        match param(ctx, body, key).filter(|s| !s.is_empty() && s != "0") {
            None => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|_| bad(ctx, &format!("{key} must be a message id, got {s:?}"))),
        }
    };
    let (before, after) = (cursor("before_id")?, cursor("after_id")?);
    if before.is_some() && after.is_some() {
        return Err(bad(ctx, "give before_id or after_id, not both"));
    }
    Ok(Page {
        desc,
        before,
        after,
        limit,
    })
}

fn id_of(m: &Value) -> u64 {
    m["id"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// `POST /v1/conversation/message/list`: the newest page by default (`order` desc), older pages with
/// `before_id` (= the previous page's `first_id`, its oldest message), newer ones with `after_id`
/// (= `last_id`, its newest). `has_more` says whether more lie beyond the page in the paging direction.
pub(crate) fn list(shared: &Shared, ctx: &Ctx, p: Principal) -> Res<Reply> {
    let id = required(ctx, &Value::Null, "conversation_id")?;
    let body = json_body(ctx)?;
    let page = page_of(ctx, &body)?;
    let mut st = shared.state.lock().expect("state lock");
    let conv = owned(&mut st, ctx, p, &id)?;
    let all = &conv.messages; // oldest first
    let (mut data, has_more): (Vec<Value>, bool) = if let Some(b) = page.before {
        let older: Vec<&Value> = all.iter().filter(|m| id_of(m) < b).collect();
        let skip = older.len().saturating_sub(page.limit);
        (
            older[skip..].iter().map(|m| (*m).clone()).collect(),
            skip > 0,
        )
    } else if let Some(a) = page.after {
        let newer: Vec<&Value> = all.iter().filter(|m| id_of(m) > a).collect();
        let take = newer.len().min(page.limit);
        (
            newer[..take].iter().map(|m| (*m).clone()).collect(),
            newer.len() > take,
        )
    } else if page.desc {
        let skip = all.len().saturating_sub(page.limit);
        (all[skip..].to_vec(), skip > 0)
    } else {
        let take = all.len().min(page.limit);
        (all[..take].to_vec(), all.len() > take)
    };
    let first = data.first().map(|m| m["id"].clone()).unwrap_or(json!(""));
    let last = data.last().map(|m| m["id"].clone()).unwrap_or(json!(""));
    if page.desc {
        data.reverse();
    }
    Ok(Reply::json(
        StatusCode::OK,
        json!({"code": 0, "msg": "", "data": data, "first_id": first, "last_id": last,
               "has_more": has_more}),
    ))
}
