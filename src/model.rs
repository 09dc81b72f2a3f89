//! The Vision Transformer as the paper draws it (Dosovitskiy et al. 2021): patch embedding,
//! class token and position embeddings, pre-norm encoder blocks, a final norm and a linear head;
//! and the attention rollout read off it. It knows nothing of files, labels or browsers: the
//! loader fills it, the classifier runs it.

pub mod attention;
pub mod block;
pub mod config;
pub mod dense;
pub mod mlp;
pub mod patch_embedding;
pub mod rollout;
pub mod vit;

pub use attention::Outputs;
pub use config::{Pool, ViTConfig};
pub use rollout::AttentionRollout;
pub use vit::VisionTransformer;
