//! Server-sent events in both Coze framings: chat (`event:NAME` with no space) and workflow (`id: N`, a space).

/// One server-sent event.
///
/// ```
/// let mut parser = cozefallback::SseParser::default();
/// let events = parser.feed(b"event:done\ndata:\"[DONE]\"\n\n");
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

/// An incremental SSE parser: feed it bytes as they arrive, get whole events back.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    event: Option<String>,
    data: Option<String>,
    id: Option<String>,
    skip_lf: bool,
}

impl SseParser {
    /// Parses `chunk`, returning the events it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        for &b in chunk {
            if self.skip_lf {
                self.skip_lf = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.skip_lf = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(ev) = self.line_done(&line) {
                        out.push(ev);
                    }
                }
                _ => self.line.push(b),
            }
        }
        out
    }

    /// Whether bytes of an unfinished event are pending (the stream stopped mid-event).
    pub fn has_partial(&self) -> bool {
        !self.line.is_empty() || self.data.is_some() || self.event.is_some()
    }

    /// At end of input: the last event if the server omitted the final blank line.
    pub fn finish(&mut self) -> Option<Event> {
        let line = std::mem::take(&mut self.line);
        if !line.is_empty() {
            self.line_done(&line);
        }
        self.dispatch()
    }

    fn line_done(&mut self, line: &[u8]) -> Option<Event> {
        if line.is_empty() {
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
        let mut events =
            p.feed(b"event:conversation.message.delta\ndata:{\"a\":1}\n\nid: 0\nevent: Mes");
        events.extend(p.feed(b"sage\ndata: {\"content\":\"hi\"}\r\n\r\n"));
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
