//! Which items stream: the one rule `pipe check --explain` shows and
//! `pipe run` follows. An output streams (Polars' streaming engine reads
//! the source batch by batch, the steps run on each batch, and the writer
//! appends it) when its rows come from a source of local files through
//! steps that each work on one row at a time once they know what they
//! learn, and it ends in `write(...)`. A transform streams its fitting the
//! same way. Steps that learn (`standard`, `qcut`, `pca`, ...) learn in
//! passes over the source before the pass that writes ([`fit_passes`]).
//! Otherwise an item's rows are held in memory, for the reason given.

use std::collections::HashSet;

use super::{Fill, Frame, FrameInput, ItemId, ItemKind, Op, Program, Source};
use crate::source::Span;

/// How an item's rows are computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Memory {
    /// Batch by batch, never all at once.
    Streams {
        /// How many times the source is read: the passes that learn, and
        /// for an output the one that writes.
        passes: usize,
        /// The steps that keep one column's values whole (quantiles and
        /// medians need every value): 8 bytes a row each.
        keeps: Vec<&'static str>,
        /// The steps that pick rows by position (`sample`, a split's
        /// parts): one byte a row each.
        picks: Vec<&'static str>,
        /// Whether it streams on every run: an output whose steps all look
        /// at one row at a time (one pass, faster than holding the rows).
        /// Other items stream when their source would not fit in the
        /// memory budget (`pipe run --memory`), and hold it otherwise.
        always: bool,
    },
    /// All rows at once, because of this.
    Holds(String),
    /// A stage or split whose readers all stream: they run its steps on
    /// their own batches, and its rows are never held.
    Through,
}

/// One step of a streamed chain: the source's rows go through these in
/// order.
#[derive(Clone, Debug)]
pub struct ChainStep<'p> {
    /// What it does.
    pub kind: StepKind<'p>,
    /// Where it is written.
    pub span: Span,
    /// The transform and step index whose fitted values it applies;
    /// `None` for steps that learn from this very chain (or learn nothing).
    pub fitted_by: Option<(ItemId, usize)>,
}

/// What a step of a chain does.
#[derive(Clone, Copy, Debug)]
pub enum StepKind<'p> {
    /// An operation as written.
    Op(&'p Op),
    /// Keeps the rows a `split` deals to one of its parts: the chain went
    /// through the split's input up to here.
    Part {
        /// The split item.
        split: ItemId,
        /// Which part.
        part: usize,
        /// The column the split stratifies by.
        stratify: Option<&'p str>,
    },
}

/// The column `predict` adds.
pub const PREDICTION: &str = "prediction";

/// The column `predict(run, probabilities: true)` adds beside the
/// prediction: the predicted class's probability.
pub const PROBABILITY: &str = "probability";

/// The column `predict(run, probabilities: true)` writes class `class`'s
/// probability in.
pub fn class_probability(class: &str) -> String {
    format!("{PROBABILITY}_{class}")
}

/// The most parts a streamed split has: which part each row goes to is
/// kept in one byte a row.
pub const MAX_STREAMED_PARTS: usize = 255;

impl<'p> ChainStep<'p> {
    /// The operation, for a step that is one.
    pub fn op(&self) -> Option<&'p Op> {
        match self.kind {
            StepKind::Op(op) => Some(op),
            StepKind::Part { .. } => None,
        }
    }

    /// Whether the step keeps rows by their position among the rows that
    /// reach it (`sample`, a split's part): a pass counts those rows first,
    /// and the rows it keeps are worked out from the count alone (and the
    /// stratifying column's values), exactly as from the rows held whole.
    pub fn picks_rows(&self) -> bool {
        matches!(self.kind, StepKind::Part { .. } | StepKind::Op(Op::Sample { .. }))
    }

    /// Whether the step must learn in a pass over this chain (what it
    /// fits, or which rows it picks).
    pub fn learns_here(&self) -> bool {
        // A transform's `sample` picks from the rows it is applied to, as
        // held: it counts them here too.
        self.picks_rows() || (self.fitted_by.is_none() && self.op().is_some_and(Op::learns))
    }

    /// The step's name as written (`split` for a part of one).
    pub fn keyword(&self) -> &'static str {
        self.op().map_or("split", Op::keyword)
    }

    /// See [`Op::is_row_wise`]; picking rows is not.
    pub fn is_row_wise(&self) -> bool {
        self.op().is_some_and(Op::is_row_wise)
    }

    /// See [`Op::learns_from`]; a stratified split's part learns from the
    /// stratifying column.
    pub fn learns_from(&self) -> Vec<&'p str> {
        match self.kind {
            StepKind::Op(op) => op.learns_from(),
            StepKind::Part { stratify, .. } => stratify.into_iter().collect(),
        }
    }

    fn reads(&self) -> Option<Vec<&'p str>> {
        match self.kind {
            StepKind::Op(op) => op.reads(),
            // It keeps rows by position: it reads no column.
            StepKind::Part { .. } => Some(Vec::new()),
        }
    }

    fn touches(&self) -> Vec<String> {
        self.op().map(Op::touches).unwrap_or_default()
    }

    fn changes_rows(&self) -> bool {
        self.op().is_none_or(Op::changes_rows)
    }
}

/// A source and the steps its rows go through, batch by batch.
#[derive(Clone, Debug)]
pub struct Chain<'p> {
    /// The source item.
    pub source: ItemId,
    /// The steps.
    pub steps: Vec<ChainStep<'p>>,
}

impl Op {
    /// The operation's name as written in a `.pipe` file.
    pub fn keyword(&self) -> &'static str {
        match self {
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
            Op::Encode(_) => "encode",
            Op::Tokenize { .. } => "tokenize",
            Op::Pca { .. } => "pca",
            Op::Oversample(_) => "oversample",
            Op::Pixels { .. } => "pixels",
            Op::Sample { .. } => "sample",
            Op::Cache => "cache",
            Op::Write(..) => "write",
            Op::Transform(_) => "transform",
            Op::Predict { .. } => "predict",
        }
    }

    /// Whether the operation is one Polars expression set over the rows
    /// (it looks at one row at a time and learns nothing), so that it runs
    /// inside the streaming query itself.
    pub fn is_row_wise(&self) -> bool {
        match self {
            Op::Filter(_)
            | Op::Select(_)
            | Op::Drop(_)
            | Op::Rename(_)
            | Op::With(_)
            | Op::DropNulls(_)
            | Op::Cast { .. }
            | Op::Log1p(_)
            | Op::Cache => true,
            Op::FillNulls { .. }
            | Op::Cut { .. }
            | Op::QCut { .. }
            | Op::Standard(_)
            | Op::MinMax { .. }
            | Op::Robust(_)
            | Op::OneHot { .. }
            | Op::Encode(_)
            | Op::Tokenize { .. }
            | Op::Pca { .. }
            | Op::Sample { .. }
            | Op::Oversample(_)
            | Op::Pixels { .. }
            | Op::Write(..)
            | Op::Transform(_)
            | Op::Predict { .. } => false,
        }
    }

    /// Why the operation cannot run on one batch at a time, once it knows
    /// what it learns; `None` when it can.
    pub fn needs_all_rows(&self) -> Option<String> {
        match self {
            Op::Filter(_)
            | Op::Select(_)
            | Op::Drop(_)
            | Op::Rename(_)
            | Op::With(_)
            | Op::DropNulls(_)
            | Op::Cast { .. }
            | Op::Log1p(_)
            | Op::Cache
            | Op::FillNulls { .. }
            | Op::Cut { .. }
            | Op::QCut { .. }
            | Op::Standard(_)
            | Op::MinMax { .. }
            | Op::Robust(_)
            | Op::OneHot { .. }
            | Op::Encode(_)
            | Op::Tokenize { .. }
            | Op::Pca { .. }
            | Op::Sample { .. }
            | Op::Predict { .. }
            | Op::Transform(_) => None,
            Op::Oversample(_) => Some("`oversample` counts every class first".into()),
            Op::Pixels { .. } => Some("`pixels` makes image columns, which are held".into()),
            Op::Write(..) => Some("it writes a file before its last step".into()),
        }
    }

    /// Whether the operation learns from the data it is fitted on.
    pub fn learns(&self) -> bool {
        matches!(
            self,
            Op::QCut { .. }
                | Op::Standard(_)
                | Op::Robust(_)
                | Op::MinMax { .. }
                | Op::OneHot { .. }
                | Op::Encode(_)
                | Op::Tokenize { .. }
                | Op::Pca { .. }
                | Op::FillNulls { value: Fill::Mean | Fill::Median, .. }
        )
    }

    /// Whether what the operation learns needs every value of a column at
    /// once (quantiles, medians).
    fn keeps_values(&self) -> bool {
        matches!(self, Op::QCut { .. } | Op::Robust(_) | Op::FillNulls { value: Fill::Median, .. })
    }

    /// The columns a learning operation learns from, in its order (none
    /// for the others).
    pub fn learns_from(&self) -> Vec<&str> {
        match self {
            Op::QCut { column, .. } | Op::Tokenize { column, .. } => vec![column.as_str()],
            Op::Standard(columns)
            | Op::Robust(columns)
            | Op::MinMax { columns, .. }
            | Op::FillNulls { columns, value: Fill::Mean | Fill::Median }
            | Op::Pca { columns, .. } => columns.iter().map(String::as_str).collect(),
            Op::OneHot { columns, .. } | Op::Encode(columns) => columns.iter().map(|(c, _)| c.as_str()).collect(),
            Op::Filter(_)
            | Op::Select(_)
            | Op::Drop(_)
            | Op::Rename(_)
            | Op::With(_)
            | Op::DropNulls(_)
            | Op::FillNulls { value: Fill::Number(_) | Fill::Text(_), .. }
            | Op::Cast { .. }
            | Op::Cut { .. }
            | Op::Log1p(_)
            | Op::Pixels { .. }
            | Op::Oversample(_)
            | Op::Sample { .. }
            | Op::Cache
            | Op::Write(..)
            | Op::Transform(_)
            | Op::Predict { .. } => Vec::new(),
        }
    }

    /// The columns the operation reads; `None` when not known here (row
    /// expressions, renames, selections: a pass that needs them runs every
    /// step before it).
    fn reads(&self) -> Option<Vec<&str>> {
        Some(match self {
            Op::Cut { column, .. } | Op::QCut { column, .. } | Op::Tokenize { column, .. } => vec![column.as_str()],
            Op::Standard(columns)
            | Op::Robust(columns)
            | Op::MinMax { columns, .. }
            | Op::FillNulls { columns, .. }
            | Op::Log1p(columns)
            | Op::Cast { columns, .. }
            | Op::Pca { columns, .. }
            | Op::Pixels { columns, .. } => columns.iter().map(String::as_str).collect(),
            Op::OneHot { columns, .. } | Op::Encode(columns) => columns.iter().map(|(c, _)| c.as_str()).collect(),
            // `sample` keeps rows by position.
            Op::Cache | Op::Sample { .. } => Vec::new(),
            Op::Filter(_)
            | Op::Select(_)
            | Op::Drop(_)
            | Op::Rename(_)
            | Op::With(_)
            | Op::DropNulls(_)
            | Op::Oversample(_)
            | Op::Write(..)
            | Op::Transform(_)
            | Op::Predict { .. } => return None,
        })
    }

    /// The columns the operation adds, replaces, renames or removes.
    fn touches(&self) -> Vec<String> {
        let names = |columns: &[String]| columns.to_vec();
        match self {
            Op::Filter(_) | Op::DropNulls(_) | Op::Sample { .. } | Op::Oversample(_) => Vec::new(),
            Op::Select(_) | Op::Cache | Op::Write(..) | Op::Transform(_) => Vec::new(),
            Op::Predict { probability: false, .. } => vec![PREDICTION.to_owned()],
            Op::Predict { probability: true, classes, .. } => [PREDICTION.to_owned(), PROBABILITY.to_owned()]
                .into_iter()
                .chain(classes.iter().map(|c| class_probability(c)))
                .collect(),
            Op::Drop(columns) => names(columns),
            Op::Rename(pairs) => pairs.iter().flat_map(|(old, new)| [old.clone(), new.clone()]).collect(),
            Op::With(columns) => columns.iter().map(|(name, _)| name.clone()).collect(),
            Op::FillNulls { columns, .. }
            | Op::Cast { columns, .. }
            | Op::Log1p(columns)
            | Op::Standard(columns)
            | Op::Robust(columns)
            | Op::MinMax { columns, .. } => names(columns),
            Op::Cut { output, .. } | Op::QCut { output, .. } => vec![output.clone()],
            Op::Tokenize { column, .. } => vec![column.clone()],
            Op::OneHot { columns, .. } => columns
                .iter()
                .flat_map(|(c, levels)| {
                    std::iter::once(c.clone()).chain(levels.iter().map(move |l| format!("{c}_{l}")))
                })
                .collect(),
            Op::Encode(columns) => columns.iter().map(|(c, _)| c.clone()).collect(),
            Op::Pca { columns, k, prefix, .. } => {
                columns.iter().cloned().chain((0..*k).map(|j| format!("{prefix}{j}"))).collect()
            }
            Op::Pixels { columns, name, .. } => columns.iter().cloned().chain([name.clone()]).collect(),
        }
    }

    /// Whether the operation keeps some rows and not others (or adds some).
    fn changes_rows(&self) -> bool {
        matches!(self, Op::Filter(_) | Op::DropNulls(_) | Op::Sample { .. } | Op::Oversample(_))
    }
}

/// The passes over a chain that learn its learning steps: each pass is the
/// indices of the steps that learn in it, and sees the rows as they are
/// just before its first step. A step joins the pass before it when no
/// step since that pass's first changes which rows there are or touches a
/// column it learns from: it would see the same values there (so
/// `standard(a)` and `minmax(b)` learn in one pass, and `pca` of their
/// results in a second).
pub fn fit_passes(steps: &[ChainStep]) -> Vec<Vec<usize>> {
    let mut passes: Vec<Vec<usize>> = Vec::new();
    let mut touched: HashSet<String> = HashSet::new();
    let mut rows_changed = false;
    for (index, step) in steps.iter().enumerate() {
        if step.learns_here() {
            let joins = !rows_changed && step.learns_from().iter().all(|c| !touched.contains(*c));
            match passes.last_mut() {
                Some(pass) if joins => pass.push(index),
                _ => {
                    passes.push(vec![index]);
                    touched.clear();
                    rows_changed = false;
                }
            }
        }
        if !passes.is_empty() {
            touched.extend(step.touches());
            rows_changed |= step.changes_rows();
        }
    }
    passes
}

/// Which of the steps `from..upto` a learning pass runs batch by batch,
/// and which columns it needs at `from`: the pass's learners (`learners`,
/// indices into `steps`) see the rows just before `steps[upto]`, and only
/// their columns matter. Walking back from there, a step runs when it
/// changes which rows there are or touches a column still needed (and then
/// the columns it reads are needed too); the others are skipped: `pca` of
/// scaled columns does not need the `onehot` or `qcut` before it. `None`
/// when a step's reads are not known (a row expression applied batch by
/// batch): every step runs. (Steps before `from` are Polars' query, which
/// prunes its own columns.)
pub fn pass_steps(
    steps: &[ChainStep],
    from: usize,
    upto: usize,
    learners: &[usize],
) -> Option<(Vec<bool>, Vec<String>)> {
    let mut needed: HashSet<String> =
        learners.iter().flat_map(|&i| steps[i].learns_from()).map(str::to_owned).collect();
    let mut runs = vec![true; upto];
    for index in (from..upto).rev() {
        runs[index] = false;
        let step = &steps[index];
        let touched = step.touches().iter().any(|c| needed.contains(c));
        if touched || step.changes_rows() {
            runs[index] = true;
            needed.extend(step.reads()?.into_iter().map(str::to_owned));
        }
    }
    let mut columns: Vec<String> = needed.into_iter().collect();
    columns.sort();
    Some((runs, columns))
}

impl Program {
    /// Whether item `id` streams (see the module's documentation), with
    /// every item of the file counted as a reader. `None` for items that
    /// hold no rows (sources).
    pub fn memory(&self, id: ItemId) -> Option<Memory> {
        self.memory_within(id, None)
    }

    /// [`Program::memory`] for a run of some of the items: only the items
    /// in `within` (when given) hold rows (a run that leaves out an item
    /// holding a source lets the others stream it).
    pub fn memory_within(&self, id: ItemId, within: Option<&HashSet<ItemId>>) -> Option<Memory> {
        let item = self.items.get(id)?.as_ref()?;
        let holds = |why: String| Some(Memory::Holds(why));
        let (chain, writes) = match &item.kind {
            ItemKind::Output(frame) => {
                if let Some(reader) = self.reader_of(id) {
                    return holds(format!("`{reader}` reads its rows"));
                }
                match self.output_chain(frame) {
                    Ok(chain) => (chain, true),
                    Err(why) => return holds(why),
                }
            }
            ItemKind::Transform { .. } => match self.fit_chain(id) {
                Ok(chain) => (chain, false),
                Err(why) => return holds(why),
            },
            ItemKind::Source(_) => return holds("the items that read it stream it themselves, or hold it".into()),
            ItemKind::Stage(_) | ItemKind::Split { .. } => {
                return Some(match self.held_by(id, 0) {
                    Some(holder) => Memory::Holds(format!("`{}` reads it and holds its rows", self.name_of(holder))),
                    None => Memory::Through,
                });
            }
            ItemKind::Train(_) | ItemKind::Evaluate { .. } => return Some(self.disk_memory(id, within)),
        };
        if let Some(holder) = self.holder_of(chain.source, within) {
            let source = self.items.get(chain.source)?.as_ref()?;
            let holder = self.items.get(holder)?.as_ref()?;
            return holds(format!("`{}` holds the rows of `{}`", holder.name, source.name));
        }
        let (keeps, picks) = kept_per_row(&chain);
        let passes = fit_passes(&chain.steps).len().saturating_add(usize::from(writes));
        let always = writes && chain.steps.iter().all(ChainStep::is_row_wise);
        Some(Memory::Streams { passes, keeps, picks, always })
    }

    /// How training run or evaluation `id` reads its rows: from disk, a
    /// window at a time, when its data (and validation data) stream into
    /// files first.
    fn disk_memory(&self, id: ItemId, within: Option<&HashSet<ItemId>>) -> Memory {
        let chains = match self.disk_chains(id) {
            Ok(chains) => chains,
            Err(why) => return Memory::Holds(why),
        };
        let mut passes = 0usize;
        let (mut keeps, mut picks) = (Vec::new(), Vec::new());
        for chain in chains.iter() {
            if let Some(holder) = self.holder_of(chain.source, within) {
                let name = |id: ItemId| self.items.get(id).and_then(Option::as_ref).map_or("", |i| i.name.as_str());
                return Memory::Holds(format!("`{}` holds the rows of `{}`", name(holder), name(chain.source)));
            }
            let (chain_keeps, chain_picks) = kept_per_row(chain);
            keeps.extend(chain_keeps);
            picks.extend(chain_picks);
            // Its passes that learn, and the one that writes the file training reads.
            passes = passes.saturating_add(fit_passes(&chain.steps).len()).saturating_add(1);
        }
        keeps.dedup();
        picks.dedup();
        Memory::Streams { passes, keeps, picks, always: false }
    }

    /// The chains the rows of a training run or an evaluation come
    /// through: its data's, and a training run's validation data's when it
    /// has some. They can be streamed to disk, and read from there.
    pub fn disk_chains<'p>(&'p self, id: ItemId) -> Result<Vec<Chain<'p>>, String> {
        let item = self.items.get(id).and_then(Option::as_ref).ok_or("not an item")?;
        let chain = |frame: &'p Frame| -> Result<Chain<'p>, String> {
            let mut steps = Vec::new();
            let source = self.chain_into(&frame.input, &frame.ops, &frame.spans, &mut steps, 0)?;
            Ok(Chain { source, steps })
        };
        match &item.kind {
            ItemKind::Train(train) => {
                let mut chains = vec![chain(&train.data)?];
                if let Some(validate) = &train.validate {
                    chains.push(chain(validate).map_err(|why| format!("its validation data: {why}"))?);
                }
                Ok(chains)
            }
            ItemKind::Evaluate { data, .. } => Ok(vec![chain(data)?]),
            _ => Err("not a training run or an evaluation".into()),
        }
    }

    /// The chain an output streams: its frame without the final `write`.
    pub fn output_chain<'p>(&'p self, frame: &'p Frame) -> Result<Chain<'p>, String> {
        let Some((Op::Write(..), ops)) = frame.ops.split_last() else {
            return Err("it does not end in `write(...)`".into());
        };
        let mut steps = Vec::new();
        let source = self.chain_into(&frame.input, ops, &frame.spans, &mut steps, 0)?;
        Ok(Chain { source, steps })
    }

    /// The chain transform `id` is fitted over: its data, then its own
    /// steps (the last `steps.len()` of the chain), which learn there.
    pub fn fit_chain(&self, id: ItemId) -> Result<Chain<'_>, String> {
        let item = self.items.get(id).and_then(Option::as_ref).ok_or("not an item")?;
        let ItemKind::Transform { fit_on, steps: own, spans, .. } = &item.kind else {
            return Err("not a transform".into());
        };
        let mut steps = Vec::new();
        let source = self.chain_into(&fit_on.input, &fit_on.ops, &fit_on.spans, &mut steps, 0)?;
        for (index, op) in own.iter().enumerate() {
            if let Some(why) = op.needs_all_rows() {
                return Err(why);
            }
            steps.push(ChainStep {
                kind: StepKind::Op(op),
                span: spans.get(index).copied().unwrap_or_default(),
                fitted_by: None,
            });
        }
        Ok(Chain { source, steps })
    }

    /// Adds the steps from `input` through `ops` to `steps`; the source
    /// they start from.
    fn chain_into<'p>(
        &'p self,
        input: &'p FrameInput,
        ops: &'p [Op],
        spans: &[Span],
        steps: &mut Vec<ChainStep<'p>>,
        depth: usize,
    ) -> Result<ItemId, String> {
        // Stages and splits are followed to their source: a chain cannot
        // go through more than the file has items (the checker refuses
        // items defined in terms of themselves; this bounds the recursion
        // anyway).
        if depth > self.items.len() {
            return Err("its items are defined in terms of themselves".into());
        }
        let deeper = depth.saturating_add(1);
        let source = match input {
            FrameInput::Item(id) => match self.items.get(*id).and_then(Option::as_ref).map(|item| &item.kind) {
                // A stage's steps run in the chain (those that learn, learn
                // there: from the stage's own rows).
                Some(ItemKind::Stage(frame)) => {
                    self.chain_into(&frame.input, &frame.ops, &frame.spans, steps, deeper)?
                }
                _ => self.streamed_source(*id)?,
            },
            FrameInput::Part { split, part } => self.part_into(*split, *part, steps, deeper)?,
            FrameInput::Transformed { transform, input } => {
                let source = self.chain_into(&input.input, &input.ops, &input.spans, steps, deeper)?;
                self.applied_steps(*transform, steps)?;
                source
            }
        };
        for (index, op) in ops.iter().enumerate() {
            if let Op::Transform(transform) = op {
                self.applied_steps(*transform, steps)?;
                continue;
            }
            if let Some(why) = op.needs_all_rows() {
                return Err(why);
            }
            steps.push(ChainStep {
                kind: StepKind::Op(op),
                span: spans.get(index).copied().unwrap_or_default(),
                fitted_by: None,
            });
        }
        Ok(source)
    }

    /// Adds the steps of split `split`'s input, then the step that keeps
    /// part `part`'s rows; the source they start from.
    fn part_into<'p>(
        &'p self,
        split: ItemId,
        part: usize,
        steps: &mut Vec<ChainStep<'p>>,
        depth: usize,
    ) -> Result<ItemId, String> {
        let item = self.items.get(split).and_then(Option::as_ref).ok_or("not an item")?;
        let ItemKind::Split { input, fractions, stratify, fold, .. } = &item.kind else {
            return Err(format!("`{}` is not a split", item.name));
        };
        if fold.is_some() {
            return Err("a `kfold` split's folds are held in memory".into());
        }
        if fractions.len() > MAX_STREAMED_PARTS {
            return Err(format!("a split into more than {MAX_STREAMED_PARTS} parts is held"));
        }
        let source = self.chain_into(&input.input, &input.ops, &input.spans, steps, depth)?;
        let kind = StepKind::Part { split, part, stratify: stratify.as_deref() };
        steps.push(ChainStep { kind, span: item.span, fitted_by: None });
        Ok(source)
    }

    /// Source `id`, when it is files that can be scanned (on this machine,
    /// or a URL's, downloaded once for the run and scanned there).
    fn streamed_source(&self, id: ItemId) -> Result<ItemId, String> {
        let item = self.items.get(id).and_then(Option::as_ref).ok_or("not an item")?;
        match &item.kind {
            ItemKind::Source(Source::Csv { .. } | Source::Parquet { .. }) => Ok(id),
            ItemKind::Source(Source::Images { .. }) => Err("its source is images".into()),
            _ => Err(format!("it reads `{}`, which is held", item.name)),
        }
    }

    /// Adds the steps of transform `id`, applied with what it learned.
    fn applied_steps<'p>(&'p self, id: ItemId, steps: &mut Vec<ChainStep<'p>>) -> Result<(), String> {
        let item = self.items.get(id).and_then(Option::as_ref).ok_or("not an item")?;
        let ItemKind::Transform { steps: own, spans, .. } = &item.kind else {
            return Err(format!("`{}` is not a transform", item.name));
        };
        for (index, op) in own.iter().enumerate() {
            if let Some(why) = op.needs_all_rows() {
                return Err(format!("`{}`: {why}", item.name));
            }
            let span = spans.get(index).copied().unwrap_or_default();
            steps.push(ChainStep { kind: StepKind::Op(op), span, fitted_by: Some((id, index)) });
        }
        Ok(())
    }

    /// An item that reads stage or split `id`'s rows and holds them (it
    /// does not stream), if any: directly, or through stages and splits.
    fn held_by(&self, id: ItemId, depth: usize) -> Option<ItemId> {
        if depth > self.items.len() {
            return Some(id);
        }
        self.items.iter().enumerate().find_map(|(index, item)| {
            let item = item.as_ref()?;
            if !frames_of(&item.kind).iter().any(|f| frame_reads(f, id)) {
                return None;
            }
            match item.kind {
                ItemKind::Stage(_) | ItemKind::Split { .. } => self.held_by(index, depth.saturating_add(1)),
                _ => (!self.streams_itself(index)).then_some(index),
            }
        })
    }

    fn name_of(&self, id: ItemId) -> &str {
        self.items.get(id).and_then(Option::as_ref).map_or("", |item| item.name.as_str())
    }

    /// An item that reads output `id`'s rows, if any.
    fn reader_of(&self, id: ItemId) -> Option<&str> {
        self.items
            .iter()
            .flatten()
            .find(|item| frames_of(&item.kind).iter().any(|f| frame_reads(f, id)))
            .map(|item| item.name.as_str())
    }

    /// An item (of those `within`, when given) that reads source `id` and
    /// holds its rows (it does not stream), if any: the rows are in memory
    /// for it anyway.
    pub fn holder_of(&self, id: ItemId, within: Option<&HashSet<ItemId>>) -> Option<ItemId> {
        self.items.iter().enumerate().find_map(|(index, item)| {
            if within.is_some_and(|within| !within.contains(&index)) {
                return None;
            }
            // Stages and splits pass rows on: the items that read them
            // hold them or stream through them, and are found themselves.
            if matches!(item.as_ref()?.kind, ItemKind::Stage(_) | ItemKind::Split { .. }) {
                return None;
            }
            if !self.reads_source(index, id) {
                return None;
            }
            (!self.streams_itself(index)).then_some(index)
        })
    }

    /// Whether item `id` reads its rows batch by batch, whoever else reads
    /// its source: an output or transform whose chain streams.
    pub fn streams_itself(&self, id: ItemId) -> bool {
        match self.items.get(id).and_then(Option::as_ref).map(|item| &item.kind) {
            Some(ItemKind::Output(frame)) => self.reader_of(id).is_none() && self.output_chain(frame).is_ok(),
            Some(ItemKind::Transform { .. }) => self.fit_chain(id).is_ok(),
            Some(ItemKind::Train(_) | ItemKind::Evaluate { .. }) => self.disk_chains(id).is_ok(),
            _ => false,
        }
    }

    /// Whether item `reader`'s rows start from item `id`'s, directly or
    /// through stages and splits.
    pub fn reads_source(&self, reader: ItemId, id: ItemId) -> bool {
        let Some(item) = self.items.get(reader).and_then(Option::as_ref) else { return false };
        frames_of(&item.kind).iter().any(|f| self.frame_reads_through(f, id, 0))
    }

    /// Whether item `reader`'s rows start from item `id`'s own (not
    /// through a stage or split).
    pub fn reads_directly(&self, reader: ItemId, id: ItemId) -> bool {
        let Some(item) = self.items.get(reader).and_then(Option::as_ref) else { return false };
        frames_of(&item.kind).iter().any(|f| frame_reads(f, id))
    }

    /// Whether `frame` starts from item `id`'s rows, directly or through
    /// stages and splits (`depth`: how many were followed).
    fn frame_reads_through(&self, frame: &Frame, id: ItemId, depth: usize) -> bool {
        let start = match &frame.input {
            FrameInput::Item(input) | FrameInput::Part { split: input, .. } => *input,
            FrameInput::Transformed { input, .. } => return self.frame_reads_through(input, id, depth),
        };
        if start == id {
            return true;
        }
        if depth > self.items.len() {
            return false;
        }
        match self.items.get(start).and_then(Option::as_ref).map(|item| &item.kind) {
            Some(ItemKind::Stage(frame) | ItemKind::Split { input: frame, .. }) => {
                self.frame_reads_through(frame, id, depth.saturating_add(1))
            }
            _ => false,
        }
    }
}

/// The steps of `chain` that keep 8 bytes a row (a column's values), and
/// those that keep one (which rows they pick).
fn kept_per_row(chain: &Chain) -> (Vec<&'static str>, Vec<&'static str>) {
    let learning = || chain.steps.iter().filter(|s| s.learns_here());
    let keeps = learning().filter(|s| s.op().is_some_and(Op::keeps_values)).map(ChainStep::keyword);
    let mut picks: Vec<&'static str> = learning().filter(|s| s.picks_rows()).map(ChainStep::keyword).collect();
    picks.dedup();
    (keeps.collect(), picks)
}

/// The frames an item reads rows through.
pub fn frames_of(kind: &ItemKind) -> Vec<&Frame> {
    match kind {
        ItemKind::Stage(f) | ItemKind::Output(f) | ItemKind::Split { input: f, .. } => vec![f],
        ItemKind::Transform { fit_on, .. } => vec![fit_on],
        ItemKind::Train(train) => std::iter::once(&train.data).chain(train.validate.as_ref()).collect(),
        ItemKind::Evaluate { data, .. } => vec![data],
        ItemKind::Source(_) => Vec::new(),
    }
}

/// Whether `frame` starts from item `id`'s rows.
fn frame_reads(frame: &Frame, id: ItemId) -> bool {
    match &frame.input {
        FrameInput::Item(input) | FrameInput::Part { split: input, .. } => *input == id,
        FrameInput::Transformed { input, .. } => frame_reads(input, id),
    }
}
