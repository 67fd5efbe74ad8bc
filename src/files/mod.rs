//! Reading and writing files, below every layer that needs it: what a data
//! file's head says (CSV sample, Parquet footer, image folders), PyTorch's
//! safetensors, what a `save:` folder may replace, and writes that never
//! leave half a file. No Polars or Burn
//! here: the checker probes files with these, and the executors write
//! through them.

// Integer arithmetic here may not overflow or underflow: each operation is
// checked, saturating, or on numbers the checker bounds (check/limits.rs),
// and says so (`clippy.toml` exempts tensors, Polars expressions, arrays).
#![deny(clippy::arithmetic_side_effects)]

pub mod checksums;
pub mod many;
pub mod parquet;
pub mod probe;
pub mod remote;
pub mod safetensors;
pub mod saved;
pub mod write;

/// Refuses a path that is not a regular file (a FIFO, a device such as
/// `/dev/zero`, a socket, a folder) before it is opened: reading one could
/// block forever or never end. Links are followed.
pub fn regular_file(path: &std::path::Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.is_file() {
        return Ok(());
    }
    let kind = if meta.is_dir() { "a folder" } else { special_kind(&meta) };
    Err(format!("it is {kind}, not a regular file: pipe reads only regular files"))
}

#[cfg(unix)]
fn special_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let kind = meta.file_type();
    if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a plain file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &std::fs::Metadata) -> &'static str {
    "not a plain file"
}

/// This machine's memory in bytes (Linux' `MemTotal`), when known; read
/// once per process (the LSP checks on every edit).
pub fn machine_memory() -> Option<u64> {
    static MEMORY: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *MEMORY.get_or_init(read_machine_memory)
}

/// The bytes free for this user on the file system that holds `path`
/// (`None` when the system does not say).
#[cfg(unix)]
pub fn free_disk(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: `statvfs` fills the zeroed struct it is given, reading only
    // the NUL-terminated path.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    let status = unsafe { libc::statvfs(name.as_ptr(), &mut stats) };
    // Both are u64 on 64-bit Linux, narrower on other systems.
    #[allow(clippy::unnecessary_cast)]
    let (blocks, size) = (stats.f_bavail as u64, stats.f_frsize as u64);
    (status == 0).then(|| blocks.saturating_mul(size))
}

/// [`free_disk`] where it is not known.
#[cfg(not(unix))]
pub fn free_disk(_path: &std::path::Path) -> Option<u64> {
    None
}

fn read_machine_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}
