//! A fully connected layer of the encoder (the patch embedding, the attention's projections, the
//! MLP's two layers): what Burn's `Linear` computes, with its weight laid out for the CPU kernel
//! that runs it, and GELU or a residual add fused in where the model asks for one. The
//! classification head stays a plain `Linear` (it is trained, and small).

use burn::module::Param;
use burn::prelude::*;

use crate::backend::dense::{dense, dense_add, dense_weight};

#[derive(Module, Debug)]
pub struct Dense {
    /// `[d_in, panels, panel]`: the `[d_in, d_out]` weight, its output columns in panels of the
    /// CPU kernel's width where that kernel runs (see `backend::dense`).
    pub weight: Param<Tensor<3>>,
    /// `[d_out]`
    pub bias: Param<Tensor<1>>,
}

impl Dense {
    /// From PyTorch's Linear: `weight [d_out, d_in]`, `bias [d_out]`.
    pub fn from_pytorch(weight: Tensor<2>, bias: Tensor<1>) -> Self {
        Self {
            weight: Param::from_tensor(dense_weight(weight)),
            bias: Param::from_tensor(bias),
        }
    }

    /// `[.., d_in]` → `[.., d_out]`
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        dense(x, self.weight.val(), self.bias.val(), false)
    }

    /// `residual + layer(x)`: the layer on a residual connection, the sum made as the outputs are.
    pub fn forward_add<const D: usize>(&self, x: Tensor<D>, residual: Tensor<D>) -> Tensor<D> {
        dense_add(x, self.weight.val(), self.bias.val(), residual)
    }

    /// The layer followed by the exact (erf) GELU.
    pub fn forward_gelu<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        dense(x, self.weight.val(), self.bias.val(), true)
    }

    /// The weight in PyTorch's layout, `[d_out, d_in]`.
    pub fn pytorch_weight(&self) -> Tensor<2> {
        let [d_in, panels, panel] = self.weight.dims();
        let [d_out] = self.bias.dims();
        self.weight
            .val()
            .reshape([d_in, panels * panel])
            .narrow(1, 0, d_out)
            .transpose()
    }

    /// The same layer laid out for the backend it is on now (after a move between backends).
    pub fn relayout(self) -> Self {
        let weight = self.pytorch_weight();
        Self::from_pytorch(weight, self.bias.val())
    }
}
