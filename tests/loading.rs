//! Loading: configs are read and checked, and every kind of bad input gets its own error.
#![cfg(not(target_family = "wasm"))]

mod common;

use std::collections::BTreeMap;

use common::{Fixture, HF_CONFIG, HF_PREPROCESSOR, HF_WEIGHTS, LABELS, TIMM_CONFIG, TIMM_WEIGHTS, max_abs_diff};
use safetensors::tensor::{Dtype, SafeTensors, TensorView, serialize};
use vit_wasm::backend::BackendKind;
use vit_wasm::data::resize::Interpolation;
use vit_wasm::error::LoadError;
use vit_wasm::load::imagenet::IMAGENET_LABELS;
use vit_wasm::load::safetensors_file::SafetensorsReader;
use vit_wasm::load::{HubConfig, ModelFiles, NamedBytes, load_vit, load_vit_from};

fn load(weights: &[u8], config: Option<&[u8]>, preprocessor: Option<&[u8]>) -> Result<HubConfig, LoadError> {
    let files = ModelFiles {
        weights: NamedBytes {
            name: "model.safetensors",
            bytes: weights,
        },
        config: config.map(|bytes| NamedBytes {
            name: "config.json",
            bytes,
        }),
        preprocessor: preprocessor.map(|bytes| NamedBytes {
            name: "preprocessor_config.json",
            bytes,
        }),
    };
    load_vit(files, &burn::prelude::Device::flex()).map(|(_, c)| c)
}

/// Rewrites a safetensors file: `edit` sees every tensor as (dtype, shape, bytes).
fn rewrite(bytes: &[u8], edit: impl FnOnce(&mut BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>)) -> Vec<u8> {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let mut tensors: BTreeMap<_, _> = st
        .iter()
        .map(|(n, v)| (n.to_string(), (v.dtype(), v.shape().to_vec(), v.data().to_vec())))
        .collect();
    edit(&mut tensors);
    let views: Vec<_> = tensors
        .iter()
        .map(|(n, (d, s, b))| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    serialize(views, None).unwrap()
}

#[test]
fn hf_config_and_preprocessor_are_read() {
    let c = load(HF_WEIGHTS, Some(HF_CONFIG), Some(HF_PREPROCESSOR)).unwrap();
    assert_eq!(
        (
            c.vit.image_size,
            c.vit.patch_size,
            c.vit.hidden_size,
            c.vit.num_layers,
            c.vit.num_heads,
            c.vit.mlp_size
        ),
        (48, 8, 48, 2, 3, 96)
    );
    assert_eq!(c.vit.head_dim(), 16);
    assert_eq!(c.vit.layer_norm_eps, 1e-12);
    assert_eq!(c.labels, LABELS);
    assert_eq!(c.preprocess.mean, [0.485, 0.456, 0.406]);
    assert_eq!(c.preprocess.interpolation, Interpolation::Bilinear);
    assert_eq!(c.preprocess.crop_pct, None);
}

#[test]
fn timm_config_is_read() {
    let c = load(TIMM_WEIGHTS, Some(TIMM_CONFIG), None).unwrap();
    assert_eq!((c.vit.num_heads, c.vit.layer_norm_eps), (3, 1e-6));
    assert_eq!(c.labels, LABELS);
    assert_eq!(c.preprocess.interpolation, Interpolation::Bicubic);
    assert_eq!(c.preprocess.crop_pct, Some(0.875));
}

#[test]
fn a_named_size_gives_the_head_count_only_where_the_tensors_are_that_size() {
    // A ViT-S's tensors, named as one: its six heads.
    let small = rewrite(TIMM_WEIGHTS, |t| {
        for (name, (_, shape, bytes)) in t.iter_mut() {
            let grown: Vec<usize> = shape
                .iter()
                .map(|&d| {
                    if d == 48 {
                        384
                    } else if d == 96 {
                        1536
                    } else {
                        d
                    }
                })
                .collect();
            if grown != *shape && !name.starts_with("head") {
                *bytes = vec![0; 4 * grown.iter().product::<usize>()];
                *shape = grown;
            }
        }
    });
    let named = |name: &str| format!(r#"{{"architecture": "{name}", "model_args": {{"depth": 2}}}}"#);
    let e = load(&small, Some(named("vit_small_patch16_224").as_bytes()), None).unwrap_err();
    // (Two blocks, not twelve: the name's depth is not the tensors'.)
    assert!(matches!(e, LoadError::NameContradicts { .. }), "{e}");
    // The tiny fixture named as ViT-S or ViT-B: refused with both facts, never run with 6 or 12
    // heads of width 8 or 4.
    for (name, size) in [
        (
            "vit_small_patch16_224",
            "ViT-small (width 384, 12 layers, MLP width 1536)",
        ),
        ("vit_base_patch8_64", "ViT-base (width 768, 12 layers, MLP width 3072)"),
    ] {
        let config = format!(r#"{{"architecture": "{name}"}}"#);
        let e = load(TIMM_WEIGHTS, Some(config.as_bytes()), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "config.json: `architecture` {name} names a {size}, but the weights have width 48, 2 layers, MLP width 96: the name cannot give the number of attention heads; add `model_args.num_heads`"
            )
        );
        assert_eq!(vit_wasm::error::VitError::from(e).code(), "bad-config");
    }
    // A head count the config states wins over the name, wherever timm's writers put it; two
    // that disagree are refused.
    for config in [
        br#"{"architecture": "vit_tiny_custom", "model_args": {"num_heads": 3}}"#.as_slice(),
        br#"{"architecture": "vit_tiny_custom", "timm_kwargs": {"num_heads": 3}}"#,
        br#"{"architecture": "vit_tiny_custom", "pretrained_cfg": {"num_heads": 3}}"#,
    ] {
        assert_eq!(load(TIMM_WEIGHTS, Some(config), None).unwrap().vit.num_heads, 3);
    }
    let both = br#"{"model_args": {"num_heads": 3}, "timm_kwargs": {"num_heads": 6}}"#;
    assert_eq!(
        load(TIMM_WEIGHTS, Some(both), None).unwrap_err().to_string(),
        "config.json: `model_args.num_heads` is 3 but `timm_kwargs.num_heads` is 6; which is meant cannot be known"
    );
}

#[test]
fn layer_norm_eps_follows_timm_s_entrypoint_not_pre_norm() {
    let (clip, clip_config) = common::VARIANTS
        .iter()
        .find(|v| v.0 == "clip_pre_norm")
        .map(|v| (v.1, v.2))
        .unwrap();
    assert_eq!(load(clip, Some(clip_config), None).unwrap().vit.layer_norm_eps, 1e-5);
    let renamed = String::from_utf8(clip_config.to_vec())
        .unwrap()
        .replace("vit_clip_pre_norm", "vit_pre_norm_custom");
    let c = load(clip, Some(renamed.as_bytes()), None).unwrap();
    assert!(c.vit.pre_norm);
    assert_eq!(c.vit.layer_norm_eps, 1e-6);
}

#[test]
fn without_config_the_shape_comes_from_the_tensors_and_the_defaults_from_the_layout() {
    // The head count alone must be given: these shapes are no published ViT size.
    let c = load(HF_WEIGHTS, Some(br#"{"num_attention_heads": 3}"#), None).unwrap();
    assert_eq!(
        (
            c.vit.image_size,
            c.vit.patch_size,
            c.vit.hidden_size,
            c.vit.num_layers,
            c.vit.mlp_size
        ),
        (48, 8, 48, 2, 96)
    );
    assert_eq!(c.vit.num_heads, 3);
    assert_eq!(c.vit.layer_norm_eps, 1e-12);
    assert_eq!(c.labels, (0..7).map(|i| format!("LABEL_{i}")).collect::<Vec<_>>());
    assert_eq!(c.preprocess.mean, [0.5; 3]);
    let t = load(TIMM_WEIGHTS, Some(br#"{"model_args": {"num_heads": 3}}"#), None).unwrap();
    assert_eq!(t.vit.layer_norm_eps, 1e-6);
    assert_eq!(IMAGENET_LABELS.len(), 1000);
    assert_eq!(IMAGENET_LABELS[0], "tench, Tinca tinca");
}

#[test]
fn a_head_count_nothing_settles_is_refused_not_guessed() {
    // No config, a config without the key, and timm arguments under a key timm does not use
    // beside a name that is not one of its ViT sizes.
    for config in [
        None,
        Some(&br#"{"hidden_size": 48}"#[..]),
        Some(br#"{"architecture": "deit_custom_test", "kwargs": {"num_heads": 3}}"#),
    ] {
        for weights in [HF_WEIGHTS, TIMM_WEIGHTS] {
            let e = load(weights, config, None).unwrap_err();
            assert!(
                matches!(
                    e,
                    LoadError::UnknownHeads {
                        hidden: 48,
                        layers: 2,
                        mlp: 96,
                        ..
                    }
                ),
                "{e}"
            );
            let message = e.to_string();
            assert!(
                message.starts_with("config.json: ")
                    && message.contains("`num_attention_heads`")
                    && message.contains("`model_args.num_heads`"),
                "{message}"
            );
        }
    }
}

#[test]
fn both_layouts_hold_the_same_weights() {
    let device = burn::prelude::Device::flex();
    let (hf, _) = load_vit(Fixture::Hf.files(), &device).unwrap();
    let (timm, _) = load_vit(Fixture::Timm.files(), &device).unwrap();
    let qkv = |m: &vit_wasm::model::VisionTransformer| {
        m.blocks[1]
            .attn
            .qkv
            .weight
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    assert_eq!(max_abs_diff(&qkv(&hf), &qkv(&timm)), 0.0);
}

#[test]
fn weights_read_in_chunks_give_the_same_model() {
    let device = burn::prelude::Device::flex();
    let (whole, c) = load_vit(Fixture::Hf.files(), &device).unwrap();
    let (side, channels) = (c.vit.image_size, c.vit.num_channels);
    let n = channels * side * side;
    let pixels: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
    let logits = |m: &vit_wasm::model::VisionTransformer| {
        let x = burn::prelude::Tensor::<4>::from_data(
            burn::prelude::TensorData::new(pixels.clone(), [1, channels, side, side]),
            &device,
        );
        m.forward(x).into_data().try_to_vec::<f32>().unwrap()
    };
    let want = logits(&whole);
    // Chunk sizes that split the length prefix, the header and tensors at every kind of place.
    for size in [1, 5, 8, 333, 4096, HF_WEIGHTS.len()] {
        let mut reader = SafetensorsReader::new("model.safetensors");
        for chunk in HF_WEIGHTS.chunks(size) {
            reader.push(chunk).unwrap();
        }
        let config = Some(NamedBytes {
            name: "config.json",
            bytes: HF_CONFIG,
        });
        let (model, _) = load_vit_from(reader.finish().unwrap(), config, None, &device).unwrap();
        assert_eq!(max_abs_diff(&logits(&model), &want), 0.0, "chunks of {size} bytes");
    }
}

#[test]
fn a_stream_longer_or_shorter_than_its_header_says_is_refused() {
    let mut reader = SafetensorsReader::new("model.safetensors");
    reader.push(HF_WEIGHTS).unwrap();
    let e = reader.push(b"x").unwrap_err();
    assert!(matches!(e, LoadError::Corrupt { .. }), "{e}");
    assert!(e.to_string().starts_with("model.safetensors: "), "{e}");

    let mut reader = SafetensorsReader::new("model.safetensors");
    for chunk in HF_WEIGHTS[..HF_WEIGHTS.len() - 1].chunks(1000) {
        reader.push(chunk).unwrap();
    }
    let e = reader.finish().err().unwrap();
    assert!(matches!(e, LoadError::Corrupt { .. }), "{e}");
}

#[test]
fn headers_that_are_not_json_fail_at_once() {
    // A zero length once made the reader wait for nothing, forever.
    for length in [0u64, 1] {
        let mut reader = SafetensorsReader::new("model.safetensors");
        let e = reader.push(&length.to_le_bytes()).unwrap_err();
        assert!(matches!(e, LoadError::NotSafetensors { .. }), "{e}");
    }
    // A header of 1000 bytes that does not start as JSON is refused on its first byte.
    let mut reader = SafetensorsReader::new("model.safetensors");
    reader.push(&1000u64.to_le_bytes()).unwrap();
    let e = reader.push(b"<html>").unwrap_err();
    assert!(
        e.to_string().starts_with("model.safetensors: not a safetensors file"),
        "{e}"
    );
}

#[test]
fn empty_tensors_and_empty_chunks_are_read() {
    let weights = rewrite(HF_WEIGHTS, |t| {
        t.insert("extra.empty".into(), (Dtype::F32, vec![0, 3], vec![]));
        t.insert("extra.half".into(), (Dtype::F16, vec![2], vec![0, 60, 0, 188]));
    });
    let mut reader = SafetensorsReader::new("model.safetensors");
    for chunk in weights.chunks(1000) {
        reader.push(&[]).unwrap();
        reader.push(chunk).unwrap();
    }
    reader.push(&[]).unwrap();
    let mut file = reader.finish().unwrap();
    assert_eq!(file.take("extra.empty", &[0, 3]).unwrap(), Vec::<f32>::new());
    assert_eq!(file.take("extra.half", &[2]).unwrap(), vec![1.0, -1.0]);
    let config = Some(NamedBytes {
        name: "config.json",
        bytes: HF_CONFIG,
    });
    load_vit_from(file, config, None, &burn::prelude::Device::flex()).unwrap();
}

fn err(weights: &[u8]) -> LoadError {
    load(weights, Some(HF_CONFIG), None).unwrap_err()
}

#[test]
fn empty_and_foreign_files_are_refused() {
    assert!(matches!(err(b""), LoadError::Empty { .. }));
    let e = err(common::IMAGES[0].1);
    assert!(matches!(e, LoadError::NotSafetensors { .. }), "{e}");
    assert!(
        e.to_string().starts_with("model.safetensors: not a safetensors file"),
        "{e}"
    );
    let other = rewrite(HF_WEIGHTS, |t| {
        let v = t.remove("vit.embeddings.cls_token").unwrap();
        t.clear();
        t.insert("embedding.weight".into(), v);
    });
    assert!(matches!(err(&other), LoadError::UnknownLayout { .. }));
}

#[test]
fn truncated_files_and_lying_headers_are_refused() {
    let e = err(&HF_WEIGHTS[..HF_WEIGHTS.len() - 100]);
    assert!(matches!(e, LoadError::Corrupt { .. }), "{e}");
    let e = err(&HF_WEIGHTS[..6]);
    assert!(
        matches!(e, LoadError::NotSafetensors { .. } | LoadError::Corrupt { .. }),
        "{e}"
    );

    // Point a tensor past the end of the data.
    let n = u64::from_le_bytes(HF_WEIGHTS[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&HF_WEIGHTS[8..8 + n]).unwrap();
    let offsets = &mut header["classifier.bias"]["data_offsets"];
    offsets[1] = serde_json::json!(offsets[1].as_u64().unwrap() + 1_000_000);
    let header = serde_json::to_vec(&header).unwrap();
    let mut lying = (header.len() as u64).to_le_bytes().to_vec();
    lying.extend(header);
    lying.extend(&HF_WEIGHTS[8 + n..]);
    let e = err(&lying);
    assert!(matches!(e, LoadError::Corrupt { .. }), "{e}");

    // A header length larger than the file.
    let mut long = HF_WEIGHTS.to_vec();
    long[..8].copy_from_slice(&(HF_WEIGHTS.len() as u64 * 2).to_le_bytes());
    assert!(matches!(
        err(&long),
        LoadError::Corrupt { .. } | LoadError::NotSafetensors { .. }
    ));
}

#[test]
fn weights_holding_nan_or_infinity_are_refused_by_name() {
    for (bad, bits) in [("NaN", f32::NAN.to_bits()), ("infinity", f32::INFINITY.to_bits())] {
        let w = rewrite(HF_WEIGHTS, |t| {
            t.get_mut("classifier.weight").unwrap().2[4..8].copy_from_slice(&bits.to_le_bytes());
        });
        let e = err(&w);
        assert!(matches!(e, LoadError::NotFinite { .. }), "{bad}: {e}");
        assert_eq!(
            e.to_string(),
            "model.safetensors: tensor `classifier.weight` holds NaN or infinite values"
        );
    }
}

#[test]
fn preprocessing_and_norm_values_that_cannot_work_are_refused() {
    for (preprocessor, field) in [
        (&br#"{"image_std": [1e-40, 0.5, 0.5]}"#[..], "image_std"),
        (br#"{"image_mean": [3e38, 0.5, 0.5]}"#, "image_mean"),
        (br#"{"image_mean": [0.5, 0.5]}"#, "image_mean"),
    ] {
        let e = load(HF_WEIGHTS, Some(HF_CONFIG), Some(preprocessor)).unwrap_err();
        assert!(
            matches!(&e, LoadError::BadConfigValue { field: f, .. } if f == field),
            "{e}"
        );
    }
    let e = load(
        HF_WEIGHTS,
        Some(br#"{"num_attention_heads": 3, "layer_norm_eps": 1e300}"#),
        None,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "config.json: `layer_norm_eps` is 1e300, which is not usable (must be a positive number no larger than 0.01)"
    );
    // An error quotes the start of a value, not all of it.
    let huge = format!(r#"{{"hidden_act": "{}"}}"#, "x".repeat(1 << 20));
    let e = load(HF_WEIGHTS, Some(huge.as_bytes()), None).unwrap_err();
    assert!(e.to_string().len() < 200, "{:.200}", e.to_string());
}

#[test]
fn a_missing_tensor_is_named() {
    let name = "vit.encoder.layer.1.attention.attention.value.bias";
    let w = rewrite(HF_WEIGHTS, |t| {
        t.remove(name);
    });
    let e = err(&w);
    assert!(
        matches!(&e, LoadError::MissingTensor { name: n, .. } if n == name),
        "{e}"
    );
    assert_eq!(e.to_string(), format!("model.safetensors: missing tensor `{name}`"));
}

#[test]
fn a_wrong_shape_is_named_with_expected_and_found() {
    let name = "vit.encoder.layer.0.output.dense.weight";
    let w = rewrite(HF_WEIGHTS, |t| {
        let e = t.get_mut(name).unwrap();
        e.1 = vec![48, 48];
        e.2.truncate(48 * 48 * 4);
    });
    let e = err(&w);
    assert_eq!(
        e.to_string(),
        format!("model.safetensors: tensor `{name}` has shape [48, 48], expected [48, 96]")
    );
}

#[test]
fn an_unsupported_dtype_is_named() {
    let name = "vit.layernorm.weight";
    let w = rewrite(HF_WEIGHTS, |t| {
        let e = t.get_mut(name).unwrap();
        e.0 = Dtype::I32;
    });
    let e = err(&w);
    assert!(
        matches!(&e, LoadError::UnsupportedDtype { name: n, .. } if n == name),
        "{e}"
    );
    assert!(e.to_string().contains("I32"), "{e}");
}

#[test]
fn configs_that_contradict_the_weights_or_are_broken_are_refused() {
    let contradicting = String::from_utf8(HF_CONFIG.to_vec())
        .unwrap()
        .replace("\"hidden_size\": 48", "\"hidden_size\": 768");
    let e = load(HF_WEIGHTS, Some(contradicting.as_bytes()), None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "config.json: `hidden_size` is 768 but the weights have 48"
    );

    let e = load(HF_WEIGHTS, Some(b"{not json"), None).unwrap_err();
    assert!(matches!(e, LoadError::BadJson { .. }), "{e}");

    let e = load(HF_WEIGHTS, Some(br#"{"num_attention_heads": 5}"#), None).unwrap_err();
    assert!(e.to_string().contains("num_attention_heads"), "{e}");

    let e = load(HF_WEIGHTS, Some(br#"{"hidden_act": "relu"}"#), None).unwrap_err();
    assert!(e.to_string().contains("hidden_act"), "{e}");

    let e = load(
        HF_WEIGHTS,
        Some(br#"{"num_attention_heads": 3, "id2label": {"0": "a", "1": "b"}}"#),
        None,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "config.json: `id2label` is 2 labels but the weights have 7 classes"
    );

    let e = load(
        HF_WEIGHTS,
        Some(HF_CONFIG),
        Some(br#"{"size": {"height": 224, "width": 224}}"#),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "preprocessor_config.json: `size` is 224 but the weights have 48"
    );

    let e = load(HF_WEIGHTS, Some(HF_CONFIG), Some(br#"{"image_std": [0.5, 0, 0.5]}"#)).unwrap_err();
    assert!(e.to_string().contains("image_std"), "{e}");

    let e = load(
        HF_WEIGHTS,
        Some(br#"{"num_attention_heads": 3, "id2label": {"0": "a", "00": "b", "1": "c", "2": "d", "3": "e", "4": "f", "5": "g"}}"#),
        None,
    )
    .unwrap_err();
    assert!(e.to_string().contains("distinct class indices"), "{e}");

    let e = load(HF_WEIGHTS, Some(HF_CONFIG), Some(br#"{"size": {"shortest_edge": 48}}"#)).unwrap_err();
    assert!(e.to_string().contains("shortest edge"), "{e}");

    let e = load(
        TIMM_WEIGHTS,
        Some(br#"{"model_args": {"num_heads": 3}, "pretrained_cfg": {"crop_pct": 1e-30}}"#),
        None,
    )
    .unwrap_err();
    assert!(e.to_string().contains("crop_pct"), "{e}");
}

#[test]
fn a_model_for_other_than_rgb_input_is_refused() {
    let name = "vit.embeddings.patch_embeddings.projection.weight";
    let w = rewrite(HF_WEIGHTS, |t| {
        let e = t.get_mut(name).unwrap();
        e.1 = vec![48, 1, 8, 8];
        e.2.truncate(48 * 64 * 4);
    });
    let e = err(&w);
    assert!(
        e.to_string()
            .starts_with(&format!("model.safetensors: tensor `{name}` has shape [48, 1, 8, 8]")),
        "{e}"
    );
}

#[test]
fn the_loaded_model_runs_on_every_cpu_backend() {
    for backend in [BackendKind::Flex, BackendKind::Ndarray] {
        let model = pollster::block_on(common::classifier(Fixture::Timm, backend));
        assert_eq!(model.model.blocks.len(), 2);
    }
}

#[test]
fn timm_variants_that_are_mixed_contradictory_or_unknown_are_refused_by_name() {
    let variant = |name: &str| {
        common::VARIANTS
            .iter()
            .find(|v| v.0 == name)
            .map(|v| (v.1, v.2))
            .unwrap()
    };
    let (gap, gap_config) = variant("gap_fc_norm");
    let (no_cls, _) = variant("no_class_token");
    let (registers, registers_config) = variant("dinov2_registers");
    let heads = br#"{"model_args": {"num_heads": 3}}"#;
    let config_error = |weights: &[u8], config: &[u8]| load(weights, Some(config), None).unwrap_err().to_string();

    // The config says otherwise than the tensors.
    assert_eq!(
        config_error(gap, br#"{"model_args": {"num_heads": 3, "class_token": false}}"#),
        "config.json: `model_args.class_token` is off but the weights have it on"
    );
    let four_to_two = String::from_utf8(registers_config.to_vec())
        .unwrap()
        .replace("\"reg_tokens\": 4", "\"reg_tokens\": 2");
    assert_eq!(
        config_error(registers, four_to_two.as_bytes()),
        "config.json: `model_args.reg_tokens` is 2 but the weights have 4"
    );
    assert!(
        config_error(gap, br#"{"model_args": {"num_heads": 3, "act_layer": "quick_gelu"}}"#)
            .contains("`model_args.act_layer` is \"quick_gelu\"")
    );
    assert!(
        config_error(
            gap,
            br#"{"architecture": "vit_base_patch16_clip_quickgelu_224", "model_args": {"num_heads": 3}}"#
        )
        .contains("`architecture` is \"quick_gelu\"")
    );
    // Options whose tensors the weights do not have, or have when the option says none: timm's
    // strict loading refuses both.
    assert_eq!(
        config_error(gap, br#"{"model_args": {"num_heads": 3, "qk_norm": true}}"#),
        "config.json: `model_args.qk_norm` is on but the weights have it off"
    );
    assert_eq!(
        config_error(gap, br#"{"model_args": {"num_heads": 3, "qkv_bias": false}}"#),
        "config.json: `model_args.qkv_bias` is off but the weights have it on"
    );
    assert_eq!(
        config_error(HF_WEIGHTS, br#"{"num_attention_heads": 3, "qkv_bias": false}"#),
        "config.json: `qkv_bias` is off but the weights have it on"
    );
    // Pooling this model does not have, or cannot have.
    assert!(
        config_error(gap, br#"{"global_pool": "map", "model_args": {"num_heads": 3}}"#)
            .contains("`global_pool` is \"map\"")
    );
    assert!(
        config_error(no_cls, br#"{"global_pool": "token", "model_args": {"num_heads": 3}}"#)
            .contains("the weights have no class token to read out")
    );
    // Tensors of options this model does not have, or of two that exclude each other.
    let with = |weights: &[u8], extra: &[(&str, usize)]| {
        rewrite(weights, |t| {
            for (name, n) in extra {
                t.insert(name.to_string(), (Dtype::F32, vec![*n], vec![0; 4 * n]));
            }
        })
    };
    let e = load(
        &with(gap, &[("blocks.0.attn.q_norm.weight", 16)]),
        Some(gap_config),
        None,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "model.safetensors: normalised queries and keys (qk_norm): `blocks.0.attn.q_norm.weight` is not supported"
    );
    // A tensor this ViT has no place for (DeiT's distillation token here) is not left out quietly.
    let e = load(&with(gap, &[("dist_token", 48)]), Some(gap_config), None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "model.safetensors: a model with tensors this ViT has no place for (`dist_token`, 1 in all) is not supported"
    );
    let e = load(
        &with(gap, &[("norm.weight", 48), ("norm.bias", 48)]),
        Some(gap_config),
        None,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("both a final norm (`norm`) and a norm after pooling (`fc_norm`)"),
        "{e}"
    );
    // Position embeddings for neither a square grid nor one with its prefix tokens.
    let odd = rewrite(registers, |t| {
        t.insert("pos_embed".into(), (Dtype::F32, vec![1, 18, 48], vec![0; 4 * 18 * 48]));
    });
    let e = load(&odd, Some(heads), None).unwrap_err();
    assert!(
        matches!(e, LoadError::WrongShape { .. }) && e.to_string().contains("a square grid of patches"),
        "{e}"
    );
}

#[test]
fn a_size_refused_says_which_bound_the_model_breaks() {
    // A model whose own grid is 70x70 (560 pixels): beyond what its embeddings are resampled from.
    let big = rewrite(HF_WEIGHTS, |t| {
        let rows = 1 + 70 * 70;
        t.insert(
            "vit.embeddings.position_embeddings".into(),
            (Dtype::F32, vec![1, rows, 48], vec![0; 4 * rows * 48]),
        );
    });
    let files = ModelFiles {
        weights: NamedBytes {
            name: "model.safetensors",
            bytes: &big,
        },
        config: Some(NamedBytes {
            name: "config.json",
            bytes: br#"{"num_attention_heads": 3}"#,
        }),
        preprocessor: None,
    };
    let model = vit_wasm::classifier::Classifier::load(files, &burn::prelude::Device::flex()).unwrap();
    assert_eq!(model.config.image_size, 560);
    assert_eq!(
        model.at_image_size(64).unwrap_err().to_string(),
        "cannot run this model at 64x64: its own grid is 70x70 patches (560 pixels), and position embeddings are resampled from at most 64x64"
    );
    // At its own size it runs as stored.
    assert!(model.at_image_size(560).is_ok());
    // A model within the bound is told the size's own rule.
    let small = vit_wasm::classifier::Classifier::load(Fixture::Hf.files(), &burn::prelude::Device::flex()).unwrap();
    assert_eq!(
        small.at_image_size(50).unwrap_err().to_string(),
        "cannot run this model at 50x50: the size must be a multiple of its patch size 8 and at most 512 pixels"
    );
}
