//! The Vision Transformer: patch embedding, class token, learned position embeddings, a stack of
//! encoder blocks, a final LayerNorm, and a linear head on the class token (none for a backbone
//! made for fine-tuning: its output is then the feature, as timm's with `num_classes=0`). With
//! the options of timm's `VisionTransformer` that its descendants use: register tokens, no class
//! token, position embeddings for the patches only, a norm before the blocks, the mean of the
//! patches with a norm after it (layer scale is folded into the weights by the loader).

use burn::module::Param;
use burn::nn::{LayerNorm, Linear};
use burn::prelude::*;

use super::attention::Outputs;
use super::block::Block;
use super::patch_embedding::PatchEmbedding;
use super::rollout::AttentionRollout;

/// A norm where the model has one, else the identity.
fn optional<const D: usize>(norm: &Option<LayerNorm>, x: Tensor<D>) -> Tensor<D> {
    match norm {
        Some(norm) => norm.forward(x),
        None => x,
    }
}

#[derive(Module, Debug)]
pub struct VisionTransformer {
    pub patch_embed: PatchEmbedding,
    /// `[1, 1, hidden]`, where the model has a class token.
    pub cls_token: Option<Param<Tensor<3>>>,
    /// `[1, registers, hidden]`, after the class token.
    pub reg_token: Option<Param<Tensor<3>>>,
    /// `[1, prefix + patches, hidden]`, or `[1, patches, hidden]` where it skips the prefix tokens.
    pub pos_embed: Param<Tensor<3>>,
    pub pos_embed_prefix: bool,
    pub norm_pre: Option<LayerNorm>,
    pub blocks: Vec<Block>,
    /// The final norm, on every token (none where `fc_norm` replaces it).
    pub norm: Option<LayerNorm>,
    /// The mean of the patch tokens instead of the class token.
    pub avg_pool: bool,
    /// A norm after pooling.
    pub fc_norm: Option<LayerNorm>,
    pub head: Option<Linear>,
}

impl VisionTransformer {
    /// Tokens before the patches: the class token and the register tokens.
    fn num_prefix_tokens(&self) -> usize {
        usize::from(self.cls_token.is_some()) + self.reg_token.as_ref().map_or(0, |r| r.dims()[1])
    }

    /// The pooled feature (timm's `forward_features` then `forward_head(pre_logits=True)`);
    /// `attention` sees each block's attention weights `[batch, heads, queries, tokens]` as they
    /// are made (one block's at a time: a caller that keeps none holds none). Read out at the
    /// class token, the last block is computed for that token alone unless `last` asks for all
    /// of them: its attention for that one query, its projection and MLP for that one row
    /// (exactly; three quarters of the last block's work saved).
    fn encode(&self, images: Tensor<4>, attention: &mut dyn FnMut(Tensor<4>), last: Outputs) -> Tensor<2> {
        let patches = self.patch_embed.forward(images);
        let [batch, _, hidden] = patches.dims();
        let mut prefix = Vec::new();
        if let Some(cls) = &self.cls_token {
            prefix.push(cls.val().expand([batch, 1, hidden]));
        }
        if let Some(reg) = &self.reg_token {
            prefix.push(reg.val().expand([batch, reg.dims()[1], hidden]));
        }
        let x = if self.pos_embed_prefix {
            Tensor::cat([prefix, vec![patches]].concat(), 1) + self.pos_embed.val()
        } else {
            Tensor::cat([prefix, vec![patches + self.pos_embed.val()]].concat(), 1)
        };
        let mut x = optional(&self.norm_pre, x);
        let last = if self.avg_pool { Outputs::AllTokens } else { last };
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
        let pooled = if self.avg_pool {
            let prefix = self.num_prefix_tokens();
            let tokens = x.dims()[1];
            optional(&self.norm, x)
                .narrow(1, prefix, tokens - prefix)
                .mean_dim(1)
                .reshape([batch, hidden])
        } else {
            // Only the class token is normalised and read out.
            optional(&self.norm, x.narrow(1, 0, 1).reshape([batch, hidden]))
        };
        optional(&self.fc_norm, pooled)
    }

    /// An attention rollout for this model's tokens.
    pub fn rollout(&self) -> AttentionRollout {
        AttentionRollout::new(self.num_prefix_tokens(), !self.avg_pool)
    }

    /// The pooled feature before the head (the class token after the final norm, in the paper;
    /// timm's `forward_head(forward_features(x), pre_logits=True)`, which this computes without
    /// timm's all-token intermediate): `[batch, channels, size, size]` → `[batch, hidden]`.
    /// Fine-tuning trains a new head on these.
    pub fn forward_pre_logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.encode(images, &mut drop::<Tensor<4>>, Outputs::ClassToken)
    }

    /// Logits `[batch, labels]` (the features where there is no head).
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.apply_head(self.forward_pre_logits(images))
    }

    /// The head alone, on pooled features (timm's `forward_head` also pools and normalises; here
    /// [`Self::forward_pre_logits`] does that).
    pub fn apply_head(&self, features: Tensor<2>) -> Tensor<2> {
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
        self.apply_head(self.encode(images, &mut attention, Outputs::AllTokens))
    }

    /// As [`Self::forward_with_attention`], but the last block's weights only for the class
    /// token's query, `[batch, heads, 1, tokens]`, where that is all the rollout reads of them.
    pub fn forward_with_class_attention(&self, images: Tensor<4>, mut attention: impl FnMut(Tensor<4>)) -> Tensor<2> {
        self.apply_head(self.encode(images, &mut attention, Outputs::ClassToken))
    }
}
