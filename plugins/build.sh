#!/usr/bin/env bash
# Builds every example and test guest into plugins/out/<name>.wasm.
# Idempotent, runs from anywhere. Installs only what is missing:
#   - Debian's rustc-web toolchain (builds std for wasm32; rustup has no
#     wasm targets here) and lld-22 (wasm-ld),
#   - componentize-py into plugins/.tools/py,
#   - componentize-js into plugins/.tools/js.
# A guest whose sources (and wit/) are older than its output is skipped.
# Prints one line per guest; exits non-zero if any build fails.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
wit="$here/../wit"
out="$here/out"
tools="$here/.tools"
mkdir -p "$out" "$tools"

# One build at a time (tests may call this script concurrently).
exec 9>"$tools/.lock"
flock 9

COMPONENTIZE_PY_VERSION=0.25.1
COMPONENTIZE_JS_VERSION=0.23.0
APT_PACKAGES=(rustc-web cargo-web rust-web-src lld-22 rust-web-llvm)
# Guests are found by directory: rust/<name>/ (a workspace member; its
# world is in its generate! call), python/<name>/app.py and js/<name>/<name>.js
# (each with a line "# world: <world>" or "// world: <world>").

die() {
    echo "build.sh: $*" >&2
    exit 1
}

now() { date +%s.%N; }

# ---- tools -----------------------------------------------------------------

missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=()
    [ "$(id -u)" -ne 0 ] && sudo=(sudo)
    echo "build.sh: installing ${missing[*]}"
    "${sudo[@]}" apt-get update -q || die "apt-get update failed"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" ||
        die "apt-get install ${missing[*]} failed"
fi
component_ld=/usr/lib/rustlib/x86_64-unknown-linux-gnu/bin/wasm-component-ld
for f in /usr/bin/rustc /usr/bin/cargo /usr/bin/wasm-ld-22 "$component_ld"; do
    [ -x "$f" ] || die "$f is missing after installing ${APT_PACKAGES[*]}"
done

if [ ! -d "$tools/py/componentize_py-$COMPONENTIZE_PY_VERSION.dist-info" ]; then
    echo "build.sh: installing componentize-py $COMPONENTIZE_PY_VERSION"
    rm -rf "$tools/py"
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check --target "$tools/py" \
        "componentize-py==$COMPONENTIZE_PY_VERSION" || die "pip install componentize-py failed"
fi
componentize_py() { PYTHONPATH="$tools/py" "$tools/py/bin/componentize-py" "$@"; }

js_pkg="$tools/js/node_modules/@bytecodealliance/componentize-js/package.json"
if ! grep -q "\"version\": \"$COMPONENTIZE_JS_VERSION\"" "$js_pkg" 2>/dev/null; then
    echo "build.sh: installing componentize-js $COMPONENTIZE_JS_VERSION"
    mkdir -p "$tools/js"
    npm install --prefix "$tools/js" --no-audit --no-fund --loglevel=error \
        "@bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION" || die "npm install componentize-js failed"
fi

# ---- guests ----------------------------------------------------------------

# up_to_date OUTPUT SOURCE...: true when OUTPUT exists and no file under the
# SOURCEs is newer.
up_to_date() {
    local target=$1
    shift
    [ -f "$target" ] || return 1
    [ -z "$(find "$@" -type f -not -path '*/__pycache__/*' -newer "$target" -print -quit 2>/dev/null)" ]
}

failed=()
report() { # name seconds|"-"
    local size
    size=$(stat -c %s "$out/$1.wasm")
    if [ "$2" = - ]; then
        printf '  %-17s %10s bytes  up to date\n' "$1" "$size"
    else
        printf '  %-17s %10s bytes  built in %.1f s\n' "$1" "$size" "$2"
    fi
}
# run NAME COMMAND...: runs a build step writing $out/NAME.wasm.tmp, then
# moves it into place; on failure removes both and records NAME.
run() {
    local name=$1 start
    shift
    start=$(now)
    if "$@" && [ -s "$out/$name.wasm.tmp" ]; then
        mv -f "$out/$name.wasm.tmp" "$out/$name.wasm"
        report "$name" "$(awk -v a="$start" -v b="$(now)" 'BEGIN { print b - a }')"
    else
        rm -f "$out/$name.wasm.tmp" "$out/$name.wasm"
        echo "build.sh: building $name FAILED (output above)" >&2
        failed+=("$name")
    fi
}

rust_build() { # name
    env -u CARGO_ENCODED_RUSTFLAGS -u CARGO_BUILD_RUSTFLAGS -u RUSTC_WRAPPER -u RUSTC_WORKSPACE_WRAPPER \
        -u CARGO_BUILD_TARGET -u RUSTUP_TOOLCHAIN \
        RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc CARGO_TARGET_DIR="$here/target" \
        RUSTFLAGS="-C linker=$component_ld -C link-arg=--wasm-ld-path=/usr/bin/wasm-ld-22" \
        /usr/bin/cargo build --quiet --release --target wasm32-unknown-unknown \
        -Zbuild-std=std,panic_abort --manifest-path "$here/Cargo.toml" -p "$1" &&
        cp "$here/target/wasm32-unknown-unknown/release/${1//-/_}.wasm" "$out/$1.wasm.tmp"
}

py_build() { # name world
    componentize_py -d "$wit" -w "$2" componentize -p "$here/python/$1" app -o "$out/$1.wasm.tmp" >/dev/null
}

js_build() { # name world
    node "$here/js/componentize.mjs" "$here/js/$1/$1.js" "$2" "$out/$1.wasm.tmp"
}

world_of() { # file; empty when missing or unmarked
    [ -f "$1" ] && sed -n -E 's@^(#|//) world: ([a-z-]+)$@\2@p' "$1" | head -n1
}

# The future-wit test guest is built against the contract at a future major
# version (the host must refuse it, naming both versions).
mkdir -p target/wit-future
sed -E 's/^package eva:xform@[0-9.]+;/package eva:xform@9.0.0;/' "$wit/xform.wit" >target/wit-future/xform.wit.new
if cmp -s target/wit-future/xform.wit.new target/wit-future/xform.wit; then
    rm -f target/wit-future/xform.wit.new
else
    mv target/wit-future/xform.wit.new target/wit-future/xform.wit
fi

echo "build.sh: guests -> plugins/out/"
for dir in rust/*/; do
    name=$(basename "$dir")
    if up_to_date "$out/$name.wasm" "rust/$name" "$wit" Cargo.toml Cargo.lock; then
        report "$name" -
    else
        run "$name" rust_build "$name"
    fi
done
for dir in python/*/; do
    name=$(basename "$dir") world=$(world_of "$dir/app.py")
    if [ -z "$world" ]; then
        echo "build.sh: python/$name/app.py has no '# world: <world>' line" >&2
        failed+=("$name")
    elif up_to_date "$out/$name.wasm" "python/$name" "$wit"; then
        report "$name" -
    else
        run "$name" py_build "$name" "$world"
    fi
done
for dir in js/*/; do
    name=$(basename "$dir") world=$(world_of "$dir/$name.js")
    if [ -z "$world" ]; then
        echo "build.sh: js/$name/$name.js has no '// world: <world>' line" >&2
        failed+=("$name")
    elif up_to_date "$out/$name.wasm" "js/$name" js/componentize.mjs "$wit"; then
        report "$name" -
    else
        run "$name" js_build "$name" "$world"
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    die "FAILED to build: ${failed[*]}"
fi
echo "build.sh: all guests built"
