//! `pipe run`: executes the data items of a checked program on Polars.
//!
//! The runner walks the items the targets need, depth first, so each item
//! runs once and after what it reads. Every item has a cache key (see
//! [`cache`]); a result whose key matches is loaded instead of recomputed.
//! What fitted transforms learn is a plain value ([`fitted::Fitted`]),
//! stored as JSON. Nothing here parses or checks: the IR is trusted.

// Integer arithmetic here may not overflow or underflow: each operation is
// checked, saturating, or on numbers the checker bounds (check/limits.rs),
// and says so (`clippy.toml` exempts tensors, Polars expressions, arrays).
#![deny(clippy::arithmetic_side_effects)]
// Errors end a run (or become one warning each): they are rare and cold, and
// carry the text of their diagnostic, so their size does not matter.
#![allow(clippy::result_large_err)]

pub mod bucket;
pub mod budget;
pub mod cache;
pub mod dataset;
mod disk;
mod encode;
pub mod error;
pub mod export;
pub mod fatal;
pub mod fitted;
mod fitted_fit;
pub mod folders;
pub mod folds;
pub mod images;
mod learn;
pub mod memory;
mod names;
mod onehot;
pub mod onnx;
mod ops;
mod out_of_memory;
mod pca;
mod picks;
mod plan;
pub mod predict;
mod progress;
pub mod read;
mod split;
pub mod stall;
mod stored;
mod stream;
pub mod sweep;
mod text;
mod threads;
pub mod training;
pub mod write;

use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

use polars::prelude::DataFrame;

use crate::ir::{Frame, FrameInput, Item, ItemId, ItemKind, Op, Program};
use crate::source::Span;
use cache::Cache;
use error::{RunError, RunResult};
use fitted::Fitted;
use names::{kind_name, op_name};
use plan::{frame_references, op_references, references, targets};
use progress::TrainProgress;

pub use onehot::Levels;
pub use pca::Projection;

/// How to run.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The folder of the `.pipe` file: `write` paths and the cache are
    /// relative to it.
    pub dir: PathBuf,
    /// Use (read and fill) the stage cache.
    pub cache: bool,
    /// Run only these items (and what they need); empty: every output.
    pub only: Vec<String>,
    /// The `.pipe` file's text, kept in each training run's folder.
    pub source_text: Option<String>,
    /// Requests from outside while running (`pipe watch`).
    pub control: Option<std::sync::Arc<Control>>,
    /// Continue training runs from their last checkpoint.
    pub resume: bool,
    /// Hold every item's rows in memory: nothing streams (`pipe run
    /// --in-memory`).
    pub in_memory: bool,
    /// The memory budget in bytes (`pipe run --memory 2GB`): items that
    /// can stream do when their source would not fit in it, and an item
    /// that must hold a larger source is an error before anything runs.
    /// `None`: half of this machine's memory, and no such error.
    pub memory: Option<u64>,
}

/// What `pipe watch` can ask of a run in progress.
#[derive(Debug, Default)]
pub struct Control {
    /// Stop at the next item or training batch (shared with signal
    /// handlers, which set it).
    pub cancel: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// New settings for training runs, by item name, applied at their next
    /// epoch.
    pub settings: std::sync::Mutex<HashMap<String, crate::ir::TrainSettings>>,
}

impl Control {
    fn cancelled(&self) -> bool {
        self.cancel.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// What a run reports as it goes.
#[derive(Debug)]
pub enum Event {
    /// An item's step `index` (from 0) of `total` is starting.
    Step {
        /// The item.
        name: String,
        /// The step.
        index: usize,
        /// How many steps the item has.
        total: usize,
        /// The operation (`standard`, `pca`, ...).
        operation: &'static str,
    },
    /// An item is done.
    Finished(Finished),
    /// A warning about the data.
    Warning(RunError),
    /// Something worth a line (settings applied to a running training).
    Note(String),
    /// A training run finished an epoch.
    Epoch {
        /// The `train` item.
        name: String,
        /// The epoch's metrics.
        epoch: Box<crate::train::fit::Epoch>,
        /// Epochs planned.
        epochs: usize,
        /// The point of a sweep training (its number, from 1).
        point: Option<usize>,
        /// Whether the file asks for epoch lines on the console (`log:`
        /// absent, or listing `console`); JSON output has them all.
        console: bool,
    },
    /// A point of a sweep starts (or is found in the cache).
    Point {
        /// The `train` item.
        name: String,
        /// The point's number, from 1.
        number: usize,
        /// How many points the sweep has.
        of: usize,
        /// Each swept value as written.
        point: Vec<(String, String)>,
        /// Whether it was trained before (its weights come from the cache).
        cached: bool,
    },
    /// Every point of a sweep is done: the ranking, best first.
    Swept {
        /// The `train` item.
        name: String,
        /// The points, best first.
        ranking: sweep::Ranking,
    },
    /// Every fold of a k-fold run is done: each fold's validation metrics,
    /// and their mean and standard deviation.
    Folded {
        /// The `train` item.
        name: String,
        /// The folds and the summary.
        summary: folds::FoldSummary,
    },
    /// An evaluation's metrics.
    Evaluated {
        /// The `evaluate` item.
        name: String,
        /// Every metric computed.
        scores: Box<crate::train::fit::Scores>,
        /// The metrics the file asks for.
        metrics: Vec<crate::ir::Metric>,
        /// Class names, for the confusion matrix.
        classes: Option<Vec<String>>,
    },
}

/// One item done.
#[derive(Clone, Debug, PartialEq)]
pub struct Finished {
    /// The item's name.
    pub name: String,
    /// Its rows (one count per part of a split; the rows fitted on for a
    /// transform).
    pub rows: Vec<usize>,
    /// Seconds spent on it (not on the items it reads).
    pub seconds: f64,
    /// Whether it was loaded from the cache.
    pub cached: bool,
    /// The process's peak resident memory while it ran, in bytes (none
    /// when loaded from the cache, or where the system does not say).
    pub peak_bytes: Option<u64>,
    /// What kind of item it is.
    pub kind: &'static str,
}

/// Runs the targets of `program` (see [`Options::only`]); returns the
/// errors (none: success).
pub fn run(program: &Program, options: &Options, events: &mut dyn FnMut(Event)) -> Vec<RunError> {
    let targets = match targets(program, &options.only) {
        Ok(targets) => targets,
        Err(e) => return vec![e],
    };
    let mut session = Session::new(program, options, events);
    if !session.lock_cache() {
        return vec![RunError::Cancelled];
    }
    session.count_uses(&targets);
    session.within = Some(session.needed(&targets).into_iter().collect());
    // Data files that changed since the check could break what it
    // promised: refused before anything runs, so nothing is written.
    if let Err(e) = session.sources_unchanged(&targets) {
        return vec![e];
    }
    // Items that would hold more than the budget given: refused before
    // anything runs.
    if let Some(budget) = options.memory {
        let over = budget::over(program, &session.needed(&targets), &targets, budget, options.in_memory);
        if !over.is_empty() {
            return over;
        }
    }
    let mut errors: Vec<RunError> = Vec::new();
    for id in targets {
        if let Err(e) = session.ensure(id, false)
            && !errors.contains(&e)
        {
            errors.push(e);
        }
    }
    session.finish();
    errors
}

/// The items whose results the cache holds for the program as it is (by
/// name), computed from keys alone: what a run would skip.
pub fn cached_items(program: &Program, options: &Options) -> std::collections::HashSet<String> {
    let mut quiet = |_: Event| {};
    let mut session = Session::new(program, options, &mut quiet);
    let mut cached = std::collections::HashSet::new();
    for (id, item) in program.items.iter().enumerate() {
        let Some(item) = item else { continue };
        if matches!(item.kind, ItemKind::Source(_) | ItemKind::Evaluate { .. }) {
            continue;
        }
        if let Ok(key) = session.key(id)
            && session.cache.as_ref().is_some_and(|c| c.contains(&key))
        {
            cached.insert(item.name.clone());
        }
    }
    cached
}

/// A run in progress: items computed so far, the cache. Also the way to
/// reach one item's data from code (tests, the trainer).
pub struct Session<'a> {
    program: &'a Program,
    dir: PathBuf,
    cache: Option<Cache>,
    keys: HashMap<ItemId, String>,
    frames: HashMap<ItemId, DataFrame>,
    parts: HashMap<ItemId, Vec<DataFrame>>,
    /// What each transform learned, and from how many rows.
    fitted: HashMap<ItemId, (Rc<Vec<Fitted>>, usize)>,
    /// Which part each row goes to, for splits streamed through (one byte
    /// a row, dealt once for all their parts).
    assignments: HashMap<ItemId, std::sync::Arc<Vec<u8>>>,
    /// Outputs whose files are written (and unchanged).
    written: std::collections::HashSet<ItemId>,
    /// A transform's result on the data it was fitted on (fitting computes
    /// it; applying the transform to that same data reuses it).
    fit_outputs: HashMap<ItemId, DataFrame>,
    /// Trained runs.
    trained: HashMap<ItemId, Rc<training::Trained>>,
    /// Evaluations done.
    evaluated: std::collections::HashSet<ItemId>,
    /// Items that failed, with their errors.
    failed: HashMap<ItemId, RunError>,
    /// The `.pipe` text for run folders.
    source_text: Option<String>,
    /// Requests from outside.
    control: Option<std::sync::Arc<Control>>,
    /// Continue training runs from checkpoints.
    resume: bool,
    /// Nothing streams.
    in_memory: bool,
    /// The memory budget in bytes.
    budget: u64,
    /// How many items still to run read each item's rows; at zero the rows
    /// are dropped (`None`: keep everything, for sessions used from code).
    uses: Option<HashMap<ItemId, usize>>,
    /// The items this run needs: only they hold rows, so the others may
    /// stream (`None`: every item of the file, for sessions used from
    /// code).
    within: Option<std::collections::HashSet<ItemId>>,
    /// URL sources downloaded for streamed items, by URL: each is fetched
    /// once for the run (a streamed item reads its source more than once),
    /// and removed when the run ends.
    downloads: HashMap<PathBuf, read::Download>,
    /// CSV sources' columnar copies, by source: written by the first item
    /// that streams the source in more than one pass, read by every later
    /// pass of the run, removed when the run ends.
    spills: HashMap<ItemId, disk::Scratch>,
    events: &'a mut dyn FnMut(Event),
}

impl<'a> Session<'a> {
    /// A session over a checked program.
    pub fn new(program: &'a Program, options: &Options, events: &'a mut dyn FnMut(Event)) -> Self {
        Session {
            program,
            dir: options.dir.clone(),
            cache: options.cache.then(|| Cache::open(options.dir.join(cache::FOLDER))),
            keys: HashMap::new(),
            frames: HashMap::new(),
            parts: HashMap::new(),
            fitted: HashMap::new(),
            assignments: HashMap::new(),
            written: std::collections::HashSet::new(),
            fit_outputs: HashMap::new(),
            trained: HashMap::new(),
            evaluated: std::collections::HashSet::new(),
            failed: HashMap::new(),
            source_text: options.source_text.clone(),
            control: options.control.clone(),
            resume: options.resume,
            in_memory: options.in_memory,
            budget: budget::bytes(options.memory),
            uses: None,
            within: None,
            downloads: HashMap::new(),
            spills: HashMap::new(),
            events,
        }
    }

    /// Counts, over the items the targets need, who reads what, so that
    /// rows no one will read again are dropped as soon as possible (a
    /// million-row pipeline keeps one frame at a time, not every frame).
    fn count_uses(&mut self, targets: &[ItemId]) {
        let mut uses: HashMap<ItemId, usize> = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        let mut stack = targets.to_vec();
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            for r in self.reads(id) {
                let count = uses.entry(r).or_default();
                *count = count.saturating_add(1);
                stack.push(r);
            }
        }
        self.uses = Some(uses);
    }

    /// The items whose rows an item reads. A transform applied to the very
    /// data it is fitted on reads only the transform: fitting computed that
    /// result already (when the transform comes from the cache instead, the
    /// data is fetched on demand).
    fn reads(&self, id: ItemId) -> Vec<ItemId> {
        let kind = &self.item(id).kind;
        let mut out = Vec::new();
        let frame_reads = |frame: &Frame, out: &mut Vec<ItemId>| {
            let mut frame = frame;
            loop {
                op_references(&frame.ops, out);
                match &frame.input {
                    FrameInput::Item(r) | FrameInput::Part { split: r, .. } => {
                        out.push(*r);
                        break;
                    }
                    FrameInput::Transformed { transform, input } => {
                        out.push(*transform);
                        if self.fit_on(*transform) == Some(input) {
                            break;
                        }
                        frame = input;
                    }
                }
            }
        };
        match kind {
            ItemKind::Stage(f) | ItemKind::Output(f) | ItemKind::Split { input: f, .. } => frame_reads(f, &mut out),
            ItemKind::Transform { fit_on, steps, .. } => {
                frame_reads(fit_on, &mut out);
                op_references(steps, &mut out);
            }
            _ => out = references(kind),
        }
        out
    }

    /// The targets and the items they need, in item order (so that the
    /// first one named in an error is the same every time).
    fn needed(&self, targets: &[ItemId]) -> Vec<ItemId> {
        let needed: std::collections::BTreeSet<ItemId> =
            targets.iter().copied().chain(self.uses.iter().flat_map(|u| u.keys().copied())).collect();
        needed.into_iter().collect()
    }

    /// Refuses to start when a data file a needed source reads changed
    /// since the check (see [`read::unchanged`]).
    fn sources_unchanged(&self, targets: &[ItemId]) -> RunResult<()> {
        for id in self.needed(targets) {
            let item = self.item(id);
            match &item.kind {
                ItemKind::Source(crate::ir::Source::Csv { files, .. }) => read::unchanged(files, "csv", item.span)?,
                ItemKind::Source(crate::ir::Source::Parquet { files }) => read::unchanged(files, "parquet", item.span)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether the item being computed is the last one to read `id`.
    fn last_reader(&self, id: ItemId) -> bool {
        self.uses.as_ref().is_some_and(|u| u.get(&id) == Some(&1))
    }

    fn fit_on(&self, transform: ItemId) -> Option<&Frame> {
        match &self.item(transform).kind {
            ItemKind::Transform { fit_on, .. } => Some(fit_on),
            _ => None,
        }
    }

    /// One reader of each of `id`'s inputs is done: drops the rows of
    /// inputs no one else will read.
    fn release_inputs(&mut self, id: ItemId) {
        if self.uses.is_none() {
            return;
        }
        for r in self.reads(id) {
            let Some(uses) = self.uses.as_mut() else { return };
            let left = uses.entry(r).or_default();
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.frames.remove(&r);
                self.parts.remove(&r);
                self.fit_outputs.remove(&r);
            }
        }
    }

    /// Takes the cache folder's lock for this run, waiting (and saying so)
    /// while another run holds it. A folder that cannot be written is a
    /// warning and the run goes on without the cache. False when the wait
    /// was cancelled.
    fn lock_cache(&mut self) -> bool {
        let Some(cache) = &mut self.cache else { return true };
        let events = &mut *self.events;
        let control = self.control.clone();
        let mut waiting = || {
            let note = format!("waiting for another `pipe` run that is using {} (Ctrl-C stops)", cache::FOLDER);
            events(Event::Note(note));
        };
        let cancelled = || control.as_ref().is_some_and(|c| c.cancelled());
        match cache.lock(&mut waiting, &cancelled) {
            Ok(()) => true,
            Err(cache::Unlocked::Cancelled) => false,
            Err(cache::Unlocked::Unwritable(reason)) => {
                self.cache = None;
                let warning = RunError::Cache {
                    message: format!("the cache folder `{}` cannot be written: {reason}", cache::FOLDER),
                    span: crate::source::Span::default(),
                    label: String::new(),
                    help: "this run computes everything and caches nothing; make the folder writable to cache again"
                        .into(),
                };
                (self.events)(Event::Warning(warning));
                true
            }
        }
    }

    /// Saves what the cache learned about input files.
    pub fn finish(&mut self) {
        if let Some(cache) = &mut self.cache {
            // Losing the file hashes only costs re-hashing next time.
            let _ = cache.save();
        }
    }

    /// The rows of a data item (a source, stage or output) or of one part
    /// of a split, computing what it needs.
    pub fn frame(&mut self, name: &str) -> RunResult<DataFrame> {
        let id = targets(self.program, &[name.to_owned()])?[0];
        self.ensure(id, true)?;
        if let Some(parts) = self.parts.get(&id) {
            let part = self.item(id).name.split(", ").position(|n| n == name).unwrap_or(0);
            return Ok(parts[part].clone());
        }
        self.frames.get(&id).cloned().ok_or_else(|| RunError::UnknownItem {
            name: name.to_owned(),
            help: "name a source, stage, output or part of a split".into(),
        })
    }

    /// The trained network a model starts from: a run of this file (trained
    /// first), or a folder `save:` wrote.
    fn pretrained_net(
        &self,
        train: &crate::ir::Train,
        from: &crate::ir::PretrainedFrom,
        span: crate::source::Span,
    ) -> RunResult<crate::train::model::Net> {
        match from {
            crate::ir::PretrainedFrom::Run(run) => Ok(self.trained[run].net.clone()),
            crate::ir::PretrainedFrom::Saved { dir, model, .. } => training::load_saved(train, dir, model, span),
            crate::ir::PretrainedFrom::Imported { path, .. } => training::import_weights(train, path, span),
        }
    }

    /// The rows of any frame (a training run's data, say), computing what
    /// it needs.
    pub fn rows_of(&mut self, frame: &Frame) -> RunResult<DataFrame> {
        // What the frame reads (its transforms' fits, its splits) first, as
        // a run computes an item's inputs before it.
        let mut used = Vec::new();
        plan::frame_references(frame, &mut used);
        for id in used {
            self.ensure(id, true)?;
        }
        self.frame_rows(frame, "data")
    }

    /// What a transform learned, step by step.
    pub fn fitted(&mut self, name: &str) -> RunResult<Vec<Fitted>> {
        let id = targets(self.program, &[name.to_owned()])?[0];
        self.ensure(id, true)?;
        self.fitted
            .get(&id)
            .map(|(f, _)| f.as_ref().clone())
            .ok_or_else(|| RunError::UnknownItem { name: name.to_owned(), help: "name a transform".into() })
    }

    fn item(&self, id: ItemId) -> &Item {
        // The checker lowers every item of a program without errors.
        self.program.items[id].as_ref().expect("the checker lowered every item")
    }

    /// Whether an item's result is at hand; `need_data`: its rows, not
    /// just its file (for an output another item reads).
    fn done(&self, id: ItemId, need_data: bool) -> bool {
        self.frames.contains_key(&id)
            || self.parts.contains_key(&id)
            || self.fitted.contains_key(&id)
            || self.trained.contains_key(&id)
            || self.evaluated.contains(&id)
            || (!need_data && self.written.contains(&id))
    }

    /// Makes sure an item has run (or was loaded from the cache).
    fn ensure(&mut self, id: ItemId, need_data: bool) -> RunResult<()> {
        if self.done(id, need_data) {
            return Ok(());
        }
        // An item that failed fails once: the items that read it get its
        // error, not another attempt (a training on a full disk ran once
        // for every item that needed it).
        if let Some(error) = self.failed.get(&id) {
            return Err(error.clone());
        }
        let result = self.attempt(id, need_data);
        if let Err(error) = &result
            && *error != RunError::Cancelled
        {
            self.failed.insert(id, error.clone());
        }
        result
    }

    /// [`Session::ensure`]'s work: from the cache, or computed after what
    /// it reads.
    fn attempt(&mut self, id: ItemId, need_data: bool) -> RunResult<()> {
        if self.control.as_ref().is_some_and(|c| c.cancelled()) {
            return Err(RunError::Cancelled);
        }
        let program = self.program;
        let item = program.items[id].as_ref().expect("the checker lowered every item");
        let key =
            if self.cache.is_some() && !matches!(item.kind, ItemKind::Source(_)) { Some(self.key(id)?) } else { None };
        if let Some(key) = &key
            && self.load(id, key, need_data)
        {
            return Ok(());
        }
        // An evaluation's model first (its training may stream too), so
        // that the evaluation's time and memory are its own.
        let model = match &item.kind {
            ItemKind::Evaluate { run, .. } => Some(*run),
            _ => None,
        };
        if let Some(run) = model {
            self.ensure(run, true)?;
        }
        if let Some(plan) = self.disk_plan(id) {
            let start = Instant::now();
            let (rows, peak_bytes) = memory::measured(|| self.run_on_disk(id, &plan));
            if let Some(rows) = rows? {
                self.computed(id, key.as_deref(), rows, start, peak_bytes);
                return Ok(());
            }
        }
        if let Some(plan) = self.streaming_plan(id) {
            let start = Instant::now();
            let (rows, peak_bytes) = memory::measured(|| self.stream(id, &plan));
            if let Some(rows) = rows? {
                self.computed(id, key.as_deref(), rows, start, peak_bytes);
                return Ok(());
            }
        }
        for r in self.reads(id) {
            self.ensure(r, true)?;
        }
        let start = Instant::now();
        let (rows, peak_bytes) = memory::measured(|| self.compute(id));
        self.computed(id, key.as_deref(), rows?, start, peak_bytes);
        Ok(())
    }

    /// What follows an item's computation: its cache entry, its inputs'
    /// rows released, its `Finished` event.
    fn computed(&mut self, id: ItemId, key: Option<&str>, rows: Vec<usize>, start: Instant, peak_bytes: Option<u64>) {
        let seconds = start.elapsed().as_secs_f64();
        let (name, span) = (self.item(id).name.clone(), self.item(id).span);
        if let Some(key) = key {
            self.store(id, key, span, &rows);
        }
        self.release_inputs(id);
        if self.uses.as_ref().is_some_and(|u| !u.contains_key(&id)) {
            // A target no one reads: its rows are written, or not needed.
            self.frames.remove(&id);
            self.written.insert(id);
        }
        let kind = kind_name(&self.item(id).kind);
        (self.events)(Event::Finished(Finished { name, rows, seconds, cached: false, kind, peak_bytes }));
    }

    /// Runs one item whose inputs are ready; returns its row counts.
    fn compute(&mut self, id: ItemId) -> RunResult<Vec<usize>> {
        let program = self.program;
        let item = program.items[id].as_ref().expect("the checker lowered every item");
        match &item.kind {
            ItemKind::Source(source) => {
                self.step_event(&item.name, 0, 1, "read");
                let (df, warnings) = read::read(source, item.span)?;
                self.warn(warnings);
                let rows = vec![df.height()];
                self.frames.insert(id, df);
                Ok(rows)
            }
            ItemKind::Stage(frame) | ItemKind::Output(frame) => {
                let df = self.frame_rows(frame, &item.name)?;
                let rows = vec![df.height()];
                self.frames.insert(id, df);
                Ok(rows)
            }
            ItemKind::Split { input, fractions, stratify, seed, fold } => {
                let df = self.frame_rows(input, &item.name)?;
                self.step_event(&item.name, 0, 1, "split");
                let parts = match fold {
                    Some(fold) => split::fold(&df, *fold, stratify.as_deref(), *seed, item.span)?,
                    None => split::split(&df, fractions, stratify.as_deref(), *seed, item.span)?,
                };
                let rows = parts.iter().map(DataFrame::height).collect();
                self.parts.insert(id, parts);
                Ok(rows)
            }
            ItemKind::Transform { fit_on, steps, spans, .. } => {
                let mut df = self.frame_rows(fit_on, &item.name)?;
                let rows = df.height();
                let mut learned = Vec::with_capacity(steps.len());
                for (index, (op, span)) in steps.iter().zip(spans).enumerate() {
                    self.step_event(&item.name, index, steps.len(), op_name(op));
                    let fitted = self.fit(op, &df, *span)?;
                    df = self.apply(op, &fitted, df, *span)?;
                    learned.push(fitted);
                }
                self.fitted.insert(id, (Rc::new(learned), rows));
                self.fit_outputs.insert(id, df);
                Ok(vec![rows])
            }
            ItemKind::Train(train) if !train.folds.is_empty() => self.folds_item(id, train),
            ItemKind::Train(train) => {
                let data = self.frame_rows(&train.data, &item.name)?;
                let validate = match &train.validate {
                    Some(v) => Some(self.frame_rows(v, &item.name)?),
                    None => None,
                };
                self.train_item(id, training::TrainRows::Frames { data: &data, validate: validate.as_ref() })
            }
            ItemKind::Evaluate { run, data, threshold, curves, metrics } => {
                let frame = self.frame_rows(data, &item.name)?;
                let trained = Rc::clone(&self.trained[run]);
                let ItemKind::Train(train) = &self.item(*run).kind else { return Ok(vec![frame.height()]) };
                let asked = asked_of(metrics, curves.is_some());
                let train = trained.run(train);
                let scores = training::evaluate(&trained, train, &frame, *threshold, &asked, item.span)?;
                self.evaluated_item(id, &trained, scores)?;
                Ok(vec![frame.height()])
            }
        }
    }

    /// What follows evaluation `id`: its scores written into
    /// the run's folder, and its event.
    fn evaluated_item(
        &mut self,
        id: ItemId,
        trained: &training::Trained,
        scores: crate::train::fit::Scores,
    ) -> RunResult<()> {
        let program = self.program;
        let item = program.items[id].as_ref().expect("the checker lowered every item");
        let ItemKind::Evaluate { metrics, curves, .. } = &item.kind else { return Ok(()) };
        if let (Some(folder), Some(points)) = (curves, &scores.curves) {
            let folder = self.dir.join(folder);
            let names = trained.meta.classes.clone().unwrap_or_default();
            training::write_curves(&folder, points, &names).map_err(|reason| RunError::Write {
                path: folder.display().to_string(),
                reason,
                span: item.span,
            })?;
        }
        let file = trained.meta.run_dir.join(format!("evaluate-{}.json", item.name.replace(' ', "_")));
        let json =
            serde_json::to_vec_pretty(&evaluation_json(&scores, trained.meta.classes.as_deref())).unwrap_or_default();
        write::bytes(&file, &json).map_err(|reason| RunError::Write {
            path: file.display().to_string(),
            reason,
            span: item.span,
        })?;
        (self.events)(Event::Evaluated {
            name: item.name.clone(),
            scores: Box::new(scores),
            metrics: metrics.clone(),
            classes: trained.meta.classes.clone(),
        });
        self.evaluated.insert(id);
        Ok(())
    }

    /// Trains run `id` on its rows (every point, for a sweep); its row counts.
    fn train_item(&mut self, id: ItemId, rows: training::TrainRows) -> RunResult<Vec<usize>> {
        let program = self.program;
        let item = program.items[id].as_ref().expect("the checker lowered every item");
        let ItemKind::Train(train) = &item.kind else { return Ok(Vec::new()) };
        if let Some(sweep) = &train.sweep {
            return self.sweep_item(id, train, sweep, rows);
        }

        let trained = self.train_one(id, train, rows, None, (None, None))?;
        let rows = vec![trained.meta.rows];
        self.trained.insert(id, Rc::new(trained));
        Ok(rows)
    }

    /// Trains `train` (item `id`'s run, or a point of its sweep) on its
    /// rows; its epochs name `point` (a sweep's), and `label` instead of the
    /// item (a k-fold run's fold).
    fn train_one(
        &mut self,
        id: ItemId,
        train: &crate::ir::Train,
        rows: training::TrainRows,
        pruner: Option<&mut sweep::Pruner>,
        (point, label): (Option<usize>, Option<&str>),
    ) -> RunResult<training::Trained> {
        let program = self.program;
        let item = program.items[id].as_ref().expect("the checker lowered every item");
        let transforms = self.saved_transforms(train);
        let source_text = self.source_text.clone();
        let resume = self.resume;
        let base = match &train.model.pretrained {
            None => None,
            Some(p) => Some((self.pretrained_net(train, &p.from, item.span)?, p.layers)),
        };
        let pretrained = base.as_ref().map(|(net, layers)| (net, *layers));
        let trained = {
            let control = self.control.clone();
            let console = progress::to_console(train);
            let events = &mut *self.events;
            let name = label.unwrap_or(&item.name);
            let mut progress = TrainProgress { name, console, events, control, pruner, point };
            training::train(
                &item.name,
                train,
                rows,
                &self.dir,
                source_text.as_deref(),
                item.span,
                &mut progress,
                resume,
                &transforms,
                pretrained,
            )?
        };
        Ok(trained)
    }

    /// What the transforms a run's data went through learned: saved with
    /// the run, so `pipe predict` applies the same numbers.
    fn saved_transforms(&self, train: &crate::ir::Train) -> Vec<(String, Vec<Fitted>)> {
        let mut used = Vec::new();
        frame_references(&train.data, &mut used);
        used.into_iter()
            .filter_map(|t| Some((self.item(t).name.clone(), self.fitted.get(&t)?.0.as_ref().clone())))
            .collect()
    }

    /// The transform's result on `input`, when that is the data it was
    /// fitted on in this session.
    fn fit_output(&self, transform: ItemId, input: &Frame) -> Option<DataFrame> {
        let ItemKind::Transform { fit_on, .. } = &self.item(transform).kind else { return None };
        if fit_on == input { self.fit_outputs.get(&transform).cloned() } else { None }
    }

    /// A frame's rows: its input, then its operations.
    fn frame_rows(&mut self, frame: &Frame, name: &str) -> RunResult<DataFrame> {
        let mut df = match &frame.input {
            FrameInput::Item(id) => {
                self.ensure(*id, true)?;
                if self.last_reader(*id) {
                    // Dropping the memo's copy now lets each step free the
                    // columns it replaces.
                    self.frames.remove(id).unwrap_or_default()
                } else {
                    self.frames[id].clone()
                }
            }
            FrameInput::Part { split, part } => {
                self.ensure(*split, true)?;
                self.parts[split][*part].clone()
            }
            FrameInput::Transformed { transform, input } => match self.fit_output(*transform, input) {
                Some(df) => df,
                None => {
                    let df = self.frame_rows(input, name)?;
                    self.transform(*transform, df)?
                }
            },
        };
        for (index, (op, span)) in frame.ops.iter().zip(&frame.spans).enumerate() {
            self.step_event(name, index, frame.ops.len(), op_name(op));
            df = match op {
                Op::Transform(id) => self.transform(*id, df)?,
                Op::Predict { run, probability, classes, threshold } => {
                    self.ensure(*run, true)?;
                    let trained = Rc::clone(&self.trained[run]);
                    let ItemKind::Train(train) = &self.item(*run).kind else { return Ok(df) };
                    let asked = training::Asked { probability: *probability, classes, threshold: *threshold };
                    training::predict(&trained, trained.run(train), df, &asked, *span)?
                }
                // Fitting steps in a stage learn from the frame itself.
                op => {
                    let fitted = self.fit(op, &df, *span)?;
                    self.apply(op, &fitted, df, *span)?
                }
            };
        }
        Ok(df)
    }

    /// A fitted transform applied to `df`.
    fn transform(&mut self, id: ItemId, mut df: DataFrame) -> RunResult<DataFrame> {
        let learned = Rc::clone(&self.fitted[&id].0);
        let ItemKind::Transform { steps, spans, .. } = &self.item(id).kind else { return Ok(df) };
        let (steps, spans) = (steps.clone(), spans.clone());
        for ((op, span), fitted) in steps.iter().zip(&spans).zip(learned.iter()) {
            df = self.apply(op, fitted, df, *span)?;
        }
        Ok(df)
    }

    fn fit(&mut self, op: &Op, df: &DataFrame, span: Span) -> RunResult<Fitted> {
        let mut warnings = Vec::new();
        let fitted = fitted::fit(op, df, span, &mut warnings);
        self.warn(warnings);
        fitted
    }

    fn apply(&mut self, op: &Op, fitted: &Fitted, df: DataFrame, span: Span) -> RunResult<DataFrame> {
        let mut warnings = Vec::new();
        let result = fitted::apply(op, fitted, df, span, &self.dir, &mut warnings);
        self.warn(warnings);
        result
    }

    fn warn(&mut self, warnings: Vec<RunError>) {
        for w in warnings {
            (self.events)(Event::Warning(w));
        }
    }

    fn step_event(&mut self, name: &str, index: usize, total: usize, operation: &'static str) {
        (self.events)(Event::Step { name: name.to_owned(), index, total, operation });
    }
}

/// What an evaluation leaves in the run's folder (`evaluate-<name>.json`,
/// which `pipe report` reads): its scores, the class names, and with
/// `curves:` each class's ROC and precision-recall points (at most
/// [`CURVE_POINTS`] each, evenly picked, the ends kept).
fn evaluation_json(scores: &crate::train::fit::Scores, classes: Option<&[String]>) -> serde_json::Value {
    let mut json = serde_json::to_value(scores).unwrap_or_default();
    if let Some(classes) = classes {
        json["classes"] = serde_json::json!(classes);
    }
    if let Some(curves) = &scores.curves {
        let name = |c: usize| classes.and_then(|n| n.get(c)).cloned().unwrap_or_else(|| c.to_string());
        let pick = |points: &[[f64; 3]], x: usize, y: usize| -> Vec<[f64; 2]> {
            thinned(points).into_iter().map(|p| [p[x], p[y]]).collect()
        };
        json["curves"] = curves
            .iter()
            .map(|c| serde_json::json!({ "class": name(c.class), "roc": pick(&c.roc, 1, 2), "pr": pick(&c.pr, 2, 1) }))
            .collect();
    }
    json
}

/// The most points of one curve an evaluation's JSON keeps.
pub const CURVE_POINTS: usize = 400;

/// `points`, or [`CURVE_POINTS`] of them evenly spaced, first and last kept.
fn thinned(points: &[[f64; 3]]) -> Vec<[f64; 3]> {
    if points.len() <= CURVE_POINTS {
        return points.to_vec();
    }
    let last = points.len().saturating_sub(1);
    (0..CURVE_POINTS)
        .map(|i| points[i.saturating_mul(last).checked_div(CURVE_POINTS.saturating_sub(1)).unwrap_or(0)])
        .collect()
}

/// What an evaluation asks for beyond the scores every one gets: curves,
/// and the `k`s of its `top_k(k)` metrics.
pub(crate) fn asked_of(metrics: &[crate::ir::Metric], curves: bool) -> crate::train::fit::Asked {
    let top_k =
        metrics.iter().filter_map(|m| if let crate::ir::Metric::TopK(k) = m { Some(*k) } else { None }).collect();
    crate::train::fit::Asked { curves, top_k }
}
