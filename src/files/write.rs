//! Writing files so that a failure leaves nothing half-written: each file
//! is written next to its destination under a temporary name, then renamed
//! over it.

use std::fs::File;
use std::path::{Path, PathBuf};

/// Writes bytes atomically.
pub fn bytes(path: &Path, contents: &[u8]) -> Result<(), String> {
    atomically(path, |file| std::io::Write::write_all(file, contents).map_err(|e| e.to_string()))
}

/// Runs `write` on a temporary file beside `path`, then renames it to
/// `path`; on failure the temporary file is removed and `path` is untouched.
pub fn atomically(path: &Path, write: impl FnOnce(&mut File) -> Result<(), String>) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let temp = temporary_name(path);
    // No fsync: the rename protects against a failed or interrupted run
    // (the aim here), and syncing large outputs would cost seconds.
    let result = File::create(&temp).map_err(|e| e.to_string()).and_then(|mut file| write(&mut file));
    let result = result.and_then(|()| std::fs::rename(&temp, path).map_err(|e| e.to_string()));
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

fn temporary_name(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}
