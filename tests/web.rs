//! The parity checks in a real browser (headless Chromium): both CPU backends and WebGPU.
#![cfg(target_family = "wasm")]

mod common;

use common::{Fixture, check_parity};
use vit_wasm::backend::BackendKind;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn parity_on_flex() {
    for fixture in Fixture::ALL {
        check_parity(fixture, BackendKind::Flex, 3e-5).await;
    }
}

#[wasm_bindgen_test]
async fn parity_on_ndarray() {
    for fixture in Fixture::ALL {
        check_parity(fixture, BackendKind::Ndarray, 3e-5).await;
    }
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
}
