//! Reading tensors out of a `.safetensors` file held in memory, as f32, with errors that name
//! the file and the tensor.

use std::collections::HashMap;

use half::{bf16, f16};
use safetensors::tensor::{Dtype, SafeTensorError, SafeTensors, TensorView};

use crate::error::LoadError;

pub struct SafetensorsFile<'a> {
    name: String,
    tensors: SafeTensors<'a>,
    metadata: HashMap<String, String>,
}

impl<'a> SafetensorsFile<'a> {
    /// Parses and validates the header: offsets must tile the data exactly.
    pub fn parse(name: &str, bytes: &'a [u8]) -> Result<Self, LoadError> {
        let file = name.to_string();
        if bytes.is_empty() {
            return Err(LoadError::Empty { file });
        }
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| classify(file.clone(), bytes.len(), e))?;
        // The header parsed just above, so reading its metadata again cannot fail.
        let metadata = SafeTensors::read_metadata(bytes)
            .ok()
            .and_then(|(_, m)| m.metadata().clone())
            .unwrap_or_default();
        Ok(Self {
            name: file,
            tensors,
            metadata,
        })
    }

    /// A `__metadata__` entry.
    pub fn metadata(&self, key: &str) -> Option<String> {
        self.metadata.get(key).cloned()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.iter().map(|(n, _)| n)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.tensor(name).is_ok()
    }

    fn view(&self, name: &str) -> Result<TensorView<'a>, LoadError> {
        self.tensors.tensor(name).map_err(|_| LoadError::MissingTensor {
            file: self.name.clone(),
            name: name.to_string(),
        })
    }

    pub fn shape(&self, name: &str) -> Result<Vec<usize>, LoadError> {
        Ok(self.view(name)?.shape().to_vec())
    }

    /// The tensor's values as f32 after checking it has the `expected` shape.
    pub fn read(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>, LoadError> {
        let view = self.view(name)?;
        if view.shape() != expected {
            return Err(self.wrong_shape(name, format!("{expected:?}"), view.shape()));
        }
        let data = view.data();
        Ok(match view.dtype() {
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => data
                .chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => data
                .chunks_exact(2)
                .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            other => {
                return Err(LoadError::UnsupportedDtype {
                    file: self.name.clone(),
                    name: name.to_string(),
                    dtype: format!("{other:?}"),
                });
            }
        })
    }

    pub fn wrong_shape(&self, name: &str, expected: String, found: &[usize]) -> LoadError {
        LoadError::WrongShape {
            file: self.name.clone(),
            name: name.to_string(),
            expected,
            found: found.to_vec(),
        }
    }
}

fn classify(file: String, len: usize, e: SafeTensorError) -> LoadError {
    use SafeTensorError::*;
    match e {
        InvalidHeader(_)
        | InvalidHeaderStart
        | InvalidHeaderDeserialization(_)
        | HeaderTooLarge
        | HeaderTooSmall
        | JsonError(_) => LoadError::NotSafetensors {
            file,
            reason: e.to_string(),
        },
        InvalidHeaderLength => LoadError::Corrupt {
            file,
            reason: format!("the header says it is longer than the {len}-byte file"),
        },
        other => LoadError::Corrupt {
            file,
            reason: other.to_string(),
        },
    }
}
