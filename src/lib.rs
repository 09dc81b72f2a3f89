//! ViT-B/16 on Burn, for the browser (WebGPU or CPU) and natively.
//!
//! Dependencies point one way: `backend` (devices and the CPU kernels) → `model` (the paper's
//! modules) → `load` (files to a model) → `classifier` (images to labels) → `train` (a new head
//! on frozen features) → the two faces, `wasm` (the page's worker) and `bin/vit.rs` (the CLI).
//! `data` (images and CIFAR-10) and `error` stand beside them, depending on nothing above.

pub mod backend;
pub mod classifier;
pub mod data;
pub mod error;
pub mod fingerprint;
pub mod load;
pub mod model;
pub mod train;

#[cfg(target_family = "wasm")]
pub mod wasm;
