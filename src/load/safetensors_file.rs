//! Reading a `.safetensors` file's tensors as f32, with errors that name the file and the tensor.
//!
//! The file can arrive in chunks ([`SafetensorsReader`]): each tensor is converted as soon as its
//! bytes are in and those bytes are dropped, so the file is never held whole beside its tensors.
//! The page streams 346 MB of ViT-B/16 weights this way and peaks near the tensors' size, not
//! twice it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use half::{bf16, f16};
use safetensors::tensor::{Dtype, Metadata, TensorInfo};
use serde::Deserialize;

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
    /// `None` once taken.
    values: Option<Values>,
}

enum Values {
    F32(Vec<f32>),
    /// Any other dtype, as in the file: f16 and bf16 are widened only when taken (on WebGPU each
    /// goes to the GPU at once, so the wasm memory never holds a half-precision file at twice its
    /// size), and a dtype this app cannot read is an error only if the tensor is used.
    Raw(Dtype, Vec<u8>),
}

/// A file arriving chunk by chunk.
pub struct SafetensorsReader {
    name: String,
    received: usize,
    /// The header while it arrives, then what has arrived of the current tensor.
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

    /// Takes the file's next bytes, converting every tensor they complete.
    pub fn push(&mut self, mut chunk: &[u8]) -> Result<(), LoadError> {
        self.received = self.received.saturating_add(chunk.len());
        while self.header.is_none() {
            let wanted = match self.header_len()? {
                Some(n) => LEN_BYTES + n,
                None => LEN_BYTES,
            };
            let take = (wanted - self.pending.len()).min(chunk.len());
            self.pending.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            // Anything but JSON fails here, not after up to 100 MB of it.
            if self.pending.get(LEN_BYTES).is_some_and(|&first| first != b'{') {
                return Err(self.not_safetensors("its header is not a JSON object".into()));
            }
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
            let values = if self.pending.is_empty() && chunk.len() >= size {
                // The whole tensor is in this chunk: converted straight from there.
                let (bytes, rest) = chunk.split_at(size);
                chunk = rest;
                values(info.dtype, bytes, &self.name)?
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
                match info.dtype {
                    Dtype::F32 => values(info.dtype, &std::mem::take(&mut self.pending), &self.name)?,
                    // Kept as they came: the buffer itself is the value.
                    dtype => Values::Raw(dtype, std::mem::take(&mut self.pending)),
                }
            };
            let stored = Stored {
                shape: info.shape.clone(),
                values: Some(values),
            };
            self.tensors.insert(name.clone(), stored);
            header.next += 1;
        }
        if !chunk.is_empty() {
            let reason = format!(
                "the file has {} bytes, more than the {} its header accounts for",
                self.received, header.file_len
            );
            return Err(self.corrupt(reason));
        }
        Ok(())
    }

    /// The JSON header's length, once its 8 bytes are in.
    fn header_len(&self) -> Result<Option<usize>, LoadError> {
        let Some(bytes) = self.pending.get(..LEN_BYTES) else {
            return Ok(None);
        };
        let n = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
        // The smallest header is `{}`; a zero length would wait for nothing forever.
        if !(2..=MAX_HEADER as u64).contains(&n) {
            return Err(self.not_safetensors(format!("a {n}-byte header is not one a safetensors file has")));
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
            .map_err(|e| self.corrupt(e.to_string()))?
            .data_len();
        // Widened to f32, the tensors must fit this machine's memory (wasm32: 4 GB).
        let f32_bytes: u64 = tensors
            .iter()
            .map(|(_, info)| info.shape.iter().map(|&d| d as u64).product::<u64>().saturating_mul(4))
            .fold(0, u64::saturating_add);
        if f32_bytes > usize::MAX as u64 {
            return Err(too_large(&self.name));
        }
        Ok(Header {
            tensors,
            next: 0,
            metadata: raw.metadata.unwrap_or_default(),
            file_len: self.pending.len().saturating_add(data_len),
        })
    }

    fn not_safetensors(&self, reason: String) -> LoadError {
        LoadError::NotSafetensors {
            file: self.name.clone(),
            reason,
        }
    }

    fn corrupt(&self, reason: String) -> LoadError {
        LoadError::Corrupt {
            file: self.name.clone(),
            reason,
        }
    }

    /// The file, once all of it has arrived.
    pub fn finish(self) -> Result<SafetensorsFile, LoadError> {
        if self.received == 0 {
            return Err(LoadError::Empty { file: self.name });
        }
        let Some(header) = &self.header else {
            let reason = format!("the {}-byte file ends inside its header", self.received);
            return Err(self.corrupt(reason));
        };
        if header.next < header.tensors.len() {
            let reason = format!(
                "the header accounts for {} bytes, the file has {}",
                header.file_len, self.received
            );
            return Err(self.corrupt(reason));
        }
        Ok(SafetensorsFile {
            metadata: header.metadata.clone(),
            name: self.name,
            tensors: self.tensors,
        })
    }
}

/// A tensor's bytes as stored: f32 converted now, the rest kept as they are.
fn values(dtype: Dtype, bytes: &[u8], file: &str) -> Result<Values, LoadError> {
    if dtype != Dtype::F32 {
        let mut raw = Vec::new();
        raw.try_reserve_exact(bytes.len()).map_err(|_| too_large(file))?;
        raw.extend_from_slice(bytes);
        return Ok(Values::Raw(dtype, raw));
    }
    Ok(Values::F32(widen(bytes, 4, file, |b| {
        f32::from_le_bytes([b[0], b[1], b[2], b[3]])
    })?))
}

/// Little-endian values of `width` bytes each, converted by `f`; an error if memory ran out.
fn widen(bytes: &[u8], width: usize, file: &str, f: impl Fn(&[u8]) -> f32) -> Result<Vec<f32>, LoadError> {
    let mut out = Vec::new();
    out.try_reserve_exact(bytes.len() / width)
        .map_err(|_| too_large(file))?;
    // Filled through a zip of two slices, a loop LLVM vectorizes (an `extend` it did not).
    out.resize(bytes.len() / width, 0.0);
    out.iter_mut()
        .zip(bytes.chunks_exact(width))
        .for_each(|(v, b)| *v = f(b));
    Ok(out)
}

fn too_large(file: &str) -> LoadError {
    LoadError::TooLarge { file: file.into() }
}

/// The shard files a `model.safetensors.index.json` names (its `weight_map`'s values), each once,
/// in sorted order. A shard is a plain `.safetensors` file name beside the index: a path that
/// would leave its folder is refused.
pub fn shard_names(index: &str, bytes: &[u8]) -> Result<Vec<String>, LoadError> {
    #[derive(Deserialize)]
    struct Index {
        weight_map: BTreeMap<String, String>,
    }
    let parsed: Index = serde_json::from_slice(bytes).map_err(|e| LoadError::BadJson {
        file: index.to_string(),
        reason: e.to_string(),
    })?;
    let shards: BTreeSet<String> = parsed.weight_map.into_values().collect();
    for shard in &shards {
        let plain = !shard.contains(['/', '\\']) && shard != ".." && shard.ends_with(".safetensors");
        if !plain {
            let shard = shard.clone();
            return Err(LoadError::BadShard {
                file: index.to_string(),
                shard,
            });
        }
    }
    Ok(shards.into_iter().collect())
}

impl SafetensorsFile {
    /// Shards of one checkpoint as one file named `name` (its index): a tensor in two shards is
    /// an error, as in `transformers`.
    pub fn join(name: &str, shards: Vec<SafetensorsFile>) -> Result<Self, LoadError> {
        let mut joined = SafetensorsFile {
            name: name.to_string(),
            tensors: HashMap::new(),
            metadata: HashMap::new(),
        };
        let mut home: HashMap<String, String> = HashMap::new();
        for shard in shards {
            for (tensor, stored) in shard.tensors {
                if let Some(first) = home.insert(tensor.clone(), shard.name.clone()) {
                    return Err(LoadError::DuplicateTensor {
                        file: name.to_string(),
                        name: tensor,
                        first,
                        second: shard.name,
                    });
                }
                joined.tensors.insert(tensor, stored);
            }
            joined.metadata.extend(shard.metadata);
        }
        Ok(joined)
    }

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

    /// The tensors not taken yet.
    pub fn untaken(&self) -> impl Iterator<Item = &str> {
        self.tensors
            .iter()
            .filter(|(_, t)| t.values.is_some())
            .map(|(n, _)| n.as_str())
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
        let values = match stored.values.take() {
            Some(Values::F32(values)) => Ok(values),
            Some(Values::Raw(Dtype::F16, bytes)) => {
                widen(&bytes, 2, &self.name, |b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            }
            Some(Values::Raw(Dtype::BF16, bytes)) => {
                widen(&bytes, 2, &self.name, |b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
            }
            Some(Values::Raw(dtype, _)) => Err(LoadError::UnsupportedDtype {
                file: self.name.clone(),
                name: name.to_string(),
                dtype: format!("{dtype:?}"),
            }),
            None => unreachable!("the loader reads `{name}` once"),
        }?;
        // A NaN or an infinity anywhere would make every answer NaN: refused here, by name.
        if values.iter().any(|v| !v.is_finite()) {
            return Err(LoadError::NotFinite {
                file: self.name.clone(),
                name: name.to_string(),
            });
        }
        Ok(values)
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
