//! Pixels → model input, as the reference processors do it: resize with Pillow's filters (which
//! antialias when shrinking, see `resize`), optionally centre-crop (timm), rescale to [0, 1] and
//! normalise.

use super::cifar::SIDE;
use super::image::RgbImage;
use super::resize::{Interpolation, resize_rgb};

/// How an image becomes model input.
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocess {
    /// Model input side in pixels (square).
    pub size: usize,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub interpolation: Interpolation,
    /// timm's eval transform: resize the shorter side to `size / crop_pct`, then centre-crop.
    /// `None` resizes straight to `size` x `size`, as Hugging Face's `ViTImageProcessor` does.
    pub crop_pct: Option<f64>,
}

/// Python's `round`, which rounds halves to even; torchvision's centre crop uses it.
fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - x.signum()
    } else {
        r
    }
}

/// RGB pixels → `[3, size, size]` normalised floats in channel-major order.
pub fn preprocess(image: &RgbImage, p: &Preprocess) -> Vec<f32> {
    let size = p.size as u32;
    let (w, h) = (image.width, image.height);
    // timm: shorter side to floor(size / crop_pct) (the longer side truncated, as torchvision
    // does), then a centre crop; HF: straight to size x size.
    let (rw, rh, crop) = match p.crop_pct {
        Some(pct) => {
            // In f64, as timm computes it: in f32, 224 / 0.8 would floor to 279 instead of 280.
            let short = (p.size as f64 / pct).floor() as u32;
            let (rw, rh) = if w <= h {
                (short, (short as u64 * h as u64 / w as u64) as u32)
            } else {
                ((short as u64 * w as u64 / h as u64) as u32, short)
            };
            // crop_pct ≤ 1, so the resized image is at least `size` a side.
            let left = round_half_even((rw - size) as f64 / 2.0) as u32;
            let top = round_half_even((rh - size) as f64 / 2.0) as u32;
            (rw, rh, Some((left, top)))
        }
        None => (size, size, None),
    };
    let buf = resize_rgb(
        &image.pixels,
        w as usize,
        h as usize,
        rw as usize,
        rh as usize,
        p.interpolation,
    );
    let (left, top) = crop.unwrap_or((0, 0));
    let n = p.size * p.size;
    let mut out = vec![0f32; 3 * n];
    for y in 0..p.size {
        for x in 0..p.size {
            let (sx, sy) = (left as usize + x, top as usize + y);
            let px = &buf[(sy * rw as usize + sx) * 3..][..3];
            for c in 0..3 {
                out[c * n + y * p.size + x] = (px[c] as f32 / 255.0 - p.mean[c]) / p.std[c];
            }
        }
    }
    out
}

/// A CIFAR image (R, G and B planes, 32x32) as model input: upscaled to the input size (Pillow
/// bilinear, as the original's training did, whatever the model's own filter), normalised,
/// optionally mirrored.
pub fn preprocess_cifar(planes: &[u8], flip: bool, p: &Preprocess) -> Vec<f32> {
    let n = SIDE * SIDE;
    let mut rgb = vec![0u8; 3 * n];
    for y in 0..SIDE {
        for x in 0..SIDE {
            let from = y * SIDE + if flip { SIDE - 1 - x } else { x };
            for c in 0..3 {
                rgb[(y * SIDE + x) * 3 + c] = planes[c * n + from];
            }
        }
    }
    let image = RgbImage {
        width: SIDE as u32,
        height: SIDE as u32,
        pixels: rgb,
    };
    let p = Preprocess {
        interpolation: Interpolation::Bilinear,
        crop_pct: None,
        ..p.clone()
    };
    preprocess(&image, &p)
}

/// Mirrors preprocessed pixels (`[3, size, size]`) left to right, in place.
pub fn mirror(pixels: &mut [f32], size: usize) {
    for row in pixels.chunks_mut(size) {
        row.reverse();
    }
}

/// A `side` x `side` RGBA thumbnail of the image's centre square, for the page to show.
pub fn thumbnail(image: &RgbImage, side: usize) -> Vec<u8> {
    let (w, h) = (image.width as usize, image.height as usize);
    let s = w.min(h);
    let (left, top) = ((w - s) / 2, (h - s) / 2);
    let mut square = Vec::with_capacity(s * s * 3);
    for y in top..top + s {
        square.extend_from_slice(&image.pixels[(y * w + left) * 3..][..s * 3]);
    }
    let small = resize_rgb(&square, s, s, side, side, Interpolation::Bilinear);
    small.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect()
}
