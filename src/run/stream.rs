//! Items that never hold their rows (the rule is [`crate::ir::Memory`]).
//! A streamed item reads its source batch by batch on Polars' streaming
//! engine, as many times as it needs:
//!
//! - each pass of [`crate::ir::fit_passes`] runs the steps before its
//!   learning steps on every batch and hands the batch to their
//!   [`Learner`]s, which learn exactly what they learn from a frame held
//!   whole;
//! - an output's last pass runs every step and appends each batch to the
//!   file (a transform stores what it learned instead).
//!
//! Leading steps that look at one row at a time are part of the Polars
//! query itself ([`ops::lazy`]); the others run on each batch as it comes
//! ([`fitted::apply_noting`], the in-memory path's own code), so the file
//! written holds the same rows as the in-memory path's.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};

use polars::io::csv::write as csv;
use polars::prelude::*;

use crate::ir::{
    Chain, ChainStep, Codec, ItemId, ItemKind, Memory, Op, Source, StepKind, Train, fit_passes, pass_steps,
};
use crate::run::error::{RunError, RunResult};
use crate::run::fitted::{self, Fitted, Notes};
use crate::run::learn::Learner;
use crate::run::picks::{Counter, Picks};
use crate::run::training::{self, Trained};
use crate::run::{Session, budget, disk, ops, read, write};
use crate::source::Span;

/// What the name of a CSV source's columnar copy ([`Session::spilled`])
/// starts with (then the process id, so that a killed run's are removed).
const SPILL_PREFIX: &str = "spill-";

/// Whether a spill of a CSV of `bytes` (it takes about as much) pays:
/// read back from the page cache it costs well under a parse, so the file
/// must fit in half of this machine's memory; and it must leave the disk
/// three quarters of its free space. (100M rows, a 31 GB CSV: no spill, the
/// passes parse the CSV.)
fn spill_pays(folder: &Path, bytes: u64) -> bool {
    let memory = crate::files::machine_memory().unwrap_or(0);
    // A relative folder's last ancestor is "": the current folder.
    let disk = folder
        .ancestors()
        .find_map(|p| crate::files::free_disk(if p.as_os_str().is_empty() { Path::new(".") } else { p }))
        .unwrap_or(0);
    bytes <= memory / 2 && bytes <= disk / 4
}

/// Rows per row group of a spill: Polars' Parquet scan keeps 16 or more
/// row groups in flight, so small ones keep its memory low.
const SPILL_ROW_GROUP: usize = 1 << 14;

/// Rows per batch (a Parquet row group each).
const BATCH_ROWS: usize = 1 << 17;

/// What a streamed item runs.
pub(super) struct Streaming<'p> {
    chain: Chain<'p>,
    /// The source, or a URL source's local copy ([`read::downloaded`]).
    source: std::borrow::Cow<'p, Source>,
    end: End,
}

/// What the last pass does.
#[derive(Clone)]
enum End {
    /// Write the rows to `path`, laid out as `layout` says.
    Write { path: PathBuf, span: Span, layout: Layout },
    /// Store what the transform learned: its own steps start at `own`.
    Fit { own: usize },
}

/// How a written Parquet file is laid out.
#[derive(Clone, Debug)]
pub(super) enum Layout {
    /// An output: Polars' row groups, pages compressed with the codec
    /// `write` names.
    Output(Codec),
    /// Rows for training to read back a window at a time: row groups of
    /// `row_group` rows, every column but the target as the f32 a model
    /// reads (the values it would read from the f64s), LZ4 (fast to read).
    Training {
        /// The target column, written as it is.
        target: String,
        /// Rows per row group.
        row_group: usize,
    },
}

/// `query` with every numeric column but `target` as f32 (lists of
/// numbers, an image's pixels, as lists of f32).
fn as_read_by_models(mut query: LazyFrame, target: &str) -> Result<LazyFrame, Failure> {
    let schema = query.collect_schema().map_err(|_| Failure::Query)?;
    let casts: Vec<Expr> = schema
        .iter()
        .filter(|(name, _)| name.as_str() != target)
        .filter_map(|(name, dtype)| match dtype {
            DataType::List(inner) if inner.is_primitive_numeric() => {
                Some(col(name.clone()).cast(DataType::List(Box::new(DataType::Float32))))
            }
            dtype if dtype.is_primitive_numeric() || dtype.is_bool() => Some(col(name.clone()).cast(DataType::Float32)),
            _ => None,
        })
        .collect();
    Ok(if casts.is_empty() { query } else { query.with_columns(casts) })
}

/// Why one pass failed.
enum Failure {
    /// Reading or computing in Polars (a value that does not parse, say).
    Query,
    /// A step, on a batch: its error.
    Step(RunError),
    /// Writing the output.
    Write(String),
}

/// One pass: the steps run on each batch (`..upto`), and what is done
/// with the batch after them.
struct Pass<'f> {
    upto: usize,
    /// The learners the batches are for (none: every step runs).
    learners: &'f [usize],
    /// Where rows are counted (before the step at this index).
    count_at: Option<usize>,
    fitted: &'f [Option<Fitted>],
    /// The rows each picking step keeps (`None` for the other steps).
    picks: &'f [Option<Picks>],
    /// The trained run each `predict` step applies (`None` for the others).
    models: &'f [Option<Model<'f>>],
}

/// A trained run a `predict` step applies to each batch.
struct Model<'p> {
    trained: Rc<Trained>,
    train: &'p Train,
    /// What the step adds: probabilities, a threshold.
    asked: training::Asked<'p>,
}

/// What one step learns in a pass.
enum Learning<'o> {
    /// What it fits.
    Fit(Learner<'o>),
    /// Which rows it picks: `sample`'s, or a split's parts.
    Pick(Counter),
}

impl Learning<'_> {
    fn observe(&mut self, batch: &DataFrame, span: Span) -> RunResult<()> {
        match self {
            Learning::Fit(learner) => learner.observe(batch),
            Learning::Pick(counter) => counter.observe(batch, span),
        }
    }
}

impl<'p> Streaming<'p> {
    /// A plan that writes `chain`'s rows from `source` to the Parquet file
    /// `path`, laid out as `layout` says (errors located at `span`).
    pub(super) fn writing(chain: Chain<'p>, source: &'p Source, path: PathBuf, span: Span, layout: Layout) -> Self {
        Streaming { chain, source: std::borrow::Cow::Borrowed(source), end: End::Write { path, span, layout } }
    }

    /// This plan reading `source` (a copy of its source's rows) instead.
    fn reading(&self, source: Source) -> Streaming<'p> {
        Streaming { chain: self.chain.clone(), source: std::borrow::Cow::Owned(source), end: self.end.clone() }
    }
}

impl<'a> Session<'a> {
    /// The streaming plan of item `id`, when its rows need not be held
    /// (see [`crate::ir::Memory`]); `None` otherwise.
    pub(super) fn streaming_plan(&self, id: ItemId) -> Option<Streaming<'a>> {
        let program = self.program;
        let item = program.items.get(id)?.as_ref()?;
        let uses = self.uses.as_ref()?;
        if self.in_memory || !matches!(program.memory_within(id, self.within.as_ref()), Some(Memory::Streams { .. })) {
            return None;
        }
        let (chain, end) = match &item.kind {
            ItemKind::Output(frame) => {
                // Another item reads the output's rows: they are held for it.
                if uses.contains_key(&id) {
                    return None;
                }
                let Some(Op::Write(path, codec)) = frame.ops.last() else { return None };
                let span = frame.spans.last().copied().unwrap_or_default();
                (
                    program.output_chain(frame).ok()?,
                    End::Write { path: self.dir.join(path), span, layout: Layout::Output(*codec) },
                )
            }
            ItemKind::Transform { steps, .. } => {
                let chain = program.fit_chain(id).ok()?;
                let own = chain.steps.len().saturating_sub(steps.len());
                (chain, End::Fit { own })
            }
            _ => return None,
        };
        // The source's rows are in memory already: reading them again
        // would only cost time.
        if self.frames.contains_key(&chain.source) {
            return None;
        }
        let ItemKind::Source(source) = &program.items.get(chain.source)?.as_ref()?.kind else { return None };
        // Streaming reads the source more than once: held, it is read once,
        // which is faster when it fits.
        let always =
            matches!(program.memory_within(id, self.within.as_ref()), Some(Memory::Streams { always: true, .. }));
        if !always && budget::source_bytes(source) <= self.budget {
            return None;
        }
        Some(Streaming { chain, source: std::borrow::Cow::Borrowed(source), end })
    }

    /// `plan` reading its CSV source's rows from a columnar scratch file
    /// that one streaming pass writes, when `scans` passes would each parse
    /// the CSV (10M rows: about 8 s a pass; read back from the file, under
    /// 1 s). The file is kept for the run's later items that stream the
    /// same source, and removed when the run ends. `None` for other
    /// sources, for one pass, for a CSV too large to pay ([`spill_pays`]),
    /// and when Polars could not write the file: the passes then read the
    /// CSV (and report a value that does not parse).
    fn spilled<'p>(&mut self, id: ItemId, plan: &Streaming<'p>, scans: usize, fast: bool) -> Option<Streaming<'p>> {
        let reading = |path: &Path| plan.reading(Source::Parquet { files: crate::ir::SourceFiles::one(path.into()) });
        if let Some(spill) = self.spills.get(&plan.chain.source).and_then(|s| s.0.first()) {
            return Some(reading(spill));
        }
        let folder = self.scratch_folder();
        if scans < 2
            || !matches!(*plan.source, Source::Csv { .. })
            || !spill_pays(&folder, budget::source_bytes(&plan.source))
        {
            return None;
        }
        // What runs killed while spilling left.
        crate::files::write::remove_orphans(&folder, SPILL_PREFIX);
        crate::files::write::remove_orphans(&folder, &format!(".{SPILL_PREFIX}"));
        std::fs::create_dir_all(&folder).ok()?;
        let path = folder.join(format!("{SPILL_PREFIX}{}.parquet", disk::scratch_stamp()));
        let scratch = disk::Scratch(vec![path.clone()]);
        let name = self.item(id).name.clone();
        self.step_event(&name, 0, 1, "spill");
        // Uncompressed: the file is read back at once, from the page cache.
        let options = ParquetWriteOptions {
            compression: ParquetCompression::Uncompressed,
            row_group_size: Some(SPILL_ROW_GROUP),
            ..Default::default()
        };
        // One try: when it fails (a value that does not parse, a full
        // disk, a Polars limit, a panic in its engine), the passes read the
        // CSV and report what they meet, as without a spill.
        let scan = read::scan_csv(&plan.source, fast)?.ok()?;
        let written = std::thread::scope(|scope| scope.spawn(|| sink_parquet(scan, &path, &options)).join());
        if !matches!(written, Ok(Ok(_))) {
            return None;
        }
        self.spills.insert(plan.chain.source, scratch);
        Some(reading(&path))
    }

    /// Runs a streamed item; its row counts. `None` when a pass failed
    /// for a reason other than a value that does not parse (a Polars
    /// limit): nothing was written or stored, and the item runs in memory
    /// instead, where the failing step reports it at its own span.
    pub(super) fn stream(&mut self, id: ItemId, plan: &Streaming) -> RunResult<Option<Vec<usize>>> {
        let Some((local, urls)) = self.downloaded(plan)? else { return self.stream_files(id, plan) };
        let result = self.stream_files(id, &local);
        // An error met in a download names its URL.
        result.map_err(|e| urls.iter().filter_map(|url| self.downloads.get(url)).fold(e, |e, d| d.named(e)))
    }

    /// `plan` reading its URL source's local copies (each file downloaded
    /// once for the run, at the version the checker saw), and the URLs;
    /// `None` for a source on this machine.
    fn downloaded<'p>(&mut self, plan: &Streaming<'p>) -> RunResult<Option<(Streaming<'p>, Vec<PathBuf>)>> {
        let (Source::Csv { files, .. } | Source::Parquet { files }) = &*plan.source else { return Ok(None) };
        if !files.is_url() {
            return Ok(None);
        }
        let extension = if matches!(*plan.source, Source::Csv { .. }) { "csv" } else { "parquet" };
        let missing: Vec<&crate::ir::SourceFile> =
            files.files.iter().filter(|f| !self.downloads.contains_key(&f.path)).collect();
        if !missing.is_empty() {
            // A streamed source outgrows memory: on disk, not in the
            // temporary folder.
            let folder = self.scratch_folder();
            let span = self.item(plan.chain.source).span;
            for (file, download) in missing.iter().zip(read::download_all(&missing, extension, span, &folder)?) {
                self.downloads.insert(file.path.clone(), download);
            }
        }
        let local: Vec<&std::path::Path> = files.files.iter().map(|f| self.downloads[&f.path].path.as_path()).collect();
        let source = read::downloaded(&plan.source, &local);
        Ok(Some((plan.reading(source), files.files.iter().map(|f| f.path.clone()).collect())))
    }

    /// [`Session::stream`] of a plan whose source is on this machine.
    fn stream_files(&mut self, id: ItemId, plan: &Streaming) -> RunResult<Option<Vec<usize>>> {
        let name = self.item(id).name.clone();
        self.step_event(&name, 0, 1, "stream");
        let steps = &plan.chain.steps;
        let mut fitted = Vec::with_capacity(steps.len());
        for step in steps {
            fitted.push(match step.fitted_by {
                Some((transform, index)) => {
                    self.ensure(transform, true)?;
                    self.fitted.get(&transform).and_then(|(learned, _)| learned.get(index).cloned())
                }
                None if step.learns_here() && !step.picks_rows() => None,
                None => Some(Fitted::Nothing),
            });
        }
        // The runs `predict` steps apply, trained first.
        let program = self.program;
        let mut models: Vec<Option<Model>> = Vec::with_capacity(steps.len());
        for step in steps {
            models.push(match step.op() {
                Some(Op::Predict { run, probability, classes, threshold }) => {
                    self.ensure(*run, true)?;
                    let Some(ItemKind::Train(train)) =
                        program.items.get(*run).and_then(Option::as_ref).map(|i| &i.kind)
                    else {
                        return Err(unfitted(step.span));
                    };
                    let trained = self.trained.get(run).ok_or_else(|| unfitted(step.span))?;
                    let asked = training::Asked { probability: *probability, classes, threshold: *threshold };
                    Some(Model { trained: Rc::clone(trained), train, asked })
                }
                _ => None,
            });
        }
        // A split's parts are dealt once: a chain through another of its
        // parts dealt them already.
        let mut picks: Vec<Option<Picks>> = steps
            .iter()
            .map(|step| match step.kind {
                StepKind::Part { split, part, .. } => {
                    self.assignments.get(&split).map(|of_row| Picks::part(Arc::clone(of_row), part))
                }
                StepKind::Op(_) => None,
            })
            .collect();
        let passes: Vec<Vec<usize>> = fit_passes(steps)
            .into_iter()
            .map(|pass| pass.into_iter().filter(|&i| picks[i].is_none()).collect::<Vec<_>>())
            .filter(|pass| !pass.is_empty())
            .collect();
        let mut fast = read::fast_csv(&plan.source);
        // The passes, and the last one: the write, or for a transform whose
        // passes all learn before its own steps, the pass that counts the
        // rows it is fitted on.
        let last = match plan.end {
            End::Write { .. } => true,
            End::Fit { own } => !passes.iter().any(|pass| own <= pass[0]),
        };
        let scans = passes.len().saturating_add(usize::from(last));
        let spilled = self.spilled(id, plan, scans, fast);
        let plan = spilled.as_ref().unwrap_or(plan);
        let mut counted = None;
        for pass in passes {
            let upto = pass[0];
            let count_at = match plan.end {
                End::Fit { own } if own <= upto => Some(own),
                _ => None,
            };
            let mut learners: Vec<(Learning, Span)> = Vec::new();
            let outcome = self.attempts(plan, &mut fast, |fast| {
                learners = pass.iter().filter_map(|&i| learning(&steps[i])).collect();
                let learners = &mut learners;
                let mut rows = 0;
                let work = Pass { upto, learners: &pass, count_at, fitted: &fitted, picks: &picks, models: &models };
                let result = scan(plan, fast, &work, &mut Notes::default(), &mut rows, &mut |batch: DataFrame| {
                    learners.iter_mut().try_for_each(|(l, span)| l.observe(&batch, *span))
                });
                result.map(|()| rows)
            })?;
            let Some(rows) = outcome else { return Ok(None) };
            if count_at.is_some() {
                counted = Some(rows);
            }
            let mut warnings = Vec::new();
            for (&index, (learning, span)) in pass.iter().zip(learners) {
                match learning {
                    Learning::Fit(learner) => fitted[index] = Some(learner.finish(&mut warnings)?),
                    Learning::Pick(counter) => picks[index] = Some(self.picked(&steps[index], counter, span)?),
                }
            }
            self.warn(warnings);
        }
        let fitted = fitted;
        match &plan.end {
            End::Fit { own } => {
                let rows = match counted {
                    Some(rows) => rows,
                    None => {
                        let work = Pass {
                            upto: *own,
                            learners: &[],
                            count_at: Some(*own),
                            fitted: &fitted,
                            picks: &picks,
                            models: &models,
                        };
                        let outcome = self.attempts(plan, &mut fast, |fast| {
                            let mut rows = 0;
                            let result = scan(plan, fast, &work, &mut Notes::default(), &mut rows, &mut |_| Ok(()));
                            result.map(|()| rows)
                        })?;
                        let Some(rows) = outcome else { return Ok(None) };
                        rows
                    }
                };
                let learned: Option<Vec<Fitted>> = fitted[*own..].iter().cloned().collect();
                let Some(learned) = learned else { return Ok(None) };
                self.fitted.insert(id, (Rc::new(learned), rows));
                Ok(Some(vec![rows]))
            }
            End::Write { path, span, .. } => {
                let mut notes = Notes::default();
                let work = Pass {
                    upto: steps.len(),
                    learners: &[],
                    count_at: None,
                    fitted: &fitted,
                    picks: &picks,
                    models: &models,
                };
                let outcome = self.attempts(plan, &mut fast, |fast| {
                    notes = Notes::default();
                    write_pass(plan, fast, &work, &mut notes, path)
                });
                let written = match outcome {
                    Err(RunError::Write { path, reason, .. }) => Err(RunError::Write { path, reason, span: *span }),
                    other => other,
                }?;
                self.warn(std::mem::take(&mut notes).warnings());
                Ok(written.map(|rows| vec![rows]))
            }
        }
    }

    /// The rows picking step `step` keeps of those `counter` counted (a
    /// split's parts are kept for the chains through its other parts).
    fn picked(&mut self, step: &ChainStep, counter: Counter, span: Span) -> RunResult<Picks> {
        match step.kind {
            StepKind::Op(Op::Sample { size, seed }) => counter.sample(*size, seed.unwrap_or(0), span),
            StepKind::Part { split, part, .. } => {
                let program = self.program;
                let Some(ItemKind::Split { fractions, seed, .. }) =
                    program.items.get(split).and_then(Option::as_ref).map(|item| &item.kind)
                else {
                    return Err(unfitted(span));
                };
                let of_row = counter.split(fractions, *seed);
                self.assignments.insert(split, Arc::clone(&of_row));
                Ok(Picks::part(of_row, part))
            }
            StepKind::Op(_) => Err(unfitted(span)),
        }
    }

    /// Runs `pass` (CSV: first with only empty fields as null, which is
    /// fast, then with every null string matched, as a source read into
    /// memory is; `fast` remembers which worked). A value that does not
    /// parse is the error a read into memory gives; `None` for other
    /// failures of the query.
    fn attempts(
        &self,
        plan: &Streaming,
        fast: &mut bool,
        mut pass: impl FnMut(bool) -> Result<usize, Failure>,
    ) -> RunResult<Option<usize>> {
        let tries: &[bool] = match (&*plan.source, *fast) {
            (Source::Csv { .. }, true) => &[true, false],
            _ => &[false],
        };
        for &attempt in tries {
            *fast = attempt && matches!(*plan.source, Source::Csv { .. });
            match pass(*fast) {
                Ok(rows) => return Ok(Some(rows)),
                Err(Failure::Step(error)) => return Err(error),
                Err(Failure::Write(reason)) => {
                    let path = match &plan.end {
                        End::Write { path, .. } => path.display().to_string(),
                        End::Fit { .. } => String::new(),
                    };
                    return Err(RunError::Write { path, reason, span: Span::default() });
                }
                Err(Failure::Query) => {}
            }
        }
        let source_span = self.item(plan.chain.source).span;
        match read::bad_csv_value(&plan.source, source_span) {
            Some(error) => Err(error),
            None => Ok(None),
        }
    }
}

/// What step `step` learns in a pass, and where it is written; `None`
/// when it learns nothing.
fn learning<'o>(step: &ChainStep<'o>) -> Option<(Learning<'o>, Span)> {
    let learning = match step.kind {
        StepKind::Op(Op::Sample { .. }) => Learning::Pick(Counter::new(None)),
        StepKind::Part { stratify, .. } => Learning::Pick(Counter::new(stratify)),
        StepKind::Op(op) => Learning::Fit(Learner::new(op, step.span)?),
    };
    Some((learning, step.span))
}

/// How many leading steps of `..upto` run inside the Polars query.
fn in_query(plan: &Streaming, upto: usize) -> usize {
    plan.chain.steps[..upto].iter().take_while(|s| s.is_row_wise()).count()
}

/// Whether a step of `from..upto` must see the batches one after the
/// other, in order, on this thread: one that picks rows by position, or a
/// `predict` (its model is this thread's).
fn in_order_between(plan: &Streaming, from: usize, upto: usize) -> bool {
    plan.chain.steps[from..upto].iter().any(|s| s.picks_rows() || matches!(s.op(), Some(Op::Predict { .. })))
}

/// The source's scan with the steps [`in_query`] takes.
fn query(plan: &Streaming, fast: bool, upto: usize) -> Result<LazyFrame, Failure> {
    let scan = match &*plan.source {
        Source::Csv { .. } => read::scan_csv(&plan.source, fast),
        Source::Parquet { .. } | Source::Images { .. } => read::scan_parquet(&plan.source),
    };
    let Some(Ok(scan)) = scan else { return Err(Failure::Query) };
    let steps = &plan.chain.steps[..in_query(plan, upto)];
    steps.iter().try_fold(scan, |l, s| ops::lazy(s.op().ok_or(Failure::Query)?, l).map_err(|_| Failure::Query))
}

/// Runs one pass: every batch through the steps `..work.upto`, then to
/// `visit`; `rows` counts the rows at `work.count_at` (or at the end). A
/// source with no rows gives one empty batch, so that `visit` sees the
/// columns.
fn scan(
    plan: &Streaming,
    fast: bool,
    work: &Pass,
    notes: &mut Notes,
    rows: &mut usize,
    visit: &mut dyn FnMut(DataFrame) -> RunResult<()>,
) -> Result<(), Failure> {
    // Rows are counted between steps, so the query stops where they are.
    let limit = work.count_at.map_or(work.upto, |at| at.min(work.upto));
    let mut query = query(plan, fast, limit)?;
    let first = in_query(plan, limit);
    // A pass that learns runs only the steps its learners need, on only
    // the columns they need.
    let pruned = match work.learners {
        [] => None,
        learners => pass_steps(&plan.chain.steps, first, work.upto, learners),
    };
    if let Some((_, needed)) = &pruned {
        let schema = query.collect_schema().map_err(|_| Failure::Query)?;
        let mut kept: Vec<Expr> =
            schema.iter_names().filter(|n| needed.iter().any(|c| c == n.as_str())).map(|n| col(n.clone())).collect();
        // Counting rows needs a column (batches of none have no rows).
        if kept.is_empty()
            && let Some(first) = schema.iter_names().next()
        {
            kept.push(col(first.clone()));
        }
        query = query.select(kept);
    }
    let mut offsets = vec![0usize; plan.chain.steps.len()];
    let empty = DataFrame::empty_with_schema(&*query.collect_schema().map_err(|_| Failure::Query)?);
    let mut on_batch = |mut batch: DataFrame| -> RunResult<()> {
        for (index, (step, fitted)) in plan.chain.steps.iter().zip(work.fitted).enumerate().take(work.upto).skip(first)
        {
            if work.count_at == Some(index) {
                *rows = rows.saturating_add(batch.height());
            }
            if pruned.as_ref().is_some_and(|(runs, _)| !runs[index]) {
                continue;
            }
            if step.picks_rows() {
                let picks = work.picks[index].as_ref().ok_or_else(|| unfitted(step.span))?;
                batch = picks.keep(batch, &mut offsets[index], step.span)?;
                continue;
            }
            if let Some(model) = &work.models[index] {
                batch =
                    training::predict(&model.trained, model.trained.run(model.train), batch, &model.asked, step.span)?;
                continue;
            }
            let (Some(fitted), Some(op)) = (fitted.as_ref(), step.op()) else { return Err(unfitted(step.span)) };
            notes.at(index);
            batch = fitted::apply_noting(op, fitted, batch, step.span, Path::new(""), notes)?;
        }
        if work.count_at.is_none_or(|at| at >= work.upto) {
            *rows = rows.saturating_add(batch.height());
        }
        visit(batch)
    };
    let (sender, receiver) = sync_channel::<Message>(2);
    let batches = sender.clone();
    let callback = PlanCallback::new(move |df: DataFrame| Ok(batches.send(Message::Batch(df)).is_err()));
    let sunk = query.sink_batches(callback, true, NonZeroUsize::new(BATCH_ROWS)).map_err(|_| Failure::Query)?;
    std::thread::scope(|scope| {
        let runner = scope.spawn(move || {
            let result = sunk.collect_with_engine(Engine::Streaming).map(|_| ());
            // The receiver may be gone (a step failed): nothing to tell.
            let _ = sender.send(Message::Done(result));
        });
        let outcome = receive(receiver, &mut on_batch, empty);
        // A panic in Polars' engine is a failed query: the in-memory path
        // runs instead.
        let ran = runner.join().map_err(|_| Failure::Query);
        outcome.and(ran)
    })
}

/// What the query's thread sends.
enum Message {
    Batch(DataFrame),
    Done(PolarsResult<()>),
}

/// Hands each batch to `on_batch` until the query is done; dropping the
/// receiver on a failure stops the query at its next batch.
fn receive(
    receiver: Receiver<Message>,
    on_batch: &mut dyn FnMut(DataFrame) -> RunResult<()>,
    empty: DataFrame,
) -> Result<(), Failure> {
    let mut any = false;
    for message in receiver.iter() {
        match message {
            Message::Batch(batch) => {
                any = true;
                on_batch(batch).map_err(Failure::Step)?;
            }
            Message::Done(Ok(())) => break,
            Message::Done(Err(_)) => return Err(Failure::Query),
        }
    }
    if !any {
        on_batch(empty).map_err(Failure::Step)?;
    }
    Ok(())
}

fn unfitted(span: Span) -> RunError {
    RunError::data(
        "a streamed step reached its batch before what it learns",
        span,
        "not fitted",
        "this is a bug in pipe; please report it with this file",
    )
}

/// The pass that writes an output; the rows written. Steps that all run
/// inside the Polars query go through [`sink`]; Parquet with steps after
/// the query through [`sink_applied`], unless a step must see the batches
/// in order ([`in_order_between`]); the rest (CSV, and those) append
/// batch by batch, in order, with [`Appender`].
fn write_pass(plan: &Streaming, fast: bool, work: &Pass, notes: &mut Notes, path: &Path) -> Result<usize, Failure> {
    let first = in_query(plan, work.upto);
    if first == work.upto {
        return sink(query(plan, fast, work.upto)?, path, layout(plan));
    }
    let csv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if !csv && !in_order_between(plan, first, work.upto) {
        return sink_applied(plan, fast, work, notes, path);
    }
    let mut failure = None;
    let mut rows = 0;
    let written = write::atomically(path, |file| {
        let mut appender: Option<Appender> = None;
        let result = scan(plan, fast, work, notes, &mut rows, &mut |batch: DataFrame| {
            let batch = match layout(plan) {
                Layout::Training { target, .. } if !csv => as_read_by_models(batch.lazy(), target)
                    .and_then(|q| q.collect().map_err(|_| Failure::Query))
                    .map_err(|_| {
                        write_error(polars_err!(ComputeError: "the rows could not be laid out for training"))
                    })?,
                _ => batch,
            };
            let appender = match &mut appender {
                Some(appender) => appender,
                None => {
                    let out = file.try_clone().map_err(|e| write_error(e.into()))?;
                    appender.insert(Appender::open(out, &batch, csv, layout(plan)).map_err(write_error)?)
                }
            };
            appender.append(batch).map_err(write_error)
        });
        if let Err(f) = result {
            failure = Some(f);
            return Err("the pass failed".into());
        }
        appender.ok_or("nothing was written")?.finish().map_err(|e| e.to_string())
    });
    match (written, failure) {
        (Ok(()), _) => Ok(rows),
        (Err(_), Some(Failure::Step(RunError::Write { reason, .. }))) => Err(Failure::Write(reason)),
        (Err(_), Some(f)) => Err(f),
        (Err(reason), None) => Err(Failure::Write(reason)),
    }
}

/// A file written batch by batch, in order.
enum Appender {
    /// CSV, with the writer `write(...)` uses (the same text for the same
    /// rows).
    Csv(csv::BatchedWriter<std::fs::File>),
    /// Parquet, in row groups of `row_group` rows (the last one fewer):
    /// the rows short of a whole group wait in `pending` for the next
    /// batch, so that the file is laid out as [`sink`] lays it out.
    Parquet {
        writer: Box<write::RowGroups<std::io::BufWriter<std::fs::File>>>,
        row_group: usize,
        pending: Option<DataFrame>,
    },
}

impl Appender {
    /// A writer to `out` for batches like `first`, laid out as `layout`
    /// says.
    fn open(out: std::fs::File, first: &DataFrame, csv: bool, layout: &Layout) -> PolarsResult<Appender> {
        if csv {
            return Ok(Appender::Csv(CsvWriter::new(out).batched(first.schema())?));
        }
        let (codec, row_group) = match layout {
            Layout::Output(codec) => (write::compression(*codec), BATCH_ROWS),
            Layout::Training { row_group, .. } => (ParquetCompression::Lz4Raw, *row_group),
        };
        let writer = Box::new(write::RowGroups::open(write::buffered(out), first.schema(), codec)?);
        Ok(Appender::Parquet { writer, row_group: row_group.max(1), pending: None })
    }

    fn append(&mut self, batch: DataFrame) -> PolarsResult<()> {
        match self {
            Appender::Csv(writer) => writer.write_batch(&batch),
            Appender::Parquet { writer, row_group, pending } => {
                let mut rows = match pending.take() {
                    Some(mut waiting) => {
                        waiting.vstack_mut_owned(batch)?;
                        waiting
                    }
                    None => batch,
                };
                // One chunk, so that each row group is a whole slice of it
                // (the writer takes each chunk as a row group).
                rows.rechunk_mut();
                let whole = rows.height().checked_div(*row_group).unwrap_or(0).saturating_mul(*row_group);
                let mut start = 0;
                while start < whole {
                    writer.write(&rows.slice(start as i64, *row_group))?;
                    start = start.saturating_add(*row_group);
                }
                *pending = Some(rows.slice(whole as i64, rows.height().saturating_sub(whole)));
                Ok(())
            }
        }
    }

    fn finish(self) -> PolarsResult<()> {
        match self {
            Appender::Csv(mut writer) => writer.finish(),
            Appender::Parquet { mut writer, pending, .. } => {
                if let Some(mut rest) = pending.filter(|rest| rest.height() > 0) {
                    rest.rechunk_mut();
                    writer.write(&rest)?;
                }
                writer.finish().map(|_| ())
            }
        }
    }
}

/// [`write_pass`] for Parquet: the steps after the query run inside it, as
/// a function Polars' streaming engine calls on each morsel (in parallel),
/// so that Polars' own sink writes the file (its column encoding runs
/// beside the parsing: appending batch by batch from this thread took
/// 1.5 times as long).
fn sink_applied(plan: &Streaming, fast: bool, work: &Pass, notes: &mut Notes, path: &Path) -> Result<usize, Failure> {
    let mut query = query(plan, fast, work.upto)?;
    let first = in_query(plan, work.upto);
    let mut steps = Vec::new();
    for (index, (step, fitted)) in plan.chain.steps.iter().zip(work.fitted).enumerate().take(work.upto).skip(first) {
        // Steps that see the batches in order go through `Appender`.
        let (Some(fitted), Some(op)) = (fitted.clone(), step.op()) else {
            return Err(Failure::Step(unfitted(step.span)));
        };
        steps.push((index, op.clone(), step.span, fitted));
    }
    let steps = Arc::new(steps);
    let apply = |steps: &[(usize, Op, Span, Fitted)], mut df: DataFrame, notes: &mut Notes| -> RunResult<DataFrame> {
        for (index, op, span, fitted) in steps {
            notes.at(*index);
            df = fitted::apply_noting(op, fitted, df, *span, Path::new(""), notes)?;
        }
        Ok(df)
    };
    // The schema the steps give: what they make of no rows.
    let input = query.collect_schema().map_err(|_| Failure::Query)?;
    let schema = apply(&steps, DataFrame::empty_with_schema(&input), &mut Notes::default())
        .map_err(Failure::Step)?
        .schema()
        .clone();
    let shared = Arc::new(Mutex::new((Notes::default(), None::<RunError>)));
    let (udf_steps, udf_shared) = (Arc::clone(&steps), Arc::clone(&shared));
    let udf = move |df: DataFrame| -> PolarsResult<DataFrame> {
        let mut batch_notes = Notes::default();
        let result = apply(&udf_steps, df, &mut batch_notes);
        let mut state = udf_shared.lock().map_err(|_| polars_err!(ComputeError: "a step failed"))?;
        match result {
            Ok(df) => {
                state.0.merge(batch_notes);
                Ok(df)
            }
            Err(error) => {
                let message = error.to_string();
                state.1.get_or_insert(error);
                Err(polars_err!(ComputeError: "{message}"))
            }
        }
    };
    let output_schema = move |_: &Schema| -> PolarsResult<SchemaRef> { Ok(schema.clone()) };
    query =
        query.map(udf, OptFlags::default() | OptFlags::STREAMING, Some(Arc::new(output_schema)), Some("pipe steps"));
    let written = sink(query, path, layout(plan));
    let (batch_notes, error) = match shared.lock() {
        Ok(mut state) => (std::mem::take(&mut state.0), state.1.take()),
        Err(_) => (Notes::default(), None),
    };
    if let Some(error) = error {
        return Err(Failure::Step(error));
    }
    notes.merge(batch_notes);
    written
}

/// How a plan's file is laid out.
fn layout<'s>(plan: &'s Streaming) -> &'s Layout {
    match &plan.end {
        End::Write { layout, .. } => layout,
        // Nothing is written: the layout is never read.
        End::Fit { .. } => &Layout::Output(Codec::Zstd),
    }
}

/// A writer's failure, carried through a step's error.
fn write_error(e: PolarsError) -> RunError {
    RunError::Write { path: String::new(), reason: e.to_string(), span: Span::default() }
}

/// Runs `query` on the streaming engine into `path` (atomically: a failure
/// leaves the previous file); the rows written. Parquet goes through
/// Polars' own sink (its column encoding runs in parallel: writing batch by
/// batch from a callback took 2.5x as long), CSV through [`sink_batches`].
fn sink(query: LazyFrame, path: &Path, layout: &Layout) -> Result<usize, Failure> {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
        return sink_batches(query, path);
    }
    let (query, options) = match layout {
        Layout::Output(codec) => {
            (query, ParquetWriteOptions { compression: write::compression(*codec), ..ParquetWriteOptions::default() })
        }
        Layout::Training { target, row_group } => {
            let options = ParquetWriteOptions {
                row_group_size: Some(*row_group),
                compression: ParquetCompression::Lz4Raw,
                ..ParquetWriteOptions::default()
            };
            (as_read_by_models(query, target)?, options)
        }
    };
    sink_parquet(query, path, &options)
}

/// Writes the rows of `query` to the Parquet file `path` with Polars' sink
/// (atomically); how many.
fn sink_parquet(query: LazyFrame, path: &Path, options: &ParquetWriteOptions) -> Result<usize, Failure> {
    let mut query_error = None;
    let mut rows = 0;
    let written = write::atomically_at(path, |temporary| {
        let target = SinkTarget::Path(PlRefPath::new(temporary.to_string_lossy().into_owned()));
        let format = FileWriteFormat::Parquet(Arc::new(options.clone()));
        let run = query
            .clone()
            .sink(SinkDestination::File { target }, format, UnifiedSinkArgs::default())
            .and_then(|sink| sink.collect_with_engine(Engine::Streaming));
        if let Err(e) = run {
            let reason = e.to_string();
            query_error = Some(());
            return Err(reason);
        }
        let count = crate::files::parquet::rows(temporary)?;
        rows = usize::try_from(count).map_err(|e| e.to_string())?;
        Ok(())
    });
    match (written, query_error) {
        (Ok(()), _) => Ok(rows),
        (Err(_), Some(())) => Err(Failure::Query),
        (Err(reason), None) => Err(Failure::Write(reason)),
    }
}

/// [`sink`] for CSV: a callback writes each batch with the writer
/// `write(...)` uses (the same text for the same rows).
fn sink_batches(mut query: LazyFrame, path: &Path) -> Result<usize, Failure> {
    let schema = query.collect_schema().map_err(|_| Failure::Query)?;
    let rows = Arc::new(AtomicUsize::new(0));
    let write_error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let mut query_error = None;
    let written = write::atomically(path, |file| {
        let out = file.try_clone().map_err(|e| e.to_string())?;
        let writer = CsvWriter::new(out).batched(&schema).map_err(|e| e.to_string())?;
        let writer = Arc::new(Mutex::new(Some(writer)));
        let (batch_writer, batch_rows, batch_error) =
            (Arc::clone(&writer), Arc::clone(&rows), Arc::clone(&write_error));
        let callback = PlanCallback::new(move |df: DataFrame| {
            let mut slot = batch_writer.lock().map_err(|_| polars_err!(ComputeError: "a writer failed"))?;
            let Some(writer) = slot.as_mut() else { return Ok(true) };
            if let Err(e) = writer.write_batch(&df) {
                if let Ok(mut first) = batch_error.lock() {
                    first.get_or_insert_with(|| e.to_string());
                }
                return Err(e);
            }
            batch_rows.fetch_add(df.height(), Ordering::Relaxed);
            // Go on.
            Ok(false)
        });
        let run = query
            .clone()
            .sink_batches(callback, true, NonZeroUsize::new(BATCH_ROWS))
            .and_then(|sink| sink.collect_with_engine(Engine::Streaming));
        if let Err(e) = run {
            let reason = e.to_string();
            query_error = Some(());
            return Err(reason);
        }
        let mut writer = writer.lock().ok().and_then(|mut w| w.take()).ok_or("the writer was lost")?;
        writer.finish().map_err(|e| e.to_string())
    });
    match written {
        Ok(()) => Ok(rows.load(Ordering::Relaxed)),
        Err(reason) => match (write_error.lock().ok().and_then(|mut e| e.take()), query_error) {
            (Some(reason), _) => Err(Failure::Write(reason)),
            (None, Some(())) => Err(Failure::Query),
            (None, None) => Err(Failure::Write(reason)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::spill_pays;

    /// A small CSV is spilled; one larger than this machine's memory (or
    /// disk) is parsed in each pass instead. (Linux: the machine's memory
    /// is read from `/proc`.)
    #[cfg(target_os = "linux")]
    #[test]
    fn a_spill_must_fit_in_memory_and_on_disk() {
        let folder = std::env::temp_dir().join("pipe-no-such-folder").join("scratch");
        assert!(crate::files::free_disk(&std::env::temp_dir()).is_some_and(|free| free > 0));
        assert!(spill_pays(&folder, 1 << 20), "a 1 MB CSV spills (an unmade folder's disk is its parent's)");
        assert!(!spill_pays(&folder, u64::MAX / 2), "no machine holds this");
        // A relative folder (a pipeline run from its own folder).
        assert!(spill_pays(std::path::Path::new(".pipe-cache/scratch"), 1 << 20));
    }
}
