//! The files one source reads: a file, a glob (`data/*.parquet`,
//! `logs/**/*.csv`) or a folder of files, with the Hive partition values
//! their folders name (`year=2024/month=1/part-0.parquet`). The checker
//! finds them (and reads each one's header or footer); the runner finds
//! them again and refuses to go on when the list or a file changed since.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

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

/// The files `path` names: itself, the files a glob matches, or the files
/// ending in `.extension` below a folder (hidden files and folders, and
/// names starting with `_` such as Spark's `_SUCCESS`, left out). Paths in
/// messages are shown relative to `shown_from` (the pipeline's folder).
pub fn find(path: &Path, extension: &str, shown_from: Option<&Path>) -> Result<Found, FindError> {
    let text = path.to_string_lossy();
    let show = |p: &Path| shown_from.and_then(|d| p.strip_prefix(d).ok()).unwrap_or(p).display().to_string();
    if is_glob(&text) {
        return glob_files(&text, &show);
    }
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => folder_files(path, extension, &show),
        // A missing or unreadable file is the reader's to report.
        _ => Ok(Found {
            naming: Naming::File,
            files: vec![FoundFile { path: path.to_path_buf(), values: Vec::new() }],
            keys: Vec::new(),
            folders: path.parent().map(Path::to_path_buf).into_iter().collect(),
        }),
    }
}

fn glob_files(pattern: &str, show: &dyn Fn(&Path) -> String) -> Result<Found, FindError> {
    let options = glob::MatchOptions { require_literal_leading_dot: true, ..glob::MatchOptions::new() };
    let paths = glob::glob_with(pattern, options)
        .map_err(|e| FindError::Unreadable(format!("the pattern is not valid: {}", e.msg)))?;
    let base = glob_base(pattern);
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
    found(Naming::Glob, &base, files, show)
}

/// The folder a glob pattern starts in: its components before the first
/// one with a wildcard.
pub fn glob_base(pattern: &str) -> PathBuf {
    let mut base = PathBuf::new();
    for part in Path::new(pattern).components() {
        if is_glob(&part.as_os_str().to_string_lossy()) {
            break;
        }
        base.push(part);
    }
    base
}

fn folder_files(dir: &Path, extension: &str, show: &dyn Fn(&Path) -> String) -> Result<Found, FindError> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        let entries = std::fs::read_dir(&folder)
            .map_err(|e| FindError::Unreadable(format!("cannot list `{}`: {e}", show(&folder))))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            let path = entry.path();
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
    let mut folders = std::collections::BTreeSet::from([base.to_path_buf()]);
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
        folders.extend(path.parent().map(Path::to_path_buf));
        files.push(FoundFile { path, values });
    }
    Ok(Found { naming, files, keys: keys.unwrap_or_default(), folders: folders.into_iter().collect() })
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
            names.push(key.to_owned());
            values.push((value != HIVE_NULL).then(|| value.to_owned()));
        }
    }
    (names, values)
}

/// Whether a file written at `path` would be one of the files `source`
/// names next time (a glob that matches it, a folder holding it with the
/// format's extension). `resolve` makes paths comparable (links, `..`).
pub fn would_read(source: &Path, extension: &str, path: &Path, resolve: &dyn Fn(&Path) -> PathBuf) -> bool {
    let text = source.to_string_lossy();
    if is_glob(&text) {
        let base = glob_base(&text);
        let rest = source.strip_prefix(&base).unwrap_or(source);
        let full = resolve(&base).join(rest);
        let options = glob::MatchOptions { require_literal_leading_dot: true, ..glob::MatchOptions::new() };
        return glob::Pattern::new(&full.to_string_lossy()).is_ok_and(|p| p.matches_path_with(path, options));
    }
    source.is_dir()
        && path.starts_with(resolve(source))
        && path.extension().is_some_and(|e| e.eq_ignore_ascii_case(extension))
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
    fn a_glob_starts_in_its_literal_folders() {
        assert_eq!(glob_base("data/2024/*/x.csv"), PathBuf::from("data/2024"));
        assert_eq!(glob_base("*.csv"), PathBuf::new());
    }
}
