#!/usr/bin/env bash
# Builds the wasm package the page loads: release, SIMD128 (see .cargo/config.toml), into www/pkg.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
wasm-pack build --release --target web --out-dir www/pkg --no-pack --mode no-install
