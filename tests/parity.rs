//! Our logits and features against Hugging Face `transformers` and `timm` on the same weights.
#![cfg(not(target_family = "wasm"))]

mod common;

use common::{Fixture, check_parity};
use vit_wasm::backend::BackendKind;

const TOLERANCE: f32 = 3e-5;

#[test]
fn every_layout_and_dtype_matches_the_reference_on_flex() {
    for fixture in Fixture::ALL {
        pollster::block_on(check_parity(fixture, BackendKind::Flex, TOLERANCE));
    }
}

#[test]
fn every_layout_and_dtype_matches_the_reference_on_ndarray() {
    for fixture in Fixture::ALL {
        pollster::block_on(check_parity(fixture, BackendKind::Ndarray, TOLERANCE));
    }
}

#[test]
fn timm_variants_match_timm_on_the_cpu_backends() {
    for backend in [BackendKind::Flex, BackendKind::Ndarray] {
        pollster::block_on(common::check_variants(backend, TOLERANCE));
    }
}

#[test]
fn attention_weights_match_the_reference() {
    let model = pollster::block_on(common::classifier(Fixture::Hf, BackendKind::Flex));
    common::check_last_attention(&model);
}

#[test]
fn attention_rollout_matches_the_reference() {
    let model = pollster::block_on(common::classifier(Fixture::Hf, BackendKind::Flex));
    let pixels: Vec<_> = common::IMAGES
        .iter()
        .map(|(n, _)| common::reference(n, "hf.pixels"))
        .collect();
    let (_, rollout) = pollster::block_on(model.logits_with_attention(&pixels)).unwrap();
    for ((name, _), ours) in common::IMAGES.iter().zip(&rollout) {
        assert_eq!(ours.len(), 36);
        let diff = common::max_abs_diff(ours, &common::reference(name, "hf.rollout"));
        assert!(diff <= 1e-6, "{name}: rollout differs by {diff}");
    }
}
