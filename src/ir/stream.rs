//! Which outputs stream: the one rule `pipe check --explain` shows and
//! `pipe run` follows. An output streams (Polars' streaming engine reads,
//! transforms and writes it batch by batch) when it reads a source of local
//! files that no other item reads, every step looks at one row at a time,
//! and it ends in `write(...)`; otherwise its rows are held in memory, for
//! the reason given.

use super::{Frame, FrameInput, ItemId, ItemKind, Op, Program, Source};

/// How an output's rows are computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Memory {
    /// Batch by batch, never all at once.
    Streams,
    /// All rows at once, because of this.
    Holds(String),
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

    /// Whether the operation looks at one row at a time (or only at the
    /// columns' names), so that it runs batch by batch.
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
            | Op::Pca { .. }
            | Op::Sample { .. }
            | Op::Oversample(_)
            | Op::Pixels { .. }
            | Op::Write(_)
            | Op::Transform(_)
            | Op::Predict(_) => false,
        }
    }
}

impl Program {
    /// Whether output `id` streams (see the module's documentation); data
    /// items other than outputs hold their rows.
    pub fn memory(&self, id: ItemId) -> Option<Memory> {
        let item = self.items.get(id)?.as_ref()?;
        let frame = match &item.kind {
            ItemKind::Output(frame) => frame,
            ItemKind::Source(_) | ItemKind::Stage(_) | ItemKind::Split { .. } | ItemKind::Transform { .. } => {
                return Some(Memory::Holds("only outputs stream".into()));
            }
            ItemKind::Train(_) | ItemKind::Evaluate { .. } => return None,
        };
        let holds = |why: String| Some(Memory::Holds(why));
        let FrameInput::Item(source) = frame.input else {
            return holds("it reads a split part or a transform's result, which are held".into());
        };
        let input = self.items.get(source)?.as_ref()?;
        let ItemKind::Source(files) = &input.kind else {
            return holds(format!("it reads `{}`, which is held", input.name));
        };
        match files {
            Source::Csv { files, .. } | Source::Parquet { files } if !files.is_url() => {}
            Source::Csv { .. } | Source::Parquet { .. } => return holds("its source is a URL, read whole".into()),
            Source::Images { .. } => return holds("its source is images".into()),
        }
        if self.readers(source) > 1 {
            return holds(format!("other items read `{}` too", input.name));
        }
        let Some((Op::Write(_), steps)) = frame.ops.split_last() else {
            return holds("it does not end in `write(...)`".into());
        };
        if let Some(step) = steps.iter().find(|op| !op.is_row_wise()) {
            return holds(format!("`{}` needs all the rows", step.keyword()));
        }
        Some(Memory::Streams)
    }

    /// How many items read item `id`'s rows.
    fn readers(&self, id: ItemId) -> usize {
        let reads = |frame: &Frame| frame_reads(frame, id);
        self.items
            .iter()
            .flatten()
            .filter(|item| match &item.kind {
                ItemKind::Stage(f) | ItemKind::Output(f) | ItemKind::Split { input: f, .. } => reads(f),
                ItemKind::Transform { fit_on, .. } => reads(fit_on),
                ItemKind::Train(train) => reads(&train.data) || train.validate.as_ref().is_some_and(reads),
                ItemKind::Evaluate { data, .. } => reads(data),
                ItemKind::Source(_) => false,
            })
            .count()
    }
}

/// Whether `frame` starts from item `id`'s rows.
fn frame_reads(frame: &Frame, id: ItemId) -> bool {
    match &frame.input {
        FrameInput::Item(input) | FrameInput::Part { split: input, .. } => *input == id,
        FrameInput::Transformed { input, .. } => frame_reads(input, id),
    }
}
