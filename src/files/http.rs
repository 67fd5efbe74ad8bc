//! Files on HTTP(S) servers (`csv("https://...")`): what the checker needs
//! of one (its size and validator, its head, its footer) by range
//! requests, and the whole file fetched for a run. Proxies come from the
//! usual environment variables (`HTTPS_PROXY`, `NO_PROXY`, ...).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// Waiting longer than this for a server to accept a connection is an error.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A request (the check's, or a download's next bytes) that waits longer
/// than this for the server fails.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether a source path is a URL this module reads.
pub fn is_url(path: &str) -> bool {
    path.starts_with("http://") || path.starts_with("https://")
}

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

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the HTTP client: {e}"))
}

fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot start the HTTP client: {e}"))
}

/// The message of a failed request, without the URL (the diagnostic names
/// it already).
fn failure(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

fn remote_of(response: &reqwest::Response) -> Remote {
    let header = |name: reqwest::header::HeaderName| {
        response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    };
    let size = match response.headers().get(reqwest::header::CONTENT_RANGE).and_then(|v| v.to_str().ok()) {
        // `bytes 0-99/1234`: the whole file's length follows the slash.
        Some(range) => range.rsplit('/').next().and_then(|n| n.parse().ok()),
        // Read from the header: for a HEAD request the body's length is 0.
        None => header(reqwest::header::CONTENT_LENGTH).and_then(|n| n.parse().ok()),
    };
    let validator = header(reqwest::header::ETAG)
        .map(|e| format!("etag {e}"))
        .or_else(|| header(reqwest::header::LAST_MODIFIED).map(|d| format!("modified {d}")));
    Remote { size, validator }
}

fn checked(response: reqwest::Response) -> Result<reqwest::Response, String> {
    let status = response.status();
    if status.is_success() { Ok(response) } else { Err(format!("the server answered {status}")) }
}

/// The file's size and validator, from a request for its first byte (a
/// GET: a URL signed for GET only, as presigned object-store URLs are,
/// refuses HEAD).
pub fn head(url: &str) -> Result<Remote, String> {
    range(url, 0, 1).map(|(_, remote)| remote)
}

/// Bytes `start..start + len` of the file (fewer at its end), and what the
/// server says of the file. A server that ignores ranges sends the whole
/// file, of which the range is kept.
pub fn range(url: &str, start: u64, len: u64) -> Result<(Vec<u8>, Remote), String> {
    let last = start.saturating_add(len).saturating_sub(1);
    runtime()?.block_on(async {
        let response = client()?
            .get(url)
            .header(reqwest::header::RANGE, format!("bytes={start}-{last}"))
            .send()
            .await
            .map_err(failure)?;
        let mut response = checked(response)?;
        // A server that ignores ranges sends the whole file: it is read only
        // as far as the range, and the rest of the response dropped.
        let mut skip = if response.status() == reqwest::StatusCode::PARTIAL_CONTENT { 0 } else { start };
        let remote = remote_of(&response);
        let want = usize::try_from(len).unwrap_or(usize::MAX);
        let mut bytes = Vec::new();
        while bytes.len() < want {
            let Some(chunk) = response.chunk().await.map_err(failure)? else { break };
            let from = usize::try_from(skip).unwrap_or(usize::MAX).min(chunk.len());
            skip = skip.saturating_sub(chunk.len() as u64);
            let take = chunk.len().saturating_sub(from).min(want.saturating_sub(bytes.len()));
            bytes.extend_from_slice(&chunk[from..from.saturating_add(take)]);
        }
        Ok((bytes, remote))
    })
}

/// Downloads the whole file into `to` (streamed, never whole in memory);
/// what the server said of it.
pub fn download(url: &str, to: &Path) -> Result<Remote, String> {
    runtime()?.block_on(async {
        let mut response = checked(client()?.get(url).send().await.map_err(failure)?)?;
        let remote = remote_of(&response);
        let file = std::fs::File::create(to).map_err(|e| format!("cannot write `{}`: {e}", to.display()))?;
        let mut file = std::io::BufWriter::new(file);
        while let Some(chunk) = response.chunk().await.map_err(failure)? {
            file.write_all(&chunk).map_err(|e| format!("cannot write `{}`: {e}", to.display()))?;
        }
        file.flush().map_err(|e| format!("cannot write `{}`: {e}", to.display()))?;
        Ok(remote)
    })
}

/// Bytes of a remote CSV's head read for its schema beyond the level scan:
/// the header and the type sample.
const HEAD_SAMPLE_BYTES: u64 = 1 << 20;

/// A remote CSV's columns, from its head (cut at the last whole line), and
/// what the server says of the file.
pub fn csv_columns(
    url: &str,
    options: &super::probe::CsvOptions,
    level_bytes: usize,
) -> Result<(Vec<super::probe::ProbedColumn>, Remote), String> {
    let want = (level_bytes as u64).saturating_add(HEAD_SAMPLE_BYTES);
    let (mut bytes, remote) = range(url, 0, want)?;
    let whole = (bytes.len() as u64) < want || remote.size.is_some_and(|size| size <= bytes.len() as u64);
    if !whole {
        // A line cut by the range would read as a short row or a level
        // that is not one.
        let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i.saturating_add(1));
        bytes.truncate(end);
    }
    let columns = super::probe::csv_columns_read(bytes.as_slice(), options, level_bytes)?;
    Ok((columns, remote))
}

/// A remote Parquet file's columns and rows, from its footer (three
/// requests: the size with the first byte, the footer's length, the
/// footer), and what the server says of it.
pub fn parquet_columns(url: &str) -> Result<(super::parquet::Columns, u64, Remote), String> {
    let remote = head(url)?;
    let size = remote.size.ok_or("the server does not say the file's size, which reading its footer needs")?;
    let (columns, rows) =
        super::parquet::columns_and_rows_of(size, &mut |start, len| range(url, start, len).map(|(bytes, _)| bytes))?;
    Ok((columns, rows, remote))
}
