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
/// More pixels than this are refused as a decompression bomb: Pillow, the reference, refuses
/// beyond twice its `MAX_IMAGE_PIXELS`, so nothing it classifies is refused here.
pub const MAX_PIXELS: u64 = 2 * 89_478_485;

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
    let pixels = u64::from(width) * u64::from(height);
    if width > MAX_SIDE || height > MAX_SIDE || pixels > MAX_PIXELS || short == 0 || long / short > MAX_ASPECT {
        return Err(ImageError::TooLarge {
            file: file.into(),
            width,
            height,
            max_side: MAX_SIDE,
            max_megapixels: MAX_PIXELS / 1_000_000,
            max_aspect: MAX_ASPECT,
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

/// Whether a JPEG's image data runs to its end-of-image marker. A file cut short decodes without
/// complaint here (the decoder makes up the missing pixels); Pillow, the reference, refuses it as
/// truncated. Walked from the start, segment by segment (each declares its length) and through
/// each scan's entropy-coded data (where 0xFF is stuffed) to the marker after it, so that
/// thumbnails inside segments and data after the end are never mistaken for the image's.
fn jpeg_complete(bytes: &[u8]) -> bool {
    let mut at = 2; // past the start-of-image marker
    loop {
        // Fill bytes (0xFF 0xFF …) may come before a marker.
        while bytes.get(at..at + 2) == Some(&[0xFF, 0xFF]) {
            at += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (bytes.get(at), bytes.get(at + 1)) else {
            return false;
        };
        at += 2;
        match marker {
            0xD9 => return true,
            // Restarts and TEM have no length.
            0xD0..=0xD7 | 0x01 => {}
            _ => {
                let Some(&[high, low]) = bytes.get(at..at + 2) else {
                    return false;
                };
                at += usize::from(u16::from_be_bytes([high, low]));
                if marker == 0xDA {
                    loop {
                        match (bytes.get(at), bytes.get(at + 1)) {
                            (Some(&0xFF), Some(&(0x00 | 0xD0..=0xD7))) => at += 2,
                            (Some(&0xFF), Some(_)) => break,
                            (Some(_), _) => at += 1,
                            (None, _) => return false,
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::jpeg_complete;

    const JPEG: &[u8] = include_bytes!("../../tests/fixtures/images/gradient.jpg");

    #[test]
    fn a_jpeg_is_complete_up_to_its_end_marker_whatever_follows() {
        assert!(jpeg_complete(JPEG));
        // Data after the end (a phone's trailer), even one that looks like a scan, is not read.
        let mut trailer = JPEG.to_vec();
        trailer.extend([0xFF, 0xDA, 0x00, 0x02, 1, 2, 3]);
        assert!(jpeg_complete(&trailer));
        for cut in [JPEG.len() - 2, JPEG.len() / 2, 20, 2] {
            assert!(!jpeg_complete(&JPEG[..cut]), "cut at {cut}");
        }
    }
}
