//! The model's dense layers on the CPU in the browser: `y = x·W + b`, then the exact GELU or a
//! residual add, in one pass over the output.
//!
//! Written for this model rather than taken from Burn's matmul (the `gemm` crate) because its
//! weights never change: W is packed once, when the model loads, into panels of the width the
//! tile kernel reads ([`pack_from_outputs`]), so no forward pass repacks 346 MB of weights; the
//! bias starts the accumulators, and the GELU or the residual add runs on each tile's outputs
//! while they are still in cache. Which tile kernel is fastest differs between CPUs, so there
//! are several and one is chosen per machine ([`select`]). Only the kernels' choice is public:
//! the products themselves trust their operands' shapes to the crate's own callers.

mod microkernel;
pub mod select;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use microkernel::Operands;
pub use microkernel::{KERNELS, Kernel};

use super::activation::gelu_slice;
use super::lanes::{F4, map2_in_place};
use super::pool::{for_each_chunk, for_each_index};

/// Whether dense layers run on these kernels: in the browser, where they beat Burn's matmul.
/// Natively Burn's `gemm` has AVX-512 and is faster; the tests turn them on to check their path.
static ENABLED: AtomicBool = AtomicBool::new(cfg!(target_family = "wasm"));

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Turns the kernels on or off for models loaded afterwards.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// The index in [`KERNELS`] of the kernel in use.
static CHOSEN: AtomicUsize = AtomicUsize::new(0);

/// The tile kernel dense layers use, and weights are packed for.
pub fn kernel() -> &'static Kernel {
    &KERNELS[CHOSEN.load(Ordering::Relaxed)]
}

/// Makes the kernel named `name` the one in use; `None` if this build has no such kernel.
/// Weights packed before for another kernel's panel width still compute right, on Burn's slower
/// matmul, until relaid out (`Dense::relayout`).
pub fn choose(name: &str) -> Option<&'static Kernel> {
    let index = KERNELS.iter().position(|k| k.name == name)?;
    CHOSEN.store(index, Ordering::Relaxed);
    Some(&KERNELS[index])
}

/// A row-major matrix in a slice: `rows` rows of `cols` values, row `r` starting at `r·stride`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Matrix<'a> {
    pub values: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub stride: usize,
}

impl<'a> Matrix<'a> {
    /// `values` as `rows` contiguous rows of `cols`.
    pub fn new(values: &'a [f32], cols: usize) -> Self {
        Self {
            values,
            rows: values.len().checked_div(cols).unwrap_or(0),
            cols,
            stride: cols,
        }
    }

    /// Whether every row lies inside `values`.
    fn fits(&self, len: usize) -> bool {
        self.rows == 0 || (self.cols <= self.stride && (self.rows - 1) * self.stride + self.cols <= len)
    }

    fn row(&self, r: usize) -> &'a [f32] {
        &self.values[r * self.stride..][..self.cols]
    }
}

// A packed weight, for a kernel whose tiles are `panel` columns wide: panel `p` holds output
// columns `p·panel ..`, its row `i` those columns' weights for input `i`, so that a tile reads its
// weights front to back. Columns past `d_out` are zero.

/// Packs a weight given as PyTorch's Linear holds it, one row per output: `[d_out, d_in]`.
pub(crate) fn pack_from_outputs(weight: Matrix, panel: usize) -> Vec<f32> {
    assert!(
        weight.fits(weight.values.len()),
        "pack: the matrix runs past its values"
    );
    let (d_out, d_in) = (weight.rows, weight.cols);
    // Inputs in chunks, so that reads (along a weight row) and writes (along panel rows) both
    // stay in cache.
    const CHUNK: usize = 64;
    let panels = d_out.div_ceil(panel);
    let mut packed = vec![0.0; panels * d_in * panel];
    for (p, out) in packed.chunks_exact_mut(d_in * panel).enumerate() {
        for i0 in (0..d_in).step_by(CHUNK) {
            for j in 0..panel.min(d_out - p * panel) {
                let row = weight.row(p * panel + j);
                for i in i0..(i0 + CHUNK).min(d_in) {
                    out[i * panel + j] = row[i];
                }
            }
        }
    }
    packed
}

/// Packs a weight given one row per input: `[d_in, d_out]`.
pub(crate) fn pack_from_inputs(weight: Matrix, panel: usize) -> Vec<f32> {
    assert!(
        weight.fits(weight.values.len()),
        "pack: the matrix runs past its values"
    );
    let (d_in, d_out) = (weight.rows, weight.cols);
    let panels = d_out.div_ceil(panel);
    let mut packed = vec![0.0; panels * d_in * panel];
    for (p, out) in packed.chunks_exact_mut(d_in * panel).enumerate() {
        let width = panel.min(d_out - p * panel);
        for (i, out) in out.chunks_exact_mut(panel).enumerate() {
            let row = &weight.row(i)[p * panel..][..width];
            // Four at a time: a `copy_from_slice` this short is a call to `memcpy` in wasm.
            let (whole, rest) = (width / 4 * 4, width % 4);
            for (out, row) in out[..whole].chunks_exact_mut(4).zip(row.chunks_exact(4)) {
                // SAFETY: chunks of exactly 4 floats.
                unsafe { F4::load(row.as_ptr()).store(out.as_mut_ptr()) };
            }
            out[whole..whole + rest].copy_from_slice(&row[whole..]);
        }
    }
    packed
}

/// The input's rows interleaved in groups of `rows` (a tile's height), for the kernels that read
/// them so: group `g` holds, for each input `i`, rows `g·rows .. g·rows + rows`' values at `i`, so
/// that a tile reads its inputs front to back. A last, partial group repeats its last row. On up
/// to `threads` threads of the pool.
fn pack_input(x: Matrix, rows: usize, threads: usize) -> Vec<f32> {
    assert!(
        x.fits(x.values.len()) && rows <= MAX_ROWS,
        "pack: the matrix runs past its values"
    );
    let (m, k) = (x.rows, x.cols);
    let len = m.div_ceil(rows) * rows * k;
    let mut packed = Vec::with_capacity(len);
    // Written front to back, each value once (no zeroing first): this runs on every layer's input.
    let pack = |g: usize, out: &mut [std::mem::MaybeUninit<f32>]| {
        let group: [&[f32]; MAX_ROWS] = std::array::from_fn(|r| x.row((g * rows + r.min(rows - 1)).min(m - 1)));
        for (i, out) in out.chunks_exact_mut(rows).enumerate() {
            for (out, row) in out.iter_mut().zip(group) {
                out.write(row[i]);
            }
        }
    };
    for_each_chunk(&mut packed.spare_capacity_mut()[..len], rows * k, threads, pack);
    // SAFETY: every one of the `len` values was written above.
    unsafe { packed.set_len(len) };
    packed
}

/// The weights of one dense layer, packed for `kernel`.
pub(crate) struct Packed<'a> {
    pub kernel: &'static Kernel,
    pub values: &'a [f32],
    pub d_in: usize,
    /// `[d_out]`
    pub bias: &'a [f32],
}

/// What happens to the outputs after the bias, while they are in cache.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Epilogue<'a> {
    None,
    /// The exact GELU of each output.
    Gelu,
    /// Added to the outputs, laid out as they are (`m` rows of `d_out`): a residual connection.
    Add(Matrix<'a>),
}

/// Panels of weights per block: a block's weights stay in the core's L2 cache while every row
/// tile of the input passes over them.
const BLOCK_BYTES: usize = 576 * 1024;

/// `y = x·W + b`, then the epilogue: `x` is `[m, d_in]`, `y` `[m, d_out]` with row stride
/// `y_stride`. The work is split into blocks of output columns, shared by up to `threads` of the
/// pool's threads (1: the calling thread alone).
pub(crate) fn dense(x: Matrix, w: &Packed, epilogue: Epilogue, y: &mut [f32], y_stride: usize, threads: usize) {
    let out = Matrix {
        values: y,
        rows: x.rows,
        cols: w.bias.len(),
        stride: y_stride,
    };
    assert!(out.fits(y.len()), "dense: output is not [m, d_out]");
    // SAFETY: `y` holds the output, checked just above.
    unsafe { dense_raw(x, w, epilogue, y.as_mut_ptr(), y_stride, threads) }
}

/// [`dense`] into `y`: an output whose rows interleave with another thread's.
///
/// # Safety
/// `y` is valid for writing `x.rows` rows of `d_out` values at `y_stride` (`(x.rows − 1)·y_stride
/// + d_out` values), no other thread touches those values meanwhile, and a residual
/// (`Epilogue::Add`) does not overlap them. `w.kernel` is one of [`KERNELS`].
pub(crate) unsafe fn dense_raw(
    x: Matrix,
    w: &Packed,
    epilogue: Epilogue,
    y: *mut f32,
    y_stride: usize,
    threads: usize,
) {
    let (m, k, n, panel) = (x.rows, w.d_in, w.bias.len(), w.kernel.panel);
    let panels = n.div_ceil(panel);
    // Kernels are only made in `KERNELS` (their fields are this crate's); a copy must still be
    // one of them, with the shape its tile function was written for.
    assert!(
        KERNELS.iter().any(|kernel| kernel.name == w.kernel.name
            && (kernel.rows, kernel.panel, kernel.interleaved)
                == (w.kernel.rows, w.kernel.panel, w.kernel.interleaved)),
        "dense: not one of this build's kernels"
    );
    assert!(
        k > 0 && x.cols == k && x.fits(x.values.len()),
        "dense: input is not [m, d_in > 0]"
    );
    assert_eq!(
        w.values.len(),
        panels * k * panel,
        "dense: weights are not packed for this kernel"
    );
    if let Epilogue::Add(r) = epilogue {
        assert!(
            r.rows == m && r.cols == n && r.fits(r.values.len()),
            "dense: the residual is not [m, d_out]"
        );
    }
    if m == 0 || n == 0 {
        return;
    }
    let out = Shared(y);
    let packed;
    let input = if w.kernel.interleaved {
        packed = pack_input(x, w.kernel.rows, threads);
        Matrix {
            values: &packed,
            rows: m,
            cols: k,
            stride: w.kernel.rows,
        }
    } else {
        x
    };
    let per_block = (BLOCK_BYTES / (k * panel * 4)).clamp(1, panels);
    // As many blocks as that needs, rounded up to a multiple of the threads so that each gets
    // the same share.
    let blocks = panels.div_ceil(per_block).div_ceil(threads) * threads;
    let per_block = panels.div_ceil(blocks.min(panels));
    for_each_index(panels.div_ceil(per_block), threads, |i| {
        let first = i * per_block;
        // SAFETY: blocks write disjoint columns of the output; the inputs are only read.
        unsafe {
            block(
                input,
                w,
                first..(first + per_block).min(panels),
                epilogue,
                &out,
                y_stride,
            )
        }
    });
}

/// `y += x`.
fn add(y: &mut [f32], x: &[f32]) {
    map2_in_place(y, x, |a, b| a + b, |a, b| a + b);
}

/// The output, written by several threads at once, each its own columns.
pub(crate) struct Shared(pub(crate) *mut f32);
// SAFETY: only a pointer; the threads that share it write disjoint parts of what it points to
// (each user says which).
unsafe impl Sync for Shared {}

impl Shared {
    /// The pointer (a method, so that closures capture the `Sync` wrapper, not the pointer).
    pub(crate) fn at(&self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

/// The output columns of `panels`, for every input row, row tile by row tile. `input` is either
/// the input, or (a kernel that reads it interleaved) its packing by [`pack_input`], with the
/// tile's height as its stride.
///
/// # Safety
/// `out` holds `m` rows of the layer's outputs at `stride`, and no other thread writes these
/// columns meanwhile.
unsafe fn block(
    input: Matrix,
    w: &Packed,
    panels: std::ops::Range<usize>,
    epilogue: Epilogue,
    out: &Shared,
    stride: usize,
) {
    let (m, k, n, kernel) = (input.rows, w.d_in, w.bias.len(), w.kernel);
    let (rows, panel) = (kernel.rows, kernel.panel);
    let columns = panels.start * panel..(panels.end * panel).min(n);
    // A row tile starts `rows` rows further down, or (interleaved) `rows·k` values further on.
    let (tile_step, lda) = if kernel.interleaved {
        (rows * k, rows)
    } else {
        (rows * input.stride, input.stride)
    };
    for (t, r0) in (0..m).step_by(rows).enumerate() {
        let tile_rows = rows.min(m - r0);
        let a = input.values[t * tile_step..].as_ptr();
        for p in panels.clone() {
            let b = w.values[p * k * panel..].as_ptr();
            let c0 = p * panel;
            // SAFETY: `a` is a row tile of `k` inputs, `b` a panel of `k` rows of `panel`;
            // the tile writes rows r0.. of columns c0..c0 + panel, inside the output unless the
            // panel is the last, partial one, which goes through a scratch tile.
            unsafe {
                let c = out.at(r0 * stride + c0);
                let mut t = Operands {
                    k,
                    a,
                    lda,
                    rows: tile_rows,
                    b,
                    bias: w.bias[c0..].as_ptr(),
                    c,
                    ldc: stride,
                };
                if c0 + panel <= n {
                    (kernel.tile)(&t);
                } else {
                    let width = n - c0;
                    let mut bias = [0.0f32; MAX_PANEL];
                    bias[..width].copy_from_slice(&w.bias[c0..]);
                    let mut scratch = [0.0f32; MAX_ROWS * MAX_PANEL];
                    (t.bias, t.c, t.ldc) = (bias.as_ptr(), scratch.as_mut_ptr(), panel);
                    (kernel.tile)(&t);
                    for r in 0..tile_rows {
                        std::ptr::copy_nonoverlapping(scratch[r * panel..].as_ptr(), c.add(r * stride), width);
                    }
                }
            }
        }
        for r in r0..r0 + tile_rows {
            // SAFETY: this block's columns of row r, written above by this thread only.
            let y = unsafe { std::slice::from_raw_parts_mut(out.at(r * stride + columns.start), columns.len()) };
            match epilogue {
                Epilogue::None => {}
                Epilogue::Gelu => gelu_slice(y),
                Epilogue::Add(residual) => add(y, &residual.row(r)[columns.clone()]),
            }
        }
    }
}

/// The largest tile any kernel has, for the scratch tile of a partial panel.
const MAX_ROWS: usize = 6;
const MAX_PANEL: usize = 16;
const _: () = {
    let mut i = 0;
    while i < KERNELS.len() {
        assert!(KERNELS[i].rows <= MAX_ROWS && KERNELS[i].panel <= MAX_PANEL);
        i += 1;
    }
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-0.5, 0.5).
    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7919 + seed * 104_729) % 1000) as f32 / 1000.0 - 0.5)
            .collect()
    }

    /// `x·Wᵀ + b` then the epilogue, in f64, W in PyTorch's `[d_out, d_in]`, with the error f32
    /// accumulation may have: `(k + 2)·ε·Σ|terms|`, the classic bound for a sum of k + 2 terms.
    fn reference(x: &[f32], weight: &[f32], bias: &[f32], k: usize, epilogue: Epilogue) -> Vec<(f32, f32)> {
        let n = bias.len();
        let m = x.len() / k;
        let mut y = vec![(0.0, 0.0); m * n];
        for r in 0..m {
            for j in 0..n {
                let residual = match epilogue {
                    Epilogue::Add(residual) => residual.row(r)[j] as f64,
                    _ => 0.0,
                };
                let terms = (0..k)
                    .map(|i| x[r * k + i] as f64 * weight[j * k + i] as f64)
                    .chain([bias[j] as f64, residual]);
                let (sum, size) = terms.fold((0.0, 0.0), |(s, a), t| (s + t, a + t.abs()));
                // GELU's slope is at most 1.13.
                let bound = ((k + 2) as f64 * f32::EPSILON as f64 * size) as f32 * 1.13 + 1e-6;
                let mut y_rj = [sum as f32];
                if let Epilogue::Gelu = epilogue {
                    gelu_slice(&mut y_rj);
                }
                y[r * n + j] = (y_rj[0], bound);
            }
        }
        y
    }

    fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        (0..cols * rows).map(|i| m[(i % rows) * cols + i / rows]).collect()
    }

    #[test]
    fn packing_puts_each_panel_row_together_and_pads_with_zeros() {
        // d_out 5, d_in 3, panel 4: two panels, the second with one real column.
        let weight: Vec<f32> = (0..15).map(|v| v as f32).collect();
        #[rustfmt::skip]
        let want = [
            0.0, 3.0, 6.0, 9.0,   1.0, 4.0, 7.0, 10.0,   2.0, 5.0, 8.0, 11.0,
            12.0, 0.0, 0.0, 0.0,  13.0, 0.0, 0.0, 0.0,   14.0, 0.0, 0.0, 0.0,
        ];
        assert_eq!(pack_from_outputs(Matrix::new(&weight, 3), 4), want);
        assert_eq!(pack_from_inputs(Matrix::new(&transpose(&weight, 5, 3), 5), 4), want);
        // A strided source: every other row of a wider matrix.
        let wide: Vec<f32> = weight
            .chunks(3)
            .flat_map(|row| row.iter().copied().chain([-1.0, -1.0]))
            .collect();
        let strided = Matrix {
            values: &wide,
            rows: 5,
            cols: 3,
            stride: 5,
        };
        assert_eq!(pack_from_outputs(strided, 4), want);
    }

    #[test]
    fn packing_the_input_interleaves_rows_and_repeats_the_last() {
        // Three rows of two, in groups of two: rows 0 and 1, then row 2 twice.
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(
            pack_input(Matrix::new(&x, 2), 2, 1),
            [1.0, 3.0, 2.0, 4.0, 5.0, 5.0, 6.0, 6.0]
        );
    }

    #[test]
    fn every_kernel_matches_the_reference_on_every_edge() {
        // Rows that are and are not a multiple of each tile's height, columns that are and are
        // not a multiple of its width, an inner dimension of one, block splits on one thread and
        // on three, and each epilogue.
        for kernel in KERNELS {
            for (m, k, n) in [(1, 1, 4), (7, 5, 48), (13, 33, 50), (197, 64, 96), (9, 3072, 200)] {
                let residual = values(m * n, 4);
                for epilogue in [Epilogue::None, Epilogue::Gelu, Epilogue::Add(Matrix::new(&residual, n))] {
                    for threads in [1, 3] {
                        let x = values(m * k, 1);
                        let weight = values(n * k, 2);
                        let bias = values(n, 3);
                        let packed = pack_from_outputs(Matrix::new(&weight, k), kernel.panel);
                        let w = Packed {
                            kernel,
                            values: &packed,
                            d_in: k,
                            bias: &bias,
                        };
                        let mut y = vec![f32::NAN; m * n];
                        dense(
                            Matrix {
                                values: &x,
                                rows: m,
                                cols: k,
                                stride: k,
                            },
                            &w,
                            epilogue,
                            &mut y,
                            n,
                            threads,
                        );
                        let want = reference(&x, &weight, &bias, k, epilogue);
                        for (i, (got, (value, bound))) in y.iter().zip(want).enumerate() {
                            assert!(
                                (got - value).abs() <= bound,
                                "{} on {m}x{k}x{n} ({epilogue:?}, {threads} threads): y[{i}] = {got}, want {value} ± {bound}",
                                kernel.name
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn strided_input_and_output() {
        // Columns 2..7 of a [4, 9] input, into columns 1..4 of a [4, 6] output; the rest of the
        // output is left alone.
        let kernel = &KERNELS[0];
        let wide = values(4 * 9, 4);
        let weight = values(3 * 5, 5);
        let bias = values(3, 6);
        let packed = pack_from_outputs(Matrix::new(&weight, 5), kernel.panel);
        let w = Packed {
            kernel,
            values: &packed,
            d_in: 5,
            bias: &bias,
        };
        let mut y = [7.0; 4 * 6];
        let x = Matrix {
            values: &wide[2..],
            rows: 4,
            cols: 5,
            stride: 9,
        };
        dense(x, &w, Epilogue::None, &mut y[1..], 6, 1);
        let narrow: Vec<f32> = (0..4).flat_map(|r| wide[r * 9 + 2..r * 9 + 7].to_vec()).collect();
        let want = reference(&narrow, &weight, &bias, 5, Epilogue::None);
        for r in 0..4 {
            assert_eq!(y[r * 6], 7.0);
            assert_eq!(&y[r * 6 + 4..r * 6 + 6], [7.0, 7.0]);
            for j in 0..3 {
                let (value, bound) = want[r * 3 + j];
                assert!((y[r * 6 + 1 + j] - value).abs() <= bound);
            }
        }
    }

    #[test]
    fn choosing_by_name() {
        let last = KERNELS.last().unwrap();
        assert_eq!(choose(last.name).map(|k| k.name), Some(last.name));
        assert_eq!(kernel().name, last.name);
        assert!(choose("no such kernel").is_none());
        assert_eq!(kernel().name, last.name, "an unknown name changes nothing");
        choose(KERNELS[0].name);
    }
}
