//! ViT-B/16 on Burn, for the browser (WebGPU or CPU) and natively.

pub mod attention;
pub mod attention_rollout;
pub mod backend;
pub mod block;
pub mod checkpoint;
pub mod cifar;
pub mod classifier;
pub mod config;
pub mod dense;
pub mod error;
pub mod head_file;
pub mod head_training;
pub mod imagenet;
pub mod mlp;
pub mod patch_embedding;
pub mod preprocess;
pub mod resize;
pub mod safetensors_file;
pub mod vit;

#[cfg(target_family = "wasm")]
pub mod wasm;
