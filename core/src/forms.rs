//! The serialised forms every binding builds its native objects from: [`ResponseMeta`] (which credential
//! served an answer, how many attempts it took, its log id), [`Error::to_json`] and [`Event::to_sse`].
//!
//! Writing each shape once here, instead of field by field in C, Go, Python and Node, keeps the names equal in
//! every language; `docs/FORMS.md` documents the shapes and the name each language gives each field.

use serde::Serialize;
use serde_json::{Value, json};

use crate::client::EventStream;
use crate::client::ws::WebSocketSession;
use crate::conversations::ConversationMoved;
use crate::credential::CredentialKind;
use crate::error::Error;
use crate::request::Response;
use crate::sse::Event;

/// Where an answer came from: the facts a response, a stream and a WebSocket session all report.
///
/// ```
/// # use cozefallback::{Response, CredentialKind};
/// let r = Response { status: 200, headers: vec![], body: "{}".into(), credential: CredentialKind::Enterprise,
///                    attempts: 2, logid: Some("L1".into()), conversation_moved: None };
/// let meta = r.meta();
/// assert_eq!(meta.credential, CredentialKind::Enterprise);
/// assert_eq!(meta.to_json()["credential"], "enterprise");
/// assert_eq!(meta.to_json()["attempts"], 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseMeta {
    /// HTTP status of the answer (101 for a WebSocket session).
    pub status: u16,
    /// The credential that served it.
    pub credential: CredentialKind,
    /// HTTP attempts (or handshakes), fallback and retries included; token requests excluded.
    pub attempts: u32,
    /// The Coze log id (`X-Tt-Logid`), when the answer carried one.
    pub logid: Option<String>,
    /// When the call's conversation was carried over to a new one: from which id to which.
    pub conversation_moved: Option<ConversationMoved>,
}

impl ResponseMeta {
    /// The documented JSON shape: `{"status", "credential", "attempts", "logid", "conversation_moved"}`, with
    /// `credential` as `"personal"`/`"enterprise"`, absent values as `null` and `conversation_moved` as
    /// `{"from", "to", "messages_copied"}`.
    ///
    /// ```
    /// let meta = cozefallback::ResponseMeta { status: 200, credential: cozefallback::CredentialKind::Personal,
    ///                                         attempts: 1, logid: None, conversation_moved: None };
    /// assert_eq!(meta.to_json().to_string(),
    ///   r#"{"attempts":1,"conversation_moved":null,"credential":"personal","logid":null,"status":200}"#);
    /// ```
    pub fn to_json(&self) -> Value {
        json!({
            "status": self.status,
            "credential": self.credential.as_str(),
            "attempts": self.attempts,
            "logid": self.logid,
            "conversation_moved": self.conversation_moved.as_ref().map(ConversationMoved::to_json),
        })
    }
}

impl ConversationMoved {
    /// `{"from", "to", "messages_copied"}`.
    ///
    /// ```
    /// let m = cozefallback::ConversationMoved { from: "c1".into(), to: "c2".into(), messages_copied: 3 };
    /// assert_eq!(m.to_json()["messages_copied"], 3);
    /// ```
    pub fn to_json(&self) -> Value {
        json!({"from": self.from, "to": self.to, "messages_copied": self.messages_copied})
    }
}

impl Response {
    /// Where this answer came from.
    ///
    /// ```
    /// # use cozefallback::{Response, CredentialKind};
    /// let r = Response { status: 200, headers: vec![], body: "{}".into(), credential: CredentialKind::Personal,
    ///                    attempts: 1, logid: None, conversation_moved: None };
    /// assert_eq!(r.meta().status, 200);
    /// ```
    pub fn meta(&self) -> ResponseMeta {
        ResponseMeta {
            status: self.status,
            credential: self.credential,
            attempts: self.attempts,
            logid: self.logid.clone(),
            conversation_moved: self.conversation_moved.clone(),
        }
    }
}

impl EventStream {
    /// Where this stream came from (known before the first event is read).
    ///
    /// ```no_run
    /// # async fn demo(client: cozefallback::Client) -> cozefallback::Result<()> {
    /// let stream = client.stream(cozefallback::Request::post_json("/v3/chat", serde_json::json!({}))).await?;
    /// println!("{}", stream.meta().to_json());
    /// # Ok(()) }
    /// ```
    pub fn meta(&self) -> ResponseMeta {
        ResponseMeta {
            status: self.status(),
            credential: self.credential(),
            attempts: self.attempts(),
            logid: self.logid().map(str::to_string),
            conversation_moved: self.conversation_moved().cloned(),
        }
    }
}

impl WebSocketSession {
    /// Where this session stands: status 101, the credential connected now, handshakes so far and the last
    /// handshake's log id (final once the first event was delivered).
    ///
    /// ```no_run
    /// # async fn demo(client: cozefallback::Client) -> cozefallback::Result<()> {
    /// let session = client.websocket("/v1/chat", [("bot_id", "7350000000000000001")]).await?;
    /// println!("{}", session.meta().to_json());
    /// # Ok(()) }
    /// ```
    pub fn meta(&self) -> ResponseMeta {
        ResponseMeta {
            status: 101,
            credential: self.credential(),
            attempts: self.attempts(),
            logid: self.logid(),
            conversation_moved: None,
        }
    }
}

/// One field of the error's JSON form: its name and how to read it. Kept as a table so the shape is written
/// once and `docs/FORMS.md` can be checked against it.
type ErrorField = (&'static str, fn(&Error) -> Value);

/// Every key of [`Error::to_json`], always present (a JSON object orders its keys by name when printed).
pub const ERROR_JSON_KEYS: &[&str] = &[
    "kind",
    "message",
    "code",
    "coze_message",
    "http_status",
    "logid",
    "credential",
    "attempts",
    "field",
    "authorize_url",
    "oauth_error",
    "events_delivered",
    "conversation_id",
    "file_id",
    "conversation_owner",
    "bot_credential",
    "response",
    "previous",
];

fn credential_name(c: Option<CredentialKind>) -> Value {
    c.map_or(Value::Null, |c| Value::from(c.as_str()))
}

const ERROR_FIELDS: &[ErrorField] = &[
    ("kind", |e| e.kind().as_str().into()),
    ("message", |e| e.to_string().into()),
    ("code", |e| e.code().into()),
    ("coze_message", |e| e.coze_message().into()),
    ("http_status", |e| e.http_status().into()),
    ("logid", |e| e.logid().into()),
    ("credential", |e| credential_name(e.credential())),
    ("attempts", |e| e.attempts().into()),
    ("field", |e| e.field().into()),
    ("authorize_url", |e| e.authorize_url().into()),
    ("oauth_error", |e| e.oauth_error().into()),
    ("events_delivered", |e| e.events_delivered().into()),
    ("conversation_id", |e| e.conversation_id().into()),
    ("file_id", |e| e.file_id().into()),
    ("conversation_owner", |e| {
        credential_name(e.conversation_owner())
    }),
    ("bot_credential", |e| credential_name(e.bot_credential())),
    ("response", |e| {
        e.response().map_or(Value::Null, |r| {
            json!({"status": r.status, "headers": r.headers, "body": String::from_utf8_lossy(&r.body)})
        })
    }),
    ("previous", |e| {
        e.previous().map_or(Value::Null, Error::to_json)
    }),
];

impl Error {
    /// The whole error as one JSON object, the form every binding builds its native error from.
    ///
    /// Keys (all present, `null` when they do not apply): `kind` (the stable name, see
    /// [`crate::ErrorKind::as_str`]), `message` (the full text, as `Display`), `code` (the Coze code),
    /// `coze_message` (Coze's own `msg`), `http_status`, `logid`, `credential`, `attempts`, `field` (the config
    /// field at fault), `authorize_url` and `oauth_error` (OBO), `events_delivered` (streams),
    /// `conversation_id`, `file_id`, `conversation_owner`, `bot_credential` (stranded conversations),
    /// `response` (`{"status", "headers": [[name, value]...], "body"}` of the failed answer) and `previous`
    /// (the first credential's error when both failed, in the same shape). No secret appears: messages are
    /// redacted when the error is built.
    ///
    /// ```
    /// let err = cozefallback::Error::config("personal.token", "must not be empty");
    /// let v = err.to_json();
    /// assert_eq!(v["kind"], "config");
    /// assert_eq!(v["field"], "personal.token");
    /// assert!(v["code"].is_null());
    /// ```
    pub fn to_json(&self) -> Value {
        let map = ERROR_FIELDS
            .iter()
            .map(|(name, read)| ((*name).to_string(), read(self)))
            .collect();
        Value::Object(map)
    }
}

impl Event {
    /// The event framed as server-sent-event text, as Coze sends it: `id:` (when known), `event:`, one `data:`
    /// line per line of data, then a blank line. For adapters that hand a stream to an SDK that parses SSE
    /// itself (the Go `Transport`, the @coze/api adapter, the cozepy transport).
    ///
    /// ```
    /// let ev = cozefallback::Event { event: "conversation.message.delta".into(),
    ///                                data: "{\"a\":1}\nsecond".into(), id: None };
    /// assert_eq!(ev.to_sse(), "event:conversation.message.delta\ndata:{\"a\":1}\ndata:second\n\n");
    /// ```
    pub fn to_sse(&self) -> String {
        let mut out = String::with_capacity(self.event.len() + self.data.len() + 24);
        if let Some(id) = &self.id {
            out.push_str("id:");
            out.push_str(id);
            out.push('\n');
        }
        out.push_str("event:");
        out.push_str(&self.event);
        out.push('\n');
        for line in self.data.split('\n') {
            out.push_str("data:");
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
        out
    }
}

impl Serialize for ResponseMeta {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::SseParser;

    #[test]
    fn every_documented_error_key_is_written() {
        let names: Vec<&str> = ERROR_FIELDS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ERROR_JSON_KEYS);
        let v = Error::invalid_argument("bad").to_json();
        assert_eq!(v.as_object().unwrap().len(), ERROR_JSON_KEYS.len());
        assert_eq!(v["kind"], "invalid_argument");
        assert_eq!(v["attempts"], 0);
        assert!(v["previous"].is_null());
    }

    #[test]
    fn sse_text_parses_back_to_the_same_events() {
        let events = [
            Event {
                event: "conversation.message.delta".into(),
                data: "{\"content\":\"a\\nb\"}".into(),
                id: None,
            },
            Event {
                event: "Message".into(),
                data: "line one\nline two\n".into(),
                id: Some("7".into()),
            },
            Event {
                event: "done".into(),
                data: String::new(),
                id: None,
            },
        ];
        let text: String = events.iter().map(Event::to_sse).collect();
        let parsed = SseParser::default().feed(text.as_bytes()).unwrap();
        assert_eq!(parsed, events);
    }
}
