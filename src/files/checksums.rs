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

/// The blake3 hash of a file's contents, as hex: the very hash of
/// `blake3::hash` over the whole file (b3sum's), found on every core of
/// Polars' thread pool (where the pipeline's own work runs). A cold run
/// hashes each source file whole before reading it; one core hashing a
/// 310 MB CSV took 0.15 s.
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let hash = polars_core::runtime::THREAD_POOL.install(|| tree::root(&file, len))?;
    Ok(hash.to_hex().to_string())
}

/// BLAKE3's tree over a file, its subtrees hashed in parallel: the input
/// splits where the tree does (`left_subtree_len`: the largest power of two
/// of 1 KiB chunks short of the whole), each side's chaining value is found
/// on its own (`set_input_offset`, `finalize_non_root`), and parents are
/// merged up to the root, as `blake3::Hasher::update_rayon` does in memory.
mod tree {
    use std::fs::File;

    use blake3::hazmat::{
        ChainingValue, HasherExt, Mode, left_subtree_len, merge_subtrees_non_root, merge_subtrees_root,
    };

    /// Subtrees up to this many bytes are read and hashed on one thread.
    const PIECE: u64 = 16 << 20;

    /// Bytes read at a time.
    const READ: usize = 1 << 20;

    /// The hash of the `len` bytes of `file`.
    pub fn root(file: &File, len: u64) -> std::io::Result<blake3::Hash> {
        if len <= PIECE {
            let mut hasher = blake3::Hasher::new();
            feed(&mut hasher, file, 0, len)?;
            return Ok(hasher.finalize());
        }
        let left = left_subtree_len(len);
        let (a, b) = rayon::join(|| subtree(file, 0, left), || subtree(file, left, len.saturating_sub(left)));
        Ok(merge_subtrees_root(&a?, &b?, Mode::Hash))
    }

    /// The chaining value of the subtree of `len` bytes at `offset` (where
    /// the tree puts one: `offset` a multiple of a power of two of chunks no
    /// smaller than `len`).
    fn subtree(file: &File, offset: u64, len: u64) -> std::io::Result<ChainingValue> {
        if len <= PIECE {
            let mut hasher = blake3::Hasher::new();
            hasher.set_input_offset(offset);
            feed(&mut hasher, file, offset, len)?;
            return Ok(hasher.finalize_non_root());
        }
        let left = left_subtree_len(len);
        let (a, b) = rayon::join(
            || subtree(file, offset, left),
            || subtree(file, offset.saturating_add(left), len.saturating_sub(left)),
        );
        Ok(merge_subtrees_non_root(&a?, &b?, Mode::Hash))
    }

    /// Hashes bytes `offset..offset + len` of `file`; a file shorter than
    /// that (truncated meanwhile) is an error, not a hash of fewer bytes.
    fn feed(hasher: &mut blake3::Hasher, file: &File, offset: u64, len: u64) -> std::io::Result<()> {
        let mut buffer = vec![0u8; READ.min(usize::try_from(len).unwrap_or(READ))];
        let mut done = 0u64;
        while done < len {
            let want = usize::try_from(len.saturating_sub(done)).unwrap_or(READ).min(buffer.len());
            let got = read_at(file, &mut buffer[..want], offset.saturating_add(done))?;
            if got == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            hasher.update(&buffer[..got]);
            done = done.saturating_add(got as u64);
        }
        Ok(())
    }

    #[cfg(unix)]
    fn read_at(file: &File, buffer: &mut [u8], offset: u64) -> std::io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(file, buffer, offset)
    }

    #[cfg(windows)]
    fn read_at(file: &File, buffer: &mut [u8], offset: u64) -> std::io::Result<usize> {
        std::os::windows::fs::FileExt::seek_read(file, buffer, offset)
    }
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
    fn a_file_hashes_as_blake3_hashes_its_bytes() {
        let dir = std::env::temp_dir().join(format!("pipe-hash-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut state = 7u64;
        let bytes: Vec<u8> = (0..(40u64 << 20) + 4_099)
            .map(|_| {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                (state >> 56) as u8
            })
            .collect();
        // Around a chunk, a piece and the splits between subtrees.
        let sizes = [0, 1, 1_023, 1_024, 1_025, 16 << 20, (16 << 20) + 1, (32 << 20) - 1, 32 << 20, bytes.len()];
        for size in sizes {
            let path = dir.join("f");
            std::fs::write(&path, &bytes[..size]).unwrap();
            let expected = blake3::hash(&bytes[..size]).to_hex().to_string();
            assert_eq!(hash_file(&path).unwrap(), expected, "{size} bytes");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

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
