//! Files in object stores: Amazon S3 (`s3://bucket/key`, and stores that
//! speak its API through `AWS_ENDPOINT`), Google Cloud Storage
//! (`gs://bucket/key`) and Azure Blob Storage (`az://container/blob`,
//! `abfss://...`), through the `object_store` crate Polars builds on.
//!
//! Credentials and settings come from the environment, as the stores' own
//! tools read them: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_REGION`, `AWS_ENDPOINT`, ...; `GOOGLE_SERVICE_ACCOUNT`, ...;
//! `AZURE_STORAGE_ACCOUNT_NAME`, `AZURE_STORAGE_ACCOUNT_KEY`, ....

use std::io::{Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::path::Path as Key;
use object_store::{
    BackoffConfig, GetOptions, GetRange, ObjectMeta, ObjectStore, ObjectStoreExt, ObjectStoreScheme, RetryConfig,
};

use super::{Remote, runtime};

/// The URL schemes of the object stores read here (as `object_store` names
/// them): `s3`, `s3a`; `gs`; `az`, `azure`, `abfs`, `abfss`, `adl`.
pub const STORE_SCHEMES: &[&str] = &["s3", "s3a", "gs", "az", "azure", "abfs", "abfss", "adl"];

/// A download asks for the file in parts of this many bytes, several at
/// once: one request per part keeps each inside the client's request
/// timeout, and a failed part is asked again alone.
const PART_BYTES: u64 = 16 << 20;

/// Parts of a download in flight at once (a single stream from S3 is much
/// slower than the link).
const PARTS_AT_ONCE: usize = 4;

/// A failing request is tried again at most this many times, for at most
/// this long: the stores' default (ten times over three minutes) would keep
/// `pipe check` waiting on a store that is not there.
const RETRIES: usize = 3;
const RETRY_FOR: Duration = Duration::from_secs(60);

/// The address of a cloud VM's metadata service, which S3's and Cloud
/// Storage's clients ask for credentials when the environment has none.
const INSTANCE_METADATA: &str = "169.254.169.254";

/// Whether `path` is an object-store URL (`s3://...`).
pub fn is_store_url(path: &str) -> bool {
    STORE_SCHEMES.iter().any(|scheme| path.strip_prefix(scheme).is_some_and(|rest| rest.starts_with("://")))
}

/// The store a URL names, built from the environment's settings, and the
/// object's key in it.
fn open(url: &str) -> Result<(Box<dyn ObjectStore>, Key), String> {
    let (store, key, _) = open_at(url)?;
    if key.as_ref().is_empty() {
        return Err("the URL names a bucket, not a file in it".to_owned());
    }
    Ok((store, key))
}

/// The store a URL names, the key (or key prefix) it gives, and the URL's
/// text before the key (`s3://bucket/`, `abfss://container@account.../`).
/// The key is the URL's text as written, not percent-decoded: keys are
/// listed and written that way (Spark writes `ts=12%3A00/`), as the stores'
/// own command-line tools take them.
fn open_at(url: &str) -> Result<(Box<dyn ObjectStore>, Key, String), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("not a valid URL: {e}"))?;
    let authority_start = url.find("://").map_or(0, |i| i.saturating_add(3));
    let key_start = url[authority_start..].find('/').map_or(url.len(), |i| authority_start.saturating_add(i));
    let root = format!("{}/", &url[..key_start]);
    let raw_key = url.get(key_start.saturating_add(1)..).unwrap_or("");
    let key = Key::parse(raw_key.trim_end_matches('/')).map_err(|e| format!("not a valid object key: {e}"))?;
    Ok((open_store(&parsed)?, key, root))
}

/// The store a parsed URL names.
fn open_store(parsed: &url::Url) -> Result<Box<dyn ObjectStore>, String> {
    let url = parsed.as_str();
    let (scheme, _) = ObjectStoreScheme::parse(parsed).map_err(|e| e.to_string())?;
    let retry = RetryConfig { backoff: BackoffConfig::default(), max_retries: RETRIES, retry_timeout: RETRY_FOR };
    let store: Box<dyn ObjectStore> = match scheme {
        ObjectStoreScheme::AmazonS3 => {
            Box::new(AmazonS3Builder::from_env().with_url(url).with_retry(retry).build().map_err(message)?)
        }
        ObjectStoreScheme::GoogleCloudStorage => {
            Box::new(GoogleCloudStorageBuilder::from_env().with_url(url).with_retry(retry).build().map_err(message)?)
        }
        ObjectStoreScheme::MicrosoftAzure => {
            Box::new(MicrosoftAzureBuilder::from_env().with_url(url).with_retry(retry).build().map_err(message)?)
        }
        _ => return Err(format!("`{}://` is not an object store", parsed.scheme())),
    };
    Ok(store)
}

/// What a store's error says, without the URL (the diagnostic names it).
fn message(e: object_store::Error) -> String {
    match e {
        object_store::Error::NotFound { .. } => "the store has no such file (or no such bucket)".to_owned(),
        object_store::Error::Precondition { .. } => {
            "the file changed in the store while it was read: run again".to_owned()
        }
        other => {
            let mut text = other.to_string();
            let mut source = std::error::Error::source(&other);
            while let Some(cause) = source {
                let cause_text = cause.to_string();
                if !text.contains(&cause_text) {
                    text.push_str(&format!(": {cause_text}"));
                }
                source = cause.source();
            }
            if text.contains("URL scheme is not allowed") {
                // The endpoint is `http://`, which the client refuses unless told.
                format!(
                    "the store's endpoint is plain HTTP: set `AWS_ALLOW_HTTP=true` (or `GOOGLE_ALLOW_HTTP`, \
                     `AZURE_ALLOW_HTTP`) to allow it ({text})"
                )
            } else if text.contains(INSTANCE_METADATA) {
                // No keys in the environment: the client asked the cloud
                // VM's metadata service, which a laptop does not have.
                format!("found no credentials in the environment, and no instance metadata service ({text})")
            } else {
                text
            }
        }
    }
}

/// The size and version a store gives for an object.
fn remote_of(meta: &ObjectMeta) -> Remote {
    let validator = match &meta.e_tag {
        // Azure quotes an ETag in a HEAD's header and not in a listing.
        Some(tag) => format!("etag {}", tag.trim_start_matches("W/").trim_matches('"')),
        None => format!("modified {}", meta.last_modified.to_rfc2822()),
    };
    Remote { size: Some(meta.size), validator: Some(validator) }
}

/// The objects below the folder URL `prefix` (`s3://bucket/data/`): all of
/// them, or with `recursive` false only those directly in it; each as its
/// URL, with its size and version, when `keep` takes its URL. More than
/// `limit` kept is an error, not a cut list.
pub fn list(
    prefix: &str,
    recursive: bool,
    keep: &dyn Fn(&str) -> bool,
    limit: usize,
) -> Result<Vec<(String, Remote)>, String> {
    let (store, folder, root) = open_at(prefix)?;
    // `data/` lists `data/...` (object_store lists whole path segments).
    runtime()?.block_on(async {
        let mut kept = Vec::new();
        let mut take = |meta: &ObjectMeta| {
            let url = format!("{root}{}", meta.location);
            if !keep(&url) {
                return Ok(());
            }
            if kept.len() >= limit {
                return Err(format!("it names more than {limit} files"));
            }
            kept.push((url, remote_of(meta)));
            Ok(())
        };
        if recursive {
            let mut objects = store.list(Some(&folder));
            while let Some(meta) = objects.try_next().await.map_err(message)? {
                take(&meta)?;
            }
        } else {
            for meta in store.list_with_delimiter(Some(&folder)).await.map_err(message)?.objects {
                take(&meta)?;
            }
        }
        Ok(kept)
    })
}

/// The object's size and version.
pub fn head(url: &str) -> Result<Remote, String> {
    let (store, key) = open(url)?;
    runtime()?.block_on(async {
        match store.head(&key).await {
            Ok(meta) => Ok(remote_of(&meta)),
            Err(e) => Err(failed(store.as_ref(), &key, e).await),
        }
    })
}

/// What a failed read says; for a key that names no object but has objects
/// below it, that a folder's URL ends in `/`.
async fn failed(store: &dyn ObjectStore, key: &Key, e: object_store::Error) -> String {
    if matches!(e, object_store::Error::NotFound { .. })
        && let Ok(below) = store.list_with_delimiter(Some(key)).await
        && !(below.objects.is_empty() && below.common_prefixes.is_empty())
    {
        return "no object has this key, but objects lie below it: a folder's URL ends in `/`".to_owned();
    }
    message(e)
}

/// Bytes `start..start + len` of the object (fewer at its end), and its
/// size and version: one request (a store sends the object's size and
/// version with a range).
pub fn range(url: &str, start: u64, len: u64) -> Result<(Vec<u8>, Remote), String> {
    let (store, key) = open(url)?;
    runtime()?.block_on(async {
        let empty = |meta: &ObjectMeta| Ok((Vec::new(), remote_of(meta)));
        if len == 0 {
            return empty(&store.head(&key).await.map_err(message)?);
        }
        let range = GetRange::Bounded(start..start.saturating_add(len));
        let got = store.get_opts(&key, GetOptions { range: Some(range), ..GetOptions::default() }).await;
        match got {
            Ok(result) => {
                let remote = remote_of(&result.meta);
                Ok((result.bytes().await.map_err(message)?.to_vec(), remote))
            }
            Err(e) => match store.head(&key).await {
                // Past the end, or an empty object: a store refuses the range.
                Ok(meta) if start >= meta.size => empty(&meta),
                _ => Err(failed(store.as_ref(), &key, e).await),
            },
        }
    })
}

/// One range of the object, at the version `meta` gives: its ETag, or
/// else its modification time (another version is an error, not a mix of
/// two files).
async fn part(store: &dyn ObjectStore, key: &Key, range: Range<u64>, meta: &ObjectMeta) -> Result<Vec<u8>, String> {
    let options = GetOptions {
        range: Some(GetRange::Bounded(range)),
        if_match: meta.e_tag.clone(),
        if_unmodified_since: meta.e_tag.is_none().then_some(meta.last_modified),
        ..GetOptions::default()
    };
    let result = store.get_opts(key, options).await.map_err(message)?;
    Ok(result.bytes().await.map_err(message)?.to_vec())
}

/// Downloads the whole object into `to`, in parts fetched a few at once,
/// every part at the version the first request saw.
pub fn download(url: &str, to: &Path) -> Result<Remote, String> {
    let (store, key) = open(url)?;
    let cannot_write = |e: std::io::Error| format!("cannot write `{}`: {e}", to.display());
    runtime()?.block_on(async {
        let meta = store.head(&key).await.map_err(message)?;
        let file = std::fs::File::create(to).map_err(cannot_write)?;
        let mut file = std::io::BufWriter::new(file);
        let starts = (0..meta.size).step_by(usize::try_from(PART_BYTES).unwrap_or(usize::MAX));
        let store = store.as_ref();
        let key = &key;
        let mut parts = std::pin::pin!(
            futures::stream::iter(starts)
                .map(|start| part(store, key, start..start.saturating_add(PART_BYTES).min(meta.size), &meta))
                .buffered(PARTS_AT_ONCE)
        );
        while let Some(bytes) = parts.try_next().await? {
            file.write_all(&bytes).map_err(cannot_write)?;
        }
        file.flush().map_err(cannot_write)?;
        // The parts came in order; a short part would have left a hole.
        let written = file.get_mut().seek(SeekFrom::End(0)).map_err(cannot_write)?;
        if written != meta.size {
            return Err(format!("the store sent {written} bytes of a {}-byte file", meta.size));
        }
        Ok(remote_of(&meta))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_store_urls_are_told_from_paths_and_web_urls() {
        for url in ["s3://bucket/a.csv", "gs://bucket/a.parquet", "az://container/a.csv", "abfss://c@a.dfs/x"] {
            assert!(is_store_url(url), "{url}");
        }
        for path in ["data/s3://x", "s3:/bucket", "https://host/a.csv", "s3.csv", "gsx://b/a"] {
            assert!(!is_store_url(path), "{path}");
        }
    }

    #[test]
    fn a_url_naming_only_a_bucket_is_refused_before_any_request() {
        let error = open("s3://bucket").err().unwrap();
        assert!(error.contains("names a bucket"), "{error}");
    }
}
