//! Image files to RGB pixels: PNG, JPEG, WebP, GIF (first frame) or BMP, alpha dropped and grey
//! expanded as the reference processors' `convert("RGB")` does, with the size checked before
//! anything is allocated for the pixels.

use std::io::Cursor;

use image::{ImageReader, Limits};

use crate::error::ImageError;

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
