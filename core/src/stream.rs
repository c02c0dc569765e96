//! An open event stream: reading, idle limits, the end-of-stream rules, and binding a new conversation.

use std::collections::VecDeque;
use std::time::Duration;

use crate::closing::closed_in_flight;
use crate::conversations::ConversationMoved;
use crate::credential::CredentialKind;
use crate::error::{Error, ErrorKind, Result};
use crate::runtime::fork_generation;
use crate::sse::{Event, SseParser};

use super::Client;

/// A stream of server-sent events from one credential.
///
/// ```no_run
/// # async fn demo(client: cozefallback::Client) -> cozefallback::Result<()> {
/// let req = cozefallback::Request::post_json("/v3/chat", serde_json::json!({"bot_id": "73", "user_id": "u", "stream": true}));
/// let mut stream = client.stream(req).await?;
/// while let Some(event) = stream.next().await? {
///     println!("{}: {}", event.event, event.data);
/// }
/// # Ok(()) }
/// ```
pub struct EventStream {
    response: Option<reqwest::Response>,
    parser: SseParser,
    pending: VecDeque<Event>,
    delivered: u64,
    finished: bool,
    saw_terminal: bool,
    idle: Duration,
    status: u16,
    headers: Vec<(String, String)>,
    logid: Option<String>,
    credential: CredentialKind,
    pub(crate) attempts: u32,
    client: Client,
    bound_conversation: bool,
    /// Set when this stream's conversation was carried over to a new one before the stream opened.
    pub(crate) conversation_moved: Option<ConversationMoved>,
    /// An end-of-input error found while events were still pending: raised once they are delivered.
    deferred: Option<Error>,
    /// The fork generation the connection belongs to: a forked child cannot read it (see `runtime.rs`).
    born: u64,
    /// The stream went past max_event_bytes: a Transport error (not an interruption), never retried.
    over_limit: bool,
}

/// Where an opened stream's response came from: the facts [`EventStream`] reports.
pub(crate) struct StreamHead {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) logid: Option<String>,
    pub(crate) credential: CredentialKind,
    pub(crate) attempts: u32,
}

impl EventStream {
    /// A stream over `response`, nothing read yet.
    pub(crate) fn new(response: reqwest::Response, head: StreamHead, client: &Client) -> Self {
        let inner = &client.inner;
        EventStream {
            response: Some(response),
            parser: SseParser::with_max_event_bytes(inner.config.max_event_bytes),
            pending: VecDeque::new(),
            delivered: 0,
            finished: false,
            saw_terminal: false,
            idle: inner.http.idle,
            status: head.status,
            headers: head.headers,
            logid: head.logid,
            credential: head.credential,
            attempts: head.attempts,
            client: client.clone(),
            bound_conversation: false,
            conversation_moved: None,
            deferred: None,
            born: fork_generation(),
            over_limit: false,
        }
    }

    /// The Coze code of the first event when it is an `error` event (nothing was delivered yet).
    pub(crate) fn first_error_code(&self) -> Option<i64> {
        self.pending.front().and_then(Event::error_code)
    }

    /// The error a refusing first `error` event amounts to, as if the server had answered it as JSON.
    pub(crate) fn first_event_error(&self) -> Error {
        let Some((first, code)) = self
            .pending
            .front()
            .and_then(|e| e.error_code().map(|c| (e, c)))
        else {
            return Error::internal("the stream's first event is not an error");
        };
        let mut err = Error::new(
            ErrorKind::Api,
            format!(
                "Coze API error {code} in the stream's first event: {}",
                first.error_message()
            ),
        );
        err.code = Some(code);
        err.coze_message = Some(crate::redact(&first.error_message()));
        err.http_status = Some(self.status);
        err.logid = self.logid.clone();
        err.credential = Some(self.credential);
        err
    }

    /// Whether reading stopped at max_event_bytes (final: a Transport error that is never retried).
    pub(crate) fn over_limit(&self) -> bool {
        self.over_limit
    }

    /// The next event; `Ok(None)` after the stream's final `done` event. A broken stream gives a
    /// `StreamInterrupted` error carrying how many events were delivered; [`Client::close`] ends it with
    /// `Cancelled`.
    pub async fn next(&mut self) -> Result<Option<Event>> {
        if let Err(e) = crate::runtime::ensure_not_forked(self.born) {
            self.close();
            return Err(e);
        }
        let closer = self.client.inner.closer.token();
        let next = tokio::select! {
            biased;
            _ = closer.cancelled() => Err(closed_in_flight()),
            r = self.next_event() => r,
        };
        if next.is_err() && closer.is_cancelled() {
            self.close();
        }
        next
    }

    async fn next_event(&mut self) -> Result<Option<Event>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.delivered += 1;
                self.saw_terminal |= event.is_terminal();
                self.learn(&event);
                return Ok(Some(event));
            }
            let failed = match self.deferred.take() {
                Some(e) => Err(e),
                None if self.finished => return Ok(None),
                None => self.fill().await,
            };
            if let Err(mut e) = failed {
                if !self.over_limit {
                    e.kind = ErrorKind::StreamInterrupted;
                }
                e.events_delivered = self.delivered;
                e.attempts = self.attempts;
                e.credential = Some(self.credential);
                e.logid = self.logid.clone();
                e.message = format!(
                    "the stream broke after {} event(s); it is not replayed: {}",
                    self.delivered, e.message
                );
                return Err(e);
            }
        }
    }

    /// Stops reading and closes the connection. Safe to call more than once.
    pub fn close(&mut self) {
        if let Some(resp) = self.response.take()
            && self.born != fork_generation()
        {
            // The parent's connection: dropping it here would unregister it from the parent's reactor too.
            std::mem::forget(resp);
        }
        self.pending.clear();
        self.finished = true;
    }

    /// The credential serving this stream.
    pub fn credential(&self) -> CredentialKind {
        self.credential
    }
    /// HTTP attempts it took to open the stream.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
    /// The Coze log id.
    pub fn logid(&self) -> Option<&str> {
        self.logid.as_deref()
    }
    /// HTTP status of the stream's response.
    pub fn status(&self) -> u16 {
        self.status
    }
    /// Response headers.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }
    /// Events handed to the caller so far.
    pub fn events_delivered(&self) -> u64 {
        self.delivered
    }
    /// When the call's conversation was stranded by the move and carried over: from which id to which.
    pub fn conversation_moved(&self) -> Option<&ConversationMoved> {
        self.conversation_moved.as_ref()
    }

    /// Reads until the first event is parsed (nothing reaches the caller yet, so a failure here may fall back).
    pub(crate) async fn fill_first(&mut self) -> Result<()> {
        while self.pending.is_empty() && !self.finished {
            self.fill().await?;
        }
        if self.pending.is_empty() {
            return Err(self
                .deferred
                .take()
                .unwrap_or_else(|| Error::transport("the stream ended before its first event")));
        }
        Ok(())
    }

    /// Reads one chunk into `pending`. An end of input before the terminal `done` event is an error.
    async fn fill(&mut self) -> Result<()> {
        let Some(resp) = self.response.as_mut() else {
            self.finished = true;
            return Ok(());
        };
        match tokio::time::timeout(self.idle, resp.chunk()).await {
            Ok(Ok(Some(chunk))) => {
                let mut events = Vec::new();
                let fed = self.parser.feed_into(&chunk, &mut events);
                self.pending.extend(events);
                if let Err(e) = fed {
                    // Past max_event_bytes: stop reading; events already parsed are delivered first.
                    self.finished = true;
                    self.response = None;
                    self.over_limit = true;
                    self.deferred = Some(e);
                }
                Ok(())
            }
            Ok(Ok(None)) => {
                self.finished = true;
                self.response = None;
                // An event the server did not finish is discarded, never delivered (its data may be cut).
                let partial = self.parser.finish();
                let terminal = self.saw_terminal || self.pending.iter().any(Event::is_terminal);
                if partial {
                    self.deferred = Some(Error::transport(
                        "the connection closed in the middle of an event, which was discarded",
                    ));
                } else if !terminal {
                    self.deferred = Some(Error::transport(
                        "the connection closed before the stream's final event",
                    ));
                }
                Ok(())
            }
            Ok(Err(e)) => {
                self.finished = true;
                self.response = None;
                Err(Error::transport(format!("the connection broke: {e}")))
            }
            Err(_) => {
                self.finished = true;
                self.response = None;
                Err(Error::timeout(format!(
                    "no data for {} ms (idle timeout)",
                    self.idle.as_millis()
                )))
            }
        }
    }

    fn learn(&mut self, event: &Event) {
        if self.bound_conversation || event.event != "conversation.chat.created" {
            return;
        }
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&event.data)
            && let Some(conv) = v.get("conversation_id").and_then(|c| c.as_str())
        {
            self.client
                .inner
                .router
                .bind_conversation(conv, self.credential);
            self.bound_conversation = true;
        }
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.close();
    }
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("credential", &self.credential)
            .field("attempts", &self.attempts)
            .field("delivered", &self.delivered)
            .finish_non_exhaustive()
    }
}
