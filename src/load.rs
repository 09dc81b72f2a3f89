//! From files to a model: safetensors reading (whole or streamed), the one map from Hugging
//! Face's and timm's checkpoint names onto the paper's modules, their config files, ImageNet's
//! class names, head files, and position embeddings resampled for another input size.

pub mod checkpoint;
pub mod head;
pub mod hub_config;
pub mod imagenet;
pub mod pos_embed;
pub mod safetensors_file;
pub mod timm_names;

pub use checkpoint::{ModelFiles, load_vit, load_vit_from};
pub use head::Head;
pub use hub_config::{CONFIG_FILE, HubConfig, NamedBytes, PREPROCESSOR_FILE, WEIGHTS_FILE, WEIGHTS_INDEX_FILE};
