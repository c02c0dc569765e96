//! The SSE parser on any bytes, cut anywhere: never panics, and cutting the input differently never changes the
//! events it yields nor whether an unfinished event is left at the end.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut whole = cozefallback::SseParser::default();
    let events = whole.feed(data).expect("fuzz inputs are far below the event bound");
    let partial = whole.finish();
    let cut = data.first().map_or(1, |b| usize::from(*b).max(1));
    let mut pieces = cozefallback::SseParser::default();
    let mut again = Vec::new();
    for chunk in data.chunks(cut) {
        again.extend(pieces.feed(chunk).expect("below the bound"));
    }
    assert_eq!(partial, pieces.finish());
    assert_eq!(events, again);
});
