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
//! split) holds frames, `items/KEY.json` fitted transforms and the record
//! of written outputs. Every file is written atomically.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

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
        Cache { dir, files, files_changed: false }
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
        let mut hasher = blake3::Hasher::new();
        hasher.update_reader(File::open(&canonical)?)?;
        let hash = hasher.finalize().to_hex()[..32].to_owned();
        self.files.insert(canonical, Stamp { len, modified_ns, hash: hash.clone() });
        self.files_changed = true;
        Ok(hash)
    }

    fn item(&self, key: &str, suffix: &str) -> PathBuf {
        self.dir.join("items").join(format!("{key}{suffix}"))
    }

    /// The frames stored under `key` (`parts` of them), if all are there.
    pub fn load_frames(&self, key: &str, parts: usize) -> Option<Vec<DataFrame>> {
        (0..parts)
            .map(|i| {
                let file = File::open(self.item(key, &format!(".{i}.parquet"))).ok()?;
                ParquetReader::new(file).finish().ok()
            })
            .collect()
    }

    /// Stores frames under `key`.
    pub fn store_frames(&self, key: &str, frames: &[DataFrame]) -> Result<(), String> {
        for (i, df) in frames.iter().enumerate() {
            let mut df = df.clone();
            write::atomically(&self.item(key, &format!(".{i}.parquet")), |file| {
                ParquetWriter::new(file)
                    .with_compression(ParquetCompression::Lz4Raw)
                    .finish(&mut df)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })?;
        }
        Ok(())
    }

    /// The fitted steps of a transform stored under `key`.
    pub fn load_fitted(&self, key: &str) -> Option<(Vec<Fitted>, usize)> {
        let bytes = std::fs::read(self.item(key, ".fitted.json")).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Stores the fitted steps of a transform (and the rows it learned from).
    pub fn store_fitted(&self, key: &str, fitted: &[Fitted], rows: usize) -> Result<(), String> {
        let text = serde_json::to_vec_pretty(&(fitted, rows)).map_err(|e| e.to_string())?;
        write::bytes(&self.item(key, ".fitted.json"), &text)
    }

    /// The rows of the output stored under `key`, if the file it wrote is
    /// still there, unchanged.
    pub fn output_rows(&self, key: &str) -> Option<usize> {
        let bytes = std::fs::read(self.item(key, ".output.json")).ok()?;
        let written: Written = serde_json::from_slice(&bytes).ok()?;
        let (len, modified_ns) = stamp_of(&written.path).ok()?;
        (len == written.len && modified_ns == written.modified_ns).then_some(written.rows)
    }

    /// Records that the output under `key` wrote `path` with `rows` rows.
    pub fn store_output(&self, key: &str, path: &Path, rows: usize) -> Result<(), String> {
        let (len, modified_ns) = stamp_of(path).map_err(|e| e.to_string())?;
        let written = Written { path: path.to_path_buf(), len, modified_ns, rows };
        let text = serde_json::to_vec(&written).map_err(|e| e.to_string())?;
        write::bytes(&self.item(key, ".output.json"), &text)
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
    pub fn load_trained(&self, key: &str) -> Option<(PathBuf, crate::run::training::TrainedMeta)> {
        let weights = self.item(key, ".bpk");
        let bytes = std::fs::read(self.item(key, ".trained.json")).ok()?;
        let meta = serde_json::from_slice(&bytes).ok()?;
        weights.exists().then_some((weights, meta))
    }

    /// Whether a result is stored under `key` (without loading it): the
    /// first part of a frame, a transform, a trained run, or an output whose
    /// file is unchanged.
    pub fn contains(&self, key: &str) -> bool {
        self.item(key, ".0.parquet").exists()
            || self.item(key, ".fitted.json").exists()
            || self.item(key, ".trained.json").exists()
            || self.output_rows(key).is_some()
    }

    /// Stores a trained run's weights and record.
    pub fn store_trained(
        &self,
        key: &str,
        net: &crate::train::model::Net,
        meta: &crate::run::training::TrainedMeta,
    ) -> Result<(), String> {
        use burn::module::Module;
        std::fs::create_dir_all(self.dir.join("items")).map_err(|e| e.to_string())?;
        // Weights first: the record is written last, so a record always has weights.
        let weights = self.item(key, ".bpk");
        let temp = self.item(key, ".tmp.bpk");
        net.clone().save_file(&temp).map_err(|e| format!("{e:?}"))?;
        std::fs::rename(&temp, &weights).map_err(|e| e.to_string())?;
        let text = serde_json::to_vec_pretty(meta).map_err(|e| e.to_string())?;
        write::bytes(&self.item(key, ".trained.json"), &text)
    }
}

/// Removes a cache folder; returns the bytes freed.
pub fn clean(dir: &Path) -> std::io::Result<u64> {
    fn size(path: &Path) -> u64 {
        match std::fs::read_dir(path) {
            Ok(entries) => entries.flatten().map(|e| size(&e.path())).sum(),
            Err(_) => std::fs::metadata(path).map_or(0, |m| m.len()),
        }
    }
    if !dir.exists() {
        return Ok(0);
    }
    let freed = size(dir);
    std::fs::remove_dir_all(dir)?;
    Ok(freed)
}
