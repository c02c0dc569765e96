#!/usr/bin/env bash
# Runs every cargo-fuzz target for FUZZ_SECONDS (default 60) each, from the committed seed corpora. Not part of
# the default test command. Needs a nightly toolchain (`rustup toolchain list`); installs cargo-fuzz if missing.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${FUZZ_SECONDS:-60}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
unset CARGO_BUILD_TARGET
for target in $(cargo +nightly fuzz list); do
  echo "=== fuzz $target for ${seconds}s"
  work=$(mktemp -d)
  cp -r "corpus/$target/." "$work/" 2>/dev/null || true
  cargo +nightly fuzz run "$target" "$work" -- -max_total_time="$seconds" -rss_limit_mb=2048
done
echo "every fuzz target ran ${seconds}s with no crash"
