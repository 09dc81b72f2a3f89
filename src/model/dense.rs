//! A fully connected layer of the encoder (the patch embedding, the attention's projections, the
//! MLP's two layers): what Burn's `Linear` computes, with its weight laid out for the CPU kernel
//! that runs it, and GELU or a residual add fused in where the model asks for one. The
//! classification head stays a plain `Linear` (it is trained, and small), made from PyTorch's
//! layout by [`linear_from_pytorch`].

use burn::module::Param;
use burn::nn::Linear;
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

/// A Linear from PyTorch's layout (`weight [out, in]`, `bias [out]`) to Burn's (`[in, out]`).
pub fn linear_from_pytorch(weight: &[f32], bias: &[f32], d_in: usize, device: &Device) -> Linear {
    let d_out = bias.len();
    let transposed = transpose(weight, d_out, d_in);
    Linear {
        weight: Param::from_tensor(Tensor::from_data(TensorData::new(transposed, [d_in, d_out]), device)),
        bias: Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(bias.to_vec(), [d_out]),
            device,
        ))),
    }
}

/// A row-major `[rows, cols]` matrix transposed, tile by tile so that reads and writes both stay in
/// cache: column by column, ViT-B/16's weights took 0.34 s of a load in the browser.
fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    const TILE: usize = 32;
    let mut out = vec![0.0; m.len()];
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                for c in c0..(c0 + TILE).min(cols) {
                    out[c * rows + r] = m[r * cols + c];
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_swaps_rows_and_columns_across_tiles() {
        let (rows, cols) = (37, 70);
        let m: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
        let t = transpose(&m, rows, cols);
        for r in 0..rows {
            for c in 0..cols {
                assert_eq!(t[c * rows + r], m[r * cols + c]);
            }
        }
    }
}
