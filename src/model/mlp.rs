//! The transformer block's two-layer perceptron with exact (erf) GELU.

use burn::prelude::*;

use super::dense::Dense;

#[derive(Module, Debug)]
pub struct Mlp {
    pub fc1: Dense,
    pub fc2: Dense,
}

impl Mlp {
    /// `residual + MLP(x)` (the paper's Eq. 3).
    pub fn forward(&self, x: Tensor<3>, residual: Tensor<3>) -> Tensor<3> {
        self.fc2.forward_add(self.fc1.forward_gelu(x), residual)
    }
}
