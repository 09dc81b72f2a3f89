//! A config → `hub_config::resolve_config`, through the loader, on the fixtures' weights: the
//! input builds a `config.json` out of the keys Hugging Face's and timm's configs have (names of
//! timm's sizes and others, head counts in every place one may be written, options, eps) and
//! picks the weights it goes with. Errors are fine; panics, and a model that loads with a head
//! count the config or the tensors do not give, are not.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};
use vit_wasm::load::{ModelFiles, NamedBytes, load_vit};

const WEIGHTS: [&[u8]; 4] = [
    include_bytes!("../../tests/fixtures/tiny_hf/model.safetensors"),
    include_bytes!("../../tests/fixtures/tiny_timm/model.safetensors"),
    include_bytes!("../../tests/fixtures/variants/clip_pre_norm/model.safetensors"),
    include_bytes!("../../tests/fixtures/variants/dinov2_registers/model.safetensors"),
];

const ARCHITECTURES: [&str; 10] = [
    "vit_tiny_patch16_224",
    "vit_small_patch16_224.augreg_in21k",
    "vit_base_patch8_64",
    "vit_base_patch16_gap_224",
    "vit_base_patch16_clip_224.laion2b",
    "vit_base_patch16_clip_quickgelu_224",
    "deit_tiny_patch16_224",
    "vit_so400m_patch14_siglip_384",
    "vit_tiny_custom",
    "beit3_base_patch16_224",
];

#[derive(Arbitrary, Debug)]
struct Config {
    weights: u8,
    architecture: Option<Result<u8, String>>,
    num_attention_heads: Option<u16>,
    model_args: Option<Args>,
    timm_kwargs_heads: Option<u16>,
    pretrained_heads: Option<u16>,
    layer_norm_eps: Option<f64>,
    qkv_bias: Option<bool>,
    hidden_size: Option<u16>,
    image_size: Option<u16>,
    global_pool: Option<u8>,
    label_count: Option<u8>,
}

#[derive(Arbitrary, Debug)]
struct Args {
    num_heads: Option<u16>,
    embed_dim: Option<u16>,
    depth: Option<u8>,
    pre_norm: Option<bool>,
    qk_norm: Option<bool>,
    qkv_bias: Option<bool>,
    class_token: Option<bool>,
    reg_tokens: Option<u8>,
    no_embed_class: Option<bool>,
    init_values: Option<f32>,
}

fn put<T: Into<Value>>(map: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(v) = value {
        map.insert(key.into(), v.into());
    }
}

fuzz_target!(|c: Config| {
    let mut config = Map::new();
    let architecture = c.architecture.map(|a| match a {
        Ok(i) => ARCHITECTURES[usize::from(i) % ARCHITECTURES.len()].to_string(),
        Err(s) => s,
    });
    put(&mut config, "architecture", architecture);
    put(&mut config, "num_attention_heads", c.num_attention_heads);
    put(&mut config, "layer_norm_eps", c.layer_norm_eps.filter(|e| e.is_finite()));
    put(&mut config, "qkv_bias", c.qkv_bias);
    put(&mut config, "hidden_size", c.hidden_size);
    put(&mut config, "image_size", c.image_size);
    put(&mut config, "global_pool", c.global_pool.map(|p| ["token", "avg", "map", ""][usize::from(p) % 4]));
    put(&mut config, "label_names", c.label_count.map(|n| (0..n % 10).map(|i| format!("c{i}")).collect::<Vec<_>>()));
    if let Some(a) = c.model_args {
        let mut args = Map::new();
        put(&mut args, "num_heads", a.num_heads);
        put(&mut args, "embed_dim", a.embed_dim);
        put(&mut args, "depth", a.depth);
        put(&mut args, "pre_norm", a.pre_norm);
        put(&mut args, "qk_norm", a.qk_norm);
        put(&mut args, "qkv_bias", a.qkv_bias);
        put(&mut args, "class_token", a.class_token);
        put(&mut args, "reg_tokens", a.reg_tokens);
        put(&mut args, "no_embed_class", a.no_embed_class);
        put(&mut args, "init_values", a.init_values.filter(|v| v.is_finite()));
        config.insert("model_args".into(), Value::Object(args));
    }
    if let Some(h) = c.timm_kwargs_heads {
        config.insert("timm_kwargs".into(), json!({ "num_heads": h }));
    }
    if let Some(h) = c.pretrained_heads {
        config.insert("pretrained_cfg".into(), json!({ "num_heads": h }));
    }
    let bytes = serde_json::to_vec(&Value::Object(config.clone())).unwrap();
    let files = ModelFiles {
        weights: NamedBytes { name: "model.safetensors", bytes: WEIGHTS[usize::from(c.weights) % WEIGHTS.len()] },
        config: Some(NamedBytes { name: "config.json", bytes: &bytes }),
        preprocessor: None,
    };
    if let Ok((_, hub)) = load_vit(files, &burn::prelude::Device::flex()) {
        // Every fixture is 48 wide in 2 blocks with an MLP of 96: no size timm names, so the head
        // count can only have come from a key the config states.
        let stated = [
            config.get("num_attention_heads"),
            config.get("model_args").and_then(|a| a.get("num_heads")),
            config.get("timm_kwargs").and_then(|a| a.get("num_heads")),
            config.get("pretrained_cfg").and_then(|a| a.get("num_heads")),
        ];
        let heads = hub.vit.num_heads as u64;
        assert!(
            stated.iter().flatten().any(|v| v.as_u64() == Some(heads)),
            "{heads} heads from {config:?}"
        );
        assert!(stated.iter().flatten().all(|v| v.as_u64() == Some(heads)), "{config:?}");
    }
});
