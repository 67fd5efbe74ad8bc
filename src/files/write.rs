//! Writing files so that a failure leaves nothing half-written: each file
//! is written next to its destination under a temporary name, then put in
//! its place in one step (`put_in_place`). Temporary files a killed run left behind (their process is
//! gone) are removed by the next write to the same path.

use std::fs::File;
use std::path::{Path, PathBuf};

/// Bytes a file writer gathers before each `write` call.
const WRITE_BUFFER: usize = 1 << 20;

/// `out`, buffered for a writer that writes a page at a time: Polars'
/// Parquet writer makes a system call per page (about 5 KB), 61,000 of
/// them for a 300 MB file. Parquet writers flush at the footer, so a
/// failed last write is still an error.
pub fn buffered<W: std::io::Write>(out: W) -> std::io::BufWriter<W> {
    std::io::BufWriter::with_capacity(WRITE_BUFFER, out)
}

/// Writes bytes atomically.
pub fn bytes(path: &Path, contents: &[u8]) -> Result<(), String> {
    atomically(path, |file| std::io::Write::write_all(file, contents).map_err(|e| e.to_string()))
}

/// Runs `write` on a temporary file beside `path`, then renames it to
/// `path`; on failure the temporary file is removed and `path` is untouched.
pub fn atomically(path: &Path, write: impl FnOnce(&mut File) -> Result<(), String>) -> Result<(), String> {
    atomically_at(path, |temp| File::create(temp).map_err(|e| e.to_string()).and_then(|mut file| write(&mut file)))
}

/// [`atomically`] for a writer that opens the file itself: `write` gets the
/// temporary path to write.
pub fn atomically_at(path: &Path, write: impl FnOnce(&Path) -> Result<(), String>) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    remove_stale_temporaries(path);
    let temp = temporary_name(path, std::process::id());
    // No fsync: the rename protects against a failed or interrupted run
    // (the aim here), and syncing large outputs would cost seconds.
    let result = write(&temp);
    let result = result.and_then(|()| put_in_place(&temp, path).map_err(|e| e.to_string()));
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Moves the finished file `temp` to `path`: at every moment `path` names
/// the previous file or the whole new one. Over a regular file the two are
/// exchanged (Linux's `renameat2(RENAME_EXCHANGE)`) and the previous one,
/// now named `temp`, is removed: a plain rename over a file makes ext4 write
/// the new file's data out before it returns (`auto_da_alloc`, its guard
/// against a power cut leaving a replaced file empty), 0.14-0.17 s for a
/// 300 MB output on this project's machine, and it does nothing of the
/// kind for a file renamed under a new name, which is what an exchange is.
/// Where exchanging is not supported (another system, some file systems),
/// a plain rename.
fn put_in_place(temp: &Path, path: &Path) -> std::io::Result<()> {
    let over_a_file = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file());
    if over_a_file && exchange(temp, path).is_ok() {
        // A failure leaves the previous file under this process's temporary
        // name: the next write to `path` removes it once the process is gone.
        let _ = std::fs::remove_file(temp);
        return Ok(());
    }
    std::fs::rename(temp, path)
}

/// Swaps the files `a` and `b` (both must exist) in one step.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let a = std::ffi::CString::new(a.as_os_str().as_bytes())?;
    let b = std::ffi::CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both are NUL-terminated paths that outlive the call.
    let done =
        unsafe { libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), libc::RENAME_EXCHANGE) };
    if done == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// Swapping two files in one step is Linux's: elsewhere, a plain rename.
#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// Names longer than this get a hashed temporary name (a file name holds
/// at most 255 bytes, and the temporary one adds a dot, a pid and `.tmp`).
const LONGEST_KEPT: usize = 200;

/// What temporary names for `path` start with: `.name.` (or a hash of a
/// long name).
fn temporary_prefix(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if name.len() <= LONGEST_KEPT {
        format!(".{name}.")
    } else {
        let hash = blake3::hash(name.as_bytes()).to_hex();
        format!(".pipe-{}.", &hash[..16])
    }
}

fn temporary_name(path: &Path, pid: u32) -> PathBuf {
    path.with_file_name(format!("{}{pid}.tmp", temporary_prefix(path)))
}

/// Removes temporary files for `path` whose writing process is gone.
fn remove_stale_temporaries(path: &Path) {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    remove_orphans(dir, &temporary_prefix(path));
}

/// Removes the files in `dir` named `PREFIX<pid>...` whose writing process
/// is gone (a run killed in the middle of writing them).
pub fn remove_orphans(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(prefix) else { continue };
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(pid) = digits.parse::<u32>()
            && pid != std::process::id()
            && !process_alive(pid)
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether a process with this id exists (where the system tells; else
/// assumed alive, so nothing of another run is removed).
fn process_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_and_stale_temporaries() {
        let dir = std::env::temp_dir().join(format!("pipe-write-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let long = dir.join(format!("{}.csv", "n".repeat(250)));
        bytes(&long, b"x\n").expect("a 254-byte name can be written");
        assert_eq!(std::fs::read(&long).unwrap(), b"x\n");
        let out = dir.join("o.csv");
        // A pid far past any live process: a killed run's leftover.
        let stale = temporary_name(&out, 4_000_000_000);
        let live = temporary_name(&out, 1);
        std::fs::write(&stale, b"half").unwrap();
        std::fs::write(&live, b"another run's").unwrap();
        bytes(&out, b"y\n").unwrap();
        assert!(!stale.exists(), "a dead process's temporary file is removed");
        assert!(live.exists(), "a live process's is kept");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_replaced_file_holds_the_new_contents_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("pipe-replace-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("o.parquet");
        bytes(&out, b"first").unwrap();
        bytes(&out, b"second, longer").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"second, longer");
        let names: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["o.parquet"], "the previous file is gone, under either name");
        // A folder in the way is refused, as by a plain rename, and kept.
        let folder = dir.join("f");
        std::fs::create_dir(&folder).unwrap();
        assert!(bytes(&folder, b"x").is_err());
        assert!(folder.is_dir());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
