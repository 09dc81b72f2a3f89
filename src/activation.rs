//! The model's exact GELU and its attention softmax. On Flex they are single passes of
//! straight-line f32 code that LLVM vectorizes (SIMD128 in wasm): Flex's own GELU calls libm's
//! scalar `erff` per element and its softmax a scalar `expf` per lane, which took 12% of a
//! ViT-B/16 forward pass in the browser (BENCHMARKS.md, "Where the time goes"). Every other
//! backend runs Burn's own ops, through a Burn backend extension.

#![allow(deprecated)] // `NdArray` is deprecated in favour of Flex, and still offered.

use burn::backend::flex::FlexTensor;
use burn::backend::ops::ActivationOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, NdArray, backend_extension};
use burn::prelude::*;
use burn::tensor::DType;

/// Exact (erf) GELU, element-wise.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as ModelActivations>::exact_gelu(x.into_dispatch()))
}

/// Softmax over the last dimension.
pub fn softmax_last<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as ModelActivations>::softmax_last(x.into_dispatch(), D - 1))
}

#[backend_extension(Cube: cfg(feature = "wgpu"), Flex, NdArray)]
pub trait ModelActivations: Backend {
    fn exact_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        <Self as ActivationOps<Self>>::gelu(x)
    }

    /// `last` is the tensor's last dimension.
    fn softmax_last(x: FloatTensor<Self>, last: usize) -> FloatTensor<Self> {
        <Self as ActivationOps<Self>>::softmax(x, last)
    }
}

#[cfg(feature = "wgpu")]
impl ModelActivations for burn::backend::Cube {}
impl ModelActivations for NdArray {}

impl ModelActivations for Flex {
    fn exact_gelu(x: FlexTensor) -> FlexTensor {
        if x.dtype() != DType::F32 {
            return <Flex as ActivationOps<Flex>>::gelu(x);
        }
        in_place(x, |values| values.iter_mut().for_each(|v| *v = gelu_f32(*v)))
    }

    fn softmax_last(x: FlexTensor, last: usize) -> FlexTensor {
        let row = x.layout().shape()[last];
        if x.dtype() != DType::F32 || row == 0 {
            return <Flex as ActivationOps<Flex>>::softmax(x, last);
        }
        in_place(x, |values| values.chunks_exact_mut(row).for_each(softmax_row))
    }
}

/// Runs `f` over the tensor's values in row-major order, in its own buffer when nothing else
/// shares it (a fresh matmul output), else in a copy.
fn in_place(x: FlexTensor, f: impl FnOnce(&mut [f32])) -> FlexTensor {
    let n = x.layout().num_elements();
    let mut x = if x.is_contiguous() && x.layout().start_offset() == 0 {
        x
    } else {
        x.to_contiguous()
    };
    f(&mut x.storage_mut::<f32>()[..n]);
    x
}

/// x·Φ(x), with the normal CDF Φ from erfc (Abramowitz & Stegun 7.1.26, |error| ≤ 1.5e-7).
/// Taking Φ from erfc keeps the negative side's small values where 1 + erf(x) would cancel to 0.
#[inline(always)]
fn gelu_f32(x: f32) -> f32 {
    let a = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = ((((1.061_405_4 * t - 1.453_152_1) * t + 1.421_413_8) * t - 0.284_496_74) * t + 0.254_829_6) * t;
    let half_erfc = 0.5 * poly * exp_f32(-a * a);
    x * if x >= 0.0 { 1.0 - half_erfc } else { half_erfc }
}

/// e^x to about 1 ulp for x in [-87, 88] (inputs are clamped there), as Cephes' `expf`:
/// x = n·ln 2 + r, e^r by a polynomial, 2^n put straight into the exponent bits. No branches
/// and no calls, so loops over it vectorize.
#[inline(always)]
fn exp_f32(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E).round_ties_even();
    // ln 2 in two parts, so that n·ln 2 is subtracted without rounding error.
    let r = x - n * (355.0 / 512.0) + n * 2.121_944_4e-4;
    let p = (((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 0.166_666_65)
        * r
        + 0.5)
        * (r * r)
        + r
        + 1.0;
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// Softmax of one row in place.
fn softmax_row(row: &mut [f32]) {
    let max = fold_lanes(row, f32::NEG_INFINITY, |a, b| if b > a { b } else { a });
    row.iter_mut().for_each(|v| *v = exp_f32(*v - max));
    let inv = 1.0 / fold_lanes(row, 0.0, |a, b| a + b);
    row.iter_mut().for_each(|v| *v *= inv);
}

/// A reduction over eight independent accumulators, so that it vectorizes: LLVM will not
/// reorder a single float accumulation by itself.
fn fold_lanes(values: &[f32], init: f32, f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut lanes = [init; 8];
    let chunks = values.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = f(*lane, v);
        }
    }
    lanes.into_iter().chain(tail.iter().copied()).fold(init, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulp_of_std() {
        for i in -87_000..=88_000 {
            let x = i as f32 / 1000.0;
            let (got, want) = (exp_f32(x), x.exp());
            assert!(
                ((got - want) / want).abs() <= 2.5e-7,
                "exp({x}) = {got}, std says {want}"
            );
        }
    }

    #[test]
    fn gelu_matches_the_erf_definition() {
        for i in -10_000..=10_000 {
            let x = i as f64 / 1000.0;
            let want = 0.5 * x * (1.0 + libm_erf(x / std::f64::consts::SQRT_2));
            let got = gelu_f32(x as f32) as f64;
            assert!(
                (got - want).abs() <= 3e-7 * x.abs().max(1.0),
                "gelu({x}) = {got}, want {want}"
            );
        }
    }

    /// erf by its Taylor series (|x| ≤ 3) or continued fraction for erfc, in f64: a reference
    /// independent of the approximation under test.
    fn libm_erf(x: f64) -> f64 {
        let a = x.abs();
        let e = if a < 3.0 {
            let (mut term, mut sum, mut k) = (a, a, 0.0);
            while term.abs() > 1e-17 * sum {
                k += 1.0;
                term *= -a * a / k;
                sum += term / (2.0 * k + 1.0);
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            let mut f = 0.0;
            for k in (1..60).rev() {
                f = k as f64 / 2.0 / (a + f);
            }
            1.0 - (-a * a).exp() / (a + f) / std::f64::consts::PI.sqrt()
        };
        e.copysign(x)
    }
}
