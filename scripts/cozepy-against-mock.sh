#!/usr/bin/env bash
# Shows that coze-mock speaks real Coze: the official Python SDK (cozepy from PyPI) runs a chat, a stream and a
# JWT token exchange against it. Creates its own venv under target/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_TARGET=${CARGO_BUILD_TARGET:-x86_64-unknown-linux-gnu}
cargo build -q -p coze-mock
venv=target/venv-cozepy
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q 'cozepy>=0.20,<0.21'
info=$(mktemp)
"target/$CARGO_BUILD_TARGET/debug/coze-mock" --info-file "$info" >/dev/null &
mock=$!
trap 'kill $mock 2>/dev/null' EXIT
for _ in $(seq 100); do [ -s "$info" ] && break; sleep 0.1; done
"$venv/bin/python" scripts/cozepy_against_mock.py "$info"
