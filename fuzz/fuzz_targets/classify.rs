//! The response classifier on any status and body: never panics, and only HTTP >= 400 or an error shape fails.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let status = 100 + u16::from_le_bytes([data[0], data[1]]) % 500;
    let outcome = cozefallback::classify(status, &data[2..]);
    if status >= 400 {
        assert_ne!(outcome, cozefallback::Outcome::Success);
    }
});
