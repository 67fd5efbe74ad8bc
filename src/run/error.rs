//! Problems met while running: each with a stable code and the span of the
//! item or step at fault. Warnings (rows lost to `cut` bins, unseen one-hot
//! levels) are the same type with warning severity.

use miette::Diagnostic;
use thiserror::Error;

use crate::source::Span;

/// A problem met by `pipe run`.
#[derive(Clone, Debug, Error, Diagnostic, PartialEq)]
pub enum RunError {
    /// `csv("gone.csv")` after the file was deleted.
    #[error("cannot read `{path}`: {reason}")]
    #[diagnostic(code(pipe::run::unreadable), help("{help}"))]
    Unreadable {
        /// The file.
        path: String,
        /// The system's or parser's reason.
        reason: String,
        /// The source item.
        #[label(primary, "read here")]
        span: Span,
        /// What to do.
        help: String,
    },

    /// A source's file changed, appeared or went away after `pipe check`
    /// read it: its checked schema may no longer hold.
    #[error("`{path}` {change} after `pipe check` read it")]
    #[diagnostic(
        code(pipe::run::source_changed),
        help("run again: `pipe run` checks the files as they are now; nothing was read or written from them")
    )]
    SourceChanged {
        /// The file (or the pattern, for a file added).
        path: String,
        /// What changed ("changed: 617,712 bytes, now 618,000").
        change: String,
        /// The source item.
        #[label(primary, "read here")]
        span: Span,
    },

    /// A value that does not parse as its column's type.
    #[error("`{path}` line {line}, column `{column}`: `{value}` is not {expected}")]
    #[diagnostic(
        code(pipe::run::bad_value),
        help(
            "fix the value, list it in `nulls: [...]` to read it as missing, or declare the column `str` in `dtypes: {{...}}`"
        )
    )]
    BadValue {
        /// The file.
        path: String,
        /// Its line, counting from 1 (the header is line 1).
        line: usize,
        /// The column.
        column: String,
        /// The text found.
        value: String,
        /// What was expected ("an integer").
        expected: String,
        /// The source item.
        #[label(primary, "read here")]
        span: Span,
    },

    /// The data does not allow a step (repeated quantile edges, an empty
    /// frame to fit on, a Polars failure).
    #[error("{message}")]
    #[diagnostic(code(pipe::run::data), help("{help}"))]
    Data {
        /// What went wrong.
        message: String,
        /// The step.
        #[label(primary, "{label}")]
        span: Span,
        /// The label.
        label: String,
        /// How to fix it.
        help: String,
    },

    /// An output that could not be written.
    #[error("cannot write `{path}`: {reason}")]
    #[diagnostic(code(pipe::run::write), help("nothing was written; check the folder exists and is writable"))]
    Write {
        /// The file.
        path: String,
        /// The system's reason.
        reason: String,
        /// The `write` step.
        #[label(primary, "written here")]
        span: Span,
    },

    /// A device the file names that this machine does not have
    /// (`torch.cuda` without a GPU, or an index past the last GPU).
    #[error("this machine has no `{device}`: libtorch sees {found}")]
    #[diagnostic(code(pipe::run::no_device), help("{help}"))]
    NoDevice {
        /// The device as written.
        device: String,
        /// What libtorch sees instead.
        found: String,
        /// Where the training run is.
        #[label(primary, "trains on it")]
        span: Span,
        /// What to do.
        help: String,
    },

    /// GPU memory on libtorch's CUDA: a `gpu_memory:` its allocator refused
    /// (or a build without CUDA's headers asked to limit), or a training
    /// that ran out of memory on the card.
    #[error("{message}")]
    #[diagnostic(code(pipe::run::gpu_memory), help("{help}"))]
    GpuMemory {
        /// What happened, with libtorch's words.
        message: String,
        /// Where the training run is.
        #[label(primary, "trains here")]
        span: Span,
        /// What to do.
        help: String,
    },

    /// A remote device whose server cannot be reached (not running, another
    /// port, a build without the `remote` feature there), or that went away
    /// during the run.
    #[error("cannot reach `{device}`: {reason}")]
    #[diagnostic(code(pipe::run::unreachable_device), help("{help}"))]
    UnreachableDevice {
        /// The device as written.
        device: String,
        /// Burn Remote's reason.
        reason: String,
        /// Where the training run is.
        #[label(primary, "trains on it")]
        span: Span,
        /// What to do.
        help: String,
    },

    /// The training loss became NaN or infinite.
    #[error("the loss of `{name}` became NaN or infinite at epoch {epoch}, step {step}")]
    #[diagnostic(code(pipe::run::diverged), help("{help}"))]
    Diverged {
        /// The `train` item.
        name: String,
        /// The epoch (from 1).
        epoch: usize,
        /// The step within the epoch (from 1).
        step: usize,
        /// The `train` item.
        #[label(primary, "training stopped here")]
        span: Span,
        /// Likely causes, and where the last good weights are.
        help: String,
    },

    /// `pipe predict` cannot use a run folder or the new data.
    #[error("{message}")]
    #[diagnostic(code(pipe::predict::input), help("{help}"))]
    Predict {
        /// What is wrong.
        message: String,
        /// What to do.
        help: String,
    },

    /// `pipe export` cannot write a run's model.
    #[error("{message}")]
    #[diagnostic(code(pipe::export::model), help("{help}"))]
    Export {
        /// What is wrong.
        message: String,
        /// What to do.
        help: String,
    },

    /// The run was stopped because the pipeline changed (`pipe watch`).
    #[error("stopped: the pipeline changed")]
    #[diagnostic(severity(Advice))]
    Cancelled,

    /// A name given on the command line that the file does not define.
    #[error("`{name}` is not an item of this file")]
    #[diagnostic(code(pipe::run::unknown_item), help("{help}"))]
    UnknownItem {
        /// The name.
        name: String,
        /// What the file defines.
        help: String,
    },

    /// An item that must hold a source larger than the memory budget
    /// (`pipe run --memory`), found before anything runs.
    #[error("{message}")]
    #[diagnostic(code(pipe::run::over_memory_budget), help("{help}"))]
    OverBudget {
        /// Which item, which source, the sizes.
        message: String,
        /// The item.
        #[label(primary, "holds all the rows")]
        span: Span,
        /// Why it cannot stream, and what to do.
        help: String,
    },

    /// Values outside every bin of a `cut` (they become null).
    #[error("{message}")]
    #[diagnostic(code(pipe::run::outside_bins), severity(Warning), help("{help}"))]
    OutsideBins {
        /// How many rows, which values, and why.
        message: String,
        /// The `cut` step.
        #[label(primary, "these rows get no bucket (null)")]
        span: Span,
        /// How to keep them.
        help: String,
    },

    /// Image files left out by `skip_bad: true`.
    #[error("{message}")]
    #[diagnostic(code(pipe::run::skipped_images), severity(Warning), help("{help}"))]
    SkippedImages {
        /// How many, and the first few with their reasons.
        message: String,
        /// The `images(...)` source.
        #[label(primary, "read without them")]
        span: Span,
        /// What to do.
        help: String,
    },

    /// Levels a fitted `onehot` or `encode` has no column or id for (their
    /// rows encode as zeros, or as id 0), or levels the check did not see.
    #[error("{message}")]
    #[diagnostic(code(pipe::run::unseen_levels), severity(Warning), help("{help}"))]
    UnseenLevels {
        /// How many rows, which levels.
        message: String,
        /// The `onehot` or `encode` step.
        #[label(primary, "this step")]
        span: Span,
        /// What it means.
        help: String,
    },

    /// A file `pipe` wrote and reads back (weights, a run's record, a
    /// checkpoint) that is gone, or changed since: its checksum differs.
    #[error("`{path}` cannot be trusted: {damage}")]
    #[diagnostic(code(pipe::run::damaged), help("{help}"))]
    Damaged {
        /// The folder.
        path: String,
        /// Which file, and what is wrong with it.
        damage: String,
        /// The item that reads it (empty for `pipe predict`).
        #[label(primary, "read here")]
        span: Span,
        /// What to do.
        help: String,
    },

    /// The stage cache could not be used as it should: an entry whose
    /// checksum differs (recomputed), a result that could not be stored,
    /// or a folder that cannot be written (the run goes on without it).
    #[error("{message}")]
    #[diagnostic(code(pipe::run::cache), severity(Warning), help("{help}"))]
    Cache {
        /// What happened.
        message: String,
        /// The item concerned (empty for the folder as a whole).
        #[label(primary, "{label}")]
        span: Span,
        /// The label.
        label: String,
        /// What it costs, and what to do.
        help: String,
    },
}

impl RunError {
    /// The span the diagnostic points at (`None` for command-line names,
    /// and for what no item caused: a run folder, the cache folder).
    pub fn span(&self) -> Option<Span> {
        self.any_span().filter(|s| *s != Span::default())
    }

    fn any_span(&self) -> Option<Span> {
        match self {
            RunError::Unreadable { span, .. }
            | RunError::SourceChanged { span, .. }
            | RunError::OverBudget { span, .. }
            | RunError::BadValue { span, .. }
            | RunError::Data { span, .. }
            | RunError::Write { span, .. }
            | RunError::NoDevice { span, .. }
            | RunError::GpuMemory { span, .. }
            | RunError::UnreachableDevice { span, .. }
            | RunError::SkippedImages { span, .. }
            | RunError::Diverged { span, .. }
            | RunError::OutsideBins { span, .. }
            | RunError::UnseenLevels { span, .. }
            | RunError::Damaged { span, .. }
            | RunError::Cache { span, .. } => Some(*span),
            RunError::UnknownItem { .. } | RunError::Cancelled | RunError::Predict { .. } | RunError::Export { .. } => {
                None
            }
        }
    }

    /// A failure of a step, with what to do about it.
    pub fn data(message: impl Into<String>, span: Span, label: &str, help: &str) -> Self {
        RunError::Data { message: message.into(), span, label: label.into(), help: help.into() }
    }
}

/// The result of a step that can fail.
pub type RunResult<T> = Result<T, RunError>;
