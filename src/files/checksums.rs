//! Checksums of what `pipe` wrote. A run folder, a `save:` folder and a
//! checkpoint each hold `checksums.json`: the blake3 hash of every file a
//! later command reads back (weights, records, the pipeline). `pipe
//! predict`, `load(...)` and `--resume` verify it first, and refuse a file
//! that changed since, by damage or by hand, naming it: weights with one
//! flipped bit still load and predict, wrongly.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::files::write;

/// The name of the record, inside the folder it covers.
pub const FILE: &str = "checksums.json";

/// The record: file name to its blake3 hash (hex).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    blake3: BTreeMap<String, String>,
}

/// What is wrong with a folder's files.
#[derive(Clone, Debug, PartialEq)]
pub enum Damage {
    /// The folder has no readable `checksums.json`.
    NoRecord,
    /// A file the reader needs is not there.
    Missing(String),
    /// A file's contents differ from what was written.
    Changed(String),
    /// A file the record does not list.
    Unrecorded(String),
    /// A file that could not be read (the system's reason).
    Unreadable(String, String),
}

impl Damage {
    /// The file at fault (`checksums.json` itself when the record is gone).
    pub fn file(&self) -> &str {
        match self {
            Damage::NoRecord => FILE,
            Damage::Missing(f) | Damage::Changed(f) | Damage::Unrecorded(f) | Damage::Unreadable(f, _) => f,
        }
    }
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::NoRecord => write!(f, "`{FILE}` is missing or unreadable, so nothing in it can be trusted"),
            Damage::Missing(file) => write!(f, "`{file}` is missing"),
            Damage::Changed(file) => {
                write!(f, "`{file}` changed since `pipe` wrote it (damaged, or edited by hand)")
            }
            Damage::Unrecorded(file) => write!(f, "`{file}` is not in `{FILE}`"),
            Damage::Unreadable(file, reason) => write!(f, "`{file}` cannot be read: {reason}"),
        }
    }
}

/// The blake3 hash of a file's contents, as hex.
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(std::fs::File::open(path)?)?;
    Ok(hasher.finalize().to_hex().to_string())
}

/// Writes the record of `files` (names inside `dir`, each of which must be
/// there), atomically: a folder whose record is written is complete.
pub fn record(dir: &Path, files: &[&str]) -> Result<(), String> {
    record_to(&dir.join(FILE), dir, files)
}

/// Writes the record of `files` (names inside `dir`) to `path`.
pub fn record_to(path: &Path, dir: &Path, files: &[&str]) -> Result<(), String> {
    let mut record = Record::default();
    for file in files {
        let hash = hash_file(&dir.join(file)).map_err(|e| format!("{file}: {e}"))?;
        record.blake3.insert((*file).to_owned(), hash);
    }
    let text = serde_json::to_vec_pretty(&record).map_err(|e| e.to_string())?;
    write::bytes(path, &text)
}

/// Checks `files` (names inside `dir`) against the folder's record: each
/// must be listed, present and unchanged.
pub fn verify(dir: &Path, files: &[&str]) -> Result<(), Damage> {
    verify_with(&dir.join(FILE), dir, files)
}

/// Checks `files` (names inside `dir`) against the record at `path`.
pub fn verify_with(path: &Path, dir: &Path, files: &[&str]) -> Result<(), Damage> {
    let record: Record =
        std::fs::read(path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).ok_or(Damage::NoRecord)?;
    for file in files {
        let path = dir.join(file);
        if !path.exists() {
            return Err(Damage::Missing((*file).to_owned()));
        }
        let expected = record.blake3.get(*file).ok_or_else(|| Damage::Unrecorded((*file).to_owned()))?;
        let found = hash_file(&path).map_err(|e| Damage::Unreadable((*file).to_owned(), e.to_string()))?;
        if &found != expected {
            return Err(Damage::Changed((*file).to_owned()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_missing_or_unlisted_file_is_named() {
        let dir = std::env::temp_dir().join(format!("pipe-checksums-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(verify(&dir, &["a"]), Err(Damage::NoRecord));
        std::fs::write(dir.join("a"), b"weights").unwrap();
        std::fs::write(dir.join("b"), b"record").unwrap();
        record(&dir, &["a", "b"]).unwrap();
        assert_eq!(verify(&dir, &["a", "b"]), Ok(()));
        std::fs::write(dir.join("a"), b"weighTs").unwrap();
        assert_eq!(verify(&dir, &["a", "b"]), Err(Damage::Changed("a".into())));
        std::fs::remove_file(dir.join("b")).unwrap();
        assert_eq!(verify(&dir, &["b"]), Err(Damage::Missing("b".into())));
        std::fs::write(dir.join("c"), b"").unwrap();
        assert_eq!(verify(&dir, &["c"]), Err(Damage::Unrecorded("c".into())));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
