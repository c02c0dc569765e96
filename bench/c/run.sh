#!/usr/bin/env bash
# bench/c: per-request overhead of the C API vs the Rust core (p50, same mock, rounds interleaved), and RSS
# after 100,000 C calls vs after 10,000. Release builds. Not part of the test command.
#   bash bench/c/run.sh [ROUNDS] [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
ROUNDS=${1:-5}
export BENCH_N=${2:-2000}
export CARGO_BUILD_TARGET=${CARGO_BUILD_TARGET:-x86_64-unknown-linux-gnu}
OUT="$ROOT/target/$CARGO_BUILD_TARGET/release"
cargo build --release -q -p coze-mock -p cozefallback-c --lib --example bench_core
mkdir -p bench/c/build
cc -std=c11 -O2 -I"$ROOT/include" -o bench/c/build/bench bench/c/bench.c "$OUT/libcozefallback.a" -lpthread -ldl -lm -lrt -lutil

DIR=$(mktemp -d)
"$OUT/coze-mock" --port-file "$DIR/port" --keys-dir "$DIR" --info-file "$DIR/info.json" >/dev/null &
MOCK=$!
trap 'kill $MOCK 2>/dev/null || true; rm -rf "$DIR"' EXIT
for _ in $(seq 1 200); do [ -s "$DIR/port" ] && break; sleep 0.05; done
info() { python3 -c "import json; print(json.load(open('$DIR/info.json'))$1)"; }
export COZE_API_BASE="http://127.0.0.1:$(cat "$DIR/port")"
export COZE_API_TOKEN; COZE_API_TOKEN=$(info "['personal_pat']")
export COZE_API_TOKEN_ENTERPRISE; COZE_API_TOKEN_ENTERPRISE=$(info "['enterprise_pat']")
export BENCH_PATH; BENCH_PATH="/v1/bots/$(info "['bots'][0]")"

echo "C API vs Rust core: GET $BENCH_PATH, $BENCH_N requests per run, $ROUNDS interleaved rounds"
: > "$DIR/results"
for r in $(seq 1 "$ROUNDS"); do
    c=$(bench/c/build/bench latency); rust=$("$OUT/examples/bench_core")
    echo "  round $r: $c | $rust"
    echo "$c $rust" >> "$DIR/results"
done
python3 - "$DIR/results" <<'PY'
import re, statistics, sys
c, rust = [], []
for line in open(sys.argv[1]):
    cp, rp = re.findall(r"p50_us=([\d.]+)", line)
    c.append(float(cp)); rust.append(float(rp))
ratios = [a / b for a, b in zip(c, rust)]
med = statistics.median(ratios)
print(f"p50: C {statistics.median(c):.1f} us, Rust {statistics.median(rust):.1f} us; "
      f"C/Rust ratio (median of rounds) {med:.3f} -> overhead {100*(med-1):+.1f}% (target <= +5%)")
PY

echo "RSS over 100,000 requests through the C API"
bench/c/build/bench rss
