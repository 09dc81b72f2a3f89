//! `vit`: the command-line face of the library, for scripts, tests and benchmarks.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use vit_wasm::backend::{self, BackendKind};
use vit_wasm::classifier::{Classifier, Prediction};
use vit_wasm::data::cifar::{Images, read_file};
use vit_wasm::data::splits::OtherSplit;
use vit_wasm::data::{Split, Splits};
use vit_wasm::error::VitError;
use vit_wasm::load::{Head, ModelFiles, NamedBytes};
use vit_wasm::train::{Features, Progress, TrainOptions, extract_features, fit, sample};

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
    Classify(ClassifyArgs),
    /// Train a new classification head on CIFAR-10 with the backbone frozen.
    Finetune(FinetuneArgs),
}

/// Which model, on which device, at which input size.
#[derive(Args)]
struct ModelArgs {
    /// A folder with model.safetensors (and optional config.json, preprocessor_config.json),
    /// or a bare .safetensors file.
    #[arg(long)]
    model: PathBuf,
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    device: DeviceArg,
    /// Run at this input size (pixels a side) instead of the model's own: its position
    /// embeddings are resampled as timm resamples them (antialiased bicubic).
    #[arg(long)]
    image_size: Option<usize>,
}

#[derive(Args)]
struct ClassifyArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Image files: PNG, JPEG, WebP, GIF or BMP.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
    top_k: u16,
    /// One JSON object per image instead of a table.
    #[arg(long)]
    json: bool,
    /// With --json, include every logit.
    #[arg(long, requires = "json")]
    logits: bool,
    /// A head trained with `vit finetune`, used instead of the model's own.
    #[arg(long)]
    head: Option<PathBuf>,
}

#[derive(Args)]
struct FinetuneArgs {
    /// The backbone, as for classify.
    #[command(flatten)]
    model: ModelArgs,
    /// Training data: CIFAR-10 binary batches, cifar-10-binary.tar.gz, cifar-10-python.tar.gz
    /// or pickled Python batches. From an archive, its data_batch_N members are used.
    #[arg(long, required = true, num_args = 1..)]
    train: Vec<PathBuf>,
    /// Test data, in the same formats; from an archive, its test_batch.
    #[arg(long)]
    test: PathBuf,
    /// How many training images to use (a fixed random subset, the page's); all by default.
    #[arg(long)]
    samples: Option<usize>,
    /// How many test images to use; all by default.
    #[arg(long)]
    test_samples: Option<usize>,
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    #[arg(long, default_value_t = 0.01)]
    weight_decay: f64,
    /// Seeds the head's initial weights and each epoch's shuffle.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also train on horizontally mirrored images (their features computed once).
    #[arg(long)]
    flip: bool,
    /// Where to write the head (.safetensors).
    #[arg(long)]
    out: PathBuf,
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
        DeviceArg::Auto => match pollster::block_on(backend::gpu()) {
            Ok(gpu) if !gpu.emulated => {
                eprintln!("note: using the GPU {} (wgpu)", gpu.adapter);
                return Ok((BackendKind::Wgpu, gpu.device));
            }
            Ok(gpu) => {
                eprintln!(
                    "note: the GPU wgpu found, {}, is emulated on the CPU and slower than the {} CPU backend, which is used instead (--device wgpu would use it)",
                    gpu.adapter,
                    BackendKind::DEFAULT_CPU
                );
                BackendKind::DEFAULT_CPU
            }
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

fn load_classifier(args: &ModelArgs) -> Result<Classifier> {
    let (_, device) = device(args.device)?;
    let on_disk = ModelOnDisk::read(&args.model)?;
    let classifier = Classifier::load(on_disk.files(), &device)?;
    Ok(match args.image_size {
        Some(size) => classifier.at_image_size(size)?,
        None => classifier,
    })
}

fn classify(args: &ClassifyArgs) -> Result<bool> {
    let mut classifier = load_classifier(&args.model)?;
    if let Some(path) = &args.head {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {name}"))?;
        let head = Head::from_bytes(&name, &bytes, classifier.config.hidden_size, &classifier.device)?;
        classifier = classifier.with_head(&head);
    }
    // A backbone without a head: said once, before any image is read.
    if !classifier.has_head() {
        bail!(
            "{}: {} (`vit finetune` trains one; `--head` uses it)",
            args.model.model.display(),
            VitError::NoHead
        );
    }
    let (backend, top_k) = (classifier.backend(), usize::from(args.top_k));
    let mut all_ok = true;
    for path in &args.images {
        let file = path.display().to_string();
        let result = std::fs::read(path)
            .with_context(|| format!("cannot read {file}"))
            .and_then(|bytes| Ok(classifier.pixels(&file, &bytes)?))
            .and_then(|pixels| {
                let start = Instant::now();
                let row = pollster::block_on(classifier.logits(&[pixels]))?.remove(0);
                let millis = start.elapsed().as_secs_f64() * 1000.0;
                Ok((classifier.top_k(&file, &row, top_k)?, row, millis))
            });
        match result {
            Ok((top, row, millis)) => {
                if args.json {
                    let mut obj = serde_json::json!({ "file": file, "top_k": top, "milliseconds": millis, "backend": backend.name() });
                    if args.logits {
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

/// Reads CIFAR-10 files into `splits` for `split`; from an archive, only that split's members.
fn read_cifar(splits: &mut Splits, paths: &[PathBuf], split: Split) -> Result<()> {
    for path in paths {
        let file = path.display().to_string();
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {file}"))?;
        splits.add(split, read_file(&file, &bytes)?, OtherSplit::Skip);
    }
    if splits.images(split).is_empty() {
        let what = if split == Split::Test { "test" } else { "training" };
        let files: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        bail!("no {what} images in {}", files.join(", "));
    }
    Ok(())
}

fn features(classifier: &Classifier, images: &Images, indices: &[usize], flip: bool, what: &str) -> Result<Features> {
    let bar = ProgressBar::new(indices.len() as u64).with_style(
        ProgressStyle::with_template("{msg:>18} [{bar:30}] {pos}/{len} images, {per_sec}, {eta} left")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    let chunk = classifier.backend().feature_chunk();
    let features = pollster::block_on(extract_features(
        classifier,
        images,
        indices,
        flip,
        chunk,
        async |done, _| {
            bar.set_position(done as u64);
            true
        },
    ))?;
    bar.finish();
    Ok(features)
}

fn finetune(args: &FinetuneArgs) -> Result<()> {
    let options = &TrainOptions {
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.lr,
        weight_decay: args.weight_decay,
        seed: args.seed,
    };
    // Everything that can be wrong is found before the features are computed (an hour on the
    // CPU for all of CIFAR-10): the options, and where the head goes.
    options.check()?;
    // Opened, not emptied: a head already there survives a run that fails.
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&args.out)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let classifier = load_classifier(&args.model)?;
    let mut splits = Splits::default();
    read_cifar(&mut splits, &args.train, Split::Train)?;
    read_cifar(&mut splits, std::slice::from_ref(&args.test), Split::Test)?;
    let (train_images, test_images) = (splits.images(Split::Train), splits.images(Split::Test));
    let train_idx = sample(train_images.len(), args.samples.unwrap_or(usize::MAX));
    let test_idx = sample(test_images.len(), args.test_samples.unwrap_or(usize::MAX));
    eprintln!(
        "{} training and {} test images, backbone on {}, {} epochs of batch {} at lr {} (weight decay {}, seed {})",
        train_idx.len(),
        test_idx.len(),
        classifier.backend(),
        options.epochs,
        options.batch_size,
        options.learning_rate,
        options.weight_decay,
        options.seed
    );
    let mut train_set = features(&classifier, train_images, &train_idx, false, "training features")?;
    if args.flip {
        train_set.extend(&features(
            &classifier,
            train_images,
            &train_idx,
            true,
            "mirrored features",
        )?);
    }
    let test_set = features(&classifier, test_images, &test_idx, false, "test features")?;
    let fitted = pollster::block_on(fit(
        &train_set,
        &test_set,
        splits.class_names(),
        options,
        &classifier.device,
        |progress| {
            if let Progress::Epoch(r) = progress {
                println!(
                    "epoch {}/{}  loss {:.4}  train {:.1}%  test {:.1}%",
                    r.epoch,
                    options.epochs,
                    r.mean_loss,
                    r.train_accuracy * 100.0,
                    r.test_accuracy * 100.0
                );
            }
        },
    ))?;
    let bytes = pollster::block_on(fitted.head.to_bytes())?;
    out.set_len(0)
        .and_then(|()| out.write_all(&bytes))
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Classify(args) => classify(args),
        Command::Finetune(args) => finetune(args).map(|()| true),
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
