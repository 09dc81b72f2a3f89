//! Where `--model` points: a folder, a bare `.safetensors` file (its configs beside it), or a hub
//! id (`hub.rs`). Either way the same files are looked for: `model.safetensors`, or a sharded
//! checkpoint's index and shards, loaded as one; `config.json` and `preprocessor_config.json`
//! where there are. PyTorch pickles are refused by name, never unpickled: loading one can run
//! any code its author wrote.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::Device;
use vit_wasm::fingerprint::Fingerprint;
use vit_wasm::load::safetensors_file::{SafetensorsFile, shard_names};
use vit_wasm::load::{CONFIG_FILE, NamedBytes, PREPROCESSOR_FILE, WEIGHTS_FILE, WEIGHTS_INDEX_FILE};
use vit_wasm::session::Session;

use crate::hub::HubRepo;

#[derive(Debug, thiserror::Error)]
pub enum ModelFilesError {
    #[error(
        "{model} has only PyTorch pickles ({pickle}); this tool reads safetensors, which cannot run code (convert with safetensors' convert.py, or pick a repo that has model.safetensors)"
    )]
    OnlyPickles { model: String, pickle: String },
    #[error("{model}: no {WEIGHTS_FILE} (nor a sharded {WEIGHTS_INDEX_FILE})")]
    NoWeights { model: String },
    #[error("{model}: shard {shard}, named by {WEIGHTS_INDEX_FILE}, is missing")]
    MissingShard { model: String, shard: String },
    #[error("--revision {revision}: {model} is a local path, which has no revisions")]
    RevisionOfPath { model: String, revision: String },
}

/// A model's files, by path.
pub struct ModelFiles {
    /// The weights: one file, or a sharded checkpoint's index and its shards.
    weights: Weights,
    config: Option<PathBuf>,
    preprocessor: Option<PathBuf>,
}

enum Weights {
    One(PathBuf),
    Shards { index: PathBuf, shards: Vec<PathBuf> },
}

/// A folder or a hub repo, asked for files by name.
enum Source {
    Folder(PathBuf),
    Hub(HubRepo),
}

impl Source {
    fn name(&self) -> String {
        match self {
            Source::Folder(dir) => dir.display().to_string(),
            Source::Hub(repo) => repo.id().to_string(),
        }
    }

    fn find(&self, file: &str, required: bool) -> Result<Option<PathBuf>> {
        Ok(match self {
            Source::Folder(dir) => Some(dir.join(file)).filter(|p| p.is_file()),
            Source::Hub(repo) => repo.file(file, required)?,
        })
    }

    /// A pickle the source holds, named for the message.
    fn pickle(&self) -> Result<Option<String>> {
        Ok(match self {
            Source::Folder(dir) => ["pytorch_model.bin", "model.pth"]
                .into_iter()
                .find(|f| dir.join(f).is_file())
                .map(str::to_string),
            Source::Hub(repo) => repo.has_pickles()?.then(|| "pytorch_model.bin".to_string()),
        })
    }
}

impl ModelFiles {
    /// Finds `model`'s files: an existing path as it is, else a hub id at `revision`.
    pub fn find(model: &str, revision: Option<&str>) -> Result<Self> {
        let path = Path::new(model);
        let source = if path.exists() {
            if let Some(revision) = revision {
                let model = model.into();
                bail!(ModelFilesError::RevisionOfPath {
                    model,
                    revision: revision.into()
                });
            }
            if !path.is_dir() {
                // Configs beside a bare weights file are used too.
                let dir = Source::Folder(path.parent().unwrap_or(Path::new(".")).to_path_buf());
                return Ok(Self {
                    weights: Weights::One(path.to_path_buf()),
                    config: dir.find(CONFIG_FILE, false)?,
                    preprocessor: dir.find(PREPROCESSOR_FILE, false)?,
                });
            }
            Source::Folder(path.to_path_buf())
        } else {
            Source::Hub(HubRepo::new(model, revision)?)
        };
        let config = source.find(CONFIG_FILE, false)?;
        let weights = match source.find(WEIGHTS_FILE, false)? {
            Some(file) => Weights::One(file),
            None => match source.find(WEIGHTS_INDEX_FILE, false)? {
                Some(index) => Weights::Shards {
                    shards: Self::shards(&source, &index)?,
                    index,
                },
                None => {
                    let model = source.name();
                    if let Some(pickle) = source.pickle()? {
                        bail!(ModelFilesError::OnlyPickles { model, pickle });
                    }
                    // Offline, the hub's own message (not in the cache) says more.
                    source.find(WEIGHTS_FILE, true)?;
                    bail!(ModelFilesError::NoWeights { model });
                }
            },
        };
        let preprocessor = source.find(PREPROCESSOR_FILE, false)?;
        Ok(Self {
            weights,
            config,
            preprocessor,
        })
    }

    fn shards(source: &Source, index: &Path) -> Result<Vec<PathBuf>> {
        let names = shard_names(&index.display().to_string(), &read(index)?)?;
        names
            .into_iter()
            .map(|shard| {
                let model = source.name();
                source
                    .find(&shard, true)?
                    .ok_or_else(|| ModelFilesError::MissingShard { model, shard }.into())
            })
            .collect()
    }

    /// Every file, the weights first.
    pub fn paths(&self) -> Vec<&Path> {
        let weights: Vec<&Path> = match &self.weights {
            Weights::One(file) => vec![file],
            Weights::Shards { index, shards } => std::iter::once(index).chain(shards).map(PathBuf::as_path).collect(),
        };
        let configs = [&self.config, &self.preprocessor].into_iter().flatten();
        weights.into_iter().chain(configs.map(PathBuf::as_path)).collect()
    }

    /// Loads the model onto `device`, one shard in memory at a time beside the tensors.
    pub fn load(&self, device: &Device) -> Result<Session> {
        let named = |p: &Path| -> Result<(String, Vec<u8>)> { Ok((p.display().to_string(), read(p)?)) };
        let mut hash = Fingerprint::default();
        let mut parse = |path: &Path| -> Result<SafetensorsFile> {
            let (name, bytes) = named(path)?;
            hash.update(&bytes);
            Ok(SafetensorsFile::parse(&name, &bytes)?)
        };
        let weights = match &self.weights {
            Weights::One(file) => parse(file)?,
            Weights::Shards { index, shards } => {
                let shards = shards.iter().map(|s| parse(s)).collect::<Result<Vec<_>>>()?;
                SafetensorsFile::join(&index.display().to_string(), shards)?
            }
        };
        let config = self.config.as_deref().map(named).transpose()?;
        let preprocessor = self.preprocessor.as_deref().map(named).transpose()?;
        fn nb((name, bytes): &(String, Vec<u8>)) -> NamedBytes<'_> {
            NamedBytes { name, bytes }
        }
        Ok(Session::from_weights(
            weights,
            hash,
            config.as_ref().map(nb),
            preprocessor.as_ref().map(nb),
            device,
        )?)
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}
