//! Files that are not on this machine: on HTTP(S) servers
//! (`csv("https://...")`) and in object stores (`parquet("s3://...")`,
//! `gs://`, `az://`). The checker reads what it needs of one (its size and
//! version, its head, its footer) by range requests; a run downloads the
//! whole file once and reads the copy (`run::read::Download`).

mod http;
mod store;

use std::path::Path;

pub use store::{STORE_SCHEMES, is_store_url};

/// What a server says of a file without sending it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remote {
    /// Its length in bytes, when the server says.
    pub size: Option<u64>,
    /// Its version: the ETag, or else the last-modified date (what the cache
    /// keys on and what a run compares with the check's).
    pub validator: Option<String>,
}

impl Remote {
    /// Whether the server now gives another version than `checked` (a
    /// server that gives none cannot be compared, and is taken at its word).
    pub fn version_differs(&self, checked: Option<&str>) -> bool {
        match (&self.validator, checked) {
            (Some(now), Some(before)) => now != before,
            _ => false,
        }
    }
}

/// Why a web URL cannot be read as a source: a folder (ending in `/`) or a
/// glob, which a web server cannot list (it would send a page of HTML).
pub fn unlistable(url: &str) -> Option<String> {
    (is_http(url) && (url.ends_with('/') || url.contains('*'))).then(|| {
        "a web server cannot list a folder or match a glob: name each file (an object store, `s3://...`, can be \
         listed)"
            .to_owned()
    })
}

/// Whether a source path is a URL read here (HTTP(S) or an object store),
/// not a path on this machine.
pub fn is_url(path: &str) -> bool {
    is_http(path) || store::is_store_url(path)
}

fn is_http(path: &str) -> bool {
    path.starts_with("http://") || path.starts_with("https://")
}

/// What to check when a URL cannot be read.
pub fn unreadable_help(url: &str) -> &'static str {
    if is_http(url) {
        "check the URL, the network and the server"
    } else {
        "check the URL (a folder's ends in `/`), the network and the store's settings in the \
         environment (`AWS_*`, `GOOGLE_*`, `AZURE_*`: endpoint, region, credentials)"
    }
}

/// The runtime each request blocks on: the checker and the runs call these
/// from plain threads.
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the HTTP client: {e}"))
}

/// The file's size and version, without its bytes.
pub fn head(url: &str) -> Result<Remote, String> {
    if is_http(url) { http::head(url) } else { store::head(url) }
}

/// Bytes `start..start + len` of the file (fewer at its end), and what the
/// server says of the file.
pub fn range(url: &str, start: u64, len: u64) -> Result<(Vec<u8>, Remote), String> {
    if is_http(url) { http::range(url, start, len) } else { store::range(url, start, len) }
}

/// The objects below the folder URL `prefix` (`s3://bucket/data/`; with
/// `recursive` false, only those directly in it) that `keep` takes, with
/// their sizes and versions; more than `limit` is an error. A web server
/// cannot be listed.
pub fn list(
    prefix: &str,
    recursive: bool,
    keep: &dyn Fn(&str) -> bool,
    limit: usize,
) -> Result<Vec<(String, Remote)>, String> {
    if is_http(prefix) {
        return Err("a web server's folder cannot be listed: name each file".into());
    }
    store::list(prefix, recursive, keep, limit)
}

/// Downloads the whole file into `to` (streamed, never whole in memory);
/// what the server said of it.
pub fn download(url: &str, to: &Path) -> Result<Remote, String> {
    if is_http(url) { http::download(url, to) } else { store::download(url, to) }
}

/// Bytes of a remote CSV's head read for its schema beyond the level scan:
/// the header and the type sample.
const HEAD_SAMPLE_BYTES: u64 = 1 << 20;

/// A remote CSV's columns, from its head (cut at the last whole line), and
/// what the server says of the file.
pub fn csv_columns(
    url: &str,
    options: &crate::files::probe::CsvOptions,
    level_bytes: usize,
) -> Result<(Vec<crate::files::probe::ProbedColumn>, Remote), String> {
    let want = (level_bytes as u64).saturating_add(HEAD_SAMPLE_BYTES);
    let (mut bytes, remote) = range(url, 0, want)?;
    let whole = (bytes.len() as u64) < want || remote.size.is_some_and(|size| size <= bytes.len() as u64);
    if !whole {
        // A line cut by the range would read as a short row or a level
        // that is not one.
        let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i.saturating_add(1));
        bytes.truncate(end);
    }
    let columns = crate::files::probe::csv_columns_read(bytes.as_slice(), options, level_bytes)?;
    Ok((columns, remote))
}

/// A remote Parquet file's columns and rows, from its footer (three
/// requests: the size with the first byte, the footer's length, the
/// footer), and what the server says of it.
pub fn parquet_columns(url: &str) -> Result<(crate::files::parquet::Columns, u64, Remote), String> {
    let remote = head(url)?;
    let size = remote.size.ok_or("the server does not say the file's size, which reading its footer needs")?;
    // Every read at the version the size came with: a file replaced between
    // two reads would give a footer of another file.
    let mut read = |start, len| match range(url, start, len)? {
        (_, now) if now.version_differs(remote.validator.as_deref()) => {
            Err("the file changed on the server while its footer was read: check again".to_owned())
        }
        (bytes, _) => Ok(bytes),
    };
    let (columns, rows) = crate::files::parquet::columns_and_rows_of(size, &mut read)?;
    Ok((columns, rows, remote))
}
