//! ViT-B/16 on Burn, for the browser (WebGPU or CPU) and natively.
//!
//! Dependencies point one way, each module using only those before it: `error` and
//! `fingerprint` (leaves) → `data` (images, CIFAR-10, a person's pictures) → `backend` (devices
//! and the CPU kernels) → `model` (the paper's modules) → `load` (files to a model) →
//! `classifier` (images to labels) → `train` (a new head on frozen features) → `session` (a
//! model as an application uses it) → the two faces, `wasm` (the page's worker: conversions
//! only) and `bin/vit.rs` (the CLI). `tests/layering.rs` holds the code to this.

pub mod backend;
pub mod classifier;
pub mod data;
pub mod error;
pub mod fingerprint;
pub mod load;
pub mod model;
pub mod session;
pub mod train;

#[cfg(target_family = "wasm")]
pub mod wasm;
