//! Files on HTTP(S) servers (`csv("https://...")`), by range requests and
//! whole downloads. Proxies come from the usual environment variables
//! (`HTTPS_PROXY`, `NO_PROXY`, ...).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use super::{Remote, runtime};

/// Waiting longer than this for a server to accept a connection is an error.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A request (the check's, or a download's next bytes) that waits longer
/// than this for the server fails.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The file's size and validator, from a request for its first byte (a
/// GET: a URL signed for GET only, as presigned object-store URLs are,
/// refuses HEAD).
pub fn head(url: &str) -> Result<Remote, String> {
    range(url, 0, 1).map(|(_, remote)| remote)
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
