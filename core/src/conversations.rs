//! Conversations stranded by the move, and carrying them over.
//!
//! A Coze conversation belongs to the account that created it, not to the workspace: after the move a chat
//! naming a personal conversation with the (now enterprise) bot fails with both credentials. This module
//! recognises that case on the chat endpoints and, per `conversations.on_stranded`, copies the conversation's
//! latest messages into a new conversation under the credential that reaches the bot and sends the call again
//! (`carry_over`), starts an empty one (`new`), or fails with `ConversationStranded` (`error`).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::client::{Answer, Client, Want};
use crate::credential::CredentialKind;
use crate::error::{Error, ErrorKind, Result, Stranded};
use crate::request::{Body, Request};
use crate::route::ResourceKey;
use crate::runtime::ForkMutex;
use crate::state::redis::{Carried, Claim};
use crate::util::lock;

use crate::conversations_config::{MAX_CARRY_OVER_MESSAGES, OnStranded};

/// `conversation/create` takes at most this many `messages` (cozepy documents 16); the rest are added one by
/// one with `message/create`.
const CREATE_MESSAGES: usize = 16;
/// Pages read at most while collecting messages (pages may hold messages that are not copied).
const MAX_PAGES: usize = 10;
/// Coze codes a stranded chat fails with: no permission, conversation not found or not reachable, bot not
/// reachable.
const STRANDED_CODES: [i64; 3] = [4101, 4002, 4006];
const MAX_FILES: usize = 100_000;

/// A conversation carried over: the old id, the new one, and how many messages were copied into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationMoved {
    /// The stranded conversation the call named.
    pub from: String,
    /// The new conversation, under the credential that reaches the bot.
    pub to: String,
    /// Messages copied into it (0 with `on_stranded: "new"`).
    pub messages_copied: u32,
}

/// Called once per carry-over, so the app can store the new id (`on_conversation_moved`).
pub type ConversationHook = Arc<dyn Fn(&ConversationMoved) + Send + Sync>;

/// The client's conversation state.
#[derive(Default)]
pub(crate) struct Conversations {
    /// Old id -> new id.
    map: ForkMutex<HashMap<String, String>>,
    /// Ids that are the result of a carry-over (or a mapping): never carried again.
    carried: ForkMutex<HashSet<String>>,
    /// One carry-over in flight per conversation; the slot holds its result for the calls that waited.
    flights: ForkMutex<HashMap<String, Flight>>,
    /// File ids uploaded through this client, with the credential that uploaded them.
    files: ForkMutex<HashMap<String, CredentialKind>>,
    hook: ForkMutex<Option<ConversationHook>>,
}

impl Conversations {
    fn mapped(&self, id: &str) -> Option<String> {
        lock(&self.map).get(id).cloned()
    }

    fn insert(&self, from: &str, to: &str) {
        lock(&self.map).insert(from.to_string(), to.to_string());
        lock(&self.carried).insert(to.to_string());
    }

    fn flight(&self, id: &str) -> Flight {
        lock(&self.flights)
            .entry(id.to_string())
            .or_default()
            .clone()
    }

    fn end_flight(&self, id: &str) {
        lock(&self.flights).remove(id);
    }
}

/// HTTP attempts a stranded call made (its first try, the probe, the list, the create, the call sent again):
/// they all count in its `attempts`, so that every round trip shows.
type Spent = std::sync::atomic::AtomicU32;

fn spend(spent: &Spent, n: u32) {
    spent.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
}

/// A carry-over in flight: its lock, and what it produced once done.
type Flight = Arc<tokio::sync::Mutex<Option<ConversationMoved>>>;

/// A stranded conversation: who owns it, and who reaches its bot.
#[derive(Clone, Copy)]
struct Strand<'a> {
    conv: &'a str,
    owner: CredentialKind,
    target: CredentialKind,
}

/// What a chat call names.
struct ChatCall {
    conversation_id: Option<String>,
    bot_id: Option<String>,
    file_ids: Vec<String>,
}

fn path_only(path: &str) -> &str {
    path.split(['?', '#']).next().unwrap_or(path)
}

fn body_json(body: &Body) -> Option<Cow<'_, Value>> {
    match body {
        Body::Json(v) => Some(Cow::Borrowed(v)),
        Body::Bytes { data, .. } if data.len() < (1 << 20) => {
            serde_json::from_slice(data).ok().map(Cow::Owned)
        }
        _ => None,
    }
}

fn id_value(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The file ids named by `object_string` messages (`[{"type":"file","file_id":"..."}]`).
fn file_ids(body: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    for m in body["additional_messages"].as_array().into_iter().flatten() {
        let Some(parts) = m["content"]
            .as_str()
            .filter(|_| m["content_type"].as_str() == Some("object_string"))
            .and_then(|c| serde_json::from_str::<Value>(c).ok())
        else {
            continue;
        };
        ids.extend(
            parts
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| id_value(&p["file_id"])),
        );
    }
    ids
}

/// The chat endpoints that name a conversation and a bot or workflow.
fn chat_call(req: &Request) -> Option<ChatCall> {
    let path = path_only(&req.path);
    let chat = path.ends_with("/v3/chat") || path.ends_with("/v1/workflows/chat");
    if !chat || !req.method.eq_ignore_ascii_case("POST") {
        return None;
    }
    let body = body_json(&req.body).unwrap_or(Cow::Owned(Value::Null));
    let in_path = req.path.split_once('?').map(|(_, q)| q).unwrap_or("");
    let conversation_id = req
        .query
        .iter()
        .find(|(k, _)| k == "conversation_id")
        .map(|(_, v)| v.clone())
        .or_else(|| {
            url::form_urlencoded::parse(in_path.as_bytes())
                .find(|(k, _)| k == "conversation_id")
                .map(|(_, v)| v.into_owned())
        })
        .filter(|v| !v.is_empty())
        .or_else(|| id_value(&body["conversation_id"]));
    Some(ChatCall {
        conversation_id,
        bot_id: id_value(&body["bot_id"]),
        file_ids: file_ids(&body),
    })
}

/// The same call naming conversation `to` wherever it named one (query, path query, JSON body).
fn rewrite(req: &Request, to: &str) -> Request {
    let mut req = req.clone();
    for (k, v) in &mut req.query {
        if k == "conversation_id" {
            *v = to.to_string();
        }
    }
    if let Some((path, q)) = req.path.split_once('?')
        && q.contains("conversation_id")
    {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| {
                let v = if k == "conversation_id" {
                    to.to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        let q = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        req.path = format!("{path}?{q}");
    }
    let set = |v: &mut Value| {
        if let Some(obj) = v.as_object_mut()
            && obj.contains_key("conversation_id")
        {
            obj.insert("conversation_id".into(), json!(to));
            return true;
        }
        false
    };
    match &mut req.body {
        Body::Json(v) => {
            set(v);
        }
        Body::Bytes { data, .. } => {
            if let Ok(mut v) = serde_json::from_slice::<Value>(data)
                && set(&mut v)
                && let Ok(bytes) = serde_json::to_vec(&v)
            {
                *data = bytes.into();
            }
        }
        _ => {}
    }
    req
}

/// Whether a failed chat looks stranded: an access code Coze gives for an unreachable bot or conversation.
fn looks_stranded(err: &Error) -> bool {
    err.kind() == ErrorKind::Api && err.code().is_some_and(|c| STRANDED_CODES.contains(&c))
}

fn carry_failed(mut cause: Error, conv: &str, what: &str) -> Error {
    cause.message = format!(
        "carrying conversation {conv} over failed while {what}: {} (no mapping was kept; a later call tries again)",
        cause.message
    );
    cause
}

/// A copyable message, in the shape `conversation/create` takes.
fn copyable(m: &Value) -> Option<Value> {
    let role = m["role"].as_str()?;
    let kind = m["type"].as_str()?;
    let content_type = m["content_type"].as_str()?;
    let ok = matches!((role, kind), ("user", "question") | ("assistant", "answer"))
        && matches!(content_type, "text" | "object_string");
    ok.then(|| {
        json!({"role": role, "type": kind, "content": m["content"].as_str().unwrap_or(""),
               "content_type": content_type})
    })
}

impl Client {
    /// Calls `on_conversation_moved` after each carry-over, with the old id, the new one and the messages
    /// copied; `None` removes the hook.
    ///
    /// ```
    /// # let client = cozefallback::Client::from_json(r#"{"personal":{"type":"pat","token":"pat_a"}}"#).unwrap();
    /// client.set_conversation_hook(Some(std::sync::Arc::new(|m: &cozefallback::ConversationMoved| {
    ///     println!("store {} instead of {} ({} messages copied)", m.to, m.from, m.messages_copied);
    /// })));
    /// ```
    pub fn set_conversation_hook(&self, hook: Option<ConversationHook>) {
        *lock(&self.inner.conversations.hook) = hook;
    }

    /// Preloads a mapping the app stored after an earlier carry-over: calls naming `from` use `to`.
    ///
    /// ```
    /// # let client = cozefallback::Client::from_json(r#"{"personal":{"type":"pat","token":"pat_a"}}"#).unwrap();
    /// client.map_conversation("7480000000000000001", "7480000000000000002").unwrap();
    /// assert_eq!(client.mapped_conversation("7480000000000000001").as_deref(), Some("7480000000000000002"));
    /// assert!(client.map_conversation("", "x").is_err());
    /// ```
    pub fn map_conversation(&self, from: &str, to: &str) -> Result<()> {
        for (name, id) in [("from", from), ("to", to)] {
            if id.trim().is_empty() {
                return Err(Error::invalid_argument(format!(
                    "map_conversation: `{name}` must be a conversation id, got an empty string"
                )));
            }
        }
        if from == to {
            return Err(Error::invalid_argument(format!(
                "map_conversation: `from` and `to` are the same id ({from})"
            )));
        }
        self.inner.conversations.insert(from, to);
        Ok(())
    }

    /// The conversation a call naming `from` uses now, if it was carried over or mapped.
    pub fn mapped_conversation(&self, from: &str) -> Option<String> {
        self.inner.conversations.mapped(from)
    }

    /// [`Client::run_calls`] with the conversation map applied and stranded chats handled.
    pub(crate) async fn run_conversations(
        &self,
        mut req: Request,
        want: Want,
        forced: Option<CredentialKind>,
    ) -> Result<Answer> {
        // A chat that names no conversation and no file cannot be stranded.
        let Some(mut chat) = forced
            .is_none()
            .then(|| chat_call(&req))
            .flatten()
            .filter(|c| c.conversation_id.is_some() || !c.file_ids.is_empty())
        else {
            let upload = path_only(&req.path).ends_with("/files/upload");
            let out = self.run_calls(&req, want, forced).await;
            if upload && let Ok(Answer::Full(r, _)) = &out {
                self.bind_file(r);
            }
            return out;
        };
        if let Some(old) = &chat.conversation_id
            && let Some(new) = self.inner.conversations.mapped(old)
        {
            req = rewrite(&req, &new);
            chat.conversation_id = Some(new);
        }
        let err = match self.run_calls(&req, want, None).await {
            Ok(answer) => return Ok(answer),
            Err(e) => e,
        };
        let both = self.inner.credentials.iter().all(Option::is_some);
        if !both || !looks_stranded(&err) {
            return Err(err);
        }
        // Boxed: the carry-over's future is large and rarely built, and every call's future holds this one.
        Box::pin(self.stranded(req, chat, err, want)).await
    }

    /// A chat that failed as stranded: a clear error, or the conversation carried over and the chat sent again.
    async fn stranded(
        &self,
        req: Request,
        chat: ChatCall,
        err: Error,
        want: Want,
    ) -> Result<Answer> {
        if let Some(e) = self.stranded_file(&chat, &err) {
            return Err(e);
        }
        let Some(conv) = chat.conversation_id.clone() else {
            return Err(err);
        };
        if lock(&self.inner.conversations.carried).contains(&conv) {
            return Err(err); // never carried twice
        }
        let spent = Spent::new(err.attempts());
        let Some(owner) = self.owner_of(&conv, &spent).await else {
            return Err(err);
        };
        let target = owner.other();
        if !self.mode().order().contains(&target) {
            return Err(err); // the mode never sends calls to the credential that reaches the bot
        }
        let mode = self.inner.config.conversations.on_stranded;
        if mode == OnStranded::Error {
            return Err(stranded_error(&conv, owner, target, err));
        }
        // The whole carry-over (waiting for another call's, listing, creating) stays within the call's deadline.
        let limit = req
            .timeout
            .unwrap_or_else(|| self.inner.config.total_timeout());
        let strand = Strand {
            conv: &conv,
            owner,
            target,
        };
        let done = tokio::time::timeout(limit, self.carry(req, &chat, &strand, want, &spent)).await;
        match done {
            // `attempts` is every HTTP attempt of the call: the first try and the carry-over's count too.
            Ok(answer) => {
                let spent = spent.into_inner();
                answer.map(|a| with_attempts(a, spent)).map_err(|mut e| {
                    // Every failed step added its attempts to `spent` already.
                    e.attempts = spent;
                    e
                })
            }
            Err(_) => Err(Error::timeout(format!(
                "carrying conversation {conv} over did not finish within the call's deadline ({} ms)",
                limit.as_millis()
            ))),
        }
    }

    /// Remembers who uploaded a file (files are usable only by the account that uploaded them).
    fn bind_file(&self, r: &crate::Response) {
        let id = r.json().ok().and_then(|v| id_value(&v["data"]["id"]));
        if let Some(id) = id {
            let mut files = lock(&self.inner.conversations.files);
            if files.len() >= MAX_FILES {
                files.clear();
            }
            files.insert(id, r.credential);
        }
    }

    /// A clear error when the chat names a file uploaded with a credential that no longer reaches the bot.
    fn stranded_file(&self, chat: &ChatCall, err: &Error) -> Option<Error> {
        let files = lock(&self.inner.conversations.files);
        let (id, owner) = chat
            .file_ids
            .iter()
            .find_map(|id| files.get(id).map(|c| (id.clone(), *c)))?;
        let target = owner.other();
        let mut e = Error::new(
            ErrorKind::ConversationStranded,
            format!(
                "file {id} was uploaded with the {owner} credential and only that account can use it, but the bot \
                 answers only the {target} credential now: upload the file again with the {target} credential \
                 (Client::request_with) and send the new file id; files are not carried over"
            ),
        );
        e.stranded = Some(Box::new(Stranded {
            conversation_id: chat.conversation_id.clone(),
            file_id: Some(id),
            owner,
            bot_credential: target,
        }));
        e.credential = err.credential();
        e.attempts = err.attempts();
        Some(e.with_previous(err.clone()))
    }

    /// The credential that owns a conversation: the binding the router keeps, else a probe
    /// (`conversation/retrieve` with each credential; exactly one must reach it).
    async fn owner_of(&self, conv: &str, spent: &Spent) -> Option<CredentialKind> {
        let key = ResourceKey {
            field: "conversation_id",
            id: conv.to_string(),
        };
        if let Some(owner) = self.inner.router.lookup(std::slice::from_ref(&key)) {
            return Some(owner);
        }
        let mut reached = Vec::new();
        for kind in [CredentialKind::Personal, CredentialKind::Enterprise] {
            let probe = Request::get("/v1/conversation/retrieve").query("conversation_id", conv);
            if self.counted(probe, kind, spent).await.is_ok() {
                reached.push(kind);
            }
        }
        match reached.as_slice() {
            [owner] => {
                self.inner.router.bind_conversation(conv, *owner);
                Some(*owner)
            }
            _ => None,
        }
    }

    /// One carry-over per conversation at a time; the calls that waited reuse its result.
    async fn carry(
        &self,
        req: Request,
        chat: &ChatCall,
        strand: &Strand<'_>,
        want: Want,
        spent: &Spent,
    ) -> Result<Answer> {
        let Strand {
            conv,
            owner,
            target,
        } = *strand;
        let convs = &self.inner.conversations;
        let flight = convs.flight(conv);
        let mut slot = flight.lock().await;
        if let Some(moved) = slot.clone() {
            // This call waited for another one's carry-over: it reports the same move.
            drop(slot);
            return self.send_moved(&req, want, moved, spent).await;
        }
        if let Some(new) = convs.mapped(conv) {
            drop(slot);
            let rewritten = rewrite(&req, &new);
            let sent = self.run_calls(&rewritten, want, None).await;
            return sent.inspect_err(|e| spend(spent, e.attempts()));
        }
        // A fleet carries a conversation over once: claim it in Redis, or take the winner's result.
        let store = self.inner.state.redis().cloned();
        let mut claimed = false;
        if let Some(store) = &store {
            // The claim outlives a crashed winner by at most a minute (or the call's shorter deadline).
            let hold = req
                .timeout
                .unwrap_or_else(|| self.inner.config.total_timeout())
                .min(MAX_CLAIM);
            match store.claim_carry(conv, hold).await {
                Claim::Won => claimed = true,
                Claim::Done(c) => {
                    self.inner.apply_shared_carry(conv, &c);
                    let moved = ConversationMoved {
                        from: conv.to_string(),
                        to: c.to,
                        messages_copied: c.messages_copied,
                    };
                    *slot = Some(moved.clone());
                    drop(slot);
                    return self.send_moved(&req, want, moved, spent).await;
                }
                Claim::Unavailable => {}
            }
        }
        let moved = match self.copy_conversation(chat, strand, spent).await {
            Ok(m) => m,
            Err(e) => {
                self.inner.metrics.conversation_carry_failed();
                convs.end_flight(conv);
                if let (Some(store), true) = (&store, claimed) {
                    store.release(conv).await;
                }
                return Err(e);
            }
        };
        if let Some(store) = &store {
            let carried = Carried {
                to: moved.to.clone(),
                messages_copied: moved.messages_copied,
                credential: target,
            };
            store.carried(conv, &carried).await;
        }
        convs.insert(conv, &moved.to);
        self.inner.router.bind_conversation(&moved.to, target);
        self.inner
            .metrics
            .conversation_carried(moved.messages_copied);
        // Kept (like the map entry): a call that failed on the old id before the mapping existed reports it too.
        *slot = Some(moved.clone());
        drop(slot);
        tracing::info!(from = %moved.from, to = %moved.to, messages = moved.messages_copied, owner = %owner,
            "a conversation stranded by the move was carried over");
        let hook = lock(&convs.hook).clone();
        if let Some(hook) = hook {
            // The app's code, on a library thread: a panic in it must not take the call down (the mapping is
            // already kept).
            let told = moved.clone();
            if crate::caller::on_library_thread(move || hook(&told)).is_err() {
                tracing::warn!(from = %moved.from, to = %moved.to, "the conversation hook panicked");
            }
        }
        self.send_moved(&req, want, moved, spent).await
    }

    /// One whole-answer call with one credential, its attempts added to `spent`.
    async fn counted(
        &self,
        req: Request,
        kind: CredentialKind,
        spent: &Spent,
    ) -> Result<crate::Response> {
        match self.run_calls(&req, Want::Full, Some(kind)).await {
            Ok(Answer::Full(r, _)) => {
                spend(spent, r.attempts);
                Ok(r)
            }
            Ok(Answer::Stream(_)) => Err(Error::internal("a plain request produced a stream")),
            Err(e) => {
                spend(spent, e.attempts());
                Err(e)
            }
        }
    }

    /// The original call, sent again naming the new conversation, reporting the move.
    async fn send_moved(
        &self,
        req: &Request,
        want: Want,
        moved: ConversationMoved,
        spent: &Spent,
    ) -> Result<Answer> {
        let rewritten = rewrite(req, &moved.to);
        let answer = self
            .run_calls(&rewritten, want, None)
            .await
            .inspect_err(|e| spend(spent, e.attempts()))?;
        Ok(match answer {
            Answer::Full(mut r, c) => {
                r.conversation_moved = Some(moved);
                Answer::Full(r, c)
            }
            Answer::Stream(mut s) => {
                s.conversation_moved = Some(moved);
                Answer::Stream(s)
            }
        })
    }

    /// Lists (with `carry_over`) and creates: the new conversation under `target`.
    async fn copy_conversation(
        &self,
        chat: &ChatCall,
        strand: &Strand<'_>,
        spent: &Spent,
    ) -> Result<ConversationMoved> {
        let Strand {
            conv,
            owner,
            target,
        } = *strand;
        let cfg = &self.inner.config.conversations;
        let messages = match cfg.on_stranded {
            OnStranded::CarryOver if cfg.carry_over_messages > 0 => self
                .latest_messages(conv, owner, cfg.carry_over_messages as usize, spent)
                .await
                .map_err(|e| {
                    carry_failed(
                        e,
                        conv,
                        &format!("listing its messages with the {owner} credential"),
                    )
                })?,
            _ => Vec::new(),
        };
        let to = self
            .create_conversation(chat.bot_id.as_deref(), &messages, target, spent)
            .await
            .map_err(|e| {
                carry_failed(
                    e,
                    conv,
                    &format!("creating the new conversation with the {target} credential"),
                )
            })?;
        Ok(ConversationMoved {
            from: conv.to_string(),
            to,
            messages_copied: messages.len() as u32,
        })
    }

    /// The latest `n` copyable messages of a conversation, oldest first (`message/list`, newest page first,
    /// older pages with `before_id` = the previous page's `first_id`).
    async fn latest_messages(
        &self,
        conv: &str,
        owner: CredentialKind,
        n: usize,
        spent: &Spent,
    ) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut before: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut body =
                json!({"order": "desc", "limit": n.min(MAX_CARRY_OVER_MESSAGES as usize)});
            if let Some(b) = &before {
                body["before_id"] = json!(b);
            }
            let req = Request::post_json("/v1/conversation/message/list", body)
                .query("conversation_id", conv);
            let page = self.counted(req, owner, spent).await?.json()?;
            let data = page["data"].as_array().cloned().unwrap_or_default();
            out.extend(data.iter().filter_map(copyable));
            let next = id_value(&page["first_id"]);
            if out.len() >= n || page["has_more"] != json!(true) || next.is_none() || next == before
            {
                break;
            }
            before = next;
        }
        out.truncate(n);
        out.reverse();
        Ok(out)
    }

    /// `conversation/create` with the first 16 messages, then `message/create` for the rest, in order.
    async fn create_conversation(
        &self,
        bot_id: Option<&str>,
        messages: &[Value],
        target: CredentialKind,
        spent: &Spent,
    ) -> Result<String> {
        let split = messages.len().min(CREATE_MESSAGES);
        let mut body = json!({"messages": messages[..split]});
        if let Some(bot) = bot_id {
            body["bot_id"] = json!(bot);
        }
        let req = Request::post_json("/v1/conversation/create", body);
        let created = self.counted(req, target, spent).await?.json()?;
        let id = id_value(&created["data"]["id"])
            .ok_or_else(|| Error::transport("conversation/create answered without data.id"))?;
        for m in &messages[split..] {
            let req = Request::post_json("/v1/conversation/message/create", m.clone())
                .query("conversation_id", &id);
            self.counted(req, target, spent).await?;
        }
        Ok(id)
    }
}

impl crate::client::Inner {
    /// A carry-over another process of the fleet made: calls naming `from` use its new conversation here too.
    pub(crate) fn apply_shared_carry(&self, from: &str, carried: &Carried) {
        if self.conversations.mapped(from).as_deref() == Some(carried.to.as_str()) {
            return;
        }
        self.conversations.insert(from, &carried.to);
        self.router.apply_shared(
            "conversation_id",
            &carried.to,
            carried.credential,
            CONVERSATION_BINDING,
        );
    }
}

/// The longest a fleet-wide carry-over claim is held (a carry-over takes a few round trips).
const MAX_CLAIM: std::time::Duration = std::time::Duration::from_secs(60);

/// How long a binding learned from the fleet is kept (as long as a local one).
const CONVERSATION_BINDING: std::time::Duration = std::time::Duration::from_secs(7 * 86_400);

/// Adds the attempts of the failed first try to the answer of the call sent again.
fn with_attempts(answer: Answer, tried: u32) -> Answer {
    match answer {
        Answer::Full(mut r, c) => {
            r.attempts += tried;
            Answer::Full(r, c)
        }
        Answer::Stream(mut s) => {
            s.attempts += tried;
            Answer::Stream(s)
        }
    }
}

/// `on_stranded: "error"`: what happened and what to do.
fn stranded_error(conv: &str, owner: CredentialKind, target: CredentialKind, err: Error) -> Error {
    let mut e = Error::new(
        ErrorKind::ConversationStranded,
        format!(
            "conversation {conv} belongs to the {owner} credential, but the bot answers only the {target} \
             credential now (the workspace moved): start a new conversation with the {target} credential and \
             store its id, or set conversations.on_stranded to \"carry_over\" (or \"new\"), or have an \
             administrator grant the enterprise app access to the personal account's resources"
        ),
    );
    e.stranded = Some(Box::new(Stranded {
        conversation_id: Some(conv.to_string()),
        file_id: None,
        owner,
        bot_credential: target,
    }));
    e.credential = err.credential();
    e.attempts = err.attempts();
    e.with_previous(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_replaces_every_place_the_id_is_named() {
        let req = Request::post_json(
            "/v3/chat?conversation_id=1&x=2",
            json!({"conversation_id": "1", "bot_id": "7"}),
        )
        .query("conversation_id", "1");
        let call = chat_call(&req).unwrap();
        assert_eq!(call.conversation_id.as_deref(), Some("1"));
        let out = rewrite(&req, "9");
        assert_eq!(out.path, "/v3/chat?conversation_id=9&x=2");
        assert_eq!(out.query, vec![("conversation_id".into(), "9".into())]);
        match out.body {
            Body::Json(v) => assert_eq!(v["conversation_id"], "9"),
            _ => panic!("body kind changed"),
        }
    }

    #[test]
    fn only_questions_and_answers_are_copied() {
        let q =
            json!({"role": "user", "type": "question", "content": "hi", "content_type": "text"});
        assert!(copyable(&q).is_some());
        let f = json!({"role": "assistant", "type": "function_call", "content": "{}", "content_type": "text"});
        assert!(copyable(&f).is_none());
        let card =
            json!({"role": "assistant", "type": "answer", "content": "{}", "content_type": "card"});
        assert!(copyable(&card).is_none());
    }

    #[test]
    fn carry_over_messages_is_bounded() {
        let bad = r#"{"personal":{"type":"pat","token":"pat_a"},"conversations":{"carry_over_messages":51}}"#;
        let err = crate::Client::from_json(bad).unwrap_err();
        assert!(
            err.to_string()
                .contains("conversations.carry_over_messages")
        );
        let unknown =
            r#"{"personal":{"type":"pat","token":"pat_a"},"conversations":{"on_stranded":"drop"}}"#;
        assert!(crate::Config::from_json(unknown).is_err());
    }
}
