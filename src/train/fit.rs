//! The whole of fine-tuning after the features: a fresh head, trained, then scored on the test
//! images. The page and the CLI both run this.

use burn::prelude::*;

use super::features::Features;
use super::metrics::{Confusion, predict};
use super::options::TrainOptions;
use super::trainer::{EpochReport, Progress, fresh_head, train};
use crate::error::VitError;
use crate::load::Head;

/// A trained head and how it did.
#[derive(Debug, Clone)]
pub struct Fitted {
    pub head: Head,
    pub reports: Vec<EpochReport>,
    /// The class predicted for each test row.
    pub test_predictions: Vec<usize>,
    pub confusion: Confusion,
}

/// Trains a fresh head for `labels` on `device` (seeded by `options.seed`) and scores it on
/// `test`.
pub async fn fit(
    train_set: &Features,
    test: &Features,
    labels: Vec<String>,
    options: &TrainOptions,
    device: &Device,
    progress: impl FnMut(Progress),
) -> Result<Fitted, VitError> {
    let head = fresh_head(train_set.width, labels.len(), options.seed, device);
    let (linear, reports) = train(head, train_set, test, options, device, progress).await?;
    let test_predictions = predict(&linear, test, device).await?;
    let confusion = Confusion::new(labels.len(), &test.labels, &test_predictions);
    Ok(Fitted {
        head: Head { linear, labels },
        reports,
        test_predictions,
        confusion,
    })
}
