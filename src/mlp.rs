//! The transformer block's two-layer perceptron with exact (erf) GELU.

use crate::activation::gelu;
use burn::nn::Linear;
use burn::prelude::*;

#[derive(Module, Debug)]
pub struct Mlp {
    pub fc1: Linear,
    pub fc2: Linear,
}

impl Mlp {
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.fc2.forward(gelu(self.fc1.forward(x)))
    }
}
