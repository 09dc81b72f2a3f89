//! CIFAR-10 as people have it: the binary batches (`data_batch_N.bin`, `test_batch.bin`), the
//! binary tarball (`cifar-10-binary.tar.gz`), and the Python version (`cifar-10-python.tar.gz`
//! or its pickled `data_batch_N` / `test_batch` files).

use std::io::Read;

use flate2::read::GzDecoder;
use serde_pickle::{DeOptions, HashableValue, Value};

use super::labelled::Labelled;
use crate::error::DataError;

pub const SIDE: usize = 32;
pub const PIXELS: usize = 3 * SIDE * SIDE;
/// One label byte and the R, G and B planes, row-major.
pub const RECORD: usize = 1 + PIXELS;
pub const NUM_CLASSES: usize = 10;
/// The largest archive member read (a CIFAR-10 batch is about 30 MB).
const MAX_MEMBER: u64 = 256 << 20;
pub const CLASS_NAMES: [&str; NUM_CLASSES] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Labelled 32x32 images, each a row of its R, G and B planes.
pub type Images = Labelled<u8>;

/// The images of one batch file, and where they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// A file, or `archive/member`.
    pub source: String,
    pub images: Images,
}

impl Batch {
    /// Whether the file name marks it as CIFAR's test split.
    pub fn is_test(&self) -> bool {
        self.source
            .rsplit('/')
            .next()
            .is_some_and(|n| n.starts_with("test_batch"))
    }

    fn check_labels(self) -> Result<Self, DataError> {
        let labels = &self.images.labels;
        match labels.iter().position(|l| usize::from(*l) >= NUM_CLASSES) {
            Some(i) => Err(DataError::BadLabel {
                record: i,
                label: i64::from(labels[i]),
                file: self.source,
            }),
            None => Ok(self),
        }
    }
}

/// What a file held: batches, and class names when it had `batches.meta(.txt)`.
#[derive(Debug, Default)]
pub struct Contents {
    pub batches: Vec<Batch>,
    pub class_names: Option<Vec<String>>,
}

/// Reads one file in any accepted format, recognised by its bytes rather than its name.
pub fn read_file(name: &str, bytes: &[u8]) -> Result<Contents, DataError> {
    if bytes.is_empty() {
        return Err(DataError::Empty { file: name.into() });
    }
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return read_tar_gz(name, bytes);
    }
    if name.ends_with("batches.meta") {
        return Ok(Contents {
            batches: vec![],
            class_names: Some(pickle_label_names(name, bytes)?),
        });
    }
    // A binary record starts with its label (0-9), a pickle (protocol 2+) with 0x80.
    if bytes[0] == 0x80 {
        return Ok(Contents {
            batches: vec![read_pickle(name, bytes)?],
            class_names: None,
        });
    }
    if name.ends_with("batches.meta.txt") {
        return Ok(Contents {
            batches: vec![],
            class_names: Some(meta_txt(name, bytes)?),
        });
    }
    Ok(Contents {
        batches: vec![read_binary(name, bytes)?],
        class_names: None,
    })
}

/// A binary batch: whole records of 1 label byte + 3072 pixel bytes.
pub fn read_binary(name: &str, bytes: &[u8]) -> Result<Batch, DataError> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD) {
        return Err(DataError::PartialRecord {
            file: name.into(),
            len: bytes.len(),
        });
    }
    let n = bytes.len() / RECORD;
    let mut images = Images {
        width: PIXELS,
        labels: Vec::with_capacity(n),
        values: Vec::with_capacity(n * PIXELS),
    };
    for record in bytes.chunks_exact(RECORD) {
        images.labels.push(record[0]);
        images.values.extend_from_slice(&record[1..]);
    }
    let batch = Batch {
        source: name.into(),
        images,
    };
    batch.check_labels()
}

fn meta_txt(file: &str, bytes: &[u8]) -> Result<Vec<String>, DataError> {
    let text = String::from_utf8_lossy(bytes);
    ten_names(
        file,
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
    )
}

/// CIFAR-10 has ten classes: a meta file naming another number is not CIFAR-10's.
fn ten_names(file: &str, names: Vec<String>) -> Result<Vec<String>, DataError> {
    if names.len() == NUM_CLASSES {
        Ok(names)
    } else {
        Err(DataError::Meta {
            file: file.into(),
            count: names.len(),
        })
    }
}

fn read_tar_gz(name: &str, bytes: &[u8]) -> Result<Contents, DataError> {
    let bad = |reason: String| DataError::Archive {
        file: name.into(),
        reason,
    };
    let mut archive = tar::Archive::new(GzDecoder::new(bytes));
    let mut contents = Contents::default();
    for entry in archive.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        let path = entry
            .path()
            .map_err(|e| bad(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let member = path.rsplit('/').next().unwrap_or_default().to_string();
        let wanted =
            member.starts_with("data_batch_") || member.starts_with("test_batch") || member.starts_with("batches.meta");
        if !wanted || !entry.header().entry_type().is_file() {
            continue;
        }
        // A real batch is 30 MB; a member claiming far more is refused, not read into memory.
        let mut data = Vec::new();
        (&mut entry)
            .take(MAX_MEMBER + 1)
            .read_to_end(&mut data)
            .map_err(|e| bad(format!("{path}: {e}")))?;
        if data.len() as u64 > MAX_MEMBER {
            return Err(bad(format!("{path} is larger than {} MB", MAX_MEMBER >> 20)));
        }
        let source = format!("{name}/{path}");
        match member.as_str() {
            "batches.meta.txt" => contents.class_names = Some(meta_txt(&source, &data)?),
            "batches.meta" => contents.class_names = Some(pickle_label_names(&source, &data)?),
            m if m.ends_with(".bin") => contents.batches.push(read_binary(&source, &data)?),
            _ => contents.batches.push(read_pickle(&source, &data)?),
        }
    }
    if contents.batches.is_empty() {
        return Err(bad("no CIFAR-10 batches (data_batch_N or test_batch) inside".into()));
    }
    contents.batches.sort_by(|a, b| a.source.cmp(&b.source));
    Ok(contents)
}

fn unpickle(file: &str, bytes: &[u8]) -> Result<Vec<(String, Value)>, DataError> {
    // numpy arrays pickle as a call to numpy's reconstructor followed by their state; with the
    // globals left unresolved, the state (shape, dtype, raw bytes) is what remains.
    let value = serde_pickle::value_from_slice(bytes, DeOptions::new().replace_unresolved_globals()).map_err(|e| {
        DataError::Pickle {
            file: file.into(),
            reason: e.to_string(),
        }
    })?;
    let Value::Dict(map) = value else {
        return Err(DataError::Pickle {
            file: file.into(),
            reason: "not a dict".into(),
        });
    };
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| match k {
            HashableValue::Bytes(b) => Some((String::from_utf8_lossy(&b).into_owned(), v)),
            HashableValue::String(s) => Some((s, v)),
            _ => None,
        })
        .collect())
}

fn field<'a>(file: &str, dict: &'a [(String, Value)], key: &str) -> Result<&'a Value, DataError> {
    dict.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .ok_or_else(|| DataError::Pickle {
            file: file.into(),
            reason: format!("no `{key}` entry"),
        })
}

/// A pickled `{"data": uint8 [N, 3072], "labels": [N ints]}`.
pub fn read_pickle(name: &str, bytes: &[u8]) -> Result<Batch, DataError> {
    let bad = |reason: String| DataError::Pickle {
        file: name.into(),
        reason,
    };
    let dict = unpickle(name, bytes)?;
    let labels = match field(name, &dict, "labels")? {
        Value::List(items) | Value::Tuple(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::I64(l) if (0..NUM_CLASSES as i64).contains(l) => Ok(*l as u8),
                Value::I64(l) => Err(DataError::BadLabel {
                    file: name.into(),
                    record: i,
                    label: *l,
                }),
                other => Err(bad(format!("label {i} is {other:?}, not an integer"))),
            })
            .collect::<Result<Vec<u8>, _>>()?,
        other => return Err(bad(format!("`labels` is {other:?}, not a list"))),
    };
    // The array's state: (version, shape, dtype, fortran order, raw bytes).
    let pixels = match field(name, &dict, "data")? {
        Value::Tuple(state) => match state.as_slice() {
            // C order only: a Fortran-ordered array's bytes are transposed.
            [_, Value::Tuple(shape), _, Value::Bool(false), Value::Bytes(raw)] => {
                let dims: Vec<i64> = shape
                    .iter()
                    .filter_map(|d| if let Value::I64(d) = d { Some(*d) } else { None })
                    .collect();
                if dims != [labels.len() as i64, PIXELS as i64] || raw.len() != labels.len() * PIXELS {
                    return Err(bad(format!(
                        "`data` has shape {dims:?} and {} bytes; expected [{}, {PIXELS}] uint8 for {} labels",
                        raw.len(),
                        labels.len(),
                        labels.len()
                    )));
                }
                raw.clone()
            }
            _ => return Err(bad("`data` is not a uint8 numpy array".into())),
        },
        _ => return Err(bad("`data` is not a uint8 numpy array".into())),
    };
    Ok(Batch {
        source: name.into(),
        images: Images {
            width: PIXELS,
            values: pixels,
            labels,
        },
    })
}

fn pickle_label_names(file: &str, bytes: &[u8]) -> Result<Vec<String>, DataError> {
    let dict = unpickle(file, bytes)?;
    let Value::List(names) = field(file, &dict, "label_names")? else {
        return Err(DataError::Pickle {
            file: file.into(),
            reason: "`label_names` is not a list".into(),
        });
    };
    let names = names
        .iter()
        .map(|n| match n {
            Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            Value::String(s) => s.clone(),
            other => format!("{other:?}"),
        })
        .collect();
    ten_names(file, names)
}

/// Images `indices` as 32x32 RGBA, one after the other, for a canvas.
pub fn rgba(images: &Images, indices: impl IntoIterator<Item = usize>) -> Vec<u8> {
    let plane = SIDE * SIDE;
    let mut out = Vec::new();
    for i in indices {
        let image = images.row(i);
        for p in 0..plane {
            out.extend_from_slice(&[image[p], image[plane + p], image[2 * plane + p], 255]);
        }
    }
    out
}

/// The first `per_class` images of each class, grouped by class.
pub fn first_per_class(images: &Images, per_class: usize) -> Vec<usize> {
    let mut taken = [0; NUM_CLASSES];
    let mut picked: Vec<usize> = (0..images.len())
        .filter(|&i| {
            let class = usize::from(images.labels[i]);
            taken[class] += 1;
            taken[class] <= per_class
        })
        .collect();
    picked.sort_by_key(|&i| images.labels[i]);
    picked
}
