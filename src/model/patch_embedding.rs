//! Cuts the image into non-overlapping P x P patches, flattens each and projects it to the hidden
//! size (the paper's Eq. 1, `x_p E`): what timm's and Hugging Face's stride-P convolution
//! computes, done as the paper writes it, so that the projection runs on the dense kernels.

use burn::prelude::*;

use super::dense::Dense;

#[derive(Module, Debug)]
pub struct PatchEmbedding {
    /// `channels·patch·patch` → hidden, a flattened patch's values channel by channel, row by
    /// row (PyTorch's Conv2d weight `[hidden, channels, patch, patch]`, flattened).
    pub proj: Dense,
    pub patch_size: usize,
}

impl PatchEmbedding {
    /// `[batch, channels, height, width]` → `[batch, patches, hidden]`, patches in row-major order.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<3> {
        let [batch, channels, height, width] = images.dims();
        let p = self.patch_size;
        let (rows, cols) = (height / p, width / p);
        let patches = images
            .reshape([batch, channels, rows, p, cols, p])
            .permute([0, 2, 4, 1, 3, 5])
            .reshape([batch, rows * cols, channels * p * p]);
        self.proj.forward(patches)
    }
}
