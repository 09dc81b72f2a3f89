//! Fixtures and checks shared by the native and the in-browser tests. Everything is embedded,
//! since the browser has no file system.
#![allow(dead_code)]

use safetensors::SafeTensors;
use vit_wasm::backend::BackendKind;
use vit_wasm::classifier::Classifier;
use vit_wasm::load::{ModelFiles, NamedBytes};

pub const HF_WEIGHTS: &[u8] = include_bytes!("../fixtures/tiny_hf/model.safetensors");
pub const HF_CONFIG: &[u8] = include_bytes!("../fixtures/tiny_hf/config.json");
pub const HF_PREPROCESSOR: &[u8] = include_bytes!("../fixtures/tiny_hf/preprocessor_config.json");
pub const HF_F16: &[u8] = include_bytes!("../fixtures/tiny_hf_f16.safetensors");
pub const HF_BF16: &[u8] = include_bytes!("../fixtures/tiny_hf_bf16.safetensors");
pub const TIMM_WEIGHTS: &[u8] = include_bytes!("../fixtures/tiny_timm/model.safetensors");
pub const TIMM_CONFIG: &[u8] = include_bytes!("../fixtures/tiny_timm/config.json");
pub const HF_HEADLESS_WEIGHTS: &[u8] = include_bytes!("../fixtures/tiny_hf_headless/model.safetensors");
pub const HF_HEADLESS_CONFIG: &[u8] = include_bytes!("../fixtures/tiny_hf_headless/config.json");
pub const TIMM_HEADLESS_WEIGHTS: &[u8] = include_bytes!("../fixtures/tiny_timm_headless/model.safetensors");
pub const TIMM_HEADLESS_CONFIG: &[u8] = include_bytes!("../fixtures/tiny_timm_headless/config.json");
pub const REFERENCE: &[u8] = include_bytes!("../fixtures/reference.safetensors");
pub const CIFAR_BATCH: &[u8] = include_bytes!("../fixtures/cifar/data_batch_1.bin");
pub const CIFAR_PYTHON_TAR: &[u8] = include_bytes!("../fixtures/cifar/cifar-10-python.tar.gz");
pub const CIFAR_BAD_LABEL: &[u8] = include_bytes!("../fixtures/cifar/malformed/bad_label.bin");
/// Files built to hurt a reader (tests/fixtures/generate_cifar.py), with what their error says.
pub const CIFAR_HOSTILE: [(&str, &[u8], &str); 6] = [
    (
        "quadratic_pickle",
        include_bytes!("../fixtures/cifar/hostile/quadratic_pickle"),
        "not an integer",
    ),
    (
        "dup_pickle",
        include_bytes!("../fixtures/cifar/hostile/dup_pickle"),
        "after it was put into another",
    ),
    (
        "deep_pickle",
        include_bytes!("../fixtures/cifar/hostile/deep_pickle"),
        "nests deeper",
    ),
    (
        "int8_pickle",
        include_bytes!("../fixtures/cifar/hostile/int8_pickle"),
        "dtype i1",
    ),
    (
        "too_big.tar.gz",
        include_bytes!("../fixtures/cifar/hostile/too_big.tar.gz"),
        "larger than 256 MB uncompressed",
    ),
    (
        "long_name.tar.gz",
        include_bytes!("../fixtures/cifar/hostile/long_name.tar.gz"),
        "larger than 256 MB uncompressed",
    ),
];
pub const HEAD_REFERENCE: &[u8] = include_bytes!("../fixtures/cifar/head_reference.safetensors");

pub const LABELS: [&str; 7] = [
    "red square",
    "green disc",
    "blue stripes",
    "checkerboard",
    "gradient",
    "noise",
    "blank",
];

/// (file name, bytes) of every test image; its key in the reference is the name with `.` → `_`.
pub const IMAGES: [(&str, &[u8]); 7] = [
    ("gradient.png", include_bytes!("../fixtures/images/gradient.png")),
    ("checker.bmp", include_bytes!("../fixtures/images/checker.bmp")),
    ("disc_rgba.png", include_bytes!("../fixtures/images/disc_rgba.png")),
    ("grey.png", include_bytes!("../fixtures/images/grey.png")),
    ("noise.webp", include_bytes!("../fixtures/images/noise.webp")),
    ("stripes.gif", include_bytes!("../fixtures/images/stripes.gif")),
    ("gradient.jpg", include_bytes!("../fixtures/images/gradient.jpg")),
];

macro_rules! variant {
    ($name:literal) => {
        (
            $name,
            include_bytes!(concat!("../fixtures/variants/", $name, "/model.safetensors")),
            include_bytes!(concat!("../fixtures/variants/", $name, "/config.json")),
        )
    };
}

/// timm's variants (tests/fixtures/generate.py, `VARIANTS`): (name, weights, config).
pub const VARIANTS: [(&str, &[u8], &[u8]); 6] = [
    variant!("gap_fc_norm"),
    variant!("no_class_token"),
    variant!("clip_pre_norm"),
    variant!("dinov2_registers"),
    variant!("layer_scale_patch14"),
    variant!("registers_gap"),
];
pub const VARIANTS_REFERENCE: &[u8] = include_bytes!("../fixtures/variants/reference.safetensors");

/// Each of timm's variants against timm's own output (logits, or the pooled feature of those
/// without a head) on the same random pixels.
pub async fn check_variants(backend: BackendKind, tolerance: f32) {
    let device = backend.device().await.expect("device");
    let st = SafeTensors::deserialize(VARIANTS_REFERENCE).unwrap();
    for (name, weights, config) in VARIANTS {
        let files = ModelFiles {
            weights: NamedBytes {
                name: "model.safetensors",
                bytes: weights,
            },
            config: Some(NamedBytes {
                name: "config.json",
                bytes: config,
            }),
            preprocessor: None,
        };
        let model = Classifier::load(files, &device).unwrap_or_else(|e| panic!("{name}: {e}"));
        // As stored, then at each other size timm ran it at (position embeddings resampled).
        let mut sizes: Vec<usize> = st
            .names()
            .into_iter()
            .filter_map(|k| {
                k.strip_prefix(&format!("{name}@"))?
                    .strip_suffix(".pixels")?
                    .parse()
                    .ok()
            })
            .collect();
        sizes.sort();
        assert_eq!(
            sizes.is_empty(),
            !matches!(name, "gap_fc_norm" | "dinov2_registers" | "registers_gap"),
            "{name}: {sizes:?}"
        );
        for size in std::iter::once(None).chain(sizes.into_iter().map(Some)) {
            let (key, model) = match size {
                None => (name.to_string(), model.clone()),
                Some(size) => (format!("{name}@{size}"), model.at_image_size(size).unwrap()),
            };
            let pixels = floats(&st, &format!("{key}.pixels"));
            let images: Vec<Vec<f32>> = pixels.chunks(pixels.len() / 2).map(<[f32]>::to_vec).collect();
            let ours = if model.has_head() {
                model.logits(&images).await.unwrap()
            } else {
                model.features(&images).await.unwrap()
            };
            let diff = max_abs_diff(&ours.concat(), &floats(&st, &format!("{key}.output")));
            assert!(
                diff <= tolerance,
                "{key} on {backend}: differs from timm by {diff} (> {tolerance})"
            );
        }
        let pixels = floats(&st, &format!("{name}.pixels"));
        let images: Vec<Vec<f32>> = pixels.chunks(pixels.len() / 2).map(<[f32]>::to_vec).collect();
        // The attention map covers the patches, whatever comes before them.
        if model.has_head() {
            let (_, rollout) = model.logits_with_attention(&images).await.unwrap();
            assert_eq!(rollout[0].len(), model.config.num_patches(), "{name}");
        }
    }
}

/// A tensor the reference code computed, e.g. `reference("grey.png", "hf.logits")`.
pub fn reference(image: &str, what: &str) -> Vec<f32> {
    let st = SafeTensors::deserialize(REFERENCE).unwrap();
    let key = format!("{}.{what}", image.replace('.', "_"));
    let view = st.tensor(&key).unwrap_or_else(|_| panic!("no reference {key}"));
    view.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fixture {
    Hf,
    HfF16,
    HfBf16,
    Timm,
    /// The same backbones without a head: HF's `ViTModel`, timm's `num_classes=0`.
    HfHeadless,
    TimmHeadless,
}

impl Fixture {
    pub const ALL: [Fixture; 6] = [
        Fixture::Hf,
        Fixture::HfF16,
        Fixture::HfBf16,
        Fixture::Timm,
        Fixture::HfHeadless,
        Fixture::TimmHeadless,
    ];

    pub fn files(self) -> ModelFiles<'static> {
        let nb = |name, bytes| NamedBytes { name, bytes };
        match self {
            Fixture::Hf => ModelFiles {
                weights: nb("model.safetensors", HF_WEIGHTS),
                config: Some(nb("config.json", HF_CONFIG)),
                preprocessor: Some(nb("preprocessor_config.json", HF_PREPROCESSOR)),
            },
            Fixture::HfF16 | Fixture::HfBf16 => ModelFiles {
                weights: nb(
                    "model.safetensors",
                    if self == Fixture::HfF16 { HF_F16 } else { HF_BF16 },
                ),
                config: Some(nb("config.json", HF_CONFIG)),
                preprocessor: Some(nb("preprocessor_config.json", HF_PREPROCESSOR)),
            },
            Fixture::Timm => ModelFiles {
                weights: nb("model.safetensors", TIMM_WEIGHTS),
                config: Some(nb("config.json", TIMM_CONFIG)),
                preprocessor: None,
            },
            Fixture::HfHeadless => ModelFiles {
                weights: nb("model.safetensors", HF_HEADLESS_WEIGHTS),
                config: Some(nb("config.json", HF_HEADLESS_CONFIG)),
                preprocessor: Some(nb("preprocessor_config.json", HF_PREPROCESSOR)),
            },
            Fixture::TimmHeadless => ModelFiles {
                weights: nb("model.safetensors", TIMM_HEADLESS_WEIGHTS),
                config: Some(nb("config.json", TIMM_HEADLESS_CONFIG)),
                preprocessor: None,
            },
        }
    }

    /// Which reference outputs belong to this model, and which pixels feed it.
    pub fn keys(self) -> (&'static str, &'static str) {
        match self {
            Fixture::Hf => ("hf", "hf"),
            Fixture::HfF16 => ("hf_f16", "hf"),
            Fixture::HfBf16 => ("hf_bf16", "hf"),
            Fixture::Timm | Fixture::TimmHeadless => ("timm", "timm"),
            Fixture::HfHeadless => ("hf", "hf"),
        }
    }
}

pub async fn classifier(fixture: Fixture, backend: BackendKind) -> Classifier {
    let device = backend.device().await.expect("device");
    Classifier::load(fixture.files(), &device).expect("fixture loads")
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Feeds the reference code's own pixels to our model (so preprocessing is not under test here)
/// and compares logits and class-token features, all images in one batch.
pub async fn check_parity(fixture: Fixture, backend: BackendKind, tolerance: f32) {
    let model = classifier(fixture, backend).await;
    let (out_key, pixel_key) = fixture.keys();
    let pixels: Vec<Vec<f32>> = IMAGES
        .iter()
        .map(|(name, _)| reference(name, &format!("{pixel_key}.pixels")))
        .collect();
    let compare = |what: &str, rows: Vec<Vec<f32>>| {
        for ((name, _), ours) in IMAGES.iter().zip(&rows) {
            let diff = max_abs_diff(ours, &reference(name, &format!("{out_key}.{what}")));
            assert!(
                diff <= tolerance,
                "{fixture:?} on {backend}: {name} {what} differ by {diff} (> {tolerance})"
            );
        }
    };
    // The half-precision files have reference logits only.
    if !matches!(fixture, Fixture::HfF16 | Fixture::HfBf16) {
        compare("features", model.features(&pixels).await.unwrap());
    }
    if matches!(fixture, Fixture::HfHeadless | Fixture::TimmHeadless) {
        // A backbone has features, not answers; with the full model's head it is the full model.
        assert_eq!((model.config.num_labels, model.labels.len()), (0, 0));
        let e = model.logits(&pixels).await.unwrap_err();
        assert!(matches!(e, vit_wasm::error::VitError::NoHead), "{e}");
        let full = classifier(Fixture::Hf, backend).await;
        let head = vit_wasm::load::Head {
            linear: full.model.head.clone().expect("the full model has a head"),
            labels: full.labels.clone(),
        };
        compare("logits", model.with_head(&head).logits(&pixels).await.unwrap());
    } else {
        compare("logits", model.logits(&pixels).await.unwrap());
    }
}

fn floats(st: &SafeTensors, name: &str) -> Vec<f32> {
    st.tensor(name)
        .unwrap()
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// Twelve AdamW steps of a linear head on fixed features, loss by loss, against PyTorch.
pub async fn check_loss_curve(backend: BackendKind) {
    use vit_wasm::model::dense::linear_from_pytorch;
    use vit_wasm::train::{Features, HeadTrainer, TrainOptions};
    let st = SafeTensors::deserialize(HEAD_REFERENCE).unwrap();
    let labels: Vec<u8> = st
        .tensor("labels")
        .unwrap()
        .data()
        .chunks_exact(8)
        .map(|b| b[0])
        .collect();
    let features = Features {
        width: 48,
        values: floats(&st, "features"),
        labels,
    };
    let options = TrainOptions {
        learning_rate: 1e-2,
        weight_decay: 0.05,
        ..TrainOptions::default()
    };
    let device = backend.device().await.unwrap();
    let init = linear_from_pytorch(&floats(&st, "init.weight"), &floats(&st, "init.bias"), 48, &device);
    let mut trainer = HeadTrainer::new(init, &options, &device);
    for (step, want) in floats(&st, "losses").iter().enumerate() {
        let start = (step * 16) % features.len();
        let batch = features.select(&(start..start + 16).collect::<Vec<_>>());
        let loss = trainer.step(&batch).await.unwrap();
        assert!(
            (loss - want).abs() <= 1e-4,
            "{backend} step {step}: loss {loss} vs PyTorch {want}"
        );
    }
    let weight = trainer
        .head()
        .weight
        .val()
        .transpose()
        .into_data_async()
        .await
        .unwrap()
        .try_to_vec::<f32>()
        .unwrap();
    let diff = max_abs_diff(&weight, &floats(&st, "final.weight"));
    assert!(diff <= 1e-4, "{backend}: final weights differ by {diff}");
}

/// The last block's attention weights for every image against the reference's (the tiny model
/// has two blocks).
pub fn check_last_attention(model: &Classifier) {
    for (name, _) in IMAGES {
        let pixels = reference(name, "hf.pixels");
        let mut attention = Vec::new();
        model
            .model
            .forward_with_attention(model.batch(&[pixels]), |w| attention.push(w));
        assert_eq!(attention.len(), 2);
        let last: Vec<f32> = attention[1].clone().into_data().try_to_vec().unwrap();
        let diff = max_abs_diff(&last, &reference(name, "hf.attention_last"));
        assert!(diff <= 1e-5, "{name}: attention differs by {diff}");
    }
}
