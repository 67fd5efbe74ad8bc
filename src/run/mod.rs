//! `pipe run`: executes the data items of a checked program on Polars.
//!
//! The runner walks the items the targets need, depth first, so each item
//! runs once and after what it reads. Every item has a cache key (see
//! [`cache`]); a result whose key matches is loaded instead of recomputed.
//! What fitted transforms learn is a plain value ([`fitted::Fitted`]),
//! stored as JSON. Nothing here parses or checks: the IR is trusted.

// Errors end a run (or become one warning each): they are rare and cold, and
// carry the text of their diagnostic, so their size does not matter.
#![allow(clippy::result_large_err)]

pub mod bucket;
pub mod cache;
pub mod dataset;
pub mod error;
pub mod fitted;
pub mod images;
mod onehot;
mod ops;
mod pca;
pub mod predict;

pub mod read;
mod split;
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
}

/// What `pipe watch` can ask of a run in progress.
#[derive(Debug, Default)]
pub struct Control {
    /// Stop at the next item or epoch.
    pub cancel: std::sync::atomic::AtomicBool,
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
        epoch: crate::train::fit::Epoch,
        /// Epochs planned.
        epochs: usize,
        /// Whether the file asks for epoch lines on the console (`log:`
        /// absent, or listing `console`); JSON output has them all.
        console: bool,
    },
    /// An evaluation's metrics.
    Evaluated {
        /// The `evaluate` item.
        name: String,
        /// Every metric computed.
        scores: crate::train::fit::Scores,
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
    session.count_uses(&targets);
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

/// The items to run: the ones named, or every output, evaluation and
/// training run (every item when there are none of those).
fn targets(program: &Program, only: &[String]) -> RunResult<Vec<ItemId>> {
    let items = || program.items.iter().enumerate().filter_map(|(i, item)| Some((i, item.as_ref()?)));
    if only.is_empty() {
        let ends: Vec<ItemId> = items()
            .filter(|(_, item)| {
                matches!(item.kind, ItemKind::Output(_) | ItemKind::Train(_) | ItemKind::Evaluate { .. })
            })
            .map(|(i, _)| i)
            .collect();
        return Ok(if ends.is_empty() { items().map(|(i, _)| i).collect() } else { ends });
    }
    only.iter()
        .map(|name| {
            items().find(|(_, item)| item.name.split(", ").any(|n| n == name)).map(|(i, _)| i).ok_or_else(|| {
                let names: Vec<String> =
                    items().flat_map(|(_, it)| it.name.split(", ").map(str::to_owned).collect::<Vec<_>>()).collect();
                RunError::UnknownItem { name: name.clone(), help: format!("the items are: {}", names.join(", ")) }
            })
        })
        .collect()
}

/// The items an item reads, in the order it names them.
fn references(kind: &ItemKind) -> Vec<ItemId> {
    let mut out = Vec::new();
    match kind {
        ItemKind::Source(_) => {}
        ItemKind::Stage(frame) | ItemKind::Output(frame) | ItemKind::Split { input: frame, .. } => {
            frame_references(frame, &mut out)
        }
        ItemKind::Transform { fit_on, steps, .. } => {
            frame_references(fit_on, &mut out);
            op_references(steps, &mut out);
        }
        ItemKind::Train(train) => {
            frame_references(&train.data, &mut out);
            if let Some(v) = &train.validate {
                frame_references(v, &mut out);
            }
            // A model that starts from a trained run needs its weights.
            if let Some(crate::ir::Pretrained { from: crate::ir::PretrainedFrom::Run(run), .. }) =
                &train.model.pretrained
            {
                out.push(*run);
            }
        }
        ItemKind::Evaluate { run, data, .. } => {
            out.push(*run);
            frame_references(data, &mut out);
        }
    }
    out
}

fn frame_references(frame: &Frame, out: &mut Vec<ItemId>) {
    match &frame.input {
        FrameInput::Item(id) | FrameInput::Part { split: id, .. } => out.push(*id),
        FrameInput::Transformed { transform, input } => {
            out.push(*transform);
            frame_references(input, out);
        }
    }
    op_references(&frame.ops, out);
}

fn op_references(ops: &[Op], out: &mut Vec<ItemId>) {
    for op in ops {
        if let Op::Transform(id) | Op::Predict(id) = op {
            out.push(*id);
        }
    }
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
    /// Outputs whose files are written (and unchanged).
    written: std::collections::HashSet<ItemId>,
    /// A transform's result on the data it was fitted on (fitting computes
    /// it; applying the transform to that same data reuses it).
    fit_outputs: HashMap<ItemId, DataFrame>,
    /// Trained runs.
    trained: HashMap<ItemId, Rc<training::Trained>>,
    /// Evaluations done.
    evaluated: std::collections::HashSet<ItemId>,
    /// The `.pipe` text for run folders.
    source_text: Option<String>,
    /// Requests from outside.
    control: Option<std::sync::Arc<Control>>,
    /// Continue training runs from checkpoints.
    resume: bool,
    /// How many items still to run read each item's rows; at zero the rows
    /// are dropped (`None`: keep everything, for sessions used from code).
    uses: Option<HashMap<ItemId, usize>>,
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
            written: std::collections::HashSet::new(),
            fit_outputs: HashMap::new(),
            trained: HashMap::new(),
            evaluated: std::collections::HashSet::new(),
            source_text: options.source_text.clone(),
            control: options.control.clone(),
            resume: options.resume,
            uses: None,
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
                *uses.entry(r).or_default() += 1;
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

    /// The cache key of an item: its IR (item references written as their
    /// keys) and the contents of the files it reads.
    fn key(&mut self, id: ItemId) -> RunResult<String> {
        if let Some(key) = self.keys.get(&id) {
            return Ok(key.clone());
        }
        let kind = &self.item(id).kind;
        let mut names = HashMap::new();
        for r in references(kind) {
            names.insert(r, self.key(r)?);
        }
        let program = self.program;
        let item = program.items[id].as_ref().expect("the checker lowered every item");
        let mut text = format!("pipe {}\n{}", env!("CARGO_PKG_VERSION"), crate::ir::fingerprint(&item.kind, names));
        if let ItemKind::Source(crate::ir::Source::Images { dir, classes, .. }) = &item.kind {
            let stamp = images::folder_stamp(dir, classes).map_err(|e| RunError::Unreadable {
                path: dir.display().to_string(),
                reason: e.to_string(),
                span: item.span,
                help: "check that the folder exists and is readable".into(),
            })?;
            text.push_str(&stamp);
        }
        if let ItemKind::Source(source) = &item.kind
            && let Some(path) = source_file(source)
            && let Some(cache) = &mut self.cache
        {
            let hash = cache.file_hash(&path).map_err(|e| RunError::Unreadable {
                path: path.display().to_string(),
                reason: e.to_string(),
                span: item.span,
                help: "check that the file exists and is readable".into(),
            })?;
            text.push_str(&hash);
        }
        let key = cache::hash(text.as_bytes());
        self.keys.insert(id, key.clone());
        Ok(key)
    }

    /// Makes sure an item has run (or was loaded from the cache).
    fn ensure(&mut self, id: ItemId, need_data: bool) -> RunResult<()> {
        if self.done(id, need_data) {
            return Ok(());
        }
        if self.control.as_ref().is_some_and(|c| c.cancelled()) {
            return Err(RunError::Cancelled);
        }
        let item = self.item(id);
        let (name, span) = (item.name.clone(), item.span);
        let key =
            if self.cache.is_some() && !matches!(item.kind, ItemKind::Source(_)) { Some(self.key(id)?) } else { None };
        if let Some(key) = &key
            && self.load(id, key, need_data)
        {
            return Ok(());
        }
        for r in self.reads(id) {
            self.ensure(r, true)?;
        }
        let start = Instant::now();
        let rows = self.compute(id)?;
        let seconds = start.elapsed().as_secs_f64();
        if let Some(key) = &key {
            self.store(id, key, span);
        }
        self.release_inputs(id);
        if self.uses.as_ref().is_some_and(|u| !u.contains_key(&id)) {
            // A target no one reads: its rows are written, or not needed.
            self.frames.remove(&id);
            self.written.insert(id);
        }
        let kind = kind_name(&self.item(id).kind);
        (self.events)(Event::Finished(Finished { name, rows, seconds, cached: false, kind }));
        Ok(())
    }

    /// Loads an item's result from the cache; whether it was there.
    fn load(&mut self, id: ItemId, key: &str, need_data: bool) -> bool {
        let Some(cache) = &self.cache else { return false };
        let start = Instant::now();
        let program = self.program;
        let item = program.items[id].as_ref().expect("the checker lowered every item");
        let rows = match &item.kind {
            ItemKind::Stage(_) => cache.load_frames(key, 1).map(|mut f| {
                let df = f.remove(0);
                let rows = vec![df.height()];
                self.frames.insert(id, df);
                rows
            }),
            ItemKind::Split { fractions, .. } => cache.load_frames(key, fractions.len()).map(|parts| {
                let rows = parts.iter().map(DataFrame::height).collect();
                self.parts.insert(id, parts);
                rows
            }),
            ItemKind::Transform { .. } => cache.load_fitted(key).map(|(fitted, rows)| {
                self.fitted.insert(id, (Rc::new(fitted), rows));
                vec![rows]
            }),
            ItemKind::Train(train) => cache.load_trained(key).and_then(|(weights, meta)| {
                let rows = vec![meta.rows];
                // A `save:` folder deleted since is written again from the
                // run folder (or the run trains again if that is gone too).
                if let Some(save) = &train.settings.save {
                    training::restore_saved(train, &self.dir.join(save), &meta.run_dir).ok()?;
                }
                let trained = training::load(train, &weights, meta)?;
                self.trained.insert(id, Rc::new(trained));
                Some(rows)
            }),
            ItemKind::Output(_) if !need_data => cache.output_rows(key).map(|rows| {
                self.written.insert(id);
                vec![rows]
            }),
            _ => None,
        };
        let Some(rows) = rows else { return false };
        let item = self.item(id);
        let finished = Finished {
            name: item.name.clone(),
            rows,
            seconds: start.elapsed().as_secs_f64(),
            cached: true,
            kind: kind_name(&item.kind),
        };
        (self.events)(Event::Finished(finished));
        true
    }

    /// Stores an item's result in the cache. A failure costs only a
    /// recomputation next time, so it is not an error of the run.
    fn store(&mut self, id: ItemId, key: &str, span: Span) {
        let Some(cache) = &self.cache else { return };
        let item = self.item(id);
        let stored = match &item.kind {
            ItemKind::Stage(_) => cache.store_frames(key, std::slice::from_ref(&self.frames[&id])),
            ItemKind::Split { .. } => cache.store_frames(key, &self.parts[&id]),
            ItemKind::Transform { .. } => {
                let (fitted, rows) = &self.fitted[&id];
                cache.store_fitted(key, fitted, *rows)
            }
            ItemKind::Train(_) => match self.trained.get(&id) {
                Some(trained) if trained.cacheable => cache.store_trained(key, &trained.net, &trained.meta),
                _ => Ok(()),
            },
            ItemKind::Output(frame) => match last_write(frame) {
                Some(path) => cache.store_output(key, &self.dir.join(path), self.frames[&id].height()),
                None => Ok(()),
            },
            _ => Ok(()),
        };
        if let Err(reason) = stored {
            let warning = RunError::data(
                format!("could not store `{}` in the cache: {reason}", item.name),
                span,
                "recomputed next time",
                "check that the folder beside the .pipe file is writable",
            );
            (self.events)(Event::Warning(warning));
        }
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
            ItemKind::Split { input, fractions, stratify, seed } => {
                let df = self.frame_rows(input, &item.name)?;
                self.step_event(&item.name, 0, 1, "split");
                let parts = split::split(&df, fractions, stratify.as_deref(), *seed, item.span)?;
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
            ItemKind::Train(train) => {
                let data = self.frame_rows(&train.data, &item.name)?;
                let validate = match &train.validate {
                    Some(v) => Some(self.frame_rows(v, &item.name)?),
                    None => None,
                };
                let rows = vec![data.height()];
                // What the transforms its data went through learned: saved with
                // the run, so `pipe predict` applies the same numbers.
                let mut used = Vec::new();
                frame_references(&train.data, &mut used);
                let transforms: Vec<(String, Vec<Fitted>)> = used
                    .into_iter()
                    .filter_map(|t| Some((self.item(t).name.clone(), self.fitted.get(&t)?.0.as_ref().clone())))
                    .collect();
                let source_text = self.source_text.clone();
                let resume = self.resume;
                let base = match &train.model.pretrained {
                    None => None,
                    Some(p) => Some((self.pretrained_net(train, &p.from, item.span)?, p.layers)),
                };
                let pretrained = base.as_ref().map(|(net, layers)| (net, *layers));
                let trained = {
                    let control = self.control.clone();
                    let console = train.settings.logs.is_empty()
                        || train.settings.logs.iter().any(|l| matches!(l, crate::ir::LogSink::Console));
                    let mut progress = TrainProgress { name: &item.name, console, events: &mut *self.events, control };
                    training::train(
                        &item.name,
                        train,
                        &data,
                        validate.as_ref(),
                        &self.dir,
                        source_text.as_deref(),
                        item.span,
                        &mut progress,
                        resume,
                        &transforms,
                        pretrained,
                    )?
                };
                self.trained.insert(id, Rc::new(trained));
                Ok(rows)
            }
            ItemKind::Evaluate { run, data, metrics } => {
                let frame = self.frame_rows(data, &item.name)?;
                let trained = Rc::clone(&self.trained[run]);
                let ItemKind::Train(train) = &self.item(*run).kind else { return Ok(vec![frame.height()]) };
                let scores = training::evaluate(&trained, train, &frame, item.span)?;
                let file = trained.meta.run_dir.join(format!("evaluate-{}.json", item.name.replace(' ', "_")));
                let json = serde_json::to_vec_pretty(&scores).unwrap_or_default();
                write::bytes(&file, &json).map_err(|reason| RunError::Write {
                    path: file.display().to_string(),
                    reason,
                    span: item.span,
                })?;
                (self.events)(Event::Evaluated {
                    name: item.name.clone(),
                    scores,
                    metrics: metrics.clone(),
                    classes: trained.meta.classes.clone(),
                });
                self.evaluated.insert(id);
                Ok(vec![frame.height()])
            }
        }
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
                Op::Predict(run) => {
                    self.ensure(*run, true)?;
                    let trained = Rc::clone(&self.trained[run]);
                    let ItemKind::Train(train) = &self.item(*run).kind else { return Ok(df) };
                    training::predict(&trained, train, df, *span)?
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

/// The file a source reads (image folders are stamped by their listing).
fn source_file(source: &crate::ir::Source) -> Option<PathBuf> {
    match source {
        crate::ir::Source::Csv { path, .. } | crate::ir::Source::Parquet { path } => Some(path.clone()),
        crate::ir::Source::Images { .. } => None,
    }
}

/// The path of a frame's last `write`.
fn last_write(frame: &Frame) -> Option<&std::path::Path> {
    frame.ops.iter().rev().find_map(|op| if let Op::Write(path) = op { Some(path.as_path()) } else { None })
}

fn kind_name(kind: &ItemKind) -> &'static str {
    match kind {
        ItemKind::Source(_) => "source",
        ItemKind::Stage(_) => "stage",
        ItemKind::Split { .. } => "split",
        ItemKind::Transform { .. } => "transform",
        ItemKind::Output(_) => "output",
        ItemKind::Train(_) => "train",
        ItemKind::Evaluate { .. } => "evaluate",
    }
}

/// An operation's name as written.
fn op_name(op: &Op) -> &'static str {
    match op {
        Op::Filter(_) => "filter",
        Op::Select(_) => "select",
        Op::Drop(_) => "drop",
        Op::Rename(_) => "rename",
        Op::With(_) => "with",
        Op::DropNulls(_) => "drop_nulls",
        Op::FillNulls { .. } => "fill_nulls",
        Op::Cast { .. } => "cast",
        Op::Cut { .. } => "cut",
        Op::QCut { .. } => "qcut",
        Op::Standard(_) => "standard",
        Op::MinMax { .. } => "minmax",
        Op::Robust(_) => "robust",
        Op::Log1p(_) => "log1p",
        Op::OneHot { .. } => "onehot",
        Op::Pca { .. } => "pca",
        Op::Oversample(_) => "oversample",
        Op::Pixels { .. } => "pixels",
        Op::Sample { .. } => "sample",
        Op::Cache => "cache",
        Op::Write(_) => "write",
        Op::Transform(_) => "transform",
        Op::Predict(_) => "predict",
    }
}

/// Training progress as run events.
struct TrainProgress<'e, 'a> {
    name: &'e str,
    /// Whether the epochs go to the console (`log:` absent, or naming it).
    console: bool,
    events: &'e mut (dyn FnMut(Event) + 'a),
    control: Option<std::sync::Arc<Control>>,
}

impl crate::train::fit::Progress for TrainProgress<'_, '_> {
    fn epoch(&mut self, epoch: &crate::train::fit::Epoch, epochs: usize) {
        let console = self.console;
        (self.events)(Event::Epoch { name: self.name.to_owned(), epoch: epoch.clone(), epochs, console });
    }

    fn step(&mut self, _epoch: usize, step: usize, steps: usize) {
        // A bar update every few steps is plenty.
        if step.is_multiple_of(16) || step == steps {
            (self.events)(Event::Step {
                name: self.name.to_owned(),
                index: step - 1,
                total: steps,
                operation: "train",
            });
        }
    }

    fn new_settings(&mut self) -> Option<crate::ir::TrainSettings> {
        let control = self.control.as_ref()?;
        let settings = control.settings.lock().ok()?.remove(self.name)?;
        let (lr, epochs) = (settings.optimizer.lr, settings.epochs);
        (self.events)(Event::Note(format!(
            "  {:<10} {:<20} new settings applied from this epoch on (lr {lr:.2e}, {epochs} epochs), without a restart",
            "train", self.name
        )));
        Some(settings)
    }

    fn cancelled(&mut self) -> bool {
        self.control.as_ref().is_some_and(|c| c.cancelled())
    }

    fn note(&mut self, line: &str) {
        (self.events)(Event::Note(format!("  {:<10} {:<20} {line}", "train", self.name)));
    }
}
