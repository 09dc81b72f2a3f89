//! Attention rollout (Abnar & Zuidema, 2020): how much each patch flows into the class token
//! through every layer, the map the page overlays on the image.

use burn::prelude::*;

/// The rollout so far, fed one block's attention weights at a time as the forward pass makes
/// them, so that no more than one block's `[batch, heads, tokens, tokens]` is ever alive (for a
/// batch of 8, all twelve would be 180 MB).
///
/// Heads are averaged, the residual connection is accounted for as `0.5 A + 0.5 I` (rows
/// renormalised), and the layers are multiplied from the first to the last.
#[derive(Default)]
pub struct AttentionRollout {
    /// `[batch, tokens, tokens]`; `None` before the first block.
    product: Option<Tensor<3>>,
}

impl AttentionRollout {
    /// The next block's attention weights, `[batch, heads, tokens, tokens]`.
    pub fn add(&mut self, weights: Tensor<4>) {
        let [batch, _, tokens, _] = weights.dims();
        let eye = Tensor::<2>::eye(tokens, &weights.device())
            .unsqueeze::<3>()
            .expand([batch, tokens, tokens]);
        let a = (weights.mean_dim(1).reshape([batch, tokens, tokens]) + eye).mul_scalar(0.5);
        let a = a.clone() / a.sum_dim(2);
        self.product = Some(match self.product.take() {
            None => a,
            Some(product) => a.matmul(product),
        });
    }

    /// `[batch, patches]`: the class token's row, without itself.
    pub fn finish(self) -> Tensor<2> {
        let product = self.product.expect("a ViT has at least one block");
        let [batch, tokens, _] = product.dims();
        product
            .narrow(1, 0, 1)
            .narrow(2, 1, tokens - 1)
            .reshape([batch, tokens - 1])
    }
}
