#!/usr/bin/env bash
# The Node package's test entry, from a clean clone:
#   1. builds the mock (cargo build -p coze-mock);
#   2. in bindings-node: npm ci && npm run build && npm pack (the addon, its loader and index.d.ts are built here);
#   3. installs the tarball into a fresh temp folder (npm install ./cozefallback-*.tgz);
#   4. runs node --test there against the INSTALLED package (conformance scenarios, concurrency, event-loop
#      liveness, streams, errors, require + import, the @coze/api drop-in), then examples/node.
# Exits non-zero on any failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

# One target tree for every build (napi build always passes --target; this keeps it shared).
export CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu
export CARGO_PROFILE_DEV_DEBUG=false

echo "== building the mock"
(cd "$root" && cargo build -p coze-mock)
target_dir="${CARGO_TARGET_DIR:-$root/target}"
export COZE_MOCK_BIN="${COZE_MOCK_BIN:-$target_dir/x86_64-unknown-linux-gnu/debug/coze-mock}"
export COZE_REPO_ROOT="$root"

echo "== npm ci && npm run build && npm pack"
cd "$here"
rm -f cozefallback-*.tgz
npm ci --no-audit --no-fund
npm run build
npm pack
tarball="$(ls "$here"/cozefallback-*.tgz | head -n 1)"

work="$(mktemp -d "${TMPDIR:-/tmp}/cozefallback-node-test.XXXXXX")"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

echo "== installing $(basename "$tarball") into a fresh folder ($work)"
cp "$tarball" "$work/"
cd "$work"
echo '{"name":"cozefallback-node-test","private":true,"version":"0.0.0"}' > package.json
npm install --no-audit --no-fund ./"$(basename "$tarball")"
# The test-only tools come pinned by bindings-node/package-lock.json (installed by npm ci above): the real
# @coze/api for the drop-in test, typescript + @types/node for the index.d.ts check.
mkdir -p node_modules/@coze node_modules/@types
ln -s "$here/node_modules/@coze/api" node_modules/@coze/api
ln -s "$here/node_modules/typescript" node_modules/typescript
ln -s "$here/node_modules/@types/node" node_modules/@types/node
# The tests must exercise the installed package, not the source tree.
test -f node_modules/cozefallback/binding.js
test -f node_modules/cozefallback/index.d.ts
ls node_modules/cozefallback/*.node > /dev/null
cp -r "$here/test" "$work/test"

echo "== node --test (against the installed package)"
node --test --test-concurrency=1 --test-reporter=spec test/*.test.mjs test/*.test.cjs

echo "== examples/node"
cp -r "$root/examples/node" "$work/example"
(cd "$work/example" && ln -s "$work/node_modules" node_modules && bash run.sh)
echo "bindings-node: all tests passed"
