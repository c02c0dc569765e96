//! The response body type and the handler-side description of a response.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// A response body: either a whole buffer (sent with Content-Length) or a channel of chunks (sent
/// chunked). An `Err` chunk aborts the connection mid-body, which is how streams are truncated.
pub(crate) enum MockBody {
    Full(Option<Bytes>),
    Channel(mpsc::Receiver<io::Result<Bytes>>),
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            MockBody::Full(buf) => Poll::Ready(buf.take().map(|b| Ok(Frame::data(b)))),
            MockBody::Channel(rx) => rx.poll_recv(cx).map(|c| c.map(|r| r.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, MockBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            MockBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            MockBody::Full(None) => SizeHint::with_exact(0),
            MockBody::Channel(_) => SizeHint::default(),
        }
    }
}

/// What a handler answers; the server adds `X-Tt-Logid` and records it in the request log.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub body: MockBody,
    /// The business code for the request log: `Some(0)` on success, `None` for non-JSON or OAuth answers.
    pub code: Option<i64>,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    /// A JSON answer; `code` is read from the body's integer `code` field (0 if absent on a 2xx).
    pub fn json(status: StatusCode, value: Value) -> Reply {
        let code = match value.get("code").and_then(Value::as_i64) {
            Some(c) => Some(c),
            None if status.is_success() && value.get("error").is_none() => Some(0),
            None => None,
        };
        Reply {
            status,
            content_type: "application/json".into(),
            body: MockBody::Full(Some(Bytes::from(value.to_string()))),
            code,
            headers: Vec::new(),
        }
    }

    /// `{"code":0,"msg":"","data":data}` with HTTP 200.
    pub fn ok(data: Value) -> Reply {
        Reply::json(StatusCode::OK, json!({"code": 0, "msg": "", "data": data}))
    }

    /// A Coze business error: `{"code","msg","detail":{"logid"}}`.
    pub fn business(status: StatusCode, code: i64, msg: &str, logid: &str) -> Reply {
        Reply::json(
            status,
            json!({"code": code, "msg": msg, "detail": {"logid": logid}}),
        )
    }

    /// A Coze OAuth error: `{"error","error_code","error_message"}`.
    pub fn oauth(status: StatusCode, error: &str, message: &str) -> Reply {
        let mut r = Reply::json(
            status,
            json!({"error": error, "error_code": error, "error_message": message}),
        );
        r.code = None;
        r
    }

    /// Any body with any content type; a JSON body's integer `code` is logged as the business code.
    pub fn raw(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Reply {
        let body: Bytes = body.into();
        let code = if content_type.contains("json") {
            serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("code").and_then(Value::as_i64))
        } else {
            None
        };
        Reply {
            status,
            content_type: content_type.into(),
            body: MockBody::Full(Some(body)),
            code,
            headers: Vec::new(),
        }
    }
}

/// The default message Coze gives for a business code.
pub(crate) fn code_msg(code: i64) -> &'static str {
    match code {
        4000 => "invalid request parameters",
        4001 => "chat not found",
        4002 => "conversation not found",
        4100 => "authentication is invalid",
        4101 => "the token you entered does not have permission to access this resource",
        4200 => "resource not found",
        4008 | 4009 => "request rate limit exceeded",
        4013 => "model error",
        5000 => "internal error",
        _ => "mock error",
    }
}

/// The HTTP response for a [`Reply`], with its `x-tt-logid` header.
pub(crate) fn respond(reply: Reply, logid: &str) -> Response<MockBody> {
    let mut resp = Response::new(reply.body);
    *resp.status_mut() = reply.status;
    let h = resp.headers_mut();
    let ct = HeaderValue::from_str(&reply.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    h.insert(CONTENT_TYPE, ct);
    if let Ok(v) = HeaderValue::from_str(logid) {
        h.insert("x-tt-logid", v);
    }
    for (name, value) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    resp
}
