#!/usr/bin/env bash
# Installs, when missing, everything building and testing needs: the wasm target, wasm-pack,
# the wasm-bindgen CLI at the lockfile's version, Chromium + chromedriver, Firefox ESR, and the
# Node packages.
# Idempotent and non-interactive; sourced by tests/run.sh and www/serve.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need_browser=${NEED_BROWSER:-1}

rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

# The threaded wasm build's nightly (pinned in www/build.sh), with the std sources it rebuilds.
nightly=$(sed -n 's/^NIGHTLY=\([^ ]*\).*/\1/p' www/build.sh)
rustup component list --toolchain "$nightly" --installed 2>/dev/null | grep -q '^rust-src' \
  && rustup target list --toolchain "$nightly" --installed | grep -qx wasm32-unknown-unknown \
  || rustup toolchain install "$nightly" --profile minimal --component rust-src --target wasm32-unknown-unknown

wasm-pack --version 2>/dev/null | grep -q ' 0.15.1$' || cargo install wasm-pack --version 0.15.1 --locked

# The CLI must match the wasm-bindgen crate in Cargo.lock exactly. Not --locked: its own
# lockfile pins a crate version the registry no longer serves.
wb=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock)
wasm-bindgen --version 2>/dev/null | grep -q " $wb$" || cargo install wasm-bindgen-cli --version "$wb"

if [ "$need_browser" = 1 ]; then
  # Chromium for most page tests; Firefox ESR for tests/e2e/firefox.test.mjs. One update for both.
  missing=()
  command -v chromedriver >/dev/null && command -v chromium >/dev/null || missing+=(chromium chromium-driver)
  [ -x /usr/bin/firefox-esr ] || missing+=(firefox-esr)
  if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${missing[@]}"
  fi
  # Every devDependency (the test driver, and the benchmarks' peers) installed, else a clean install.
  node -e 'for (const d in require("./package.json").devDependencies) require("fs").accessSync(`node_modules/${d}/package.json`)' 2>/dev/null \
    || npm ci --no-audit --no-fund
fi
