//! Image file → model input, as the reference processors do it: decode, drop alpha / expand
//! grey to RGB, resize with Pillow's filters (which antialias when shrinking, see `resize`), optionally
//! centre-crop (timm), rescale to [0, 1] and normalise.

use std::io::Cursor;

use image::{ImageReader, Limits};

use crate::config::Preprocess;
use crate::error::ImageError;
use crate::resize::resize_rgb;

/// Larger sides than this are refused before anything is allocated for the pixels.
pub const MAX_SIDE: u32 = 16_384;
/// Longer sides more than this many times the shorter one are refused too.
pub const MAX_ASPECT: u32 = 64;

/// An RGB image, 8 bits a channel, row-major.
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

/// Decodes PNG, JPEG, WebP, GIF (first frame) or BMP bytes to RGB.
pub fn decode(file: &str, bytes: &[u8]) -> Result<RgbImage, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty { file: file.into() });
    }
    let decode_err = |e: image::ImageError| ImageError::Decode {
        file: file.into(),
        reason: e.to_string(),
    };
    let reader = || {
        ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .expect("reading from memory cannot fail")
    };
    let (width, height) = reader().into_dimensions().map_err(decode_err)?;
    // Beyond MAX_ASPECT the centre crop would come from an enormous resize; such strips are not photos.
    let (long, short) = (width.max(height), width.min(height));
    if width > MAX_SIDE || height > MAX_SIDE || short == 0 || long / short > MAX_ASPECT {
        return Err(ImageError::TooLarge {
            file: file.into(),
            width,
            height,
            limit: MAX_SIDE,
        });
    }
    let mut reader = reader();
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    reader.limits(limits);
    let rgb = reader.decode().map_err(decode_err)?.into_rgb8();
    Ok(RgbImage {
        width: rgb.width(),
        height: rgb.height(),
        pixels: rgb.into_raw(),
    })
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
