#!/usr/bin/env bash
# Fills dist/ with the release artifacts, so that users install cozefallback without a Rust toolchain:
#   cozefallback-VERSION-cp39-abi3-manylinux_2_XX_x86_64.whl   the Python wheel (abi3: CPython >= 3.9), and the sdist
#   cozefallback-VERSION.tgz + cozefallback-linux-x64-gnu-VERSION.tgz   the npm package and its platform package
#   cozefallback-VERSION-x86_64-linux-gnu.tar.gz               the C SDK (header, .so with SONAME, .a, .pc files)
# Every piece is one release build in the one shared target tree (CARGO_BUILD_TARGET), so a rerun only relinks.
# Writes dist/SIZES.txt (bytes per artifact) and dist/BUILD-TIMES.txt (seconds per step).
# Needs: cargo, python3 (venv; maturin and auditwheel come from PyPI into target/dist-tools), npm, cc, tar.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu
export CARGO_PROFILE_DEV_DEBUG=false
export CARGO_TERM_COLOR=never
export CARGO_TARGET_DIR="$ROOT/target"
OUT="$CARGO_TARGET_DIR/$CARGO_BUILD_TARGET/release"
VERSION=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
DIST="$ROOT/dist"
STAGE="$CARGO_TARGET_DIR/dist-stage"
TOOLS="$CARGO_TARGET_DIR/dist-tools"
SDK_NAME="cozefallback-$VERSION-x86_64-linux-gnu"
NODE_PLATFORM=linux-x64-gnu

started=$SECONDS
step_started=$SECONDS
step() { printf '\n--- dist: %s (%ds)\n' "$1" $((SECONDS - started)); step_started=$SECONDS; }
took() { echo "$1 $((SECONDS - step_started))" >> "$DIST/BUILD-TIMES.txt"; step_started=$SECONDS; }

rm -rf "$DIST" "$STAGE"
mkdir -p "$DIST" "$STAGE"

step "build tools (maturin, auditwheel) in $TOOLS"
# Pinned: the wheel's tag check below reads auditwheel's report.
MATURIN_VERSION=1.16.0 AUDITWHEEL_VERSION=6.8.2
if [ "$("$TOOLS/bin/maturin" --version 2>/dev/null)" != "maturin $MATURIN_VERSION" ] ||
    ! "$TOOLS/bin/pip" show auditwheel 2>/dev/null | grep -qx "Version: $AUDITWHEEL_VERSION"; then
    rm -rf "$TOOLS"
    python3 -m venv "$TOOLS"
    "$TOOLS/bin/pip" install -q --disable-pip-version-check "maturin==$MATURIN_VERSION" "auditwheel==$AUDITWHEEL_VERSION"
fi
"$TOOLS/bin/maturin" --version

step "C: release build of libcozefallback (cozefallback-c)"
cargo build --release --locked -p cozefallback-c
took c-build
git diff --quiet -- include/ || { echo "dist: the build changed include/cozefallback.h; commit the regenerated header" >&2; exit 1; }

step "C: the SDK $SDK_NAME.tar.gz"
stage_sdk() {
    local sdk="$STAGE/$SDK_NAME"
    mkdir -p "$sdk/include" "$sdk/lib/pkgconfig"
    cp include/cozefallback.h "$sdk/include/"
    # The profile strips the .so (strip = "symbols"); the archive keeps its symbols but drops debug sections.
    install -m 755 "$OUT/libcozefallback.so" "$sdk/lib/libcozefallback.so.$VERSION"
    ln -s "libcozefallback.so.$VERSION" "$sdk/lib/libcozefallback.so.0"
    ln -s libcozefallback.so.0 "$sdk/lib/libcozefallback.so"
    strip --strip-debug -o "$sdk/lib/libcozefallback.a" "$OUT/libcozefallback.a"
    local soname
    soname=$(readelf -d "$sdk/lib/libcozefallback.so.$VERSION" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
    [ "$soname" = libcozefallback.so.0 ] || { echo "dist: SONAME is '$soname', expected libcozefallback.so.0" >&2; exit 1; }
    # The .pc files find the SDK from their own folder; make install rewrites these three lines.
    for pc in cozefallback cozefallback-lib; do
        sed -e 's|@PREFIX@|${pcfiledir}/../..|' -e 's|@LIBDIR@|${prefix}/lib|' \
            -e 's|@INCLUDEDIR@|${prefix}/include|' -e "s|@VERSION@|$VERSION|" \
            "bindings-c/$pc.pc.in" > "$sdk/lib/pkgconfig/$pc.pc"
    done
    cp bindings-c/sdk/Makefile LICENSE "$sdk/"
    sed "s|@VERSION@|$VERSION|g" bindings-c/sdk/README.md > "$sdk/README.md"
    tar -C "$STAGE" --owner=0 --group=0 --numeric-owner -czf "$DIST/$SDK_NAME.tar.gz" "$SDK_NAME"
}
stage_sdk
took c-sdk-pack

step "Python: the abi3 wheel (release, stripped) and the sdist"
"$TOOLS/bin/maturin" build --release --strip --locked --target "$CARGO_BUILD_TARGET" \
    -m bindings-python/Cargo.toml -o "$DIST"
took python-wheel
"$TOOLS/bin/maturin" sdist -m bindings-python/Cargo.toml -o "$DIST"
took python-sdist
check_wheel_tag() {
    local wheel report honest
    wheel=$(ls "$DIST"/cozefallback-"$VERSION"-*.whl)
    report=$("$TOOLS/bin/auditwheel" show "$wheel")
    echo "$report"
    # auditwheel names the most portable tag the binary is consistent with; the wheel must carry exactly that.
    honest=$(printf '%s\n' "$report" | tr '\n' ' ' | grep -o 'following platform tag: *"[^"]*"' | head -n 1 \
        | sed 's/.*"\(.*\)"/\1/')
    [ -n "$honest" ] || { echo "dist: auditwheel named no platform tag for $wheel" >&2; exit 1; }
    case "$(basename "$wheel")" in
        *-cp39-abi3-"$honest".whl) echo "wheel tag: cp39-abi3-$honest (auditwheel agrees)" ;;
        *) echo "dist: $(basename "$wheel") is not tagged $honest, the tag auditwheel found" >&2; exit 1 ;;
    esac
}
check_wheel_tag

step "Node: the release addon, the npm package and its platform package"
stage_node() {
    local pkg="$STAGE/node/cozefallback" plat="$STAGE/node/$NODE_PLATFORM"
    mkdir -p "$pkg" "$plat"
    (cd bindings-node && { [ -x node_modules/.bin/napi ] || npm ci --no-audit --no-fund; } &&
        node_modules/.bin/napi build --platform --release --js binding.js --dts binding.d.ts --output-dir "$pkg")
    took node-addon
    cp -r bindings-node/index.js bindings-node/index.mjs bindings-node/index.d.ts bindings-node/lib \
        bindings-node/README.md LICENSE "$pkg/"
    # napi-rs's convention: the main package names the platform package as an optional dependency (npm installs
    # only the one matching os/cpu/libc), and the platform package holds the .node the loader requires.
    node -e '
        const fs = require("fs"); const [src, dst, plat] = process.argv.slice(1);
        const p = JSON.parse(fs.readFileSync(src, "utf8"));
        p.optionalDependencies = { [`${p.name}-${plat}`]: p.version };
        fs.writeFileSync(dst, JSON.stringify(p, null, 2) + "\n");
    ' bindings-node/package.json "$pkg/package.json" "$NODE_PLATFORM"
    mv "$pkg/cozefallback.$NODE_PLATFORM.node" "$plat/"
    cp bindings-node/npm/"$NODE_PLATFORM"/package.json bindings-node/npm/"$NODE_PLATFORM"/README.md LICENSE "$plat/"
    grep -q "\"version\": \"$VERSION\"" "$plat/package.json" ||
        { echo "dist: bindings-node/npm/$NODE_PLATFORM/package.json is not at version $VERSION" >&2; exit 1; }
    (cd "$pkg" && npm pack --silent --pack-destination "$DIST" >/dev/null)
    (cd "$plat" && npm pack --silent --pack-destination "$DIST" >/dev/null)
}
stage_node
took node-pack

step "sizes"
(cd "$DIST" && stat -c '%n %s' -- *.whl *.tar.gz *.tgz | sort > SIZES.txt && cat SIZES.txt)
{
    echo "unpacked: libcozefallback.so $(stat -c %s "$STAGE/$SDK_NAME/lib/libcozefallback.so.$VERSION")"
    echo "unpacked: libcozefallback.a $(stat -c %s "$STAGE/$SDK_NAME/lib/libcozefallback.a")"
    echo "unpacked: cozefallback.$NODE_PLATFORM.node $(stat -c %s "$STAGE/node/$NODE_PLATFORM/cozefallback.$NODE_PLATFORM.node")"
} | tee -a "$DIST/SIZES.txt"
echo "total $((SECONDS - started))" >> "$DIST/BUILD-TIMES.txt"
cat "$DIST/BUILD-TIMES.txt"
echo "dist: done in $((SECONDS - started)) s; artifacts in $DIST"
