//! A person's own pictures, sorted into classes by folder as torchvision's `ImageFolder` sorts
//! them (`root/cat/*.jpg`, `root/dog/*.png`): the classes are the folder names in sorted order.
//! The CLI reads one from folders; the page edits one as class cards (classes added, renamed,
//! emptied and removed, pictures added from folders, archives or the webcam, one removed). Each
//! picture keeps its file's bytes and is decoded again when its features are computed: a photo's
//! bytes are a tenth of its pixels.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::Serialize;

use crate::data::archive::{self, Kind, Member};
use crate::data::image::decode;
use crate::data::preprocess::thumbnail;
use crate::error::{ImageError, PicturesError, VitError};
use crate::fingerprint::Fingerprint;

/// The most classes a head here has (labels are bytes).
pub const MAX_CLASSES: usize = 256;

/// The most picture bytes a folder holds: the files stay in memory until their features are
/// computed, and in a browser that memory is the tab's 4 GB of wasm memory, the model's too.
pub const MAX_BYTES: u64 = 1 << 30;

/// What a picture is for: training, or only testing (from a separate test folder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Train,
    Test,
}

impl FromStr for Role {
    type Err = VitError;

    fn from_str(s: &str) -> Result<Self, VitError> {
        match s {
            "train" => Ok(Role::Train),
            "test" => Ok(Role::Test),
            _ => Err(VitError::Request(format!("unknown role `{s}`: use train or test"))),
        }
    }
}

/// One picture: its path (for errors) and file, its class and role, and a hash of its bytes (what
/// its features are cached by, so that the same picture added again is not computed again).
#[derive(Debug, Clone)]
pub struct Picture {
    pub name: String,
    pub bytes: Vec<u8>,
    pub label: u8,
    pub role: Role,
    pub fingerprint: String,
}

impl Picture {
    /// A picture of class `label`, if its bytes are an image this app reads.
    pub fn new(name: String, bytes: Vec<u8>, label: u8, role: Role) -> Result<Self, ImageError> {
        decode(&name, &bytes)?;
        Ok(Self {
            fingerprint: Fingerprint::default().part(&bytes).hex(),
            name,
            bytes,
            label,
            role,
        })
    }
}

#[derive(Debug, Clone)]
pub struct ImageFolder {
    /// The root's name, for messages.
    pub root: String,
    pub class_names: Vec<String>,
    pub pictures: Vec<Picture>,
}

/// Whether `more` bytes of pictures (`what`, for the message) fit beside `held`: at most
/// [`MAX_BYTES`] in all.
pub fn room_for(held: u64, more: u64, what: &str) -> Result<(), PicturesError> {
    match held.saturating_add(more) <= MAX_BYTES {
        true => Ok(()),
        false => Err(PicturesError::TooManyBytes {
            what: what.into(),
            limit_mb: MAX_BYTES >> 20,
        }),
    }
}

/// A class as the page's card shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassSummary {
    pub name: String,
    /// Its pictures to train on, and those of a test folder.
    pub train: usize,
    pub test: usize,
    /// Its last pictures, the ones a card shows.
    pub shown: Vec<usize>,
}

/// What a folder holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FolderSummary {
    pub classes: Vec<ClassSummary>,
    pub pictures: usize,
}

/// `(path below the root, bytes)` entries, `/`-separated (a folder's ending in `/`), with the
/// folder that holds the class folders: a dropped `data/` arrives as `data/cat/1.jpg`, its class
/// folders themselves as `cat/1.jpg`. When every entry is under one folder and some files are two
/// folders down, that folder is the root (named for messages); else the entries are below `root`
/// as they are.
pub fn below_common_root(root: &str, entries: Vec<Member>) -> (String, Vec<Member>) {
    let entries: Vec<(Vec<String>, bool, Vec<u8>)> = entries
        .into_iter()
        .filter(|(p, _)| !hidden(p))
        .map(|(p, bytes)| (components(&p).map(str::to_string).collect(), p.ends_with('/'), bytes))
        .collect();
    let common = entries.first().and_then(|(parts, _, _)| parts.first().cloned());
    let shared = common
        .as_ref()
        .is_some_and(|c| entries.iter().all(|(parts, _, _)| parts.first() == Some(c)));
    let deep = entries.iter().any(|(parts, folder, _)| parts.len() >= 3 && !folder);
    let (root, skip) = match common {
        Some(common) if shared && deep => (common, 1),
        _ => (root.to_string(), 0),
    };
    let below = entries
        .into_iter()
        .filter(|(parts, _, _)| parts.len() > skip)
        .map(|(parts, folder, bytes)| {
            let path = parts[skip..].join("/");
            (if folder { format!("{path}/") } else { path }, bytes)
        })
        .collect();
    (root, below)
}

/// Some of `names`, for a message that stays short: the first few, then how many more.
fn some_of(names: &[String]) -> String {
    const SHOWN: usize = 5;
    match names.len().checked_sub(SHOWN) {
        Some(more) if more > 0 => format!("{} and {more} more", names[..SHOWN].join(", ")),
        _ => names.join(", "),
    }
}

/// A `/`-separated path's names, without the empty and `.` ones (`./cat//1.jpg` is `cat/1.jpg`:
/// `tar -C dir .` writes such paths).
fn components(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|p| !p.is_empty() && *p != ".")
}

/// Whether a path is hidden (`.DS_Store`, `.git/`) or macOS's resource forks in a zip
/// (`__MACOSX/`): never a picture or a class.
fn hidden(path: &str) -> bool {
    components(path).any(|p| p.starts_with('.') || p == "__MACOSX")
}

impl ImageFolder {
    /// No classes yet.
    pub fn new(root: &str) -> Self {
        Self {
            root: root.into(),
            class_names: Vec::new(),
            pictures: Vec::new(),
        }
    }

    /// The pictures of a folder of class folders, and the notes of [`Self::add_entries`]. Two
    /// classes at least.
    pub fn from_entries(
        root: &str,
        entries: impl IntoIterator<Item = Member>,
    ) -> Result<(Self, Vec<String>), PicturesError> {
        let mut folder = Self::new(root);
        let notes = folder.add_entries(root, entries, Role::Train)?;
        folder.two_classes()?;
        Ok((folder, notes))
    }

    /// Adds the pictures of `entries` (paths below `root`, which names them), each in the class
    /// its first folder names; a folder's own entry (`cat/`) makes it a class even with no
    /// pictures in it, which training then refuses by name rather than leave out. For training,
    /// classes not here yet are added, in sorted order; a test folder's classes must all be here.
    /// Files directly under the root belong to no class, and files that are not images this app
    /// reads are skipped, each with why in the notes returned; hidden files (`.DS_Store`, macOS's
    /// `__MACOSX` folders) are passed over.
    pub fn add_entries(
        &mut self,
        root: &str,
        entries: impl IntoIterator<Item = Member>,
        role: Role,
    ) -> Result<Vec<String>, PicturesError> {
        let mut by_class: BTreeMap<String, Vec<Picture>> = BTreeMap::new();
        let mut notes = Vec::new();
        for (path, bytes) in entries {
            if hidden(&path) {
                continue;
            }
            let parts: Vec<&str> = components(&path).collect();
            if path.ends_with('/') {
                // A test folder's empty class has nothing to test on: no class of its own.
                if let ([class], Role::Train) = (parts.as_slice(), role) {
                    by_class.entry(class.to_string()).or_default();
                }
                continue;
            }
            let name = format!("{root}/{}", parts.join("/"));
            let [class, _, ..] = parts.as_slice() else {
                notes.push(format!("{name}: not in a class folder, skipped"));
                continue;
            };
            match Picture::new(name, bytes, 0, role) {
                Ok(picture) => by_class.entry(class.to_string()).or_default().push(picture),
                Err(e) => notes.push(format!("{e}; skipped")),
            }
        }
        let adding = by_class.values().flatten().map(|p| p.bytes.len() as u64).sum();
        self.check_room(root, adding)?;
        let new: Vec<&String> = by_class.keys().filter(|c| !self.class_names.contains(c)).collect();
        if let (Some(class), Role::Test) = (new.first(), role) {
            return Err(PicturesError::UnknownClass {
                root: root.into(),
                class: class.to_string(),
                known: some_of(&self.class_names),
            });
        }
        if self.class_names.len() + new.len() > MAX_CLASSES {
            return Err(PicturesError::TooManyClasses {
                root: root.into(),
                count: self.class_names.len() + new.len(),
            });
        }
        for (class, mut pictures) in by_class {
            let label = match self.class_names.iter().position(|c| *c == class) {
                Some(label) => label,
                None => {
                    self.class_names.push(class);
                    self.class_names.len() - 1
                }
            };
            // Sorted, so that a seed picks the same pictures whatever order the files came in.
            pictures.sort_by(|a, b| a.name.cmp(&b.name));
            self.pictures.extend(pictures.into_iter().map(|p| Picture {
                label: label as u8,
                ..p
            }));
        }
        Ok(notes)
    }

    /// Adds files a person dropped or chose: the files of folders of class folders (paths from
    /// the dropped folder down, see [`below_common_root`]; `root` names them when they share no
    /// folder), and `.zip`, `.tar` and `.tar.gz` archives of such folders (bounded, see
    /// `data::archive`). What cannot be added is skipped and said in the notes returned: files that
    /// are no pictures, archives that cannot be read, and a folder or archive that
    /// [`Self::add_entries`] refuses (each is added whole or not at all). The rest go on.
    pub fn add_files(&mut self, root: &str, files: impl IntoIterator<Item = Member>, role: Role) -> Vec<String> {
        let mut notes = Vec::new();
        let add = |folder: &mut Self, (root, entries): (String, Vec<Member>)| match folder
            .add_entries(&root, entries, role)
        {
            Ok(skipped) => skipped,
            Err(e) => vec![format!("{e}; skipped")],
        };
        let mut loose = Vec::new();
        for (path, bytes) in files {
            let Some(kind) = Kind::of(&bytes) else {
                loose.push((path, bytes));
                continue;
            };
            let name = path.rsplit('/').next().unwrap_or(&path).to_string();
            match archive::members(&bytes, kind, |_| true) {
                Ok(members) => notes.extend(add(self, below_common_root(&name, members))),
                Err(reason) => notes.push(format!("{}; skipped", PicturesError::Archive { file: name, reason })),
            }
        }
        if !loose.is_empty() {
            notes.extend(add(self, below_common_root(root, loose)));
        }
        notes
    }

    /// Adds an empty class; its label.
    pub fn add_class(&mut self, name: &str) -> Result<u8, PicturesError> {
        let name = self.free_name(name, None)?;
        if self.class_names.len() == MAX_CLASSES {
            return Err(PicturesError::TooManyClasses {
                root: self.root.clone(),
                count: MAX_CLASSES + 1,
            });
        }
        self.class_names.push(name);
        Ok((self.class_names.len() - 1) as u8)
    }

    pub fn rename_class(&mut self, label: usize, name: &str) -> Result<(), PicturesError> {
        self.check_class(label)?;
        self.class_names[label] = self.free_name(name, Some(label))?;
        Ok(())
    }

    /// Removes a class and its pictures; the classes after it move up one label.
    pub fn remove_class(&mut self, label: usize) -> Result<(), PicturesError> {
        self.clear_class(label)?;
        self.class_names.remove(label);
        for p in &mut self.pictures {
            if usize::from(p.label) > label {
                p.label -= 1;
            }
        }
        Ok(())
    }

    /// Removes a class's pictures, keeping the class.
    pub fn clear_class(&mut self, label: usize) -> Result<(), PicturesError> {
        self.check_class(label)?;
        self.pictures.retain(|p| usize::from(p.label) != label);
        Ok(())
    }

    /// Adds one picture to class `label`, if it is an image this app reads and there is room.
    pub fn add_picture(&mut self, label: usize, name: String, bytes: Vec<u8>, role: Role) -> Result<(), VitError> {
        self.check_class(label)?;
        self.check_room(&name, bytes.len() as u64)?;
        self.pictures.push(Picture::new(name, bytes, label as u8, role)?);
        Ok(())
    }

    /// Adds pictures to class `label` for training (a person's files, webcam frames): those that
    /// are no images this app reads are skipped, each with why in the notes returned.
    pub fn add_to_class(
        &mut self,
        label: usize,
        files: impl IntoIterator<Item = Member>,
    ) -> Result<Vec<String>, VitError> {
        let mut notes = Vec::new();
        for (name, bytes) in files {
            match self.add_picture(label, name, bytes, Role::Train) {
                Err(VitError::Image(e)) => notes.push(format!("{e}; skipped")),
                other => other?,
            }
        }
        Ok(notes)
    }

    /// The bytes of the pictures held.
    pub fn bytes(&self) -> u64 {
        self.pictures.iter().map(|p| p.bytes.len() as u64).sum()
    }

    /// Whether `more` bytes of pictures (`what`, for the message) fit beside those held.
    pub fn check_room(&self, what: &str, more: u64) -> Result<(), PicturesError> {
        room_for(self.bytes(), more, what)
    }

    /// Picture `index`.
    pub fn picture(&self, index: usize) -> Result<&Picture, PicturesError> {
        self.pictures.get(index).ok_or(PicturesError::NoSuchPicture { index })
    }

    /// Pictures `indices`, each through `f`.
    pub fn each<T>(&self, indices: &[usize], f: impl Fn(&Picture) -> T) -> Result<Vec<T>, PicturesError> {
        indices.iter().map(|&i| self.picture(i).map(&f)).collect()
    }

    /// Pictures `indices` as `side` x `side` RGBA thumbnails of their centres (`side` from 1 to
    /// 256), one after the other.
    pub fn thumbnails(&self, indices: &[usize], side: usize) -> Result<Vec<u8>, VitError> {
        let side = side.clamp(1, 256);
        let shown = self.each(indices, |p| {
            decode(&p.name, &p.bytes).map(|image| thumbnail(&image, side))
        })?;
        Ok(shown.into_iter().collect::<Result<Vec<_>, _>>()?.concat())
    }

    /// Each class's counts and its last `shown` pictures.
    pub fn summary(&self, shown: usize) -> FolderSummary {
        let (train, test) = (self.counts(Role::Train), self.counts(Role::Test));
        let classes = (self.class_names.iter().enumerate())
            .map(|(label, name)| {
                let members: Vec<usize> = (0..self.pictures.len())
                    .filter(|&i| usize::from(self.pictures[i].label) == label)
                    .collect();
                ClassSummary {
                    name: name.clone(),
                    train: train[label],
                    test: test[label],
                    shown: members[members.len().saturating_sub(shown)..].to_vec(),
                }
            })
            .collect();
        FolderSummary {
            classes,
            pictures: self.pictures.len(),
        }
    }

    pub fn remove_picture(&mut self, index: usize) -> Result<Picture, PicturesError> {
        if index >= self.pictures.len() {
            return Err(PicturesError::NoSuchPicture { index });
        }
        Ok(self.pictures.remove(index))
    }

    /// Whether a head can be trained on these pictures: two classes at least, each with pictures
    /// to train on.
    pub fn check_trainable(&self) -> Result<(), PicturesError> {
        self.two_classes()?;
        match self.counts(Role::Train).iter().position(|&n| n == 0) {
            Some(label) => Err(PicturesError::EmptyClass {
                root: self.root.clone(),
                class: self.class_names[label].clone(),
            }),
            None => Ok(()),
        }
    }

    pub fn labels(&self) -> Vec<u8> {
        self.pictures.iter().map(|p| p.label).collect()
    }

    /// How many pictures of `role` each class has.
    pub fn counts(&self, role: Role) -> Vec<usize> {
        let mut counts = vec![0; self.class_names.len()];
        for p in self.pictures.iter().filter(|p| p.role == role) {
            counts[usize::from(p.label)] += 1;
        }
        counts
    }

    fn two_classes(&self) -> Result<(), PicturesError> {
        let found = match self.class_names.as_slice() {
            [] => "no folder of pictures".to_string(),
            [one] => format!("one class ({one})"),
            _ => return Ok(()),
        };
        Err(PicturesError::TooFewClasses {
            root: self.root.clone(),
            found,
        })
    }

    fn check_class(&self, label: usize) -> Result<(), PicturesError> {
        match label < self.class_names.len() {
            true => Ok(()),
            false => Err(PicturesError::NoSuchClass { label }),
        }
    }

    /// `name` trimmed, if no class but `except` has it.
    fn free_name(&self, name: &str, except: Option<usize>) -> Result<String, PicturesError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(PicturesError::NoName);
        }
        match self.class_names.iter().position(|c| c == name) {
            Some(other) if Some(other) != except => Err(PicturesError::DuplicateClass { name: name.into() }),
            _ => Ok(name.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png() -> Vec<u8> {
        let mut bytes = Vec::new();
        image::RgbImage::new(2, 2)
            .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
            .unwrap();
        bytes
    }

    #[test]
    fn the_common_folder_of_a_dropped_folder_is_its_root() {
        let paths = |entries: &[(String, Vec<u8>)]| entries.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
        let dropped = vec![
            ("data/cat/1.png".into(), vec![]),
            ("data/README".into(), vec![]),
            ("__MACOSX/data/cat/._1.png".into(), vec![]),
        ];
        let (root, below) = below_common_root("pictures", dropped);
        assert_eq!(
            (root.as_str(), paths(&below)),
            ("data", vec!["cat/1.png".into(), "README".into()])
        );
        // Class folders dropped themselves, and one class folder alone, stay as they are.
        let classes = vec![("cat/1.png".into(), vec![]), ("dog/1.png".into(), vec![])];
        assert_eq!(
            below_common_root("pictures", classes.clone()),
            ("pictures".into(), classes)
        );
        let one = vec![("cat/1.png".into(), vec![])];
        assert_eq!(below_common_root("pictures", one.clone()).1, one);
        // `tar -C data .` writes `./cat/1.png`.
        let dotted = vec![("./cat/1.png".into(), vec![]), ("./dog//2.png".into(), vec![])];
        let (root, below) = below_common_root("pictures", dotted);
        assert_eq!(
            (root.as_str(), paths(&below)),
            ("pictures", vec!["cat/1.png".into(), "dog/2.png".into()])
        );
    }

    #[test]
    fn classes_are_added_renamed_emptied_and_removed() {
        let mut folder = ImageFolder::new("pictures");
        let cat = folder.add_class(" cat ").unwrap();
        assert_eq!(folder.add_class("dog").unwrap(), 1);
        assert!(matches!(
            folder.add_class("cat"),
            Err(PicturesError::DuplicateClass { .. })
        ));
        assert!(matches!(folder.add_class("  "), Err(PicturesError::NoName)));
        folder
            .add_picture(usize::from(cat), "cam/1.png".into(), png(), Role::Train)
            .unwrap();
        folder.add_picture(1, "cam/2.png".into(), png(), Role::Train).unwrap();
        assert!(matches!(
            folder.add_picture(0, "cam/3.png".into(), b"not an image".to_vec(), Role::Train),
            Err(VitError::Image(_))
        ));
        folder.rename_class(1, "kitten").unwrap();
        assert!(matches!(
            folder.rename_class(1, "cat"),
            Err(PicturesError::DuplicateClass { .. })
        ));
        folder.rename_class(1, "kitten").unwrap();
        folder.add_class("bird").unwrap();
        folder.clear_class(0).unwrap();
        assert_eq!(folder.counts(Role::Train), [0, 1, 0]);
        assert!(matches!(folder.check_trainable(), Err(PicturesError::EmptyClass { ref class, .. }) if class == "cat"));
        folder.remove_class(0).unwrap();
        assert_eq!(folder.class_names, ["kitten", "bird"]);
        assert_eq!(folder.labels(), [0]);
        assert!(matches!(
            folder.remove_class(2),
            Err(PicturesError::NoSuchClass { label: 2 })
        ));
        assert_eq!(
            folder.summary(8).classes[0],
            ClassSummary {
                name: "kitten".into(),
                train: 1,
                test: 0,
                shown: vec![0]
            }
        );
        assert_eq!(folder.thumbnails(&[0], 4).unwrap().len(), 4 * 4 * 4);
        assert!(matches!(
            folder.thumbnails(&[1], 4),
            Err(VitError::Pictures(PicturesError::NoSuchPicture { index: 1 }))
        ));
        assert_eq!(folder.remove_picture(0).unwrap().name, "cam/2.png");
        assert!(matches!(
            folder.remove_picture(0),
            Err(PicturesError::NoSuchPicture { .. })
        ));
    }

    #[test]
    fn what_cannot_be_added_to_a_class_is_noted_and_the_rest_goes_in() {
        let mut folder = ImageFolder::new("pictures");
        folder.add_class("cat").unwrap();
        let notes = folder
            .add_to_class(0, [("a.png".into(), png()), ("notes.txt".into(), b"hello".to_vec())])
            .unwrap();
        assert_eq!(folder.pictures.len(), 1);
        assert_eq!(notes.len(), 1);
        assert!(notes[0].starts_with("notes.txt: not an image"), "{notes:?}");
        assert!(matches!(
            folder.add_to_class(3, [("b.png".into(), png())]),
            Err(VitError::Pictures(PicturesError::NoSuchClass { label: 3 }))
        ));
    }

    #[test]
    fn a_folder_holds_at_most_its_bytes() {
        let mut folder = ImageFolder::new("pictures");
        folder.add_class("cat").unwrap();
        folder.add_picture(0, "a.png".into(), png(), Role::Train).unwrap();
        let held = folder.bytes();
        assert_eq!(held, png().len() as u64);
        assert!(folder.check_room("more", MAX_BYTES - held).is_ok());
        let e = folder.check_room("big.zip", MAX_BYTES - held + 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "big.zip: more than 1024 MB of pictures; use fewer or smaller ones"
        );
    }
}
