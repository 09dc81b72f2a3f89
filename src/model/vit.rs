//! The Vision Transformer: patch embedding, class token, learned position embeddings, a stack of
//! encoder blocks, a final LayerNorm, and a linear head on the class token (none for a backbone
//! made for fine-tuning: its output is then the class-token feature, as timm's with
//! `num_classes=0`).

use burn::module::Param;
use burn::nn::{LayerNorm, Linear};
use burn::prelude::*;

use super::attention::Outputs;
use super::block::Block;
use super::patch_embedding::PatchEmbedding;

#[derive(Module, Debug)]
pub struct VisionTransformer {
    pub patch_embed: PatchEmbedding,
    /// `[1, 1, hidden]`
    pub cls_token: Param<Tensor<3>>,
    /// `[1, 1 + patches, hidden]`, the class token's first.
    pub pos_embed: Param<Tensor<3>>,
    pub blocks: Vec<Block>,
    pub norm: LayerNorm,
    pub head: Option<Linear>,
}

impl VisionTransformer {
    /// The class token after the final norm; `attention` sees each block's attention weights
    /// `[batch, heads, queries, tokens]` as they are made (one block's at a time: a caller that
    /// keeps none holds none). The last block's output is
    /// read only at the class token, so unless `last` asks for all of them it is computed for
    /// that token alone: its attention for that one query, its projection and MLP for that one
    /// row (exactly; three quarters of the last block's work saved).
    fn encode(&self, images: Tensor<4>, attention: &mut dyn FnMut(Tensor<4>), last: Outputs) -> Tensor<2> {
        let patches = self.patch_embed.forward(images);
        let [batch, _, hidden] = patches.dims();
        let cls = self.cls_token.val().expand([batch, 1, hidden]);
        let mut x = Tensor::cat(vec![cls, patches], 1) + self.pos_embed.val();
        for (i, block) in self.blocks.iter().enumerate() {
            let outputs = if i + 1 == self.blocks.len() {
                last
            } else {
                Outputs::AllTokens
            };
            let (next, weights) = block.forward(x, outputs);
            x = next;
            attention(weights);
        }
        // Only the class token is normalised and read out.
        let cls = x.narrow(1, 0, 1).reshape([batch, hidden]);
        self.norm.forward(cls)
    }

    /// The class-token feature after the final norm: `[batch, channels, size, size]` →
    /// `[batch, hidden]`. Fine-tuning trains a new head on these.
    pub fn forward_features(&self, images: Tensor<4>) -> Tensor<2> {
        self.encode(images, &mut drop::<Tensor<4>>, Outputs::ClassToken)
    }

    /// Logits `[batch, labels]` (the features where there is no head).
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward_head(self.forward_features(images))
    }

    /// The head on class-token features.
    pub fn forward_head(&self, features: Tensor<2>) -> Tensor<2> {
        match &self.head {
            Some(head) => head.forward(features),
            None => features,
        }
    }

    /// The model on `device`, each encoder layer laid out for that backend's kernels.
    pub fn moved_to(self, device: &Device) -> Self {
        let mut model = self.to_device(device);
        model.patch_embed.proj = model.patch_embed.proj.relayout();
        model.blocks = model.blocks.into_iter().map(Block::relayout).collect();
        model
    }

    /// Logits, handing each block's attention weights `[batch, heads, tokens, tokens]` to
    /// `attention` in order as the pass makes them.
    pub fn forward_with_attention(&self, images: Tensor<4>, mut attention: impl FnMut(Tensor<4>)) -> Tensor<2> {
        self.forward_head(self.encode(images, &mut attention, Outputs::AllTokens))
    }

    /// As [`Self::forward_with_attention`], but the last block's weights only for the class
    /// token's query, `[batch, heads, 1, tokens]`: all that the attention rollout reads of them.
    pub fn forward_with_class_attention(&self, images: Tensor<4>, mut attention: impl FnMut(Tensor<4>)) -> Tensor<2> {
        self.forward_head(self.encode(images, &mut attention, Outputs::ClassToken))
    }
}
