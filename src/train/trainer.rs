//! A fresh linear head (hidden size → classes) trained on features with Burn's autodiff and
//! AdamW, PyTorch's defaults, evaluated after every epoch.

use burn::module::Module;
use burn::nn::Linear;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use super::features::Features;
use super::metrics::{Confusion, predict};
use super::options::TrainOptions;
use super::rng::{SplitMix64, epoch_order};
use crate::backend::scalar;
use crate::error::VitError;
use crate::model::dense::linear_from_pytorch;

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
    device: Device,
}

impl HeadTrainer {
    /// `head` may live on any device; training happens on `device` with autodiff.
    pub fn new(head: Linear, options: &TrainOptions, device: &Device) -> Self {
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
            device,
        }
    }

    /// One AdamW step on a batch; returns the batch's mean cross-entropy before the step.
    pub async fn step(&mut self, batch: &Features) -> Result<f32, VitError> {
        let n = batch.len();
        let x = Tensor::<2>::from_data(TensorData::new(batch.values.clone(), [n, batch.width]), &self.device);
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
        scalar(loss).await
    }

    /// The trained head, without autodiff.
    pub fn head(&self) -> Linear {
        self.head.valid()
    }
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

/// What training reports as it goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Progress<'a> {
    /// A batch's mean loss, before its step.
    Step {
        step: usize,
        loss: f32,
    },
    Epoch(&'a EpochReport),
}

/// Trains `head` on `device` for `options.epochs` on `train` (reshuffled every epoch),
/// evaluating on both sets after each.
pub async fn train(
    head: Linear,
    train: &Features,
    test: &Features,
    options: &TrainOptions,
    device: &Device,
    mut progress: impl FnMut(Progress),
) -> Result<(Linear, Vec<EpochReport>), VitError> {
    // Checked again here: a caller may build options without `TrainOptions::try_from`.
    options.check().map_err(|e| VitError::Training(e.to_string()))?;
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
    let mut trainer = HeadTrainer::new(head, options, device);
    let mut reports = Vec::new();
    let mut step = 0;
    for epoch in 0..options.epochs {
        let order = epoch_order(train.len(), options.seed, epoch);
        let mut losses = Vec::new();
        for part in order.chunks(options.batch_size.max(1)) {
            let loss = trainer.step(&train.select(part)).await?;
            progress(Progress::Step { step, loss });
            losses.push(loss);
            step += 1;
        }
        let head = trainer.head();
        let accuracy = async |set: &Features| -> Result<f64, VitError> {
            let predictions = predict(&head, set, device).await?;
            Ok(Confusion::new(classes, &set.labels, &predictions).accuracy())
        };
        let report = EpochReport {
            epoch: epoch + 1,
            mean_loss: losses.iter().sum::<f32>() / losses.len().max(1) as f32,
            train_accuracy: accuracy(train).await?,
            test_accuracy: accuracy(test).await?,
        };
        progress(Progress::Epoch(&report));
        reports.push(report);
    }
    Ok((trainer.head(), reports))
}
