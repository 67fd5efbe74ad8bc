//! Training on rows larger than the memory budget. The run's data (and
//! validation data) stream through their steps into Parquet files in the
//! cache folder's `scratch/` (in row groups of [`ROW_GROUP`] rows), and
//! each epoch reads the training file a window of row groups at a time
//! ([`crate::train::feed`]): only a window, the batches built ahead and
//! the model are in memory. The files are removed when the training ends.

// See src/run/mod.rs: run errors are rare and cold.
#![allow(clippy::result_large_err)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::prelude::*;

use crate::ir::{Chain, ItemId, ItemKind, Memory, TargetScaling, Train};
use crate::run::dataset::{class_names, dataset, missing};
use crate::run::error::{RunError, RunResult};
use crate::run::stream::{Layout, Streaming};
use crate::run::training::{Prepared, TrainRows, TrainedMeta, is_classification, two_classes};
use crate::run::{Session, budget, cache};
use crate::source::Span;
use crate::train::data::{Dataset, Rows, Windows};
use crate::train::loss::Affine;

/// Rows per row group of the files training reads: a window holds many,
/// from all over the file, so that its batches mix rows of the whole file.
pub const ROW_GROUP: usize = 1 << 14;

/// What the names of the files training reads start with, before the
/// process id of the run that wrote them.
const SCRATCH_PREFIX: &str = "train-";

/// A training run that reads its rows from disk: the files its data and
/// validation data are written to, and how.
pub(super) struct DiskPlan<'p> {
    /// The training rows' plan and file, then the validation rows'.
    parts: Vec<(Streaming<'p>, PathBuf)>,
}

/// Removes the files it names when dropped (the training is over, however
/// it ended).
pub(super) struct Scratch(pub(super) Vec<PathBuf>);

impl Drop for Scratch {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// `<pid>-<nanoseconds>`: a scratch file's name after its prefix, unique,
/// and telling which process wrote it (so that a killed run's files are
/// recognised and removed).
pub(super) fn scratch_stamp() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    format!("{}-{}", std::process::id(), now.as_nanos())
}

impl<'a> Session<'a> {
    /// Where a run's scratch files go (rows streamed for training, CSV
    /// spills, URL downloads): beside the cache, on disk (the temporary
    /// folder is often in memory).
    pub(super) fn scratch_folder(&self) -> PathBuf {
        self.dir.join(cache::FOLDER).join("scratch")
    }

    /// The plan of training run or evaluation `id` when its rows stream
    /// (see [`crate::ir::Memory`]) and its data's sources would not fit in
    /// the memory budget; `None` to hold them.
    pub(super) fn disk_plan(&self, id: ItemId) -> Option<DiskPlan<'a>> {
        let program = self.program;
        let item = program.items.get(id)?.as_ref()?;
        // Only training runs and evaluations read rows from disk: the rule
        // is not worked out for every other item the run attempts.
        let target = match &item.kind {
            ItemKind::Train(train) => &train.target,
            ItemKind::Evaluate { run, .. } => match &program.items.get(*run)?.as_ref()?.kind {
                ItemKind::Train(train) => &train.target,
                _ => return None,
            },
            _ => return None,
        };
        if self.in_memory {
            return None;
        }
        if !matches!(program.memory_within(id, self.within.as_ref()), Some(Memory::Streams { .. })) {
            return None;
        }
        let chains = program.disk_chains(id).ok()?;
        // The rows are in memory already: reading them again would only cost time.
        if chains.iter().any(|c| self.frames.contains_key(&c.source)) {
            return None;
        }
        let source_of = |chain: &Chain| match &program.items.get(chain.source)?.as_ref()?.kind {
            ItemKind::Source(source) => Some(source),
            _ => None,
        };
        // Its sources together (a source read by both its data and its
        // validation data counted once).
        let mut counted: Vec<ItemId> = Vec::new();
        let mut bytes = 0u64;
        for chain in &chains {
            if !counted.contains(&chain.source) {
                counted.push(chain.source);
                bytes = bytes.saturating_add(budget::source_bytes(source_of(chain)?));
            }
        }
        if bytes <= self.budget {
            return None;
        }
        let folder = self.scratch_folder();
        let stamp = scratch_stamp();
        let name: String = item.name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        let mut parts = Vec::with_capacity(chains.len());
        for (chain, part) in chains.into_iter().zip(["data", "validate"]) {
            // `train-<pid>-...`: files of a run killed while training are
            // recognised by their process id, and removed.
            let path = folder.join(format!("{SCRATCH_PREFIX}{stamp}-{name}-{part}.parquet"));
            let source = source_of(&chain)?;
            let layout = Layout::Training { target: target.clone(), row_group: ROW_GROUP };
            parts.push((Streaming::writing(chain, source, path.clone(), item.span, layout), path));
        }
        Some(DiskPlan { parts })
    }

    /// Streams a training run's (or evaluation's) rows to disk and trains
    /// (or evaluates) from there; its row counts. `None` when a pass failed
    /// for a reason other than a value that does not parse: the item runs
    /// in memory instead.
    pub(super) fn run_on_disk(&mut self, id: ItemId, plan: &DiskPlan) -> RunResult<Option<Vec<usize>>> {
        let scratch = Scratch(plan.parts.iter().map(|(_, path)| path.clone()).collect());
        if let Some(folder) = scratch.0.first().and_then(|p| p.parent()) {
            // What runs killed while training left (their files, and the
            // temporary ones of a file being written).
            crate::files::write::remove_orphans(folder, SCRATCH_PREFIX);
            crate::files::write::remove_orphans(folder, &format!(".{SCRATCH_PREFIX}"));
            std::fs::create_dir_all(folder).map_err(|e| RunError::Write {
                path: folder.display().to_string(),
                reason: e.to_string(),
                span: self.item(id).span,
            })?;
        }
        for (streaming, _) in &plan.parts {
            if self.stream(id, streaming)?.is_none() {
                return Ok(None);
            }
        }
        let mut paths = scratch.0.iter().cloned();
        let Some(data) = paths.next() else { return Ok(None) };
        let rows = match &self.item(id).kind {
            ItemKind::Evaluate { run, threshold, curves, metrics, .. } => {
                let trained = std::rc::Rc::clone(&self.trained[run]);
                let ItemKind::Train(train) = &self.item(*run).kind else { return Ok(None) };
                let span = self.item(id).span;
                let asked = crate::run::asked_of(metrics, curves.is_some());
                let (scores, rows) = crate::run::training::evaluate_file(
                    &trained,
                    trained.run(train),
                    &data,
                    (*threshold, &asked),
                    span,
                )?;
                self.evaluated_item(id, &trained, scores)?;
                vec![rows]
            }
            ItemKind::Train(_) => self.train_item(id, TrainRows::Files { data, validate: paths.next() })?,
            // `disk_plan` plans training runs and evaluations only.
            _ => return Ok(None),
        };
        drop(scratch);
        Ok(Some(rows))
    }
}

/// A run's rows in Parquet files, as the model reads them: checked whole
/// first (no missing values, every class known), so that a window read
/// in the middle of training does not fail on them.
pub(super) fn prepare_files(
    train: &Train,
    data: &Path,
    validate: Option<&Path>,
    span: Span,
    image: Option<[usize; 3]>,
) -> RunResult<Prepared> {
    let failed = read_failure(span);
    let mut rows = scan(data).map_err(failed)?;
    let schema = rows.collect_schema().map_err(failed)?;
    let weights = train.settings.weights.as_deref();
    let features: Vec<String> = schema
        .iter_names()
        .filter(|n| n.as_str() != train.target && Some(n.as_str()) != weights)
        .map(|n| n.to_string())
        .collect();
    no_missing(&rows, &schema, span)?;
    let (classes, counts) = if is_classification(train) {
        let (names, counts) = class_counts(rows, &train.target, span)?;
        let classes = crate::run::training::run_classes(train, names.clone(), span)?;
        // Each class's rows, in the run's order (0 for one the rows lack).
        let counts = classes.iter().map(|c| names.iter().position(|n| n == c).map_or(0, |i| counts[i])).collect();
        (Some(classes), Some(counts))
    } else {
        (None, None)
    };
    two_classes(train, classes.as_deref(), span)?;
    let target_scale = match train.settings.target_scale {
        Some(scaling) => Some(target_affine(scan(data).map_err(failed)?, &train.target, scaling, span)?),
        None => None,
    };
    let target = train.target.clone();
    let roles = Roles { target: &target, weights };
    let windows = ParquetWindows::open(data, &features, roles, classes.clone(), image, span)?;
    let width = windows.width;
    let val = match validate {
        Some(path) => Some(checked_rows(path, &features, &target, classes.as_deref(), image, span, |unknown| {
            RunError::data(
                format!("the validation data has a class `{unknown}` that the training data does not"),
                span,
                "validated here",
                "split with `stratify:` so every part has every class",
            )
        })?),
        None => None,
    };
    Ok(Prepared { classes, features, set: Rows::Disk(Arc::new(windows)), val, counts, width, target_scale })
}

/// The target's scaling over rows on disk, aggregated by Polars' streaming
/// engine (population std, as [`Affine::fit`]).
fn target_affine(rows: LazyFrame, target: &str, scaling: TargetScaling, span: Span) -> RunResult<Affine> {
    let y = || col(target).cast(DataType::Float64);
    let (first, second) = match scaling {
        TargetScaling::Standard => (y().mean(), y().std(0)),
        TargetScaling::MinMax => (y().min(), y().max()),
    };
    let stats = streamed(rows.select([first.alias("first"), second.alias("second")])).map_err(read_failure(span))?;
    let value = |name: &str| stats.column(name).ok().and_then(|c| c.get(0).ok()).and_then(|v| v.extract::<f64>());
    let (first, second) = (value("first").unwrap_or(0.0), value("second").unwrap_or(1.0));
    let (shift, spread) = match scaling {
        TargetScaling::Standard => (first, second),
        TargetScaling::MinMax => (first, second - first),
    };
    Ok(Affine { shift, scale: if spread > 0.0 && spread.is_finite() { spread } else { 1.0 } })
}

/// The rows of an evaluation streamed to `path`, as run `meta` reads them:
/// checked whole first, with the errors the rows held in memory give.
pub(super) fn evaluation_rows(
    meta: &TrainedMeta,
    path: &Path,
    image: Option<[usize; 3]>,
    span: Span,
) -> RunResult<Rows> {
    checked_rows(path, &meta.features, &meta.target, meta.classes.as_deref(), image, span, |unknown| {
        RunError::data(
            format!("the target has a class `{unknown}` that the training data does not"),
            span,
            "an unknown class",
            "split with `stratify:` so every part has every class",
        )
    })
}

/// The rows streamed to `path` (validation or evaluation data) as a run
/// trained on `features` and `classes` reads them, checked whole first: no
/// missing values, and no class the run does not know (`unknown` says so).
fn checked_rows(
    path: &Path,
    features: &[String],
    target: &str,
    classes: Option<&[String]>,
    image: Option<[usize; 3]>,
    span: Span,
    unknown: impl Fn(&str) -> RunError,
) -> RunResult<Rows> {
    let failed = read_failure(span);
    let mut rows = scan(path).map_err(failed)?.select(columns(features, target));
    let schema = rows.collect_schema().map_err(failed)?;
    no_missing(&rows, &schema, span)?;
    if let Some(names) = classes {
        let (found, _) = class_counts(rows, target, span)?;
        if let Some(class) = found.iter().find(|c| !names.contains(c)) {
            return Err(unknown(class));
        }
    }
    let roles = Roles { target, weights: None };
    let windows = ParquetWindows::open(path, features, roles, classes.map(<[String]>::to_vec), image, span)?;
    Ok(Rows::Disk(Arc::new(windows)))
}

/// The error for rows streamed to disk that Polars cannot read back.
fn read_failure(span: Span) -> impl Fn(PolarsError) -> RunError + Copy {
    move |e| RunError::data(format!("cannot read the training data: {e}"), span, "trained here", "")
}

/// A lazy scan of a local Parquet file.
fn scan(path: &Path) -> PolarsResult<LazyFrame> {
    // A plain path, not a `file://` URL: through the object store, a slice
    // of the file fetched all of it (3.3 GB for a window of 200,000 rows of
    // a 10M-row file); read as a local file, only the row groups the slice
    // covers are read.
    let absolute = path.canonicalize().map_err(|e| polars_err!(ComputeError: "{}: {e}", path.display()))?;
    LazyFrame::scan_parquet(PlRefPath::new(absolute.to_string_lossy().into_owned()), ScanArgsParquet::default())
}

/// A query's result, computed on the streaming engine (its memory stays
/// that of a batch, not of the file).
fn streamed(query: LazyFrame) -> PolarsResult<DataFrame> {
    // One query, one sink: a single frame (several come only from
    // `collect_all`, which is not used here).
    query.collect_with_engine(Engine::Streaming).map(|result| result.unwrap_single())
}

/// The features, then the target, as column expressions.
fn columns(features: &[String], target: &str) -> Vec<Expr> {
    features.iter().map(String::as_str).chain([target]).map(col).collect()
}

/// An error for the first column with missing values (a model cannot read
/// them), counted a column at a time: only that column is read (counting
/// every column in one query read the whole file into memory).
fn no_missing(scan: &LazyFrame, schema: &Schema, span: Span) -> RunResult<()> {
    let failed = read_failure(span);
    for name in schema.iter_names() {
        let counted = streamed(scan.clone().select([col(name.clone()).null_count()])).map_err(failed)?;
        let count = counted.columns().first().and_then(|c| c.cast(&DataType::UInt64).ok()?.u64().ok()?.get(0));
        if let Some(count) = count.filter(|n| *n > 0) {
            return Err(missing(name, usize::try_from(count).unwrap_or(usize::MAX), span));
        }
    }
    Ok(())
}

/// The classes of the target (sorted as [`class_names`] sorts them) and
/// how many rows each has, in one streaming pass.
fn class_counts(scan: LazyFrame, target: &str, span: Span) -> RunResult<(Vec<String>, Vec<usize>)> {
    let failed = read_failure(span);
    let counted = streamed(scan.group_by([col(target)]).agg([len().alias("__rows")])).map_err(failed)?;
    let names = class_names(&counted, target, span)?;
    let text = counted.column(target).and_then(|c| c.cast(&DataType::String)).map_err(failed)?;
    let rows = counted.column("__rows").and_then(|c| c.cast(&DataType::UInt64)).map_err(failed)?;
    let mut counts = vec![0usize; names.len()];
    let (text, rows) = (text.str().map_err(failed)?, rows.u64().map_err(failed)?);
    for (name, n) in text.iter().zip(rows.iter()) {
        if let (Some(name), Some(n)) = (name, n)
            && let Some(i) = names.iter().position(|c| c == name)
        {
            counts[i] = usize::try_from(n).unwrap_or(usize::MAX);
        }
    }
    Ok((names, counts))
}

/// The columns of training rows that are no features: the target, and
/// the rows' weights (`weights:`, training rows only).
#[derive(Clone, Copy)]
struct Roles<'a> {
    target: &'a str,
    weights: Option<&'a str>,
}

/// A Parquet file's rows, read a set of row groups at a time.
struct ParquetWindows {
    path: PathBuf,
    /// The file's footer, read once.
    metadata: polars::io::parquet::metadata::FileMetadataRef,
    /// The features, then the target (then the weights).
    columns: Vec<String>,
    /// Each row group's rows, and its first row.
    groups: Vec<usize>,
    starts: Vec<usize>,
    target: String,
    weights: Option<String>,
    classes: Option<Vec<String>>,
    image: Option<[usize; 3]>,
    width: usize,
    span: Span,
}

impl ParquetWindows {
    fn open(
        path: &Path,
        features: &[String],
        roles: Roles,
        classes: Option<Vec<String>>,
        image: Option<[usize; 3]>,
        span: Span,
    ) -> RunResult<ParquetWindows> {
        let Roles { target, weights } = roles;
        let unreadable = |reason: String| RunError::Unreadable {
            path: path.display().to_string(),
            reason,
            span,
            help: "the rows streamed to disk for training could not be read back; run again".into(),
        };
        let file = std::fs::File::open(path).map_err(|e| unreadable(e.to_string()))?;
        let metadata = ParquetReader::new(file).get_metadata().map_err(|e| unreadable(e.to_string()))?.clone();
        let groups: Vec<usize> = metadata.row_groups.iter().map(|group| group.num_rows()).collect();
        let mut starts = Vec::with_capacity(groups.len());
        groups.iter().fold(0usize, |start, rows| {
            starts.push(start);
            start.saturating_add(*rows)
        });
        let columns = features.iter().cloned().chain([target.to_owned()]).chain(weights.map(str::to_owned)).collect();
        let mut windows = ParquetWindows {
            path: path.to_path_buf(),
            metadata,
            columns,
            groups,
            starts,
            target: target.to_owned(),
            weights: weights.map(str::to_owned),
            classes,
            image,
            width: features.len(),
            span,
        };
        // An image column's values per row are known once a row is read.
        if image.is_some() && !windows.groups.is_empty() {
            windows.width = windows.read(&[0]).map_err(unreadable)?.width;
        }
        Ok(windows)
    }
}

impl Windows for ParquetWindows {
    fn groups(&self) -> &[usize] {
        &self.groups
    }

    fn width(&self) -> usize {
        self.width
    }

    fn read(&self, groups: &[usize]) -> Result<Dataset, String> {
        let mut frame: Option<DataFrame> = None;
        // An empty read still gives the columns (and the target's kind).
        let slices: Vec<(usize, usize)> = match groups {
            [] => vec![(0, 0)],
            groups => groups.iter().map(|&g| (self.starts[g], self.groups[g])).collect(),
        };
        for (start, rows) in slices {
            let file = std::fs::File::open(&self.path).map_err(|e| e.to_string())?;
            let mut reader = ParquetReader::new(file);
            reader.set_metadata(Arc::clone(&self.metadata));
            // Only the row groups the slice covers are decoded.
            let part = reader
                .with_columns(Some(self.columns.clone()))
                .with_slice(Some((start, rows)))
                .finish()
                .map_err(|e| e.to_string())?;
            match &mut frame {
                None => frame = Some(part),
                Some(frame) => {
                    frame.vstack_mut_owned(part).map_err(|e| e.to_string())?;
                }
            }
        }
        let frame = frame.ok_or("no rows were read")?;
        let mut set = dataset(&frame, &self.target, self.weights.as_deref(), self.classes.as_deref(), self.span)
            .map_err(|e| e.to_string())?;
        set.image = self.image;
        Ok(set)
    }
}
