//! `vit`: the command-line face of the library, for scripts, tests and benchmarks.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use vit_wasm::backend::BackendKind;
use vit_wasm::checkpoint::ModelFiles;
use vit_wasm::classifier::{Classifier, Prediction};
use vit_wasm::config::NamedBytes;

#[derive(Parser)]
#[command(
    version,
    about = "ViT-B/16 on Burn: classify images with Hugging Face or timm weights"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Classify images and print the top-k labels for each.
    Classify {
        /// A folder with model.safetensors (and optional config.json, preprocessor_config.json),
        /// or a bare .safetensors file.
        #[arg(long)]
        model: PathBuf,
        /// Image files: PNG, JPEG, WebP, GIF or BMP.
        #[arg(required = true)]
        images: Vec<PathBuf>,
        #[arg(long, default_value_t = 5)]
        top_k: usize,
        /// One JSON object per image instead of a table.
        #[arg(long)]
        json: bool,
        /// With --json, include every logit.
        #[arg(long, requires = "json")]
        logits: bool,
        #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
        device: DeviceArg,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum DeviceArg {
    /// The GPU if one can be initialised, else the default CPU backend.
    Auto,
    Wgpu,
    Flex,
    Ndarray,
}

/// The device for the request; `auto` falls back to the CPU with a note on stderr.
fn device(arg: DeviceArg) -> Result<(BackendKind, burn::prelude::Device)> {
    let kind = match arg {
        DeviceArg::Auto => match pollster::block_on(BackendKind::Wgpu.device()) {
            Ok(device) => return Ok((BackendKind::Wgpu, device)),
            Err(e) => {
                eprintln!("note: {e}; using the {} CPU backend", BackendKind::DEFAULT_CPU);
                BackendKind::DEFAULT_CPU
            }
        },
        DeviceArg::Wgpu => BackendKind::Wgpu,
        DeviceArg::Flex => BackendKind::Flex,
        DeviceArg::Ndarray => BackendKind::Ndarray,
    };
    Ok((kind, pollster::block_on(kind.device())?))
}

/// Reads the model's files from a folder or a single `.safetensors` path.
struct ModelOnDisk {
    weights: (String, Vec<u8>),
    config: Option<(String, Vec<u8>)>,
    preprocessor: Option<(String, Vec<u8>)>,
}

impl ModelOnDisk {
    fn read(path: &Path) -> Result<Self> {
        let read = |p: &Path| -> Result<(String, Vec<u8>)> {
            let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
            Ok((p.display().to_string(), bytes))
        };
        let optional = |p: PathBuf| p.is_file().then(|| read(&p)).transpose();
        if path.is_dir() {
            Ok(Self {
                weights: read(&path.join("model.safetensors"))?,
                config: optional(path.join("config.json"))?,
                preprocessor: optional(path.join("preprocessor_config.json"))?,
            })
        } else {
            // Configs beside a bare weights file are used too.
            let dir = path.parent().unwrap_or(Path::new("."));
            Ok(Self {
                weights: read(path)?,
                config: optional(dir.join("config.json"))?,
                preprocessor: optional(dir.join("preprocessor_config.json"))?,
            })
        }
    }

    fn files(&self) -> ModelFiles<'_> {
        fn nb((name, bytes): &(String, Vec<u8>)) -> NamedBytes<'_> {
            NamedBytes { name, bytes }
        }
        ModelFiles {
            weights: nb(&self.weights),
            config: self.config.as_ref().map(nb),
            preprocessor: self.preprocessor.as_ref().map(nb),
        }
    }
}

fn print_table(file: &str, predictions: &[Prediction], millis: f64, backend: BackendKind) {
    println!("{file}  ({millis:.1} ms on {backend})");
    for (rank, p) in predictions.iter().enumerate() {
        println!(
            "  {:>2}. {:>6.2}%  {} (#{})",
            rank + 1,
            p.probability * 100.0,
            p.label,
            p.index
        );
    }
}

fn classify(
    model: &Path,
    images: &[PathBuf],
    top_k: usize,
    json: bool,
    logits: bool,
    device_arg: DeviceArg,
) -> Result<bool> {
    let (backend, device) = device(device_arg)?;
    let on_disk = ModelOnDisk::read(model)?;
    let classifier = Classifier::load(on_disk.files(), backend, &device)?;
    drop(on_disk);
    let mut all_ok = true;
    for path in images {
        let file = path.display().to_string();
        let result = std::fs::read(path)
            .with_context(|| format!("cannot read {file}"))
            .and_then(|bytes| Ok(classifier.pixels(&file, &bytes)?))
            .and_then(|pixels| {
                let start = Instant::now();
                let row = pollster::block_on(classifier.logits(&[pixels]))?.remove(0);
                Ok((row, start.elapsed().as_secs_f64() * 1000.0))
            });
        match result {
            Ok((row, millis)) => {
                let top = classifier.top_k(&row, top_k);
                if json {
                    let mut obj = serde_json::json!({ "file": file, "top_k": top, "milliseconds": millis, "backend": backend.name() });
                    if logits {
                        obj["logits"] = serde_json::json!(row);
                    }
                    println!("{obj}");
                } else {
                    print_table(&file, &top, millis, backend);
                }
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                all_ok = false;
            }
        }
    }
    Ok(all_ok)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Classify {
            model,
            images,
            top_k,
            json,
            logits,
            device,
        } => {
            if top_k == 0 {
                Err(anyhow::anyhow!("--top-k must be at least 1"))
            } else {
                classify(&model, &images, top_k, json, logits, device)
            }
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
