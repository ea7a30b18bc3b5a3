#!/usr/bin/env bash
# Builds {{name}}.wasm (a WebAssembly component) from src/lib.rs.
# Needs Debian's rustc-web toolchain, which can build std for wasm32
# (installed here when missing): rustc-web cargo-web rust-web-src lld-22 rust-web-llvm.
set -euo pipefail
cd "$(dirname "$0")"
packages=(rustc-web cargo-web rust-web-src lld-22 rust-web-llvm)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=()
    [ "$(id -u)" -ne 0 ] && sudo=(sudo)
    "${sudo[@]}" apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
linker=/usr/lib/rustlib/x86_64-unknown-linux-gnu/bin/wasm-component-ld
env -u RUSTUP_TOOLCHAIN -u CARGO_BUILD_TARGET RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc \
    RUSTFLAGS="-C linker=$linker -C link-arg=--wasm-ld-path=/usr/bin/wasm-ld-22" \
    /usr/bin/cargo build --quiet --release --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort
target=${CARGO_TARGET_DIR:-target}
cp "$target/wasm32-unknown-unknown/release/{{crate}}.wasm" {{name}}.wasm
echo "built $(pwd)/{{name}}.wasm"
