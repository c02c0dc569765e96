#!/usr/bin/env bash
# bench/go: Go through cozefallback (static release libcozefallback.a) vs the migration guide's hand-written retry, after
# the move, on one coze-mock. Not part of the test command.   bash bench/go/run.sh [ROUNDS] [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export BENCH_ROUNDS=${1:-5} BENCH_N=${2:-1000}
export CARGO_BUILD_TARGET=${CARGO_BUILD_TARGET:-x86_64-unknown-linux-gnu}
OUT="$ROOT/target/$CARGO_BUILD_TARGET/release"
cargo build --release -q -p coze-mock -p cozefallback-c
mkdir -p bench/go/build
# cgo links the archive through pkg-config --static: point it at the release tree.
make -s -C bindings-c pc PROFILE=release >/dev/null
export PKG_CONFIG_PATH="$ROOT/bindings-c/build${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
# The go command does not hash libraries found through -L: key its cache on the archive's content.
export CGO_LDFLAGS="-L/nonexistent/libcozefallback-$(sha1sum "$OUT/libcozefallback.a" | cut -c1-16)"
(cd bench/go && go build -o build/bench .)

DIR=$(mktemp -d)
"$OUT/coze-mock" --port-file "$DIR/port" --keys-dir "$DIR" --info-file "$DIR/info.json" >/dev/null &
MOCK=$!
trap 'kill $MOCK 2>/dev/null || true; rm -rf "$DIR"' EXIT
for _ in $(seq 1 200); do [ -s "$DIR/port" ] && break; sleep 0.05; done
info() { python3 -c "import json; print(json.load(open('$DIR/info.json'))$1)"; }
export COZE_API_BASE="http://127.0.0.1:$(cat "$DIR/port")"
export COZE_API_TOKEN; COZE_API_TOKEN=$(info "['personal_pat']")
export COZE_API_TOKEN_ENTERPRISE; COZE_API_TOKEN_ENTERPRISE=$(info "['enterprise_pat']")
export BENCH_BOT; BENCH_BOT=$(info "['bots'][0]")
curl -sf -X POST "$COZE_API_BASE/__mock/state" -d '{"moved":true}' >/dev/null
bench/go/build/bench
