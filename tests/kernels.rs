//! The browser's CPU kernels (`backend::gemm`), run natively: natively Burn's own matmul is the
//! faster one, so the kernels are off unless asked for, and this test binary (its own process)
//! turns them on. Each tile kernel the native build has is checked against the reference through
//! the whole model; in the browser, `tests/web.rs` and the page tests do the same for the wasm
//! builds' kernels.
#![cfg(not(target_family = "wasm"))]

mod common;

use common::{Fixture, check_parity};
use vit_wasm::backend::BackendKind;
use vit_wasm::backend::gemm::{self, KERNELS};

const TOLERANCE: f32 = 3e-5;

/// The kernel in use is process-wide: the tests take turns with it.
static KERNEL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The panel width the first block's MLP weight is laid out in.
fn panel_of(model: &vit_wasm::classifier::Classifier) -> usize {
    model.model.blocks[0].mlp.fc1.weight.dims()[2]
}

#[test]
fn every_kernel_matches_the_reference_and_survives_backend_moves() {
    let _turn = KERNEL.lock().unwrap();
    gemm::set_enabled(true);
    for kernel in KERNELS {
        gemm::choose(kernel.name);
        for fixture in Fixture::ALL {
            pollster::block_on(check_parity(fixture, BackendKind::Flex, TOLERANCE));
        }
        let mut model = pollster::block_on(common::classifier(Fixture::Hf, BackendKind::Flex));
        assert_eq!(
            panel_of(&model),
            kernel.panel,
            "{}: weights packed for the kernel",
            kernel.name
        );
        // To ndarray (one row-major panel) and back (packed again), the same logits throughout.
        let pixels = common::reference("grey.png", "hf.pixels");
        let want = common::reference("grey.png", "hf.logits");
        for backend in [BackendKind::Ndarray, BackendKind::Flex] {
            let device = pollster::block_on(backend.device()).unwrap();
            model = model.moved_to(&device);
            let expected_panel = if backend == BackendKind::Flex { kernel.panel } else { 96 };
            assert_eq!(panel_of(&model), expected_panel, "{} on {backend}", kernel.name);
            let logits = pollster::block_on(model.logits(std::slice::from_ref(&pixels))).unwrap();
            let diff = common::max_abs_diff(&logits[0], &want);
            assert!(
                diff <= TOLERANCE,
                "{} on {backend}: logits differ by {diff}",
                kernel.name
            );
        }
    }
}

#[test]
fn attention_weights_match_the_reference_on_the_kernels() {
    let _turn = KERNEL.lock().unwrap();
    gemm::set_enabled(true);
    let model = pollster::block_on(common::classifier(Fixture::Hf, BackendKind::Flex));
    common::check_last_attention(&model);
}
