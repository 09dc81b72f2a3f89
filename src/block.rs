//! A pre-norm transformer encoder block (paper Eq. 2–3).

use burn::nn::LayerNorm;
use burn::prelude::*;

use crate::attention::{Attention, Outputs};
use crate::mlp::Mlp;

#[derive(Module, Debug)]
pub struct Block {
    pub norm1: LayerNorm,
    pub attn: Attention,
    pub norm2: LayerNorm,
    pub mlp: Mlp,
}

impl Block {
    /// The block with its dense layers laid out for the backend it is on now.
    pub fn relayout(self) -> Self {
        Self {
            attn: Attention {
                qkv: self.attn.qkv.relayout(),
                proj: self.attn.proj.relayout(),
                ..self.attn
            },
            mlp: Mlp {
                fc1: self.mlp.fc1.relayout(),
                fc2: self.mlp.fc2.relayout(),
            },
            ..self
        }
    }

    /// `[batch, tokens, hidden]` → `[batch, outputs, hidden]`, with the attention weights when
    /// asked for.
    pub fn forward(&self, x: Tensor<3>, outputs: Outputs, return_weights: bool) -> (Tensor<3>, Option<Tensor<4>>) {
        let (x, weights) = self
            .attn
            .forward(self.norm1.forward(x.clone()), x, outputs, return_weights);
        let x = self.mlp.forward(self.norm2.forward(x.clone()), x);
        (x, weights)
    }
}
