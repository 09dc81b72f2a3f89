//! Models by their hub name (`google/vit-base-patch16-224`), found as `transformers` and timm
//! find them: in the Hugging Face cache first, in its own layout (`models--ORG--NAME/refs/REV` →
//! `snapshots/COMMIT/FILE`, `.no_exist/COMMIT/FILE` for a file the repo lacks), so that a model
//! Python downloaded loads with no network call; else downloaded into that same cache.
//!
//! Downloads are the `hf-hub` crate's (as in candle's examples): a `.sync.part` file resumed with
//! a range request, a progress bar, blobs linked from the snapshot. The cache lookup is written
//! here because the crate's reads only `refs/REV` (a commit hash as the revision would always go
//! to the network) and knows neither `HF_HUB_CACHE` nor `.no_exist`, and its endpoint and token
//! come from `HF_ENDPOINT` and `HF_TOKEN` only when passed in.

use std::path::PathBuf;

use hf_hub::api::sync::{ApiBuilder, ApiError, ApiRepo};
use hf_hub::{Repo, RepoType};

/// What can go wrong between a hub id and its files, each said with the id.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(
        "{id}: no such file or folder, and not a hub model id (ORG/NAME, as google/vit-base-patch16-224: letters, digits, `-`, `_` and `.`)"
    )]
    BadId { id: String },
    #[error(
        "{id} is gated or private on the hub: accept its terms on {endpoint}/{id} and set HF_TOKEN to a token with access"
    )]
    Gated { id: String, endpoint: String },
    #[error(
        "{id}: no such file or folder here, nor a model on {endpoint} (if it is private, set HF_TOKEN to a token with access)"
    )]
    NotFound { id: String, endpoint: String },
    #[error("{id}: revision `{revision}` not found on {endpoint}")]
    NoRevision {
        id: String,
        revision: String,
        endpoint: String,
    },
    #[error("{id}: {file} is not in the Hugging Face cache ({cache}) and HF_HUB_OFFLINE is set")]
    NotCached { id: String, file: String, cache: String },
    #[error(
        "{id}: cannot reach {endpoint} for {file} ({reason}); offline, a model already in the cache ({cache}) still loads"
    )]
    Unreachable {
        id: String,
        file: String,
        endpoint: String,
        reason: String,
        cache: String,
    },
    #[error("{id}: downloading {file} failed ({reason}); run the command again to resume")]
    Download { id: String, file: String, reason: String },
}

/// One model repository at one revision, through the cache.
pub struct HubRepo {
    id: String,
    revision: String,
    /// The cache's `models--ORG--NAME` folder.
    folder: PathBuf,
    cache: PathBuf,
    endpoint: String,
    offline: bool,
}

/// `HF_HUB_CACHE`, else `HF_HOME/hub`, else `XDG_CACHE_HOME/huggingface/hub`, else
/// `~/.cache/huggingface/hub`: `huggingface_hub`'s order.
fn cache_dir() -> PathBuf {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("HF_HUB_CACHE").unwrap_or_else(|| {
        let home = var("HF_HOME").unwrap_or_else(|| {
            let cache = var("XDG_CACHE_HOME").unwrap_or_else(|| var("HOME").unwrap_or_default().join(".cache"));
            cache.join("huggingface")
        });
        home.join("hub")
    })
}

/// `huggingface_hub`'s reading of a yes/no variable.
fn env_true(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| ["1", "on", "yes", "true"].contains(&v.to_ascii_lowercase().as_str()))
}

/// The hub's rules for a repo id, short of its length limit: what is left cannot name a path.
pub fn is_model_id(id: &str) -> bool {
    let name_ok = |part: &str| {
        !part.is_empty()
            && part.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && !part.starts_with(['-', '.'])
            && !part.contains("--")
            && !part.contains("..")
    };
    match id.split_once('/') {
        Some((org, name)) => name_ok(org) && name_ok(name),
        None => name_ok(id),
    }
}

/// Whether `revision` is a commit hash, which names its snapshot directly.
fn is_commit(revision: &str) -> bool {
    revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit())
}

impl HubRepo {
    pub fn new(id: &str, revision: Option<&str>) -> Result<Self, HubError> {
        if !is_model_id(id) {
            return Err(HubError::BadId { id: id.into() });
        }
        let revision = revision.unwrap_or("main").to_string();
        let mut cache = cache_dir();
        if cache.is_relative() {
            // hf-hub links blobs by paths relative to absolute ones.
            cache = std::env::current_dir().unwrap_or_default().join(cache);
        }
        let folder = cache.join(Repo::model(id.into()).folder_name());
        Ok(Self {
            id: id.into(),
            revision,
            folder,
            cache,
            endpoint: std::env::var("HF_ENDPOINT")
                .ok()
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| "https://huggingface.co".into())
                .trim_end_matches('/')
                .into(),
            offline: env_true("HF_HUB_OFFLINE"),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The commit the revision names, as the cache records it.
    fn commit(&self) -> Option<String> {
        if is_commit(&self.revision) {
            return Some(self.revision.clone());
        }
        let commit = std::fs::read_to_string(self.folder.join("refs").join(&self.revision)).ok()?;
        Some(commit.trim().to_string()).filter(|c| !c.is_empty())
    }

    /// `Some(path)` of a file in the cache, `Some(None)` where the cache records that the repo
    /// lacks it, `None` where the cache does not know.
    fn cached(&self, file: &str) -> Option<Option<PathBuf>> {
        let commit = self.commit()?;
        let path = self.folder.join("snapshots").join(&commit).join(file);
        if path.is_file() {
            return Some(Some(path));
        }
        let absent = self.folder.join(".no_exist").join(&commit).join(file);
        absent.exists().then_some(None)
    }

    fn api(&self) -> Result<ApiRepo, HubError> {
        let mut builder = ApiBuilder::new()
            .with_cache_dir(self.cache.clone())
            .with_endpoint(self.endpoint.clone())
            .with_progress(true);
        if let Ok(token) = std::env::var("HF_TOKEN") {
            builder = builder.with_token(Some(token));
        }
        let api = builder
            .build()
            .map_err(|e| self.unreachable("the hub", e.to_string()))?;
        let repo = Repo::with_revision(self.id.clone(), RepoType::Model, self.revision.clone());
        Ok(api.repo(repo))
    }

    fn unreachable(&self, file: &str, reason: String) -> HubError {
        HubError::Unreachable {
            id: self.id.clone(),
            file: file.into(),
            endpoint: self.endpoint.clone(),
            reason,
            cache: self.cache.display().to_string(),
        }
    }

    /// A file of the repo: from the cache, else downloaded into it. `None` where the repo has no
    /// such file, or, offline, where the cache does not have it and it is not `required`.
    pub fn file(&self, file: &str, required: bool) -> Result<Option<PathBuf>, HubError> {
        if let Some(known) = self.cached(file) {
            return Ok(known);
        }
        if self.offline {
            if !required {
                return Ok(None);
            }
            return Err(HubError::NotCached {
                id: self.id.clone(),
                file: file.into(),
                cache: self.cache.display().to_string(),
            });
        }
        match self.api()?.download(file) {
            Ok(path) => Ok(Some(path)),
            Err(e) => self.failed(file, e),
        }
    }

    /// Whether the repo holds PyTorch pickles (`*.bin`, `*.pth`), from its file list.
    pub fn has_pickles(&self) -> Result<bool, HubError> {
        if self.offline {
            return Ok(false);
        }
        match self.api()?.info() {
            Ok(info) => Ok(info
                .siblings
                .iter()
                .any(|s| s.rfilename.ends_with(".bin") || s.rfilename.ends_with(".pth"))),
            Err(e) => self.failed("the file list", e).map(|_| false),
        }
    }

    /// A failed request as the hub meant it (its `X-Error-Code`): an absent file is `None`, and
    /// is recorded as the cache records it so that the next run asks no more.
    fn failed(&self, file: &str, error: ApiError) -> Result<Option<PathBuf>, HubError> {
        let ApiError::RequestError(request) = &error else {
            return Err(HubError::Download {
                id: self.id.clone(),
                file: file.into(),
                reason: error.to_string(),
            });
        };
        let ureq::Error::Status(status, response) = request.as_ref() else {
            return Err(self.unreachable(file, request.to_string()));
        };
        let id = self.id.clone();
        let endpoint = self.endpoint.clone();
        match (*status, response.header("x-error-code")) {
            (_, Some("GatedRepo")) | (403, _) => Err(HubError::Gated { id, endpoint }),
            (_, Some("RepoNotFound")) | (401, _) => Err(HubError::NotFound { id, endpoint }),
            (_, Some("RevisionNotFound")) => Err(HubError::NoRevision {
                id,
                revision: self.revision.clone(),
                endpoint,
            }),
            (404, _) => {
                if let Some(commit) = self.commit() {
                    let absent = self.folder.join(".no_exist").join(commit).join(file);
                    // Only a saving: without the mark the next run asks again.
                    let _ = absent.parent().map(std::fs::create_dir_all);
                    let _ = std::fs::write(&absent, b"");
                }
                Ok(None)
            }
            (status, _) => Err(self.unreachable(file, format!("HTTP {status}"))),
        }
    }
}
