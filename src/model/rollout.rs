//! Attention rollout (Abnar & Zuidema, 2020): how much each patch flows into the class token
//! through every layer, the map the page overlays on the image.

use burn::prelude::*;

/// The rollout so far, fed one block's attention weights at a time as the forward pass makes
/// them. Each block's weights are reduced at once to one head-averaged matrix, so that a block's
/// `[batch, heads, tokens, tokens]` is never kept (for a batch of 8, twelve blocks' would be
/// 180 MB; their averages are 15 MB).
///
/// Heads are averaged, the residual connection is accounted for as `0.5 A + 0.5 I` (rows
/// renormalised), and the layers are multiplied from the first to the last. Only the class
/// token's row of that product is read, so it is computed from the last layer back: a
/// vector-matrix product per layer instead of a matrix product.
pub struct AttentionRollout {
    /// Each block's `0.5 A + 0.5 I`, `[batch, queries, tokens]`, in order.
    layers: Vec<Tensor<3>>,
    /// Class and register tokens before the patches.
    prefix: usize,
    /// Read at the class token; otherwise (mean pooling) the mean over the patch tokens (the last
    /// block then gives every query).
    class_token: bool,
}

impl AttentionRollout {
    pub fn new(prefix: usize, class_token: bool) -> Self {
        Self {
            layers: Vec::new(),
            prefix,
            class_token,
        }
    }

    /// The next block's attention weights, `[batch, heads, queries, tokens]`: every query, or
    /// (the last block) the class token's alone, the only row of it that the rollout reads.
    pub fn add(&mut self, weights: Tensor<4>) {
        let [batch, _, queries, tokens] = weights.dims();
        let eye = Tensor::<2>::eye(tokens, &weights.device())
            .narrow(0, 0, queries)
            .unsqueeze::<3>()
            .expand([batch, queries, tokens]);
        let a = (weights.mean_dim(1).reshape([batch, queries, tokens]) + eye).mul_scalar(0.5);
        self.layers.push(a.clone() / a.sum_dim(2));
    }

    /// `[batch, patches]`: the class token's row (or the patches' mean row), at the patches.
    pub fn finish(mut self) -> Tensor<2> {
        let last = self.layers.pop().expect("a ViT has at least one block");
        let [batch, _, tokens] = last.dims();
        // Without a class token the feature is the mean of the patch tokens: their rows' mean.
        let start = if self.class_token {
            last.narrow(1, 0, 1)
        } else {
            last.narrow(1, self.prefix, tokens - self.prefix).mean_dim(1)
        };
        let row = self.layers.into_iter().rev().fold(start, |row, a| row.matmul(a));
        let patches = tokens - self.prefix;
        row.narrow(2, self.prefix, patches).reshape([batch, patches])
    }
}
