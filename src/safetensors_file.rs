//! Reading a `.safetensors` file's tensors as f32, with errors that name the file and the tensor.
//!
//! The file can arrive in chunks ([`SafetensorsReader`]): each tensor is converted as soon as its
//! bytes are in and those bytes are dropped, so the file is never held whole beside its tensors.
//! The page streams 346 MB of ViT-B/16 weights this way and peaks near the tensors' size, not
//! twice it.

use std::collections::HashMap;

use half::{bf16, f16};
use safetensors::tensor::{Dtype, Metadata, TensorInfo};

use crate::error::LoadError;

/// The 8-byte little-endian header length that starts every file.
const LEN_BYTES: usize = 8;
/// The safetensors crate's own limit on the JSON header.
const MAX_HEADER: usize = 100_000_000;

/// A parsed file: every tensor's shape, and its values until the loader takes them.
pub struct SafetensorsFile {
    name: String,
    tensors: HashMap<String, Stored>,
    metadata: HashMap<String, String>,
}

struct Stored {
    shape: Vec<usize>,
    /// `None` once taken. A dtype this app cannot read is an error only if the tensor is used.
    values: Option<Result<Vec<f32>, Dtype>>,
}

/// A file arriving chunk by chunk.
pub struct SafetensorsReader {
    name: String,
    received: usize,
    /// The header while it arrives, then the part of the current tensor that has.
    pending: Vec<u8>,
    header: Option<Header>,
    tensors: HashMap<String, Stored>,
}

/// The JSON header as written.
#[derive(serde::Deserialize)]
struct RawHeader {
    #[serde(rename = "__metadata__")]
    metadata: Option<HashMap<String, String>>,
    #[serde(flatten)]
    tensors: HashMap<String, TensorInfo>,
}

struct Header {
    /// In file order.
    tensors: Vec<(String, TensorInfo)>,
    /// The first tensor not yet complete.
    next: usize,
    metadata: HashMap<String, String>,
    /// Header and data, in bytes.
    file_len: usize,
}

impl SafetensorsReader {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            received: 0,
            pending: Vec::new(),
            header: None,
            tensors: HashMap::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Takes the file's next bytes, converting every tensor they complete.
    pub fn push(&mut self, mut chunk: &[u8]) -> Result<(), LoadError> {
        self.received += chunk.len();
        while self.header.is_none() {
            let wanted = match self.header_len()? {
                Some(n) => LEN_BYTES + n,
                None => LEN_BYTES,
            };
            let take = (wanted - self.pending.len()).min(chunk.len());
            self.pending.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if self.pending.len() < wanted {
                return Ok(());
            }
            if wanted > LEN_BYTES {
                self.header = Some(self.parse_header()?);
                self.pending = Vec::new();
            }
        }
        let header = self.header.as_mut().expect("parsed above");
        while let Some((name, info)) = header.tensors.get(header.next) {
            let size = info.data_offsets.1 - info.data_offsets.0;
            let bytes = if self.pending.is_empty() && chunk.len() >= size {
                // The whole tensor is in this chunk: convert it straight from there.
                let (bytes, rest) = chunk.split_at(size);
                chunk = rest;
                bytes
            } else {
                let take = (size - self.pending.len()).min(chunk.len());
                if self.pending.capacity() < size {
                    let more = size - self.pending.len();
                    self.pending
                        .try_reserve_exact(more)
                        .map_err(|_| too_large(&self.name))?;
                }
                self.pending.extend_from_slice(&chunk[..take]);
                chunk = &chunk[take..];
                if self.pending.len() < size {
                    return Ok(());
                }
                &self.pending
            };
            let stored = Stored {
                shape: info.shape.clone(),
                values: Some(to_f32(info.dtype, bytes, &self.name)?),
            };
            self.tensors.insert(name.clone(), stored);
            self.pending = Vec::new();
            header.next += 1;
        }
        if !chunk.is_empty() {
            return Err(LoadError::Corrupt {
                file: self.name.clone(),
                reason: format!(
                    "the file has {} bytes, more than the {} its header accounts for",
                    self.received, header.file_len
                ),
            });
        }
        Ok(())
    }

    /// The JSON header's length, once its 8 bytes are in.
    fn header_len(&self) -> Result<Option<usize>, LoadError> {
        let Some(bytes) = self.pending.get(..LEN_BYTES) else {
            return Ok(None);
        };
        let n = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
        if n > MAX_HEADER as u64 {
            return Err(self.not_safetensors(format!("a {n}-byte header is more than any real file has")));
        }
        Ok(Some(n as usize))
    }

    fn parse_header(&self) -> Result<Header, LoadError> {
        let raw: RawHeader =
            serde_json::from_slice(&self.pending[LEN_BYTES..]).map_err(|e| self.not_safetensors(e.to_string()))?;
        let mut tensors: Vec<(String, TensorInfo)> = raw.tensors.into_iter().collect();
        tensors.sort_by_key(|(_, info)| info.data_offsets);
        // The safetensors crate's checks: offsets tile the data exactly, sizes fit the shapes.
        let data_len = Metadata::new(None, tensors.clone())
            .map_err(|e| LoadError::Corrupt {
                file: self.name.clone(),
                reason: e.to_string(),
            })?
            .data_len();
        Ok(Header {
            tensors,
            next: 0,
            metadata: raw.metadata.unwrap_or_default(),
            file_len: self.pending.len() + data_len,
        })
    }

    fn not_safetensors(&self, reason: String) -> LoadError {
        LoadError::NotSafetensors {
            file: self.name.clone(),
            reason,
        }
    }

    /// The file, once all of it has arrived.
    pub fn finish(self) -> Result<SafetensorsFile, LoadError> {
        let file = self.name;
        if self.received == 0 {
            return Err(LoadError::Empty { file });
        }
        let Some(header) = self.header else {
            return Err(LoadError::Corrupt {
                file,
                reason: format!("its {}-byte file ends inside the header", self.received),
            });
        };
        if header.next < header.tensors.len() {
            return Err(LoadError::Corrupt {
                file,
                reason: format!(
                    "the header accounts for {} bytes, the file has {}",
                    header.file_len, self.received
                ),
            });
        }
        Ok(SafetensorsFile {
            name: file,
            tensors: self.tensors,
            metadata: header.metadata,
        })
    }
}

/// Little-endian values of a dtype this app reads (else the dtype); an error if memory ran out.
fn to_f32(dtype: Dtype, bytes: &[u8], file: &str) -> Result<Result<Vec<f32>, Dtype>, LoadError> {
    let width = match dtype {
        Dtype::F32 => 4,
        Dtype::F16 | Dtype::BF16 => 2,
        other => return Ok(Err(other)),
    };
    let mut values = Vec::new();
    values
        .try_reserve_exact(bytes.len() / width)
        .map_err(|_| too_large(file))?;
    // Filled through a zip of two slices, a loop LLVM vectorizes (an `extend` it did not).
    values.resize(bytes.len() / width, 0.0);
    let pairs = values.iter_mut().zip(bytes.chunks_exact(width));
    match dtype {
        Dtype::F32 => pairs.for_each(|(v, b)| *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        Dtype::F16 => pairs.for_each(|(v, b)| *v = f16::from_le_bytes([b[0], b[1]]).to_f32()),
        _ => pairs.for_each(|(v, b)| *v = bf16::from_le_bytes([b[0], b[1]]).to_f32()),
    }
    Ok(Ok(values))
}

fn too_large(file: &str) -> LoadError {
    LoadError::TooLarge { file: file.into() }
}

impl SafetensorsFile {
    /// Parses a whole file held in memory.
    pub fn parse(name: &str, bytes: &[u8]) -> Result<Self, LoadError> {
        let mut reader = SafetensorsReader::new(name);
        reader.push(bytes)?;
        reader.finish()
    }

    /// A `__metadata__` entry.
    pub fn metadata(&self, key: &str) -> Option<String> {
        self.metadata.get(key).cloned()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    fn missing(&self, name: &str) -> LoadError {
        LoadError::MissingTensor {
            file: self.name.clone(),
            name: name.to_string(),
        }
    }

    pub fn shape(&self, name: &str) -> Result<Vec<usize>, LoadError> {
        Ok(self.tensors.get(name).ok_or_else(|| self.missing(name))?.shape.clone())
    }

    /// Hands over the tensor's values as f32 after checking it has the `expected` shape. Each
    /// tensor is taken once: the model owns it from then on.
    pub fn take(&mut self, name: &str, expected: &[usize]) -> Result<Vec<f32>, LoadError> {
        let shape = self.shape(name)?;
        if shape != expected {
            return Err(self.wrong_shape(name, format!("{expected:?}"), &shape));
        }
        let stored = self.tensors.get_mut(name).expect("shape found it");
        match stored.values.take() {
            Some(Ok(values)) => Ok(values),
            Some(Err(dtype)) => Err(LoadError::UnsupportedDtype {
                file: self.name.clone(),
                name: name.to_string(),
                dtype: format!("{dtype:?}"),
            }),
            None => unreachable!("the loader reads `{name}` once"),
        }
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
