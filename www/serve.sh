#!/usr/bin/env bash
# Builds the wasm (release, SIMD128) into www/pkg and serves the page on http://127.0.0.1:8080/.
#   bash www/serve.sh [--port N]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
NEED_BROWSER=0 bash tests/setup.sh
bash www/build.sh
exec node www/serve.mjs --root . "$@"
