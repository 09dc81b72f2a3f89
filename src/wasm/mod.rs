//! The JavaScript API, for the page's Web Worker: thin glue over the library. One model per
//! worker; every failure comes back as a JS `Error` whose message names the file at fault.
//! Classification lives here, fine-tuning in `finetune`.

mod finetune;

/// `initThreadPool(n)`: starts the rayon pool (Web Workers sharing this module's memory) that
/// the threaded build's CPU kernels run on. The page calls it once, before anything else.
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

use std::cell::RefCell;
use std::rc::Rc;

use burn::module::Module;
use burn::prelude::Device;
use serde::Serialize;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::backend::BackendKind;
use crate::checkpoint::ModelFiles;
use crate::classifier::{Classifier, Prediction};
use crate::config::NamedBytes;

#[derive(Default)]
struct State {
    current: Option<(BackendKind, Device)>,
    /// The loaded model, with its own head.
    classifier: Option<Rc<Classifier>>,
    /// A weights file arriving chunk by chunk, with its name (see `beginWeights`).
    incoming: Option<(String, Vec<u8>)>,
    data: finetune::Data,
    /// A head trained or imported for the loaded model, and whether images are classified with it.
    trained: Option<finetune::TrainedHead>,
    use_trained: bool,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

#[wasm_bindgen]
extern "C" {
    /// `performance.now()`, in windows and workers alike.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn now_ms() -> f64;
}

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// The loaded model with its own head (for features).
fn classifier() -> Result<Rc<Classifier>, JsError> {
    STATE
        .with_borrow(|s| s.classifier.clone())
        .ok_or_else(|| JsError::new("no model is loaded"))
}

/// The loaded model with the head the page has chosen (for classifying).
fn chosen_classifier() -> Result<Rc<Classifier>, JsError> {
    let c = classifier()?;
    Ok(STATE.with_borrow(|s| match (&s.trained, s.use_trained) {
        (Some(t), true) => Rc::new(t.attach(&c)),
        _ => c,
    }))
}

/// Switches to `backend` (`wgpu`, `flex` or `ndarray`), moving a loaded model along.
/// Fails, leaving the current backend in place, if the backend cannot start (no WebGPU).
#[wasm_bindgen(js_name = setBackend)]
pub async fn set_backend(backend: String) -> Result<String, JsError> {
    let kind: BackendKind = backend.parse().map_err(|e: String| JsError::new(&e))?;
    let device = kind.device().await.map_err(js_err)?;
    STATE.with_borrow_mut(|s| {
        s.current = Some((kind, device.clone()));
        if let Some(old) = s.classifier.take() {
            // Cloning a module shares its tensors; a forward pass still running keeps its own.
            s.classifier = Some(Rc::new(Classifier {
                model: old.model.clone().to_device(&device),
                config: old.config.clone(),
                backend: kind,
                device: device.clone(),
            }));
        }
    });
    Ok(kind.name().into())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ModelInfo {
    image_size: usize,
    patch_size: usize,
    hidden_size: usize,
    num_layers: usize,
    num_heads: usize,
    num_labels: usize,
    parameters: usize,
    backend: &'static str,
    wasm_memory_bytes: f64,
    /// A hash of the model's files: the key for features cached in the browser.
    fingerprint: String,
}

/// Starts receiving a weights file of `len` bytes (0 if unknown). The page streams the file
/// straight into wasm memory with `pushWeights`, so no full copy of it ever exists in JavaScript:
/// loading peaks at the file plus its tensors.
#[wasm_bindgen(js_name = beginWeights)]
pub fn begin_weights(name: String, len: usize) -> Result<(), JsError> {
    let mut buffer = Vec::new();
    buffer.try_reserve_exact(len).map_err(|_| too_large(&name))?;
    STATE.with_borrow_mut(|s| s.incoming = Some((name, buffer)));
    Ok(())
}

#[wasm_bindgen(js_name = pushWeights)]
pub fn push_weights(chunk: &[u8]) -> Result<(), JsError> {
    STATE.with_borrow_mut(|s| match &mut s.incoming {
        Some((name, buffer)) => {
            buffer.try_reserve(chunk.len()).map_err(|_| too_large(name))?;
            buffer.extend_from_slice(chunk);
            Ok(())
        }
        None => Err(JsError::new("no weights file is being received")),
    })
}

fn too_large(name: &str) -> JsError {
    JsError::new(&format!(
        "{name}: too large for this browser tab's memory (wasm32 holds about 4 GB)"
    ))
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

/// Loads a model from the weights received since `beginWeights` and the optional configs. The
/// weights' bytes are freed once the tensors exist. Replaces the current model only once the new
/// one has loaded, so a bad file leaves the page with the model it had.
#[wasm_bindgen(js_name = loadModel)]
pub fn load_model(config: Option<Vec<u8>>, preprocessor: Option<Vec<u8>>) -> Result<JsValue, JsError> {
    let (kind, device) = STATE
        .with_borrow(|s| s.current.clone())
        .ok_or_else(|| JsError::new("no backend is set"))?;
    let (weights_name, weights) = STATE
        .with_borrow_mut(|s| s.incoming.take())
        .ok_or_else(|| JsError::new("no weights file was received"))?;
    let files = ModelFiles {
        weights: NamedBytes {
            name: &weights_name,
            bytes: &weights,
        },
        config: config.as_deref().map(|bytes| NamedBytes {
            name: "config.json",
            bytes,
        }),
        preprocessor: preprocessor.as_deref().map(|bytes| NamedBytes {
            name: "preprocessor_config.json",
            bytes,
        }),
    };
    let classifier = Classifier::load(files, kind, &device).map_err(js_err)?;
    let fingerprint = finetune::fingerprint(
        [Some(&weights[..]), config.as_deref(), preprocessor.as_deref()]
            .into_iter()
            .flatten(),
    );
    drop(weights);
    let c = &classifier.config;
    let info = ModelInfo {
        image_size: c.image_size,
        patch_size: c.patch_size,
        hidden_size: c.hidden_size,
        num_layers: c.num_layers,
        num_heads: c.num_heads,
        num_labels: c.num_labels(),
        parameters: classifier.model.num_params(),
        backend: kind.name(),
        wasm_memory_bytes: wasm_memory_bytes(),
        fingerprint,
    };
    STATE.with_borrow_mut(|s| {
        s.classifier = Some(Rc::new(classifier));
        // A head belongs to the backbone it was trained on.
        s.trained = None;
        s.use_trained = false;
    });
    Ok(serde_wasm_bindgen::to_value(&info)?)
}

/// Runs one forward pass on a blank image, so that shader compilation (WebGPU) is not charged
/// to the first real one.
#[wasm_bindgen(js_name = warmUp)]
pub async fn warm_up() -> Result<f64, JsError> {
    let c = classifier()?;
    let blank = vec![0.0; c.config.num_channels * c.config.image_size * c.config.image_size];
    let start = now_ms();
    // V8 runs new wasm code in its baseline tier and recompiles a function once it has run
    // enough; a pool thread's long-running kernels took ~10 forward passes to get there, twice as
    // slow as one thread until then. Many small parallel matmuls get them there in half a second.
    #[cfg(feature = "threads")]
    {
        let a = burn::tensor::Tensor::<2>::ones([256, 256], &c.device);
        for _ in 0..2000 {
            a.clone().matmul(a.clone()).into_data();
        }
    }
    c.logits_with_attention(&[blank]).await.map_err(js_err)?;
    Ok(now_ms() - start)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Classification {
    top_k: Vec<Prediction>,
    milliseconds: f64,
    backend: &'static str,
    /// Attention rollout over the patch grid, row-major, `grid` x `grid`.
    attention: Vec<f32>,
    grid: usize,
}

/// Classifies one image file's bytes.
#[wasm_bindgen]
pub async fn classify(name: String, bytes: Vec<u8>, top_k: usize) -> Result<JsValue, JsError> {
    let c = chosen_classifier()?;
    let pixels = c.pixels(&name, &bytes).map_err(js_err)?;
    drop(bytes);
    let start = now_ms();
    let (logits, rollout) = c.logits_with_attention(&[pixels]).await.map_err(js_err)?;
    let milliseconds = now_ms() - start;
    let result = Classification {
        top_k: c.top_k(&logits[0], top_k.max(1)),
        milliseconds,
        backend: c.backend.name(),
        attention: rollout.into_iter().next().unwrap_or_default(),
        grid: c.config.grid_size(),
    };
    Ok(serde_wasm_bindgen::to_value(&result)?)
}
