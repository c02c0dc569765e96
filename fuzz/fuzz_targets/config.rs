//! The config parser and validator on any text: an error or a valid config, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(config) = cozefallback::Config::from_json(text)
    {
        let _ = config.validate();
    }
});
