//! A device, a weights file arriving, and the model it became: `Session` behind JavaScript
//! conversions.

use burn::prelude::Device;
use js_sys::{Float32Array, Function, Promise, Reflect, Uint8Array, Uint32Array};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::data::CifarData;
use super::error::{Failure, from_js, to_js};
use super::pictures::PictureData;
use super::wasm_memory_bytes;
use crate::backend::BackendKind;
use crate::error::VitError;
use crate::fingerprint::Fingerprint;
use crate::load::safetensors_file::SafetensorsReader;
use crate::load::{CONFIG_FILE, NamedBytes, PREPROCESSOR_FILE};
use crate::session::{Classification, FeatureSets, ModelInfo, Session, TOP_K};
use crate::train::features::FeatureSource;
use crate::train::{EpochReport, Features, Progress, TrainNumbers, TrainOptions, options, sample_part};

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

    #[wasm_bindgen(getter, unchecked_return_type = "import('../protocol.js').BackendName")]
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
    hash: Fingerprint,
}

#[wasm_bindgen]
impl WeightsUpload {
    #[wasm_bindgen(constructor)]
    pub fn new(name: String) -> Self {
        Self {
            reader: SafetensorsReader::new(&name),
            hash: Fingerprint::default(),
        }
    }

    /// The next chunk. A chunk the file cannot have (a bad header, more bytes than it declares)
    /// is an error, and the upload is done for.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), Failure> {
        self.hash.update(chunk);
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
        let session = Session::from_weights(
            self.reader.finish()?,
            self.hash,
            named(CONFIG_FILE, &config),
            named(PREPROCESSOR_FILE, &preprocessor),
            &backend.device,
        )?;
        Ok(Model { session })
    }
}

/// The loaded model (see `Session`).
#[wasm_bindgen]
pub struct Model {
    session: Session,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Info {
    #[serde(flatten)]
    model: ModelInfo,
    /// The size of wasm memory, which never shrinks: after a load, the peak that load reached.
    wasm_memory_bytes: f64,
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
    reports: &'a [EpochReport],
    /// `confusion[true][predicted]` on the test images.
    confusion: &'a [Vec<usize>],
    test_predictions: &'a [usize],
    class_names: &'a [String],
}

/// What training tells the page as it goes.
#[derive(Serialize)]
#[serde(tag = "event", rename_all = "camelCase")]
enum TrainEvent<'a> {
    Step { step: usize, loss: f32 },
    Epoch { report: &'a EpochReport },
}

#[wasm_bindgen]
impl Model {
    #[wasm_bindgen(unchecked_return_type = "import('../protocol.js').ModelInfo")]
    pub fn info(&self) -> Result<JsValue, Failure> {
        to_js(&Info {
            model: self.session.info(),
            wasm_memory_bytes: wasm_memory_bytes(),
        })
    }

    /// Runs the model at `size` pixels a side (see `Session::at_image_size`). Its info.
    #[wasm_bindgen(js_name = atImageSize, unchecked_return_type = "import('../protocol.js').ModelInfo")]
    pub fn at_image_size(&mut self, size: usize) -> Result<JsValue, Failure> {
        self.session.at_image_size(size)?;
        self.info()
    }

    #[wasm_bindgen(js_name = moveTo)]
    pub fn move_to(&mut self, backend: &Backend) -> Result<(), Failure> {
        Ok(self.session.move_to(&backend.device)?)
    }

    /// A forward pass on a blank image (see `Session::warm_up`); its milliseconds.
    #[wasm_bindgen(js_name = warmUp)]
    pub async fn warm_up(&self) -> Result<f64, Failure> {
        Ok(self.session.warm_up().await?)
    }

    /// Classifies image files (`names[i]`'s bytes are `files[i]`), with the attention rollout.
    /// One entry per file, in order: its classification, or `{ error, code }`.
    #[wasm_bindgen(unchecked_return_type = "import('../protocol.js').Classified[]")]
    pub async fn classify(&self, names: Vec<String>, files: Vec<Uint8Array>) -> Result<JsValue, Failure> {
        if names.len() != files.len() {
            return Err(VitError::Request("classify: one name per file".into()).into());
        }
        let files = names.into_iter().zip(files.iter().map(Uint8Array::to_vec)).collect();
        let results: Vec<Classified> = (self.session.classify(files, TOP_K, true).await?)
            .into_iter()
            .map(|result| match result {
                Ok(done) => Classified::Done(done),
                Err(e) => Classified::Failed {
                    error: e.to_string(),
                    code: e.code(),
                },
            })
            .collect();
        to_js(&results)
    }

    /// Class-token features of the sample's images `from..to` (see `train::sample_part`) in
    /// `split` of `data`, mirrored when `flip`. `progress(done, total)` is called after each
    /// batch of images; a false result (or a promise of one) cancels, and then the result holds
    /// the images done so far.
    #[wasm_bindgen(js_name = extractFeatures, unchecked_return_type = "import('../protocol.js').Extracted")]
    pub async fn extract_features(
        &self,
        data: &CifarData,
        split: String,
        from: usize,
        to: usize,
        flip: bool,
        #[wasm_bindgen(unchecked_param_type = "import('../protocol.js').FeatureProgress")] progress: Function,
    ) -> Result<JsValue, Failure> {
        let images = data.images(&split)?;
        let indices = sample_part(&split, images.len(), from, to)?;
        self.features_of(images, &indices, flip, progress).await
    }

    /// As `extractFeatures`, of the person's pictures `indices`.
    #[wasm_bindgen(js_name = pictureFeatures, unchecked_return_type = "import('../protocol.js').Extracted")]
    pub async fn picture_features(
        &self,
        pictures: &PictureData,
        indices: Vec<u32>,
        flip: bool,
        #[wasm_bindgen(unchecked_param_type = "import('../protocol.js').FeatureProgress")] progress: Function,
    ) -> Result<JsValue, Failure> {
        let folder = pictures.folder();
        let indices: Vec<usize> = indices.into_iter().map(|i| i as usize).collect();
        folder.each(&indices, |_| ())?;
        self.features_of(folder, &indices, flip, progress).await
    }

    /// Trains a fresh head for `classNames` on features from `extractFeatures` and makes it the
    /// head images are classified with. `progress` hears each step's and each epoch's event.
    #[wasm_bindgen(js_name = trainHead, unchecked_return_type = "import('../protocol.js').Trained")]
    pub async fn train_head(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "import('../protocol.js').FeatureSets")] sets: JsValue,
        class_names: Vec<String>,
        #[wasm_bindgen(unchecked_param_type = "import('../protocol.js').TrainNumbers")] options: JsValue,
        #[wasm_bindgen(unchecked_param_type = "(event: import('../protocol.js').TrainEvent) => void")]
        progress: Function,
    ) -> Result<JsValue, Failure> {
        let options = train_options(options)?;
        let hidden = self.session.info().hidden_size;
        let set = |name: &str| -> Result<Option<Features>, VitError> {
            let value = Reflect::get(&sets, &name.into()).unwrap_or(JsValue::UNDEFINED);
            (!value.is_undefined() && !value.is_null())
                .then(|| features(hidden, &value))
                .transpose()
        };
        let missing = || VitError::Request("trainHead: the features must have a train and a test set".into());
        let sets = FeatureSets {
            train: set("train")?.ok_or_else(missing)?,
            mirrored: set("mirrored")?,
            test: set("test")?.ok_or_else(missing)?,
        };
        let tell = |event: Progress| {
            let event = match event {
                Progress::Step { step, loss } => TrainEvent::Step { step, loss },
                Progress::Epoch(report) => TrainEvent::Epoch { report },
            };
            if let Ok(event) = to_js(&event) {
                let _ = progress.call1(&JsValue::NULL, &event);
            }
        };
        let fitted = self.session.train_head(sets, class_names, &options, tell).await?;
        to_js(&Trained {
            reports: &fitted.reports,
            confusion: &fitted.confusion.counts,
            test_predictions: &fitted.test_predictions,
            class_names: &fitted.head.labels,
        })
    }

    /// The trained head as a `.safetensors` file.
    #[wasm_bindgen(js_name = exportHead)]
    pub async fn export_head(&self) -> Result<Vec<u8>, Failure> {
        Ok(self.session.export_head().await?)
    }

    /// Reads a head exported before, for this model, and makes it the head images are classified
    /// with. Its class names.
    #[wasm_bindgen(js_name = importHead)]
    pub fn import_head(&mut self, name: String, bytes: Vec<u8>) -> Result<Vec<String>, Failure> {
        Ok(self.session.import_head(&name, &bytes)?)
    }

    /// Classifies with the trained head (`trained`) or the model's own (`original`).
    #[wasm_bindgen(js_name = useHead)]
    pub fn use_head(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "import('../protocol.js').HeadChoice")] which: String,
    ) -> Result<(), Failure> {
        Ok(self.session.use_head(which.parse()?)?)
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
        let features = self.session.features(images, indices, flip, go_on).await?;
        let done: Vec<u32> = indices[..features.len()].iter().map(|&i| i as u32).collect();
        to_js(&Extracted {
            values: Float32Array::from(&features.values[..]).into(),
            labels: Uint8Array::from(&features.labels[..]).into(),
            complete: done.len() == indices.len(),
            indices: Uint32Array::from(&done[..]).into(),
        })
    }
}

/// Training options from the page's form (numbers), checked.
fn train_options(options: JsValue) -> Result<TrainOptions, VitError> {
    Ok(TrainOptions::try_from(from_js::<TrainNumbers>(options)?)?)
}

/// Checks training options from the page's form before any work (code `bad-option`).
#[wasm_bindgen(js_name = checkTrainOptions)]
pub fn check_train_options(
    #[wasm_bindgen(unchecked_param_type = "import('../protocol.js').TrainNumbers")] options: JsValue,
) -> Result<(), Failure> {
    train_options(options)?;
    Ok(())
}

/// How many of `split`'s images a CIFAR-10 run uses, from the page's form (code `bad-option`).
#[wasm_bindgen(js_name = imageCount)]
pub fn image_count(
    #[wasm_bindgen(unchecked_param_type = "import('../protocol.js').SplitName")] split: String,
    value: f64,
) -> Result<usize, Failure> {
    Ok(options::image_count(split.parse()?, value)?)
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
