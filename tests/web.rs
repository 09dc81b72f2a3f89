//! The parity checks in a real browser (headless Chromium): both CPU backends and WebGPU.
#![cfg(target_family = "wasm")]

mod common;

use common::{Fixture, check_parity};
use vit_wasm::backend::BackendKind;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// On each of this build's CPU matmul kernels (the page times them and keeps the fastest).
#[wasm_bindgen_test]
async fn parity_on_flex() {
    for kernel in vit_wasm::backend::gemm::KERNELS {
        vit_wasm::backend::gemm::choose(kernel.name);
        for fixture in Fixture::ALL {
            check_parity(fixture, BackendKind::Flex, 3e-5).await;
        }
        common::check_variants(BackendKind::Flex, 3e-5).await;
    }
}

#[wasm_bindgen_test]
async fn parity_on_ndarray() {
    for fixture in Fixture::ALL {
        check_parity(fixture, BackendKind::Ndarray, 3e-5).await;
    }
    common::check_variants(BackendKind::Ndarray, 3e-5).await;
}

/// CI builds with REQUIRE_WEBGPU set: there a missing adapter fails the test instead of skipping.
#[wasm_bindgen_test]
async fn parity_on_webgpu() {
    if let Err(e) = BackendKind::Wgpu.device().await {
        assert!(
            option_env!("REQUIRE_WEBGPU").is_none(),
            "WebGPU is required here but unavailable: {e}"
        );
        web_sys::console::log_1(&format!("skipping WebGPU parity: {e}").into());
        return;
    }
    for fixture in Fixture::ALL {
        check_parity(fixture, BackendKind::Wgpu, 1e-4).await;
    }
    common::check_variants(BackendKind::Wgpu, 1e-4).await;
}

#[wasm_bindgen_test]
fn cifar_files_parse_in_the_browser() {
    use vit_wasm::data::cifar::read_file;
    let binary = read_file("data_batch_1.bin", common::CIFAR_BATCH)
        .unwrap()
        .batches
        .remove(0);
    let python = read_file("cifar-10-python.tar.gz", common::CIFAR_PYTHON_TAR).unwrap();
    assert_eq!(python.batches.len(), 3);
    assert_eq!(python.batches[0].images.values, binary.images.values);
    let e = read_file("bad_label.bin", common::CIFAR_BAD_LABEL).unwrap_err();
    assert_eq!(
        e.to_string(),
        "bad_label.bin: record 1 has label 12; CIFAR-10 labels are 0 to 9"
    );
    // Hostile files: an error naming the file, in bounded memory, and the tab goes on.
    for (name, bytes, reason) in common::CIFAR_HOSTILE {
        let e = read_file(name, bytes).unwrap_err();
        assert!(e.to_string().starts_with(&format!("{name}: ")), "{e}");
        assert!(e.to_string().contains(reason), "{name}: {e}");
    }
}

#[wasm_bindgen_test]
async fn adamw_loss_curve_matches_pytorch_in_the_browser() {
    for backend in [BackendKind::Flex, BackendKind::Ndarray, BackendKind::Wgpu] {
        if backend == BackendKind::Wgpu && option_env!("REQUIRE_WEBGPU").is_none() && backend.device().await.is_err() {
            continue;
        }
        common::check_loss_curve(backend).await;
    }
}
