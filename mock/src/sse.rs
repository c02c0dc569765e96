//! Server-sent event streams in Coze's two framings.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use hyper::StatusCode;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::body::{MockBody, Reply};
use crate::faults::FaultAction;

/// The two wire framings Coze uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `/v3/chat`, `/v1/workflows/chat`: `event:NAME\ndata:JSON\n\n`, no space after the colon.
    Chat,
    /// `/v1/workflow/stream_run`: `id: N\nevent: NAME\ndata: JSON\n\n`.
    Workflow,
}

/// One event: its name and its `data` (serialized compactly).
pub(crate) type Event = (String, Value);

fn frame(framing: Framing, index: usize, (name, data): &Event) -> Bytes {
    Bytes::from(match framing {
        Framing::Chat => format!("event:{name}\ndata:{data}\n\n"),
        Framing::Workflow => format!("id: {index}\nevent: {name}\ndata: {data}\n\n"),
    })
}

/// The error event a `stream_error_event` fault puts first, in the stream's own framing.
fn error_event(framing: Framing, code: i64, msg: &str, logid: &str) -> Event {
    match framing {
        Framing::Chat => (
            "error".into(),
            json!({"code": code, "msg": msg, "detail": {"logid": logid}}),
        ),
        Framing::Workflow => (
            "Error".into(),
            json!({"error_code": code, "error_message": msg}),
        ),
    }
}

/// Pause between events so they leave as separate chunks, the way a live stream does.
const EVENT_GAP: Duration = Duration::from_millis(2);

/// Streams `events` as `text/event-stream`, shaped by a streaming fault if one applies:
/// `stream_error_event` replaces the stream by one error event, `truncate_stream` aborts the
/// connection after N events (the chunked body never terminates), `slow_stream` spaces the events out.
pub(crate) fn stream(
    framing: Framing,
    mut events: Vec<Event>,
    fault: Option<&FaultAction>,
    logid: &str,
) -> Reply {
    let mut cut_after = None;
    let mut gap = EVENT_GAP;
    let mut code = Some(0);
    match fault {
        Some(FaultAction::StreamErrorEvent { code: c, msg }) => {
            let msg = msg.as_deref().unwrap_or(crate::body::code_msg(*c));
            events = vec![error_event(framing, *c, msg, logid)];
            code = Some(*c);
        }
        Some(FaultAction::TruncateStream { after_events }) => cut_after = Some(*after_events),
        Some(FaultAction::SlowStream { gap_ms }) => gap = Duration::from_millis(*gap_ms),
        Some(FaultAction::CutEventAtEnd { after_events }) => {
            return cut_event_at_end(framing, &events, *after_events);
        }
        _ => {}
    }
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(4);
    tokio::spawn(async move {
        for (i, ev) in events.iter().enumerate() {
            if cut_after == Some(i) {
                let _ = tx
                    .send(Err(io::Error::other("stream truncated by fault")))
                    .await;
                return;
            }
            if tx.send(Ok(frame(framing, i, ev))).await.is_err() {
                return;
            }
            tokio::time::sleep(gap).await;
        }
        if cut_after.is_some_and(|n| n >= events.len()) {
            let _ = tx
                .send(Err(io::Error::other("stream truncated by fault")))
                .await;
        }
    });
    Reply {
        status: StatusCode::OK,
        content_type: "text/event-stream".into(),
        body: MockBody::Channel(rx),
        code,
        headers: vec![("cache-control", "no-cache".into())],
    }
}

/// `after_events` whole events, then half of the next frame, then a clean end of the body.
fn cut_event_at_end(framing: Framing, events: &[Event], after_events: usize) -> Reply {
    let mut body = Vec::new();
    for (i, ev) in events.iter().enumerate().take(after_events) {
        body.extend_from_slice(&frame(framing, i, ev));
    }
    if let Some(next) = events.get(after_events) {
        let whole = frame(framing, after_events, next);
        // Cut inside the data line: keep the event line, drop the data's second half and the blank line.
        let data_at = whole.windows(5).position(|w| w == b"data:").unwrap_or(0);
        let cut = data_at + (whole.len() - 2 - data_at) / 2;
        body.extend_from_slice(&whole[..cut.max(data_at + 5)]);
    }
    Reply {
        status: StatusCode::OK,
        content_type: "text/event-stream".into(),
        body: MockBody::Full(Some(Bytes::from(body))),
        code: Some(0),
        headers: vec![("cache-control", "no-cache".into())],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_event_has_no_blank_line_and_a_clean_end() {
        let events = vec![
            ("a".to_string(), json!({"content": "hello"})),
            ("b".to_string(), json!({"content": "world, and more"})),
        ];
        let reply = cut_event_at_end(Framing::Chat, &events, 1);
        assert_eq!(reply.status, StatusCode::OK);
        let first = frame(Framing::Chat, 0, &events[0]);
        let second = frame(Framing::Chat, 1, &events[1]);
        let MockBody::Full(Some(body)) = reply.body else {
            panic!("a whole body, which ends cleanly")
        };
        assert!(body.starts_with(&first));
        let tail = &body[first.len()..];
        assert!(
            tail.starts_with(b"event:b\ndata:") && tail.len() < second.len() - 2,
            "{tail:?}"
        );
        assert!(!tail.ends_with(b"\n"), "{tail:?}");
    }

    #[test]
    fn framings() {
        let ev = ("done".to_string(), json!("[DONE]"));
        assert_eq!(
            &frame(Framing::Chat, 6, &ev)[..],
            b"event:done\ndata:\"[DONE]\"\n\n"
        );
        let ev = ("Message".to_string(), json!({"a": 1}));
        assert_eq!(
            &frame(Framing::Workflow, 0, &ev)[..],
            b"id: 0\nevent: Message\ndata: {\"a\":1}\n\n"
        );
    }
}
