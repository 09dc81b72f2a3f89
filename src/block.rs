//! A pre-norm transformer encoder block (paper Eq. 2–3).

use burn::nn::LayerNorm;
use burn::prelude::*;

use crate::attention::Attention;
use crate::mlp::Mlp;

#[derive(Module, Debug)]
pub struct Block {
    pub norm1: LayerNorm,
    pub attn: Attention,
    pub norm2: LayerNorm,
    pub mlp: Mlp,
}

impl Block {
    pub fn forward(&self, x: Tensor<3>, return_weights: bool) -> (Tensor<3>, Option<Tensor<4>>) {
        let (attended, weights) = self.attn.forward(self.norm1.forward(x.clone()), return_weights);
        let x = x + attended;
        let x = x.clone() + self.mlp.forward(self.norm2.forward(x));
        (x, weights)
    }
}
