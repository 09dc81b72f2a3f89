//! The `vit` binary, as scripts use it.
#![cfg(not(target_family = "wasm"))]

mod common;

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Output, Stdio};

fn vit(args: &[&str]) -> Output {
    run(args).0
}

/// Runs `vit` and returns its output and its peak resident memory in bytes: `wait4` reports the
/// peak of this one child, where `getrusage` would give the largest of all the tests' children.
#[allow(clippy::zombie_processes, reason = "reaped by `wait4`, not `Child::wait`")]
fn run(args: &[&str]) -> (Output, u64) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vit"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).unwrap();
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
    // SAFETY: the pid is this process's unreaped child; both pointers are to live locals.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(
        pid,
        child.id() as libc::pid_t,
        "wait4: {}",
        std::io::Error::last_os_error()
    );
    let output = Output {
        status: ExitStatus::from_raw(status),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    // Linux reports kilobytes.
    (output, usage.ru_maxrss as u64 * 1024)
}

const HF: &str = "tests/fixtures/tiny_hf";

/// `vit finetune`'s test accuracy after its last epoch, in percent.
fn last_test_accuracy(stdout: &str) -> f64 {
    let last = stdout.lines().last().expect("an epoch line");
    last.rsplit("test ")
        .next()
        .unwrap()
        .trim_end_matches('%')
        .parse()
        .unwrap()
}

/// `vit classify --json` of one image with `model` and the head file `head`, on flex.
fn classify_with_head(model: &str, head: &std::path::Path, image: &str) -> serde_json::Value {
    let out = vit(&[
        "classify",
        "--model",
        model,
        "--head",
        head.to_str().unwrap(),
        image,
        "--json",
        "--device",
        "flex",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

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
fn auto_says_what_it_chose_and_never_an_emulated_gpu() {
    // Machines of this project's kind have Mesa's llvmpipe (OpenGL; lavapipe with Vulkan
    // drivers): wgpu offers it as a GPU, and it is far slower than the CPU backend.
    let out = vit(&["classify", "--model", HF, "tests/fixtures/images/gradient.png"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    let on = |backend: &str| stdout.contains(&format!(" ms on {backend})"));
    if stderr.contains("is emulated on the CPU") {
        assert!(
            on("flex") && stderr.contains("--device wgpu would use it"),
            "{stdout}{stderr}"
        );
    } else if on("wgpu") {
        assert!(stderr.starts_with("note: using the GPU "), "{stderr}");
    } else {
        assert!(
            on("flex") && stderr.contains("using the flex CPU backend"),
            "{stdout}{stderr}"
        );
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

#[test]
fn finetune_writes_a_head_that_classify_uses() {
    let dir = std::env::temp_dir().join(format!("vit-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let head = dir.join("head.safetensors");
    let out = vit(&[
        "finetune",
        "--model",
        HF,
        "--train",
        "tests/fixtures/cifar/data_batch_1.bin",
        "tests/fixtures/cifar/data_batch_2.bin",
        "--test",
        "tests/fixtures/cifar/cifar-10-python.tar.gz",
        "--samples",
        "300",
        "--test-samples",
        "150",
        "--epochs",
        "3",
        "--lr",
        "1e-2",
        "--seed",
        "5",
        "--flip",
        "--device",
        "flex",
        "--out",
        head.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("300 training and 150 test images"), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let epochs: Vec<&str> = stdout.lines().collect();
    assert_eq!(epochs.len(), 3, "{stdout}");
    assert!(last_test_accuracy(&stdout) >= 90.0, "{stdout}");

    let line = classify_with_head(HF, &head, "tests/fixtures/images/grey.png");
    let label = line["top_k"][0]["label"].as_str().unwrap().to_string();
    assert!(vit_wasm::data::cifar::CLASS_NAMES.contains(&label.as_str()), "{label}");

    // The same backbone without a head (HF's `ViTModel`) says so, and classifies with the head.
    let headless = "tests/fixtures/tiny_hf_headless";
    let out = vit(&[
        "classify",
        "--model",
        headless,
        "tests/fixtures/images/grey.png",
        "--device",
        "flex",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("tests/fixtures/tiny_hf_headless: this model has no classification head"),
        "{stderr}"
    );
    let again = classify_with_head(headless, &head, "tests/fixtures/images/grey.png");
    assert_eq!(again["top_k"], line["top_k"]);

    // A malformed data file stops the run with its name and what is wrong. Files built to
    // exhaust memory (archives inflating to gigabytes, pickle memo bombs) or the stack do too, in
    // bounded memory: without the bounds each took gigabytes; with them, the 256 MB archive cap
    // is the largest allocation.
    for (name, message) in [
        ("malformed/bad_label.bin", "record 1 has label 12"),
        ("hostile/too_big.tar.gz", "larger than 256 MB uncompressed"),
        ("hostile/long_name.tar.gz", "larger than 256 MB uncompressed"),
        ("hostile/quadratic_pickle", "not a CIFAR-10 Python batch"),
        ("hostile/dup_bomb.tar.gz", "not a CIFAR-10 Python batch"),
        ("hostile/deep_pickle", "it nests deeper than 32 levels"),
    ] {
        let path = format!("tests/fixtures/cifar/{name}");
        let (out, peak) = run(&[
            "finetune",
            "--model",
            HF,
            "--train",
            &path,
            "--test",
            "tests/fixtures/cifar/test_batch.bin",
            "--out",
            head.to_str().unwrap(),
            "--device",
            "flex",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.starts_with(&format!("error: {path}")) && stderr.contains(message),
            "{stderr}"
        );
        assert!(peak < 400 << 20, "{name}: peak memory {} MB", peak >> 20);
    }

    // Options that cannot train, and a head that cannot be written, stop the run before any
    // image is read.
    let stops_early = |extra: &[&str], out_path: &str, message: &str| {
        let mut args = vec![
            "finetune",
            "--model",
            HF,
            "--train",
            "tests/fixtures/cifar/data_batch_1.bin",
            "--test",
            "tests/fixtures/cifar/test_batch.bin",
            "--device",
            "flex",
            "--out",
            out_path,
        ];
        args.extend_from_slice(extra);
        let out = vit(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(message), "{stderr}");
        assert!(!stderr.contains("training and"), "{stderr}");
    };
    let head_path = head.to_str().unwrap();
    stops_early(&["--epochs", "0"], head_path, "the number of epochs must be at least 1");
    stops_early(&["--lr=-1"], head_path, "the learning rate must be a positive number");
    stops_early(
        &[],
        "/no/such/dir/head.safetensors",
        "cannot write /no/such/dir/head.safetensors",
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_model_runs_at_another_input_size_on_request() {
    let classify = |size: &str| {
        vit(&[
            "classify",
            "--model",
            HF,
            "--image-size",
            size,
            "tests/fixtures/images/grey.png",
            "--json",
            "--logits",
            "--device",
            "flex",
        ])
    };
    let logits = |size: &str| {
        let out = classify(size);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let logits: Vec<f64> = line["logits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_f64().unwrap())
            .collect();
        logits
    };
    // Its own size is the model as stored (the reference's logits); another is another model.
    let own = logits("48");
    let reference = common::reference("grey.png", "hf.logits");
    assert!(
        own.iter()
            .zip(&reference)
            .all(|(a, b)| (a - f64::from(*b)).abs() < 1e-4),
        "{own:?}"
    );
    assert!(own.iter().zip(logits("64")).any(|(a, b)| (a - b).abs() > 1e-3));
    let out = classify("50");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot run this model at 50x50: the size must be a multiple of its patch size 8"),
        "{stderr}"
    );
}

#[test]
fn finetune_learns_a_folder_of_own_pictures_and_classifies_with_it() {
    let dir = std::env::temp_dir().join(format!("vit-cli-pictures-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let head = dir.join("head.safetensors");
    let out = vit(&[
        "finetune",
        "--model",
        HF,
        "--train",
        "tests/fixtures/pictures",
        "--epochs",
        "10",
        "--lr",
        "1e-2",
        "--device",
        "flex",
        "--out",
        head.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // The files that are not pictures are named and skipped; the classes and the split are said.
    assert!(
        stderr.contains("note: tests/fixtures/pictures/stripes/notes.txt: not an image this app can read"),
        "{stderr}"
    );
    assert!(
        stderr.contains("tests/fixtures/pictures: 60 training pictures (disc 20, square 20, stripes 20)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("held out 0.2 of the pictures of each class for testing (seed 0)"),
        "{stderr}"
    );
    assert!(stderr.contains("48 training and 12 test images"), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(last_test_accuracy(&stdout) >= 90.0, "{stdout}");

    // The head carries the folder names.
    let line = classify_with_head(HF, &head, "tests/fixtures/pictures/square/square_05.jpg");
    let labels: Vec<&str> = line["top_k"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels.len(), 3);
    assert!(
        labels.iter().all(|l| ["disc", "square", "stripes"].contains(l)),
        "{labels:?}"
    );

    // A folder of one class, a test folder with no pictures in class folders (rather than the
    // training pictures being split instead), and CIFAR-10 files without a test set stop with
    // what is wrong.
    let refused = |data: &[&str], message: &str| {
        let mut args = vec![
            "finetune",
            "--model",
            HF,
            "--out",
            head.to_str().unwrap(),
            "--device",
            "flex",
        ];
        args.extend_from_slice(data);
        let out = vit(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(message), "{stderr}");
    };
    refused(
        &["--train", "tests/fixtures/pictures/disc"],
        "fine-tuning needs at least two classes",
    );
    refused(
        &[
            "--train",
            "tests/fixtures/pictures",
            "--test",
            "tests/fixtures/pictures/disc",
        ],
        "tests/fixtures/pictures/disc: no pictures in its class folders",
    );
    refused(
        &["--train", "tests/fixtures/cifar/data_batch_1.bin"],
        "--test is needed with CIFAR-10 files",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A folder as a file system can make it (links back up the tree, a device, a FIFO) trains on
/// what is in it, each odd entry named, in bounded time and memory; `--train` with two folders
/// says what it takes.
#[cfg(unix)]
#[test]
fn a_hostile_folder_of_pictures_trains_on_what_is_in_it() {
    use std::os::unix::ffi::OsStrExt;
    let dir = std::env::temp_dir().join(format!("vit-cli-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for class in ["disc", "square"] {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        for entry in std::fs::read_dir(format!("tests/fixtures/pictures/{class}"))
            .unwrap()
            .take(5)
        {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.join(class).join(entry.file_name())).unwrap();
        }
    }
    for (link, to) in [
        ("disc/again", "."),
        ("disc/up", ".."),
        ("all", "."),
        ("square/zero.png", "/dev/zero"),
    ] {
        std::os::unix::fs::symlink(to, dir.join(link)).unwrap();
    }
    let fifo = std::ffi::CString::new(dir.join("square/pipe.png").as_os_str().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let head = dir.join("head.safetensors");
    let (out, peak) = run(&[
        "finetune",
        "--model",
        HF,
        "--train",
        dir.to_str().unwrap(),
        "--epochs",
        "2",
        "--device",
        "flex",
        "--out",
        head.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(peak < 400 << 20, "peak memory {} MB", peak >> 20);
    for named in [
        "disc/again: the folder",
        "disc/up: the folder",
        "/all: the folder",
        "square/zero.png: not a regular file (a device)",
        "square/pipe.png: not a regular file (a FIFO)",
    ] {
        assert!(stderr.contains(named), "{named}: {stderr}");
    }
    assert!(stderr.contains(": 10 training pictures (disc 5, square 5)"), "{stderr}");

    let out = vit(&[
        "finetune",
        "--model",
        HF,
        "--train",
        dir.to_str().unwrap(),
        "tests/fixtures/pictures",
        "--out",
        head.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--train takes one folder of pictures (a folder per class in it) or CIFAR-10 files;"),
        "{stderr}"
    );
    assert!(stderr.contains("tests/fixtures/pictures are folders"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}
