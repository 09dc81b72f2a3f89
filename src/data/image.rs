//! Image files to RGB pixels: PNG, JPEG, WebP, GIF (first frame) or BMP, alpha dropped and grey
//! expanded as the reference processors' `convert("RGB")` does, with the size checked before
//! anything is allocated for the pixels.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits};

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
    if reader().format() == Some(ImageFormat::Jpeg) && !jpeg_complete(bytes) {
        return Err(ImageError::Decode {
            file: file.into(),
            reason: "the file is truncated (its image data ends before the end-of-image marker)".into(),
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

/// Whether a JPEG's last scan runs to an end-of-image marker. A file cut short decodes without
/// complaint here (the decoder makes up the missing pixels); Pillow, the reference, refuses it as
/// truncated. Entropy-coded data never holds the marker (0xFF is stuffed), so it can be searched
/// for from the last start-of-scan on.
fn jpeg_complete(bytes: &[u8]) -> bool {
    let start_of_scan = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    start_of_scan.is_some_and(|at| bytes[at..].windows(2).any(|w| w == [0xFF, 0xD9]))
}
