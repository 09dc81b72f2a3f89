//! Archives people keep their data in (`.tar.gz`, `.tar`, `.zip`), read from memory and bounded
//! whatever their headers claim: at most [`MAX_ARCHIVE`] bytes come out, counted over the whole
//! stream (members, and a tar's long names and PAX headers between them), and a zip may list at
//! most [`MAX_MEMBERS`] members, so that no archive, however it is built, takes more memory than
//! that. `tar` and `zip` parse; the bounds are this module's.

use std::io::{Cursor, Read};

use flate2::read::GzDecoder;

/// The most an archive may give once uncompressed: CIFAR-10's tarballs hold about 185 MB.
pub const MAX_ARCHIVE: u64 = 256 << 20;
/// The most members a zip may list: its central directory is read whole before any member.
pub const MAX_MEMBERS: usize = 100_000;
/// The most memory reserved for a zip member before its bytes are read.
const PRESIZE: u64 = 16 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    TarGz,
    Tar,
    Zip,
}

impl Kind {
    /// The kind of archive `bytes` are, by their magic numbers, or `None` for anything else.
    pub fn of(bytes: &[u8]) -> Option<Kind> {
        if bytes.starts_with(&[0x1f, 0x8b]) {
            Some(Kind::TarGz)
        } else if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
            Some(Kind::Zip)
        } else if bytes.get(257..262) == Some(b"ustar") {
            Some(Kind::Tar)
        } else {
            None
        }
    }
}

/// A file of an archive or a folder: its path inside, and its bytes; a folder itself as `path/`
/// with no bytes.
pub type Member = (String, Vec<u8>);

/// The regular files and the folders of the archive `bytes` (of `kind`) whose paths `wanted`
/// accepts, in the archive's order. `Err` says why the archive cannot be read, or which bound it
/// passes.
pub fn members(bytes: &[u8], kind: Kind, wanted: impl Fn(&str) -> bool) -> Result<Vec<Member>, String> {
    let mut left = MAX_ARCHIVE;
    match kind {
        Kind::TarGz => tar_members(Capped::new(GzDecoder::new(bytes), &mut left), wanted),
        Kind::Tar => tar_members(Capped::new(bytes, &mut left), wanted),
        Kind::Zip => zip_members(bytes, &mut left, wanted),
    }
}

/// A folder is a member too (`path/`, no bytes): an empty class folder is still a class.
fn push_folder(out: &mut Vec<Member>, path: &str, wanted: impl Fn(&str) -> bool) {
    let folder = format!("{}/", path.trim_end_matches('/'));
    if wanted(&folder) {
        out.push((folder, Vec::new()));
    }
}

fn tar_members(stream: impl Read, wanted: impl Fn(&str) -> bool) -> Result<Vec<Member>, String> {
    let mut archive = tar::Archive::new(stream);
    let mut out = Vec::new();
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path().map_err(|e| e.to_string())?.to_string_lossy().into_owned();
        if entry.header().entry_type().is_dir() {
            push_folder(&mut out, &path, &wanted);
            continue;
        }
        if !entry.header().entry_type().is_file() || !wanted(&path) {
            continue;
        }
        // Sized once from the header (capped): growing by doubling would take up to twice the
        // member's size.
        let mut data = Vec::with_capacity(entry.size().min(MAX_ARCHIVE) as usize);
        entry.read_to_end(&mut data).map_err(|e| format!("{path}: {e}"))?;
        out.push((path, data));
    }
    Ok(out)
}

fn zip_members(bytes: &[u8], left: &mut u64, wanted: impl Fn(&str) -> bool) -> Result<Vec<Member>, String> {
    // Each central directory entry starts with this signature: more of them than the bound, and
    // the directory is not parsed at all.
    let listed = bytes.windows(4).filter(|w| *w == b"PK\x01\x02").count();
    if listed > MAX_MEMBERS {
        return Err(format!("it lists more than {MAX_MEMBERS} members"));
    }
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let member = archive.by_index(i).map_err(|e| e.to_string())?;
        let path = member.name().map_err(|e| e.to_string())?.into_owned();
        if member.is_dir() {
            push_folder(&mut out, &path, &wanted);
            continue;
        }
        if !member.is_file() || !wanted(&path) {
            continue;
        }
        // A zip's sizes are claims (a small member may claim 256 MB): the capacity reserved up
        // front is capped, and the bytes read count against the bound as they come.
        let mut data = Vec::with_capacity(member.size().min(*left).min(PRESIZE) as usize);
        Capped::new(member, left)
            .read_to_end(&mut data)
            .map_err(|e| format!("{path}: {e}"))?;
        out.push((path, data));
    }
    Ok(out)
}

/// A reader that fails, rather than read on, once `left` bytes are spent.
struct Capped<'a, R> {
    inner: R,
    left: &'a mut u64,
}

impl<'a, R> Capped<'a, R> {
    fn new(inner: R, left: &'a mut u64) -> Self {
        Self { inner, left }
    }
}

impl<R: Read> Read for Capped<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if *self.left == 0 {
            // At the cap: the end of the stream is fine, more is not.
            return match self.inner.read(&mut [0u8])? {
                0 => Ok(0),
                _ => Err(std::io::Error::other(format!(
                    "larger than {} MB uncompressed",
                    MAX_ARCHIVE >> 20
                ))),
            };
        }
        let n = buf.len().min(usize::try_from(*self.left).unwrap_or(usize::MAX));
        let read = self.inner.read(&mut buf[..n])?;
        *self.left -= read as u64;
        Ok(read)
    }
}
