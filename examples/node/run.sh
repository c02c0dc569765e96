#!/usr/bin/env bash
# Runs example.mjs against a local coze-mock. Needs `cozefallback` installed here
# (npm install ../../bindings-node/cozefallback-*.tgz after `npm pack` there) and the mock built
# (cargo build -p coze-mock); COZE_MOCK_BIN overrides the mock's path.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="${COZE_REPO_ROOT:-$(cd "$here/../.." && pwd)}"
mock_bin="${COZE_MOCK_BIN:-$root/target/x86_64-unknown-linux-gnu/debug/coze-mock}"

info="$(mktemp)"
"$mock_bin" --info-file "$info" > /dev/null &
mock_pid=$!
trap 'kill "$mock_pid" 2>/dev/null || true; rm -f "$info"' EXIT
for _ in $(seq 100); do [ -s "$info" ] && break; sleep 0.05; done

field() { node -e "process.stdout.write(String(JSON.parse(require('fs').readFileSync('$info','utf8'))['$1']))"; }
export COZE_API_BASE="$(field base_url)"
export COZE_API_TOKEN="$(field personal_pat)"
export COZE_API_TOKEN_ENTERPRISE="$(field enterprise_pat)"
export MOCK_CONTROL="$COZE_API_BASE"
cd "$here"
node example.mjs
