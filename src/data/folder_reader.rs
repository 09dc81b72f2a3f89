//! A folder of pictures on disk (`vit finetune --train DIR`), read as torchvision's
//! `ImageFolder` finds its files, links followed, but bounded and without surprises from the file
//! system: a link to a file is followed wherever it leads (a data set may link its pictures from
//! a store elsewhere), but a link to a folder only while it stays inside the folder read (one to
//! `/` would walk the whole system); a folder reached a second time (a link back up the tree, two
//! links to one folder) is read once; a file reached twice (the same device and inode) counts once; only regular files
//! are read (a FIFO would block, a device never ends), opened without blocking and read no
//! further than the bytes a run may hold, counted as they are read, not as a file claims; a name
//! that is not UTF-8 cannot become a class or a picture name without two of them merging, so it
//! is skipped; every folder is read, however deep. What is skipped is said in the notes, by name.
//! Class folders, even empty ones, come out as `class/` entries (see `ImageFolder::add_entries`).
//! Read breadth-first, so that a link deep in one class cannot claim another class's folder.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::fs::{self, File, Metadata};
use std::io::Read;
use std::path::{Path, PathBuf};

use super::archive::Member;
use super::image_folder::{MAX_BYTES, room_for};
use crate::error::PicturesError;

/// The most notes a walk keeps: past them, only how many more were skipped.
const MAX_NOTES: usize = 1000;

/// What reading a folder found: its name, its files (paths below it, `/`-separated) and class
/// folders (`class/`), and what was skipped, and why.
#[derive(Debug)]
pub struct FolderRead {
    pub root: String,
    pub entries: Vec<Member>,
    pub notes: Vec<String>,
}

/// Reads the folder `dir`; `total` counts the picture bytes read so far in this run, which holds
/// them all until their features are done ([`MAX_BYTES`] at most).
pub fn read_folder(dir: &Path, total: &mut u64) -> Result<FolderRead, PicturesError> {
    let root = dir.display().to_string().trim_end_matches('/').to_string();
    let unreadable = |reason: String| PicturesError::Unreadable {
        path: root.clone(),
        reason,
    };
    let meta = fs::metadata(dir).map_err(|e| unreadable(e.to_string()))?;
    if !meta.is_dir() {
        return Err(unreadable("not a folder".into()));
    }
    let inside = fs::canonicalize(dir).map_err(|e| unreadable(e.to_string()))?;
    let mut walk = Walk {
        root: root.clone(),
        inside,
        total,
        folders: HashMap::from([(identity(dir, &meta), root.clone())]),
        files: HashMap::new(),
        entries: Vec::new(),
        notes: Vec::new(),
        skipped: 0,
    };
    let mut queue = VecDeque::from([(dir.to_path_buf(), String::new())]);
    while let Some((path, below)) = queue.pop_front() {
        for folder in walk.folder(&path, &below)? {
            queue.push_back(folder);
        }
    }
    if walk.skipped > 0 {
        let more = walk.skipped;
        walk.notes.push(format!("{root}: and {more} more skipped"));
    }
    Ok(FolderRead {
        root,
        entries: walk.entries,
        notes: walk.notes,
    })
}

struct Walk<'a> {
    root: String,
    /// The folder read, links resolved: folders outside it are not walked into.
    inside: PathBuf,
    total: &'a mut u64,
    /// Each folder read, by identity, with the path it was read at.
    folders: HashMap<(u64, u64), String>,
    files: HashMap<(u64, u64), String>,
    entries: Vec<Member>,
    notes: Vec<String>,
    skipped: usize,
}

impl Walk<'_> {
    fn note(&mut self, note: String) {
        match self.notes.len() < MAX_NOTES {
            true => self.notes.push(note),
            false => self.skipped += 1,
        }
    }

    /// Reads the folder at `path` (`below` the root, with its `/`): its files, and the folders in
    /// it to read next.
    fn folder(&mut self, path: &Path, below: &str) -> Result<Vec<(PathBuf, String)>, PicturesError> {
        let at = format!("{}/{below}", self.root);
        let shown = |name: &str| format!("{at}{name}");
        let mut children: Vec<_> = match fs::read_dir(path) {
            Ok(entries) => entries.filter_map(Result::ok).collect(),
            Err(e) => {
                self.note(format!("{}: cannot be read ({e}); skipped", at.trim_end_matches('/')));
                return Ok(Vec::new());
            }
        };
        children.sort_by_key(|e| e.file_name());
        let mut next = Vec::new();
        for child in children {
            let os_name = child.file_name();
            let Some(name) = os_name.to_str() else {
                let lossy = os_name.to_string_lossy();
                self.note(format!(
                    "{}: its name is not UTF-8, and would read the same as others; skipped (rename it to use it)",
                    shown(&lossy)
                ));
                continue;
            };
            // Hidden entries (`.DS_Store`, `.git/`) are no pictures and no classes.
            if name.starts_with('.') {
                continue;
            }
            let full = child.path();
            let meta = match fs::metadata(&full) {
                Ok(meta) => meta,
                Err(e) => {
                    self.note(format!("{}: cannot be read ({e}); skipped", shown(name)));
                    continue;
                }
            };
            let id = identity(&full, &meta);
            if meta.is_dir() {
                let real = fs::canonicalize(&full).unwrap_or_else(|_| full.clone());
                if !real.starts_with(&self.inside) {
                    let note = format!(
                        "{}: a link to {}, outside {}; skipped",
                        shown(name),
                        real.display(),
                        self.root
                    );
                    self.note(note);
                    continue;
                }
                match self.folders.entry(id) {
                    Entry::Occupied(first) => {
                        let note = format!("{}: the folder {} again (a link); skipped", shown(name), first.get());
                        self.note(note);
                    }
                    Entry::Vacant(slot) => {
                        slot.insert(shown(name));
                        if below.is_empty() {
                            self.entries.push((format!("{name}/"), Vec::new()));
                        }
                        next.push((full, format!("{below}{name}/")));
                    }
                }
            } else if !meta.is_file() {
                self.note(format!(
                    "{}: not a regular file ({}); skipped",
                    shown(name),
                    kind(&meta)
                ));
            } else if let Some(first) = self.files.get(&id) {
                let note = format!("{}: the same file as {first}; skipped", shown(name));
                self.note(note);
            } else {
                self.files.insert(id, shown(name));
                match self.read(&full)? {
                    Ok(bytes) => self.entries.push((format!("{below}{name}"), bytes)),
                    Err(reason) => self.note(format!("{}: {reason}; skipped", shown(name))),
                }
            }
        }
        Ok(next)
    }

    /// A regular file's bytes, read no further than the run's bound allows; why not, when it
    /// could not be read. Past the bound, the run stops.
    fn read(&mut self, path: &Path) -> Result<Result<Vec<u8>, String>, PicturesError> {
        let file = match open_without_blocking(path) {
            Ok(file) => file,
            Err(e) => return Ok(Err(format!("cannot be read ({e})"))),
        };
        // What was opened, not what the name pointed at a moment before.
        match file.metadata() {
            Ok(meta) if meta.is_file() => {}
            Ok(meta) => return Ok(Err(format!("not a regular file ({})", kind(&meta)))),
            Err(e) => return Ok(Err(format!("cannot be read ({e})"))),
        }
        let mut bytes = Vec::new();
        let allowed = MAX_BYTES.saturating_sub(*self.total);
        if let Err(e) = file.take(allowed + 1).read_to_end(&mut bytes) {
            return Ok(Err(format!("cannot be read ({e})")));
        }
        room_for(*self.total, bytes.len() as u64, &self.root)?;
        *self.total += bytes.len() as u64;
        Ok(Ok(bytes))
    }
}

/// What a file that is not a regular one is, for a note.
fn kind(meta: &Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
    }
    let _ = meta;
    "not a file or folder"
}

/// A file's identity: its device and inode, where the system has them.
#[cfg(unix)]
fn identity(_: &Path, meta: &Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

/// A file's identity: its canonical path's hash, where there are no inodes.
#[cfg(not(unix))]
fn identity(path: &Path, _: &Metadata) -> (u64, u64) {
    use std::hash::{Hash, Hasher};
    let mut hash = std::collections::hash_map::DefaultHasher::new();
    fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .hash(&mut hash);
    (0, hash.finish())
}

#[cfg(unix)]
fn open_without_blocking(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_without_blocking(path: &Path) -> std::io::Result<File> {
    File::open(path)
}
