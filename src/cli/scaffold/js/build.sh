#!/usr/bin/env bash
# Builds {{name}}.wasm (a WebAssembly component) from {{name}}.js with
# componentize-js, installed when missing into $EVA_PLUGIN_TOOLS/js
# (default ~/.cache/eva-admin/tools/js).
set -euo pipefail
cd "$(dirname "$0")"
version=0.23.0
tools=${EVA_PLUGIN_TOOLS:-$HOME/.cache/eva-admin/tools}
if ! grep -q "\"version\": \"$version\"" "$tools/js/node_modules/@bytecodealliance/componentize-js/package.json" 2>/dev/null; then
    mkdir -p "$tools/js"
    npm install --prefix "$tools/js" --no-audit --no-fund --loglevel=error "@bytecodealliance/componentize-js@$version"
fi
EVA_PLUGIN_TOOLS=$tools node componentize.mjs {{name}}.js xform-plugin {{name}}.wasm
echo "built $(pwd)/{{name}}.wasm"
