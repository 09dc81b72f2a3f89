#!/usr/bin/env bash
# The whole test suite: native tests (model, loader, preprocessing, CLI), the same parity checks
# in headless Chromium on the CPU backends and on WebGPU, and the page end to end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tests/setup.sh

echo "== native tests"
cargo test --locked
# The CPU kernels' parallel loops, on a real pool (the browser's threaded build runs them so).
cargo test --locked --lib --features threads backend::

echo "== browser tests (wasm-bindgen-test, headless Chromium with WebGPU through SwiftShader)"
# The default 20 s per test binary is too short for debug-built Burn in a browser.
export WASM_BINDGEN_TEST_TIMEOUT=600
# Here WebGPU must be found: a missing adapter fails the WebGPU test instead of skipping it.
export REQUIRE_WEBGPU=1
# Without the CLI (the `cli` feature), as the page is built.
wasm-pack test --headless --chrome --mode no-install -- --no-default-features --features wgpu

bash www/build.sh
echo "== the page's JavaScript, type-checked from its JSDoc (against the wasm builds' declarations)"
npm run --silent typecheck

echo "== the page end to end (Playwright, headless Chromium: WebGPU and CPU)"
npm test
