//! A classification head with its class names, and its file: a small `.safetensors` with
//! `head.weight` (`[classes, hidden]`, PyTorch's layout, as timm names it), `head.bias`, and the
//! class names in the metadata.

use std::collections::HashMap;

use burn::nn::Linear;
use burn::prelude::*;
use safetensors::tensor::{Dtype, TensorView, serialize};

use super::safetensors_file::SafetensorsFile;
use crate::backend::rows;
use crate::error::{LoadError, VitError};
use crate::model::dense::linear_from_pytorch;

/// `hidden` → `labels.len()` logits, and what each logit means.
#[derive(Debug, Clone)]
pub struct Head {
    pub linear: Linear,
    pub labels: Vec<String>,
}

impl Head {
    /// The head as a file.
    pub async fn to_bytes(&self) -> Result<Vec<u8>, VitError> {
        let [hidden, classes] = self.linear.weight.dims();
        let weight = rows(self.linear.weight.val().transpose()).await?.concat();
        let bias = match &self.linear.bias {
            Some(b) => rows(b.val().reshape([1, classes])).await?.concat(),
            None => vec![0.0; classes],
        };
        let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let (w, b) = (bytes(&weight), bytes(&bias));
        let tensors = [
            (
                "head.weight",
                TensorView::new(Dtype::F32, vec![classes, hidden], &w).expect("sizes match"),
            ),
            (
                "head.bias",
                TensorView::new(Dtype::F32, vec![classes], &b).expect("sizes match"),
            ),
        ];
        let metadata = HashMap::from([(
            "labels".to_string(),
            serde_json::to_string(&self.labels).expect("strings serialise"),
        )]);
        Ok(serialize(tensors, Some(metadata)).expect("in-memory serialisation cannot fail"))
    }

    /// Reads a head file (`name` is for errors) for a backbone of width `hidden`.
    pub fn from_bytes(name: &str, bytes: &[u8], hidden: usize, device: &Device) -> Result<Self, LoadError> {
        let mut file = SafetensorsFile::parse(name, bytes)?;
        let shape = file.shape("head.weight")?;
        let classes = match shape.as_slice() {
            [c, h] if *h == hidden && *c > 0 => *c,
            _ => return Err(file.wrong_shape("head.weight", format!("[classes, {hidden}] for this model"), &shape)),
        };
        let weight = file.take("head.weight", &[classes, hidden])?;
        let bias = file.take("head.bias", &[classes])?;
        // A head from elsewhere may have no names; names that are there must fit the head.
        let labels = match file.metadata("labels") {
            None => (0..classes).map(|i| format!("LABEL_{i}")).collect(),
            Some(text) => match serde_json::from_str::<Vec<String>>(&text) {
                Ok(labels) if labels.len() == classes => labels,
                _ => {
                    return Err(LoadError::BadConfigValue {
                        file: name.into(),
                        field: "labels (metadata)".into(),
                        value: text.chars().take(80).collect(),
                        reason: format!("expected a JSON list of {classes} class names"),
                    });
                }
            },
        };
        Ok(Self {
            linear: linear_from_pytorch(&weight, &bias, hidden, device),
            labels,
        })
    }
}
