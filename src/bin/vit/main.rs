//! `vit`: the command-line face of the library, for scripts, tests and benchmarks.

mod hub;
mod model_files;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use vit_wasm::backend::{self, BackendKind};
use vit_wasm::classifier::Prediction;
use vit_wasm::data::cifar::read_file;
use vit_wasm::data::folder_reader::read_folder;
use vit_wasm::data::image_folder::{ImageFolder, Role};
use vit_wasm::data::splits::OtherSplit;
use vit_wasm::data::{Split, Splits};
use vit_wasm::error::VitError;
use vit_wasm::session::{self, FeatureSets, Session};
use vit_wasm::train::features::FeatureSource;
use vit_wasm::train::options::{check_test_fraction, image_count};
use vit_wasm::train::{Features, Progress, TrainOptions, sample, split_pictures};

use crate::model_files::ModelFiles;

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
    /// Fetch a hub model into the Hugging Face cache (as classify and finetune do), and with
    /// --out copy its files into a folder, such as the one the page's server serves.
    Download(DownloadArgs),
}

#[derive(Args)]
struct DownloadArgs {
    /// A hub id, as google/vit-base-patch16-224.
    model: String,
    #[arg(long)]
    revision: Option<String>,
    /// Copy the model's files here (weights/vit-base-patch16-224 for the page's server).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Which model, on which device, at which input size.
#[derive(Args)]
struct ModelArgs {
    /// A folder with model.safetensors (or a sharded checkpoint's model.safetensors.index.json)
    /// and optional config.json, preprocessor_config.json; a bare .safetensors file; or a
    /// Hugging Face hub id (google/vit-base-patch16-224), from the Hugging Face cache
    /// (HF_HUB_CACHE, HF_HOME) or else downloaded into it (HF_ENDPOINT, HF_TOKEN; HF_HUB_OFFLINE=1
    /// keeps to the cache).
    #[arg(long)]
    model: String,
    /// The hub revision (branch, tag or commit) of a hub id.
    #[arg(long)]
    revision: Option<String>,
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
    #[arg(long, default_value_t = session::TOP_K as u16, value_parser = clap::value_parser!(u16).range(1..))]
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
    /// Training data: your own pictures, a folder with one folder per class (DIR/cat/*.jpg,
    /// DIR/dog/*.png); or CIFAR-10 binary batches, cifar-10-binary.tar.gz, cifar-10-python.tar.gz
    /// or pickled Python batches (from an archive, its data_batch_N members).
    #[arg(long, required = true, num_args = 1..)]
    train: Vec<PathBuf>,
    /// Test data, in the same form; from a CIFAR archive, its test_batch. Without it, a folder's
    /// pictures are split: --test-fraction of each class held out (seeded by --seed).
    #[arg(long)]
    test: Option<PathBuf>,
    #[arg(long, default_value_t = 0.2)]
    test_fraction: f64,
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

fn load_session(args: &ModelArgs) -> Result<Session> {
    let (_, device) = device(args.device)?;
    let mut session = ModelFiles::find(&args.model, args.revision.as_deref())?.load(&device)?;
    if let Some(size) = args.image_size {
        session.at_image_size(size)?;
    }
    Ok(session)
}

fn classify(args: &ClassifyArgs) -> Result<bool> {
    let mut session = load_session(&args.model)?;
    if let Some(path) = &args.head {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {name}"))?;
        session.import_head(&name, &bytes)?;
    }
    // A backbone without a head: said once, before any image is read.
    if !session.classifier().has_head() {
        bail!(
            "{}: {} (`vit finetune` trains one; `--head` uses it)",
            args.model.model,
            VitError::NoHead
        );
    }
    let backend = session.backend();
    let mut all_ok = true;
    let mut fail = |e: anyhow::Error| {
        eprintln!("error: {e:#}");
        all_ok = false;
    };
    // A batch's files are read when it runs, so that a long list is never all in memory.
    for paths in args.images.chunks(session::BATCH) {
        let mut files = Vec::new();
        for path in paths {
            let file = path.display().to_string();
            match std::fs::read(path).with_context(|| format!("cannot read {file}")) {
                Ok(bytes) => files.push((file, bytes)),
                Err(e) => fail(e),
            }
        }
        let names: Vec<String> = files.iter().map(|(name, _)| name.clone()).collect();
        // A pass that fails (the GPU lost) fails its images; the next batch is tried all the same.
        let results: Vec<Result<_>> = match pollster::block_on(session.classify(files, usize::from(args.top_k), false))
        {
            Ok(results) => results.into_iter().map(|r| r.map_err(Into::into)).collect(),
            Err(e) => names.iter().map(|name| Err(anyhow!("{name}: {e}"))).collect(),
        };
        for (file, result) in names.iter().zip(results) {
            let c = match result {
                Ok(c) => c,
                Err(e) => {
                    fail(e);
                    continue;
                }
            };
            let millis = c.milliseconds / c.batch as f64;
            if args.json {
                let mut obj = serde_json::json!({ "file": file, "top_k": c.top_k, "milliseconds": millis, "backend": backend.name() });
                if args.logits {
                    obj["logits"] = serde_json::json!(c.logits);
                }
                println!("{obj}");
            } else {
                print_table(file, &c.top_k, millis, backend);
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

fn features(
    session: &Session,
    images: &impl FeatureSource,
    indices: &[usize],
    flip: bool,
    what: &str,
) -> Result<Features> {
    let bar = ProgressBar::new(indices.len() as u64).with_style(
        ProgressStyle::with_template("{msg:>18} [{bar:30}] {pos}/{len} images, {per_sec}, {eta} left")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    let features = pollster::block_on(session.features(images, indices, flip, async |done, _| {
        bar.set_position(done as u64);
        true
    }))?;
    bar.finish();
    Ok(features)
}

fn train_options(args: &FinetuneArgs) -> TrainOptions {
    TrainOptions {
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.lr,
        weight_decay: args.weight_decay,
        seed: args.seed,
    }
}

fn finetune(args: &FinetuneArgs) -> Result<()> {
    // Everything that can be wrong is found before the features are computed (an hour on the
    // CPU for all of CIFAR-10): the options, and where the head goes.
    train_options(args).check()?;
    check_test_fraction(args.test_fraction).context("--test-fraction")?;
    for (split, count) in [(Split::Train, args.samples), (Split::Test, args.test_samples)] {
        if let Some(n) = count {
            image_count(split, n as f64)
                .with_context(|| format!("--{}", ["samples", "test-samples"][split as usize]))?;
        }
    }
    // A folder of pictures, alone, or CIFAR-10 files: never a mix, never two folders.
    let folders: Vec<String> = args
        .train
        .iter()
        .filter(|p| p.is_dir())
        .map(|p| p.display().to_string())
        .collect();
    if !folders.is_empty() && args.train.len() > 1 {
        bail!(
            "--train takes one folder of pictures (a folder per class in it) or CIFAR-10 files; {} {} folder{}",
            folders.join(" and "),
            if folders.len() == 1 { "is a" } else { "are" },
            if folders.len() == 1 { "" } else { "s" }
        );
    }
    let pictures = !folders.is_empty();
    if let Some(test) = args.test.as_ref().filter(|t| !pictures && t.is_dir()) {
        bail!(
            "--test {}: a folder, but --train has CIFAR-10 files; with them --test takes CIFAR-10 files",
            test.display()
        );
    }
    // Opened, not emptied: a head already there survives a run that fails.
    let out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&args.out)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let mut session = load_session(&args.model)?;
    if let [dir] = args.train.as_slice()
        && pictures
    {
        // Each folder's notes are said as it is read: they may explain a refusal that follows.
        let notes = |notes: Vec<String>| notes.into_iter().for_each(|note| eprintln!("note: {note}"));
        let mut total = 0;
        let read = read_folder(dir, &mut total)?;
        notes(read.notes);
        let (mut folder, skipped) = ImageFolder::from_entries(&read.root, read.entries)?;
        notes(skipped);
        if let Some(test_dir) = &args.test {
            let read = read_folder(test_dir, &mut total)?;
            notes(read.notes);
            notes(folder.add_entries(&read.root, read.entries, Role::Test)?);
            // Else the training pictures would be split instead, which is not what was asked.
            if folder.counts(Role::Test).iter().all(|&n| n == 0) {
                bail!("{}: no pictures in its class folders", read.root);
            }
        }
        for (role, what) in [(Role::Train, "training"), (Role::Test, "test")] {
            let counts = folder.counts(role);
            let classes: Vec<String> = folder
                .class_names
                .iter()
                .zip(&counts)
                .map(|(c, n)| format!("{c} {n}"))
                .collect();
            let total: usize = counts.iter().sum();
            if total > 0 {
                eprintln!("{}: {total} {what} pictures ({})", folder.root, classes.join(", "));
            }
        }
        let (train_idx, test_idx) = split_pictures(&folder, args.test_fraction, args.seed)?;
        if args.test.is_none() {
            eprintln!(
                "held out {} of the pictures of each class for testing (seed {})",
                args.test_fraction, args.seed
            );
        }
        let class_names = folder.class_names.clone();
        return train_head(
            &mut session,
            (&folder, &train_idx),
            (&folder, &test_idx),
            class_names,
            args,
            out,
        );
    }
    let Some(test) = &args.test else {
        bail!("--test is needed with CIFAR-10 files (only a folder of pictures is split by itself)");
    };
    let mut splits = Splits::default();
    read_cifar(&mut splits, &args.train, Split::Train)?;
    read_cifar(&mut splits, std::slice::from_ref(test), Split::Test)?;
    let (train_images, test_images) = (splits.images(Split::Train), splits.images(Split::Test));
    let all = |n: usize| (0..n).collect::<Vec<_>>();
    let class_names = splits.class_names();
    train_head(
        &mut session,
        (train_images, &all(train_images.len())),
        (test_images, &all(test_images.len())),
        class_names,
        args,
        out,
    )
}

/// Features of a sample of the training and the test images (each given with the indices to
/// sample from), a head trained on them, evaluated, and written to `out`.
fn train_head(
    session: &mut Session,
    (train, train_all): (&impl FeatureSource, &[usize]),
    (test, test_all): (&impl FeatureSource, &[usize]),
    class_names: Vec<String>,
    args: &FinetuneArgs,
    mut out: std::fs::File,
) -> Result<()> {
    let options = &train_options(args);
    let pick = |all: &[usize], limit: Option<usize>| -> Vec<usize> {
        sample(all.len(), limit.unwrap_or(usize::MAX))
            .into_iter()
            .map(|k| all[k])
            .collect()
    };
    let train_idx = pick(train_all, args.samples);
    let test_idx = pick(test_all, args.test_samples);
    eprintln!(
        "{} training and {} test images, backbone on {}, {} epochs of batch {} at lr {} (weight decay {}, seed {})",
        train_idx.len(),
        test_idx.len(),
        session.backend(),
        options.epochs,
        options.batch_size,
        options.learning_rate,
        options.weight_decay,
        options.seed
    );
    let sets = FeatureSets {
        train: features(session, train, &train_idx, false, "training features")?,
        mirrored: match args.flip {
            true => Some(features(session, train, &train_idx, true, "mirrored features")?),
            false => None,
        },
        test: features(session, test, &test_idx, false, "test features")?,
    };
    let fitted = pollster::block_on(session.train_head(sets, class_names, options, |progress| {
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
    }))?;
    let bytes = pollster::block_on(fitted.head.to_bytes())?;
    out.set_len(0)
        .and_then(|()| out.write_all(&bytes))
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

fn download(args: &DownloadArgs) -> Result<()> {
    let files = ModelFiles::find(&args.model, args.revision.as_deref())?;
    let Some(out) = &args.out else {
        for path in files.paths() {
            println!("{}", path.display());
        }
        return Ok(());
    };
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for path in files.paths() {
        let name = path.file_name().context("a model file has a name")?;
        let to = out.join(name);
        std::fs::copy(path, &to).with_context(|| format!("cannot copy {} to {}", path.display(), to.display()))?;
        println!("{}", to.display());
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Classify(args) => classify(args),
        Command::Finetune(args) => finetune(args).map(|()| true),
        Command::Download(args) => download(args).map(|()| true),
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
