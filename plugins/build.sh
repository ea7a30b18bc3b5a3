#!/usr/bin/env bash
# Builds every example and test guest into plugins/out/<name>.wasm.
# Installs what is missing first (Debian's rustc-web toolchain, which can
# build std for wasm; rustup has no wasm targets here). Idempotent; guests
# whose sources did not change are not rebuilt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
mkdir -p out

need=()
[ -x /usr/bin/rustc ] && /usr/bin/rustc --version | grep -q . || need+=(rustc-web)
[ -x /usr/bin/cargo ] || need+=(cargo-web)
ls /usr/lib/rustlib/src/rust/library >/dev/null 2>&1 || need+=(rust-web-src)
[ -x /usr/bin/wasm-ld-22 ] || need+=(lld-22)
[ -x /usr/lib/rustlib/x86_64-unknown-linux-gnu/bin/wasm-component-ld ] || need+=(rust-web-llvm)
if [ ${#need[@]} -gt 0 ]; then
  echo "plugins: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rustc-web cargo-web rust-web-src lld-22 rust-web-llvm >/dev/null
fi

rust_guests=(identity excise hostile future-wit)

# The future-wit test guest is built against the contract at a future major version.
mkdir -p target/wit-future
sed 's/^package eva:xform@0\.1\.0;/package eva:xform@9.0.0;/' ../wit/xform.wit > target/wit-future/xform.wit.new
cmp -s target/wit-future/xform.wit.new target/wit-future/xform.wit || mv target/wit-future/xform.wit.new target/wit-future/xform.wit
rm -f target/wit-future/xform.wit.new
stale=0
for g in "${rust_guests[@]}"; do
  out="out/$g.wasm"
  if [ ! -f "$out" ] || [ -n "$(find rust/$g ../wit Cargo.toml -newer "$out" -type f 2>/dev/null | head -1)" ]; then
    stale=1
  fi
done
if [ "$stale" = 1 ]; then
  start=$(date +%s)
  # Debian's toolchain, not rustup's: it ships the std sources build-std needs.
  env -u RUSTUP_TOOLCHAIN RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc \
    RUSTFLAGS="-C linker=/usr/lib/rustlib/x86_64-unknown-linux-gnu/bin/wasm-component-ld -C link-arg=--wasm-ld-path=/usr/bin/wasm-ld-22" \
    /usr/bin/cargo build --quiet --release --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort
  for g in "${rust_guests[@]}"; do
    cp "target/wasm32-unknown-unknown/release/${g//-/_}.wasm" "out/$g.wasm"
  done
  echo "plugins: Rust guests built in $(( $(date +%s) - start ))s"
fi
for g in "${rust_guests[@]}"; do
  printf 'plugins: %-12s %8d bytes\n' "$g" "$(stat -c %s "out/$g.wasm")"
done
