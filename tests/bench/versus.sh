#!/usr/bin/env bash
# This project against onnxruntime-web on the same random-weight ViT-B/16, in one run on one
# machine: generates the model (or reuses it), exports it to ONNX, builds the page, times both in
# headless Chromium and prints one table with this/peer ratios (JSON in target/bench-versus.json),
# then the native reference: our library on flex and ndarray, and PyTorch on the CPU.
#   bash tests/bench/versus.sh [DIR]     # needs tests/fixtures/requirements.txt + onnx, onnxscript
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-target/vit-b16-random}
python=${PYTHON:-python3}
[ -f "$dir/model.safetensors" ] || "$python" tests/fixtures/generate.py --full "$dir"
[ -f "$dir/model.onnx" ] || "$python" tests/bench/export_onnx.py "$dir"
bash www/build.sh
node tests/bench/page.mjs "$dir" --backends flex,ndarray --threads 1,2 --runs 6 --json target/bench-ours.json
node tests/bench/peer.mjs "$dir" --threads 1,2 --runs 6 --json target/bench-peer.json
node -e '
const fs = require("fs");
const ours = JSON.parse(fs.readFileSync("target/bench-ours.json"));
const peer = JSON.parse(fs.readFileSync("target/bench-peer.json"));
// Memory: the peer runs in the page, measured whole; ours runs in a worker, which
// measureUserAgentSpecificMemory leaves out, so its wasm memory (the weights live there).
const rows = [
  ...peer.map((p) => ({ ...p, memory: `${p.page_memory_mb} MB (page)`, vs: p })),
  ...ours.map((o) => ({ ...o, runtime: `vit-wasm ${o.backend}`, memory: o.wasm_memory_after_load_mb ? `${o.wasm_memory_after_load_mb} MB (wasm)` : "(as flex)", vs: peer.find((p) => p.threads === o.threads) })),
];
const ratio = (a, b) => `${(a / b).toFixed(2)}x`;
console.log("| runtime | threads | load | first | warm median (5) | warm min | batch 8 | memory after load | median vs onnxruntime-web | batch 8 time vs onnxruntime-web |");
console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
for (const r of rows) {
  console.log(`| ${r.runtime} | ${r.threads} | ${r.load_ms ? `${(r.load_ms / 1000).toFixed(2)} s` : "(as flex)"} | ${Math.round(r.first_ms)} ms | ${Math.round(r.warm_median_ms)} ms | ${Math.round(r.warm_min_ms)} ms | ${r.batch8_images_per_s} img/s | ${r.memory} | ${ratio(r.warm_median_ms, r.vs.warm_median_ms)} | ${ratio(r.vs.batch8_images_per_s, r.batch8_images_per_s)} |`);
}
fs.writeFileSync("target/bench-versus.json", JSON.stringify({ ours, peer }, null, 2) + "\n");
'
echo "native, for reference (one forward each on flex and ndarray; PyTorch warm median of 5):"
VIT_FULL_MODEL="$dir" cargo test --release --locked --test full_size -- --ignored --nocapture 2>&1 | grep 'forward'
"$python" tests/bench/torch_native.py "$dir"
