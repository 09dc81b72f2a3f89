//! The shape of a ViT: what its modules are built for.

/// ViT-B/16 is `image_size` 224, `patch_size` 16, `hidden_size` 768, 12 layers of 12 heads, an
/// MLP of 3072, a class token read out after a final norm; the loader reads the shape of any
/// other off its weights, and the options of timm's variants off its tensors and config.
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
    /// Outputs of the model's own head; 0 for a backbone without one.
    pub num_labels: usize,
    /// A class token before the patches (the paper's; timm's `class_token`).
    pub class_token: bool,
    /// Register tokens after it (timm's `reg_tokens`, DINOv2 with registers).
    pub reg_tokens: usize,
    /// The position embeddings cover the class and register tokens too (timm's default; its
    /// `no_embed_class` adds them to the patches only).
    pub pos_embed_prefix: bool,
    /// A LayerNorm before the blocks (timm's `pre_norm`, CLIP's image towers).
    pub pre_norm: bool,
    pub pool: Pool,
    /// A LayerNorm after pooling instead of the final one before it (timm's `fc_norm`).
    pub fc_norm: bool,
}

/// How the tokens become one feature vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pool {
    /// The class token (the paper's).
    Token,
    /// The mean of the patch tokens (timm's `global_pool='avg'`).
    Avg,
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

    /// Tokens before the patches: the class token and the register tokens.
    pub fn num_prefix_tokens(&self) -> usize {
        usize::from(self.class_token) + self.reg_tokens
    }
}
