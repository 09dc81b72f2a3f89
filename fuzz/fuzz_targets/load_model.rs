//! Weights + configs → model, on arbitrary bytes: errors are fine, panics and hangs are not.
//! Input: [config length u32 LE][preprocessor length u32 LE][config][preprocessor][weights];
//! `seed.py` writes the fixtures in that form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vit_wasm::load::{ModelFiles, NamedBytes, load_vit};

fuzz_target!(|data: &[u8]| {
    let Some((header, rest)) = data.split_at_checked(8) else { return };
    let len = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap()) as usize;
    let (config, rest) = rest.split_at(len(&header[..4]).min(rest.len()));
    let (preprocessor, weights) = rest.split_at(len(&header[4..]).min(rest.len()));
    let files = ModelFiles {
        weights: NamedBytes { name: "model.safetensors", bytes: weights },
        config: (!config.is_empty()).then_some(NamedBytes { name: "config.json", bytes: config }),
        preprocessor: (!preprocessor.is_empty()).then_some(NamedBytes { name: "preprocessor_config.json", bytes: preprocessor }),
    };
    let _ = load_vit(files, &burn::prelude::Device::flex());
});
