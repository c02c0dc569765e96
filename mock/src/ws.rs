//! The realtime APIs over WebSocket: `/v1/chat`, `/v1/audio/speech`, `/v1/audio/transcriptions` on the same
//! port (an HTTP/1.1 upgrade), with the move's access rule, Coze-shaped event sequences and faults.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};

use crate::body::{MockBody, Reply, code_msg, respond};
use crate::ctx::bearer;
use crate::faults::{self, FaultAction};
use crate::identities::{BOTS, ENTERPRISE_BOT, WORKFLOW_ID};
use crate::shared::Shared;
use crate::state::{ErrorSpec, Principal, WsSessionLog};
use crate::util::{new_id, new_logid, parse_query};

/// A silent client is dropped after this long.
const CLIENT_IDLE: Duration = Duration::from_secs(60);
const ANSWER_DELTAS: [&str; 3] = ["he", "ll", "o"];

type Ws = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// Whether a request asks for a WebSocket upgrade.
pub(crate) fn is_upgrade(req: &Request<Incoming>) -> bool {
    req.headers()
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// What a session does once upgraded.
enum Script {
    /// The credential cannot reach the resource: an `error` event, then a close with no status.
    Refuse(i64),
    Serve(Api),
}

#[derive(Clone, Copy)]
enum Api {
    Chat,
    Speech,
    Transcriptions,
}

/// Answers an upgrade request: a refusal (HTTP answer), or 101 and a session task.
pub(crate) async fn accept(
    shared: Arc<Shared>,
    mut req: Request<Incoming>,
) -> std::io::Result<Response<MockBody>> {
    let path = req.uri().path().to_string();
    let query = parse_query(req.uri().query());
    let logid = new_logid();
    let token = bearer(req.headers());
    let (principal, fault, index) = record_handshake(&shared, &path, token.as_deref());
    let session_fault = match apply_handshake_fault(&shared, index, fault, &logid).await {
        HandshakeFault::Proceed(session_fault) => session_fault,
        HandshakeFault::Answer(answer) => return answer,
    };
    let script = match decide(&shared, &path, &query, principal) {
        Ok(s) => s,
        Err(reply) => return Ok(refuse(&shared, index, reply, &logid)),
    };
    let Some(key) = req.headers().get(SEC_WEBSOCKET_KEY).cloned() else {
        let reply = Reply::business(
            StatusCode::BAD_REQUEST,
            4000,
            "missing Sec-WebSocket-Key",
            &logid,
        );
        return Ok(refuse(&shared, index, reply, &logid));
    };
    spawn_session(&shared, &mut req, index, session_fault, script);
    note_outcome(&shared, index, "upgraded", Some(101), None);
    Ok(switching_protocols(&key, &logid))
}

/// Counts the handshake in the stats and opens its session log; answers who the token acts for, the fault
/// armed for this handshake, and the index of the session log.
fn record_handshake(
    shared: &Shared,
    path: &str,
    token: Option<&str>,
) -> (Option<Principal>, Option<FaultAction>, usize) {
    let mut st = shared.state.lock().expect("state lock");
    let principal = token.and_then(|t| st.principal_of(t));
    let credential = principal.map_or("unauthenticated", Principal::name);
    let fault = faults::take(&mut st.faults, path, "GET", credential, true);
    let ws = &mut st.stats.websocket;
    ws.handshakes += 1;
    *ws.by_credential.entry(credential.to_string()).or_default() += 1;
    *ws.by_path.entry(path.to_string()).or_default() += 1;
    ws.sessions.push(WsSessionLog {
        path: path.to_string(),
        credential: credential.to_string(),
        outcome: "upgraded".into(),
        status: None,
        code: None,
        received: Vec::new(),
        events_sent: 0,
        pong: false,
    });
    (principal, fault, ws.sessions.len() - 1)
}

/// Writes how the handshake ended into session log `index` (a later `code` never erases an earlier one).
fn note_outcome(
    shared: &Shared,
    index: usize,
    outcome: &str,
    status: Option<u16>,
    code: Option<i64>,
) {
    let mut st = shared.state.lock().expect("state lock");
    if let Some(s) = st.stats.websocket.sessions.get_mut(index) {
        s.outcome = outcome.to_string();
        s.status = status;
        if code.is_some() {
            s.code = code;
        }
    }
}

/// Refuses the handshake with an HTTP answer, noted in session log `index`.
fn refuse(shared: &Shared, index: usize, reply: Reply, logid: &str) -> Response<MockBody> {
    note_outcome(
        shared,
        index,
        "refused_handshake",
        Some(reply.status.as_u16()),
        reply.code,
    );
    respond(reply, logid)
}

/// What a handshake fault leaves: go on to the upgrade (with a fault for the session to apply), or answer now.
enum HandshakeFault {
    Proceed(Option<FaultAction>),
    Answer(std::io::Result<Response<MockBody>>),
}

/// Applies the fault armed for this handshake: some end it (hang, reset, an HTTP answer), latency delays it,
/// the others are left for the session once upgraded.
async fn apply_handshake_fault(
    shared: &Shared,
    index: usize,
    fault: Option<FaultAction>,
    logid: &str,
) -> HandshakeFault {
    let status = |s: u16| StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reply = match fault {
        None => return HandshakeFault::Proceed(None),
        Some(FaultAction::Hang) => {
            note_outcome(shared, index, "hung", None, None);
            return std::future::pending().await;
        }
        Some(FaultAction::Reset) => {
            note_outcome(shared, index, "reset", None, None);
            let reset = std::io::Error::other("connection reset by fault");
            return HandshakeFault::Answer(Err(reset));
        }
        Some(FaultAction::Latency { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            return HandshakeFault::Proceed(None);
        }
        Some(FaultAction::Error {
            code,
            http_status,
            msg,
        }) if http_status >= 400 => {
            let msg = msg.as_deref().unwrap_or(code_msg(code));
            Reply::business(status(http_status), code, msg, logid)
        }
        Some(FaultAction::Error { code, .. }) => {
            let in_session = FaultAction::StreamErrorEvent { code, msg: None };
            return HandshakeFault::Proceed(Some(in_session));
        }
        Some(FaultAction::Http {
            http_status, body, ..
        }) => Reply::raw(status(http_status), "text/plain", body),
        Some(FaultAction::Body {
            body,
            content_type,
            http_status,
        }) => Reply::raw(status(http_status), &content_type, body),
        Some(FaultAction::OauthError {
            error,
            http_status,
            message,
        }) => {
            let message = message.unwrap_or_else(|| error.clone());
            Reply::oauth(status(http_status), &error, &message)
        }
        Some(other) => return HandshakeFault::Proceed(Some(other)),
    };
    HandshakeFault::Answer(Ok(refuse(shared, index, reply, logid)))
}

/// Runs the session on its own task once hyper hands over the upgraded connection.
fn spawn_session(
    shared: &Arc<Shared>,
    req: &mut Request<Incoming>,
    index: usize,
    fault: Option<FaultAction>,
    script: Script,
) {
    let upgrade = hyper::upgrade::on(req);
    let shared = shared.clone();
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        let mut session = Session {
            ws,
            shared,
            index,
            logid: new_logid(),
            fault,
            sent: 0,
        };
        let _ = session.run(script).await;
    });
}

/// The 101 answer that completes the upgrade, with the accept key derived from the client's key.
fn switching_protocols(key: &HeaderValue, logid: &str) -> Response<MockBody> {
    let mut resp = Response::new(MockBody::Full(None));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        h.insert(SEC_WEBSOCKET_ACCEPT, v);
    }
    if let Ok(v) = HeaderValue::from_str(logid) {
        h.insert("x-tt-logid", v);
    }
    resp
}

/// The access rule: which script a credential gets on this endpoint, or an HTTP refusal.
fn decide(
    shared: &Shared,
    path: &str,
    query: &std::collections::HashMap<String, String>,
    principal: Option<Principal>,
) -> Result<Script, Reply> {
    let api = match path {
        "/v1/chat" => Api::Chat,
        "/v1/audio/speech" => Api::Speech,
        "/v1/audio/transcriptions" => Api::Transcriptions,
        _ => {
            return Err(Reply::business(
                StatusCode::NOT_FOUND,
                4000,
                "unknown endpoint",
                &new_logid(),
            ));
        }
    };
    let Some(p) = principal else {
        return Ok(Script::Refuse(4100));
    };
    let st = shared.state.lock().expect("state lock");
    let denied = |spec: ErrorSpec| -> Result<Script, Reply> {
        if spec.http_status >= 400 {
            let status = StatusCode::from_u16(spec.http_status).unwrap_or(StatusCode::FORBIDDEN);
            Err(Reply::business(
                status,
                spec.code,
                code_msg(spec.code),
                &new_logid(),
            ))
        } else {
            Ok(Script::Refuse(spec.code))
        }
    };
    let resource = match api {
        Api::Chat => match (query.get("bot_id"), query.get("workflow_id")) {
            (Some(bot), _) if bot == ENTERPRISE_BOT => {
                return match p {
                    Principal::Enterprise => Ok(Script::Serve(api)),
                    Principal::Personal => Ok(Script::Refuse(4101)),
                };
            }
            (Some(bot), _) if !BOTS.contains(&bot.as_str()) => return Ok(Script::Refuse(4200)),
            (None, Some(wf)) if wf != WORKFLOW_ID => return Ok(Script::Refuse(4200)),
            (None, None) => return Ok(Script::Refuse(4000)),
            _ => st.workspace_access(p),
        },
        Api::Speech | Api::Transcriptions => st.workspace_access(p),
    };
    match resource {
        Ok(()) => Ok(Script::Serve(api)),
        Err(spec) => denied(spec),
    }
}

struct Session {
    ws: Ws,
    shared: Arc<Shared>,
    index: usize,
    logid: String,
    fault: Option<FaultAction>,
    sent: u64,
}

/// Why a session loop stopped early.
struct Stop;

impl Session {
    async fn run(&mut self, script: Script) -> Result<(), Stop> {
        if let Some(FaultAction::StreamErrorEvent { code, .. }) = self.fault {
            return self.refuse(code).await;
        }
        let api = match script {
            Script::Refuse(code) => return self.refuse(code).await,
            Script::Serve(api) => api,
        };
        let created = match api {
            Api::Chat => "chat.created",
            Api::Speech => "speech.created",
            Api::Transcriptions => "transcriptions.created",
        };
        self.emit(created, json!({})).await?;
        // A ping after the first event: the stats tell whether the client answered it.
        self.ws
            .send(Message::Ping("mock".into()))
            .await
            .map_err(|_| Stop)?;
        let mut text = String::new();
        let mut audio_bytes = 0usize;
        loop {
            let msg = match tokio::time::timeout(CLIENT_IDLE, self.ws.next()).await {
                Ok(Some(Ok(m))) => m,
                _ => return Err(Stop),
            };
            let event = match msg {
                Message::Text(t) => {
                    serde_json::from_str::<Value>(t.as_str()).unwrap_or(Value::Null)
                }
                Message::Binary(b) => {
                    self.log_received(json!({"binary": b.len()}));
                    continue;
                }
                Message::Pong(_) => {
                    self.update(|s| s.pong = true);
                    continue;
                }
                Message::Close(_) => return Ok(()),
                Message::Ping(_) | Message::Frame(_) => continue,
            };
            let kind = event
                .get("event_type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            self.log_received(json!({"event_type": kind, "id": event.get("id")}));
            let data = event.get("data").cloned().unwrap_or(json!({}));
            match (api, kind.as_str()) {
                (Api::Chat, "chat.update") => self.emit("chat.updated", data).await?,
                (Api::Speech, "speech.update") => self.emit("speech.updated", data).await?,
                (Api::Transcriptions, "transcriptions.update") => {
                    self.emit("transcriptions.updated", data).await?
                }
                (Api::Chat, "conversation.message.create") => self.chat_answer().await?,
                (Api::Chat, "input_audio_buffer.complete") => {
                    self.emit("input_audio_buffer.completed", json!({})).await?;
                    self.chat_answer().await?;
                }
                (Api::Chat | Api::Transcriptions, "input_audio_buffer.append") => {
                    audio_bytes += data
                        .get("delta")
                        .and_then(Value::as_str)
                        .map_or(0, str::len);
                }
                (Api::Speech, "input_text_buffer.append") => {
                    text.push_str(
                        data.get("delta")
                            .and_then(Value::as_str)
                            .unwrap_or_default(),
                    );
                }
                (Api::Speech, "input_text_buffer.complete") => self.speech_answer(&text).await?,
                (Api::Transcriptions, "input_audio_buffer.complete") => {
                    self.transcription_answer(audio_bytes).await?
                }
                (_, other) => {
                    let msg = format!("unknown event_type {other:?}");
                    self.emit("error", json!({"code": 4000, "msg": msg}))
                        .await?
                }
            }
        }
    }

    async fn chat_answer(&mut self) -> Result<(), Stop> {
        let chat_id = new_id();
        let conv = new_id();
        let chat = json!({"id": chat_id, "conversation_id": conv, "status": "created"});
        self.emit("conversation.chat.created", chat.clone()).await?;
        self.emit("conversation.chat.in_progress", chat).await?;
        for delta in ANSWER_DELTAS {
            let msg = json!({"chat_id": chat_id, "conversation_id": conv, "role": "assistant",
                             "type": "answer", "content": delta, "content_type": "text"});
            self.emit("conversation.message.delta", msg).await?;
        }
        let done = json!({"chat_id": chat_id, "conversation_id": conv, "role": "assistant",
                          "type": "answer", "content": ANSWER_DELTAS.concat(), "content_type": "text"});
        self.emit("conversation.message.completed", done).await?;
        let completed = json!({"id": chat_id, "conversation_id": conv, "status": "completed"});
        self.emit("conversation.chat.completed", completed).await
    }

    async fn speech_answer(&mut self, text: &str) -> Result<(), Stop> {
        self.emit("input_text_buffer.completed", json!({})).await?;
        use base64::Engine as _;
        for chunk in text.as_bytes().chunks(4).take(8) {
            let delta = base64::engine::general_purpose::STANDARD.encode(chunk);
            self.emit("speech.audio.update", json!({"delta": delta}))
                .await?;
        }
        self.emit("speech.audio.completed", json!({})).await
    }

    async fn transcription_answer(&mut self, audio_bytes: usize) -> Result<(), Stop> {
        self.emit("input_audio_buffer.completed", json!({})).await?;
        self.emit("transcriptions.message.update", json!({"content": "hel"}))
            .await?;
        self.emit("transcriptions.message.update", json!({"content": "hello"}))
            .await?;
        self.emit(
            "transcriptions.message.completed",
            json!({"content": "hello", "audio_bytes": audio_bytes}),
        )
        .await
    }

    /// The refusal Coze sends: the `error` event, then a close frame with no status.
    async fn refuse(&mut self, code: i64) -> Result<(), Stop> {
        self.update(|s| {
            s.outcome = "refused".into();
            s.code = Some(code);
        });
        self.emit("error", json!({"code": code, "msg": code_msg(code)}))
            .await?;
        let _ = self.ws.send(Message::Close(None)).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), self.ws.next()).await;
        Err(Stop)
    }

    /// Sends one event, applying the session's fault (slow, truncated, closed mid-session).
    async fn emit(&mut self, event_type: &str, data: Value) -> Result<(), Stop> {
        match &self.fault {
            Some(FaultAction::SlowStream { gap_ms }) => {
                tokio::time::sleep(Duration::from_millis(*gap_ms)).await
            }
            Some(FaultAction::TruncateStream { after_events })
                if self.sent >= *after_events as u64 =>
            {
                // Drop the connection with no close frame.
                return Err(Stop);
            }
            Some(FaultAction::CloseSession {
                after_events,
                code,
                reason,
            }) if self.sent >= *after_events as u64 => {
                let frame = CloseFrame {
                    code: CloseCode::from(*code),
                    reason: reason.clone().unwrap_or_default().into(),
                };
                let _ = self.ws.send(Message::Close(Some(frame))).await;
                let _ = tokio::time::timeout(Duration::from_secs(1), self.ws.next()).await;
                return Err(Stop);
            }
            _ => {}
        }
        let event = json!({"id": new_id(), "event_type": event_type, "data": data,
                           "detail": {"logid": self.logid}});
        self.ws
            .send(Message::text(event.to_string()))
            .await
            .map_err(|_| Stop)?;
        self.sent += 1;
        self.update(|s| s.events_sent += 1);
        Ok(())
    }

    fn log_received(&self, entry: Value) {
        self.update(|s| s.received.push(entry));
    }

    fn update(&self, f: impl FnOnce(&mut WsSessionLog)) {
        let mut st = self.shared.state.lock().expect("state lock");
        if let Some(s) = st.stats.websocket.sessions.get_mut(self.index) {
            f(s);
        }
    }
}
