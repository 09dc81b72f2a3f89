//! The `vit` binary, as scripts use it.
#![cfg(not(target_family = "wasm"))]

mod common;

use std::process::{Command, Output};

fn vit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vit"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

const HF: &str = "tests/fixtures/tiny_hf";

#[test]
fn json_output_has_the_reference_top_k_and_logits() {
    let out = vit(&[
        "classify",
        "--model",
        HF,
        "tests/fixtures/images/grey.png",
        "tests/fixtures/images/noise.webp",
        "--json",
        "--logits",
        "--top-k",
        "3",
        "--device",
        "flex",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for (line, name) in lines.iter().zip(["grey.png", "noise.webp"]) {
        assert_eq!(line["file"], format!("tests/fixtures/images/{name}"));
        let logits: Vec<f32> = serde_json::from_value(line["logits"].clone()).unwrap();
        assert!(common::max_abs_diff(&logits, &common::reference(name, "hf.logits")) <= 3e-5);
        let top = line["top_k"].as_array().unwrap();
        assert_eq!(top.len(), 3);
        let best = logits.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        assert_eq!(top[0]["index"], best);
        assert_eq!(top[0]["label"], common::LABELS[best]);
        let p: Vec<f64> = top.iter().map(|t| t["probability"].as_f64().unwrap()).collect();
        assert!(p.windows(2).all(|w| w[0] >= w[1]) && p[0] < 1.0);
    }
}

#[test]
fn plain_output_is_a_table_and_a_bare_weights_file_works() {
    let out = vit(&[
        "classify",
        "--model",
        "tests/fixtures/tiny_timm/model.safetensors",
        "tests/fixtures/images/gradient.png",
        "--device",
        "ndarray",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert!(
        rows[0].starts_with("tests/fixtures/images/gradient.png  (") && rows[0].ends_with(" ms on ndarray)"),
        "{text}"
    );
    assert_eq!(rows.len(), 6, "{text}");
    assert!(rows[1].trim_start().starts_with("1. "), "{text}");
    // The timm config beside the weights supplied the label names.
    assert!(common::LABELS.iter().any(|l| rows[1].contains(l)), "{text}");
}

#[test]
fn a_bad_image_is_reported_and_the_others_go_on() {
    let out = vit(&[
        "classify",
        "--model",
        HF,
        "Cargo.toml",
        "tests/fixtures/images/grey.png",
        "--json",
        "--device",
        "flex",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 1);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("error: Cargo.toml: not an image this app can read"),
        "{err}"
    );
}

#[test]
fn a_bad_model_stops_with_its_error() {
    let out = vit(&[
        "classify",
        "--model",
        "tests/fixtures/images/grey.png",
        "tests/fixtures/images/grey.png",
        "--device",
        "flex",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("tests/fixtures/images/grey.png: not a safetensors file"),
        "{err}"
    );
    let out = vit(&["classify", "--model", "no/such/dir", "x.png"]);
    assert_eq!(out.status.code(), Some(2));
}
