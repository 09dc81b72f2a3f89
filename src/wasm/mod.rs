//! The page's worker API: thin glue of exported classes over the library, as Burn's
//! `mnist-inference-web` exports its model. [`Backend`] starts a device; a [`WeightsUpload`]
//! streams a weights file in and becomes a [`Model`]; [`CifarData`] holds uploaded CIFAR-10
//! images, and [`PictureData`] the person's own pictures, by class. Every failure is a JS `Error` with a stable `code` beside its message.

mod data;
mod error;
mod model;
mod pictures;

pub use data::CifarData;
pub use model::{Backend, Model, WeightsUpload};
pub use pictures::PictureData;
/// `initThreadPool(n)`: starts the rayon pool (Web Workers sharing this module's memory) that
/// the threaded build's CPU kernels run on. The page calls it once, before anything else.
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

use serde::Serialize;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::backend::gemm::{self, select::Timing};
use error::Failure;

#[wasm_bindgen]
extern "C" {
    /// `performance.now()`, in windows and workers alike.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn now_ms() -> f64;
}

#[wasm_bindgen(start)]
fn start() {
    crate::backend::run_constructors();
    console_error_panic_hook::set_once();
}

#[derive(Serialize)]
struct KernelChoice {
    kernel: &'static str,
    /// Every kernel of this build, the chosen one first, when they were timed.
    measured: Option<Vec<Timing>>,
}

/// Chooses the CPU matmul kernel: `name` if this build has it (one chosen on an earlier visit),
/// else by timing this build's kernels here in about a tenth of a second (`select::measure`).
/// Called before a model loads: weights are laid out for the kernel in use when they load.
#[wasm_bindgen(js_name = chooseCpuKernel)]
pub fn choose_cpu_kernel(name: Option<String>) -> Result<JsValue, Failure> {
    let choice = match name.as_deref().and_then(gemm::choose) {
        Some(kernel) => KernelChoice {
            kernel: kernel.name,
            measured: None,
        },
        None => {
            let measured = gemm::select::measure(now_ms);
            KernelChoice {
                kernel: gemm::kernel().name,
                measured: Some(measured),
            }
        }
    };
    error::to_js(&choice)
}

/// The size of wasm memory, which never shrinks: after a load, the peak that load reached.
#[wasm_bindgen(js_name = wasmMemoryBytes)]
pub fn wasm_memory_bytes() -> f64 {
    wasm_bindgen::memory()
        .unchecked_into::<js_sys::WebAssembly::Memory>()
        .buffer()
        .unchecked_into::<js_sys::ArrayBuffer>()
        .byte_length() as f64
}
