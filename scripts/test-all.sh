#!/usr/bin/env bash
# Runs every test of the project from a clean clone: Rust (fmt, clippy, rustdoc, unit, conformance, CLI), then the C and Go,
# Python and Node bindings, each through its own test.sh, then the release artifacts (scripts/dist-check.sh).
# Installs what it needs (venv, npm packages, Go modules).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# One target tree for every build (napi and maturin included), without debug info: half the disk, faster links.
export CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu
export CARGO_PROFILE_DEV_DEBUG=false
export CARGO_TERM_COLOR=never
export COZE_MOCK_BIN="$ROOT/target/$CARGO_BUILD_TARGET/debug/coze-mock"

started=$SECONDS
suites=0
section() { suites=$((suites + 1)); printf '\n=== %s (%ds)\n' "$1" $((SECONDS - started)); }

# The fleet tests (core/tests/fleet.rs, the scenarios on the Redis store) start a real redis-server of their own
# (the rediss:// test makes its certificates with openssl).
if ! command -v redis-server >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1; then
    section "installing redis-server and openssl (the fleet tests start a Redis on a loopback port)"
    apt-get update -qq && apt-get install -y -qq redis-server openssl >/dev/null
fi

section "rust: format"
cargo fmt --all -- --check

section "rust: clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

# The C bridge's library and the CLI's binary are both named `cozefallback`, like the core's library, and
# rustdoc writes every crate to target/doc/<name>/: documented in one run they overwrite each other (cargo
# refuses the C bridge outright). So each is documented on its own first, and the rest of the workspace last,
# which leaves the core's pages in target/doc/cozefallback.
section "rust: docs (rustdoc warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked -p cozefallback-c
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked -p cozefallback-cli
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --exclude cozefallback-c --exclude cozefallback-cli

section "rust: build the mock and the CLI"
cargo build --locked -p coze-mock -p cozefallback-cli

section "rust: tests (core, conformance scenarios, mock, CLI, C bridge)"
cargo test --locked -p cozefallback -p coze-mock -p cozefallback-cli -p cozefallback-c

section "rust: example"
cargo run --locked -q -p cozefallback --example quickstart

section "C and Go"
bash bindings-c/test.sh

section "Python"
bash bindings-python/test.sh

section "the official Python SDK (cozepy) against coze-mock"
bash scripts/cozepy-against-mock.sh

section "Node"
bash bindings-node/test.sh

section "release artifacts (scripts/dist.sh) installed and run without cargo or rustc on PATH"
DIST_BUILD=1 bash scripts/dist-check.sh


echo
echo "all test suites passed in $((SECONDS - started)) s"
# Reached only if every step passed (set -e stops at the first failure, with a non-zero exit).
echo "suites: $suites passed, 0 failed"
