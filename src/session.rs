//! A model as an application uses it, the page and the CLI alike: loaded once, run at the input
//! size a person chose, moved between devices, classifying lists of files (a result or an error
//! per file), and with a head trained or imported beside its own, one of them in use. The page's
//! worker (`wasm::Model`) is this behind JavaScript conversions; web-llm keeps its engine apart
//! from its worker in the same way.

use burn::module::Module;
use burn::prelude::Device;
use serde::Serialize;
use web_time::Instant;

use crate::backend::BackendKind;
use crate::classifier::{Classifier, Prediction};
use crate::error::{LoadError, VitError};
use crate::fingerprint::Fingerprint;
use crate::load::safetensors_file::SafetensorsFile;
use crate::load::{Head, ModelFiles, NamedBytes, pos_embed};
use crate::train::features::FeatureSource;
use crate::train::{Features, Fitted, Progress, TrainOptions, extract_features, fit};

/// How many of a person's images one forward pass takes: a batch shares each weight matrix's trip
/// through the cache (CPU) and each kernel launch (WebGPU), and a page still shows results soon.
pub const BATCH: usize = 8;

/// How many labels a classification ranks unless asked for another number.
pub const TOP_K: usize = 5;

/// Which head classifies: the model's own, or the one trained or imported for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadChoice {
    Own,
    Trained,
}

impl std::str::FromStr for HeadChoice {
    type Err = VitError;

    fn from_str(s: &str) -> Result<Self, VitError> {
        match s {
            "original" => Ok(HeadChoice::Own),
            "trained" => Ok(HeadChoice::Trained),
            _ => Err(VitError::Request(format!(
                "unknown head `{s}`: use original or trained"
            ))),
        }
    }
}

/// The model's shape, size and where it runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    /// The input size it runs at: its own, or another on request.
    pub image_size: usize,
    /// The input size it was trained at.
    pub native_image_size: usize,
    /// The largest input size it can be run at (position embeddings are resampled up to it).
    pub max_image_size: usize,
    pub patch_size: usize,
    pub hidden_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    /// Its own head's labels (0 for a backbone without one).
    pub num_labels: usize,
    pub parameters: usize,
    pub backend: &'static str,
    /// How many images one forward pass of [`Session::classify`] takes.
    pub batch: usize,
    /// A hash of the model's files: what its cached features are keyed by.
    pub fingerprint: String,
}

/// One image's answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Classification {
    pub top_k: Vec<Prediction>,
    /// Every logit, for callers that print them (the page has no use for them).
    #[serde(skip)]
    pub logits: Vec<f32>,
    /// How long the forward pass that classified this image and the rest of its batch took.
    pub milliseconds: f64,
    /// Images in that pass.
    pub batch: usize,
    pub backend: &'static str,
    /// Attention rollout over the patch grid, row-major, `grid` x `grid` (empty when not asked).
    pub attention: Vec<f32>,
    pub grid: usize,
}

/// The features a head is trained and scored on: the training images', optionally their
/// mirrored copies' too, and the test images'.
#[derive(Debug, Clone)]
pub struct FeatureSets {
    pub train: Features,
    pub mirrored: Option<Features>,
    pub test: Features,
}

impl FeatureSets {
    /// What the head trains on (the training rows, then their mirrored copies) and is scored on.
    pub fn into_training(self) -> (Features, Features) {
        let mut train = self.train;
        if let Some(mirrored) = &self.mirrored {
            train.extend(mirrored);
        }
        (train, self.test)
    }
}

/// A loaded model with its own head, and a head trained or imported for it.
#[derive(Debug, Clone)]
pub struct Session {
    /// The model as its files have it (its own input size), on the current device.
    stored: Classifier,
    /// The model as it runs: at the input size asked for.
    current: Classifier,
    trained: Option<Head>,
    head: HeadChoice,
    fingerprint: String,
}

impl Session {
    /// Reads a model's files onto `device`.
    pub fn load(files: ModelFiles, device: &Device) -> Result<Self, LoadError> {
        let weights = SafetensorsFile::parse(files.weights.name, files.weights.bytes)?;
        let mut hash = Fingerprint::default();
        hash.update(files.weights.bytes);
        Self::from_weights(weights, hash, files.config, files.preprocessor, device)
    }

    /// As [`Self::load`], from weights already read (the page reads them as they stream in) and
    /// the hash of their bytes.
    pub fn from_weights(
        weights: SafetensorsFile,
        weights_hash: Fingerprint,
        config: Option<NamedBytes>,
        preprocessor: Option<NamedBytes>,
        device: &Device,
    ) -> Result<Self, LoadError> {
        let fingerprint = [&config, &preprocessor]
            .into_iter()
            .flatten()
            .fold(weights_hash, |hash, file| hash.part(file.bytes))
            .hex();
        let classifier = Classifier::from_weights(weights, config, preprocessor, device)?;
        Ok(Self {
            stored: classifier.clone(),
            current: classifier,
            trained: None,
            head: HeadChoice::Own,
            fingerprint,
        })
    }

    pub fn info(&self) -> ModelInfo {
        let c = &self.current.config;
        ModelInfo {
            image_size: c.image_size,
            native_image_size: self.stored.config.image_size,
            max_image_size: pos_embed::MAX_GRID * c.patch_size,
            patch_size: c.patch_size,
            hidden_size: c.hidden_size,
            num_layers: c.num_layers,
            num_heads: c.num_heads,
            num_labels: c.num_labels,
            parameters: self.current.model.num_params(),
            backend: self.backend().name(),
            batch: BATCH,
            fingerprint: self.fingerprint.clone(),
        }
    }

    pub fn backend(&self) -> BackendKind {
        self.current.backend()
    }

    /// Runs the model at `size` pixels a side, its position embeddings resampled from the ones
    /// its files have. A head trained or imported for another size is dropped: its features were
    /// another model's.
    pub fn at_image_size(&mut self, size: usize) -> Result<(), VitError> {
        self.current = self.stored.at_image_size(size)?;
        self.trained = None;
        self.head = HeadChoice::Own;
        Ok(())
    }

    /// Moves the model to `device`, its weights laid out for that backend's kernels, at the input
    /// size it ran at. (A trained head moves when it is put on the model.)
    pub fn move_to(&mut self, device: &Device) -> Result<(), VitError> {
        if BackendKind::of(device) == self.backend() {
            return Ok(());
        }
        // Moved once: the model at the chosen size is made again from it (sharing its weights).
        let stored = self.stored.moved_to(device);
        self.current = stored.at_image_size(self.current.config.image_size)?;
        self.stored = stored;
        Ok(())
    }

    /// The model with the head in use.
    pub fn classifier(&self) -> Classifier {
        match (&self.trained, self.head) {
            (Some(head), HeadChoice::Trained) => self.current.with_head(head),
            _ => self.current.clone(),
        }
    }

    /// Runs one forward pass on a blank image, so that shader compilation (WebGPU) is not charged
    /// to the first real one. Its milliseconds.
    pub async fn warm_up(&self) -> Result<f64, VitError> {
        let c = &self.current.config;
        let blank = vec![0.0; c.num_channels * c.image_size * c.image_size];
        let start = Instant::now();
        if self.current.has_head() {
            self.current.logits_with_attention(&[blank]).await?;
        } else {
            self.current.features(&[blank]).await?;
        }
        Ok(start.elapsed().as_secs_f64() * 1000.0)
    }

    /// Classifies image files (`(name, bytes)`) with the head in use, [`BATCH`] to a forward pass,
    /// ranking `top_k` labels, with the attention rollout when `attention`. One entry per file,
    /// in order: its classification, or why it has none (not an image this app reads, or output
    /// that is not numbers); the others are classified all the same. A model without a head,
    /// or a backend that fails, fails the whole call.
    pub async fn classify(
        &self,
        files: Vec<(String, Vec<u8>)>,
        top_k: usize,
        attention: bool,
    ) -> Result<Vec<Result<Classification, VitError>>, VitError> {
        let c = self.classifier();
        if !c.has_head() {
            return Err(VitError::NoHead);
        }
        let mut results = Vec::with_capacity(files.len());
        for batch in files.chunks(BATCH) {
            let mut pixels = Vec::new();
            // Per file, its row in the pass or why it has none.
            let rows: Vec<Result<usize, VitError>> = batch
                .iter()
                .map(|(name, bytes)| {
                    pixels.push(c.pixels(name, bytes)?);
                    Ok(pixels.len() - 1)
                })
                .collect();
            let start = Instant::now();
            let (logits, mut rollout) = match (pixels.is_empty(), attention) {
                (true, _) => Default::default(),
                (false, true) => c.logits_with_attention(&pixels).await?,
                (false, false) => (c.logits(&pixels).await?, vec![Vec::new(); pixels.len()]),
            };
            let milliseconds = start.elapsed().as_secs_f64() * 1000.0;
            for (row, (name, _)) in rows.into_iter().zip(batch) {
                results.push(row.and_then(|i| {
                    Ok(Classification {
                        top_k: c.top_k(name, &logits[i], top_k.max(1))?,
                        logits: logits[i].clone(),
                        milliseconds,
                        batch: pixels.len(),
                        backend: c.backend().name(),
                        attention: std::mem::take(&mut rollout[i]),
                        grid: c.config.grid_size(),
                    })
                }));
            }
        }
        Ok(results)
    }

    /// Features of `images` `indices` (mirrored when `flip`), in chunks suited to the backend;
    /// `progress(done, total)` after each, stopping the work when it returns false (see
    /// [`extract_features`]).
    pub async fn features(
        &self,
        images: &impl FeatureSource,
        indices: &[usize],
        flip: bool,
        progress: impl AsyncFnMut(usize, usize) -> bool,
    ) -> Result<Features, VitError> {
        let chunk = self.backend().feature_chunk();
        extract_features(&self.current, images, indices, flip, chunk, progress).await
    }

    /// Trains a fresh head for `class_names` on `sets`, scores it on the test rows, and makes it
    /// the head images are classified with.
    pub async fn train_head(
        &mut self,
        sets: FeatureSets,
        class_names: Vec<String>,
        options: &TrainOptions,
        progress: impl FnMut(Progress),
    ) -> Result<Fitted, VitError> {
        let (train, test) = sets.into_training();
        let fitted = fit(&train, &test, class_names, options, &self.current.device, progress).await?;
        self.trained = Some(fitted.head.clone());
        self.head = HeadChoice::Trained;
        Ok(fitted)
    }

    /// The trained or imported head as a `.safetensors` file.
    pub async fn export_head(&self) -> Result<Vec<u8>, VitError> {
        match &self.trained {
            Some(head) => head.to_bytes().await,
            None => Err(VitError::Request("there is no trained head to export".into())),
        }
    }

    /// Reads a head file (`name` for errors) made for this backbone and makes it the head images
    /// are classified with. Its class names.
    pub fn import_head(&mut self, name: &str, bytes: &[u8]) -> Result<Vec<String>, VitError> {
        let c = &self.current;
        let head = Head::from_bytes(name, bytes, c.config.hidden_size, &c.device).map_err(VitError::Head)?;
        let labels = head.labels.clone();
        self.trained = Some(head);
        self.head = HeadChoice::Trained;
        Ok(labels)
    }

    /// Classifies with the model's own head or the trained one.
    pub fn use_head(&mut self, choice: HeadChoice) -> Result<(), VitError> {
        if choice == HeadChoice::Trained && self.trained.is_none() {
            return Err(VitError::Request("there is no trained head yet".into()));
        }
        self.head = choice;
        Ok(())
    }
}
