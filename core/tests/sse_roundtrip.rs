//! Property test: any event, framed in either Coze framing and cut into arbitrary chunks, parses back unchanged.

use cozefallback::{Event, SseParser};
use proptest::prelude::*;

fn frame(ev: &Event, workflow_style: bool, crlf: bool) -> String {
    let sep = if workflow_style { ": " } else { ":" };
    let nl = if crlf { "\r\n" } else { "\n" };
    let mut out = String::new();
    if let Some(id) = &ev.id {
        out.push_str(&format!("id{sep}{id}{nl}"));
    }
    out.push_str(&format!("event{sep}{}{nl}", ev.event));
    for line in ev.data.split('\n') {
        out.push_str(&format!("data{sep}{line}{nl}"));
    }
    out.push_str(nl);
    out
}

fn event() -> impl Strategy<Value = Event> {
    (
        "[a-zA-Z][a-zA-Z._]{0,30}",
        // Data: any text without carriage returns (a CR is a line break in SSE); may hold newlines, colons, unicode.
        proptest::collection::vec("[^\r\n]{0,40}", 1..4),
        proptest::option::of("[0-9]{1,6}"),
    )
        .prop_map(|(event, lines, id)| Event {
            event,
            // A value starting with a space loses it (the framing's optional space); avoid that ambiguity.
            data: lines
                .iter()
                .map(|l| l.trim_start_matches(' ').to_string())
                .collect::<Vec<_>>()
                .join("\n"),
            id,
        })
}

proptest! {
    #[test]
    fn framing_round_trips(events in proptest::collection::vec(event(), 1..8), workflow_style: bool, crlf: bool,
                           cuts in proptest::collection::vec(1usize..64, 0..20)) {
        let wire: Vec<u8> = events.iter().map(|e| frame(e, workflow_style, crlf)).collect::<String>().into_bytes();
        let mut parser = SseParser::default();
        let mut parsed = Vec::new();
        let mut rest: &[u8] = &wire;
        for cut in cuts {
            let n = cut.min(rest.len());
            parsed.extend(parser.feed(&rest[..n]).unwrap());
            rest = &rest[n..];
        }
        parsed.extend(parser.feed(rest).unwrap());
        prop_assert!(!parser.has_partial());
        prop_assert_eq!(parsed, events);
    }
}
