//! The model's exact GELU and its attention softmax, as Flex runs them: single passes of
//! straight-line f32 code, four lanes at a time (SIMD128 in wasm, see [`super::lanes`]). Flex's own GELU calls libm's
//! scalar `erff` per element and its softmax a scalar `expf` per lane, which took 12% of a
//! ViT-B/16 forward pass in the browser (BENCHMARKS.md, "Where the time goes"). The dense and
//! attention ops ([`super::dense`], [`super::attention`]) call them; other backends run Burn's.

use burn::backend::flex::FlexTensor;

use super::lanes::{F4, Lanes, fold, map_in_place};

/// Exact GELU over an f32 tensor.
pub(crate) fn gelu_in_place(x: FlexTensor) -> FlexTensor {
    // A closure: a function with a target feature is not an `Fn`.
    #[allow(clippy::redundant_closure)]
    in_place(x, |values| gelu_slice(values))
}

/// Softmax over the last dimension of an f32 tensor.
pub(crate) fn softmax_in_place(x: FlexTensor) -> FlexTensor {
    let row = x.layout().shape()[x.layout().num_dims() - 1].max(1);
    in_place(x, |values| {
        values.chunks_exact_mut(row).for_each(|r| softmax_row(r, 1.0))
    })
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

/// Exact GELU in place.
#[cfg_attr(
    all(target_arch = "wasm32", feature = "relaxed-simd"),
    target_feature(enable = "relaxed-simd")
)]
pub(crate) fn gelu_slice(values: &mut [f32]) {
    map_in_place(values, gelu, gelu);
}

/// x·Φ(x), with the normal CDF Φ from erfc (Abramowitz & Stegun 7.1.26, |error| ≤ 1.5e-7).
/// Taking Φ from erfc keeps the negative side's small values where 1 + erf(x) would cancel to 0.
/// (7.1.28, which needs no exponential, is twice as fast but its 16th power loses 1e-6 in f32.)
#[inline(always)]
fn gelu<T: Lanes>(x: T) -> T {
    let c = T::splat;
    let a = x.abs() * c(std::f32::consts::FRAC_1_SQRT_2);
    let t = c(1.0) / c(0.327_591_1).mul_add(a, c(1.0));
    let poly = c(1.061_405_4)
        .mul_add(t, c(-1.453_152_1))
        .mul_add(t, c(1.421_413_8))
        .mul_add(t, c(-0.284_496_74))
        .mul_add(t, c(0.254_829_6))
        * t;
    let half_erfc = c(0.5) * poly * exp(c(0.0) - a * a);
    x * x.if_nonneg(c(1.0) - half_erfc, half_erfc)
}

/// e^x to about 1 ulp for x in [-87, 88] (inputs are clamped there), as Cephes' `expf`:
/// x = n·ln 2 + r, e^r by a polynomial, 2^n put straight into the exponent bits. No branches
/// and no calls.
#[inline(always)]
fn exp<T: Lanes>(x: T) -> T {
    let c = T::splat;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * c(std::f32::consts::LOG2_E)).round_even();
    // ln 2 in two parts, so that n·ln 2 is subtracted without rounding error.
    let r = n.mul_add(c(-355.0 / 512.0), x);
    let r = n.mul_add(c(2.121_944_4e-4), r);
    let p = c(1.987_569_1e-4)
        .mul_add(r, c(1.398_199_9e-3))
        .mul_add(r, c(8.333_452e-3))
        .mul_add(r, c(4.166_579_6e-2))
        .mul_add(r, c(0.166_666_65))
        .mul_add(r, c(0.5))
        .mul_add(r * r, r + c(1.0));
    p * n.exp2_int()
}

/// Softmax of `scale` times one row, in place (`scale` > 0).
#[cfg_attr(
    all(target_arch = "wasm32", feature = "relaxed-simd"),
    target_feature(enable = "relaxed-simd")
)]
pub(crate) fn softmax_row(row: &mut [f32], scale: f32) {
    let max = fold(row, f32::NEG_INFINITY, F4::max, |a, b| if b > a { b } else { a });
    let (max4, scale4) = (F4::splat(max), F4::splat(scale));
    map_in_place(row, |v| exp((v - max4) * scale4), |v| exp((v - max) * scale));
    let inv = 1.0 / fold(row, 0.0, |a, b| a + b, |a, b| a + b);
    let inv4 = F4::splat(inv);
    map_in_place(row, |v| v * inv4, |v| v * inv);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulp_of_std() {
        for i in -87_000..=88_000 {
            let x = i as f32 / 1000.0;
            let (got, want) = (exp(x), x.exp());
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
            let got = gelu(x as f32) as f64;
            assert!(
                (got - want).abs() <= 3e-7 * x.abs().max(1.0),
                "gelu({x}) = {got}, want {want}"
            );
        }
    }

    #[test]
    fn four_lanes_compute_what_one_does() {
        let xs: Vec<f32> = (-4000..4000)
            .map(|i| i as f32 / 400.0)
            .chain([f32::NAN, -0.0, 90.0, -90.0])
            .collect();
        let (mut gelus, mut exps) = (xs.clone(), xs.clone());
        map_in_place(&mut gelus, gelu, |_| unreachable!("a multiple of four"));
        map_in_place(&mut exps, exp, |_| unreachable!("a multiple of four"));
        for ((x, g), e) in xs.iter().zip(gelus).zip(exps) {
            assert_eq!(g.to_bits(), gelu(*x).to_bits(), "gelu({x})");
            assert_eq!(e.to_bits(), exp(*x).to_bits(), "exp({x})");
        }
    }

    #[test]
    fn softmax_rows_sum_to_one_and_keep_their_order() {
        let mut row: Vec<f32> = (0..11).map(|i| i as f32 * 0.7 - 3.0).collect();
        softmax_row(&mut row, 2.0);
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(row.windows(2).all(|w| w[0] < w[1]));
        let want = (2.0f32 * 0.7).exp();
        assert!((row[10] / row[9] - want).abs() < 1e-5 * want);
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
