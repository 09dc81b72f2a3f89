//! A loaded model with its config on a device: images in, ranked labels out.

use burn::prelude::*;

use crate::attention_rollout::AttentionRollout;
use crate::backend::BackendKind;
use crate::checkpoint::{ModelFiles, load_vit};
use crate::cifar::SIDE;
use crate::config::{Interpolation, Preprocess, ViTConfig};
use crate::error::{LoadError, VitError};
use crate::preprocess::{RgbImage, decode, preprocess};
use crate::vit::VisionTransformer;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Prediction {
    pub index: usize,
    pub label: String,
    pub probability: f32,
}

pub struct Classifier {
    pub model: VisionTransformer,
    pub config: ViTConfig,
    pub backend: BackendKind,
    pub device: Device,
}

impl Classifier {
    pub fn load(files: ModelFiles, backend: BackendKind, device: &Device) -> Result<Self, LoadError> {
        let (model, config) = load_vit(files, device)?;
        Ok(Self {
            model,
            config,
            backend,
            device: device.clone(),
        })
    }

    /// Decodes and preprocesses one image file to `[3, size, size]` floats.
    pub fn pixels(&self, file: &str, bytes: &[u8]) -> Result<Vec<f32>, VitError> {
        Ok(preprocess(&decode(file, bytes)?, &self.config.preprocess))
    }

    /// A CIFAR image (R, G and B planes, 32x32) as model input: upscaled to the input size
    /// (Pillow bilinear, as the original's training did), normalised, optionally mirrored.
    pub fn cifar_pixels(&self, planes: &[u8], flip: bool) -> Vec<f32> {
        let n = SIDE * SIDE;
        let mut rgb = vec![0u8; 3 * n];
        for y in 0..SIDE {
            for x in 0..SIDE {
                let from = y * SIDE + if flip { SIDE - 1 - x } else { x };
                for c in 0..3 {
                    rgb[(y * SIDE + x) * 3 + c] = planes[c * n + from];
                }
            }
        }
        let image = RgbImage {
            width: SIDE as u32,
            height: SIDE as u32,
            pixels: rgb,
        };
        let p = Preprocess {
            interpolation: Interpolation::Bilinear,
            crop_pct: None,
            ..self.config.preprocess.clone()
        };
        preprocess(&image, &p)
    }

    /// Stacks preprocessed images into a `[batch, 3, size, size]` tensor on the device.
    pub fn batch(&self, images: &[Vec<f32>]) -> Tensor<4> {
        let s = self.config.image_size;
        let c = self.config.num_channels;
        let flat: Vec<f32> = images.iter().flatten().copied().collect();
        Tensor::from_data(TensorData::new(flat, [images.len(), c, s, s]), &self.device)
    }

    /// Logits, one row per image.
    pub async fn logits(&self, images: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, VitError> {
        rows(on_pool(|| self.model.forward(self.batch(images))), self.backend).await
    }

    /// Logits and the attention rollout over the patch grid (row-major), one row per image.
    pub async fn logits_with_attention(&self, images: &[Vec<f32>]) -> Result<(Vec<Vec<f32>>, Vec<Vec<f32>>), VitError> {
        let (logits, rollout) = on_pool(|| {
            let mut rollout = AttentionRollout::default();
            let logits = self
                .model
                .forward_with_class_attention(self.batch(images), |w| rollout.add(w));
            (logits, rollout.finish())
        });
        Ok((rows(logits, self.backend).await?, rows(rollout, self.backend).await?))
    }

    /// Class-token features after the final norm, one row per image.
    pub async fn features(&self, images: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, VitError> {
        rows(
            on_pool(|| self.model.forward_features(self.batch(images))),
            self.backend,
        )
        .await
    }

    /// The `k` most probable labels for one row of logits.
    pub fn top_k(&self, logits: &[f32], k: usize) -> Vec<Prediction> {
        let probabilities = softmax_cpu(logits);
        let mut order: Vec<usize> = (0..probabilities.len()).collect();
        // Ranked on the CPU: WebGPU has no sort for topk in wasm.
        order.sort_by(|a, b| probabilities[*b].total_cmp(&probabilities[*a]).then(a.cmp(b)));
        order
            .into_iter()
            .take(k)
            .map(|index| Prediction {
                index,
                label: self.config.labels[index].clone(),
                probability: probabilities[index],
            })
            .collect()
    }
}

/// Runs `f` (a forward pass) on a thread of the rayon pool where there is one (the threaded wasm
/// build), so that the kernels inside fork from a pool thread and the caller's thread is handed
/// the work once, not once per op: per op, it cost more than the second core gave.
fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    #[cfg(feature = "threads")]
    return rayon::scope(|_| f());
    #[cfg(not(feature = "threads"))]
    f()
}

/// Reads a 2-D tensor back to the host without blocking (WebGPU forbids sync reads in browsers).
pub async fn rows(t: Tensor<2>, backend: BackendKind) -> Result<Vec<Vec<f32>>, VitError> {
    let [_, cols] = t.dims();
    let failed = |reason: String| VitError::Backend {
        backend: backend.to_string(),
        reason,
    };
    let data = t.into_data_async().await.map_err(|e| failed(format!("{e:?}")))?;
    let values = data.try_into_vec::<f32>().map_err(|e| failed(format!("{e:?}")))?;
    Ok(values.chunks(cols.max(1)).map(<[f32]>::to_vec).collect())
}

/// Softmax of one row, in f64 for a stable sum.
pub fn softmax_cpu(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f64> = logits.iter().map(|l| ((l - max) as f64).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|e| (e / sum) as f32).collect()
}
