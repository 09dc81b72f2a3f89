//! Multi-head self-attention, with one fused `qkv` projection as in the paper's Eq. 5–8.

use burn::prelude::*;

use super::dense::Dense;
use crate::backend::attention::{attention_values, attention_weights};

#[derive(Module, Debug)]
pub struct Attention {
    /// hidden → 3 x hidden: queries, keys, values, each head-major.
    pub qkv: Dense,
    pub proj: Dense,
    pub num_heads: usize,
}

/// Which tokens a block computes outputs for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outputs {
    AllTokens,
    /// Only the class token (the first): all the last block needs to give.
    ClassToken,
}

impl Attention {
    /// `residual + MSA(x)` (the paper's Eq. 2), `[batch, tokens, hidden]` → `[batch, outputs,
    /// hidden]` (`residual` is narrowed to the outputs), and the attention weights
    /// `[batch, heads, outputs, tokens]` it made (dropped at once unless someone reads them).
    /// Every token is a key and a value either way.
    pub fn forward(&self, x: Tensor<3>, residual: Tensor<3>, outputs: Outputs) -> (Tensor<3>, Tensor<4>) {
        let [_, tokens, _] = x.dims();
        let queries = match outputs {
            Outputs::AllTokens => tokens,
            Outputs::ClassToken => 1,
        };
        let qkv = self.qkv.forward(x);
        let weights = attention_weights(qkv.clone(), self.num_heads, queries);
        let out = attention_values(weights.clone(), qkv, self.num_heads);
        let residual = residual.narrow(1, 0, queries);
        (self.proj.forward_add(out, residual), weights)
    }
}
