//! Pillow's resampling (`Image.resize` with BILINEAR or BICUBIC) for 8-bit RGB, bit for bit.
//!
//! The reference processors resize with Pillow, and its fixed-point arithmetic (22 fractional
//! bits, a horizontal pass rounded to 8 bits before the vertical one) decides the last bit of
//! each pixel. Crates that approximate it (fast_image_resize uses 16-bit weights) land one level
//! off in places, which is a visible difference in logits; so this follows `libImaging/Resample.c`.

/// Pillow's resampling filters that the reference processors use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpolation {
    Bilinear,
    Bicubic,
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

fn bilinear(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 { 1.0 - x } else { 0.0 }
}

/// Keys' cubic with a = -0.5, as Pillow's BICUBIC.
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// For each output position: the first input index, and fixed-point weights for the inputs from there.
struct Coefficients {
    bounds: Vec<(usize, usize)>,
    ksize: usize,
    weights: Vec<i32>,
}

/// For each output position, the first input index and the normalised weights of the inputs
/// from there: Pillow's `precompute_coeffs`, which is also PyTorch's antialiased resampling
/// (`F.interpolate(..., antialias=True)`) in floating point.
pub(crate) fn filter_weights(in_size: usize, out_size: usize, interpolation: Interpolation) -> Vec<(usize, Vec<f64>)> {
    let (filter, support): (fn(f64) -> f64, f64) = match interpolation {
        Interpolation::Bilinear => (bilinear, 1.0),
        Interpolation::Bicubic => (bicubic, 2.0),
    };
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = support * filter_scale;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            let ss = 1.0 / filter_scale;
            // Truncation toward zero, as C's (int) cast.
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize - xmin;
            let k: Vec<f64> = (0..xmax)
                .map(|x| filter((x as f64 + xmin as f64 - center + 0.5) * ss))
                .collect();
            let ww: f64 = k.iter().sum();
            (xmin, k.iter().map(|kx| if ww != 0.0 { kx / ww } else { *kx }).collect())
        })
        .collect()
}

fn coefficients(in_size: usize, out_size: usize, interpolation: Interpolation) -> Coefficients {
    let support = match interpolation {
        Interpolation::Bilinear => 1.0,
        Interpolation::Bicubic => 2.0,
    } * (in_size as f64 / out_size as f64).max(1.0);
    let ksize = f64::ceil(support) as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size);
    let mut weights = vec![0i32; out_size * ksize];
    for (xx, (xmin, k)) in filter_weights(in_size, out_size, interpolation).into_iter().enumerate() {
        for (x, v) in k.iter().enumerate() {
            let fixed = v * (1u32 << PRECISION_BITS) as f64;
            weights[xx * ksize + x] = if *v < 0.0 {
                (fixed - 0.5) as i32
            } else {
                (fixed + 0.5) as i32
            };
        }
        bounds.push((xmin, k.len()));
    }
    Coefficients { bounds, ksize, weights }
}

fn clip8(v: i64) -> u8 {
    (v >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Resizes row-major RGB `src` (`w` x `h`) to `out_w` x `out_h`.
pub fn resize_rgb(src: &[u8], w: usize, h: usize, out_w: usize, out_h: usize, interpolation: Interpolation) -> Vec<u8> {
    if (w, h) == (out_w, out_h) {
        return src.to_vec();
    }
    let horiz = coefficients(w, out_w, interpolation);
    let vert = coefficients(h, out_h, interpolation);
    let half = 1i64 << (PRECISION_BITS - 1);

    // Horizontal pass over only the rows the vertical pass will read.
    let (first_row, last_row) = if out_h != h {
        let (lo, _) = vert.bounds[0];
        let (hi, n) = vert.bounds[out_h - 1];
        (lo, hi + n)
    } else {
        (0, h)
    };
    let tmp_h = last_row - first_row;
    let tmp = if out_w != w {
        let mut tmp = vec![0u8; out_w * tmp_h * 3];
        for y in 0..tmp_h {
            let row = &src[(y + first_row) * w * 3..][..w * 3];
            for (xx, &(xmin, n)) in horiz.bounds.iter().enumerate() {
                let k = &horiz.weights[xx * horiz.ksize..][..n];
                for c in 0..3 {
                    let mut acc = half;
                    for (x, kx) in k.iter().enumerate() {
                        acc += row[(xmin + x) * 3 + c] as i64 * *kx as i64;
                    }
                    tmp[(y * out_w + xx) * 3 + c] = clip8(acc);
                }
            }
        }
        tmp
    } else {
        src[first_row * w * 3..last_row * w * 3].to_vec()
    };
    if out_h == h {
        return tmp;
    }
    let mut out = vec![0u8; out_w * out_h * 3];
    for (yy, &(ymin, n)) in vert.bounds.iter().enumerate() {
        let k = &vert.weights[yy * vert.ksize..][..n];
        let ymin = ymin - first_row;
        for xx in 0..out_w * 3 {
            let mut acc = half;
            for (y, ky) in k.iter().enumerate() {
                acc += tmp[(ymin + y) * out_w * 3 + xx] as i64 * *ky as i64;
            }
            out[yy * out_w * 3 + xx] = clip8(acc);
        }
    }
    out
}
