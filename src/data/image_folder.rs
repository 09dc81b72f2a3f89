//! A person's own pictures, sorted into classes by folder as torchvision's `ImageFolder` sorts
//! them (`root/cat/*.jpg`, `root/dog/*.png`): the classes are the folder names in sorted order.
//! Each picture keeps its file's bytes and is decoded again when its features are computed: a
//! photo's bytes are a tenth of its pixels.

use std::collections::BTreeMap;

use crate::data::image::decode;
use crate::error::PicturesError;

/// One picture: its path (for errors) and file, and its class.
#[derive(Debug, Clone)]
pub struct Picture {
    pub name: String,
    pub bytes: Vec<u8>,
    pub label: u8,
}

#[derive(Debug, Clone)]
pub struct ImageFolder {
    /// The root's name, for messages.
    pub root: String,
    pub class_names: Vec<String>,
    pub pictures: Vec<Picture>,
}

impl ImageFolder {
    /// From `(path below the root, bytes)` entries, `/`-separated. Files directly under the root
    /// belong to no class, and files that are not images this app reads are skipped, each with
    /// why in the notes returned; hidden files (`.DS_Store`) are passed over. `classes` fixes
    /// the classes (a test folder's must be the training folder's); by default they are the
    /// folders found.
    pub fn from_entries(
        root: &str,
        entries: impl IntoIterator<Item = (String, Vec<u8>)>,
        classes: Option<&[String]>,
    ) -> Result<(Self, Vec<String>), PicturesError> {
        let mut by_class: BTreeMap<String, Vec<(String, Vec<u8>)>> = BTreeMap::new();
        let mut notes = Vec::new();
        for (path, bytes) in entries {
            let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
            if parts.iter().any(|p| p.starts_with('.')) {
                continue;
            }
            let name = format!("{root}/{}", parts.join("/"));
            let [class, _, ..] = parts.as_slice() else {
                notes.push(format!("{name}: not in a class folder, skipped"));
                continue;
            };
            if let Err(e) = decode(&name, &bytes) {
                notes.push(format!("{e}; skipped"));
                continue;
            }
            by_class.entry(class.to_string()).or_default().push((name, bytes));
        }
        let class_names: Vec<String> = match classes {
            Some(known) => {
                if let Some(class) = by_class.keys().find(|c| !known.contains(c)) {
                    return Err(PicturesError::UnknownClass {
                        root: root.into(),
                        class: class.clone(),
                        known: known.join(", "),
                    });
                }
                known.to_vec()
            }
            None => by_class.keys().cloned().collect(),
        };
        if classes.is_none() && class_names.len() < 2 {
            let found = match class_names.as_slice() {
                [] => "no folder of pictures".to_string(),
                [one] => format!("one class ({one})"),
                _ => unreachable!(),
            };
            return Err(PicturesError::TooFewClasses {
                root: root.into(),
                found,
            });
        }
        if class_names.len() > 256 {
            return Err(PicturesError::TooManyClasses {
                root: root.into(),
                count: class_names.len(),
            });
        }
        let mut pictures = Vec::new();
        for (label, class) in class_names.iter().enumerate() {
            let mut files = by_class.remove(class).unwrap_or_default();
            // Sorted, so that a seed picks the same pictures whatever order the files came in.
            files.sort_by(|a, b| a.0.cmp(&b.0));
            pictures.extend(files.into_iter().map(|(name, bytes)| Picture {
                name,
                bytes,
                label: label as u8,
            }));
        }
        Ok((
            Self {
                root: root.into(),
                class_names,
                pictures,
            },
            notes,
        ))
    }

    pub fn labels(&self) -> Vec<u8> {
        self.pictures.iter().map(|p| p.label).collect()
    }

    /// How many pictures each class has.
    pub fn counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.class_names.len()];
        for p in &self.pictures {
            counts[usize::from(p.label)] += 1;
        }
        counts
    }
}
