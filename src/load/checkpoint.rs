//! Loads a ViT from a safetensors checkpoint in either the Hugging Face or the timm layout.
//!
//! The model is shaped by the paper (timm's names); this is the one place where Hugging Face's
//! names are mapped onto it, as timm's `checkpoint_filter_fn` does. HF's separate query, key and
//! value projections are fused into one `qkv` here, and PyTorch's `[out, in]` Linear weights are
//! transposed to Burn's `[in, out]` (the encoder's, by [`Dense`], into its kernels' layout).

use burn::module::Param;
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::prelude::*;

use super::hub_config::{HubConfig, Layout, NamedBytes, Variant, WeightShapes, resolve_config};
use super::safetensors_file::SafetensorsFile;
use crate::error::LoadError;
use crate::model::attention::Attention;
use crate::model::block::Block;
use crate::model::dense::{Dense, linear_from_pytorch};
use crate::model::mlp::Mlp;
use crate::model::patch_embedding::PatchEmbedding;
use crate::model::{Pool, ViTConfig, VisionTransformer};

/// A model's files, as bytes: the browser has no file system.
pub struct ModelFiles<'a> {
    pub weights: NamedBytes<'a>,
    pub config: Option<NamedBytes<'a>>,
    pub preprocessor: Option<NamedBytes<'a>>,
}

/// Reads the weights and configs and builds the model on `device`.
pub fn load_vit(files: ModelFiles, device: &Device) -> Result<(VisionTransformer, HubConfig), LoadError> {
    let weights = SafetensorsFile::parse(files.weights.name, files.weights.bytes)?;
    load_vit_from(weights, files.config, files.preprocessor, device)
}

/// As [`load_vit`], from weights already read (the page reads them as they stream in). Each
/// tensor moves from the file into the model, so the two never hold all the weights at once.
pub fn load_vit_from(
    weights: SafetensorsFile,
    config: Option<NamedBytes>,
    preprocessor: Option<NamedBytes>,
    device: &Device,
) -> Result<(VisionTransformer, HubConfig), LoadError> {
    let names = Names::detect(&weights)?;
    let shapes = names.shapes(&weights)?;
    let config = resolve_config(names.layout, &shapes, config, preprocessor)?;
    let model = Loader {
        file: weights,
        names: &names,
        config: &config.vit,
        device,
        layer_scale: shapes.variant.layer_scale,
    }
    .vit()?;
    Ok((model, config))
}

/// Where each of the paper's tensors lives in the file.
struct Names {
    layout: Layout,
    /// `vit.` for `ViTForImageClassification`'s files; empty where the names have no prefix.
    hf_prefix: String,
}

/// A tensor in the file, or (HF's attention) three tensors to concatenate along the first axis.
enum Source {
    One(String),
    Fused([String; 3]),
}

impl Names {
    fn detect(file: &SafetensorsFile) -> Result<Self, LoadError> {
        if file.contains("patch_embed.proj.weight") && file.contains("pos_embed") {
            return Ok(Self {
                layout: Layout::Timm,
                hf_prefix: String::new(),
            });
        }
        for prefix in ["vit.", ""] {
            if file.contains(&format!("{prefix}embeddings.cls_token")) {
                return Ok(Self {
                    layout: Layout::HuggingFace,
                    hf_prefix: prefix.into(),
                });
            }
        }
        Err(LoadError::UnknownLayout {
            file: file.name().into(),
        })
    }

    /// Maps a timm name (`blocks.3.attn.qkv.weight`) to the file's own.
    fn source(&self, name: &str) -> Source {
        if self.layout == Layout::Timm {
            return Source::One(name.into());
        }
        let p = &self.hf_prefix;
        let one = |s: String| Source::One(s);
        let parts: Vec<&str> = name.split('.').collect();
        match parts.as_slice() {
            ["cls_token"] => one(format!("{p}embeddings.cls_token")),
            // A name of one of timm's variants, which Hugging Face's ViT has not: never found.
            ["reg_token" | "norm_pre" | "fc_norm", ..] => one(name.into()),
            ["pos_embed"] => one(format!("{p}embeddings.position_embeddings")),
            ["patch_embed", "proj", t] => one(format!("{p}embeddings.patch_embeddings.projection.{t}")),
            ["norm", t] => one(format!("{p}layernorm.{t}")),
            ["head", t] => one(format!("classifier.{t}")),
            ["blocks", n, rest @ ..] => {
                let layer = format!("{p}encoder.layer.{n}");
                match rest {
                    ["attn", "qkv", t] => {
                        Source::Fused(["query", "key", "value"].map(|x| format!("{layer}.attention.attention.{x}.{t}")))
                    }
                    ["norm1", t] => one(format!("{layer}.layernorm_before.{t}")),
                    ["attn", "proj", t] => one(format!("{layer}.attention.output.dense.{t}")),
                    ["norm2", t] => one(format!("{layer}.layernorm_after.{t}")),
                    ["ls1" | "ls2", ..] => one(name.into()),
                    ["mlp", "fc1", t] => one(format!("{layer}.intermediate.dense.{t}")),
                    ["mlp", "fc2", t] => one(format!("{layer}.output.dense.{t}")),
                    _ => unreachable!("no such ViT tensor: {name}"),
                }
            }
            _ => unreachable!("no such ViT tensor: {name}"),
        }
    }

    /// The file's name for a tensor that is never fused, for error messages and shape reads.
    fn file_name(&self, name: &str) -> String {
        match self.source(name) {
            Source::One(n) => n,
            Source::Fused(parts) => parts[0].clone(),
        }
    }

    fn shape_of(
        &self,
        file: &SafetensorsFile,
        name: &str,
        rank: usize,
        expected: &str,
    ) -> Result<Vec<usize>, LoadError> {
        let file_name = self.file_name(name);
        let shape = file.shape(&file_name)?;
        if shape.len() != rank || shape.contains(&0) {
            return Err(file.wrong_shape(&file_name, expected.into(), &shape));
        }
        Ok(shape)
    }

    /// The model's shape, read off the tensors.
    fn shapes(&self, file: &SafetensorsFile) -> Result<WeightShapes, LoadError> {
        let patch = self.shape_of(file, "patch_embed.proj.weight", 4, "[hidden, channels, patch, patch]")?;
        let (hidden_size, num_channels, patch_size) = (patch[0], patch[1], patch[2]);
        // Images are decoded to RGB; a model for other channel counts could not take them.
        if patch[3] != patch_size || num_channels != 3 {
            let name = self.file_name("patch_embed.proj.weight");
            return Err(file.wrong_shape(
                &name,
                "[hidden, 3, patch, patch]: RGB input, square patches".into(),
                &patch,
            ));
        }
        let variant = self.variant(file)?;
        let prefix = usize::from(variant.class_token) + variant.reg_tokens;
        let pos = self.shape_of(file, "pos_embed", 3, "[1, prefix tokens + patches, hidden]")?;
        let square = |n: usize| n > 0 && n.isqrt() * n.isqrt() == n;
        // timm's default covers the class and register tokens; `no_embed_class` only the patches.
        let (pos_embed_prefix, num_patches) = match pos[1].checked_sub(prefix) {
            Some(patches) if square(patches) => (true, patches),
            _ if square(pos[1]) => (false, pos[1]),
            _ => {
                return Err(file.wrong_shape(
                    &self.file_name("pos_embed"),
                    format!("[1, n² or {prefix} + n², hidden]: a square grid of patches, with or without the {prefix} prefix tokens"),
                    &pos,
                ));
            }
        };
        let grid = num_patches.isqrt();
        let block_prefix = match self.layout {
            Layout::Timm => "blocks.".to_string(),
            Layout::HuggingFace => format!("{}encoder.layer.", self.hf_prefix),
        };
        let num_layers = file
            .names()
            .filter_map(|n| n.strip_prefix(&block_prefix)?.split('.').next()?.parse::<usize>().ok())
            // Real ViTs have tens of blocks; a huge index is a broken name, not a deep model.
            .filter(|n| *n < 10_000)
            .max()
            .map_or(0, |n| n + 1);
        if num_layers == 0 {
            return Err(LoadError::MissingTensor {
                file: file.name().into(),
                name: self.file_name("blocks.0.norm1.weight"),
            });
        }
        let fc1 = self.shape_of(file, "blocks.0.mlp.fc1.weight", 2, "[mlp, hidden]")?;
        // A backbone for fine-tuning has no head (HF's `ViTModel`, timm's `num_classes=0`).
        let num_labels = if file.contains(&self.file_name("head.weight")) || file.contains(&self.file_name("head.bias"))
        {
            self.shape_of(file, "head.weight", 2, "[labels, hidden]")?[0]
        } else {
            0
        };
        Ok(WeightShapes {
            image_size: grid * patch_size,
            patch_size,
            num_channels,
            hidden_size,
            num_layers,
            mlp_size: fc1[0],
            num_labels,
            variant: Variant {
                pos_embed_prefix,
                ..variant
            },
        })
    }

    /// timm's options, by the tensors present; options this model does not have are refused by
    /// name rather than ignored.
    fn variant(&self, file: &SafetensorsFile) -> Result<Variant, LoadError> {
        if self.layout == Layout::HuggingFace {
            return Ok(Variant {
                // (Its three projections have their biases together or not at all.)
                qkv_bias: file.contains(&self.file_name("blocks.0.attn.qkv.bias")),
                ..Variant::default()
            });
        }
        for (tensor, what) in [
            ("blocks.0.attn.q_norm.weight", "normalised queries and keys (qk_norm)"),
            ("attn_pool.latent", "attention pooling (global_pool='map')"),
            ("head.fc.weight", "a head with more than one layer"),
            ("patch_embed.norm.weight", "a norm in the patch embedding"),
            (
                "blocks.0.attn.norm.weight",
                "a norm inside the attention (scale_attn_norm)",
            ),
            ("blocks.0.mlp.norm.weight", "a norm inside the MLP (scale_mlp_norm)"),
        ] {
            if file.contains(tensor) {
                return Err(LoadError::Unsupported {
                    file: file.name().into(),
                    what: format!("{what}: `{tensor}`"),
                });
            }
        }
        let (norm, fc_norm) = (file.contains("norm.weight"), file.contains("fc_norm.weight"));
        if norm == fc_norm {
            return Err(LoadError::Unsupported {
                file: file.name().into(),
                what: if norm {
                    "both a final norm (`norm`) and a norm after pooling (`fc_norm`)".into()
                } else {
                    "no final norm (`norm` or `fc_norm`)".into()
                },
            });
        }
        let reg_tokens = if file.contains("reg_token") {
            self.shape_of(file, "reg_token", 3, "[1, registers, hidden]")?[1]
        } else {
            0
        };
        Ok(Variant {
            class_token: file.contains("cls_token"),
            reg_tokens,
            pos_embed_prefix: true,
            pre_norm: file.contains("norm_pre.weight"),
            fc_norm,
            layer_scale: file.contains("blocks.0.ls1.gamma"),
            qkv_bias: file.contains("blocks.0.attn.qkv.bias"),
        })
    }
}

/// Builds modules from the file, checking every tensor's shape against the config.
struct Loader<'a> {
    file: SafetensorsFile,
    names: &'a Names,
    config: &'a ViTConfig,
    device: &'a Device,
    /// Every block scales its branches (timm's layer scale).
    layer_scale: bool,
}

impl Loader<'_> {
    /// Values in PyTorch's layout; `shape` is the shape of one part when HF fuses three.
    fn values(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, LoadError> {
        match self.names.source(name) {
            Source::One(n) => self.file.take(&n, shape),
            Source::Fused(parts) => {
                // Each part's shape is checked as it is read, before anything is sized by it.
                let parts = parts
                    .iter()
                    .map(|part| self.file.take(part, shape))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(parts.concat())
            }
        }
    }

    fn tensor<const D: usize>(&mut self, name: &str, shape: [usize; D]) -> Result<Tensor<D>, LoadError> {
        let values = self.values(name, &shape)?;
        Ok(Tensor::from_data(TensorData::new(values, shape), self.device))
    }

    /// A PyTorch Linear's weight and bias from the file. For HF's fused qkv, `d_out` is one
    /// part's width.
    fn linear_values(&mut self, name: &str, d_in: usize, d_out: usize) -> Result<(Vec<f32>, Vec<f32>), LoadError> {
        let weight = self.values(&format!("{name}.weight"), &[d_out, d_in])?;
        let bias = self.values(&format!("{name}.bias"), &[d_out])?;
        Ok((weight, bias))
    }

    fn linear(&mut self, name: &str, d_in: usize, d_out: usize) -> Result<Linear, LoadError> {
        let (weight, bias) = self.linear_values(name, d_in, d_out)?;
        Ok(linear_from_pytorch(&weight, &bias, d_in, self.device))
    }

    /// An encoder layer, laid out for the device's kernels.
    fn dense(&mut self, name: &str, d_in: usize, d_out: usize) -> Result<Dense, LoadError> {
        self.dense_scaled(name, d_in, d_out, None)
    }

    /// As [`Self::dense`], each output scaled by `scale`'s tensor (timm's layer scale, `x +
    /// gamma * f(x)`): folded into the weights here, so that the block needs no step for it.
    fn dense_scaled(&mut self, name: &str, d_in: usize, d_out: usize, scale: Option<&str>) -> Result<Dense, LoadError> {
        let (mut weight, mut bias) = self.linear_values(name, d_in, d_out)?;
        if let Some(scale) = scale {
            let gamma = self.values(scale, &[d_out])?;
            for (row, g) in weight.chunks_mut(d_in).zip(&gamma) {
                row.iter_mut().for_each(|w| *w *= g);
            }
            bias.iter_mut().zip(&gamma).for_each(|(b, g)| *b *= g);
        }
        let d_out = bias.len();
        Ok(Dense::from_pytorch(
            Tensor::from_data(TensorData::new(weight, [d_out, d_in]), self.device),
            Tensor::from_data(TensorData::new(bias, [d_out]), self.device),
        ))
    }

    fn layer_norm(&mut self, name: &str) -> Result<LayerNorm, LoadError> {
        let d = self.config.hidden_size;
        let mut norm = LayerNormConfig::new(d)
            .with_epsilon(self.config.layer_norm_eps)
            .init(self.device);
        norm.gamma = Param::from_tensor(self.tensor(&format!("{name}.weight"), [d])?);
        norm.beta = Some(Param::from_tensor(self.tensor(&format!("{name}.bias"), [d])?));
        Ok(norm)
    }

    fn block(&mut self, i: usize) -> Result<Block, LoadError> {
        let c = self.config;
        let (d, m) = (c.hidden_size, c.mlp_size);
        let p = format!("blocks.{i}");
        // timm stores qkv as one [3d, d] weight, HF as three [d, d] ones (fused in `values`).
        let qkv_out = match self.names.layout {
            Layout::Timm => 3 * d,
            Layout::HuggingFace => d,
        };
        let (ls1, ls2) = (format!("{p}.ls1.gamma"), format!("{p}.ls2.gamma"));
        let layer_scale = self.layer_scale;
        Ok(Block {
            norm1: self.layer_norm(&format!("{p}.norm1"))?,
            attn: Attention {
                qkv: self.dense(&format!("{p}.attn.qkv"), d, qkv_out)?,
                proj: self.dense_scaled(&format!("{p}.attn.proj"), d, d, layer_scale.then_some(&ls1))?,
                num_heads: c.num_heads,
            },
            norm2: self.layer_norm(&format!("{p}.norm2"))?,
            mlp: Mlp {
                fc1: self.dense(&format!("{p}.mlp.fc1"), d, m)?,
                fc2: self.dense_scaled(&format!("{p}.mlp.fc2"), m, d, layer_scale.then_some(&ls2))?,
            },
        })
    }

    fn vit(mut self) -> Result<VisionTransformer, LoadError> {
        let c = self.config;
        let (d, p) = (c.hidden_size, c.patch_size);
        // The convolution's weight `[d, channels, p, p]`, flattened, is the projection's.
        let d_in = c.num_channels * p * p;
        let weight = self.values("patch_embed.proj.weight", &[d, c.num_channels, p, p])?;
        let patch_embed = PatchEmbedding {
            proj: Dense::from_pytorch(
                Tensor::from_data(TensorData::new(weight, [d, d_in]), self.device),
                // CLIP's towers (timm's `pre_norm`) project patches without a bias.
                if c.pre_norm && !self.file.contains(&self.names.file_name("patch_embed.proj.bias")) {
                    Tensor::zeros([d], self.device)
                } else {
                    self.tensor("patch_embed.proj.bias", [d])?
                },
            ),
            patch_size: p,
        };
        let pos_tokens = c.num_patches() + if c.pos_embed_prefix { c.num_prefix_tokens() } else { 0 };
        let model = VisionTransformer {
            patch_embed,
            cls_token: match c.class_token {
                true => Some(Param::from_tensor(self.tensor("cls_token", [1, 1, d])?)),
                false => None,
            },
            reg_token: match c.reg_tokens {
                0 => None,
                r => Some(Param::from_tensor(self.tensor("reg_token", [1, r, d])?)),
            },
            pos_embed: Param::from_tensor(self.tensor("pos_embed", [1, pos_tokens, d])?),
            pos_embed_prefix: c.pos_embed_prefix,
            norm_pre: match c.pre_norm {
                true => Some(self.layer_norm("norm_pre")?),
                false => None,
            },
            blocks: (0..c.num_layers).map(|i| self.block(i)).collect::<Result<_, _>>()?,
            norm: match c.fc_norm {
                true => None,
                false => Some(self.layer_norm("norm")?),
            },
            avg_pool: c.pool == Pool::Avg,
            fc_norm: match c.fc_norm {
                true => Some(self.layer_norm("fc_norm")?),
                false => None,
            },
            head: if c.num_labels == 0 {
                None
            } else {
                Some(self.linear("head", d, c.num_labels)?)
            },
        };
        // As timm's strict loading: a tensor with no place in this model belongs to an option it
        // does not have (differential attention, a distillation token, ...), which would
        // otherwise be left out without a word. Hugging Face's `ViTModel` pooler is not used.
        let pooler = format!("{}pooler.", self.names.hf_prefix);
        let unused: Vec<&str> = self
            .file
            .untaken()
            .filter(|n| self.names.layout == Layout::Timm || !n.starts_with(&pooler))
            .collect();
        if let Some(first) = unused.iter().min() {
            return Err(LoadError::Unsupported {
                file: self.file.name().into(),
                what: format!(
                    "a model with tensors this ViT has no place for (`{first}`, {} in all)",
                    unused.len()
                ),
            });
        }
        Ok(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hugging_face_names_map_onto_the_paper_s_modules() {
        let names = Names {
            layout: Layout::HuggingFace,
            hf_prefix: "vit.".into(),
        };
        let one = |name: &str| match names.source(name) {
            Source::One(n) => n,
            Source::Fused(_) => panic!("{name} is not fused"),
        };
        assert_eq!(one("cls_token"), "vit.embeddings.cls_token");
        assert_eq!(one("pos_embed"), "vit.embeddings.position_embeddings");
        assert_eq!(
            one("patch_embed.proj.weight"),
            "vit.embeddings.patch_embeddings.projection.weight"
        );
        assert_eq!(one("blocks.3.norm2.bias"), "vit.encoder.layer.3.layernorm_after.bias");
        assert_eq!(
            one("blocks.11.mlp.fc2.weight"),
            "vit.encoder.layer.11.output.dense.weight"
        );
        assert_eq!(one("head.weight"), "classifier.weight");
        let Source::Fused(parts) = names.source("blocks.0.attn.qkv.bias") else {
            panic!("qkv is fused from three tensors")
        };
        assert_eq!(
            parts,
            ["query", "key", "value"].map(|p| format!("vit.encoder.layer.0.attention.attention.{p}.bias"))
        );
        let timm = Names {
            layout: Layout::Timm,
            hf_prefix: String::new(),
        };
        assert!(matches!(timm.source("blocks.0.attn.qkv.weight"), Source::One(n) if n == "blocks.0.attn.qkv.weight"));
    }
}
