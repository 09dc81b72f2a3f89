//! Our logits and features against Hugging Face `transformers` and `timm` on the same weights.

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
