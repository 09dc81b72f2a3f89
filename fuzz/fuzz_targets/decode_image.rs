//! Image bytes → model input, on arbitrary bytes, with HF's and timm's preprocessing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vit_wasm::data::image::decode;
use vit_wasm::data::preprocess::{Preprocess, preprocess};
use vit_wasm::data::resize::Interpolation;

fuzz_target!(|data: &[u8]| {
    if let Ok(image) = decode("fuzz.png", data) {
        for (interpolation, crop_pct) in [(Interpolation::Bilinear, None), (Interpolation::Bicubic, Some(0.875))] {
            let p = Preprocess { size: 32, mean: [0.5; 3], std: [0.5; 3], interpolation, crop_pct };
            assert_eq!(preprocess(&image, &p).len(), 3 * 32 * 32);
        }
    }
});
