//! The innermost loop of the CPU matmul: one tile of `R` output rows by `4·V` output columns,
//! over the whole inner dimension, accumulated in SIMD registers.
//!
//! The weights arrive packed (see `pack_from_outputs`): one panel of `4·V` output columns, each
//! of its `k` rows contiguous; the input rows as they are, or interleaved (`pack_input`) for the
//! kernels that read them so. A step of the loop loads `V` vectors of weights, broadcasts one
//! input value per output row from memory and multiply-adds `R·V` accumulators. Which `R` and
//! `V` are fastest depends on the CPU and on how the browser's compiler allocates registers
//! (V8 gives wasm 15 vector registers on x86 and spills the rest), so several tile shapes are
//! built and [`super::select`] times them on the machine it runs on.
//!
//! In wasm the vectors are SIMD128; elsewhere plain arrays of four floats (`backend::lanes`), so
//! the native tests exercise the same loops (natively the matmuls run in Burn's own gemm).

use crate::backend::lanes::{F4, Lanes};

/// One tile's operands: `c[r][j] = bias[j] + Σ_i a_r[i]·b[i][j]` for `r < rows` and `j` across
/// the tile. The input rows `a_r` are either `rows` rows of `a` at stride `lda`, or (kernels that
/// read them interleaved) `a` holds them packed by `pack_input`, `k` groups of the tile's height.
/// `b` is one packed weight panel (`k` rows of the tile's width) and `bias` that panel's biases;
/// `c` has row stride `ldc`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Operands {
    pub k: usize,
    pub a: *const f32,
    pub lda: usize,
    pub rows: usize,
    pub b: *const f32,
    pub bias: *const f32,
    pub c: *mut f32,
    pub ldc: usize,
}

/// One output tile of `R` rows by `4·V` columns; only the first `rows` are stored.
///
/// The weights are read through one pointer at constant offsets, which wasm loads carry as
/// immediates, and so are interleaved inputs (`INTERLEAVED`); otherwise each input row has its
/// own pointer (rows past `rows` repeat the last). Which of the two keeps fewer values live
/// between loads and multiply-adds, so that V8 keeps the `R·V` accumulators in registers, varies
/// with the tile: both are built, and timed.
///
/// # Safety
/// The pointers must be valid for those reads and writes; `1 ≤ rows ≤ R`.
#[inline(always)]
unsafe fn tile<const R: usize, const V: usize, const INTERLEAVED: bool>(t: &Operands) {
    let Operands {
        k,
        a,
        lda,
        rows,
        b,
        bias,
        c,
        ldc,
    } = *t;
    unsafe {
        let start: [F4; V] = std::array::from_fn(|v| F4::load(bias.add(4 * v)));
        let mut acc = [start; R];
        let mut b = b;
        let mut inputs: [*const f32; R] = std::array::from_fn(|r| a.add(lda * r.min(rows - 1)));
        let mut a = a;
        for _ in 0..k {
            let mut w = [F4::splat(0.0); V];
            for (v, w) in w.iter_mut().enumerate() {
                *w = F4::load(b.add(4 * v));
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let x = if INTERLEAVED {
                    F4::load_splat(a.add(r))
                } else {
                    F4::load_splat(inputs[r])
                };
                for (acc, w) in acc.iter_mut().zip(w) {
                    *acc = x.mul_add(w, *acc);
                }
            }
            if INTERLEAVED {
                a = a.add(R);
            } else {
                inputs = inputs.map(|p| p.add(1));
            }
            b = b.add(4 * V);
        }
        for (r, acc) in acc.iter().enumerate().take(rows) {
            for (v, acc) in acc.iter().enumerate() {
                acc.store(c.add(ldc * r + 4 * v));
            }
        }
    }
}

/// A tile kernel.
pub(crate) type TileFn = unsafe fn(&Operands);

/// A built tile shape.
#[derive(Clone, Copy, Debug)]
pub struct Kernel {
    /// What the page shows: rows x columns, and how it multiplies, adds and reads its inputs.
    pub name: &'static str,
    /// Output rows per tile.
    pub(crate) rows: usize,
    /// Output columns per tile: the width of a packed weight panel.
    pub panel: usize,
    /// Whether it reads its inputs packed by `pack_input` (else straight from their rows).
    pub(crate) interleaved: bool,
    pub(crate) tile: TileFn,
}

macro_rules! kernels {
    ($($name:ident: $label:literal, $features:literal, $r:literal, $v:literal, $interleaved:literal;)*) => {
        $(
            #[cfg_attr(target_arch = "wasm32", target_feature(enable = $features))]
            unsafe fn $name(t: &Operands) {
                unsafe { tile::<$r, $v, $interleaved>(t) }
            }
        )*
        /// Every tile shape this build has, the first the default until one is measured.
        pub const KERNELS: &[Kernel] = &[
            $(Kernel { name: $label, rows: $r, panel: 4 * $v, interleaved: $interleaved, tile: $name }),*
        ];
    };
}

// With relaxed SIMD's fused multiply-add there is no product to hold, so a tile can keep up to
// 12 accumulators (6x8: 12, 2 weight vectors and a broadcast fill V8's 15 registers); shapes
// with more (4x12, 3x16) spilled in Chromium. 4x8 interleaved is XNNPACK's choice for x86.
#[cfg(all(target_arch = "wasm32", feature = "relaxed-simd"))]
kernels! {
    fused_6x8: "6x8 fma", "simd128,relaxed-simd", 6, 2, false;
    fused_5x8: "5x8 fma", "simd128,relaxed-simd", 5, 2, false;
    fused_3x12: "3x12 fma", "simd128,relaxed-simd", 3, 3, false;
    fused_2x16: "2x16 fma", "simd128,relaxed-simd", 2, 4, false;
    fused_4x8_interleaved: "4x8 fma interleaved", "simd128,relaxed-simd", 4, 2, true;
}

// With a separate multiply and add, the product needs a register too: 6x8 spills, and 5x8 only
// fits with its inputs interleaved.
#[cfg(all(target_arch = "wasm32", not(feature = "relaxed-simd")))]
kernels! {
    separate_5x8_interleaved: "5x8 interleaved", "simd128", 5, 2, true;
    separate_4x8_interleaved: "4x8 interleaved", "simd128", 4, 2, true;
    separate_2x16: "2x16", "simd128", 2, 4, false;
}

// Natively the shapes are plain loops, built so that the tests exercise each of them.
#[cfg(not(target_arch = "wasm32"))]
kernels! {
    separate_6x8: "6x8", "", 6, 2, false;
    separate_5x8_interleaved: "5x8 interleaved", "", 5, 2, true;
    separate_3x12: "3x12", "", 3, 3, false;
    separate_2x16: "2x16", "", 2, 4, false;
    separate_4x8_interleaved: "4x8 interleaved", "", 4, 2, true;
}
