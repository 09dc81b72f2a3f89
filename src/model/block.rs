//! A pre-norm transformer encoder block (paper Eq. 2–3).

use burn::nn::LayerNorm;
use burn::prelude::*;

use super::attention::{Attention, Outputs};
use super::mlp::Mlp;

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

    /// `[batch, tokens, hidden]` → `[batch, outputs, hidden]`, and the attention weights it made.
    pub fn forward(&self, x: Tensor<3>, outputs: Outputs) -> (Tensor<3>, Tensor<4>) {
        let (x, weights) = self.attn.forward(self.norm1.forward(x.clone()), x, outputs);
        let x = self.mlp.forward(self.norm2.forward(x.clone()), x);
        (x, weights)
    }
}
