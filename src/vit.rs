//! The Vision Transformer: patch embedding, class token, learned position embeddings, a stack of
//! encoder blocks, a final LayerNorm, and a linear head on the class token.

use burn::module::Param;
use burn::nn::{LayerNorm, Linear};
use burn::prelude::*;

use crate::block::Block;
use crate::patch_embedding::PatchEmbedding;

#[derive(Module, Debug)]
pub struct VisionTransformer {
    pub patch_embed: PatchEmbedding,
    /// `[1, 1, hidden]`
    pub cls_token: Param<Tensor<3>>,
    /// `[1, 1 + patches, hidden]`, the class token's first.
    pub pos_embed: Param<Tensor<3>>,
    pub blocks: Vec<Block>,
    pub norm: LayerNorm,
    pub head: Linear,
}

/// The output of [`VisionTransformer::forward_with_attention`].
pub struct ForwardOutput {
    /// `[batch, labels]`
    pub logits: Tensor<2>,
    /// One `[batch, heads, tokens, tokens]` tensor per block.
    pub attention: Vec<Tensor<4>>,
}

impl VisionTransformer {
    fn encode(&self, images: Tensor<4>, return_weights: bool) -> (Tensor<2>, Vec<Tensor<4>>) {
        let patches = self.patch_embed.forward(images);
        let [batch, _, hidden] = patches.dims();
        let cls = self.cls_token.val().expand([batch, 1, hidden]);
        let mut x = Tensor::cat(vec![cls, patches], 1) + self.pos_embed.val();
        let mut attention = Vec::new();
        for block in &self.blocks {
            let (next, weights) = block.forward(x, return_weights);
            x = next;
            attention.extend(weights);
        }
        // Only the class token is normalised and read out.
        let cls = x.narrow(1, 0, 1).reshape([batch, hidden]);
        (self.norm.forward(cls), attention)
    }

    /// The class-token feature after the final norm: `[batch, channels, size, size]` →
    /// `[batch, hidden]`. Fine-tuning trains a new head on these.
    pub fn forward_features(&self, images: Tensor<4>) -> Tensor<2> {
        self.encode(images, false).0
    }

    /// Logits `[batch, labels]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.forward_features(images))
    }

    /// Logits and every block's attention weights.
    pub fn forward_with_attention(&self, images: Tensor<4>) -> ForwardOutput {
        let (features, attention) = self.encode(images, true);
        ForwardOutput {
            logits: self.head.forward(features),
            attention,
        }
    }
}
