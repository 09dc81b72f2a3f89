//! The page's worker API: thin glue of exported classes over the library, as Burn's
//! `mnist-inference-web` exports its model. [`Backend`] starts a device; a [`WeightsUpload`]
//! streams a weights file in and becomes a [`Model`] (a `session::Session`); [`CifarData`] holds
//! uploaded CIFAR-10 images, and [`PictureData`] the person's own pictures, by class. Values go
//! out as the JavaScript shapes `www/protocol.js` declares, and every failure is a JS `Error` with
//! a stable `code` beside its message. No rule lives here: each is the library's.

mod data;
mod error;
mod model;
mod pictures;

pub use data::CifarData;
pub use model::{Backend, Model, WeightsUpload, check_train_options, image_count};
pub use pictures::PictureData;
/// `initThreadPool(n)`: starts the rayon pool (Web Workers sharing this module's memory) that
/// the threaded build's CPU kernels run on. The page calls it once, before anything else.
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

use serde::Serialize;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::backend::gemm::select::choose_or_measure;
use crate::load::{CONFIG_FILE, PREPROCESSOR_FILE, WEIGHTS_FILE};
use error::Failure;

#[wasm_bindgen(start)]
fn start() {
    crate::backend::run_constructors();
    console_error_panic_hook::set_once();
}

/// Chooses the CPU matmul kernel (see `gemm::select::choose_or_measure`): `name`, one chosen on
/// an earlier visit, or by timing them.
#[wasm_bindgen(js_name = chooseCpuKernel, unchecked_return_type = "import('../protocol.js').KernelChoice")]
pub fn choose_cpu_kernel(name: Option<String>) -> Result<JsValue, Failure> {
    error::to_js(&choose_or_measure(name.as_deref()))
}

#[derive(Serialize)]
struct FileNames {
    weights: &'static str,
    config: &'static str,
    preprocessor: &'static str,
}

/// The names of a model's files in a folder, as the hub has them.
#[wasm_bindgen(js_name = modelFileNames, unchecked_return_type = "import('../protocol.js').ModelFileNames")]
pub fn model_file_names() -> Result<JsValue, Failure> {
    error::to_js(&FileNames {
        weights: WEIGHTS_FILE,
        config: CONFIG_FILE,
        preprocessor: PREPROCESSOR_FILE,
    })
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
