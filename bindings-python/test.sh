#!/usr/bin/env bash
# The Python package's test command, from a clean clone: builds the mock, makes a fresh venv, runs exactly
# `pip install ./bindings-python` (from the repository root) into it, installs the test tools, then runs pytest:
# every conformance scenario through Client and AsyncClient, the API tests, the cozepy drop-in, a fleet of processes
# on a real redis-server (tests/test_fleet.py), mypy --strict on examples/python and the examples themselves;
# mypy's stubtest checks _native.pyi against the built module first.
# Exits non-zero on any failure.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
cd "$ROOT"

# One shared target tree for every build (cargo, maturin, the other bindings); a debug (dev) wheel for tests.
export CARGO_BUILD_TARGET="${CARGO_BUILD_TARGET:-x86_64-unknown-linux-gnu}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export MATURIN_PEP517_ARGS="${MATURIN_PEP517_ARGS:---profile=dev}"
PYTHON="${PYTHON:-python3}"

# tests/test_fleet.py starts a real redis-server of its own on a loopback port (as scripts/test-all.sh, this
# installs it when missing; if it cannot be installed, those tests fail saying so).
if ! command -v redis-server >/dev/null 2>&1; then
  echo "== installing redis-server (the fleet tests start one on a loopback port)"
  apt-get update -qq && apt-get install -y -qq redis-server >/dev/null ||
    echo "could not install redis-server: tests/test_fleet.py will fail"
fi

echo "== building the mock"
cargo build -p coze-mock
export COZE_MOCK_BIN="${COZE_MOCK_BIN:-$CARGO_TARGET_DIR/$CARGO_BUILD_TARGET/debug/coze-mock}"

VENV="$CARGO_TARGET_DIR/python-test-venv"
echo "== fresh venv in $VENV"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
export PATH="$VENV/bin:$PATH"
export PIP_DISABLE_PIP_VERSION_CHECK=1

echo "== pip install ./bindings-python"
pip install ./bindings-python
pip install pytest httpx cozepy mypy gunicorn

echo "== stubtest: _native.pyi against the built native module"
# mypy's stubtest imports cozefallback._native and fails on any name, signature or type the stub gets wrong;
# stubtest-allowlist.txt lists only the differences a stub cannot express, each with its reason.
python -m mypy.stubtest cozefallback._native --allowlist "$HERE/stubtest-allowlist.txt"

echo "== pytest"
cd "$HERE"
python -m pytest -q -p no:cacheprovider tests "$@"

# The abi3 wheel must run on every CPython >= 3.9: run the API and conformance tests on the oldest and the newest
# interpreter this machine has besides the default one.
echo "== the same abi3 wheel on other CPython versions"
WHEELS="$CARGO_TARGET_DIR/python-wheels"
rm -rf "$WHEELS"
pip wheel -q --no-deps "$ROOT/bindings-python" -w "$WHEELS"
for version in 3.9 3.13; do
  interpreter=""
  # pyenv installs versions side by side (its shims only run the selected one); else a python3.X on PATH.
  for candidate in "$(pyenv root 2>/dev/null)"/versions/"$version".*/bin/python "$(command -v "python$version" || true)"; do
    if [ -x "$candidate" ] && "$candidate" -c 'import sys' >/dev/null 2>&1; then
      interpreter=$candidate
      break
    fi
  done
  if [ -z "$interpreter" ]; then
    echo "python$version is not installed on this machine: not tried"
    continue
  fi
  other="$CARGO_TARGET_DIR/python-test-venv-$version"
  rm -rf "$other"
  "$interpreter" -m venv "$other"
  "$other/bin/pip" install -q "$WHEELS"/cozefallback-*.whl pytest httpx
  "$other/bin/python" -m pytest -q -p no:cacheprovider tests/test_scenarios.py tests/test_client.py tests/test_conversations.py
done
