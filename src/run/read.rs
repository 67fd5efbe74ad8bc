//! Sources: CSV and Parquet files read with Polars, in the types the
//! checker inferred, and failures explained down to the line and column.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::prelude::*;

use crate::files::probe::{BadRecord, CsvOptions, first_bad_value};
use crate::files::{many, remote};
use crate::ir::{Source, SourceFile, SourceFiles};
use crate::run::error::{RunError, RunResult};
use crate::schema::{DType, Schema as PipeSchema};
use crate::source::Span;

/// What to do about a file that cannot be read.
const UNREADABLE: &str = "check that the file exists, is readable, and is the format its source says";

/// Reads a source's rows, with warnings (image files left out).
pub fn read(source: &Source, span: Span) -> RunResult<(DataFrame, Vec<RunError>)> {
    match source {
        Source::Csv { files, sep, nulls, schema } => {
            unchanged(files, "csv", span)?;
            // The partition columns come last; the files hold the others.
            let own = schema.columns.len().saturating_sub(files.partitions.len());
            let file_schema = PipeSchema { columns: schema.columns[..own].to_vec() };
            let frames = each_file(files, "csv", span, &|f, path| {
                let df = read_csv(path, *sep, nulls, &file_schema, span)?;
                with_partitions(df, &files.partitions, &f.values, &f.path, span)
            });
            Ok((stack(frames?.into_iter().map(Ok), span)?, Vec::new()))
        }
        Source::Parquet { files } => {
            unchanged(files, "parquet", span)?;
            let frames = each_file(files, "parquet", span, &|f, path| {
                let df = read_parquet(path, span)?;
                with_partitions(df, &files.partitions, &f.values, &f.path, span)
            });
            Ok((stack(frames?.into_iter().map(Ok), span)?, Vec::new()))
        }
        Source::Images { dir, size, channels, classes, skip_bad } => {
            let (frame, skipped) = crate::run::images::read_folder(dir, *size, *channels, classes, *skip_bad, span)?;
            Ok((frame, skipped_warning(&skipped, span).into_iter().collect()))
        }
    }
}

/// What a URL's temporary download is named after (then the process id).
pub const DOWNLOAD_PREFIX: &str = "pipe-download-";

/// A URL's file downloaded into the temporary folder, removed when
/// dropped.
#[derive(Debug)]
pub struct Download {
    /// The URL.
    pub url: String,
    /// The downloaded file.
    pub path: PathBuf,
}

impl Download {
    /// `file`'s URL downloaded into `folder`, at the version the checker
    /// saw (another version is `source_changed`).
    pub fn of(file: &SourceFile, extension: &str, span: Span, folder: &Path) -> RunResult<Download> {
        static DOWNLOADS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = DOWNLOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Downloads a killed run left behind go first.
        crate::files::write::remove_orphans(folder, DOWNLOAD_PREFIX);
        let url = file.path.to_string_lossy().into_owned();
        let path = folder.join(format!("{DOWNLOAD_PREFIX}{}-{n}.{extension}", std::process::id()));
        let download = Download { url, path };
        if let Err(e) = std::fs::create_dir_all(folder) {
            let (path, reason) = (folder.display().to_string(), e.to_string());
            return Err(RunError::Write { path, reason, span });
        }
        match remote::download(&download.url, &download.path) {
            Ok(remote) if file.version.is_some() && remote.version_differs(file.version.as_deref()) => {
                Err(RunError::SourceChanged {
                    path: download.url.clone(),
                    change: "changed on the server".into(),
                    span,
                })
            }
            Ok(_) => Ok(download),
            Err(reason) => Err(RunError::Unreadable {
                path: download.url.clone(),
                reason,
                span,
                help: remote::unreadable_help(&download.url).into(),
            }),
        }
    }

    /// `error` naming the URL instead of the downloaded file (a name the
    /// user does not know).
    pub fn named(&self, error: RunError) -> RunError {
        let temporary = self.path.display().to_string();
        match error {
            RunError::Unreadable { path, reason, span, help } if path == temporary => {
                RunError::Unreadable { path: self.url.clone(), reason, span, help }
            }
            RunError::BadValue { path, line, column, value, expected, span } if path == temporary => {
                RunError::BadValue { path: self.url.clone(), line, column, value, expected, span }
            }
            other => other,
        }
    }
}

impl Drop for Download {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// URL files downloaded at once for a held read: each is a few round trips
/// and a transfer, so a folder of a thousand objects would take minutes
/// one by one; no more than this many wait in the temporary folder.
const DOWNLOADS_AT_ONCE: usize = 16;

/// `read` of each file of a source, in order, on this machine: the file
/// itself, or a URL's file downloaded to a temporary file (several at once,
/// each removed once read).
fn each_file(
    files: &SourceFiles,
    extension: &str,
    span: Span,
    read: &(dyn Fn(&SourceFile, &Path) -> RunResult<DataFrame> + Sync),
) -> RunResult<Vec<DataFrame>> {
    if !files.is_url() {
        return files.files.iter().map(|f| read(f, &f.path)).collect();
    }
    let mut frames = Vec::with_capacity(files.files.len());
    for chunk in files.files.chunks(DOWNLOADS_AT_ONCE) {
        let chunk: Vec<&SourceFile> = chunk.iter().collect();
        let downloads = download_all(&chunk, extension, span, &std::env::temp_dir())?;
        for (file, download) in chunk.into_iter().zip(downloads) {
            frames.push(read(file, &download.path).map_err(|e| download.named(e))?);
        }
    }
    Ok(frames)
}

/// [`Download::of`] of each file into `folder`, [`DOWNLOADS_AT_ONCE`] at a
/// time, in the files' order; the first failure is the error (the others'
/// files are removed).
pub fn download_all(files: &[&SourceFile], extension: &str, span: Span, folder: &Path) -> RunResult<Vec<Download>> {
    let mut downloads = Vec::with_capacity(files.len());
    for chunk in files.chunks(DOWNLOADS_AT_ONCE) {
        let done: Vec<RunResult<Download>> = std::thread::scope(|scope| {
            let started: Vec<_> =
                chunk.iter().map(|f| scope.spawn(|| Download::of(f, extension, span, folder))).collect();
            started.into_iter().map(|t| t.join().unwrap_or_else(|_| Err(download_panicked(span)))).collect()
        });
        for download in done {
            downloads.push(download?);
        }
    }
    Ok(downloads)
}

/// A download's thread that panicked (a bug in a library under it).
fn download_panicked(span: Span) -> RunError {
    RunError::data("a download stopped unexpectedly", span, "read here", "run again; if it happens again, report it")
}

/// `source` with each URL's file replaced by its download (`local`, in the
/// source's order; scanned as files on this machine, weighed by their
/// sizes), the partition values kept; other sources as they are.
pub fn downloaded(source: &Source, local: &[&Path]) -> Source {
    let (Source::Csv { files: remote, .. } | Source::Parquet { files: remote }) = source else { return source.clone() };
    let mut files = SourceFiles::one(local.first().map(|p| p.to_path_buf()).unwrap_or_default());
    files.files = remote
        .files
        .iter()
        .zip(local)
        .map(|(file, path)| SourceFile {
            path: path.to_path_buf(),
            values: file.values.clone(),
            stamp: many::stamp(path).ok(),
            version: None,
            held_bytes: None,
        })
        .collect();
    files.partitions = remote.partitions.clone();
    match source {
        Source::Csv { sep, nulls, schema, .. } => {
            Source::Csv { files, sep: *sep, nulls: nulls.clone(), schema: schema.clone() }
        }
        Source::Parquet { .. } => Source::Parquet { files },
        Source::Images { .. } => source.clone(),
    }
}

/// Refuses a source whose files changed since the checker read them: a
/// file added to or gone from its glob or folder, or one whose size or
/// modification time differ.
pub fn unchanged(files: &SourceFiles, extension: &str, span: Span) -> RunResult<()> {
    let changed =
        |path: &Path, change: String| RunError::SourceChanged { path: path.display().to_string(), change, span };
    // An object store's listing gives every object's version at once.
    let mut listed: std::collections::HashMap<PathBuf, Option<String>> = std::collections::HashMap::new();
    if files.many {
        let now = match many::find_again(files.glob.as_ref(), &files.path, extension) {
            Ok(found) => found.files,
            // A store that cannot be listed now is not a source that changed.
            Err(many::FindError::Unreadable(reason)) if files.is_url() => {
                let url = files.path.display().to_string();
                let help = remote::unreadable_help(&url).into();
                return Err(RunError::Unreadable { path: url, reason, span, help });
            }
            Err(_) => Vec::new(),
        };
        listed.extend(now.iter().map(|f| (f.path.clone(), f.remote.as_ref().and_then(|r| r.validator.clone()))));
        let checked: std::collections::HashSet<&Path> = files.files.iter().map(|f| f.path.as_path()).collect();
        if let Some(added) = now.iter().find(|f| !checked.contains(f.path.as_path())) {
            return Err(changed(&added.path, format!("appeared among the files of `{}`", files.path.display())));
        }
        let found: std::collections::HashSet<&Path> = now.iter().map(|f| f.path.as_path()).collect();
        if let Some(gone) = files.files.iter().find(|f| !found.contains(f.path.as_path())) {
            return Err(changed(&gone.path, "went away".into()));
        }
    }
    for file in &files.files {
        if let Some(version) = &file.version {
            let url = file.path.to_string_lossy();
            if let Some(now) = listed.get(&file.path) {
                if now.as_deref() != Some(version.as_str()) {
                    return Err(changed(&file.path, "changed in the store".into()));
                }
                continue;
            }
            match remote::head(&url) {
                Ok(remote) if !remote.version_differs(Some(version)) => {}
                Ok(_) => return Err(changed(&file.path, "changed on the server".into())),
                Err(reason) => {
                    return Err(RunError::Unreadable {
                        path: url.to_string(),
                        reason,
                        span,
                        help: remote::unreadable_help(&url).into(),
                    });
                }
            }
        }
        let Some(before) = file.stamp else { continue };
        match many::stamp(&file.path) {
            Ok(now) if now == before => {}
            Ok(now) if now.len != before.len => {
                return Err(changed(&file.path, format!("changed ({} bytes, now {})", before.len, now.len)));
            }
            Ok(_) => return Err(changed(&file.path, "was modified".into())),
            Err(_) => return Err(changed(&file.path, "went away".into())),
        }
    }
    Ok(())
}

/// The partition columns of one file's rows, each holding the value its
/// folder names (typed as the checker typed the column).
fn with_partitions(
    df: DataFrame,
    partitions: &[(String, DType)],
    values: &[Option<String>],
    path: &Path,
    span: Span,
) -> RunResult<DataFrame> {
    if partitions.is_empty() {
        return Ok(df);
    }
    let exprs = partition_exprs(partitions, values).map_err(|reason| RunError::Unreadable {
        path: path.display().to_string(),
        reason,
        span,
        help: "fix the folder's name, or declare the column's type in `dtypes: {...}`".into(),
    })?;
    df.lazy().with_columns(exprs).collect().map_err(|e| RunError::Unreadable {
        path: path.display().to_string(),
        reason: e.to_string(),
        span,
        help: UNREADABLE.into(),
    })
}

/// One file's partition columns: each holds the value its folder names,
/// typed as the checker typed the column.
fn partition_exprs(partitions: &[(String, DType)], values: &[Option<String>]) -> Result<Vec<Expr>, String> {
    let mut exprs = Vec::with_capacity(partitions.len());
    for ((name, dtype), value) in partitions.iter().zip(values) {
        let value = match value {
            None => lit(NULL),
            Some(text) => partition_value(text, dtype)
                .ok_or_else(|| format!("its folder names `{name}={text}`, which is not {dtype}"))?,
        };
        // Polars types a small integer literal as i32: every file's column
        // must have the checked type to stack.
        exprs.push(value.cast(polars_dtype(dtype)).alias(name.as_str()));
    }
    Ok(exprs)
}

/// A partition folder's value as a literal of the column's type.
fn partition_value(text: &str, dtype: &DType) -> Option<Expr> {
    Some(match dtype {
        DType::I64 | DType::Codes(_) => lit(text.parse::<i64>().ok()?),
        DType::F64 => lit(text.parse::<f64>().ok()?),
        DType::Bool => lit(match text.to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            _ => return None,
        }),
        DType::Str | DType::Cat(_) | DType::Image(_) => lit(text.to_owned()),
        DType::Tokens { .. } => return None,
    })
}

/// The files' rows one after the other, in the order given.
fn stack(frames: impl Iterator<Item = RunResult<DataFrame>>, span: Span) -> RunResult<DataFrame> {
    let mut out: Option<DataFrame> = None;
    let mut stacked = false;
    for frame in frames {
        let frame = frame?;
        match &mut out {
            None => out = Some(frame),
            Some(all) => {
                all.vstack_mut_owned(frame)
                    .map_err(|e| RunError::data(e.to_string(), span, "read here", UNREADABLE))?;
                stacked = true;
            }
        }
    }
    let mut out = out.unwrap_or_default();
    if stacked {
        // One chunk per file would slow every later step.
        out.rechunk_mut_par();
    }
    Ok(out)
}

/// The warning for image files `skip_bad` left out (none when none were).
fn skipped_warning(skipped: &crate::run::images::Found, span: Span) -> Option<RunError> {
    let (first, reason) = skipped.bad.first()?;
    let more = match skipped.bad.len() {
        1 => String::new(),
        n => format!(" and {} more", n.saturating_sub(1)),
    };
    Some(RunError::SkippedImages {
        message: format!(
            "{} image file{} could not be read and {} left out: {} ({reason}){more}",
            skipped.bad.len(),
            if skipped.bad.len() == 1 { "" } else { "s" },
            if skipped.bad.len() == 1 { "was" } else { "were" },
            first.display()
        ),
        span,
        help: "replace or remove the files to train on them".into(),
    })
}

/// The Polars type that holds a column of this type.
pub fn polars_dtype(dtype: &DType) -> DataType {
    match dtype {
        DType::I64 | DType::Codes(_) => DataType::Int64,
        DType::F64 => DataType::Float64,
        DType::Bool => DataType::Boolean,
        // Categories are held as their level names.
        DType::Str | DType::Cat(_) | DType::Image(_) => DataType::String,
        DType::Tokens { .. } => DataType::List(Box::new(DataType::Int64)),
    }
}

fn read_csv(path: &Path, sep: u8, nulls: &[String], schema: &PipeSchema, span: Span) -> RunResult<DataFrame> {
    let unreadable = |reason: String| RunError::Unreadable {
        path: path.display().to_string(),
        reason,
        span,
        help: UNREADABLE.into(),
    };
    if let Err(reason) = crate::files::regular_file(path) {
        return Err(unreadable(reason));
    }
    // Matching every field against the null strings slows parsing by half,
    // and clean files have none of them in typed columns: read with only
    // empty fields as null, then turn the null strings of text columns (and
    // NaN, when a spelling of it is listed) into nulls. A typed column
    // holding a null string fails that read; only then is the file read
    // matching every field.
    let fast = if fast_csv_allowed(nulls, schema) {
        csv_reader(path, sep, &[], schema).map(|df| nulls_after_read(df, nulls))
    } else {
        Err(polars_err!(ComputeError: "a null string reads as a value"))
    };
    match fast.or_else(|_| csv_reader(path, sep, nulls, schema)) {
        Ok(mut df) => {
            // The reader's chunks (one per 30,000 rows or so) as one: steps
            // then rewrite a column in place, and the Parquet writer, which
            // would join misaligned chunks of every column, copies nothing.
            df.rechunk_mut_par();
            Ok(df)
        }
        Err(e) => Err(explain_csv_failure(path, sep, nulls, schema, span).unwrap_or_else(|| unreadable(e.to_string()))),
    }
}

/// Whether reading with only empty fields as null (then the null strings
/// of text columns, and NaN) gives what matching every null string gives:
/// not when a null string also reads as a number (`-999`, `inf`) or a
/// boolean of a typed column, which the fast read would keep as a value.
fn fast_csv_allowed(nulls: &[String], schema: &PipeSchema) -> bool {
    let numeric = schema.columns.iter().any(|c| matches!(c.dtype, DType::I64 | DType::F64));
    let boolean = schema.columns.iter().any(|c| matches!(c.dtype, DType::Bool));
    nulls.iter().all(|n| {
        let n = n.trim();
        let number = n.parse::<f64>().is_ok_and(|v| !v.is_nan());
        let truth = n.eq_ignore_ascii_case("true") || n.eq_ignore_ascii_case("false");
        !((numeric && number) || (boolean && truth))
    })
}

/// Whether a streamed CSV source may be read the fast way first (see
/// [`fast_csv_allowed`]).
pub fn fast_csv(source: &Source) -> bool {
    match source {
        Source::Csv { nulls, schema, .. } => fast_csv_allowed(nulls, schema),
        Source::Parquet { .. } | Source::Images { .. } => false,
    }
}

fn csv_reader(path: &Path, sep: u8, nulls: &[String], schema: &PipeSchema) -> PolarsResult<DataFrame> {
    CsvReadOptions::default()
        .with_has_header(true)
        .with_schema(Some(Arc::new(csv_schema(schema))))
        .map_parse_options(|p| p.with_separator(sep).with_null_values(null_values(nulls)))
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(|reader| reader.finish())
}

/// The Polars schema a CSV file is read in.
fn csv_schema(schema: &PipeSchema) -> Schema {
    schema.columns.iter().map(|c| Field::new(c.name.as_str().into(), polars_dtype(&c.dtype))).collect()
}

fn null_values(nulls: &[String]) -> Option<NullValues> {
    (!nulls.is_empty()).then(|| NullValues::AllColumns(nulls.iter().map(|n| n.as_str().into()).collect()))
}

/// A CSV source read as a lazy query (its files on this machine, one after
/// the other, each with its partition columns; `None` for a URL, or a
/// partition value that is not of its column's type) for a streaming
/// output: the same reading as [`read`] (`fast`: only empty fields are
/// null, then the null strings of text columns; otherwise every null string
/// matched), and the same types.
pub fn scan_csv(source: &Source, fast: bool) -> Option<PolarsResult<LazyFrame>> {
    let Source::Csv { files, sep, nulls, schema } = source else { return None };
    if files.is_url() {
        return None;
    }
    let own = schema.columns.len().saturating_sub(files.partitions.len());
    let file_schema = csv_schema(&PipeSchema { columns: schema.columns[..own].to_vec() });
    let mut scans = Vec::with_capacity(files.files.len());
    for file in &files.files {
        let partitions = partition_exprs(&files.partitions, &file.values).ok()?;
        let scan = LazyCsvReader::new(file_url(&file.path)?)
            .with_glob(false)
            .with_has_header(true)
            .with_schema(Some(Arc::new(file_schema.clone())))
            .with_separator(*sep)
            .with_null_values(null_values(if fast { &[] } else { nulls }))
            .finish()
            .map(|l| {
                let exprs = if fast { null_string_exprs(&file_schema, nulls) } else { Vec::new() };
                let l = if exprs.is_empty() { l } else { l.with_columns(exprs) };
                if partitions.is_empty() { l } else { l.with_columns(partitions) }
            });
        scans.push(scan);
    }
    Some(one_after_another(scans))
}

/// A Parquet source read as a lazy query (its files on this machine, one
/// after the other, each with its partition columns; `None` for a URL), in
/// the checked types.
pub fn scan_parquet(source: &Source) -> Option<PolarsResult<LazyFrame>> {
    let Source::Parquet { files } = source else { return None };
    if files.is_url() {
        return None;
    }
    let mut scans = Vec::with_capacity(files.files.len());
    for file in &files.files {
        let partitions = partition_exprs(&files.partitions, &file.values).ok()?;
        // The partition columns are the checker's (typed, decoded): Polars'
        // own Hive inference stays off (it would also try to read dates,
        // which this build lacks, and panic).
        let args =
            ScanArgsParquet { glob: false, hive_options: HiveOptions::new_disabled(), ..ScanArgsParquet::default() };
        let scan = LazyFrame::scan_parquet(file_url(&file.path)?, args).and_then(|mut l| {
            let casts = normalizing_casts(l.collect_schema()?.as_ref());
            let l = if casts.is_empty() { l } else { l.with_columns(casts) };
            Ok(if partitions.is_empty() { l } else { l.with_columns(partitions) })
        });
        scans.push(scan);
    }
    Some(one_after_another(scans))
}

/// The files' queries as one, their rows in order.
fn one_after_another(scans: Vec<PolarsResult<LazyFrame>>) -> PolarsResult<LazyFrame> {
    let mut scans = scans.into_iter().collect::<PolarsResult<Vec<_>>>()?;
    if scans.len() == 1 {
        return Ok(scans.remove(0));
    }
    concat(scans, UnionArgs { maintain_order: true, rechunk: false, ..UnionArgs::default() })
}

/// A local file as a `file://` URL for a streaming scan: Polars then reads
/// it in ranges through its object store instead of mapping all of it (a
/// mapped 930 MB CSV counted 930 MB in the resident set while it streamed;
/// read in ranges the same output peaked at 284 MB, 5% slower).
pub(super) fn file_url(path: &Path) -> Option<PlRefPath> {
    // Canonical: Polars' object store refuses `..` in a path.
    let absolute = path.canonicalize().ok()?;
    let url = url::Url::from_file_path(absolute).ok()?;
    Some(PlRefPath::new(url.to_string()))
}

/// After a streaming read failed: the first value of a CSV source that
/// does not parse as its column's type, if that is the reason.
pub fn bad_csv_value(source: &Source, span: Span) -> Option<RunError> {
    let Source::Csv { files, sep, nulls, schema } = source else { return None };
    let own = schema.columns.len().saturating_sub(files.partitions.len());
    let file_schema = PipeSchema { columns: schema.columns[..own].to_vec() };
    files.files.iter().find_map(|f| explain_csv_failure(&f.path, *sep, nulls, &file_schema, span))
}

/// Null strings in text columns, and NaN in float columns when a spelling
/// of NaN is a null string, become nulls.
fn nulls_after_read(df: DataFrame, nulls: &[String]) -> DataFrame {
    let exprs = null_string_exprs(df.schema(), nulls);
    if exprs.is_empty() {
        return df;
    }
    let fallback = df.clone();
    df.lazy().with_columns(exprs).collect().unwrap_or(fallback)
}

/// The expressions of [`nulls_after_read`] for a frame of `schema`.
fn null_string_exprs(schema: &Schema, nulls: &[String]) -> Vec<Expr> {
    let nan_is_null = nulls.iter().any(|n| n.trim_start_matches('-').eq_ignore_ascii_case("nan"));
    let mut exprs = Vec::new();
    for (name, dtype) in schema.iter() {
        let c = col(name.clone());
        if *dtype == DataType::String && !nulls.is_empty() {
            let is_null_string = nulls.iter().map(|n| c.clone().eq(lit(n.clone()))).reduce(|a, b| a.or(b));
            if let Some(condition) = is_null_string {
                exprs.push(when(condition).then(lit(NULL).cast(DataType::String)).otherwise(c).alias(name.clone()));
            }
        } else if *dtype == DataType::Float64 && nan_is_null {
            exprs.push(
                when(c.clone().is_nan()).then(lit(NULL).cast(DataType::Float64)).otherwise(c).alias(name.clone()),
            );
        }
    }
    exprs
}

/// After Polars failed: the first value that does not parse as its column's
/// type, if that is the reason.
fn explain_csv_failure(path: &Path, sep: u8, nulls: &[String], schema: &PipeSchema, span: Span) -> Option<RunError> {
    let typed: Vec<(usize, DType)> = schema
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c.dtype, DType::I64 | DType::F64 | DType::Bool))
        .map(|(i, c)| (i, c.dtype.clone()))
        .collect();
    let options = CsvOptions { sep, nulls: nulls.to_vec() };
    let (line, problem) = first_bad_value(path, &options, &typed).ok()??;
    let (index, value) = match problem {
        BadRecord::Value { column, text } => (column, text),
        BadRecord::Fields { found, expected } => {
            return Some(RunError::Unreadable {
                path: path.display().to_string(),
                reason: format!("line {line} has {found} fields, and the header {expected}"),
                span,
                help: "quote fields that contain the separator, or fix the line".into(),
            });
        }
    };
    let column = &schema.columns[index];
    let expected = match column.dtype {
        DType::I64 => "an integer",
        DType::F64 => "a number",
        _ => "`true` or `false`",
    };
    Some(RunError::BadValue {
        path: path.display().to_string(),
        line,
        column: column.name.clone(),
        value,
        expected: expected.into(),
        span,
    })
}

fn read_parquet(path: &Path, span: Span) -> RunResult<DataFrame> {
    let unreadable = |reason: String| RunError::Unreadable {
        path: path.display().to_string(),
        reason,
        span,
        help: UNREADABLE.into(),
    };
    crate::files::regular_file(path).map_err(unreadable)?;
    let file = std::fs::File::open(path).map_err(|e| unreadable(e.to_string()))?;
    let df = ParquetReader::new(file).finish().map_err(|e| unreadable(e.to_string()))?;
    normalize(df).map_err(|e| unreadable(e.to_string()))
}

/// Narrow integers and floats widened to 64 bits, categories to their
/// names: the types the checker gave the file's columns.
fn normalize(df: DataFrame) -> PolarsResult<DataFrame> {
    let casts = normalizing_casts(df.schema());
    if casts.is_empty() { Ok(df) } else { df.lazy().with_columns(casts).collect() }
}

/// The casts [`normalize`] applies to a frame of `schema`.
fn normalizing_casts(schema: &Schema) -> Vec<Expr> {
    schema
        .iter()
        .filter_map(|(name, dtype)| {
            let target = if dtype.is_integer() && *dtype != DataType::Int64 {
                DataType::Int64
            } else if dtype.is_float() && *dtype != DataType::Float64 {
                DataType::Float64
            } else if dtype.is_categorical() || dtype.is_enum() {
                DataType::String
            } else {
                return None;
            };
            Some(col(name.clone()).cast(target))
        })
        .collect()
}
