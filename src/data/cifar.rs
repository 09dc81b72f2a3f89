//! CIFAR-10 as people have it: the binary batches (`data_batch_N.bin`, `test_batch.bin`), the
//! binary tarball (`cifar-10-binary.tar.gz`), and the Python version (`cifar-10-python.tar.gz`
//! or its pickled `data_batch_N` / `test_batch` files).

use std::rc::Rc;

use super::archive::{self, Kind};
use super::labelled::Labelled;
use super::pickle::{self, Value};
use crate::error::DataError;

pub const SIDE: usize = 32;
pub const PIXELS: usize = 3 * SIDE * SIDE;
/// One label byte and the R, G and B planes, row-major.
pub const RECORD: usize = 1 + PIXELS;
pub const NUM_CLASSES: usize = 10;
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
    if Kind::of(bytes) == Some(Kind::TarGz) {
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
    let wanted = |path: &str| {
        let member = path.rsplit('/').next().unwrap_or_default();
        member.starts_with("data_batch_") || member.starts_with("test_batch") || member.starts_with("batches.meta")
    };
    let mut contents = Contents::default();
    for (path, data) in archive::members(bytes, Kind::TarGz, wanted).map_err(bad)? {
        let member = path.rsplit('/').next().unwrap_or_default();
        let source = format!("{name}/{path}");
        match member {
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

fn unpickle(file: &str, bytes: &[u8]) -> Result<Value, DataError> {
    let value = pickle::read(bytes).map_err(|reason| DataError::Pickle {
        file: file.into(),
        reason,
    })?;
    match value {
        Value::Dict(_) => Ok(value),
        other => Err(DataError::Pickle {
            file: file.into(),
            reason: format!("{}, not a dict", other.describe()),
        }),
    }
}

fn field(file: &str, dict: &Value, key: &str) -> Result<Value, DataError> {
    pickle::field(dict, key).ok_or_else(|| DataError::Pickle {
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
            .items()
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Int(l) if (0..NUM_CLASSES as i64).contains(l) => Ok(*l as u8),
                Value::Int(l) => Err(DataError::BadLabel {
                    file: name.into(),
                    record: i,
                    label: *l,
                }),
                other => Err(bad(format!("label {i} is {}, not an integer", other.describe()))),
            })
            .collect::<Result<Vec<u8>, _>>()?,
        other => return Err(bad(format!("`labels` is {}, not a list", other.describe()))),
    };
    let (shape, raw) = numpy_u8(&field(name, &dict, "data")?).map_err(|e| bad(format!("`data` {e}")))?;
    // Checked, not multiplied: a label count times 3072 can wrap a 32-bit usize (wasm).
    if shape != [labels.len() as i64, PIXELS as i64] || labels.len().checked_mul(PIXELS) != Some(raw.len()) {
        return Err(bad(format!(
            "`data` has shape {shape:?} and {} bytes; expected [{}, {PIXELS}] uint8 for {} labels",
            raw.len(),
            labels.len(),
            labels.len()
        )));
    }
    Ok(Batch {
        source: name.into(),
        images: Images {
            width: PIXELS,
            values: raw.to_vec(),
            labels,
        },
    })
}

/// A C-ordered numpy uint8 array's shape and bytes, as numpy pickles one: `_reconstruct` and its
/// state (protocols 2 to 4), or `_frombuffer` (protocol 5). `Err` completes "`data` …".
fn numpy_u8(value: &Value) -> Result<(Vec<i64>, Rc<[u8]>), String> {
    let not_array = || format!("is {}, not a numpy array", value.describe());
    let Value::Call(call) = value else {
        return Err(not_array());
    };
    let call = call.items();
    let Value::Global(module, name) = &call.callable else {
        return Err(not_array());
    };
    let numpy = matches!(
        &**module,
        "numpy.core.multiarray" | "numpy._core.multiarray" | "numpy.core.numeric" | "numpy._core.numeric"
    );
    let (shape, dtype, c_order, raw) = match (numpy, &**name, &call.state) {
        (true, "_reconstruct", Some(Value::Tuple(state))) => match state.items().as_slice() {
            [_, shape, dtype, Value::Bool(fortran), raw] => (shape.clone(), dtype.clone(), !fortran, raw.clone()),
            _ => return Err("is a numpy array whose state is not (version, shape, dtype, order, bytes)".into()),
        },
        (true, "_frombuffer", None) => match &call.args {
            Value::Tuple(args) => match args.items().as_slice() {
                [raw, dtype, shape, order] => {
                    let c_order = pickle::text(order).is_some_and(|o| o == "C");
                    (shape.clone(), dtype.clone(), c_order, raw.clone())
                }
                _ => return Err("is a numpy buffer without (bytes, dtype, shape, order)".into()),
            },
            _ => return Err(not_array()),
        },
        _ => return Err(not_array()),
    };
    // numpy's dtype is `numpy.dtype("u1", False, True)`, its byte order in the state.
    let dtype_name = match &dtype {
        Value::Call(d) => match &d.items().args {
            Value::Tuple(args) => args.items().first().and_then(pickle::text),
            _ => None,
        },
        _ => None,
    };
    match dtype_name.as_deref() {
        Some("u1") => {}
        Some(other) => return Err(format!("has dtype {other}; CIFAR-10's pixels are uint8 (u1)")),
        None => return Err(format!("has a dtype that is {}", dtype.describe())),
    }
    if !c_order {
        return Err("is in Fortran order; CIFAR-10's is C order".into());
    }
    let shape = match &shape {
        Value::Tuple(dims) => dims
            .items()
            .iter()
            .map(|d| if let Value::Int(d) = d { Some(*d) } else { None })
            .collect::<Option<Vec<i64>>>(),
        _ => None,
    };
    let shape = shape.ok_or("has a shape that is not a tuple of integers")?;
    let raw = pickle::bytes(&raw).ok_or_else(|| format!("holds {}, not bytes", raw.describe()))?;
    Ok((shape, raw))
}

fn pickle_label_names(file: &str, bytes: &[u8]) -> Result<Vec<String>, DataError> {
    let bad = |reason: String| DataError::Pickle {
        file: file.into(),
        reason,
    };
    let dict = unpickle(file, bytes)?;
    let Value::List(names) = field(file, &dict, "label_names")? else {
        return Err(bad("`label_names` is not a list".into()));
    };
    // Counted before any name is read: a list of a million references to one long string must
    // not become a million strings.
    let count = names.items().len();
    if count != NUM_CLASSES {
        return Err(DataError::Meta {
            file: file.into(),
            count,
        });
    }
    let names = names
        .items()
        .iter()
        .enumerate()
        .map(|(i, n)| pickle::text(n).ok_or_else(|| bad(format!("label_names[{i}] is {}, not a name", n.describe()))))
        .collect::<Result<Vec<String>, _>>()?;
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
