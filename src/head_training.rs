//! Transfer learning with a frozen backbone: a fresh linear head (hidden size → classes) trained
//! on cached class-token features with Burn's autodiff and AdamW, as the original project's
//! `train.py` did for CIFAR-10, but without re-running the backbone every epoch.

use burn::module::Module;
use burn::nn::Linear;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use crate::backend::BackendKind;
use crate::checkpoint::linear_from_pytorch;
use crate::classifier::rows;
use crate::error::VitError;

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrainOptions {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    /// Seeds the head's initial weights and each epoch's shuffle.
    pub seed: u64,
}

impl Default for TrainOptions {
    /// The original's `train.py --epochs 5 --batch-size 32`, with PyTorch's AdamW defaults.
    fn default() -> Self {
        Self {
            epochs: 5,
            batch_size: 32,
            learning_rate: 1e-3,
            weight_decay: 0.01,
            seed: 0,
        }
    }
}

impl TrainOptions {
    fn check(&self) -> Result<(), VitError> {
        let bad = |what: &str| Err(VitError::Training(what.into()));
        if self.epochs == 0 {
            return bad("the number of epochs must be at least 1");
        }
        if self.batch_size == 0 {
            return bad("the batch size must be at least 1");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad("the learning rate must be a positive number");
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad("the weight decay must be a number ≥ 0");
        }
        Ok(())
    }
}

/// Rows of class-token features (`len x hidden`, row-major) with their labels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Features {
    pub hidden: usize,
    pub values: Vec<f32>,
    pub labels: Vec<u8>,
}

impl Features {
    /// Features from flat rows, checking that there is one row of `hidden` values per label.
    pub fn from_parts(hidden: usize, values: Vec<f32>, labels: Vec<u8>) -> Result<Self, VitError> {
        if values.len() != labels.len() * hidden {
            return Err(VitError::Training(format!(
                "{} feature values for {} labels; expected {} (rows of {hidden})",
                values.len(),
                labels.len(),
                labels.len() * hidden
            )));
        }
        Ok(Self { hidden, values, labels })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.hidden..][..self.hidden]
    }

    /// The rows at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Features {
        Features {
            hidden: self.hidden,
            values: indices.iter().flat_map(|&i| self.row(i).iter().copied()).collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
        }
    }

    pub fn extend(&mut self, other: &Features) {
        self.values.extend_from_slice(&other.values);
        self.labels.extend_from_slice(&other.labels);
    }
}

/// SplitMix64: small, seedable, and the same everywhere (the page shows the seed).
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The sample order for one epoch: a Fisher-Yates shuffle seeded by the seed and the epoch.
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut rng = SplitMix64::new(seed ^ (epoch as u64).wrapping_mul(0xd1b5_4a32_d192_ed03));
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    order
}

/// The first `limit` of a fixed shuffle of `0..n`: the training or test sample. A larger sample
/// extends a smaller one, so features computed for one stay valid for the other; and the choice
/// does not depend on the training seed, so changing that seed never re-runs the backbone.
pub fn sample(n: usize, limit: usize) -> Vec<usize> {
    const SAMPLE_SEED: u64 = 0x5eed;
    let mut order = epoch_order(n, SAMPLE_SEED, 0);
    order.truncate(limit.min(n));
    order
}

/// A fresh head initialised as PyTorch's `nn.Linear` does: U(-1/√hidden, 1/√hidden).
pub fn fresh_head(hidden: usize, classes: usize, seed: u64, device: &Device) -> Linear {
    let bound = 1.0 / (hidden as f64).sqrt();
    let mut rng = SplitMix64::new(seed);
    let mut uniform =
        |n: usize| -> Vec<f32> { (0..n).map(|_| ((rng.next_f64() * 2.0 - 1.0) * bound) as f32).collect() };
    let weight = uniform(classes * hidden);
    let bias = uniform(classes);
    linear_from_pytorch(&weight, &bias, hidden, device)
}

/// Trains a head on an autodiff copy of the device.
pub struct HeadTrainer {
    head: Linear,
    optimizer: burn::optim::ModuleOptimizer,
    learning_rate: f64,
    classes: usize,
    backend: BackendKind,
    device: Device,
}

impl HeadTrainer {
    /// `head` may live on any device; training happens on `device` with autodiff.
    pub fn new(head: Linear, options: &TrainOptions, backend: BackendKind, device: &Device) -> Self {
        let device = device.clone().autodiff();
        let classes = head.weight.dims()[1];
        Self {
            head: head.fork(&device).train(),
            // PyTorch's AdamW defaults but for the weight decay the caller picks.
            optimizer: AdamWConfig::new()
                .with_epsilon(1e-8)
                .with_weight_decay(options.weight_decay as f32)
                .init(),
            learning_rate: options.learning_rate,
            classes,
            backend,
            device,
        }
    }

    /// One AdamW step on a batch; returns the batch's mean cross-entropy before the step.
    pub async fn step(&mut self, batch: &Features) -> Result<f32, VitError> {
        let n = batch.len();
        let x = Tensor::<2>::from_data(TensorData::new(batch.values.clone(), [n, batch.hidden]), &self.device);
        let mut one_hot = vec![0f32; n * self.classes];
        for (i, l) in batch.labels.iter().enumerate() {
            one_hot[i * self.classes + usize::from(*l)] = 1.0;
        }
        let target = Tensor::<2>::from_data(TensorData::new(one_hot, [n, self.classes]), &self.device);
        let loss = (log_softmax(self.head.forward(x), 1) * target)
            .sum()
            .neg()
            .div_scalar(n as f64);
        let grads = GradientsParams::from_grads(loss.backward(), &self.head);
        self.head = self.optimizer.step(self.learning_rate, self.head.clone(), grads);
        let value = loss.into_scalar_async::<f32>().await.map_err(|e| VitError::Backend {
            backend: self.backend.to_string(),
            reason: format!("{e:?}"),
        })?;
        Ok(value)
    }

    /// The trained head, without autodiff.
    pub fn head(&self) -> Linear {
        self.head.valid()
    }
}

/// The head's predicted class for each row.
pub async fn predict(
    head: &Linear,
    features: &Features,
    backend: BackendKind,
    device: &Device,
) -> Result<Vec<usize>, VitError> {
    let x = Tensor::<2>::from_data(
        TensorData::new(features.values.clone(), [features.len(), features.hidden]),
        device,
    );
    let logits = rows(head.forward(x), backend).await?;
    Ok(logits
        .iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i)
        })
        .collect())
}

/// `counts[true][predicted]`, and the accuracy it implies.
#[derive(Debug, Clone, PartialEq)]
pub struct Confusion {
    pub counts: Vec<Vec<usize>>,
}

impl Confusion {
    pub fn new(classes: usize, labels: &[u8], predictions: &[usize]) -> Self {
        let mut counts = vec![vec![0; classes]; classes];
        for (l, p) in labels.iter().zip(predictions) {
            counts[usize::from(*l)][*p] += 1;
        }
        Self { counts }
    }

    pub fn accuracy(&self) -> f64 {
        let total: usize = self.counts.iter().flatten().sum();
        let right: usize = (0..self.counts.len()).map(|i| self.counts[i][i]).sum();
        if total == 0 { 0.0 } else { right as f64 / total as f64 }
    }
}

/// Class-token features of CIFAR images `indices` of `batch` (mirrored when `flip`), computed
/// `chunk` images at a time. `progress(done, total)` is awaited after each chunk and stops the
/// work when it returns false; then the result holds the features of the images done so far,
/// which stay good for a later run. It is async so that a browser worker can yield to its event
/// loop there and hear a cancel.
pub async fn extract_features(
    classifier: &crate::classifier::Classifier,
    batch: &crate::cifar::Batch,
    indices: &[usize],
    flip: bool,
    chunk: usize,
    mut progress: impl AsyncFnMut(usize, usize) -> bool,
) -> Result<Features, VitError> {
    let mut features = Features {
        hidden: classifier.config.hidden_size,
        ..Features::default()
    };
    for part in indices.chunks(chunk.max(1)) {
        let pixels: Vec<Vec<f32>> = part
            .iter()
            .map(|&i| classifier.cifar_pixels(batch.image(i), flip))
            .collect();
        for row in classifier.features(&pixels).await? {
            features.values.extend(row);
        }
        features.labels.extend(part.iter().map(|&i| batch.labels[i]));
        if !progress(features.len(), indices.len()).await {
            break;
        }
    }
    Ok(features)
}

/// One epoch's outcome.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EpochReport {
    pub epoch: usize,
    pub mean_loss: f32,
    pub train_accuracy: f64,
    pub test_accuracy: f64,
}

/// Trains `head` for `options.epochs` on `train` (reshuffled every epoch), evaluating on both
/// sets after each; `on_step(step, loss)` sees every batch's loss.
#[allow(clippy::too_many_arguments)]
pub async fn train(
    head: Linear,
    train: &Features,
    test: &Features,
    options: &TrainOptions,
    backend: BackendKind,
    device: &Device,
    mut on_step: impl FnMut(usize, f32),
    mut on_epoch: impl FnMut(&EpochReport),
) -> Result<(Linear, Vec<EpochReport>), VitError> {
    options.check()?;
    let classes = head.weight.dims()[1];
    for (set, what) in [(train, "training"), (test, "test")] {
        if set.is_empty() {
            return Err(VitError::Training(format!("there are no {what} images")));
        }
        if let Some(l) = set.labels.iter().find(|l| usize::from(**l) >= classes) {
            return Err(VitError::Training(format!(
                "a {what} label is {l}, but the head has {classes} classes"
            )));
        }
    }
    let mut trainer = HeadTrainer::new(head, options, backend, device);
    let mut reports = Vec::new();
    let mut step = 0;
    for epoch in 0..options.epochs {
        let order = epoch_order(train.len(), options.seed, epoch);
        let mut losses = Vec::new();
        for part in order.chunks(options.batch_size.max(1)) {
            let loss = trainer.step(&train.select(part)).await?;
            on_step(step, loss);
            losses.push(loss);
            step += 1;
        }
        let head = trainer.head();
        let accuracy = async |set: &Features| -> Result<f64, VitError> {
            let predictions = predict(&head, set, backend, device).await?;
            Ok(Confusion::new(classes, &set.labels, &predictions).accuracy())
        };
        let report = EpochReport {
            epoch: epoch + 1,
            mean_loss: losses.iter().sum::<f32>() / losses.len().max(1) as f32,
            train_accuracy: accuracy(train).await?,
            test_accuracy: accuracy(test).await?,
        };
        on_epoch(&report);
        reports.push(report);
    }
    Ok((trainer.head(), reports))
}
