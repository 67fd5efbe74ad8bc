//! The files one source reads: a file, a glob (`data/*.parquet`,
//! `logs/**/*.csv`) or a folder of files, with the Hive partition values
//! their folders name (`year=2024/month=1/part-0.parquet`), on this
//! machine or in an object store (`s3://bucket/events/*.parquet`,
//! `s3://bucket/events/`). The checker finds them (and reads each one's
//! header or footer); the runner finds them again and refuses to go on when
//! the list or a file changed since.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use super::remote::{self, Remote};

/// The most files one source may read (a glob over a whole disk is a
/// mistake, not a data set).
pub const MAX_FILES: usize = 100_000;

/// The value Hive (and Spark, and Polars) write for a missing partition
/// value.
pub const HIVE_NULL: &str = "__HIVE_DEFAULT_PARTITION__";

/// A file's size and modification time: what the checker saw, so that a run
/// can tell the file changed since.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Stamp {
    /// Bytes.
    pub len: u64,
    /// Modified, in nanoseconds since 1970.
    pub modified_ns: u128,
}

/// The size and modification time of `path` (links followed).
pub fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let meta = std::fs::metadata(path)?;
    let modified_ns = meta.modified()?.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    Ok(Stamp { len: meta.len(), modified_ns })
}

/// How a source names its files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naming {
    /// One file.
    File,
    /// A glob pattern.
    Glob,
    /// A folder: every file with the format's extension below it.
    Folder,
}

/// One file found, with the partition values its folders name.
#[derive(Clone, Debug, PartialEq)]
pub struct FoundFile {
    /// The file.
    pub path: PathBuf,
    /// One value per partition key, in the order of [`Found::keys`];
    /// `None` for Hive's missing value.
    pub values: Vec<Option<String>>,
    /// An object's size and version, as its store listed it.
    pub remote: Option<Remote>,
    /// About how many bytes an object's rows take in memory, once its head
    /// or footer is read (a file here is weighed when it is read).
    pub held_bytes: Option<u64>,
}

/// The files a source reads.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    /// How the path named them.
    pub naming: Naming,
    /// The files, sorted by path: the order their rows are read in.
    pub files: Vec<FoundFile>,
    /// The Hive partition keys (`year`, `month`), outermost first.
    pub keys: Vec<String>,
    /// The folders searched, where a new file would be found (for
    /// `pipe watch`).
    pub folders: Vec<PathBuf>,
    /// The glob, when the path is one.
    pub glob: Option<Glob>,
}

/// Whether a written path is a glob pattern.
pub fn is_glob(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

/// Why a source's path names no files to read.
#[derive(Clone, Debug, PartialEq)]
pub enum FindError {
    /// Nothing matches, a folder cannot be listed, too many files.
    Unreadable(String),
    /// Files in different `key=value` folders.
    PartitionsDiffer(String),
}

/// A glob as written in a source, cut where its wildcards start: `base` is
/// the literal folder (joined to the pipeline's folder, which may hold
/// characters a glob would read as wildcards), `rest` the pattern below it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Glob {
    /// The folder the matching starts in.
    pub base: PathBuf,
    /// The pattern below `base` (`*.csv`, `**/part-*.parquet`).
    pub rest: String,
}

impl Glob {
    /// The glob a source path names, relative to `dir`; `None` when the
    /// written path has no wildcard.
    pub fn of(dir: Option<&Path>, written: &str) -> Option<Glob> {
        if !is_glob(written) {
            return None;
        }
        let mut literal = PathBuf::new();
        let mut rest = PathBuf::new();
        for part in Path::new(written).components() {
            if rest.as_os_str().is_empty() && !is_glob(&part.as_os_str().to_string_lossy()) {
                literal.push(part);
            } else {
                rest.push(part);
            }
        }
        let base = dir.map_or_else(|| literal.clone(), |d| d.join(&literal));
        Some(Glob { base, rest: rest.to_string_lossy().into_owned() })
    }

    /// The whole pattern, the base's own wildcard characters escaped.
    fn pattern(&self, base: &Path) -> String {
        let escaped = glob::Pattern::escape(&base.to_string_lossy());
        match escaped.as_str() {
            "" => self.rest.clone(),
            _ => format!("{}/{}", escaped.trim_end_matches('/'), self.rest),
        }
    }
}

/// How a glob matches: `*` stops at `/` (`**` crosses folders), and a
/// name starting with `.` matches only a pattern that says so.
fn glob_options() -> glob::MatchOptions {
    glob::MatchOptions { require_literal_leading_dot: true, require_literal_separator: true, case_sensitive: true }
}

/// The files a source path names: the files a glob matches, the files
/// ending in `.extension` below a folder (hidden files and folders, and
/// names starting with `_` such as Spark's `_SUCCESS`, left out), or the
/// one file. `written` is the path as written, relative to `dir`; paths in
/// messages are shown relative to `dir`.
pub fn find(dir: Option<&Path>, written: &str, extension: &str) -> Result<Found, FindError> {
    if remote::is_url(written) {
        return stored_files(written, extension);
    }
    let show = |p: &Path| dir.and_then(|d| p.strip_prefix(d).ok()).unwrap_or(p).display().to_string();
    if let Some(glob) = Glob::of(dir, written) {
        return glob_files(&glob, &show);
    }
    let path = dir.map_or_else(|| PathBuf::from(written), |d| d.join(written));
    find_path(&path, extension, &show)
}

/// [`find`] again at run time, from what the checker kept: the glob, or
/// the folder or file `path`.
pub fn find_again(glob: Option<&Glob>, path: &Path, extension: &str) -> Result<Found, FindError> {
    let written = path.to_string_lossy();
    if remote::is_url(&written) {
        return stored_files(&written, extension);
    }
    let show = |p: &Path| p.display().to_string();
    match glob {
        Some(glob) => glob_files(glob, &show),
        None => find_path(path, extension, &show),
    }
}

fn find_path(path: &Path, extension: &str, show: &dyn Fn(&Path) -> String) -> Result<Found, FindError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => folder_files(path, extension, show),
        // A missing or unreadable file is the reader's to report.
        _ => Ok(Found {
            naming: Naming::File,
            files: vec![FoundFile { path: path.to_path_buf(), values: Vec::new(), remote: None, held_bytes: None }],
            keys: Vec::new(),
            folders: path.parent().map(Path::to_path_buf).into_iter().collect(),
            glob: None,
        }),
    }
}

fn glob_files(glob: &Glob, show: &dyn Fn(&Path) -> String) -> Result<Found, FindError> {
    let paths = glob::glob_with(&glob.pattern(&glob.base), glob_options())
        .map_err(|e| FindError::Unreadable(format!("the pattern is not valid: {}", e.msg)))?;
    let mut files = Vec::new();
    for entry in paths {
        // An entry that cannot be read (permissions) is left out like a
        // file that does not match.
        let Ok(path) = entry else { continue };
        if path.is_file() {
            files.push(path);
            if files.len() > MAX_FILES {
                return Err(FindError::Unreadable(format!("it matches more than {MAX_FILES} files")));
            }
        }
    }
    if files.is_empty() {
        return Err(FindError::Unreadable("no file matches this pattern".into()));
    }
    let mut found = found(Naming::Glob, &glob.base, files, show)?;
    found.glob = Some(glob.clone());
    Ok(found)
}

fn folder_files(dir: &Path, extension: &str, show: &dyn Fn(&Path) -> String) -> Result<Found, FindError> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        let entries = std::fs::read_dir(&folder)
            .map_err(|e| FindError::Unreadable(format!("cannot list `{}`: {e}", show(&folder))))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if skipped_name(&name) {
                continue;
            }
            let path = entry.path();
            // A linked folder is not walked (`latest -> 2024-06` would read
            // rows twice, `self -> .` forever); a linked file is read.
            let linked_folder = entry.file_type().is_ok_and(|t| t.is_symlink()) && path.is_dir();
            if linked_folder {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if path.is_file() && path.extension().is_some_and(|e| e.eq_ignore_ascii_case(extension)) {
                files.push(path);
                if files.len() > MAX_FILES {
                    return Err(FindError::Unreadable(format!("it holds more than {MAX_FILES} files")));
                }
            }
        }
    }
    if files.is_empty() {
        return Err(FindError::Unreadable(format!("the folder holds no `.{extension}` file")));
    }
    found(Naming::Folder, dir, files, show)
}

/// Whether a URL names many objects of a store: a glob
/// (`s3://bucket/events/*.parquet`) or a folder, which ends in `/`.
pub fn names_many_objects(url: &str) -> bool {
    remote::is_store_url(url) && (is_glob(url) || url.ends_with('/'))
}

/// The objects a store URL names: the one object, those a glob matches, or
/// those below a folder (ending in `/`) with the format's extension, the
/// names a folder walk leaves out left out. Each with its size and version.
fn stored_files(url: &str, extension: &str) -> Result<Found, FindError> {
    let show = |p: &Path| p.display().to_string();
    if !names_many_objects(url) {
        let one = FoundFile { path: PathBuf::from(url), values: Vec::new(), remote: None, held_bytes: None };
        return Ok(Found { naming: Naming::File, files: vec![one], keys: Vec::new(), folders: Vec::new(), glob: None });
    }
    // The literal folder the listing starts in: up to the last `/` before
    // a wildcard. Cut as text: a path's components would fold `s3://`.
    let literal_end = url.find(['*', '?', '[']).unwrap_or(url.len());
    let cut = url[..literal_end].rfind('/').unwrap_or(0);
    let (base, rest) = (&url[..cut], url.get(cut.saturating_add(1)..).unwrap_or(""));
    let glob = is_glob(url).then(|| Glob { base: PathBuf::from(base), rest: rest.to_owned() });
    let pattern = match &glob {
        Some(glob) => Some(
            glob::Pattern::new(&glob.pattern(&glob.base))
                .map_err(|e| FindError::Unreadable(format!("the pattern is not valid: {}", e.msg)))?,
        ),
        None => None,
    };
    let wanted = |object: &str| match &pattern {
        Some(pattern) => pattern.matches_with(object, glob_options()),
        None => {
            let below = object.get(base.len().saturating_add(1)..).unwrap_or("");
            !below.split('/').any(skipped_name)
                && Path::new(below).extension().is_some_and(|e| e.eq_ignore_ascii_case(extension))
        }
    };
    // A pattern within one folder lists only that folder, not all below it.
    let recursive = glob.as_ref().is_none_or(|g| g.rest.contains('/'));
    let listed = remote::list(&format!("{base}/"), recursive, &wanted, MAX_FILES).map_err(FindError::Unreadable)?;
    let mut remotes: std::collections::HashMap<PathBuf, Remote> =
        listed.into_iter().map(|(object, remote)| (PathBuf::from(object), remote)).collect();
    if remotes.is_empty() {
        return Err(FindError::Unreadable(match glob {
            Some(_) => "no object matches this pattern".into(),
            None => format!("the store holds no `.{extension}` object below this folder"),
        }));
    }
    let naming = if glob.is_some() { Naming::Glob } else { Naming::Folder };
    let mut found = found(naming, Path::new(base), remotes.keys().cloned().collect(), &show)?;
    for file in &mut found.files {
        file.remote = remotes.remove(&file.path);
    }
    // Nothing here to watch.
    found.folders.clear();
    found.glob = glob;
    Ok(found)
}

/// Names a folder source leaves out: hidden ones, and those starting with
/// `_` (Spark's `_SUCCESS`, `_metadata`).
fn skipped_name(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

/// The found files sorted, with their partition values; every file must
/// name the same keys in the same order.
fn found(
    naming: Naming,
    base: &Path,
    mut paths: Vec<PathBuf>,
    show: &dyn Fn(&Path) -> String,
) -> Result<Found, FindError> {
    paths.sort();
    let mut keys: Option<Vec<String>> = None;
    let mut files = Vec::with_capacity(paths.len());
    // The pipeline's own folder, when the glob starts there, is ".".
    let watched = if base.as_os_str().is_empty() { Path::new(".") } else { base };
    let mut folders = std::collections::BTreeSet::from([watched.to_path_buf()]);
    for path in paths {
        let (names, values) = partitions(base, &path);
        match &keys {
            None => keys = Some(names),
            Some(first) if *first != names => {
                return Err(FindError::PartitionsDiffer(format!(
                    "`{}` is partitioned by {}, and `{}` by {}",
                    show(files.first().map_or(&path, |f: &FoundFile| &f.path)),
                    show_keys(first),
                    show(&path),
                    show_keys(&names)
                )));
            }
            Some(_) => {}
        }
        folders.extend(path.parent().filter(|p| !p.as_os_str().is_empty()).map(Path::to_path_buf));
        files.push(FoundFile { path, values, remote: None, held_bytes: None });
    }
    Ok(Found { naming, files, keys: keys.unwrap_or_default(), folders: folders.into_iter().collect(), glob: None })
}

fn show_keys(keys: &[String]) -> String {
    if keys.is_empty() {
        return "nothing".into();
    }
    keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
}

/// The `key=value` folders between `base` and `file`, outermost first.
fn partitions(base: &Path, file: &Path) -> (Vec<String>, Vec<Option<String>>) {
    let relative = file.strip_prefix(base).unwrap_or(file);
    let mut names = Vec::new();
    let mut values = Vec::new();
    let folders = relative.parent().map(|p| p.components().collect::<Vec<_>>()).unwrap_or_default();
    for part in folders {
        let part = part.as_os_str().to_string_lossy();
        if let Some((key, value)) = part.split_once('=')
            && !key.is_empty()
        {
            names.push(decoded(key));
            values.push((value != HIVE_NULL).then(|| decoded(value)));
        }
    }
    (names, values)
}

/// Whether a file written at `path` (resolved) would be one of the files
/// a many-file source names next time: one its glob matches, or one below
/// its folder with the format's extension (and no name the folder walk
/// leaves out). `resolve` makes paths comparable (links, `..`).
pub fn would_read(
    glob: Option<&Glob>,
    folder: &Path,
    extension: &str,
    path: &Path,
    resolve: &dyn Fn(&Path) -> PathBuf,
) -> bool {
    if let Some(glob) = glob {
        let Ok(below) = path.strip_prefix(resolve(&glob.base)) else { return false };
        return glob::Pattern::new(&glob.rest).is_ok_and(|p| p.matches_path_with(below, glob_options()));
    }
    let Ok(below) = path.strip_prefix(resolve(folder)) else { return false };
    let skipped = below.components().any(|c| skipped_name(&c.as_os_str().to_string_lossy()));
    !skipped && path.extension().is_some_and(|e| e.eq_ignore_ascii_case(extension))
}

/// A partition folder's text with its `%XX` escapes decoded, as Hive,
/// Spark and Polars write `a:b` as `a%3Ab`.
fn decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i.saturating_add(1)..i.saturating_add(3)).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i = i.saturating_add(3);
            }
            (byte, _) => {
                out.push(byte);
                i = i.saturating_add(1);
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_read_from_key_value_folders() {
        let (keys, values) =
            partitions(Path::new("d"), Path::new("d/year=2024/x/month=__HIVE_DEFAULT_PARTITION__/f.parquet"));
        assert_eq!(keys, ["year", "month"]);
        assert_eq!(values, [Some("2024".to_owned()), None]);
    }

    #[test]
    fn partition_values_are_decoded() {
        assert_eq!(decoded("2024-01-01%2012%3A00"), "2024-01-01 12:00");
        assert_eq!(decoded("100%"), "100%");
        assert_eq!(decoded("%zz%4"), "%zz%4");
    }

    #[test]
    fn a_glob_starts_in_its_literal_folders() {
        let glob = Glob::of(Some(Path::new("exp [v2]")), "data/2024/*/x.csv").unwrap();
        assert_eq!(glob, Glob { base: PathBuf::from("exp [v2]/data/2024"), rest: "*/x.csv".into() });
        assert_eq!(glob.pattern(&glob.base), "exp [[]v2[]]/data/2024/*/x.csv");
        assert_eq!(Glob::of(None, "*.csv").unwrap().pattern(Path::new("")), "*.csv");
        assert_eq!(Glob::of(Some(Path::new("exp [v2]")), "data.csv"), None, "the folder's brackets are no glob");
    }
}
