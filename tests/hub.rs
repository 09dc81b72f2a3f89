//! `vit --model ORG/NAME`: models by their hub name, from the Hugging Face cache or downloaded
//! into it from a stand-in hub (`tests/hub/server.mjs`, which says what of the hub it mimics: no
//! hub is reachable where the tests run).
#![cfg(not(target_family = "wasm"))]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use safetensors::SafeTensors;
use safetensors::tensor::TensorView;

const HF: &str = "tests/fixtures/tiny_hf";
const TIMM: &str = "tests/fixtures/tiny_timm";
const IMAGE: &str = "tests/fixtures/images/grey.png";
/// Where nothing listens: a run that asks the network fails.
const NOWHERE: &str = "http://127.0.0.1:9";

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vit-hub-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The stand-in hub, serving `repos` (id → folder); killed when dropped.
struct Hub {
    child: Child,
    endpoint: String,
}

impl Hub {
    fn start(dir: &Path, config: serde_json::Value) -> Self {
        let file = dir.join("hub.json");
        std::fs::write(&file, config.to_string()).unwrap();
        let mut child = Command::new("node")
            .arg("tests/hub/server.mjs")
            .arg(&file)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs the stand-in hub");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ready: serde_json::Value = serde_json::from_str(&line).expect("the hub's ready line");
        let endpoint = ready["endpoint"].as_str().unwrap().to_string();
        Hub { child, endpoint }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn absolute(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path).display().to_string()
}

/// `vit ARGS` with none of the Hugging Face variables of whoever runs the tests (their cache,
/// token or endpoint), and the hub at `endpoint`.
fn vit(args: &[&str], endpoint: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vit"));
    command.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    for var in ["HF_HUB_CACHE", "HF_HOME", "HF_HUB_OFFLINE", "HF_TOKEN"] {
        command.env_remove(var);
    }
    command.env("HF_ENDPOINT", endpoint);
    command
}

/// `vit classify --json --logits` of the grey image with `--model` and what follows it, the cache
/// in `cache` and the hub at `endpoint`; `env` adds variables.
fn classify(model: &[&str], cache: &Path, endpoint: &str, env: &[(&str, &str)]) -> Output {
    vit(
        &["classify", IMAGE, "--json", "--logits", "--device", "flex", "--model"],
        endpoint,
    )
    .args(model)
    .env("HF_HUB_CACHE", cache)
    .envs(env.iter().copied())
    .output()
    .unwrap()
}

/// The run succeeded with the reference's logits for `key` (`hf` or `timm`).
fn like_the_reference(out: &Output, key: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let logits: Vec<f32> = serde_json::from_value(line["logits"].clone()).unwrap();
    let reference = common::reference("grey.png", &format!("{key}.logits"));
    assert!(common::max_abs_diff(&logits, &reference) <= 3e-5, "{stderr}");
}

fn failed_saying(out: &Output, words: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    for w in words {
        assert!(stderr.contains(w), "expected `{w}` in: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A cache as `huggingface_hub` writes it: blobs by hash, a snapshot of links, `refs/main`.
fn python_cache(cache: &Path, id: &str, files: &Path) {
    let repo = cache.join(format!("models--{}", id.replace('/', "--")));
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let snapshot = repo.join("snapshots").join(commit);
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::write(repo.join("refs/main"), commit).unwrap();
    for entry in std::fs::read_dir(files).unwrap() {
        let entry = entry.unwrap();
        let bytes = std::fs::read(entry.path()).unwrap();
        let blob = format!("{:016x}{}", bytes.len(), entry.file_name().to_str().unwrap().len());
        std::fs::write(repo.join("blobs").join(&blob), bytes).unwrap();
        let link = snapshot.join(entry.file_name());
        std::os::unix::fs::symlink(Path::new("../../blobs").join(&blob), link).unwrap();
    }
}

#[test]
fn a_model_in_the_hugging_face_cache_loads_with_no_network() {
    let dir = scratch("cached");
    let cache = dir.join("hub");
    python_cache(&cache, "test-org/tiny-vit", Path::new(HF));
    // Offline as asked, and online with nothing listening: the cache alone answers.
    like_the_reference(
        &classify(&["test-org/tiny-vit"], &cache, NOWHERE, &[("HF_HUB_OFFLINE", "1")]),
        "hf",
    );
    like_the_reference(&classify(&["test-org/tiny-vit"], &cache, NOWHERE, &[]), "hf");
    // HF_HOME/hub when HF_HUB_CACHE is not set.
    let out = vit(
        &[
            "classify",
            "--model",
            "test-org/tiny-vit",
            IMAGE,
            "--json",
            "--logits",
            "--device",
            "flex",
        ],
        NOWHERE,
    )
    .env("HF_HOME", &dir)
    .env("HF_HUB_OFFLINE", "1")
    .output()
    .unwrap();
    like_the_reference(&out, "hf");
    // What is not in the cache, offline, says so.
    let out = classify(&["test-org/other"], &cache, NOWHERE, &[("HF_HUB_OFFLINE", "1")]);
    failed_saying(
        &out,
        &[
            "test-org/other",
            "model.safetensors is not in the Hugging Face cache",
            "HF_HUB_OFFLINE",
        ],
    );
    // And online, that the hub cannot be reached.
    failed_saying(
        &classify(&["test-org/other"], &cache, NOWHERE, &[]),
        &["test-org/other", "cannot reach"],
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_model_is_downloaded_into_the_cache_once_and_then_loads_from_it() {
    let dir = scratch("download");
    let cache = dir.join("hub");
    let hub = Hub::start(
        &dir,
        serde_json::json!({ "repos": { "test-org/tiny-vit": absolute(HF), "test-org/tiny-timm": absolute(TIMM) } }),
    );
    like_the_reference(&classify(&["test-org/tiny-vit"], &cache, &hub.endpoint, &[]), "hf");
    like_the_reference(&classify(&["test-org/tiny-timm"], &cache, &hub.endpoint, &[]), "timm");
    let out = classify(&["test-org/tiny-vit", "--revision", "v9"], &cache, &hub.endpoint, &[]);
    failed_saying(&out, &["test-org/tiny-vit: revision `v9` not found on"]);
    // In the cache's own layout: Python's libraries find these files as theirs.
    let repo = cache.join("models--test-org--tiny-timm");
    let commit = std::fs::read_to_string(repo.join("refs/main")).unwrap();
    assert!(repo.join("snapshots").join(&commit).join("model.safetensors").is_file());
    // timm repos have no preprocessor_config.json: recorded, as Python records it.
    assert!(
        repo.join(".no_exist")
            .join(&commit)
            .join("preprocessor_config.json")
            .exists()
    );
    drop(hub);
    // The hub gone, both load from the cache without asking it.
    like_the_reference(&classify(&["test-org/tiny-vit"], &cache, NOWHERE, &[]), "hf");
    like_the_reference(&classify(&["test-org/tiny-timm"], &cache, NOWHERE, &[]), "timm");
    // `vit download --out` (weights/download.sh) copies them where the page's server looks.
    let weights = dir.join("weights");
    let out = vit(&["download", "test-org/tiny-vit", "--out"], NOWHERE)
        .arg(&weights)
        .env("HF_HUB_CACHE", &cache)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for file in ["model.safetensors", "config.json", "preprocessor_config.json"] {
        let copied = std::fs::read(weights.join(file)).unwrap();
        assert_eq!(copied, std::fs::read(Path::new(HF).join(file)).unwrap(), "{file}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_cut_download_leaves_no_usable_file_and_the_next_run_resumes() {
    let dir = scratch("cut");
    let cache = dir.join("hub");
    let hub = Hub::start(
        &dir,
        serde_json::json!({
            "repos": { "test-org/tiny-vit": absolute(HF) },
            "cut": { "test-org/tiny-vit/model.safetensors": 1 },
        }),
    );
    let out = classify(&["test-org/tiny-vit"], &cache, &hub.endpoint, &[]);
    failed_saying(
        &out,
        &[
            "test-org/tiny-vit",
            "model.safetensors",
            "run the command again to resume",
        ],
    );
    let snapshots = cache.join("models--test-org--tiny-vit/snapshots");
    let usable = std::fs::read_dir(&snapshots)
        .into_iter()
        .flatten()
        .any(|s| s.unwrap().path().join("model.safetensors").exists());
    assert!(!usable, "a cut download must not look complete");
    like_the_reference(&classify(&["test-org/tiny-vit"], &cache, &hub.endpoint, &[]), "hf");
    std::fs::remove_dir_all(dir).unwrap();
}

/// `source`'s weights split into two shards and an index, with its configs, in `dest`.
fn sharded(source: &str, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    let bytes = std::fs::read(Path::new(source).join("model.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = file.names().into_iter().map(str::to_string).collect();
    names.sort();
    let mut map = serde_json::Map::new();
    for (i, half) in names.chunks(names.len().div_ceil(2)).enumerate() {
        let shard = format!("model-0000{}-of-00002.safetensors", i + 1);
        let views: Vec<(String, TensorView)> = half.iter().map(|n| (n.clone(), file.tensor(n).unwrap())).collect();
        safetensors::serialize_to_file(views, None, &dest.join(&shard)).unwrap();
        for n in half {
            map.insert(n.clone(), shard.clone().into());
        }
    }
    let index = serde_json::json!({ "metadata": {}, "weight_map": map });
    std::fs::write(dest.join("model.safetensors.index.json"), index.to_string()).unwrap();
    for config in ["config.json", "preprocessor_config.json"] {
        std::fs::copy(Path::new(source).join(config), dest.join(config)).unwrap();
    }
}

#[test]
fn a_sharded_checkpoint_loads_as_one_from_a_folder_and_from_the_hub() {
    let dir = scratch("shards");
    let repo = dir.join("sharded");
    sharded(HF, &repo);
    let cache = dir.join("hub");
    like_the_reference(&classify(&[repo.to_str().unwrap()], &cache, NOWHERE, &[]), "hf");
    let hub = Hub::start(&dir, serde_json::json!({ "repos": { "test-org/sharded": repo } }));
    like_the_reference(&classify(&["test-org/sharded"], &cache, &hub.endpoint, &[]), "hf");
    // An index naming a path out of its folder is refused, not followed.
    let index = repo.join("model.safetensors.index.json");
    let text = std::fs::read_to_string(&index)
        .unwrap()
        .replacen("model-00001", "../model-00001", 1);
    std::fs::write(&index, text).unwrap();
    failed_saying(
        &classify(&[repo.to_str().unwrap()], &cache, NOWHERE, &[]),
        &[
            "model.safetensors.index.json",
            "../model-00001-of-00002.safetensors",
            "not a .safetensors file beside",
        ],
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn gated_missing_and_pickle_only_repos_say_what_they_are() {
    let dir = scratch("errors");
    let cache = dir.join("hub");
    let pickles = dir.join("pickles");
    std::fs::create_dir_all(&pickles).unwrap();
    std::fs::copy(Path::new(HF).join("config.json"), pickles.join("config.json")).unwrap();
    std::fs::write(pickles.join("pytorch_model.bin"), b"PK\x03\x04 not to be unpickled").unwrap();
    let hub = Hub::start(
        &dir,
        serde_json::json!({
            "repos": { "test-org/gated": absolute(HF), "test-org/pickles": pickles },
            "gated": ["test-org/gated"],
        }),
    );
    let run = |id: &str| classify(&[id], &cache, &hub.endpoint, &[]);
    failed_saying(
        &run("test-org/gated"),
        &["test-org/gated is gated or private", "HF_TOKEN"],
    );
    failed_saying(
        &run("test-org/missing"),
        &["test-org/missing: no such file or folder here, nor a model on"],
    );
    failed_saying(
        &run("test-org/pickles"),
        &[
            "test-org/pickles has only PyTorch pickles (pytorch_model.bin)",
            "cannot run code",
        ],
    );
    // The pickle was never fetched.
    let blobs = cache.join("models--test-org--pickles/blobs");
    for blob in blobs.read_dir().unwrap() {
        let bytes = std::fs::read(blob.unwrap().path()).unwrap();
        assert!(!bytes.windows(8).any(|w| w == b"unpickle"));
    }
    // A local folder with only a pickle, too; and what is neither a path nor an id.
    failed_saying(
        &classify(&[pickles.to_str().unwrap()], &cache, NOWHERE, &[]),
        &["has only PyTorch pickles"],
    );
    failed_saying(
        &classify(&["./no/such/folder"], &cache, NOWHERE, &[]),
        &["./no/such/folder: no such file or folder, and not a hub model id"],
    );
    std::fs::remove_dir_all(dir).unwrap();
}
