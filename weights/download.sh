#!/usr/bin/env bash
# Puts a hub model where the page's server looks for one (weights/NAME/), by `vit download`:
# the files go to the Hugging Face cache first (HF_HUB_CACHE or HF_HOME, shared with Python's
# libraries; a model already there is not downloaded again), then are copied here.
#
#   bash weights/download.sh [ORG/NAME]      (default google/vit-base-patch16-224)
#
# Needs the hub (HF_ENDPOINT for a mirror, HF_TOKEN for a gated model) unless the model is in the
# cache already. The copies are git-ignored.
set -euo pipefail
repo=${1:-google/vit-base-patch16-224}
cd "$(dirname "$0")/.."
cargo run --release --locked --bin vit -- download "$repo" --out "weights/${repo##*/}"
