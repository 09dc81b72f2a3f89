//! A device, a weights file arriving, and the model it became: classification, feature
//! extraction and heads.

use std::cell::{Cell, RefCell};

use burn::module::Module;
use burn::prelude::Device;
use js_sys::{Float32Array, Function, Promise, Reflect, Uint8Array, Uint32Array};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::data::CifarData;
use super::error::{Failure, to_js};
use super::pictures::PictureData;
use super::{now_ms, wasm_memory_bytes};
use crate::backend::BackendKind;
use crate::classifier::{Classifier, Prediction};
use crate::error::VitError;
use crate::fingerprint::Fingerprint;
use crate::load::safetensors_file::SafetensorsReader;
use crate::load::{Head, NamedBytes};
use crate::train::features::FeatureSource;
use crate::train::{Features, Progress, TrainOptions, extract_features, fit, sample};

/// A started backend: `wgpu`, `flex` or `ndarray`.
#[wasm_bindgen]
pub struct Backend {
    kind: BackendKind,
    device: Device,
}

#[wasm_bindgen]
impl Backend {
    /// Fails (code `backend-failed`) where the backend cannot start: no WebGPU.
    pub async fn start(name: String) -> Result<Backend, Failure> {
        let kind: BackendKind = name.parse().map_err(VitError::Request)?;
        Ok(Backend {
            kind,
            device: kind.device().await?,
        })
    }

    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.kind.name().into()
    }
}

/// A weights file streamed into wasm memory chunk by chunk: each tensor is converted as soon as
/// its bytes are in and the bytes dropped, so no copy of the whole file ever exists, in
/// JavaScript or here, and loading peaks near the size of the tensors.
#[wasm_bindgen]
pub struct WeightsUpload {
    reader: SafetensorsReader,
    fingerprint: Fingerprint,
}

#[wasm_bindgen]
impl WeightsUpload {
    #[wasm_bindgen(constructor)]
    pub fn new(name: String) -> Self {
        Self {
            reader: SafetensorsReader::new(&name),
            fingerprint: Fingerprint::default(),
        }
    }

    /// The next chunk. A chunk the file cannot have (a bad header, more bytes than it declares)
    /// is an error, and the upload is done for.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), Failure> {
        self.fingerprint.update(chunk);
        Ok(self.reader.push(chunk)?)
    }

    /// The model, on `backend`, from the weights and the optional configs.
    pub fn finish(
        self,
        backend: &Backend,
        config: Option<Vec<u8>>,
        preprocessor: Option<Vec<u8>>,
    ) -> Result<Model, Failure> {
        fn named<'a>(name: &'a str, bytes: &'a Option<Vec<u8>>) -> Option<NamedBytes<'a>> {
            bytes.as_deref().map(|bytes| NamedBytes { name, bytes })
        }
        let classifier = Classifier::from_weights(
            self.reader.finish()?,
            named("config.json", &config),
            named("preprocessor_config.json", &preprocessor),
            &backend.device,
        )?;
        let fingerprint = [&config, &preprocessor]
            .into_iter()
            .flatten()
            .fold(self.fingerprint, |f, part| f.part(part))
            .hex();
        Ok(Model {
            stored: classifier.clone(),
            own: classifier,
            trained: RefCell::new(None),
            use_trained: Cell::new(false),
            fingerprint,
        })
    }
}

/// A loaded model with its own head, and a head trained or imported for it.
#[wasm_bindgen]
pub struct Model {
    /// The model as its files have it (its own input size).
    stored: Classifier,
    /// The model as the page runs it: at the input size the person chose.
    own: Classifier,
    trained: RefCell<Option<Head>>,
    /// Whether images are classified with the trained head.
    use_trained: Cell<bool>,
    /// A hash of the model's files: the key for features cached in the browser.
    fingerprint: String,
}

impl Model {
    /// The key for this model's features: its files' hash, and the input size when it is not
    /// the model's own (the features differ).
    fn feature_key(&self) -> String {
        match self.own.config.image_size {
            size if size == self.stored.config.image_size => self.fingerprint.clone(),
            size => format!("{}@{size}", self.fingerprint),
        }
    }
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
    /// The input size the model was trained at (`image_size` may be another, on request).
    native_image_size: usize,
    parameters: usize,
    backend: &'static str,
    wasm_memory_bytes: f64,
    fingerprint: String,
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
    Failed { error: String, code: &'static str },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Extracted {
    #[serde(with = "serde_wasm_bindgen::preserve")]
    values: JsValue,
    #[serde(with = "serde_wasm_bindgen::preserve")]
    labels: JsValue,
    /// The images the rows are of.
    #[serde(with = "serde_wasm_bindgen::preserve")]
    indices: JsValue,
    complete: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Trained<'a> {
    reports: &'a [crate::train::EpochReport],
    /// `confusion[true][predicted]` on the test images.
    confusion: &'a [Vec<usize>],
    test_predictions: &'a [usize],
    class_names: &'a [String],
}

/// What training tells the page as it goes.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum TrainEvent<'a> {
    Step { step: usize, loss: f32 },
    Epoch { report: &'a crate::train::EpochReport },
}

#[wasm_bindgen]
impl Model {
    /// The model's shape, size and backend.
    pub fn info(&self) -> Result<JsValue, Failure> {
        let c = &self.own.config;
        to_js(&ModelInfo {
            image_size: c.image_size,
            patch_size: c.patch_size,
            hidden_size: c.hidden_size,
            num_layers: c.num_layers,
            num_heads: c.num_heads,
            num_labels: c.num_labels,
            native_image_size: self.stored.config.image_size,
            parameters: self.own.model.num_params(),
            backend: self.own.backend().name(),
            wasm_memory_bytes: wasm_memory_bytes(),
            fingerprint: self.feature_key(),
        })
    }

    /// Runs the model at `size` pixels a side (its position embeddings resampled from the ones
    /// its files have); heads trained or imported for another size are dropped. Its info.
    #[wasm_bindgen(js_name = atImageSize)]
    pub fn at_image_size(&mut self, size: usize) -> Result<JsValue, Failure> {
        self.own = self.stored.at_image_size(size)?;
        self.trained.replace(None);
        self.use_trained.set(false);
        self.info()
    }

    /// Moves the model to `backend`, its weights laid out for that backend's kernels.
    #[wasm_bindgen(js_name = moveTo)]
    pub fn move_to(&mut self, backend: &Backend) {
        if self.own.backend() != backend.kind {
            // Moved once: the model at the chosen size is made again from it (sharing its weights).
            self.stored = self.stored.moved_to(&backend.device);
            let size = self.own.config.image_size;
            self.own = self.stored.at_image_size(size).unwrap_or_else(|_| self.stored.clone());
        }
    }

    /// The model with the head the page has chosen.
    fn chosen(&self) -> Classifier {
        match (&*self.trained.borrow(), self.use_trained.get()) {
            (Some(head), true) => self.own.with_head(head),
            _ => self.own.clone(),
        }
    }

    /// Runs one forward pass on a blank image, so that shader compilation (WebGPU) is not charged
    /// to the first real one. Returns its milliseconds.
    #[wasm_bindgen(js_name = warmUp)]
    pub async fn warm_up(&self) -> Result<f64, Failure> {
        let c = &self.own.config;
        let blank = vec![0.0; c.num_channels * c.image_size * c.image_size];
        let start = now_ms();
        if self.own.has_head() {
            self.own.logits_with_attention(&[blank]).await?;
        } else {
            self.own.features(&[blank]).await?;
        }
        Ok(now_ms() - start)
    }

    /// Classifies image files (`names[i]`'s bytes are `files[i]`) in one forward pass. One entry
    /// per file, in order: its classification, or `{ error, code }` naming the file if it is not
    /// an image this app reads; the others are classified all the same.
    pub async fn classify(&self, names: Vec<String>, files: Vec<Uint8Array>, top_k: usize) -> Result<JsValue, Failure> {
        if names.len() != files.len() {
            return Err(VitError::Request("classify: one name per file".into()).into());
        }
        let c = self.chosen();
        let mut pixels = Vec::new();
        // Per file, its row in the batch or why it has none.
        let rows: Vec<Result<usize, VitError>> = names
            .iter()
            .zip(files)
            .map(|(name, bytes)| {
                pixels.push(c.pixels(name, &bytes.to_vec())?);
                Ok(pixels.len() - 1)
            })
            .collect();
        let start = now_ms();
        let (logits, mut rollout) = if pixels.is_empty() {
            Default::default()
        } else {
            c.logits_with_attention(&pixels).await?
        };
        let milliseconds = now_ms() - start;
        let results: Vec<Classified> = rows
            .into_iter()
            .zip(&names)
            .map(
                |(row, name)| match row.and_then(|i| Ok((i, c.top_k(name, &logits[i], top_k.max(1))?))) {
                    Ok((i, top_k)) => Classified::Done(Classification {
                        top_k,
                        milliseconds,
                        batch: pixels.len(),
                        backend: c.backend().name(),
                        attention: std::mem::take(&mut rollout[i]),
                        grid: c.config.grid_size(),
                    }),
                    Err(e) => Classified::Failed {
                        error: e.to_string(),
                        code: e.code(),
                    },
                },
            )
            .collect();
        to_js(&results)
    }

    /// Class-token features of the sample's images `from..to` (see `train::sample`) in `split` of
    /// `data`, mirrored when `flip`: `{ values, labels, indices, complete }`. `progress(done,
    /// total)` is called after each batch of images; a false result (or a promise of one)
    /// cancels, and then the result holds the images done so far.
    #[wasm_bindgen(js_name = extractFeatures)]
    pub async fn extract_features(
        &self,
        data: &CifarData,
        split: String,
        from: usize,
        to: usize,
        flip: bool,
        progress: Function,
    ) -> Result<JsValue, Failure> {
        let images = data.images(&split)?;
        if to > images.len() || from > to {
            let n = images.len();
            let message = format!("the {split} set has {n} images; images {from} to {to} were asked for");
            return Err(VitError::Request(message).into());
        }
        self.features_of(images, &sample(images.len(), to)[from..], flip, progress)
            .await
    }

    /// As `extractFeatures`, of the person's pictures `indices`.
    #[wasm_bindgen(js_name = pictureFeatures)]
    pub async fn picture_features(
        &self,
        pictures: &PictureData,
        indices: Vec<u32>,
        flip: bool,
        progress: Function,
    ) -> Result<JsValue, Failure> {
        let folder = pictures.folder();
        let indices: Vec<usize> = indices.into_iter().map(|i| i as usize).collect();
        if let Some(&i) = indices.iter().find(|&&i| i >= folder.pictures.len()) {
            return Err(crate::error::PicturesError::NoSuchPicture { index: i }.into());
        }
        self.features_of(folder, &indices, flip, progress).await
    }

    /// Trains a fresh head for `classNames` on features from `extractFeatures` (`train` and
    /// `test` are `{ values, labels }`) and makes it the head images are classified with.
    /// `progress` hears `{ type: 'step', step, loss }` every batch and `{ type: 'epoch', report }`
    /// every epoch.
    #[wasm_bindgen(js_name = trainHead)]
    pub async fn train_head(
        &self,
        train: JsValue,
        test: JsValue,
        class_names: Vec<String>,
        options: JsValue,
        progress: Function,
    ) -> Result<JsValue, Failure> {
        let options: TrainOptions =
            serde_wasm_bindgen::from_value(options).map_err(|e| VitError::Request(e.to_string()))?;
        let hidden = self.own.config.hidden_size;
        let (train, test) = (features(hidden, &train)?, features(hidden, &test)?);
        let tell = |event: Progress| {
            let event = match event {
                Progress::Step { step, loss } => TrainEvent::Step { step, loss },
                Progress::Epoch(report) => TrainEvent::Epoch { report },
            };
            if let Ok(event) = serde_wasm_bindgen::to_value(&event) {
                let _ = progress.call1(&JsValue::NULL, &event);
            }
        };
        let fitted = fit(&train, &test, class_names, &options, &self.own.device, tell).await?;
        let result = to_js(&Trained {
            reports: &fitted.reports,
            confusion: &fitted.confusion.counts,
            test_predictions: &fitted.test_predictions,
            class_names: &fitted.head.labels,
        });
        self.trained.replace(Some(fitted.head));
        self.use_trained.set(true);
        result
    }

    /// The trained head as a `.safetensors` file.
    #[wasm_bindgen(js_name = exportHead)]
    pub async fn export_head(&self) -> Result<Vec<u8>, Failure> {
        let head = self.trained.borrow().clone();
        let head = head.ok_or_else(|| VitError::Request("there is no trained head to export".into()))?;
        Ok(head.to_bytes().await?)
    }

    /// Reads a head exported before, for this model, and makes it the head images are classified
    /// with. Returns its class names.
    #[wasm_bindgen(js_name = importHead)]
    pub fn import_head(&self, name: String, bytes: Vec<u8>) -> Result<Vec<String>, Failure> {
        let head =
            Head::from_bytes(&name, &bytes, self.own.config.hidden_size, &self.own.device).map_err(VitError::Head)?;
        let labels = head.labels.clone();
        self.trained.replace(Some(head));
        self.use_trained.set(true);
        Ok(labels)
    }

    /// Classifies with the trained head (`trained`) or the model's own (`original`).
    #[wasm_bindgen(js_name = useHead)]
    pub fn use_head(&self, which: String) -> Result<(), Failure> {
        let trained = match which.as_str() {
            "original" => false,
            "trained" if self.trained.borrow().is_some() => true,
            "trained" => return Err(VitError::Request("there is no trained head yet".into()).into()),
            _ => {
                let message = format!("unknown head `{which}`: use original or trained");
                return Err(VitError::Request(message).into());
            }
        };
        self.use_trained.set(trained);
        Ok(())
    }
}

impl Model {
    /// Features of `images` `indices` for JavaScript, with `progress` as `extractFeatures` has it.
    async fn features_of(
        &self,
        images: &impl FeatureSource,
        indices: &[usize],
        flip: bool,
        progress: Function,
    ) -> Result<JsValue, Failure> {
        let go_on = async |done: usize, total: usize| -> bool {
            let Ok(answer) = progress.call2(&JsValue::NULL, &done.into(), &total.into()) else {
                return false;
            };
            let answer = JsFuture::from(Promise::resolve(&answer)).await;
            answer.is_ok_and(|a| a.is_truthy())
        };
        let chunk = self.own.backend().feature_chunk();
        let features = extract_features(&self.own, images, indices, flip, chunk, go_on).await?;
        let done: Vec<u32> = indices[..features.len()].iter().map(|&i| i as u32).collect();
        to_js(&Extracted {
            values: Float32Array::from(&features.values[..]).into(),
            labels: Uint8Array::from(&features.labels[..]).into(),
            complete: done.len() == indices.len(),
            indices: Uint32Array::from(&done[..]).into(),
        })
    }
}

/// `{ values: Float32Array, labels: Uint8Array }` as features of width `hidden`.
fn features(hidden: usize, js: &JsValue) -> Result<Features, VitError> {
    let field = |name: &str| Reflect::get(js, &name.into()).unwrap_or(JsValue::UNDEFINED);
    let values = field("values").dyn_into::<Float32Array>().map(|a| a.to_vec());
    let labels = field("labels").dyn_into::<Uint8Array>().map(|a| a.to_vec());
    match (values, labels) {
        (Ok(values), Ok(labels)) => Features::from_parts(hidden, values, labels),
        _ => Err(VitError::Request(
            "features must be { values: Float32Array, labels: Uint8Array }".into(),
        )),
    }
}
