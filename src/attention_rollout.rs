//! Attention rollout (Abnar & Zuidema, 2020): how much each patch flows into the class token
//! through every layer, the map the page overlays on the image.

use burn::prelude::*;

/// Per-block attention weights `[batch, heads, tokens, tokens]` → `[batch, patches]`.
///
/// Heads are averaged, the residual connection is accounted for as `0.5 A + 0.5 I`
/// (rows renormalised), and the layers are multiplied from the first to the last.
pub fn attention_rollout(attention: &[Tensor<4>]) -> Tensor<2> {
    let [batch, _, tokens, _] = attention[0].dims();
    let device = attention[0].device();
    let eye = Tensor::<2>::eye(tokens, &device)
        .unsqueeze::<3>()
        .expand([batch, tokens, tokens]);
    let mut rollout = eye.clone();
    for weights in attention {
        let a = (weights.clone().mean_dim(1).reshape([batch, tokens, tokens]) + eye.clone()).mul_scalar(0.5);
        let a = a.clone() / a.sum_dim(2);
        rollout = a.matmul(rollout);
    }
    rollout
        .narrow(1, 0, 1)
        .narrow(2, 1, tokens - 1)
        .reshape([batch, tokens - 1])
}
