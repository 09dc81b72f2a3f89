//! Cuts the image into non-overlapping P x P patches and projects each to the hidden size:
//! a convolution whose kernel and stride are both the patch size.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;

#[derive(Module, Debug)]
pub struct PatchEmbedding {
    /// `[hidden, channels, patch, patch]`, PyTorch's Conv2d layout.
    pub weight: Param<Tensor<4>>,
    pub bias: Param<Tensor<1>>,
    pub patch_size: usize,
}

impl PatchEmbedding {
    /// `[batch, channels, height, width]` → `[batch, patches, hidden]`, patches in row-major order.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<3> {
        let p = self.patch_size;
        let options = ConvOptions::new([p, p], [0, 0], [1, 1], 1);
        let x = conv2d(images, self.weight.val(), Some(self.bias.val()), options);
        let [batch, hidden, gh, gw] = x.dims();
        x.reshape([batch, hidden, gh * gw]).swap_dims(1, 2)
    }
}
