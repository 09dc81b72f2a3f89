//! How a head does: its predictions and their confusion matrix.

use burn::nn::Linear;
use burn::prelude::*;

use super::features::Features;
use crate::backend::rows;
use crate::error::VitError;

/// The head's predicted class for each row, computed on `device`.
pub async fn predict(head: &Linear, features: &Features, device: &Device) -> Result<Vec<usize>, VitError> {
    let x = Tensor::<2>::from_data(
        TensorData::new(features.values.clone(), [features.len(), features.width]),
        device,
    );
    let logits = rows(head.forward(x)).await?;
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
