//! Our decode + resize + normalise against `ViTImageProcessorPil` (HF) and timm's eval transform.
#![cfg(not(target_family = "wasm"))]

mod common;

use common::{Fixture, IMAGES, classifier, max_abs_diff, reference};
use vit_wasm::backend::BackendKind;
use vit_wasm::error::{ImageError, VitError};

/// One 8-bit level after normalisation by the smallest std (0.224).
const LEVEL: f32 = 1.0 / 255.0 / 0.224;

#[test]
fn pixels_match_the_reference_processors() {
    for fixture in [Fixture::Hf, Fixture::Timm] {
        let model = pollster::block_on(classifier(fixture, BackendKind::Flex));
        let (_, key) = fixture.keys();
        for (name, bytes) in IMAGES {
            let ours = model.pixels(name, bytes).unwrap();
            let theirs = reference(name, &format!("{key}.pixels"));
            let diff = max_abs_diff(&ours, &theirs);
            // Pillow's resize is reproduced exactly; JPEG decoders (libjpeg-turbo there, zune-jpeg
            // here) may round their IDCT differently by a few levels.
            let tolerance = if name.ends_with(".jpg") { 3.0 * LEVEL } else { 1e-6 };
            assert!(
                diff <= tolerance,
                "{fixture:?} {name}: pixels differ by {diff} (> {tolerance})"
            );
        }
    }
}

#[test]
fn image_files_classify_like_the_reference_end_to_end() {
    let model = pollster::block_on(classifier(Fixture::Hf, BackendKind::Flex));
    let lossless: Vec<_> = IMAGES.iter().filter(|(n, _)| !n.ends_with(".jpg")).collect();
    let pixels: Vec<_> = lossless.iter().map(|(n, b)| model.pixels(n, b).unwrap()).collect();
    let logits = pollster::block_on(model.logits(&pixels)).unwrap();
    for ((name, _), ours) in lossless.iter().zip(&logits) {
        let theirs = reference(name, "hf.logits");
        assert!(max_abs_diff(ours, &theirs) <= 3e-5, "{name}");
        let top = model.top_k(name, ours, 5).unwrap();
        let expected = model.top_k(name, &theirs, 5).unwrap();
        assert_eq!(
            top.iter().map(|p| p.index).collect::<Vec<_>>(),
            expected.iter().map(|p| p.index).collect::<Vec<_>>(),
            "{name}"
        );
        for (a, b) in top.iter().zip(&expected) {
            assert!((a.probability - b.probability).abs() < 1e-5, "{name}: {a:?} vs {b:?}");
        }
        assert_eq!(top[0].label, common::LABELS[top[0].index]);
    }
}

fn image_error(name: &str, bytes: &[u8]) -> ImageError {
    let model = pollster::block_on(classifier(Fixture::Hf, BackendKind::Flex));
    match model.pixels(name, bytes) {
        Err(VitError::Image(e)) => e,
        other => panic!("{name}: expected an image error, got {:?}", other.map(|p| p.len())),
    }
}

#[test]
fn bad_images_get_errors_that_name_the_file() {
    assert!(matches!(image_error("empty.png", b""), ImageError::Empty { .. }));

    let e = image_error("notes.txt", b"these are not pixels");
    assert!(matches!(e, ImageError::Decode { .. }), "{e}");
    assert!(e.to_string().starts_with("notes.txt: "), "{e}");

    // Every format cut short, and a JPEG cut right after its start-of-scan header (no image data
    // at all), is refused, as Pillow refuses it, rather than decoded into made-up pixels.
    for (name, bytes) in IMAGES {
        let e = image_error(name, &bytes[..bytes.len() / 2]);
        assert!(matches!(e, ImageError::Decode { .. }), "{name}: {e}");
    }
    let jpeg = IMAGES[6].1;
    let scan = jpeg.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    let header = 2 + usize::from(u16::from_be_bytes([jpeg[scan + 2], jpeg[scan + 3]]));
    let e = image_error("cut.jpg", &jpeg[..scan + header]);
    assert_eq!(
        e.to_string(),
        "cut.jpg: not an image this app can read (PNG, JPEG, WebP, GIF, BMP): the file is truncated (its image data ends before the end-of-image marker)"
    );

    // Valid BMP headers claiming 20000 x 20000 pixels, 16000 x 12000 (within the side limit, over
    // Pillow's pixel limit), or a 4000 x 20 strip: refused before any allocation.
    for (width, height) in [(20_000u32, 20_000u32), (16_000, 12_000), (4_000, 20)] {
        let mut bmp = IMAGES[1].1.to_vec();
        bmp[18..22].copy_from_slice(&width.to_le_bytes());
        bmp[22..26].copy_from_slice(&height.to_le_bytes());
        let e = image_error("big.bmp", &bmp);
        assert!(
            matches!(e, ImageError::TooLarge { width: w, height: h, .. } if (w, h) == (width, height)),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            format!(
                "big.bmp: {width}x{height} pixels is out of range (at most 16384 pixels a side and 178 megapixels, a side at most 64 times the other)"
            )
        );
    }
}

#[test]
fn logits_that_are_not_numbers_are_an_error_never_an_answer() {
    let model = pollster::block_on(classifier(Fixture::Hf, BackendKind::Flex));
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut logits = vec![0.5; 7];
        logits[3] = bad;
        let e = model.top_k("grey.png", &logits, 5).unwrap_err();
        assert!(matches!(e, VitError::NotFinite { .. }), "{e}");
        assert_eq!(e.code(), "not-finite");
        assert_eq!(
            e.to_string(),
            "grey.png: the model's output is NaN or infinite, so there is no answer to show"
        );
    }
}
