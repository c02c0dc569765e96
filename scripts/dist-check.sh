#!/usr/bin/env bash
# Installs every artifact of dist/ (scripts/dist.sh; run here when dist/ is missing or DIST_BUILD=1) in a clean
# place whose PATH has no cargo and no rustc, and runs each against one coze-mock, before and after the move:
#   Python  a fresh venv, pip install the wheel (no index), a GET that falls back after the move (CPython 3.11,
#           and 3.9 when installed: the abi3 floor)
#   Node    a fresh npm folder, npm install the two tarballs (offline), the same GET through the installed package
#   C       examples/c/chat.c built against the unpacked SDK only, shared (rpath) and static, plus make install /
#           make uninstall into a scratch prefix
#   Go      examples/go/pat against a copy of the Go package (as a Go user gets it, without this repository's
#           include/ and target/), through PKG_CONFIG_PATH=<sdk>/lib/pkgconfig, static and cozefallback_dynamic
# Measures install times and sizes into dist/CHECK.txt. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu CARGO_PROFILE_DEV_DEBUG=false CARGO_TERM_COLOR=never
DIST="$ROOT/dist"
VERSION=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
SDK_NAME="cozefallback-$VERSION-x86_64-linux-gnu"
started=$SECONDS
step() { printf '\n--- dist-check: %s (%ds)\n' "$1" $((SECONDS - started)); }
fail() { echo "dist-check: $*" >&2; exit 1; }

if [ "${DIST_BUILD:-0}" = 1 ] || [ ! -f "$DIST/$SDK_NAME.tar.gz" ]; then
    step "dist/ is missing: bash scripts/dist.sh"
    bash scripts/dist.sh
fi
WHEEL=$(ls "$DIST"/cozefallback-"$VERSION"-cp39-abi3-*.whl)
NPM_MAIN="$DIST/cozefallback-$VERSION.tgz"
NPM_PLAT="$DIST/cozefallback-linux-x64-gnu-$VERSION.tgz"
for f in "$WHEEL" "$NPM_MAIN" "$NPM_PLAT" "$DIST/$SDK_NAME.tar.gz" "$DIST/cozefallback-$VERSION.tar.gz"; do
    [ -f "$f" ] || fail "missing artifact $f"
done

step "the mock (debug coze-mock, built with the full PATH)"
cargo build --locked -q -p coze-mock
MOCK_BIN="${COZE_MOCK_BIN:-$ROOT/target/$CARGO_BUILD_TARGET/debug/coze-mock}"

# The clean PATH: every entry of PATH that holds no cargo or rustc (rustup's ~/.cargo/bin among them).
CLEAN_PATH=""
IFS=: read -r -a entries <<< "$PATH"
for dir in "${entries[@]}"; do
    [ -n "$dir" ] && [ ! -e "$dir/cargo" ] && [ ! -e "$dir/rustc" ] && CLEAN_PATH="${CLEAN_PATH:+$CLEAN_PATH:}$dir"
done
clean() { env -u CARGO_HOME -u RUSTUP_HOME -u CARGO_TARGET_DIR -u CARGO_BUILD_TARGET PATH="$CLEAN_PATH" "$@"; }
for tool in cargo rustc; do
    if clean sh -c "command -v $tool" >/dev/null; then fail "$tool is still on the clean PATH"; fi
done
echo "clean PATH: $CLEAN_PATH (command -v cargo and rustc fail there)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cozefallback-dist-check.XXXXXX")
MOCK_DIR="$WORK/mock"
mkdir -p "$MOCK_DIR"
"$MOCK_BIN" --port-file "$MOCK_DIR/port" --keys-dir "$MOCK_DIR" --info-file "$MOCK_DIR/info.json" >/dev/null &
MOCK_PID=$!
trap 'kill $MOCK_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 200); do [ -s "$MOCK_DIR/info.json" ] && break; sleep 0.05; done
[ -s "$MOCK_DIR/info.json" ] || fail "coze-mock did not start"
info() { python3 -c "import json; print(json.load(open('$MOCK_DIR/info.json'))$1)"; }
export COZE_API_BASE COZE_API_TOKEN COZE_API_TOKEN_ENTERPRISE PUBLISHED_BOT_ID USER_ID=user-1
COZE_API_BASE="http://127.0.0.1:$(cat "$MOCK_DIR/port")"
COZE_API_TOKEN=$(info "['personal_pat']")
COZE_API_TOKEN_ENTERPRISE=$(info "['enterprise_pat']")
PUBLISHED_BOT_ID=$(info "['bots'][0]")
mock() { curl -sf -X POST "$COZE_API_BASE/__mock/$1" -d "$2" >/dev/null; }
echo "mock at $COZE_API_BASE"

REPORT="$DIST/CHECK.txt"
: > "$REPORT"
now() { date +%s.%N; }
record() { printf '%s %s\n' "$1" "$2" | tee -a "$REPORT"; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }

# Runs "$@" before the move (expects the personal credential, one attempt) and after it (the enterprise one, in
# two attempts: the personal credential's 4100/4101 and the fallback), checking the line each run prints.
across_the_move() {
    local name=$1 before=$2 after=$3 out
    shift 3
    mock reset '{}'
    out=$("$@") || fail "$name: the run before the move failed: $out"
    echo "$out"
    grep -q "$before" <<< "$out" || fail "$name before the move: expected '$before'"
    mock state '{"moved":true}'
    out=$("$@") || fail "$name: the run after the move failed: $out"
    echo "$out"
    grep -q "$after" <<< "$out" || fail "$name after the move: expected '$after'"
}

PY_PROBE='import os, sys, cozefallback
assert "/site-packages/cozefallback/" in cozefallback.__file__, cozefallback.__file__
with cozefallback.Client.from_env() as client:
    bot = os.environ["PUBLISHED_BOT_ID"]
    r = client.get(f"/v1/bots/{bot}")
    print(f"python {sys.version_info[0]}.{sys.version_info[1]}: served by the {r.credential} credential in {r.attempts} attempt(s)")'

step "Python: a fresh venv, pip install the wheel (no package index)"
python_check() {
    local interpreter=$1 label=$2 venv="$WORK/venv-$2" t0 t1
    clean "$interpreter" -m venv "$venv"
    t0=$(now)
    clean "$venv/bin/pip" install -q --no-index --disable-pip-version-check "$WHEEL"
    t1=$(now)
    record "install-seconds:python-wheel:$label" "$(elapsed "$t0" "$t1")"
    across_the_move "python $label" "served by the personal credential in 1 attempt" \
        "served by the enterprise credential in 2 attempt" clean "$venv/bin/python" -c "$PY_PROBE"
}
python_check "$(command -v python3)" "$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
py39=""
for candidate in "$(pyenv root 2>/dev/null || echo /nonexistent)"/versions/3.9.*/bin/python "$(command -v python3.9 || true)"; do
    if [ -x "$candidate" ] && "$candidate" -c 'import sys' >/dev/null 2>&1; then py39=$candidate; break; fi
done
if [ -n "$py39" ]; then python_check "$py39" 3.9; else echo "python3.9 is not installed here: the abi3 floor not tried"; fi

step "Node: a fresh npm folder, npm install the two tarballs (offline)"
NODE_DIR="$WORK/node"
mkdir -p "$NODE_DIR"
echo '{"name":"dist-check","private":true,"version":"0.0.0"}' > "$NODE_DIR/package.json"
t0=$(now)
(cd "$NODE_DIR" && clean npm install --offline --no-audit --no-fund --loglevel=error "$NPM_PLAT" "$NPM_MAIN")
t1=$(now)
record "install-seconds:npm-tarballs" "$(elapsed "$t0" "$t1")"
ls "$NODE_DIR"/node_modules/cozefallback/*.node >/dev/null 2>&1 && fail "the main npm package carries a .node; it belongs in the platform package"
test -f "$NODE_DIR/node_modules/cozefallback-linux-x64-gnu/cozefallback.linux-x64-gnu.node" ||
    fail "the platform package did not install its .node"
cat > "$NODE_DIR/probe.js" <<'EOF'
const { Client } = require('cozefallback')
const addon = require.resolve('cozefallback-linux-x64-gnu')
if (!addon.includes('/node_modules/cozefallback-linux-x64-gnu/')) throw new Error(`addon from ${addon}`)
;(async () => {
  const client = Client.fromEnv()
  const r = await client.get(`/v1/bots/${process.env.PUBLISHED_BOT_ID}`)
  console.log(`node ${process.versions.node}: served by the ${r.credential} credential in ${r.attempts} attempt(s)`)
  client.close()
})().catch((e) => { console.error(e); process.exit(1) })
EOF
across_the_move node "served by the personal credential in 1 attempt" "served by the enterprise credential in 2 attempt" \
    clean node "$NODE_DIR/probe.js"

step "C: examples/c/chat.c against the unpacked SDK only, shared and static"
tar -C "$WORK" -xzf "$DIST/$SDK_NAME.tar.gz"
SDK="$WORK/$SDK_NAME"
C_DIR="$WORK/c"
mkdir -p "$C_DIR"
cp examples/c/chat.c "$C_DIR/"
export PKG_CONFIG_PATH="$SDK/lib/pkgconfig"
# shellcheck disable=SC2046
(cd "$C_DIR" && clean cc -std=c11 -Wall -Wextra -Werror -o chat-shared chat.c $(clean pkg-config --cflags --libs cozefallback))
# shellcheck disable=SC2046
(cd "$C_DIR" && clean cc -std=c11 -Wall -Wextra -Werror -o chat-static chat.c $(clean pkg-config --static --cflags --libs cozefallback))
readelf -d "$C_DIR/chat-shared" | grep -q 'NEEDED.*\[libcozefallback.so.0\]' || fail "chat-shared does not load libcozefallback.so.0"
if readelf -d "$C_DIR/chat-static" | grep -q 'NEEDED.*libcozefallback'; then fail "chat-static still needs the shared library"; fi
for variant in shared static; do
    across_the_move "C $variant" "chat answered by the personal credential" \
        "chat answered by the enterprise credential in 2 attempt" clean "$C_DIR/chat-$variant"
done

step "C: make install / make uninstall of the SDK (copy only, no cargo on PATH)"
PREFIX="$WORK/prefix"
t0=$(now)
clean make -s -C "$SDK" install PREFIX="$PREFIX"
t1=$(now)
record "install-seconds:c-sdk-make-install" "$(elapsed "$t0" "$t1")"
# shellcheck disable=SC2046
(cd "$C_DIR" && PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig" clean cc -std=c11 -o chat-installed chat.c \
    $(PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig" clean pkg-config --cflags --libs cozefallback))
across_the_move "C installed" "chat answered by the personal credential" \
    "chat answered by the enterprise credential in 2 attempt" clean "$C_DIR/chat-installed"
clean make -s -C "$SDK" uninstall PREFIX="$PREFIX"
left=$(find "$PREFIX" -type f -o -type l)
[ -z "$left" ] || fail "make uninstall left: $left"

step "Go: examples/go/pat against the unpacked SDK through PKG_CONFIG_PATH, static and cozefallback_dynamic"
GO_DIR="$WORK/go"
mkdir -p "$GO_DIR/cozefallback-go" "$GO_DIR/examples"
# The Go package as a user gets it: its own files only (no ../include, no ../target beside it).
cp bindings-go/go.mod bindings-go/*.go bindings-go/*.c bindings-go/*.h "$GO_DIR/cozefallback-go/"
cp -r examples/go/pat "$GO_DIR/examples/"
cat > "$GO_DIR/examples/go.mod" <<EOF
module distcheck

go 1.22

require github.com/cozefallback/cozefallback-go v0.0.0

replace github.com/cozefallback/cozefallback-go => ../cozefallback-go
EOF
(cd "$GO_DIR/examples" && clean env GOPROXY=off GOFLAGS=-mod=mod go build -o "$GO_DIR/pat-static" ./pat &&
    clean env GOPROXY=off GOFLAGS=-mod=mod go build -tags cozefallback_dynamic -o "$GO_DIR/pat-dynamic" ./pat)
if readelf -d "$GO_DIR/pat-static" | grep -q 'NEEDED.*libcozefallback'; then fail "the static Go build needs the shared library"; fi
readelf -d "$GO_DIR/pat-dynamic" | grep -q 'NEEDED.*\[libcozefallback.so.0\]' || fail "the dynamic Go build does not load libcozefallback.so.0"
for variant in static dynamic; do
    across_the_move "Go $variant" "served by the personal credential" "served by the enterprise credential in 2 attempt" \
        clean "$GO_DIR/pat-$variant"
done

step "sizes"
(cd "$DIST" && for f in *.whl *.tar.gz *.tgz; do record "bytes:$f" "$(stat -c %s "$f")"; done)
record "bytes:installed-python-package" "$(du -sb "$WORK"/venv-*/lib/python*/site-packages/cozefallback | head -1 | cut -f1)"
record "bytes:installed-node_modules" "$(du -sb "$NODE_DIR/node_modules" | cut -f1)"
record "bytes:go-pat-static" "$(stat -c %s "$GO_DIR/pat-static")"
record "bytes:c-chat-static" "$(stat -c %s "$C_DIR/chat-static")"

echo
echo "dist-check: every artifact installed without cargo/rustc and ran across the move ($((SECONDS - started)) s)"
