//! A loaded model on a device, with its labels and preprocessing: images in, ranked labels out.

use burn::module::Param;
use burn::prelude::*;

use crate::backend::pool::on_pool;
use crate::backend::{BackendKind, rows};
use crate::data::image::decode;
use crate::data::preprocess::{Preprocess, preprocess};
use crate::error::{LoadError, VitError};
use crate::load::safetensors_file::SafetensorsFile;
use crate::load::{Head, ModelFiles, NamedBytes, load_vit_from, pos_embed};
use crate::model::{ViTConfig, VisionTransformer};

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Prediction {
    pub index: usize,
    pub label: String,
    pub probability: f32,
}

#[derive(Debug, Clone)]
pub struct Classifier {
    /// The backbone and the head in use.
    pub model: VisionTransformer,
    pub config: ViTConfig,
    /// What each of the head's outputs means.
    pub labels: Vec<String>,
    pub preprocess: Preprocess,
    pub device: Device,
}

impl Classifier {
    /// Reads a model's files onto `device`.
    pub fn load(files: ModelFiles, device: &Device) -> Result<Self, LoadError> {
        let weights = SafetensorsFile::parse(files.weights.name, files.weights.bytes)?;
        Self::from_weights(weights, files.config, files.preprocessor, device)
    }

    /// As [`Self::load`], from weights already read (the page reads them as they stream in).
    pub fn from_weights(
        weights: SafetensorsFile,
        config: Option<NamedBytes>,
        preprocessor: Option<NamedBytes>,
        device: &Device,
    ) -> Result<Self, LoadError> {
        let (model, hub) = load_vit_from(weights, config, preprocessor, device)?;
        Ok(Self {
            model,
            config: hub.vit,
            labels: hub.labels,
            preprocess: hub.preprocess,
            device: device.clone(),
        })
    }

    pub fn backend(&self) -> BackendKind {
        BackendKind::of(&self.device)
    }

    /// The classifier on `device`, its weights laid out for that backend and the CPU kernel in
    /// use. Cloning a module shares its tensors; a forward pass still running keeps its own.
    pub fn moved_to(&self, device: &Device) -> Self {
        Self {
            model: self.model.clone().moved_to(device),
            device: device.clone(),
            ..self.clone()
        }
    }

    /// This backbone with `head` in place of the current one (or of none).
    pub fn with_head(&self, head: &Head) -> Self {
        let mut model = self.model.clone();
        model.head = Some(head.linear.clone().to_device(&self.device));
        Self {
            model,
            labels: head.labels.clone(),
            ..self.clone()
        }
    }

    /// This model at `image_size` pixels a side instead of its own (a multiple of the patch size,
    /// at most 64 patches a side), its position embeddings resampled as timm resamples them.
    pub fn at_image_size(&self, image_size: usize) -> Result<Self, VitError> {
        let c = &self.config;
        if image_size == c.image_size {
            return Ok(self.clone());
        }
        let grid = image_size / c.patch_size;
        // (The old grid is bounded too: the resampling's matrix has new² x old² entries.)
        if c.grid_size() > pos_embed::MAX_GRID {
            return Err(VitError::Request(format!(
                "cannot run this model at {image_size}x{image_size}: its own grid is {0}x{0} patches ({1} pixels), and position embeddings are resampled from at most {2}x{2}",
                c.grid_size(),
                c.image_size,
                pos_embed::MAX_GRID
            )));
        }
        if grid == 0 || grid * c.patch_size != image_size || grid > pos_embed::MAX_GRID {
            return Err(VitError::Request(format!(
                "cannot run this model at {image_size}x{image_size}: the size must be a multiple of its patch size {} and at most {} pixels",
                c.patch_size,
                pos_embed::MAX_GRID * c.patch_size
            )));
        }
        let mut model = self.model.clone();
        let prefix = if c.pos_embed_prefix { c.num_prefix_tokens() } else { 0 };
        model.pos_embed = Param::from_tensor(pos_embed::resample(model.pos_embed.val(), prefix, c.grid_size(), grid));
        let mut resized = Self { model, ..self.clone() };
        resized.config.image_size = image_size;
        resized.preprocess.size = image_size;
        Ok(resized)
    }

    /// Decodes and preprocesses one image file to `[3, size, size]` floats.
    pub fn pixels(&self, file: &str, bytes: &[u8]) -> Result<Vec<f32>, VitError> {
        Ok(preprocess(&decode(file, bytes)?, &self.preprocess))
    }

    /// Stacks preprocessed images into a `[batch, 3, size, size]` tensor on the device.
    pub fn batch(&self, images: &[Vec<f32>]) -> Tensor<4> {
        let s = self.config.image_size;
        let c = self.config.num_channels;
        let flat: Vec<f32> = images.iter().flatten().copied().collect();
        Tensor::from_data(TensorData::new(flat, [images.len(), c, s, s]), &self.device)
    }

    /// Whether there is a head to classify with (a backbone for fine-tuning has none).
    pub fn has_head(&self) -> bool {
        self.model.head.is_some()
    }

    fn head_or_error(&self) -> Result<(), VitError> {
        if self.has_head() { Ok(()) } else { Err(VitError::NoHead) }
    }

    /// Logits, one row per image.
    pub async fn logits(&self, images: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, VitError> {
        self.head_or_error()?;
        rows(on_pool(|| self.model.forward(self.batch(images)))).await
    }

    /// Logits and the attention rollout over the patch grid (row-major), one row per image.
    pub async fn logits_with_attention(&self, images: &[Vec<f32>]) -> Result<(Vec<Vec<f32>>, Vec<Vec<f32>>), VitError> {
        self.head_or_error()?;
        let (logits, rollout) = on_pool(|| {
            let mut rollout = self.model.rollout();
            let logits = self
                .model
                .forward_with_class_attention(self.batch(images), |w| rollout.add(w));
            (logits, rollout.finish())
        });
        Ok((rows(logits).await?, rows(rollout).await?))
    }

    /// Class-token features after the final norm, one row per image.
    pub async fn features(&self, images: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, VitError> {
        rows(on_pool(|| self.model.forward_pre_logits(self.batch(images)))).await
    }

    /// The `k` most probable labels for one row of logits, the model's output for `file`. Logits
    /// that are not all finite rank nothing: an error, never an answer.
    pub fn top_k(&self, file: &str, logits: &[f32], k: usize) -> Result<Vec<Prediction>, VitError> {
        if !logits.iter().all(|l| l.is_finite()) {
            return Err(VitError::NotFinite { file: file.into() });
        }
        let probabilities = softmax_cpu(logits);
        let mut order: Vec<usize> = (0..probabilities.len()).collect();
        // Ranked on the CPU: WebGPU has no sort for topk in wasm.
        order.sort_by(|a, b| probabilities[*b].total_cmp(&probabilities[*a]).then(a.cmp(b)));
        Ok(order
            .into_iter()
            .take(k)
            .map(|index| Prediction {
                index,
                label: self.labels[index].clone(),
                probability: probabilities[index],
            })
            .collect())
    }
}

/// Softmax of one row, in f64 for a stable sum.
fn softmax_cpu(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f64> = logits.iter().map(|l| ((l - max) as f64).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|e| (e / sum) as f32).collect()
}
