//! The core of multi-head self-attention, through a Burn backend extension, in two ops: the
//! attention weights `softmax(q·kᵀ/√d)` of every head, and their weighted sums of the values,
//! both straight from the fused `qkv` projection.
//!
//! On Flex in the browser both run on the tile kernels of [`super::gemm`], one head at a time
//! (heads shared out among the pool's threads), reading queries, keys and values where the
//! projection wrote them and writing each head's output into its columns of the result: no
//! permuted copies of `qkv`, no separate scaling pass. Elsewhere Burn's own ops do it.

#![allow(deprecated)] // `NdArray` is deprecated in favour of Flex, and still offered.

use burn::backend::flex::FlexTensor;
use burn::backend::ops::ActivationOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, NdArray, TensorMetadata, backend_extension};
use burn::prelude::*;
use burn::tensor::{DType, Scalar, Slice};

use super::activation::{softmax_in_place, softmax_row};
use super::flex::{filled, values};
use super::gemm::{self, Epilogue, Matrix, Packed, Shared};
use super::pool::{for_each_index, threads};

/// The attention weights `[batch, heads, queries, tokens]` of the first `queries` tokens from
/// `qkv [batch, tokens, 3·hidden]` (queries, keys, values, each `heads` head-major slices of
/// `hidden`).
pub fn attention_weights(qkv: Tensor<3>, heads: usize, queries: usize) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as AttentionOps>::attention_weights(
        qkv.into_dispatch(),
        heads,
        queries,
    ))
}

/// Each head's weighted sum of its values, `[batch, queries, hidden]`, the heads side by side.
pub fn attention_values(weights: Tensor<4>, qkv: Tensor<3>, heads: usize) -> Tensor<3> {
    Tensor::from_dispatch(<Dispatch as AttentionOps>::attention_values(
        weights.into_dispatch(),
        qkv.into_dispatch(),
        heads,
    ))
}

#[backend_extension(Cube: cfg(feature = "wgpu"), Flex, NdArray)]
pub trait AttentionOps: Backend {
    fn attention_weights(qkv: FloatTensor<Self>, heads: usize, queries: usize) -> FloatTensor<Self> {
        Self::softmax(scores::<Self>(qkv, heads, queries), 3)
    }

    /// `weights` is `[batch, heads, queries, tokens]`.
    fn attention_values(weights: FloatTensor<Self>, qkv: FloatTensor<Self>, heads: usize) -> FloatTensor<Self> {
        weighted_values::<Self>(weights, qkv, heads)
    }
}

/// `q·kᵀ/√d` for the first `queries` tokens, `[batch, heads, queries, tokens]`, by Burn's ops.
fn scores<B: Backend>(qkv: FloatTensor<B>, heads: usize, queries: usize) -> FloatTensor<B> {
    let [q, k, _] = split::<B>(qkv, heads);
    let head_dim = q.shape()[3];
    let mut first = [Slice::from(..); 4];
    first[2] = Slice::new(0, Some(queries as isize), 1);
    let q = B::float_mul_scalar(B::float_slice(q, &first), Scalar::Float((head_dim as f64).powf(-0.5)));
    B::float_matmul(q, B::float_swap_dims(k, 2, 3))
}

/// The weights' sums of the values, `[batch, queries, hidden]`, by Burn's ops.
fn weighted_values<B: Backend>(weights: FloatTensor<B>, qkv: FloatTensor<B>, heads: usize) -> FloatTensor<B> {
    let [batch, _, queries, _] = weights.shape().dims();
    let width = qkv.shape()[2];
    let [_, _, v] = split::<B>(qkv, heads);
    let out = B::float_swap_dims(B::float_matmul(weights, v), 1, 2);
    B::float_reshape(out, Shape::new([batch, queries, width / 3]))
}

/// `qkv [batch, tokens, 3·heads·d]` → queries, keys and values, each `[batch, heads, tokens, d]`.
fn split<B: Backend>(qkv: FloatTensor<B>, heads: usize) -> [FloatTensor<B>; 3] {
    let [batch, tokens, width] = qkv.shape().dims();
    let d = width / 3 / heads;
    let qkv = B::float_reshape(qkv, Shape::new([batch, tokens, 3, heads, d]));
    let qkv = B::float_permute(qkv, &[2, 0, 3, 1, 4]);
    [0isize, 1, 2].map(|i| {
        let mut parts = [Slice::from(..); 5];
        parts[0] = Slice::new(i, Some(i + 1), 1);
        B::float_reshape(
            B::float_slice(qkv.clone(), &parts),
            Shape::new([batch, heads, tokens, d]),
        )
    })
}

#[cfg(feature = "wgpu")]
impl AttentionOps for burn::backend::Cube {}
impl AttentionOps for NdArray {}

impl AttentionOps for Flex {
    fn attention_weights(qkv: FlexTensor, heads: usize, queries: usize) -> FlexTensor {
        let fused = Fused::of(&qkv, heads).filter(|f| queries <= f.tokens);
        let Some(fused) = fused else {
            let scores = scores::<Flex>(qkv, heads, queries);
            return if scores.dtype() == DType::F32 {
                softmax_in_place(scores)
            } else {
                Flex::softmax(scores, 3)
            };
        };
        let Fused {
            batch,
            tokens,
            heads,
            d,
        } = fused;
        let qkv = qkv.to_contiguous();
        let scale = (d as f32).powf(-0.5);
        let kernel = gemm::kernel();
        let zeros = vec![0.0; tokens];
        let values = values(&qkv);
        let per_head = queries * tokens;
        let head = |bh: usize, scores: *mut f32| {
            let (b, h) = (bh / heads, bh % heads);
            // Scores = q·kᵀ: the keys, one row per token, are the "weights" of this product.
            let keys = gemm::pack_from_outputs(fused.part(values, b, 1, h), kernel.panel);
            let w = Packed {
                kernel,
                values: &keys,
                d_in: d,
                bias: &zeros,
            };
            let queries = Matrix {
                rows: queries,
                ..fused.part(values, b, 0, h)
            };
            // SAFETY: `scores` holds this head's `queries` rows of `tokens`, which the product
            // writes whole before the softmax reads them.
            unsafe {
                gemm::dense_raw(queries, &w, Epilogue::None, scores, tokens, 1);
                let scores = std::slice::from_raw_parts_mut(scores, per_head);
                scores.chunks_exact_mut(tokens).for_each(|row| softmax_row(row, scale));
            }
        };
        // SAFETY: every head fills its own `queries·tokens` values.
        unsafe {
            filled(Shape::new([batch, heads, queries, tokens]), |all| {
                let all = Shared(all);
                for_each_index(batch * heads, threads(), |bh| head(bh, all.at(bh * per_head)));
            })
        }
    }

    fn attention_values(weights: FlexTensor, qkv: FlexTensor, heads: usize) -> FlexTensor {
        let fused = Fused::of(&qkv, heads);
        // The weights must be this qkv's: `[batch, heads, queries ≤ tokens, tokens]`.
        let fits = |f: &Fused| match weights.layout().shape().to_vec()[..] {
            [b, h, q, t] => b == f.batch && h == f.heads && q <= f.tokens && t == f.tokens,
            _ => false,
        };
        let (Some(fused), DType::F32) = (fused.filter(fits), weights.dtype()) else {
            return weighted_values::<Flex>(weights, qkv, heads);
        };
        let Fused {
            batch,
            tokens,
            heads,
            d,
        } = fused;
        let (qkv, weights) = (qkv.to_contiguous(), weights.to_contiguous());
        let queries = weights.layout().shape()[2];
        let hidden = heads * d;
        let kernel = gemm::kernel();
        let zeros = vec![0.0; d];
        let all_weights = values(&weights);
        let values = values(&qkv);
        let head = |bh: usize, out: &Shared| {
            let (b, h) = (bh / heads, bh % heads);
            // Values, one row per token, are the "weights" of this product.
            let packed = gemm::pack_from_inputs(fused.part(values, b, 2, h), kernel.panel);
            let w = Packed {
                kernel,
                values: &packed,
                d_in: tokens,
                bias: &zeros,
            };
            let x = Matrix::new(&all_weights[bh * queries * tokens..][..queries * tokens], tokens);
            // SAFETY: `out` holds `queries` rows of `hidden` per image; head (b, h) writes
            // columns h·d..(h + 1)·d of image b's rows, and no other head does.
            unsafe { gemm::dense_raw(x, &w, Epilogue::None, out.at(b * queries * hidden + h * d), hidden, 1) };
        };
        // SAFETY: the heads side by side fill every row.
        unsafe {
            filled(Shape::new([batch, queries, hidden]), |out| {
                let out = Shared(out);
                for_each_index(batch * heads, threads(), |bh| head(bh, &out));
            })
        }
    }
}

/// The shape of an f32 `qkv` the kernels take.
#[derive(Clone, Copy)]
struct Fused {
    batch: usize,
    tokens: usize,
    heads: usize,
    d: usize,
}

impl Fused {
    fn of(qkv: &FlexTensor, heads: usize) -> Option<Self> {
        let [batch, tokens, width] = qkv.layout().shape().to_vec()[..] else {
            return None;
        };
        let usable = gemm::enabled()
            && qkv.dtype() == DType::F32
            && heads > 0
            && width % (3 * heads) == 0
            && width > 0
            && tokens > 0;
        usable.then_some(Self {
            batch,
            tokens,
            heads,
            d: width / 3 / heads,
        })
    }

    /// Queries (0), keys (1) or values (2) of head `h` of image `b`: `tokens` rows of `d`.
    fn part<'a>(&self, values: &'a [f32], b: usize, which: usize, h: usize) -> Matrix<'a> {
        let width = 3 * self.heads * self.d;
        let start = b * self.tokens * width + which * self.heads * self.d + h * self.d;
        Matrix {
            values: &values[start..],
            rows: self.tokens,
            cols: self.d,
            stride: width,
        }
    }
}
