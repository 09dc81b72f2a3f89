#!/usr/bin/env bash
# This project against the in-browser CPU peers, onnxruntime-web and LiteRT.js, on the same
# random-weight ViT-B/16, in one run on one machine: generates the model (or reuses it), exports
# it to ONNX and TFLite, builds the page, times everything in headless Chromium and prints one
# table with this/peer ratios, headed by the CPU it ran on (JSON in target/bench-versus.json),
# then the native reference: our library on flex and ndarray, and PyTorch on the CPU.
#   bash tests/bench/versus.sh [DIR]
# PYTHON: tests/fixtures/requirements.txt + onnx, onnxscript (default python3);
# PYTHON_LITERT: torch 2.14 + litert-torch 0.10 (default .venv-litert/bin/python; see
# tests/bench/export_tflite.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-target/vit-b16-random}
python=${PYTHON:-python3}
python_litert=${PYTHON_LITERT:-.venv-litert/bin/python}
[ -f "$dir/model.safetensors" ] || "$python" tests/fixtures/generate.py --full "$dir"
[ -f "$dir/model.onnx" ] || "$python" tests/bench/export_onnx.py "$dir"
[ -f "$dir/model-b8.tflite" ] || "$python_litert" tests/bench/export_tflite.py "$dir"
bash www/build.sh
machine() {
  node -e 'const os = require("os"), fs = require("fs");
    const cpu = fs.readFileSync("/proc/cpuinfo", "utf8");
    const field = (k) => cpu.match(new RegExp(`^${k}\\s*: (.*)$`, "m"))?.[1];
    console.log(JSON.stringify({ model: field("model name"), mhz: Number(field("cpu MHz")), cores: os.cpus().length, load: os.loadavg() }));'
}
before=$(machine)
node tests/bench/page.mjs "$dir" --runs 6 --json target/bench-ours.json
node tests/bench/peer.mjs "$dir" --threads 1,2 --runs 6 --json target/bench-peer.json
after=$(machine)
node tests/bench/table.mjs target/bench-ours.json target/bench-peer.json "$before" "$after" > target/bench-versus.md
cat target/bench-versus.md
echo "native, for reference (one forward each on flex and ndarray; PyTorch warm median of 5):"
VIT_FULL_MODEL="$dir" cargo test --release --locked --test full_size -- --ignored --nocapture 2>&1 | grep 'forward'
"$python" tests/bench/torch_native.py "$dir"
