//! The shape of a ViT: what its modules are built for.

/// ViT-B/16 is `image_size` 224, `patch_size` 16, `hidden_size` 768, 12 layers of 12 heads, an
/// MLP of 3072; the loader reads the shape of any other off its weights.
#[derive(Debug, Clone, PartialEq)]
pub struct ViTConfig {
    pub image_size: usize,
    pub patch_size: usize,
    pub num_channels: usize,
    pub hidden_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub mlp_size: usize,
    pub layer_norm_eps: f64,
    /// Outputs of the model's own head.
    pub num_labels: usize,
}

impl ViTConfig {
    pub fn grid_size(&self) -> usize {
        self.image_size / self.patch_size
    }

    pub fn num_patches(&self) -> usize {
        self.grid_size() * self.grid_size()
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_heads
    }
}
