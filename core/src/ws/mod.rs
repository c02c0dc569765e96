//! WebSocket sessions for Coze's realtime APIs (`/v1/chat`, `/v1/audio/speech`, `/v1/audio/transcriptions`),
//! with the same fallback as HTTP streams: a refused handshake, or a first server event `error` with a fallback
//! code, reconnects with the other credential and replays the caller's events sent so far; once a non-error
//! event has reached the caller nothing is replayed.

mod blocking;
mod connect;

pub use blocking::BlockingWebSocket;

use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::{Client, Order};
use crate::blocking::CancelToken;
use crate::classify::Outcome;
use crate::closing::closed_in_flight;
use crate::credential::CredentialKind;
use crate::decide::{
    Action, AttemptState, EXPIRY_WINDOW, Observed, Purpose, TOKEN_RECHECK_AGE, decide,
};
use crate::error::{Error, ErrorKind, Result};
use crate::http::is_connect_error;
use crate::route::{ResourceKey, resource_keys};
use crate::runtime::fork_generation;
use crate::token::Token;
use crate::util::lock;
use connect::Ws;

/// Close codes that end a session normally: 1000 normal, 1001 going away, 1005 none given (Coze closes so).
const NORMAL_CLOSE: [u16; 3] = [1000, 1001, 1005];

/// How long `close()` waits for the close frame to leave.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// One frame from the server.
///
/// ```
/// let event = cozefallback::WsEvent::Json(serde_json::json!({
///     "id": "1", "event_type": "chat.created", "data": {}, "detail": {"logid": "20250101"}
/// }));
/// assert_eq!(event.event_type(), Some("chat.created"));
/// assert_eq!(event.logid(), Some("20250101"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum WsEvent {
    /// A JSON event as the server sent it: `{"id", "event_type", "data", "detail": {"logid"}}`.
    Json(serde_json::Value),
    /// A binary frame.
    Binary(Bytes),
}

impl WsEvent {
    /// The whole JSON object (`None` for a binary frame).
    pub fn json(&self) -> Option<&serde_json::Value> {
        match self {
            WsEvent::Json(v) => Some(v),
            WsEvent::Binary(_) => None,
        }
    }
    /// `event_type`, such as `chat.created` or `error`.
    pub fn event_type(&self) -> Option<&str> {
        self.json()?.get("event_type")?.as_str()
    }
    /// `data`.
    pub fn data(&self) -> Option<&serde_json::Value> {
        self.json()?.get("data")
    }
    /// `id`.
    pub fn id(&self) -> Option<&str> {
        self.json()?.get("id")?.as_str()
    }
    /// `detail.logid`.
    pub fn logid(&self) -> Option<&str> {
        self.json()?.pointer("/detail/logid")?.as_str()
    }
    /// The Coze code of an `error` event.
    pub fn error_code(&self) -> Option<i64> {
        if self.event_type() != Some("error") {
            return None;
        }
        let code = self.data()?.get("code")?;
        code.as_i64()
            .or_else(|| code.as_str().and_then(|s| s.parse().ok()))
    }
    fn error_message(&self) -> String {
        self.data()
            .and_then(|d| d.get("msg"))
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_string()
    }
}

/// What one read gave.
enum Frame {
    Event(WsEvent),
    /// The server's close frame: code and reason (1005 when it sent none).
    Closed(u16, String),
}

/// An open realtime session. Clones share the session; `send` and `next` may run concurrently.
///
/// ```no_run
/// # async fn demo(client: cozefallback::Client) -> cozefallback::Result<()> {
/// let session = client.websocket("/v1/chat", [("bot_id", "7350000000000000001")]).await?;
/// session.send(serde_json::json!({"id": "1", "event_type": "chat.update", "data": {}})).await?;
/// while let Some(event) = session.next().await? {
///     println!("{:?}", event.event_type());
///     if event.event_type() == Some("conversation.chat.completed") { break; }
/// }
/// session.close().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct WebSocketSession {
    inner: Arc<Session>,
}

struct Session {
    client: Client,
    url: url::Url,
    keys: Vec<ResourceKey>,
    order: Order,
    started: Instant,
    deadline: Instant,
    writer: Mutex<Writer>,
    reader: Mutex<Reader>,
    info: StdMutex<Info>,
    closed: CancelToken,
    /// The fork generation the connection belongs to: a forked child cannot use it (see `runtime.rs`).
    born: u64,
}

struct Writer {
    sink: Option<SplitSink<Ws, Message>>,
    /// The caller's frames sent before the server's first event, for a replay; `None` once decided.
    held: Option<Vec<Message>>,
    held_bytes: u64,
    /// More than `max_request_bytes` was sent before the first event: it can no longer be replayed.
    overflowed: bool,
}

struct Reader {
    source: Option<SplitStream<Ws>>,
    /// The index in `order` of the credential connected now.
    index: usize,
    finished: bool,
}

#[derive(Clone)]
struct Info {
    credential: CredentialKind,
    attempts: u32,
    logid: Option<String>,
    delivered: u64,
    close: Option<(u16, String)>,
    committed: bool,
    recorded: bool,
    previous: Option<Error>,
    /// The token of the connection now: its cache generation, whether it is about to expire, and whether this
    /// credential already got a new one.
    token_generation: u64,
    token_expiring: bool,
    token_old: bool,
    renewed: bool,
}

impl Client {
    /// Opens a realtime WebSocket session on the WebSocket base (`wss://ws.coze.cn` for `https://api.coze.cn`,
    /// or `ws_base_url`) with the fallback described in [`WebSocketSession`]. `bot_id` / `workflow_id` in the
    /// query pick the sticky route, as for HTTP.
    pub async fn websocket<K: AsRef<str>, V: AsRef<str>>(
        &self,
        path: &str,
        query: impl IntoIterator<Item = (K, V)>,
    ) -> Result<WebSocketSession> {
        let base = connect::ws_base(&self.inner.config, &self.inner.base)?;
        let url = connect::session_url(&base, path, query)?;
        self.inner.closer.guard(self.open_session(url)).await
    }

    async fn open_session(&self, url: url::Url) -> Result<WebSocketSession> {
        let started = Instant::now();
        let keys = resource_keys(&url, None);
        let order = self.order(&keys);
        let deadline = started + self.inner.config.total_timeout();
        let mut info = Info {
            credential: order.items[0],
            attempts: 0,
            logid: None,
            delivered: 0,
            close: None,
            committed: false,
            recorded: false,
            previous: None,
            token_generation: 0,
            token_expiring: false,
            token_old: false,
            renewed: false,
        };
        let opened = self
            .connect_from(&url, order.as_slice(), 0, &mut info, deadline)
            .await;
        let (ws, index) = match opened {
            Ok(v) => v,
            Err(e) => {
                self.record(&info, e.kind.as_str(), started);
                return Err(e);
            }
        };
        let (sink, source) = ws.split();
        Ok(WebSocketSession {
            inner: Arc::new(Session {
                client: self.clone(),
                url,
                keys,
                order,
                started,
                deadline,
                writer: Mutex::new(Writer {
                    sink: Some(sink),
                    held: Some(Vec::new()),
                    held_bytes: 0,
                    overflowed: false,
                }),
                reader: Mutex::new(Reader {
                    source: Some(source),
                    index,
                    finished: false,
                }),
                info: StdMutex::new(info),
                closed: CancelToken::new(),
                born: fork_generation(),
            }),
        })
    }

    /// Connects with `order[start..]` in turn until a handshake passes; a handshake refused with a fallback
    /// code moves on to the next credential, one refusing a minted token gets a new token once.
    async fn connect_from(
        &self,
        url: &url::Url,
        order: &[CredentialKind],
        start: usize,
        info: &mut Info,
        deadline: Instant,
    ) -> Result<(Ws, usize)> {
        let inner = &self.inner;
        for (i, kind) in order.iter().copied().enumerate().skip(start) {
            if info.credential != kind {
                info.renewed = false;
            }
            info.credential = kind;
            loop {
                let token = match self.session_token(kind, deadline).await {
                    Ok(t) => t,
                    Err(e) => return Err(self.session_error(e, info)),
                };
                info.attempts += 1;
                info.token_generation = token.generation;
                info.token_expiring = token.expires_within(EXPIRY_WINDOW);
                info.token_old = token.older_than(TOKEN_RECHECK_AGE);
                let e = match connect::open(&inner.config, url, &token.value, deadline).await {
                    Ok((ws, logid)) => {
                        info.logid = logid;
                        return Ok((ws, i));
                    }
                    Err(e) => e,
                };
                match self.ws_decide(info, &handshake_observed(&e), true) {
                    Action::RenewToken => {
                        self.drop_token(info, true);
                        continue;
                    }
                    Action::Fallback { forget_token, .. } => {
                        if forget_token {
                            self.drop_token(info, false);
                        }
                        if i + 1 < order.len() {
                            inner.metrics.fallback(e.code.unwrap_or(0));
                            tracing::info!(from = %kind, to = %order[i + 1], code = ?e.code, "websocket handshake refused: falling back");
                            info.previous = Some(self.session_error(e, info));
                            break;
                        }
                    }
                    _ => {}
                }
                return Err(self.session_error(e, info));
            }
        }
        Err(Error::internal("no credential to try"))
    }

    /// A token from the shared cache, within the session's deadline.
    async fn session_token(&self, kind: CredentialKind, deadline: Instant) -> Result<Token> {
        let inner = &self.inner;
        let cred = inner.credentials[kind.index()]
            .as_ref()
            .expect("order lists configured credentials");
        let hook = lock(&inner.hook).clone();
        tokio::time::timeout_at(deadline.into(), cred.token(&inner.http, hook.as_ref()))
            .await
            .unwrap_or_else(|_| {
                Err(Error::timeout(
                    "the overall deadline passed while getting an access token",
                ))
            })
    }

    /// The decision table's verdict (the same as for HTTP calls, with no retries) on what the session's
    /// connection saw. `replayable`: the frames sent so far can be sent again on a new connection.
    fn ws_decide(&self, info: &Info, seen: &Observed, replayable: bool) -> Action {
        let Some(cred) = self.inner.credentials[info.credential.index()].as_ref() else {
            return Action::Fail {
                reauth: false,
                not_replayable: false,
            };
        };
        let state = AttemptState {
            purpose: Purpose::WebSocket,
            idempotent: false,
            replayable,
            retries_left: 0,
            renewable: cred.is_renewable(),
            renewed: info.renewed,
            obo: cred.is_obo(),
            token_expiring: info.token_expiring,
            token_old: info.token_old,
            fallback_codes: &self.inner.fallback_codes,
        };
        decide(seen, &state)
    }

    /// Drops the connection's token from the cache: to mint a new one (`renewing`, once per credential), or
    /// because the table says a refused old token may have been revoked.
    fn drop_token(&self, info: &mut Info, renewing: bool) {
        if let Some(cred) = self.inner.credentials[info.credential.index()].as_ref() {
            cred.invalidate(info.token_generation);
        }
        info.renewed |= renewing;
    }

    /// Tags an error with the session's credential, attempts and the error that led here.
    fn session_error(&self, mut e: Error, info: &mut Info) -> Error {
        e.credential = Some(info.credential);
        e.attempts = info.attempts;
        match info.previous.take() {
            Some(p) => e.with_previous(p),
            None => e,
        }
    }

    fn record(&self, info: &Info, outcome: &'static str, started: Instant) {
        self.inner.metrics.request_done(
            Some(info.credential),
            outcome,
            info.attempts,
            started.elapsed(),
        );
    }
}

impl WebSocketSession {
    /// Sends one JSON event (an object with `event_type`). Before the server's first event the event is also
    /// held, to be replayed in order if the session falls back to the other credential.
    pub async fn send(&self, event: serde_json::Value) -> Result<()> {
        if !event.is_object() {
            return Err(Error::invalid_argument(format!(
                "a WebSocket event must be a JSON object with an event_type, got {}",
                json_kind(&event)
            )));
        }
        self.send_message(Message::text(event.to_string())).await
    }

    /// Sends one binary frame (held and replayed like [`WebSocketSession::send`]).
    pub async fn send_binary(&self, data: impl Into<Bytes>) -> Result<()> {
        self.send_message(Message::Binary(data.into())).await
    }

    async fn send_message(&self, message: Message) -> Result<()> {
        let s = &self.inner;
        s.check_fork()?;
        if s.client.is_closed() || s.closed.is_cancelled() {
            return Err(Error::invalid_argument(
                "the WebSocket session is closed: nothing can be sent on it",
            ));
        }
        let idle = s.client.inner.http.idle;
        let mut writer = s.writer.lock().await;
        let holding = writer.held.is_some();
        if holding {
            writer.held_bytes += message.len() as u64;
            // What is held is bounded like a request body: past the cap the replay is given up.
            if writer.held_bytes > s.client.inner.config.max_request_bytes {
                writer.held = None;
                writer.overflowed = true;
            }
        }
        if let Some(held) = writer.held.as_mut() {
            held.push(message.clone());
        }
        let Some(sink) = writer.sink.as_mut() else {
            return Err(Error::invalid_argument(
                "the WebSocket session is closed: nothing can be sent on it",
            ));
        };
        let sent = match tokio::time::timeout(idle, sink.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::transport(format!("could not send: {e}"))),
            Err(_) => Err(Error::timeout(format!(
                "the event could not be sent within {} ms",
                idle.as_millis()
            ))),
        };
        match sent {
            // Held: a refusing server may have closed already; the first event decides (and replays).
            Err(_) if holding => Ok(()),
            Err(e) => Err(s.interrupted(e)),
            Ok(()) => Ok(()),
        }
    }

    /// The next frame from the server; `Ok(None)` once the server closed the session normally (close code
    /// 1000, 1001 or none; see [`WebSocketSession::close_frame`]) or after [`WebSocketSession::close`]. Any
    /// other close code after the first event is a `StreamInterrupted` error naming the code. Pings are answered and
    /// skipped. A connection that breaks (or stays silent past the idle timeout) after the first event gives
    /// `StreamInterrupted` with the count of events delivered.
    pub async fn next(&self) -> Result<Option<WsEvent>> {
        let s = &self.inner;
        s.check_fork()?;
        let client_closed = s.client.inner.closer.token();
        tokio::select! {
            biased;
            _ = client_closed.cancelled() => Err(closed_in_flight()),
            _ = s.closed.cancelled() => Ok(None),
            r = s.next_event() => r,
        }
    }

    /// Sends a close frame (bounded wait) and ends the session; later `next` calls give `Ok(None)`.
    /// Idempotent.
    pub async fn close(&self) {
        let s = &self.inner;
        s.closed.cancel();
        if s.check_fork().is_err() {
            return; // the parent's connection: left alone
        }
        if let Ok(mut writer) = tokio::time::timeout(CLOSE_WAIT, s.writer.lock()).await {
            writer.held = None;
            if let Some(mut sink) = writer.sink.take() {
                let _ = tokio::time::timeout(CLOSE_WAIT, sink.close()).await;
            }
        }
        if let Ok(mut reader) = s.reader.try_lock() {
            reader.source = None;
            reader.finished = true;
        }
        let mut info = lock(&s.info);
        if !info.recorded {
            info.recorded = true;
            s.client.record(&info, "cancelled", s.started);
        }
    }

    /// The credential connected now (final once the first event was delivered).
    pub fn credential(&self) -> CredentialKind {
        lock(&self.inner.info).credential
    }
    /// Handshakes made so far, over both credentials.
    pub fn attempts(&self) -> u32 {
        lock(&self.inner.info).attempts
    }
    /// The log id of the last handshake answer (`X-Tt-Logid`).
    pub fn logid(&self) -> Option<String> {
        lock(&self.inner.info).logid.clone()
    }
    /// Events handed to the caller so far.
    pub fn events_delivered(&self) -> u64 {
        lock(&self.inner.info).delivered
    }
    /// The server's close frame (code, reason) once it closed the session.
    pub fn close_frame(&self) -> Option<(u16, String)> {
        lock(&self.inner.info).close.clone()
    }
    /// The session's URL (it never carries the token).
    pub fn url(&self) -> &str {
        self.inner.url.as_str()
    }
}

impl Session {
    fn check_fork(&self) -> Result<()> {
        if self.born == fork_generation() {
            return Ok(());
        }
        Err(Error::invalid_argument(
            "this WebSocket session was opened before a fork(): its connection belongs to the parent process",
        ))
    }

    async fn next_event(&self) -> Result<Option<WsEvent>> {
        let mut reader = self.reader.lock().await;
        loop {
            if reader.finished {
                return Ok(None);
            }
            let frame = read_frame(&mut reader, self.client.inner.http.idle).await;
            if lock(&self.info).committed {
                return self.deliver(&mut reader, frame);
            }
            match frame {
                Ok(Frame::Event(event)) => {
                    if let Some(code) = event.error_code()
                        && self
                            .refused_by_first_event(&mut reader, &event, code)
                            .await?
                    {
                        continue;
                    }
                    self.commit(&reader).await;
                    return self.deliver(&mut reader, Ok(Frame::Event(event)));
                }
                Ok(Frame::Closed(code, reason)) => {
                    let err = Error::transport(format!(
                        "the server closed the WebSocket before its first event (close code {code}{})",
                        reason_suffix(&reason)
                    ));
                    lock(&self.info).close = Some((code, reason));
                    return Err(self.fail(&mut reader, err));
                }
                Err(e) => return Err(self.fail(&mut reader, e)),
            }
        }
    }

    /// A first `error` event, decided by the table: `Ok(true)` when the session reconnected (a renewed token,
    /// or the next credential; nothing was delivered yet, so the held frames are replayed), `Ok(false)` when
    /// the event is delivered as it is, `Err` when it ends the session.
    async fn refused_by_first_event(
        &self,
        reader: &mut Reader,
        event: &WsEvent,
        code: i64,
    ) -> Result<bool> {
        let overflowed = self.writer.lock().await.overflowed;
        let seen = Observed::FirstEvent {
            error_code: Some(code),
        };
        let action = self.client.ws_decide(&lock(&self.info), &seen, !overflowed);
        let mut err = first_event_error(event, code);
        match action {
            Action::Deliver => return Ok(false),
            Action::RenewToken => {
                self.client.drop_token(&mut lock(&self.info), true);
                let same = reader.index;
                self.reconnect(reader, err, same).await?;
                return Ok(true);
            }
            Action::Fallback { forget_token, .. } => {
                if forget_token {
                    self.client.drop_token(&mut lock(&self.info), false);
                }
                if reader.index + 1 < self.order.len {
                    self.client.inner.metrics.fallback(code);
                    let next = reader.index + 1;
                    self.reconnect(reader, err, next).await?;
                    return Ok(true);
                }
            }
            Action::Fail {
                not_replayable: true,
                ..
            } => err.message.push_str(
                " (not retried with the other credential: the events sent before it exceed max_request_bytes and cannot be replayed)",
            ),
            Action::Retry { .. } | Action::Fail { .. } => {}
        }
        Err(self.fail(reader, err))
    }

    /// The first event refused this connection: connect from `order[start]` on and replay the held frames.
    async fn reconnect(&self, reader: &mut Reader, err: Error, start: usize) -> Result<()> {
        let client = &self.client;
        let mut info = lock(&self.info).clone();
        tracing::info!(from = %info.credential, code = ?err.code, "websocket first event refused: reconnecting");
        info.previous = Some(client.session_error(err, &mut info));
        reader.source = None;
        let connected = client
            .connect_from(
                &self.url,
                self.order.as_slice(),
                start,
                &mut info,
                self.deadline,
            )
            .await;
        let ws = match connected {
            Ok((ws, index)) => {
                reader.index = index;
                ws
            }
            Err(e) => {
                *lock(&self.info) = info;
                return Err(self.fail(reader, e));
            }
        };
        *lock(&self.info) = info;
        let (mut sink, source) = ws.split();
        let mut writer = self.writer.lock().await;
        let idle = client.inner.http.idle;
        for message in writer.held.iter().flatten() {
            match tokio::time::timeout(idle, sink.send(message.clone())).await {
                Ok(Ok(())) => {}
                // The new connection's first read tells what happened.
                Ok(Err(_)) | Err(_) => break,
            }
        }
        writer.sink = Some(sink);
        reader.source = Some(source);
        Ok(())
    }

    /// A non-error first event: this credential serves the session; nothing is replayed from now on.
    async fn commit(&self, reader: &Reader) {
        self.writer.lock().await.held = None;
        let mut info = lock(&self.info);
        info.committed = true;
        info.previous = None;
        if reader.index > 0 {
            self.client
                .inner
                .router
                .remember(&self.keys, info.credential);
        }
        info.recorded = true;
        self.client.record(&info, "success", self.started);
        self.client.inner.metrics.websocket_session();
    }

    fn deliver(&self, reader: &mut Reader, frame: Result<Frame>) -> Result<Option<WsEvent>> {
        match frame {
            Ok(Frame::Event(event)) => {
                lock(&self.info).delivered += 1;
                Ok(Some(event))
            }
            Ok(Frame::Closed(code, reason)) => {
                reader.finished = true;
                reader.source = None;
                let suffix = reason_suffix(&reason);
                lock(&self.info).close = Some((code, reason));
                if NORMAL_CLOSE.contains(&code) {
                    return Ok(None);
                }
                Err(self.interrupted(Error::transport(format!(
                    "the server closed the session with code {code}{suffix}"
                ))))
            }
            Err(e) => {
                reader.finished = true;
                reader.source = None;
                Err(self.interrupted(e))
            }
        }
    }

    /// Ends an undecided session with `err` (tagged, counted in the metrics).
    fn fail(&self, reader: &mut Reader, err: Error) -> Error {
        reader.finished = true;
        reader.source = None;
        let mut info = lock(&self.info);
        let err = self.client.session_error(err, &mut info);
        if !info.recorded {
            info.recorded = true;
            self.client.record(&info, err.kind.as_str(), self.started);
        }
        err
    }

    /// A break after the first event: `StreamInterrupted`, never replayed.
    fn interrupted(&self, mut e: Error) -> Error {
        let info = lock(&self.info);
        e.message = format!(
            "the WebSocket session broke after {} event(s); it is not replayed: {}",
            info.delivered, e.message
        );
        e.kind = ErrorKind::StreamInterrupted;
        e.events_delivered = info.delivered;
        e.attempts = info.attempts;
        e.credential = Some(info.credential);
        e.logid = info.logid.clone();
        e
    }
}

/// Reads the next data or close frame within the idle timeout; pings and pongs are skipped (tungstenite
/// queues the pong answer and sends it with the next read or write).
async fn read_frame(reader: &mut Reader, idle: Duration) -> Result<Frame> {
    let Some(source) = reader.source.as_mut() else {
        return Ok(Frame::Closed(1005, String::new()));
    };
    loop {
        let message = match tokio::time::timeout(idle, source.next()).await {
            Err(_) => {
                return Err(Error::timeout(format!(
                    "no frame from the server for {} ms (idle timeout)",
                    idle.as_millis()
                )));
            }
            Ok(None) => {
                return Err(Error::transport(
                    "the connection closed without a close frame",
                ));
            }
            Ok(Some(Err(e))) => return Err(Error::transport(format!("the connection broke: {e}"))),
            Ok(Some(Ok(m))) => m,
        };
        match message {
            Message::Text(text) => {
                return match serde_json::from_str::<serde_json::Value>(text.as_str()) {
                    Ok(v) if v.is_object() => Ok(Frame::Event(WsEvent::Json(v))),
                    _ => Err(Error::transport(format!(
                        "the server sent a text frame that is not a JSON object ({} bytes)",
                        text.len()
                    ))),
                };
            }
            Message::Binary(data) => return Ok(Frame::Event(WsEvent::Binary(data))),
            Message::Close(frame) => return Ok(close_parts(frame)),
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
        }
    }
}

fn close_parts(frame: Option<CloseFrame>) -> Frame {
    match frame {
        Some(f) => Frame::Closed(u16::from(f.code), f.reason.as_str().to_string()),
        None => Frame::Closed(u16::from(CloseCode::Status), String::new()),
    }
}

fn reason_suffix(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(": {}", crate::redact(reason))
    }
}

fn first_event_error(event: &WsEvent, code: i64) -> Error {
    let msg = event.error_message();
    let mut err = Error::new(
        ErrorKind::Api,
        format!("Coze API error {code} in the WebSocket's first event: {msg}"),
    );
    err.code = Some(code);
    err.coze_message = Some(crate::redact(&msg));
    err.logid = event.logid().map(str::to_string);
    err
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.born != fork_generation() {
            // The parent's connection: dropping it here would unregister it from the parent's reactor too.
            std::mem::forget(self.writer.get_mut().sink.take());
            std::mem::forget(self.reader.get_mut().source.take());
        }
    }
}

impl std::fmt::Debug for WebSocketSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let info = lock(&self.inner.info);
        f.debug_struct("WebSocketSession")
            .field("url", &self.inner.url.as_str())
            .field("credential", &info.credential)
            .field("attempts", &info.attempts)
            .field("delivered", &info.delivered)
            .finish_non_exhaustive()
    }
}

/// A failed handshake as the decision table sees it: an HTTP refusal (its Coze code or OAuth error), or no
/// answer at all.
fn handshake_observed(e: &Error) -> Observed {
    let Some(status) = e.http_status else {
        return Observed::NoAnswer {
            sent: !is_connect_error(e),
            cancelled: e.kind == ErrorKind::Cancelled,
        };
    };
    let outcome = match (e.code, &e.oauth_error) {
        (Some(code), _) => Outcome::Api {
            code,
            msg: String::new(),
        },
        (None, Some(error)) => Outcome::OAuth {
            error: error.clone(),
            message: String::new(),
        },
        (None, None) => Outcome::Http,
    };
    Observed::Answer {
        status,
        outcome,
        broken_json: false,
        wrong_shape: false,
        retry_after: None,
    }
}
