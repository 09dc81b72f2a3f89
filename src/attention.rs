//! Multi-head self-attention, with one fused `qkv` projection as in the paper's Eq. 5–8.

use crate::activation::softmax_last;
use burn::nn::Linear;
use burn::prelude::*;

#[derive(Module, Debug)]
pub struct Attention {
    /// hidden → 3 x hidden: queries, keys, values, each head-major.
    pub qkv: Linear,
    pub proj: Linear,
    pub num_heads: usize,
}

impl Attention {
    /// `[batch, tokens, hidden]` → the same shape, plus the attention weights
    /// `[batch, heads, tokens, tokens]` when asked for (the page draws them).
    pub fn forward(&self, x: Tensor<3>, return_weights: bool) -> (Tensor<3>, Option<Tensor<4>>) {
        let [batch, tokens, hidden] = x.dims();
        let heads = self.num_heads;
        let head_dim = hidden / heads;

        // [batch, tokens, 3, heads, head_dim] → [3, batch, heads, tokens, head_dim]
        let qkv = self
            .qkv
            .forward(x)
            .reshape([batch, tokens, 3, heads, head_dim])
            .permute([2, 0, 3, 1, 4]);
        let [q, k, v] = [0, 1, 2].map(|i| qkv.clone().narrow(0, i, 1).reshape([batch, heads, tokens, head_dim]));

        let scale = (head_dim as f64).powf(-0.5);
        let weights = softmax_last(q.mul_scalar(scale).matmul(k.swap_dims(2, 3)));
        let out = weights
            .clone()
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([batch, tokens, hidden]);
        (self.proj.forward(out), return_weights.then_some(weights))
    }
}
