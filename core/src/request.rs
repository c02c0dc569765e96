//! What a caller asks for and what it gets back.

use std::time::Duration;

use bytes::Bytes;

use crate::credential::CredentialKind;
use crate::error::{Error, Result};

/// The one key of a JSON body that says whether Coze answers with an event stream; the rest is skipped unread.
#[derive(serde::Deserialize)]
struct StreamFlag {
    /// `Some(Null)` for `"stream": null` (which may stream, as for [`Body::Json`]); `None` when absent.
    #[serde(default, deserialize_with = "present")]
    stream: Option<serde_json::Value>,
}

fn present<'de, D: serde::Deserializer<'de>>(
    value: D,
) -> std::result::Result<Option<serde_json::Value>, D::Error> {
    serde::Deserialize::deserialize(value).map(Some)
}

/// One Coze OpenAPI call. Built once and replayable: the body is buffered so a fallback can resend it.
///
/// ```
/// use cozefallback::Request;
/// let req = Request::post_json("/v3/chat", serde_json::json!({"bot_id": "73", "user_id": "u1"}))
///     .query("conversation_id", "c1")
///     .header("X-Trace", "abc");
/// assert_eq!(req.method, "POST");
/// ```
#[derive(Debug, Clone)]
pub struct Request {
    /// HTTP method (`GET`, `POST`, ...), case-insensitive.
    pub method: String,
    /// Path below the base URL (`/v3/chat`), optionally with a query string. A full URL is accepted only when it
    /// points at the configured base: tokens are never sent to another host.
    pub path: String,
    /// Query parameters appended to the path.
    pub query: Vec<(String, String)>,
    /// Extra headers. `Authorization` is always set by the client; a caller's value is dropped.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
    /// Overall deadline of this call (replaces `timeouts.total_ms`).
    pub timeout: Option<Duration>,
    /// Retry this request on failures after it was sent even if its method is not idempotent.
    pub retry_non_idempotent: Option<bool>,
}

/// A request body, buffered so that it can be replayed.
#[derive(Debug, Clone, Default)]
pub enum Body {
    /// No body.
    #[default]
    Empty,
    /// A JSON document (`Content-Type: application/json`).
    Json(serde_json::Value),
    /// Raw bytes with an optional content type.
    Bytes {
        /// The `Content-Type` header, if any.
        content_type: Option<String>,
        /// The bytes.
        data: Bytes,
    },
    /// A multipart/form-data upload with one file part (Coze: `POST /v1/files/upload`, part `file`).
    Multipart(Multipart),
}

/// A multipart form with text fields and one file part.
#[derive(Debug, Clone)]
pub struct Multipart {
    /// Plain text fields.
    pub fields: Vec<(String, String)>,
    /// The name of the file part (Coze uses `file`).
    pub file_field: String,
    /// The file name sent in the part header.
    pub filename: String,
    /// The file part's content type.
    pub content_type: String,
    /// The file content.
    pub data: Bytes,
}

impl Multipart {
    /// A form with one part named `file`.
    pub fn file(filename: impl Into<String>, data: impl Into<Bytes>) -> Self {
        Multipart {
            fields: Vec::new(),
            file_field: "file".into(),
            filename: filename.into(),
            content_type: "application/octet-stream".into(),
            data: data.into(),
        }
    }

    /// Encodes the form with `boundary`; returns the bytes and the content type.
    pub(crate) fn encode(&self, boundary: &str) -> (Bytes, String) {
        let mut out = Vec::with_capacity(self.data.len() + 512);
        let quote = |s: &str| {
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace(['\r', '\n'], " ")
        };
        for (name, value) in &self.fields {
            out.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n",
                    quote(name)
                )
                .as_bytes(),
            );
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
                quote(&self.file_field),
                quote(&self.filename),
                self.content_type.replace(['\r', '\n'], "")
            )
            .as_bytes(),
        );
        out.extend_from_slice(&self.data);
        out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        (
            Bytes::from(out),
            format!("multipart/form-data; boundary={boundary}"),
        )
    }
}

impl Request {
    /// Whether the answer to this request may be an event stream (conservatively: a path, query key or body
    /// naming `stream`, or an `Accept` asking for events). A blocking call that cannot stream is driven on its
    /// caller's thread (`crate::caller`).
    pub(crate) fn may_stream(&self) -> bool {
        let named = |text: &[u8]| text.windows(6).any(|w| w.eq_ignore_ascii_case(b"stream"));
        let asks = |flag: Option<&serde_json::Value>| {
            flag.is_some_and(|s| s != &serde_json::Value::Bool(false))
        };
        named(self.path.as_bytes())
            || self.query.iter().any(|(k, _)| named(k.as_bytes()))
            || self.headers.iter().any(|(k, v)| {
                k.eq_ignore_ascii_case("accept") && v.to_ascii_lowercase().contains("event-stream")
            })
            || match &self.body {
                Body::Empty | Body::Multipart(_) => false,
                Body::Json(v) => asks(v.get("stream")),
                // A JSON object already encoded (what the Go Transport and the SDK adapters send): its own
                // `stream` key decides, so that `"stream": false` is not taken for a stream. Anything else
                // that names "stream" may be one.
                Body::Bytes { data, .. } => match serde_json::from_slice::<StreamFlag>(data) {
                    Ok(flag) => asks(flag.stream.as_ref()),
                    Err(_) => named(data),
                },
            }
    }

    /// A request with no body.
    pub fn new(method: impl Into<String>, path: impl Into<String>) -> Self {
        Request {
            method: method.into(),
            path: path.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Body::Empty,
            timeout: None,
            retry_non_idempotent: None,
        }
    }
    /// A `GET`.
    pub fn get(path: impl Into<String>) -> Self {
        Request::new("GET", path)
    }
    /// A `POST` with a JSON body.
    pub fn post_json(path: impl Into<String>, json: serde_json::Value) -> Self {
        Request::new("POST", path).json(json)
    }
    /// A multipart upload of one file in a part named `file`.
    ///
    /// ```
    /// let req = cozefallback::Request::upload("/v1/files/upload", "a.txt", b"hello".to_vec());
    /// assert_eq!(req.method, "POST");
    /// ```
    pub fn upload(
        path: impl Into<String>,
        filename: impl Into<String>,
        data: impl Into<Bytes>,
    ) -> Self {
        let mut req = Request::new("POST", path);
        req.body = Body::Multipart(Multipart::file(filename, data));
        req
    }
    /// Adds a query parameter.
    pub fn query(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((key.into(), value.into()));
        self
    }
    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// Sets a JSON body.
    pub fn json(mut self, json: serde_json::Value) -> Self {
        self.body = Body::Json(json);
        self
    }
    /// Sets a raw body.
    pub fn bytes(mut self, content_type: Option<String>, data: impl Into<Bytes>) -> Self {
        self.body = Body::Bytes {
            content_type,
            data: data.into(),
        };
        self
    }
    /// Sets the overall deadline of this call.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// A successful answer, with which credential served it and how many attempts it took.
#[derive(Clone)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Response headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
    /// The credential that served it.
    pub credential: CredentialKind,
    /// HTTP attempts, fallback and retries included (token requests excluded).
    pub attempts: u32,
    /// The Coze log id (`X-Tt-Logid`).
    pub logid: Option<String>,
    /// When the call's conversation was stranded by the move and carried over: from which id to which.
    pub conversation_moved: Option<crate::ConversationMoved>,
}

impl Response {
    /// The body parsed as JSON.
    ///
    /// ```
    /// # use cozefallback::{Response, CredentialKind};
    /// let r = Response { status: 200, headers: vec![], body: r#"{"code":0}"#.into(), credential: CredentialKind::Personal, attempts: 1, logid: None, conversation_moved: None };
    /// assert_eq!(r.json().unwrap()["code"], 0);
    /// ```
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::transport(format!("the response body is not JSON: {e}")))
    }
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("credential", &self.credential)
            .field("attempts", &self.attempts)
            .field("logid", &self.logid)
            .field("conversation_moved", &self.conversation_moved)
            .field("body_len", &self.body.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::{Body, Request};

    fn bytes(body: &str) -> Request {
        Request::new("POST", "/v3/chat")
            .bytes(Some("application/json".into()), body.as_bytes().to_vec())
    }

    #[test]
    fn whether_a_request_may_stream() {
        let cases: &[(Request, bool)] = &[
            (bytes(r#"{"bot_id":"1","stream":false}"#), false),
            (bytes(r#"{"bot_id":"1","stream":true}"#), true),
            (bytes(r#"{"bot_id":"1","stream":null}"#), true),
            (bytes(r#"{"bot_id":"1"}"#), false),
            // The word alone decides nothing in a JSON body: only its `stream` key does.
            (
                bytes(r#"{"content":"a stream of thought","stream":false}"#),
                false,
            ),
            (bytes(r#"{"nested":{"stream":true}}"#), false),
            // Not a JSON object: any mention of "stream" may mean one.
            (bytes("stream=true"), true),
            (bytes(r#"[{"stream":false}]"#), true),
            (bytes("plain text"), false),
            (
                Request::post_json("/v3/chat", serde_json::json!({"stream": false})),
                false,
            ),
            (
                Request::post_json("/v3/chat", serde_json::json!({"stream": true})),
                true,
            ),
            (Request::get("/v1/workflow/stream_run"), true),
            (
                Request::get("/v1/things").header("Accept", "text/event-stream"),
                true,
            ),
            (Request::get("/v1/things"), false),
        ];
        for (req, expected) in cases {
            let body = match &req.body {
                Body::Bytes { data, .. } => String::from_utf8_lossy(data).into_owned(),
                other => format!("{other:?}"),
            };
            assert_eq!(
                req.may_stream(),
                *expected,
                "{} {} {body}",
                req.method,
                req.path
            );
        }
    }
}
