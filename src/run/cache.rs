//! The stage cache: each item's result stored under a key that hashes
//! everything it depends on (its operations and parameters, the keys of the
//! items it reads, the contents of the files it reads). A run reuses a
//! result whose key matches, so an unchanged item is never recomputed and an
//! edited one invalidates exactly what depends on it.
//!
//! Layout of the cache folder (`.pipe-cache` beside the `.pipe` file):
//! `files.json` remembers each input file's content hash with its size and
//! modification time (re-hashed only when those change, as git's index
//! does); `items/KEY.parquet` (or `KEY.N.parquet` for the parts of a
//! split) holds frames, `items/KEY.fitted.json` fitted transforms,
//! `items/KEY.output.json` the record of written outputs and
//! `items/KEY.bpk` with `items/KEY.trained.json` trained runs. Every file is
//! written atomically, and an entry is complete when its checksums,
//! `items/KEY.sums.json`, are written, last; a load verifies them, so a
//! damaged entry is recomputed instead of used. A run holds `lock` (an OS
//! file lock) while it reads and writes the folder: a second run of the
//! same pipeline waits for the first.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::files::checksums;
use crate::run::fitted::Fitted;
use crate::run::write;

/// The name of the cache folder, beside the `.pipe` file.
pub const FOLDER: &str = ".pipe-cache";

/// What is known of an input file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Stamp {
    len: u64,
    modified_ns: u128,
    hash: String,
}

/// What a cached output wrote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Written {
    path: PathBuf,
    len: u64,
    modified_ns: u128,
    rows: usize,
}

/// An open cache folder.
pub struct Cache {
    dir: PathBuf,
    files: HashMap<PathBuf, Stamp>,
    files_changed: bool,
    /// The lock file, held (locked) while a run uses the folder.
    lock: Option<File>,
}

/// What looking up an entry found.
pub enum Lookup<T> {
    /// No complete entry under the key.
    Missing,
    /// The entry, verified.
    Found(T),
    /// An entry whose files do not match their checksums: why.
    Damaged(String),
}

/// Why [`Cache::lock`] did not get the lock.
pub enum Unlocked {
    /// The folder cannot be created or written (the system's reason).
    Unwritable(String),
    /// The wait was given up (Ctrl-C).
    Cancelled,
}

/// A stable hash, as hex: cache keys and file contents.
pub fn hash(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex()[..32].to_owned()
}

fn stamp_of(path: &Path) -> std::io::Result<(u64, u128)> {
    let meta = std::fs::metadata(path)?;
    let modified = meta.modified()?.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    Ok((meta.len(), modified))
}

impl Cache {
    /// Opens (without creating) the cache folder `dir`.
    pub fn open(dir: PathBuf) -> Self {
        let files = std::fs::read(dir.join("files.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Vec<(PathBuf, Stamp)>>(&bytes).ok())
            .map(|list| list.into_iter().collect())
            .unwrap_or_default();
        Cache { dir, files, files_changed: false, lock: None }
    }

    /// Takes the folder's lock (creating the folder), waiting while another
    /// process holds it: `waiting` is told once, and `cancelled` asked
    /// every 100 ms.
    pub fn lock(&mut self, waiting: &mut dyn FnMut(), cancelled: &dyn Fn() -> bool) -> Result<(), Unlocked> {
        let unwritable = |e: std::io::Error| Unlocked::Unwritable(e.to_string());
        std::fs::create_dir_all(self.dir.join("items")).map_err(unwritable)?;
        let file = open_lock(&self.dir).map_err(unwritable)?;
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {
                    if !told {
                        waiting();
                        told = true;
                    }
                    if cancelled() {
                        return Err(Unlocked::Cancelled);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(unwritable(e)),
            }
        }
        // A folder the lock could be taken in may still refuse new files.
        let probe = self.dir.join("items").join(format!(".probe.{}", std::process::id()));
        std::fs::write(&probe, b"").map_err(unwritable)?;
        let _ = std::fs::remove_file(&probe);
        self.lock = Some(file);
        Ok(())
    }

    /// The content hash of a file (re-read only when its size or
    /// modification time changed since it was last hashed).
    pub fn file_hash(&mut self, path: &Path) -> std::io::Result<String> {
        let canonical = path.canonicalize()?;
        let (len, modified_ns) = stamp_of(&canonical)?;
        if let Some(stamp) = self.files.get(&canonical)
            && stamp.len == len
            && stamp.modified_ns == modified_ns
        {
            return Ok(stamp.hash.clone());
        }
        let hash = checksums::hash_file(&canonical)?[..32].to_owned();
        self.files.insert(canonical, Stamp { len, modified_ns, hash: hash.clone() });
        self.files_changed = true;
        Ok(hash)
    }

    fn item(&self, key: &str, suffix: &str) -> PathBuf {
        self.dir.join("items").join(format!("{key}{suffix}"))
    }

    /// Marks an entry incomplete before its files are written again: an
    /// interrupted store then reads as missing, not as damaged.
    fn unseal(&self, key: &str) {
        let _ = std::fs::remove_file(self.sums(key));
    }

    /// Where an entry's checksums are.
    fn sums(&self, key: &str) -> PathBuf {
        self.item(key, ".sums.json")
    }

    /// Marks an entry complete: the checksums of its files (`suffixes`
    /// after the key), written last.
    fn seal(&self, key: &str, suffixes: &[String]) -> Result<(), String> {
        let names: Vec<String> = suffixes.iter().map(|s| format!("{key}{s}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        checksums::record_to(&self.sums(key), &self.dir.join("items"), &names)
    }

    /// Whether the entry under `key` is complete and its files (`suffixes`)
    /// match their checksums; then `read` gives its value (`None` if it
    /// does not parse, as for an entry of another version).
    fn verified<T>(&self, key: &str, suffixes: &[String], read: impl FnOnce() -> Option<T>) -> Lookup<T> {
        if !self.sums(key).exists() {
            return Lookup::Missing;
        }
        let names: Vec<String> = suffixes.iter().map(|s| format!("{key}{s}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        match checksums::verify_with(&self.sums(key), &self.dir.join("items"), &names) {
            Ok(()) => read().map_or(Lookup::Missing, Lookup::Found),
            Err(damage) => Lookup::Damaged(damage.to_string()),
        }
    }

    /// The frames stored under `key` (`parts` of them).
    pub fn load_frames(&self, key: &str, parts: usize) -> Lookup<Vec<DataFrame>> {
        let suffixes = frame_suffixes(parts);
        self.verified(key, &suffixes, || {
            suffixes
                .iter()
                .map(|suffix| {
                    let file = File::open(self.item(key, suffix)).ok()?;
                    ParquetReader::new(file).finish().ok()
                })
                .collect()
        })
    }

    /// Stores frames under `key`.
    pub fn store_frames(&self, key: &str, frames: &[DataFrame]) -> Result<(), String> {
        self.unseal(key);
        for (i, df) in frames.iter().enumerate() {
            let mut df = df.clone();
            write::atomically(&self.item(key, &format!(".{i}.parquet")), |file| {
                write::parquet(&mut df, write::buffered(file), ParquetCompression::Lz4Raw).map_err(|e| e.to_string())
            })?;
        }
        self.seal(key, &frame_suffixes(frames.len()))
    }

    /// The fitted steps of a transform stored under `key`.
    pub fn load_fitted(&self, key: &str) -> Lookup<(Vec<Fitted>, usize)> {
        self.verified(key, &[".fitted.json".into()], || {
            let bytes = std::fs::read(self.item(key, ".fitted.json")).ok()?;
            serde_json::from_slice(&bytes).ok()
        })
    }

    /// Stores the fitted steps of a transform (and the rows it learned from).
    pub fn store_fitted(&self, key: &str, fitted: &[Fitted], rows: usize) -> Result<(), String> {
        self.unseal(key);
        let text = serde_json::to_vec_pretty(&(fitted, rows)).map_err(|e| e.to_string())?;
        write::bytes(&self.item(key, ".fitted.json"), &text)?;
        self.seal(key, &[".fitted.json".into()])
    }

    /// The rows of the output stored under `key`, if the file it wrote is
    /// still there, unchanged (an output rewritten by hand is written again).
    pub fn output_rows(&self, key: &str) -> Lookup<usize> {
        let found = self.verified(key, &[".output.json".into()], || {
            let bytes = std::fs::read(self.item(key, ".output.json")).ok()?;
            serde_json::from_slice::<Written>(&bytes).ok()
        });
        match found {
            Lookup::Found(written) => match stamp_of(&written.path) {
                Ok((len, modified_ns)) if len == written.len && modified_ns == written.modified_ns => {
                    Lookup::Found(written.rows)
                }
                _ => Lookup::Missing,
            },
            Lookup::Missing => Lookup::Missing,
            Lookup::Damaged(why) => Lookup::Damaged(why),
        }
    }

    /// Records that the output under `key` wrote `path` with `rows` rows.
    pub fn store_output(&self, key: &str, path: &Path, rows: usize) -> Result<(), String> {
        self.unseal(key);
        let (len, modified_ns) = stamp_of(path).map_err(|e| e.to_string())?;
        let written = Written { path: path.to_path_buf(), len, modified_ns, rows };
        let text = serde_json::to_vec(&written).map_err(|e| e.to_string())?;
        write::bytes(&self.item(key, ".output.json"), &text)?;
        self.seal(key, &[".output.json".into()])
    }

    /// Saves what was learned about input files.
    pub fn save(&mut self) -> Result<(), String> {
        if !self.files_changed {
            return Ok(());
        }
        let mut list: Vec<(&PathBuf, &Stamp)> = self.files.iter().collect();
        list.sort_by(|a, b| a.0.cmp(b.0));
        let text = serde_json::to_vec_pretty(&list).map_err(|e| e.to_string())?;
        write::bytes(&self.dir.join("files.json"), &text)?;
        self.files_changed = false;
        Ok(())
    }
}

impl Cache {
    /// A trained run stored under `key`: its weights file and what goes
    /// with them.
    pub fn load_trained(&self, key: &str) -> Lookup<(PathBuf, crate::run::training::TrainedMeta)> {
        self.verified(key, &TRAINED.map(String::from), || {
            let bytes = std::fs::read(self.item(key, ".trained.json")).ok()?;
            let meta = serde_json::from_slice(&bytes).ok()?;
            Some((self.item(key, ".bpk"), meta))
        })
    }

    /// Whether a result is stored under `key` (without loading it): the
    /// first part of a frame, a transform, a trained run, or an output whose
    /// file is unchanged.
    pub fn contains(&self, key: &str) -> bool {
        if self.item(key, ".output.json").exists() {
            return matches!(self.output_rows(key), Lookup::Found(_));
        }
        self.sums(key).exists()
    }

    /// Stores a trained run's weights and record.
    pub fn store_trained(
        &self,
        key: &str,
        net: &crate::train::model::Net,
        meta: &crate::run::training::TrainedMeta,
    ) -> Result<(), String> {
        self.unseal(key);
        std::fs::create_dir_all(self.dir.join("items")).map_err(|e| e.to_string())?;
        let weights = self.item(key, ".bpk");
        // A temporary name of this process's own, renamed into place.
        let temp = self.item(key, &format!(".{}.tmp.bpk", std::process::id()));
        let saved = crate::train::model::save_weights(net, &temp)
            .and_then(|()| std::fs::rename(&temp, &weights).map_err(|e| e.to_string()));
        if let Err(e) = saved {
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
        let text = serde_json::to_vec_pretty(meta).map_err(|e| e.to_string())?;
        write::bytes(&self.item(key, ".trained.json"), &text)?;
        self.seal(key, &TRAINED.map(String::from))
    }
}

/// The files of a trained entry, after its key.
const TRAINED: [&str; 2] = [".bpk", ".trained.json"];

/// The files of an entry of `parts` frames, after its key.
fn frame_suffixes(parts: usize) -> Vec<String> {
    (0..parts).map(|i| format!(".{i}.parquet")).collect()
}

/// The cache folder's lock file, opened (made if missing) for locking.
fn open_lock(dir: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("lock"))
}

/// Why a cache folder was not cleaned.
#[derive(Debug)]
pub enum CleanError {
    /// A run holds the folder's lock: removing entries under it would
    /// break that run's stores and loads.
    Busy,
    /// The folder could not be read or changed.
    Io(std::io::Error),
}

/// Empties a cache folder under its lock (taken without waiting); returns
/// the bytes freed. The lock file itself stays: a run waiting on it holds
/// it open, and a new lock file beside the old one would let two runs in.
pub fn clean(dir: &Path) -> Result<u64, CleanError> {
    fn size(path: &Path) -> u64 {
        match std::fs::read_dir(path) {
            Ok(entries) => entries.flatten().map(|e| size(&e.path())).fold(0, u64::saturating_add),
            Err(_) => std::fs::metadata(path).map_or(0, |m| m.len()),
        }
    }
    if !dir.exists() {
        return Ok(0);
    }
    let lock = open_lock(dir).map_err(CleanError::Io)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Err(CleanError::Busy),
        Err(std::fs::TryLockError::Error(e)) => return Err(CleanError::Io(e)),
    }
    let mut freed = 0u64;
    for entry in std::fs::read_dir(dir).map_err(CleanError::Io)?.flatten() {
        if entry.file_name() == "lock" {
            continue;
        }
        let path = entry.path();
        freed = freed.saturating_add(size(&path));
        let removed = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        removed.map_err(CleanError::Io)?;
    }
    Ok(freed)
}
