//! Sources that read many files (`csv("logs/*.csv")`,
//! `parquet("events/")` with `year=2024/` folders): every file's header or
//! footer is read, files whose columns differ are refused by name, CSV
//! types are widened as one file's sample would be, and the Hive partition
//! values become typed columns after the files' own.

// A failure here is one diagnostic for the user: rare and cold, so the
// error's size does not matter.
#![allow(clippy::result_large_err)]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::check::error::{CheckError, Mistake};
use crate::files::many::{self, Found};
use crate::files::probe::{self, CsvOptions, LEVEL_SCAN_BYTES, ProbedColumn};
use crate::files::{parquet, remote};
use crate::ir::{SourceFile, SourceFiles};
use crate::schema::{Column, DType};
use crate::source::Span;

/// How a file's path is shown in messages: relative to the pipeline's
/// folder, as the user wrote it.
pub type Show<'a> = &'a dyn Fn(&Path) -> String;

/// The files a source's path names (`written`, relative to `dir`), or the
/// reason it names none.
pub fn find(dir: Option<&Path>, written: &str, extension: &str, span: Span) -> Result<Found, CheckError> {
    many::find(dir, written, extension).map_err(|e| match e {
        many::FindError::Unreadable(reason) => CheckError::SourceUnreadable { path: written.to_owned(), reason, span },
        many::FindError::PartitionsDiffer(difference) => Mistake::SourceFilesDiffer.at(
            span,
            "the files of this source sit in different `key=value` folders",
            difference,
            "a source's files are read as one table: every file needs the same `key=value` folders, in the same order",
        ),
    })
}

/// The columns of every CSV file found, one schema for all: names must
/// agree; types widen (integers and floats to floats, anything else mixed
/// to text; a column empty in one file's sample takes the others' type).
pub fn csv_columns(
    found: &mut Found,
    options: &CsvOptions,
    probes: &mut probe::Cache,
    written: &str,
    span: Span,
    show: Show,
) -> Result<Vec<ProbedColumn>, CheckError> {
    // The level scan's budget of one file is shared among them all, so a
    // glob of 10,000 files reads 4 MB for levels, not 10,000 times that
    // (every file's header and type sample are still read).
    let level_bytes = LEVEL_SCAN_BYTES / found.files.len().max(1);
    let mut merged: Option<(Vec<ProbedColumn>, &Path)> = None;
    let naming = found.naming;
    let fetched = fetched(found, |url| remote::csv_columns(url, options, level_bytes).map(|(columns, _)| columns));
    for (file, fetched) in found.files.iter_mut().zip(fetched) {
        let columns = match fetched {
            Some(columns) => {
                // An object takes about its own length in memory, as a CSV here.
                file.held_bytes = file.remote.as_ref().and_then(|r| r.size);
                columns
            }
            None => probe::csv_columns_cached(probes, &file.path, options, level_bytes),
        };
        let columns = columns.map_err(|reason| CheckError::SourceUnreadable {
            path: shown(naming, &file.path, written, show),
            reason,
            span,
        })?;
        match &mut merged {
            None => merged = Some((columns, &file.path)),
            Some((first, first_path)) => {
                let names = |c: &[ProbedColumn]| c.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
                if let Some(difference) = first_difference(&names(first), &names(&columns)) {
                    return Err(differ(first_path, &file.path, &difference, span, show));
                }
                for (into, other) in first.iter_mut().zip(columns) {
                    widen(into, other);
                }
            }
        }
    }
    Ok(merged.map(|(columns, _)| columns).unwrap_or_default())
}

/// The columns of every Parquet file found: they must be the same, in the
/// same order, with the same types.
pub fn parquet_columns(
    found: &mut Found,
    written: &str,
    span: Span,
    show: Show,
) -> Result<Vec<(String, DType)>, CheckError> {
    let mut first: Option<(Vec<(String, DType)>, &Path)> = None;
    let naming = found.naming;
    let fetched = fetched(found, |url| remote::parquet_columns(url).map(|(columns, rows, _)| (columns, rows)));
    for (file, fetched) in found.files.iter_mut().zip(fetched) {
        let columns = match fetched {
            // An object is weighed by its rows times its columns' widths,
            // from the footer (its bytes are compressed).
            Some(read) => read.map(|(columns, rows)| {
                let width: u64 = columns.iter().map(|(_, dtype)| dtype.held_width()).fold(0, u64::saturating_add);
                file.held_bytes = Some(rows.saturating_mul(width));
                columns
            }),
            None => parquet::columns(&file.path),
        };
        let columns = columns.map_err(|reason| CheckError::SourceUnreadable {
            path: shown(naming, &file.path, written, show),
            reason,
            span,
        })?;
        match &first {
            None => first = Some((columns, &file.path)),
            Some((expected, first_path)) => {
                let typed = |c: &[(String, DType)]| c.iter().map(|(n, t)| format!("{n}: {t}")).collect::<Vec<_>>();
                if let Some(difference) = first_difference(&typed(expected), &typed(&columns)) {
                    return Err(differ(first_path, &file.path, &difference, span, show));
                }
            }
        }
    }
    Ok(first.map(|(columns, _)| columns).unwrap_or_default())
}

/// Objects of a store whose head or footer is read at once: each read is a
/// few round trips, so a glob of a thousand objects would take minutes one
/// by one.
const OBJECTS_AT_ONCE: usize = 16;

/// `read` of every object among the files found (several at once), in
/// their order; `None` for a file on this machine, which the caller reads.
fn fetched<T: Send>(found: &Found, read: impl Fn(&str) -> Result<T, String> + Sync) -> Vec<Option<Result<T, String>>> {
    let urls: Vec<Option<String>> =
        found.files.iter().map(|f| Some(f.path.to_string_lossy().into_owned()).filter(|p| remote::is_url(p))).collect();
    let slots: Vec<Mutex<Option<Result<T, String>>>> = urls.iter().map(|_| Mutex::new(None)).collect();
    let objects = urls.iter().flatten().count();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..OBJECTS_AT_ONCE.min(objects) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(url) = urls.get(index) else { break };
                    if let (Some(url), Some(Ok(mut slot))) = (url, slots.get(index).map(Mutex::lock)) {
                        *slot = Some(read(url));
                    }
                }
            });
        }
    });
    slots.into_iter().map(|slot| slot.into_inner().ok().flatten()).collect()
}

/// The IR of the files found, and the partition columns to add to the
/// schema (after the files' own columns, which they may not repeat).
pub fn lower(
    found: Found,
    path: std::path::PathBuf,
    file_columns: &[String],
    origin: Span,
) -> Result<(SourceFiles, Vec<Column>), CheckError> {
    let mut columns = Vec::new();
    for (index, key) in found.keys.iter().enumerate() {
        if file_columns.contains(key) {
            return Err(Mistake::SourceFilesDiffer.at(
                origin,
                format!("the partition folders name `{key}`, and the files have a column `{key}` too"),
                "read here",
                "rename the folders or the column: a frame has one column of each name",
            ));
        }
        let values: Vec<&str> = found.files.iter().filter_map(|f| f.values[index].as_deref()).collect();
        columns.push(partition_column(key, &values, origin));
    }
    let partitions = columns.iter().map(|c| (c.name.clone(), c.dtype.clone())).collect();
    let files = found
        .files
        .into_iter()
        .map(|f| {
            // An object is known by its version, a file here by its stamp.
            let version = f.remote.and_then(|r| r.validator);
            let stamp = if version.is_some() { None } else { many::stamp(&f.path).ok() };
            SourceFile { path: f.path, values: f.values, stamp, version, held_bytes: f.held_bytes }
        })
        .collect();
    let many = found.naming != many::Naming::File;
    Ok((SourceFiles { path, many, glob: found.glob, files, partitions, folders: found.folders }, columns))
}

/// A partition column typed by its values: integers, numbers, or text
/// (whose levels are all known).
fn partition_column(key: &str, values: &[&str], origin: Span) -> Column {
    let dtype = if values.iter().all(|v| v.parse::<i64>().is_ok()) {
        DType::I64
    } else if values.iter().all(|v| v.parse::<f64>().is_ok()) {
        DType::F64
    } else {
        DType::Str
    };
    let mut column = Column::new(key, dtype.clone(), origin);
    if matches!(dtype, DType::I64 | DType::Str) {
        let levels: BTreeSet<String> = values.iter().map(|v| (*v).to_owned()).collect();
        column.sample_levels = levels.into_iter().collect::<Vec<_>>().into();
    }
    column
}

/// One file's column merged into the schema so far.
fn widen(into: &mut ProbedColumn, other: ProbedColumn) {
    if !other.sampled {
        return;
    }
    let dtype = match (&into.dtype, &other.dtype) {
        _ if !into.sampled => other.dtype.clone(),
        (a, b) if a == b => a.clone(),
        (DType::I64, DType::F64) | (DType::F64, DType::I64) => DType::F64,
        _ => DType::Str,
    };
    let levels: BTreeSet<String> = if matches!(dtype, DType::Str | DType::I64) {
        into.levels.drain(..).chain(other.levels).collect()
    } else {
        BTreeSet::new()
    };
    into.levels = levels.into_iter().collect();
    into.dtype = dtype;
    into.sampled = true;
}

/// Where two column lists first differ, in words.
fn first_difference(first: &[String], other: &[String]) -> Option<String> {
    for (index, (a, b)) in first.iter().zip(other).enumerate() {
        if a != b {
            return Some(format!("column {} is `{a}` in the first and `{b}` in the other", index.saturating_add(1)));
        }
    }
    match first.len().cmp(&other.len()) {
        std::cmp::Ordering::Equal => None,
        std::cmp::Ordering::Less => Some(format!("the other has a column more: `{}`", other[first.len()])),
        std::cmp::Ordering::Greater => Some(format!("the other lacks the column `{}`", first[other.len()])),
    }
}

fn differ(first: &Path, other: &Path, difference: &str, span: Span, show: Show) -> CheckError {
    Mistake::SourceFilesDiffer.at(
        span,
        format!("the files of this source have different columns: `{}` and `{}`", show(first), show(other)),
        difference.to_owned(),
        "a source's files are read as one table: give them the same columns, or read them with separate sources",
    )
}

/// A file of the source as the user would name it: the path as written
/// for a single file, the file found otherwise.
fn shown(naming: many::Naming, file: &Path, written: &str, show: Show) -> String {
    if naming == many::Naming::File { written.to_owned() } else { show(file) }
}
