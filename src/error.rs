//! Error types. Every message names the file it is about, because a person who dropped three
//! files on a page needs to know which one was wrong; and every error has a stable [code]
//! (`VitError::code`), which is what the page branches on, never the wording.

use thiserror::Error;

/// Why a model (weights and configs) could not be loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    #[error("{file}: the file is empty")]
    Empty { file: String },
    #[error("{file}: too large for the memory it would load into (a browser tab's holds at most 4 GB)")]
    TooLarge { file: String },
    #[error("{file}: not a safetensors file ({reason})")]
    NotSafetensors { file: String, reason: String },
    #[error("{file}: the file is truncated or its header lies about tensor offsets ({reason})")]
    Corrupt { file: String, reason: String },
    #[error(
        "{file}: neither the Hugging Face ViT layout (`vit.embeddings.cls_token`, ...) nor the timm ViT layout (`patch_embed.proj.weight` and `pos_embed`, ...)"
    )]
    UnknownLayout { file: String },
    #[error("{file}: {what} is not supported")]
    Unsupported { file: String, what: String },
    #[error("{file}: missing tensor `{name}`")]
    MissingTensor { file: String, name: String },
    #[error("{file}: tensor `{name}` is in two shards, {first} and {second}")]
    DuplicateTensor {
        file: String,
        name: String,
        first: String,
        second: String,
    },
    #[error("{file}: shard `{shard}` is not a .safetensors file beside the index")]
    BadShard { file: String, shard: String },
    #[error("{file}: tensor `{name}` has shape {found:?}, expected {expected}")]
    WrongShape {
        file: String,
        name: String,
        expected: String,
        found: Vec<usize>,
    },
    #[error("{file}: tensor `{name}` holds NaN or infinite values")]
    NotFinite { file: String, name: String },
    #[error("{file}: tensor `{name}` has dtype {dtype}; only F32, F16 and BF16 are supported")]
    UnsupportedDtype { file: String, name: String, dtype: String },
    #[error("{file}: not valid JSON ({reason})")]
    BadJson { file: String, reason: String },
    #[error("{file}: `{field}` is {value}, which is not usable ({reason})")]
    BadConfigValue {
        file: String,
        field: String,
        value: String,
        reason: String,
    },
    #[error(
        "{file}: the number of attention heads is not given, and the weights (hidden size {hidden}, {layers} layers, MLP width {mlp}) are no standard ViT size that would settle it: add `num_attention_heads` (Hugging Face) or `model_args.num_heads` (timm) to {file}"
    )]
    UnknownHeads {
        file: String,
        hidden: usize,
        layers: usize,
        mlp: usize,
    },
    #[error("{file}: `{field}` is {config} but the weights have {weights}")]
    ConfigContradicts {
        file: String,
        field: String,
        config: String,
        weights: String,
    },
    #[error("{file}: `{field}` is {value} but `{other}` is {other_value}; which is meant cannot be known")]
    ConfigDisagrees {
        file: String,
        field: String,
        value: String,
        other: String,
        other_value: String,
    },
    #[error(
        "{file}: `architecture` {architecture} names a {named}, but the weights have {weights}: the name cannot give the number of attention heads; add `model_args.num_heads`"
    )]
    NameContradicts {
        file: String,
        architecture: String,
        named: String,
        weights: String,
    },
}

/// Why an image could not be turned into model input.
#[derive(Debug, Error)]
pub enum ImageError {
    #[error("{file}: the file is empty")]
    Empty { file: String },
    #[error("{file}: not an image this app can read (PNG, JPEG, WebP, GIF, BMP): {reason}")]
    Decode { file: String, reason: String },
    /// Beyond the decoder's limits (`data::image`, which fills them in).
    #[error(
        "{file}: {width}x{height} pixels is out of range (at most {max_side} pixels a side and {max_megapixels} megapixels, a side at most {max_aspect} times the other)"
    )]
    TooLarge {
        file: String,
        width: u32,
        height: u32,
        max_side: u32,
        max_megapixels: u64,
        max_aspect: u32,
    },
}

/// Errors a caller of the library can meet.
#[derive(Debug, Error)]
pub enum VitError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Pictures(#[from] PicturesError),
    /// A head file that does not fit the model.
    #[error(transparent)]
    Head(LoadError),
    #[error("the {backend} backend failed: {reason}")]
    Backend { backend: String, reason: String },
    #[error("cannot train the head: {0}")]
    Training(String),
    /// A setting of a fine-tuning run that cannot be used (`train::options`).
    #[error(transparent)]
    Option(#[from] OptionError),
    /// A request the caller should not have made (an unknown split, an image out of range).
    #[error("{0}")]
    Request(String),
    /// The model's output for an image is not numbers: never shown as an answer.
    #[error("{file}: the model's output is NaN or infinite, so there is no answer to show")]
    NotFinite { file: String },
    /// A backbone without a classification head has features, not answers.
    #[error(
        "this model has no classification head (it is a backbone for fine-tuning): train a head or import one to classify"
    )]
    NoHead,
}

impl VitError {
    /// A stable name for the kind of failure, for code that branches on it.
    pub fn code(&self) -> &'static str {
        match self {
            VitError::Load(LoadError::BadJson { .. } | LoadError::BadConfigValue { .. }) => "bad-config",
            VitError::Load(
                LoadError::ConfigContradicts { .. }
                | LoadError::ConfigDisagrees { .. }
                | LoadError::NameContradicts { .. }
                | LoadError::UnknownHeads { .. },
            ) => "bad-config",
            VitError::Load(_) => "bad-weights",
            VitError::Image(_) => "bad-image",
            VitError::Data(_) => "bad-cifar",
            VitError::Pictures(_) => "bad-pictures",
            VitError::Head(_) => "bad-head",
            VitError::Backend { .. } => "backend-failed",
            VitError::Training(_) => "bad-training",
            VitError::Option(_) => "bad-option",
            VitError::Request(_) => "bad-request",
            VitError::NotFinite { .. } => "not-finite",
            VitError::NoHead => "no-head",
        }
    }
}

/// A setting that cannot be used. The message is a clause ("the learning rate must be a positive
/// number") that the CLI prints after `error: ` and the page as a sentence.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum OptionError {
    #[error("{what} must be at least 1")]
    AtLeastOne { what: &'static str },
    #[error("{what} must be a whole number")]
    NotWhole { what: &'static str },
    #[error("{what} must be a positive number")]
    NotPositive { what: &'static str },
    #[error("{what} must be a number ≥ 0")]
    Negative { what: &'static str },
    #[error("{what} must be a non-negative whole number")]
    NotNatural { what: &'static str },
    #[error("the share held out for testing must be above 0% and below 100%; {percent}% was asked for")]
    TestFraction { percent: String },
}

/// Why a person's own pictures cannot be fine-tuned on.
#[derive(Debug, Error)]
pub enum PicturesError {
    #[error(
        "{root}: {found}; fine-tuning needs at least two classes, a folder of pictures each (for example {root}/cat/*.jpg and {root}/dog/*.png)"
    )]
    TooFewClasses { root: String, found: String },
    #[error("{root}: {count} classes; at most 256")]
    TooManyClasses { root: String, count: usize },
    #[error(
        "{root}/{class}: {count} picture(s); holding some out for testing needs at least 2 in each class (or give a separate test folder)"
    )]
    TooFewToSplit { root: String, class: String, count: usize },
    #[error("{root}/{class}: not one of the training classes ({known})")]
    UnknownClass { root: String, class: String, known: String },
    #[error("{root}/{class}: no pictures to train on; add some, or remove the class")]
    EmptyClass { root: String, class: String },
    #[error("there is already a class named {name}")]
    DuplicateClass { name: String },
    #[error("a class needs a name")]
    NoName,
    #[error("there is no class {label}")]
    NoSuchClass { label: usize },
    #[error("there is no picture {index}")]
    NoSuchPicture { index: usize },
    #[error("{file}: not a readable archive of pictures ({reason})")]
    Archive { file: String, reason: String },
    #[error("{what}: more than {limit_mb} MB of pictures; use fewer or smaller ones")]
    TooManyBytes { what: String, limit_mb: u64 },
    #[error("{path}: cannot be read as a folder of pictures ({reason})")]
    Unreadable { path: String, reason: String },
}

/// Why a CIFAR-10 file could not be read.
#[derive(Debug, Error)]
pub enum DataError {
    #[error("{file}: the file is empty")]
    Empty { file: String },
    #[error("{file}: {len} bytes is not a whole number of 3073-byte CIFAR-10 records (1 label byte + 3072 pixels)")]
    PartialRecord { file: String, len: usize },
    #[error("{file}: record {record} has label {label}; CIFAR-10 labels are 0 to 9")]
    BadLabel { file: String, record: usize, label: i64 },
    #[error("{file}: not a readable CIFAR-10 archive ({reason})")]
    Archive { file: String, reason: String },
    #[error("{file}: not a CIFAR-10 Python batch ({reason})")]
    Pickle { file: String, reason: String },
    #[error("{file}: names {count} classes; CIFAR-10 has 10")]
    Meta { file: String, count: usize },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_failure_has_its_code() {
        let file = || "f".to_string();
        let codes = [
            (VitError::from(LoadError::Empty { file: file() }), "bad-weights"),
            (
                VitError::from(LoadError::BadJson {
                    file: file(),
                    reason: String::new(),
                }),
                "bad-config",
            ),
            (VitError::from(ImageError::Empty { file: file() }), "bad-image"),
            (VitError::from(DataError::Empty { file: file() }), "bad-cifar"),
            (VitError::Head(LoadError::Empty { file: file() }), "bad-head"),
            (
                VitError::Backend {
                    backend: "wgpu".into(),
                    reason: "lost".into(),
                },
                "backend-failed",
            ),
            (VitError::Training(String::new()), "bad-training"),
            (VitError::from(OptionError::AtLeastOne { what: "x" }), "bad-option"),
            (VitError::Request(String::new()), "bad-request"),
            (VitError::NotFinite { file: file() }, "not-finite"),
            (VitError::NoHead, "no-head"),
        ];
        for (error, code) in codes {
            assert_eq!(error.code(), code, "{error:?}");
        }
        assert_eq!(
            VitError::Backend {
                backend: "wgpu".into(),
                reason: "lost".into()
            }
            .to_string(),
            "the wgpu backend failed: lost"
        );
    }
}
