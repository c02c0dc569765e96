//! Server-sent events in both Coze framings: chat (`event:NAME` with no space) and workflow (`id: N`, a space).

use crate::error::{Error, Result};

/// One server-sent event.
///
/// ```
/// let mut parser = cozefallback::SseParser::default();
/// let events = parser.feed(b"event:done\ndata:\"[DONE]\"\n\n").unwrap();
/// assert_eq!(events[0].event, "done");
/// assert_eq!(events[0].data, "\"[DONE]\"");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Event {
    /// The event name (`message` when the server named none).
    pub event: String,
    /// The data lines joined with `\n`.
    pub data: String,
    /// The `id:` field, if any.
    pub id: Option<String>,
}

impl Event {
    /// The Coze code carried by an error event (`code`, or `error_code` in workflow streams).
    pub fn error_code(&self) -> Option<i64> {
        if !self.event.eq_ignore_ascii_case("error") {
            return None;
        }
        let value: serde_json::Value = serde_json::from_str(&self.data).ok()?;
        let field = value.get("code").or_else(|| value.get("error_code"))?;
        field.as_i64().or_else(|| field.as_str()?.parse().ok())
    }

    /// The error message of an error event.
    pub(crate) fn error_message(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.data)
            .ok()
            .and_then(|v| {
                v.get("msg")
                    .or_else(|| v.get("error_message"))
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| self.data.clone())
    }

    /// Whether this event ends a Coze stream: `done` / `Done`, or an `error` / `Error` event (Coze closes the
    /// stream after it), so a close right after it is a normal end, not an interruption.
    pub fn is_terminal(&self) -> bool {
        self.event.eq_ignore_ascii_case("done") || self.event.eq_ignore_ascii_case("error")
    }
}

/// The default bound of one event: 16 MiB (config key `max_event_bytes`).
pub const DEFAULT_MAX_EVENT_BYTES: u64 = 16 << 20;

/// An incremental SSE parser: feed it bytes as they arrive, get whole events back.
///
/// One event (its lines, names and data together) may hold at most `max_event_bytes`; past that [`feed`]
/// fails instead of buffering without end. An event cut off by the end of input is never returned
/// ([`finish`] discards it), so a caller sees only events the server completed.
///
/// [`feed`]: SseParser::feed
/// [`finish`]: SseParser::finish
#[derive(Debug)]
pub struct SseParser {
    line: Vec<u8>,
    event: Option<String>,
    data: Option<String>,
    id: Option<String>,
    skip_lf: bool,
    /// Bytes of the event being parsed (every line since the last blank one).
    held: u64,
    max_event_bytes: u64,
}

impl Default for SseParser {
    fn default() -> Self {
        SseParser::with_max_event_bytes(DEFAULT_MAX_EVENT_BYTES)
    }
}

impl SseParser {
    /// A parser that refuses an event larger than `max_event_bytes`.
    ///
    /// ```
    /// let mut parser = cozefallback::SseParser::with_max_event_bytes(8);
    /// let err = parser.feed(b"data:0123456789").unwrap_err();
    /// assert!(err.message().contains("max_event_bytes"), "{err}");
    /// ```
    pub fn with_max_event_bytes(max_event_bytes: u64) -> Self {
        SseParser {
            line: Vec::new(),
            event: None,
            data: None,
            id: None,
            skip_lf: false,
            held: 0,
            max_event_bytes,
        }
    }

    /// Parses `chunk`, returning the events it completed. Fails (a transport error naming `max_event_bytes`)
    /// when the event being parsed grows past the bound; the parser then holds nothing. Use
    /// [`SseParser::feed_into`] to keep the events completed before the failure.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Event>> {
        let mut out = Vec::new();
        self.feed_into(chunk, &mut out)?;
        Ok(out)
    }

    /// Like [`SseParser::feed`], appending completed events to `out`, also those completed before a failure.
    pub fn feed_into(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<()> {
        let mut rest = chunk;
        while !rest.is_empty() {
            if std::mem::take(&mut self.skip_lf) && rest[0] == b'\n' {
                rest = &rest[1..];
                continue;
            }
            let end = rest.iter().position(|&b| b == b'\n' || b == b'\r');
            let piece = &rest[..end.unwrap_or(rest.len())];
            self.held += piece.len() as u64;
            if self.held > self.max_event_bytes {
                return Err(self.overflow());
            }
            self.line.extend_from_slice(piece);
            let Some(end) = end else { break };
            self.skip_lf = rest[end] == b'\r';
            rest = &rest[end + 1..];
            let line = std::mem::take(&mut self.line);
            if let Some(ev) = self.line_done(&line) {
                out.push(ev);
            }
        }
        Ok(())
    }

    /// Whether bytes of an unfinished event are pending (the stream stopped mid-event).
    pub fn has_partial(&self) -> bool {
        !self.line.is_empty() || self.data.is_some() || self.event.is_some()
    }

    /// At end of input: discards an event the server did not finish (no blank line after it) and says whether
    /// there was one. Such an event is never delivered: its data may be cut anywhere.
    ///
    /// ```
    /// let mut parser = cozefallback::SseParser::default();
    /// assert!(parser.feed(b"data:{\"content\":\"l").unwrap().is_empty());
    /// assert!(parser.finish());
    /// assert!(!parser.has_partial());
    /// ```
    pub fn finish(&mut self) -> bool {
        let partial = self.has_partial();
        self.reset();
        partial
    }

    fn reset(&mut self) {
        self.line = Vec::new();
        self.event = None;
        self.data = None;
        self.id = None;
        self.held = 0;
    }

    fn overflow(&mut self) -> Error {
        self.reset();
        Error::transport(format!(
            "a stream event is larger than max_event_bytes ({} bytes)",
            self.max_event_bytes
        ))
    }

    fn line_done(&mut self, line: &[u8]) -> Option<Event> {
        if line.is_empty() {
            self.held = 0;
            return self.dispatch();
        }
        if line[0] == b':' {
            return None; // comment / keep-alive
        }
        let text = String::from_utf8_lossy(line);
        let (field, value) = match text.find(':') {
            Some(i) => (
                &text[..i],
                text[i + 1..].strip_prefix(' ').unwrap_or(&text[i + 1..]),
            ),
            None => (&text[..], ""),
        };
        match field {
            "event" => self.event = Some(value.to_string()),
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            "id" => self.id = Some(value.to_string()),
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<Event> {
        let (event, data) = (self.event.take(), self.data.take());
        if event.is_none() && data.is_none() {
            return None;
        }
        Some(Event {
            event: event.unwrap_or_else(|| "message".into()),
            data: data.unwrap_or_default(),
            id: self.id.take(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_framings_and_split_chunks() {
        let mut p = SseParser::default();
        let mut events = p
            .feed(b"event:conversation.message.delta\ndata:{\"a\":1}\n\nid: 0\nevent: Mes")
            .unwrap();
        events.extend(p.feed(b"sage\ndata: {\"content\":\"hi\"}\r\n\r\n").unwrap());
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event, "conversation.message.delta");
        assert_eq!(
            events[1],
            Event {
                event: "Message".into(),
                data: "{\"content\":\"hi\"}".into(),
                id: Some("0".into())
            }
        );
        assert!(!p.has_partial());
    }

    #[test]
    fn an_event_cut_by_the_end_of_input_is_discarded() {
        let mut p = SseParser::default();
        let events = p.feed(b"data:{\"a\":1}\n\ndata:{\"content\":\"l").unwrap();
        assert_eq!(events.len(), 1);
        assert!(p.finish(), "the cut event is reported as discarded");
        assert!(!p.finish(), "and is gone");
        // A data line ended but no blank line after it: still incomplete.
        p.feed(b"event:done\ndata:x\n").unwrap();
        assert!(p.finish());
    }

    #[test]
    fn one_event_is_bounded_across_lines_and_chunks() {
        let mut p = SseParser::with_max_event_bytes(16);
        // Events of up to 16 bytes each pass, however many.
        for _ in 0..100 {
            assert_eq!(p.feed(b"data:0123456789\n\n").unwrap().len(), 1);
        }
        p.feed(b"data:0123").unwrap();
        p.feed(b"\r\ndata:").unwrap();
        let err = p.feed(b"456789").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Transport);
        assert!(
            err.message().contains("max_event_bytes (16 bytes)"),
            "{err}"
        );
        assert!(!p.has_partial(), "nothing is held after the overflow");
    }

    #[test]
    fn error_codes_of_both_framings() {
        let chat = Event {
            event: "error".into(),
            data: r#"{"code":4101,"msg":"x"}"#.into(),
            id: None,
        };
        let flow = Event {
            event: "Error".into(),
            data: r#"{"error_code":4100,"error_message":"y"}"#.into(),
            id: None,
        };
        assert_eq!(chat.error_code(), Some(4101));
        assert_eq!(flow.error_code(), Some(4100));
        assert_eq!(flow.error_message(), "y");
    }
}
