#!/usr/bin/env bash
# Builds {{name}}.wasm (a WebAssembly component) from app.py with
# componentize-py, installed when missing into $EVA_PLUGIN_TOOLS/py
# (default ~/.cache/eva-admin/tools/py).
set -euo pipefail
cd "$(dirname "$0")"
version=0.25.1
tools=${EVA_PLUGIN_TOOLS:-$HOME/.cache/eva-admin/tools}
if [ ! -d "$tools/py/componentize_py-$version.dist-info" ]; then
    python3 -m pip install -q --disable-pip-version-check --target "$tools/py" "componentize-py==$version"
fi
PYTHONPATH="$tools/py" "$tools/py/bin/componentize-py" -d wit -w xform-plugin componentize app -o {{name}}.wasm >/dev/null
echo "built $(pwd)/{{name}}.wasm"
