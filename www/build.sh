#!/usr/bin/env bash
# Builds the wasm packages the page loads, release, SIMD128 (see .cargo/config.toml):
#   www/pkg          every backend (WebGPU, flex, ndarray), one thread;
#   www/pkg-threads  flex on a pool of Web Workers, for a cross-origin-isolated page. Wasm
#                    threads need std rebuilt with atomics: a pinned nightly with -Z build-std,
#                    in its own target dir so they do not evict the single-threaded build;
# and each again as `-relaxed` (www/pkg-relaxed, www/pkg-threads-relaxed), with relaxed SIMD's
# fused multiply-add in the CPU kernels, for the browsers that have it (the page checks). The
# feature changes only this crate, so a relaxed build recompiles nothing else.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
NIGHTLY=nightly-2026-05-20  # tests/setup.sh installs this one, with rust-src
for features in wgpu wgpu,relaxed-simd; do
  out=www/pkg$([ "$features" = wgpu ] || echo -relaxed)
  wasm-pack build --release --target web --out-dir "$out" --no-pack --mode no-install --no-default-features --features "$features"
done

# RUSTFLAGS replaces .cargo/config.toml's flags, so SIMD128 and -disable-lsr are named again. The
# linker makes the memory shared (and imported, as wasm-bindgen wants) only when asked, with a
# declared maximum (all of wasm32's 4 GiB), and exports the thread-local storage hooks
# wasm-bindgen calls.
link="--shared-memory --import-memory --max-memory=4294967296 --export=__wasm_init_tls --export=__tls_size --export=__tls_align --export=__tls_base"
export RUSTFLAGS="-C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128 -C llvm-args=-disable-lsr $(printf -- ' -C link-arg=%s' $link)"
export CARGO_TARGET_DIR=target/threads CARGO_UNSTABLE_BUILD_STD=panic_abort,std
for features in threads threads,relaxed-simd; do
  out=www/pkg-threads$([ "$features" = threads ] || echo -relaxed)
  rustup run "$NIGHTLY" wasm-pack build --release --target web --out-dir "$out" --no-pack --mode no-install \
    --no-default-features --features "$features"
done

# The page for a static host, in one folder (README: "Publish it").
node www/publish.mjs
