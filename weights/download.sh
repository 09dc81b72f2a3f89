#!/usr/bin/env bash
# Downloads the real pretrained ViT-B/16 (google/vit-base-patch16-224: model.safetensors,
# config.json, preprocessor_config.json) into weights/vit-base-patch16-224/, where the page and
# the CLI look for it, and checks every file against the size and SHA-256 the hub announces.
#
#   bash weights/download.sh [OWNER/REPO]      (default google/vit-base-patch16-224)
#
# Needs network access to the Hugging Face hub (set HF_ENDPOINT for a mirror). The files are
# git-ignored.
set -euo pipefail
repo=${1:-google/vit-base-patch16-224}
endpoint=${HF_ENDPOINT:-https://huggingface.co}
dest="$(cd "$(dirname "$0")" && pwd)/${repo##*/}"
mkdir -p "$dest"

unreachable() {
  cat >&2 <<MSG
error: cannot download $1 from $endpoint/$repo.
  - Are you online? This script needs the Hugging Face hub (or a mirror in HF_ENDPOINT).
  - Behind a proxy, export HTTPS_PROXY. Offline, copy the three files by hand into
    $dest/
  - Without the real weights the page still works: drop any ViT .safetensors onto it.
MSG
  exit 1
}

for f in config.json preprocessor_config.json model.safetensors; do
  url="$endpoint/$repo/resolve/main/$f"
  # Large files are stored in LFS: the hub names their SHA-256 and size in these headers.
  headers=$(curl -fsSIL --retry 2 "$url") || unreachable "$f"
  sha=$(printf '%s' "$headers" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-linked-etag"{gsub(/"/,"",$2); print $2}' | tail -1)
  size=$(printf '%s' "$headers" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-linked-size"{print $2}' | tail -1)
  if [ -n "$sha" ] && [ -f "$dest/$f" ] && echo "$sha  $dest/$f" | sha256sum -c --status 2>/dev/null; then
    echo "$f: already here, checksum ok"
    continue
  fi
  echo "downloading $f${size:+ ($((size / 1000000)) MB)}"
  curl -fL --retry 3 --progress-bar -o "$dest/$f.part" "$url" || unreachable "$f"
  if [ -n "$size" ] && [ "$(stat -c %s "$dest/$f.part")" != "$size" ]; then
    echo "error: $f: expected $size bytes, got $(stat -c %s "$dest/$f.part"); try again" >&2
    exit 1
  fi
  if [ -n "$sha" ]; then
    echo "$sha  $dest/$f.part" | sha256sum -c --status || { echo "error: $f: SHA-256 mismatch (expected $sha); try again" >&2; exit 1; }
    echo "$f: checksum ok"
  fi
  mv "$dest/$f.part" "$dest/$f"
done
echo "done: $dest"
echo "try:  cargo run --release --bin vit -- classify --model $dest your-photo.jpg"
