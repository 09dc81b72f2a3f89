#!/usr/bin/env bash
# This project against onnxruntime-web on the same random-weight ViT-B/16, in one run on one
# machine: generates the model (or reuses it), exports it to ONNX, builds the page, times both in
# headless Chromium and prints one table with this/peer ratios (JSON in target/bench-versus.json).
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
const rows = [
  ...peer.map((p) => ({ runtime: p.runtime, threads: p.threads, first: p.first_ms, median: p.warm_median_ms, min: p.warm_min_ms, memory: `${p.page_memory_mb} MB (page)`, vs: p })),
  ...ours.map((o) => ({ runtime: `vit-wasm ${o.backend}`, threads: o.threads, first: o.first_ms, median: o.warm_median_ms, min: o.warm_min_ms, memory: `${o.wasm_memory_after_load_mb} MB (wasm)`, vs: peer.find((p) => p.threads === o.threads) })),
];
console.log("| runtime | threads | first | warm median | warm min | memory after load | median vs onnxruntime-web at the same threads |");
console.log("| --- | --- | --- | --- | --- | --- | --- |");
for (const r of rows) console.log(`| ${r.runtime} | ${r.threads} | ${r.first} ms | ${r.median} ms | ${r.min} ms | ${r.memory} | ${(r.median / r.vs.warm_median_ms).toFixed(2)}x |`);
fs.writeFileSync("target/bench-versus.json", JSON.stringify({ ours, peer }, null, 2) + "\n");
'
