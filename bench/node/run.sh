#!/usr/bin/env bash
# Builds what the Node benchmark needs in release mode (the addon and coze-mock), then runs bench.mjs.
# Not part of the test command. Extra arguments go to bench.mjs (--requests N, --inflight-requests N).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu
(cd "$root" && cargo build --release -p coze-mock)
cd "$root/bindings-node"
[ -d node_modules/@coze/api ] || npm ci --no-audit --no-fund
npm run build:release
node "$here/bench.mjs" --mock "$root/target/x86_64-unknown-linux-gnu/release/coze-mock" "$@"
