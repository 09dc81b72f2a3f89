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
use xxhash_rust::xxh3::Xxh3;

use crate::backend::BackendKind;
use crate::backend::gemm::{self, select::Timing};
use crate::checkpoint::load_vit_from;
use crate::classifier::{Classifier, Prediction};
use crate::config::NamedBytes;
use crate::safetensors_file::SafetensorsReader;

#[derive(Default)]
struct State {
    current: Option<(BackendKind, Device)>,
    /// The loaded model, with its own head.
    classifier: Option<Rc<Classifier>>,
    /// A weights file arriving chunk by chunk (see `beginWeights`), and its hash so far.
    incoming: Option<(SafetensorsReader, Xxh3)>,
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
    crate::backend::run_constructors();
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
        let moved = s.current.as_ref().is_none_or(|(current, _)| *current != kind);
        s.current = Some((kind, device.clone()));
        if moved {
            s.classifier = s.classifier.take().map(|old| Rc::new(moved_to(&old, kind, &device)));
        }
    });
    Ok(kind.name().into())
}

/// The classifier on `device`, its weights laid out for that backend and the kernel in use.
/// Cloning a module shares its tensors; a forward pass still running keeps its own.
fn moved_to(old: &Classifier, kind: BackendKind, device: &Device) -> Classifier {
    Classifier {
        model: old.model.clone().moved_to(device),
        config: old.config.clone(),
        backend: kind,
        device: device.clone(),
    }
}

#[derive(Serialize)]
struct KernelChoice {
    kernel: &'static str,
    /// Every kernel of this build, fastest first, when they were timed.
    measured: Option<Vec<Timing>>,
}

/// Chooses the CPU matmul kernel: `name` if this build has it (one timed fastest on an earlier
/// visit), else the fastest of this build's kernels, timed here in about a tenth of a second.
/// The page calls it before any model loads; a model loaded before is repacked for the kernel.
#[wasm_bindgen(js_name = chooseCpuKernel)]
pub fn choose_cpu_kernel(name: Option<String>) -> Result<JsValue, JsError> {
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
    STATE.with_borrow_mut(|s| {
        if let (Some(old), Some((kind, device))) = (s.classifier.take(), &s.current) {
            s.classifier = Some(Rc::new(moved_to(&old, *kind, device)));
        }
    });
    Ok(serde_wasm_bindgen::to_value(&choice)?)
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

/// Starts receiving a weights file. The page streams the file into wasm memory with
/// `pushWeights`, and each tensor is converted as soon as its bytes are in, the bytes dropped: no
/// copy of the whole file ever exists, in JavaScript or here, so loading peaks near the size of
/// the tensors.
#[wasm_bindgen(js_name = beginWeights)]
pub fn begin_weights(name: String) {
    STATE.with_borrow_mut(|s| s.incoming = Some((SafetensorsReader::new(&name), Xxh3::new())));
}

/// The next chunk of the weights file. A chunk the file cannot have (a bad header, more bytes
/// than it declares) is an error, and the file is dropped.
#[wasm_bindgen(js_name = pushWeights)]
pub fn push_weights(chunk: &[u8]) -> Result<(), JsError> {
    STATE.with_borrow_mut(|s| {
        let (reader, hash) = s
            .incoming
            .as_mut()
            .ok_or_else(|| JsError::new("no weights file is being received"))?;
        hash.update(chunk);
        reader.push(chunk).map_err(|e| {
            s.incoming = None;
            js_err(e)
        })
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

/// Loads a model from the weights received since `beginWeights` and the optional configs: the
/// tensors read so far move into the model. Replaces the current model only once the new one has
/// loaded, so a bad file leaves the page with the model it had.
#[wasm_bindgen(js_name = loadModel)]
pub fn load_model(config: Option<Vec<u8>>, preprocessor: Option<Vec<u8>>) -> Result<JsValue, JsError> {
    let (kind, device) = STATE
        .with_borrow(|s| s.current.clone())
        .ok_or_else(|| JsError::new("no backend is set"))?;
    let (reader, weights_hash) = STATE
        .with_borrow_mut(|s| s.incoming.take())
        .ok_or_else(|| JsError::new("no weights file was received"))?;
    let (model, model_config) = load_vit_from(
        reader.finish().map_err(js_err)?,
        config.as_deref().map(|bytes| NamedBytes {
            name: "config.json",
            bytes,
        }),
        preprocessor.as_deref().map(|bytes| NamedBytes {
            name: "preprocessor_config.json",
            bytes,
        }),
        &device,
    )
    .map_err(js_err)?;
    let classifier = Classifier {
        model,
        config: model_config,
        backend: kind,
        device,
    };
    let fingerprint = finetune::fingerprint(
        weights_hash,
        [config.as_deref(), preprocessor.as_deref()].into_iter().flatten(),
    );
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
    c.logits_with_attention(&[blank]).await.map_err(js_err)?;
    Ok(now_ms() - start)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Classification {
    top_k: Vec<Prediction>,
    /// How long the forward pass that classified this image and the rest of its batch took.
    milliseconds: f64,
    /// Images in that pass.
    batch: usize,
    backend: &'static str,
    /// Attention rollout over the patch grid, row-major, `grid` x `grid`.
    attention: Vec<f32>,
    grid: usize,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Classified {
    Done(Classification),
    Failed { error: String },
}

/// Classifies image files (`names[i]`'s bytes are `files[i]`) in one forward pass. One entry per
/// file, in order: its classification, or `{ error }` naming the file if it is not an image this
/// app reads; the others are classified all the same.
#[wasm_bindgen]
pub async fn classify(names: Vec<String>, files: Vec<js_sys::Uint8Array>, top_k: usize) -> Result<JsValue, JsError> {
    if names.len() != files.len() {
        return Err(JsError::new("classify: one name per file"));
    }
    let c = chosen_classifier()?;
    let mut pixels = Vec::new();
    // Per file, its row in the batch or why it has none.
    let rows: Vec<Result<usize, String>> = names
        .iter()
        .zip(files)
        .map(|(name, bytes)| {
            let image = c.pixels(name, &bytes.to_vec()).map_err(|e| e.to_string())?;
            pixels.push(image);
            Ok(pixels.len() - 1)
        })
        .collect();
    let start = now_ms();
    let (logits, mut rollout) = if pixels.is_empty() {
        Default::default()
    } else {
        c.logits_with_attention(&pixels).await.map_err(js_err)?
    };
    let milliseconds = now_ms() - start;
    let results: Vec<Classified> = rows
        .into_iter()
        .map(|row| match row {
            Ok(i) => Classified::Done(Classification {
                top_k: c.top_k(&logits[i], top_k.max(1)),
                milliseconds,
                batch: pixels.len(),
                backend: c.backend.name(),
                attention: std::mem::take(&mut rollout[i]),
                grid: c.config.grid_size(),
            }),
            Err(error) => Classified::Failed { error },
        })
        .collect();
    Ok(serde_wasm_bindgen::to_value(&results)?)
}
