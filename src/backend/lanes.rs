//! Four f32 lanes for the CPU kernels: SIMD128 in wasm, where LLVM left the activations' loops
//! scalar (its cost model for wasm judged them not worth vectorizing; a GELU over ViT-B/16's MLP
//! outputs took 18 ms a pass); plain arrays elsewhere, so that the native tests run the same
//! code. The [`Lanes`] arithmetic is implemented for a lone f32 too, so that each formula
//! (`exp`, GELU) is written once for both.

use std::ops::{Add, Div, Mul, Sub};

#[cfg(target_arch = "wasm32")]
use core::arch::wasm32::*;

/// What the activations' formulas need of a number, or of four at once.
pub trait Lanes: Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self> {
    fn splat(v: f32) -> Self;
    fn abs(self) -> Self;
    fn clamp(self, lo: f32, hi: f32) -> Self;
    /// Rounded to the nearest integer, ties to even.
    fn round_even(self) -> Self;
    /// 2ⁿ for an integral `n` in [-126, 127], put straight into the exponent bits.
    fn exp2_int(self) -> Self;
    /// `if self >= 0 { yes } else { no }`, lane by lane.
    fn if_nonneg(self, yes: Self, no: Self) -> Self;
    /// `self·b + c`: in the relaxed-SIMD builds' four lanes a fused multiply-add where the CPU has
    /// one, inside functions compiled with the `relaxed-simd` target feature; else rounded twice.
    fn mul_add(self, b: Self, c: Self) -> Self;
}

impl Lanes for f32 {
    #[inline(always)]
    fn splat(v: f32) -> Self {
        v
    }
    #[inline(always)]
    fn abs(self) -> Self {
        f32::abs(self)
    }
    #[inline(always)]
    fn clamp(self, lo: f32, hi: f32) -> Self {
        f32::clamp(self, lo, hi)
    }
    #[inline(always)]
    fn round_even(self) -> Self {
        self.round_ties_even()
    }
    #[inline(always)]
    fn exp2_int(self) -> Self {
        f32::from_bits(((self as i32 + 127) as u32) << 23)
    }
    #[inline(always)]
    fn if_nonneg(self, yes: Self, no: Self) -> Self {
        if self >= 0.0 { yes } else { no }
    }
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        self * b + c
    }
}

/// Four f32 lanes.
#[derive(Clone, Copy, Debug)]
#[repr(transparent)]
pub struct F4(
    #[cfg(target_arch = "wasm32")] v128,
    #[cfg(not(target_arch = "wasm32"))] [f32; 4],
);

#[cfg(target_arch = "wasm32")]
impl F4 {
    /// # Safety
    /// `p` must be valid for reading 4 floats.
    #[inline(always)]
    pub unsafe fn load(p: *const f32) -> Self {
        Self(unsafe { v128_load(p as *const v128) })
    }

    /// One float read from memory into all four lanes (`v128.load32_splat`: a load, no shuffle).
    /// # Safety
    /// `p` must be valid for reading 1 float.
    #[inline(always)]
    pub unsafe fn load_splat(p: *const f32) -> Self {
        Self(unsafe { v128_load32_splat(p as *const u32) })
    }

    /// # Safety
    /// `p` must be valid for writing 4 floats.
    #[inline(always)]
    pub unsafe fn store(self, p: *mut f32) {
        unsafe { v128_store(p as *mut v128, self.0) }
    }

    #[inline(always)]
    pub fn max(self, other: Self) -> Self {
        Self(f32x4_pmax(self.0, other.0))
    }

    /// The four lanes.
    #[inline(always)]
    pub fn lanes(self) -> [f32; 4] {
        [
            f32x4_extract_lane::<0>(self.0),
            f32x4_extract_lane::<1>(self.0),
            f32x4_extract_lane::<2>(self.0),
            f32x4_extract_lane::<3>(self.0),
        ]
    }
}

#[cfg(target_arch = "wasm32")]
impl Lanes for F4 {
    #[inline(always)]
    fn splat(v: f32) -> Self {
        Self(f32x4_splat(v))
    }
    #[inline(always)]
    fn abs(self) -> Self {
        Self(f32x4_abs(self.0))
    }
    #[inline(always)]
    fn clamp(self, lo: f32, hi: f32) -> Self {
        Self(f32x4_pmin(f32x4_pmax(self.0, f32x4_splat(lo)), f32x4_splat(hi)))
    }
    #[inline(always)]
    fn round_even(self) -> Self {
        Self(f32x4_nearest(self.0))
    }
    #[inline(always)]
    fn exp2_int(self) -> Self {
        Self(i32x4_shl(
            i32x4_add(i32x4_trunc_sat_f32x4(self.0), i32x4_splat(127)),
            23,
        ))
    }
    #[inline(always)]
    fn if_nonneg(self, yes: Self, no: Self) -> Self {
        Self(v128_bitselect(yes.0, no.0, f32x4_ge(self.0, f32x4_splat(0.0))))
    }
    #[cfg(feature = "relaxed-simd")]
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        Self(f32x4_relaxed_madd(self.0, b.0, c.0))
    }
    #[cfg(not(feature = "relaxed-simd"))]
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        Self(f32x4_add(f32x4_mul(self.0, b.0), c.0))
    }
}

#[cfg(target_arch = "wasm32")]
macro_rules! f4_ops {
    ($($trait:ident $method:ident $op:ident;)*) => {$(
        impl $trait for F4 {
            type Output = Self;
            #[inline(always)]
            fn $method(self, other: Self) -> Self {
                Self($op(self.0, other.0))
            }
        }
    )*};
}

#[cfg(target_arch = "wasm32")]
f4_ops! {
    Add add f32x4_add;
    Sub sub f32x4_sub;
    Mul mul f32x4_mul;
    Div div f32x4_div;
}

#[cfg(not(target_arch = "wasm32"))]
impl F4 {
    /// # Safety
    /// `p` must be valid for reading 4 floats.
    #[inline(always)]
    pub unsafe fn load(p: *const f32) -> Self {
        Self(unsafe { p.cast::<[f32; 4]>().read_unaligned() })
    }

    /// # Safety
    /// `p` must be valid for reading 1 float.
    #[inline(always)]
    pub unsafe fn load_splat(p: *const f32) -> Self {
        Self([unsafe { *p }; 4])
    }

    /// # Safety
    /// `p` must be valid for writing 4 floats.
    #[inline(always)]
    pub unsafe fn store(self, p: *mut f32) {
        unsafe { p.cast::<[f32; 4]>().write_unaligned(self.0) }
    }

    #[inline(always)]
    pub fn max(self, other: Self) -> Self {
        self.map3(other, other, |a, b, _| if b > a { b } else { a })
    }

    #[inline(always)]
    pub fn lanes(self) -> [f32; 4] {
        self.0
    }

    #[inline(always)]
    fn map3(self, b: Self, c: Self, f: impl Fn(f32, f32, f32) -> f32) -> Self {
        Self(std::array::from_fn(|i| f(self.0[i], b.0[i], c.0[i])))
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Lanes for F4 {
    #[inline(always)]
    fn splat(v: f32) -> Self {
        Self([v; 4])
    }
    #[inline(always)]
    fn abs(self) -> Self {
        Self(self.0.map(f32::abs))
    }
    #[inline(always)]
    fn clamp(self, lo: f32, hi: f32) -> Self {
        Self(self.0.map(|v| v.clamp(lo, hi)))
    }
    #[inline(always)]
    fn round_even(self) -> Self {
        Self(self.0.map(f32::round_ties_even))
    }
    #[inline(always)]
    fn exp2_int(self) -> Self {
        Self(self.0.map(Lanes::exp2_int))
    }
    #[inline(always)]
    fn if_nonneg(self, yes: Self, no: Self) -> Self {
        self.map3(yes, no, |x, y, n| x.if_nonneg(y, n))
    }
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        self.map3(b, c, Lanes::mul_add)
    }
}

#[cfg(not(target_arch = "wasm32"))]
macro_rules! f4_ops {
    ($($trait:ident $method:ident $op:tt;)*) => {$(
        impl $trait for F4 {
            type Output = Self;
            #[inline(always)]
            fn $method(self, other: Self) -> Self {
                self.map3(other, other, |a, b, _| a $op b)
            }
        }
    )*};
}

#[cfg(not(target_arch = "wasm32"))]
f4_ops! {
    Add add +;
    Sub sub -;
    Mul mul *;
    Div div /;
}

/// `f` over `values` in place, four at a time (`f4`), the rest one by one (`f1`): the same
/// formula for both.
#[inline(always)]
pub fn map_in_place(values: &mut [f32], f4: impl Fn(F4) -> F4, f1: impl Fn(f32) -> f32) {
    let mut chunks = values.chunks_exact_mut(4);
    for chunk in &mut chunks {
        // SAFETY: a chunk of exactly 4 floats.
        unsafe { f4(F4::load(chunk.as_ptr())).store(chunk.as_mut_ptr()) };
    }
    chunks.into_remainder().iter_mut().for_each(|v| *v = f1(*v));
}

/// `f(y, x)` into `y`, element by element, four at a time (`f4`), the rest one by one (`f1`).
#[inline(always)]
pub fn map2_in_place(y: &mut [f32], x: &[f32], f4: impl Fn(F4, F4) -> F4, f1: impl Fn(f32, f32) -> f32) {
    assert_eq!(y.len(), x.len());
    let mut ys = y.chunks_exact_mut(4);
    let mut xs = x.chunks_exact(4);
    for (y, x) in (&mut ys).zip(&mut xs) {
        // SAFETY: chunks of exactly 4 floats.
        unsafe { f4(F4::load(y.as_ptr()), F4::load(x.as_ptr())).store(y.as_mut_ptr()) };
    }
    for (y, x) in ys.into_remainder().iter_mut().zip(xs.remainder()) {
        *y = f1(*y, *x);
    }
}

/// `values` folded with `f`, four lanes at a time from `init` (`f4`), then the lanes and the rest
/// one by one (`f1`).
#[inline(always)]
pub fn fold(values: &[f32], init: f32, f4: impl Fn(F4, F4) -> F4, f1: impl Fn(f32, f32) -> f32) -> f32 {
    let mut chunks = values.chunks_exact(4);
    let mut acc = F4::splat(init);
    for chunk in &mut chunks {
        // SAFETY: a chunk of exactly 4 floats.
        acc = f4(acc, unsafe { F4::load(chunk.as_ptr()) });
    }
    acc.lanes()
        .into_iter()
        .chain(chunks.remainder().iter().copied())
        .fold(init, f1)
}
