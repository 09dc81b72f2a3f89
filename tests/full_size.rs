//! Opt-in: a full-size ViT-B/16 (random weights, HF layout, ~346 MB) against `transformers`.
//! Generate it with `tests/fixtures/generate.py --full DIR`, then
//! `VIT_FULL_MODEL=DIR cargo test --release --test full_size -- --ignored`.
#![cfg(not(target_family = "wasm"))]

mod common;

use std::time::Instant;

use safetensors::SafeTensors;
use vit_wasm::backend::BackendKind;
use vit_wasm::classifier::Classifier;
use vit_wasm::load::{ModelFiles, NamedBytes};

#[test]
#[ignore = "needs a generated ViT-B/16; see the module docs"]
fn full_size_vit_b16_matches_transformers() {
    let dir = std::path::PathBuf::from(std::env::var("VIT_FULL_MODEL").expect("set VIT_FULL_MODEL to the folder"));
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
    let (config, preprocessor, reference) = (
        read("config.json"),
        read("preprocessor_config.json"),
        read("reference.safetensors"),
    );
    let reference = SafeTensors::deserialize(&reference).unwrap();
    let floats = |k: &str| -> Vec<f32> {
        reference
            .tensor(k)
            .unwrap()
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    };
    for backend in [BackendKind::Flex, BackendKind::Ndarray] {
        let weights = read("model.safetensors");
        let device = pollster::block_on(backend.device()).unwrap();
        let start = Instant::now();
        let files = ModelFiles {
            weights: NamedBytes {
                name: "model.safetensors",
                bytes: &weights,
            },
            config: Some(NamedBytes {
                name: "config.json",
                bytes: &config,
            }),
            preprocessor: Some(NamedBytes {
                name: "preprocessor_config.json",
                bytes: &preprocessor,
            }),
        };
        let model = Classifier::load(files, &device).unwrap();
        drop(weights);
        let loaded = start.elapsed();
        let start = Instant::now();
        let logits = pollster::block_on(model.logits(&[floats("pixels")])).unwrap().remove(0);
        let diff = common::max_abs_diff(&logits, &floats("logits"));
        println!(
            "{backend}: load {loaded:.2?}, forward {:.2?}, max |logit diff| {diff:e}",
            start.elapsed()
        );
        assert_eq!(logits.len(), 1000);
        assert!(diff <= 1e-4, "{backend}: logits differ by {diff}");
    }
}
