//! Hugging Face's and timm's config files (`config.json`, `preprocessor_config.json`): a model's
//! shape, labels and preprocessing, read and checked against the shapes its weights have.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::imagenet::IMAGENET_LABELS;
use super::timm_names::{self, named_size};
use crate::data::preprocess::Preprocess;
use crate::data::resize::Interpolation;
use crate::error::LoadError;
use crate::model::{Pool, ViTConfig};

/// The checkpoint naming scheme a weights file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    HuggingFace,
    Timm,
}

impl Layout {
    fn default_preprocess(self, size: usize) -> Preprocess {
        let half = [0.5; 3];
        match self {
            // google/vit-base-patch16-224's preprocessor_config.json.
            Layout::HuggingFace => Preprocess {
                size,
                mean: half,
                std: half,
                interpolation: Interpolation::Bilinear,
                crop_pct: None,
            },
            // timm's vit_base_patch16_224.augreg2_in21k_ft_in1k pretrained_cfg.
            Layout::Timm => Preprocess {
                size,
                mean: half,
                std: half,
                interpolation: Interpolation::Bicubic,
                crop_pct: Some(0.9),
            },
        }
    }
}

/// What a model's config files say, checked against its weights: its shape, its class names
/// and how its input is prepared.
#[derive(Debug, Clone, PartialEq)]
pub struct HubConfig {
    pub vit: ViTConfig,
    pub labels: Vec<String>,
    pub preprocess: Preprocess,
}

/// Shapes read off the tensors themselves, the ground truth any config must agree with.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightShapes {
    pub image_size: usize,
    pub patch_size: usize,
    pub num_channels: usize,
    pub hidden_size: usize,
    pub num_layers: usize,
    pub mlp_size: usize,
    pub num_labels: usize,
    /// timm's variants, by the tensors present (Hugging Face's ViT has none of them).
    pub variant: Variant,
}

/// Which of timm's `VisionTransformer` options a checkpoint's tensors show.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub class_token: bool,
    pub reg_tokens: usize,
    pub pos_embed_prefix: bool,
    pub pre_norm: bool,
    /// `fc_norm` rather than `norm`.
    pub fc_norm: bool,
    pub layer_scale: bool,
    /// Biases on the queries, keys and values.
    pub qkv_bias: bool,
}

impl Default for Variant {
    /// The paper's ViT.
    fn default() -> Self {
        Self {
            class_token: true,
            reg_tokens: 0,
            pos_embed_prefix: true,
            pre_norm: false,
            fc_norm: false,
            layer_scale: false,
            qkv_bias: true,
        }
    }
}

/// A model's files, named as the hub's repositories name them (Hugging Face's and timm's alike):
/// the weights, and the optional configs.
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const CONFIG_FILE: &str = "config.json";
pub const PREPROCESSOR_FILE: &str = "preprocessor_config.json";
/// A sharded checkpoint's map from tensors to shard files, in place of [`WEIGHTS_FILE`].
pub const WEIGHTS_INDEX_FILE: &str = "model.safetensors.index.json";

/// A config file's bytes and the name to use in errors.
pub struct NamedBytes<'a> {
    pub name: &'a str,
    pub bytes: &'a [u8],
}

/// The keys we read from either a Hugging Face `config.json` or a timm hub `config.json`;
/// every other key is ignored.
#[derive(Deserialize, Default)]
struct ConfigJson {
    // Hugging Face
    image_size: Option<usize>,
    patch_size: Option<usize>,
    num_channels: Option<usize>,
    hidden_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    intermediate_size: Option<usize>,
    layer_norm_eps: Option<f64>,
    hidden_act: Option<String>,
    qkv_bias: Option<bool>,
    id2label: Option<BTreeMap<String, String>>,
    // timm
    architecture: Option<String>,
    pretrained_cfg: Option<TimmPretrainedCfg>,
    model_args: Option<TimmModelArgs>,
    /// What some hand-made and older timm configs hold their model's arguments in; timm itself
    /// reads `model_args`. Only the head count is taken from here.
    timm_kwargs: Option<HeadsOnly>,
    label_names: Option<Vec<String>>,
    global_pool: Option<String>,
}

#[derive(Deserialize, Default)]
struct HeadsOnly {
    num_heads: Option<usize>,
}

#[derive(Deserialize, Default)]
struct TimmPretrainedCfg {
    /// Not one of timm's fields, but where a config may say it.
    num_heads: Option<usize>,
    global_pool: Option<String>,
    input_size: Option<Vec<usize>>,
    mean: Option<Vec<f32>>,
    std: Option<Vec<f32>>,
    interpolation: Option<String>,
    crop_pct: Option<f64>,
}

#[derive(Deserialize, Default)]
struct TimmModelArgs {
    img_size: Option<usize>,
    patch_size: Option<usize>,
    embed_dim: Option<usize>,
    depth: Option<usize>,
    num_heads: Option<usize>,
    global_pool: Option<String>,
    class_token: Option<bool>,
    reg_tokens: Option<usize>,
    no_embed_class: Option<bool>,
    pre_norm: Option<bool>,
    fc_norm: Option<bool>,
    init_values: Option<f64>,
    act_layer: Option<String>,
    qkv_bias: Option<bool>,
    qk_norm: Option<bool>,
}

/// Hugging Face `preprocessor_config.json`.
#[derive(Deserialize, Default)]
struct PreprocessorJson {
    image_mean: Option<Vec<f32>>,
    image_std: Option<Vec<f32>>,
    size: Option<SizeJson>,
    resample: Option<u32>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SizeJson {
    Square(usize),
    HeightWidth { height: usize, width: usize },
    ShortestEdge { shortest_edge: usize },
}

fn parse_json<T: for<'de> Deserialize<'de>>(file: &NamedBytes) -> Result<T, LoadError> {
    serde_json::from_slice(file.bytes).map_err(|e| LoadError::BadJson {
        file: file.name.to_string(),
        reason: e.to_string(),
    })
}

/// What an error quotes of a value: its start, not megabytes of it.
const MAX_QUOTE: usize = 80;

fn bad_value(file: &str, field: &str, value: impl std::fmt::Debug, reason: &str) -> LoadError {
    let mut value = format!("{value:?}");
    if let Some((cut, _)) = value.char_indices().nth(MAX_QUOTE) {
        value.truncate(cut);
        value.push('…');
    }
    LoadError::BadConfigValue {
        file: file.into(),
        field: field.into(),
        value,
        reason: reason.into(),
    }
}

/// Head count of the published ViT sizes (the paper's Base, Large, Huge; DeiT's and AugReg's
/// Tiny, Small, Medium), known by width, depth and MLP width together. Only these are guessed:
/// the weights cannot tell the head count, and a wrong one gives a different answer, not an error.
fn standard_heads(shapes: &WeightShapes) -> Option<usize> {
    Some(match (shapes.hidden_size, shapes.num_layers, shapes.mlp_size) {
        (192, 12, 768) => 3,
        (384, 12, 1536) => 6,
        (512, 12, 2048) => 8,
        (768, 12, 3072) => 12,
        (1024, 24, 4096) | (1280, 32, 5120) => 16,
        _ => return None,
    })
}

/// Normalisation values: three, finite, means within [-10, 10] and standard deviations within
/// [0.001, 1000] (pixels are rescaled to [0, 1] first; beyond these the input is noise or
/// overflows to NaN).
fn rgb(file: &str, field: &str, v: &[f32]) -> Result<[f32; 3], LoadError> {
    let usable = |x: &f32| {
        if field.ends_with("std") {
            (1e-3..=1e3).contains(x)
        } else {
            (-10.0..=10.0).contains(x)
        }
    };
    match v {
        [a, b, c] if [a, b, c].into_iter().all(usable) => Ok([*a, *b, *c]),
        _ => Err(bad_value(
            file,
            field,
            v,
            "expected three values, means within [-10, 10], standard deviations within [0.001, 1000]",
        )),
    }
}

/// Checks timm's options in the config against the tensors, and decides the pooling: the
/// config's `global_pool`, else what the tensors imply (timm pairs `fc_norm` with the mean, and a
/// model without a class token can only take the mean).
fn resolve_variant(file: &str, json: &ConfigJson, variant: &Variant) -> Result<Pool, LoadError> {
    let args = json.model_args.as_ref();
    agree(
        file,
        "model_args.reg_tokens",
        args.and_then(|a| a.reg_tokens),
        variant.reg_tokens,
    )?;
    for (field, config, weights) in [
        (
            "model_args.class_token",
            args.and_then(|a| a.class_token),
            variant.class_token,
        ),
        // Without class or register tokens both layouts are the same.
        (
            "model_args.no_embed_class",
            args.and_then(|a| a.no_embed_class)
                .filter(|_| variant.class_token || variant.reg_tokens > 0),
            !variant.pos_embed_prefix,
        ),
        ("model_args.pre_norm", args.and_then(|a| a.pre_norm), variant.pre_norm),
        ("model_args.fc_norm", args.and_then(|a| a.fc_norm), variant.fc_norm),
        // timm's strict loading refuses both: tensors the option does not make, or misses.
        ("model_args.qkv_bias", args.and_then(|a| a.qkv_bias), variant.qkv_bias),
        ("qkv_bias", json.qkv_bias, variant.qkv_bias),
        // Normalised queries and keys have tensors of their own, which a model with them refuses
        // (`checkpoint::Names::variant`): here the weights never have them.
        ("model_args.qk_norm", args.and_then(|a| a.qk_norm), false),
        // A number other than 0 turns layer scale on (timm: `if init_values`); its tensors
        // hold the trained values.
        (
            "model_args.init_values",
            args.and_then(|a| a.init_values).map(|v| v != 0.0),
            variant.layer_scale,
        ),
    ] {
        if let Some(config) = config
            && config != weights
        {
            let says = |on: bool| if on { "on" } else { "off" };
            return Err(LoadError::ConfigContradicts {
                file: file.into(),
                field: field.into(),
                config: says(config).into(),
                weights: format!("it {}", says(weights)),
            });
        }
    }
    // timm's order: the model's arguments, then its pretrained config (the top-level key only
    // describes them).
    let configured = args
        .and_then(|a| a.global_pool.as_deref())
        .or(json.pretrained_cfg.as_ref().and_then(|p| p.global_pool.as_deref()))
        .or(json.global_pool.as_deref());
    let pool = match configured {
        None if variant.fc_norm || !variant.class_token => Pool::Avg,
        None | Some("token") => Pool::Token,
        Some("avg") => Pool::Avg,
        Some(other) => {
            return Err(bad_value(
                file,
                "global_pool",
                other,
                "only \"token\" (the class token) and \"avg\" (the mean of the patches) are supported",
            ));
        }
    };
    if pool == Pool::Token && !variant.class_token {
        return Err(bad_value(
            file,
            "global_pool",
            "token",
            "the weights have no class token to read out",
        ));
    }
    Ok(pool)
}

/// Checks one config value against what the weights say.
fn agree(file: &str, field: &str, config: Option<usize>, weights: usize) -> Result<(), LoadError> {
    match config {
        Some(c) if c != weights => Err(LoadError::ConfigContradicts {
            file: file.into(),
            field: field.into(),
            config: c.to_string(),
            weights: weights.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Builds the config for weights of the given layout and shapes, from the optional
/// `config.json` and `preprocessor_config.json`.
pub fn resolve_config(
    layout: Layout,
    shapes: &WeightShapes,
    config: Option<NamedBytes>,
    preprocessor: Option<NamedBytes>,
) -> Result<HubConfig, LoadError> {
    let (cfg_name, json): (&str, ConfigJson) = match &config {
        Some(f) => (f.name, parse_json(f)?),
        None => (CONFIG_FILE, ConfigJson::default()),
    };
    let args = json.model_args.as_ref();
    let pretrained = json.pretrained_cfg.as_ref();

    let input_side = pretrained
        .and_then(|p| p.input_size.as_deref())
        .and_then(|s| s.last().copied());
    for (field, config, weights) in [
        (
            "image_size",
            json.image_size.or(args.and_then(|a| a.img_size)).or(input_side),
            shapes.image_size,
        ),
        (
            "patch_size",
            json.patch_size.or(args.and_then(|a| a.patch_size)),
            shapes.patch_size,
        ),
        ("num_channels", json.num_channels, shapes.num_channels),
        (
            "hidden_size",
            json.hidden_size.or(args.and_then(|a| a.embed_dim)),
            shapes.hidden_size,
        ),
        (
            "num_hidden_layers",
            json.num_hidden_layers.or(args.and_then(|a| a.depth)),
            shapes.num_layers,
        ),
        ("intermediate_size", json.intermediate_size, shapes.mlp_size),
    ] {
        agree(cfg_name, field, config, weights)?;
    }

    // OpenAI's CLIP towers use quick_gelu (timm names them `..._quickgelu_...`, or says so in
    // `act_layer`): refused, never run with the wrong activation.
    let named = json
        .architecture
        .as_deref()
        .filter(|a| a.contains("quickgelu"))
        .map(|_| "quick_gelu".to_string());
    for (field, act) in [
        ("hidden_act", &json.hidden_act),
        ("model_args.act_layer", &args.and_then(|a| a.act_layer.clone())),
        ("architecture", &named),
    ] {
        if let Some(act) = act
            && act != "gelu"
        {
            return Err(bad_value(cfg_name, field, act, "only exact \"gelu\" is supported"));
        }
    }

    let num_heads = resolve_heads(cfg_name, &json, shapes)?;
    if num_heads == 0 || !shapes.hidden_size.is_multiple_of(num_heads) {
        return Err(bad_value(
            cfg_name,
            "num_attention_heads",
            num_heads,
            &format!("must divide the hidden size {}", shapes.hidden_size),
        ));
    }

    let pool = resolve_variant(cfg_name, &json, &shapes.variant)?;

    // HF's ViT uses 1e-12; timm's as its entrypoint builds it.
    let default_eps = match layout {
        Layout::HuggingFace => 1e-12,
        Layout::Timm => timm_names::eps(json.architecture.as_deref()),
    };
    let layer_norm_eps = json.layer_norm_eps.unwrap_or(default_eps);
    // ViTs use 1e-12 to 1e-5; one near the variance of the activations changes every answer.
    if !(layer_norm_eps > 0.0 && layer_norm_eps <= 1e-2) {
        return Err(bad_value(
            cfg_name,
            "layer_norm_eps",
            layer_norm_eps,
            "must be a positive number no larger than 0.01",
        ));
    }

    let labels = resolve_labels(cfg_name, &json, shapes.num_labels)?;

    let mut preprocess = layout.default_preprocess(shapes.image_size);
    if let Some(p) = pretrained {
        if let Some(m) = &p.mean {
            preprocess.mean = rgb(cfg_name, "pretrained_cfg.mean", m)?;
        }
        if let Some(s) = &p.std {
            preprocess.std = rgb(cfg_name, "pretrained_cfg.std", s)?;
        }
        match p.interpolation.as_deref() {
            None => {}
            Some("bilinear") => preprocess.interpolation = Interpolation::Bilinear,
            Some("bicubic") => preprocess.interpolation = Interpolation::Bicubic,
            Some(other) => {
                return Err(bad_value(
                    cfg_name,
                    "pretrained_cfg.interpolation",
                    other,
                    "expected \"bilinear\" or \"bicubic\"",
                ));
            }
        }
        if let Some(c) = p.crop_pct {
            // timm's crops are 0.875 to 1; a tiny one would upscale to gigantic sizes.
            if !(0.5..=1.0).contains(&c) {
                return Err(bad_value(
                    cfg_name,
                    "pretrained_cfg.crop_pct",
                    c,
                    "must be between 0.5 and 1",
                ));
            }
            preprocess.crop_pct = Some(c);
        }
    }
    if let Some(f) = &preprocessor {
        apply_preprocessor(&mut preprocess, f, shapes.image_size)?;
    }

    Ok(HubConfig {
        vit: ViTConfig {
            image_size: shapes.image_size,
            patch_size: shapes.patch_size,
            num_channels: shapes.num_channels,
            hidden_size: shapes.hidden_size,
            num_layers: shapes.num_layers,
            num_heads,
            mlp_size: shapes.mlp_size,
            layer_norm_eps,
            num_labels: shapes.num_labels,
            class_token: shapes.variant.class_token,
            reg_tokens: shapes.variant.reg_tokens,
            pos_embed_prefix: shapes.variant.pos_embed_prefix,
            pre_norm: shapes.variant.pre_norm,
            pool,
            fc_norm: shapes.variant.fc_norm,
        },
        labels,
        preprocess,
    })
}

/// The head count: from every key a config may state it in (all that are there must agree), else
/// from a named timm size whose width, depth and MLP width are the tensors', else from a published
/// ViT size the tensors have. The weights cannot tell it, and a wrong one gives another answer,
/// not an error: so it is refused rather than guessed.
fn resolve_heads(file: &str, json: &ConfigJson, shapes: &WeightShapes) -> Result<usize, LoadError> {
    let stated: Vec<(&str, usize)> = [
        ("num_attention_heads", json.num_attention_heads),
        (
            "model_args.num_heads",
            json.model_args.as_ref().and_then(|a| a.num_heads),
        ),
        (
            "timm_kwargs.num_heads",
            json.timm_kwargs.as_ref().and_then(|a| a.num_heads),
        ),
        (
            "pretrained_cfg.num_heads",
            json.pretrained_cfg.as_ref().and_then(|p| p.num_heads),
        ),
    ]
    .into_iter()
    .filter_map(|(field, heads)| Some((field, heads?)))
    .collect();
    if let Some(&(field, heads)) = stated.first() {
        if let Some(&(other, other_heads)) = stated.iter().find(|(_, h)| *h != heads) {
            return Err(LoadError::ConfigDisagrees {
                file: file.into(),
                field: field.into(),
                value: heads.to_string(),
                other: other.into(),
                other_value: other_heads.to_string(),
            });
        }
        return Ok(heads);
    }
    let weights = (shapes.hidden_size, shapes.num_layers, shapes.mlp_size);
    if let Some(architecture) = &json.architecture
        && let Some(named) = named_size(architecture)
    {
        if (named.hidden, named.depth, named.mlp) == weights {
            return Ok(named.heads);
        }
        return Err(LoadError::NameContradicts {
            file: file.into(),
            architecture: architecture.chars().take(MAX_QUOTE).collect(),
            named: format!(
                "ViT-{} (width {}, {} layers, MLP width {})",
                named.name, named.hidden, named.depth, named.mlp
            ),
            weights: format!("width {}, {} layers, MLP width {}", weights.0, weights.1, weights.2),
        });
    }
    standard_heads(shapes).ok_or_else(|| LoadError::UnknownHeads {
        file: file.into(),
        hidden: shapes.hidden_size,
        layers: shapes.num_layers,
        mlp: shapes.mlp_size,
    })
}

fn resolve_labels(file: &str, json: &ConfigJson, num_labels: usize) -> Result<Vec<String>, LoadError> {
    // Without a head, label names in a config name nothing (transformers writes two defaults).
    if num_labels == 0 {
        return Ok(Vec::new());
    }
    let count_agrees = |field: &str, count: usize| {
        if count == num_labels {
            Ok(())
        } else {
            Err(LoadError::ConfigContradicts {
                file: file.into(),
                field: field.into(),
                config: format!("{count} labels"),
                weights: format!("{num_labels} classes"),
            })
        }
    };
    if let Some(map) = &json.id2label {
        count_agrees("id2label", map.len())?;
        let mut labels = vec![None; num_labels];
        for (k, v) in map {
            let slot = k
                .parse::<usize>()
                .ok()
                .and_then(|i| labels.get_mut(i))
                .filter(|slot| slot.is_none());
            let Some(slot) = slot else {
                let reason = format!("keys must be distinct class indices below {num_labels}");
                return Err(bad_value(file, "id2label", k, &reason));
            };
            *slot = Some(v.clone());
        }
        // Every slot is filled: as many distinct keys as slots.
        let labels = labels.into_iter().map(Option::unwrap_or_default).collect();
        return Ok(labels);
    }
    if let Some(names) = &json.label_names {
        count_agrees("label_names", names.len())?;
        return Ok(names.clone());
    }
    Ok(if num_labels == IMAGENET_LABELS.len() {
        IMAGENET_LABELS.iter().map(|s| s.to_string()).collect()
    } else {
        (0..num_labels).map(|i| format!("LABEL_{i}")).collect()
    })
}

fn apply_preprocessor(p: &mut Preprocess, file: &NamedBytes, image_size: usize) -> Result<(), LoadError> {
    let json: PreprocessorJson = parse_json(file)?;
    if let Some(m) = &json.image_mean {
        p.mean = rgb(file.name, "image_mean", m)?;
    }
    if let Some(s) = &json.image_std {
        p.std = rgb(file.name, "image_std", s)?;
    }
    let size = match json.size {
        None => None,
        Some(SizeJson::Square(s)) => Some(s),
        Some(SizeJson::ShortestEdge { shortest_edge }) => {
            let reason = "resizing the shortest edge (then cropping) is not supported; give {\"height\", \"width\"}";
            return Err(bad_value(file.name, "size", shortest_edge, reason));
        }
        Some(SizeJson::HeightWidth { height, width }) if height == width => Some(height),
        Some(SizeJson::HeightWidth { height, width }) => {
            return Err(bad_value(
                file.name,
                "size",
                (height, width),
                "only square inputs are supported",
            ));
        }
    };
    agree(file.name, "size", size, image_size)?;
    // PIL resample codes: 2 bilinear, 3 bicubic.
    match json.resample {
        None => {}
        Some(2) => p.interpolation = Interpolation::Bilinear,
        Some(3) => p.interpolation = Interpolation::Bicubic,
        Some(other) => {
            return Err(bad_value(
                file.name,
                "resample",
                other,
                "expected 2 (bilinear) or 3 (bicubic)",
            ));
        }
    }
    // A Hugging Face processor resizes straight to the input size.
    p.crop_pct = None;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Variant, WeightShapes, standard_heads};

    #[test]
    fn only_published_vit_sizes_give_a_head_count_without_a_config() {
        let shapes = |hidden_size, num_layers, mlp_size| WeightShapes {
            image_size: 224,
            patch_size: 16,
            num_channels: 3,
            hidden_size,
            num_layers,
            mlp_size,
            num_labels: 1000,
            variant: Variant::default(),
        };
        assert_eq!(standard_heads(&shapes(768, 12, 3072)), Some(12));
        assert_eq!(standard_heads(&shapes(192, 12, 768)), Some(3));
        // ViT-H's head dimension is 80, not 64.
        assert_eq!(standard_heads(&shapes(1280, 32, 5120)), Some(16));
        // ViT-B's width at another depth or MLP width is not ViT-B.
        assert_eq!(standard_heads(&shapes(768, 6, 3072)), None);
        assert_eq!(standard_heads(&shapes(768, 12, 2048)), None);
        assert_eq!(standard_heads(&shapes(48, 2, 96)), None);
    }
}
