//! Check errors: mistakes found before anything runs, each with a stable
//! code, the span at fault, secondary labels and a fix where one is known.
//!
//! Each variant's doc comment shows an input that triggers it; the UI tests in
//! `tests/ui/check/` hold one file per code at least.

use miette::Diagnostic;
use thiserror::Error;

use crate::source::Span;

/// A mistake found by `pipe check`.
#[derive(Clone, Debug, Error, Diagnostic, PartialEq)]
pub enum CheckError {
    /// `stage a = ...` twice.
    #[error("`{name}` is defined twice")]
    #[diagnostic(
        code(pipe::check::duplicate_name),
        help("rename one of them; every item name must be unique in a file")
    )]
    DuplicateName {
        /// The name.
        name: String,
        /// The second definition.
        #[label(primary, "defined again here")]
        span: Span,
        /// The first definition.
        #[label("first defined here")]
        first: Span,
    },

    /// `stage s = peple |> ...` — a name that no item or import declares.
    #[error("unknown {expected} `{name}`")]
    #[diagnostic(code(pipe::check::unknown_name), help("{help}"))]
    UnknownName {
        /// The name.
        name: String,
        /// What kind of thing was expected ("data", "model", ...).
        expected: String,
        /// Where it is used.
        #[label(primary, "not defined in this file")]
        span: Span,
        /// "did you mean ...?" or what is defined.
        help: String,
    },

    /// `train r = people on train { ... }` — a name of the wrong kind.
    #[error("`{name}` is {found}, but {expected} is expected here")]
    #[diagnostic(code(pipe::check::wrong_kind), help("{help}"))]
    WrongKind {
        /// The name.
        name: String,
        /// What it is ("a source", "a model").
        found: String,
        /// What was expected ("a model").
        expected: String,
        /// Where it is used.
        #[label(primary, "{expected} is expected here")]
        span: Span,
        /// Where it is defined.
        #[label("`{name}` is {found}, defined here")]
        defined: Span,
        /// How to fix it.
        help: String,
    },

    /// `people |> fliter(age > 0)` — an operation (or layer) that does not
    /// exist.
    #[error("unknown {what} `{name}`")]
    #[diagnostic(code(pipe::check::unknown_operation), help("{help}"))]
    UnknownOperation {
        /// "operation", "layer", "source".
        what: String,
        /// The name.
        name: String,
        /// Where it is used.
        #[label(primary, "no such {what}")]
        span: Span,
        /// "did you mean ...?" or the list of operations.
        help: String,
    },

    /// `source adults = people |> filter(age >= 18)` — a source that reads
    /// nothing.
    #[error("a source must read data")]
    #[diagnostic(
        code(pipe::check::source_not_read),
        help("read a file with csv(path), parquet(path) or images(dir); data made from other items is a `stage`")
    )]
    SourceNotRead {
        /// The source's value.
        #[label(primary, "this reads no file")]
        span: Span,
    },

    /// `import std.modles { mlp }`
    #[error("unknown module `{path}`")]
    #[diagnostic(code(pipe::check::unknown_module), help("{help}"))]
    UnknownModule {
        /// The module path as written.
        path: String,
        /// Where it is written.
        #[label(primary, "no such module")]
        span: Span,
        /// The modules there are.
        help: String,
    },

    /// `import std.models { mpl }`
    #[error("module `{module}` has no item `{name}`")]
    #[diagnostic(code(pipe::check::unknown_import), help("{help}"))]
    UnknownImport {
        /// The name.
        name: String,
        /// The module.
        module: String,
        /// Where it is written.
        #[label(primary, "not in `{module}`")]
        span: Span,
        /// What the module has.
        help: String,
    },

    /// `import "lib/missing.pipe" { a }`
    #[error("cannot read the imported file `{path}`: {reason}")]
    #[diagnostic(code(pipe::check::import_unreadable), help("paths are relative to the importing file"))]
    ImportUnreadable {
        /// The path as written.
        path: String,
        /// The system's reason.
        reason: String,
        /// Where it is written.
        #[label(primary, "imported here")]
        span: Span,
    },

    /// `a.pipe` imports `b.pipe`, which imports `a.pipe`.
    #[error("`{path}` is already being imported: the imports form a cycle")]
    #[diagnostic(
        code(pipe::check::import_cycle),
        help("move what both files need into a third file that imports neither")
    )]
    ImportCycle {
        /// The path as written.
        path: String,
        /// The import that closes the cycle.
        #[label(primary, "imported here again")]
        span: Span,
    },

    /// `stage a = b |> ...` and `stage b = a |> ...`
    #[error("these items depend on each other in a cycle: {cycle}")]
    #[diagnostic(
        code(pipe::check::cycle),
        help("an item cannot depend on itself, directly or through others; break the cycle")
    )]
    Cycle {
        /// `a -> b -> a`
        cycle: String,
        /// The first item of the cycle, where it uses the next.
        #[label(primary, "`{first}` uses `{second}` here")]
        span: Span,
        /// The first item's name.
        first: String,
        /// The second item's name.
        second: String,
        /// The other uses that close the cycle.
        #[label(collection, "and this use closes the cycle")]
        others: Vec<Span>,
    },

    /// `pca(f0..f31, k: 8, whitten: true)`
    #[error("`{operation}` has no argument `{name}`")]
    #[diagnostic(code(pipe::check::unknown_argument), help("{help}"))]
    UnknownArgument {
        /// The operation.
        operation: String,
        /// The argument's name.
        name: String,
        /// Where it is written.
        #[label(primary, "unknown argument")]
        span: Span,
        /// What the operation takes.
        help: String,
    },

    /// `standard(f0, f1, f2)` where `standard` takes one selector.
    #[error("too many arguments to `{operation}` (it takes {count} by position)")]
    #[diagnostic(
        code(pipe::check::too_many_arguments),
        help("pass several columns as a list: `[a, b, c]`, or name the argument")
    )]
    TooManyArguments {
        /// The operation.
        operation: String,
        /// How many it takes by position.
        count: usize,
        /// The first argument too many.
        #[label(primary, "one too many")]
        span: Span,
    },

    /// `pca(f0..f31, 8, k: 4)`
    #[error("argument `{name}` of `{operation}` is given twice")]
    #[diagnostic(code(pipe::check::repeated_argument), help("remove one of them"))]
    RepeatedArgument {
        /// The operation.
        operation: String,
        /// The parameter.
        name: String,
        /// The second one.
        #[label(primary, "given again here")]
        span: Span,
    },

    /// `qcut(income)` without the number of bins.
    #[error("`{operation}` needs the argument `{name}`")]
    #[diagnostic(code(pipe::check::missing_argument))]
    MissingArgument {
        /// The operation.
        operation: String,
        /// The parameter.
        name: String,
        /// The call.
        #[label(primary, "`{name}` is missing")]
        span: Span,
    },

    /// `csv("missing.csv")` — a data file that cannot be read at check time.
    #[error("cannot read `{path}`: {reason}")]
    #[diagnostic(code(pipe::check::source_unreadable), help("{}", unreadable_help(path)))]
    SourceUnreadable {
        /// The path as written.
        path: String,
        /// Why.
        reason: String,
        /// The path's span.
        #[label(primary, "read here")]
        span: Span,
    },

    /// `filter(incme > 0)` — a column the frame does not have.
    #[error("unknown column `{name}`")]
    #[diagnostic(code(pipe::check::unknown_column), help("{help}"))]
    UnknownColumn {
        /// The column.
        name: String,
        /// Where it is used.
        #[label(primary, "not a column of this frame")]
        span: Span,
        /// "did you mean ...?" and the columns there are.
        help: String,
        /// The frame it was looked up in, when it has a place worth showing.
        #[label("{frame_note}")]
        frame: Option<Span>,
        /// What the frame label says.
        frame_note: String,
    },

    /// `standard(city)` — an operation applied to a column of the wrong type.
    #[error("{operation} needs {expected}, but `{column}` is {dtype}")]
    #[diagnostic(code(pipe::check::column_type), help("{help}"))]
    ColumnType {
        /// Who needs it: "`standard`", "the model's input".
        operation: String,
        /// The column.
        column: String,
        /// Its dtype.
        dtype: String,
        /// What the operation needs ("numeric columns").
        expected: String,
        /// Where the column is named.
        #[label(primary, "`{column}` is {dtype}")]
        span: Span,
        /// Where the column was made.
        #[label("`{column}` is made here")]
        origin: Option<Span>,
        /// How to fix it.
        help: String,
    },

    /// `train r = net on data { epoch: 10 }` — a setting that does not exist.
    #[error("unknown setting `{key}`")]
    #[diagnostic(code(pipe::check::unknown_setting), help("{help}"))]
    UnknownSetting {
        /// The key.
        key: String,
        /// Where it is written.
        #[label(primary, "not a setting of {block}")]
        span: Span,
        /// The block's kind ("a training run").
        block: String,
        /// "did you mean ...?" or the settings there are.
        help: String,
    },

    /// `early_stop: patience(2, on: val.confusion)`: a metric that is not
    /// one number cannot be watched.
    #[error("`{metric}` is not one number, so early stopping cannot watch it")]
    #[diagnostic(code(pipe::check::not_watchable), help("{help}"))]
    NotWatchable {
        /// The metric.
        metric: String,
        /// Where it is named.
        #[label(primary, "a table, not a number")]
        span: Span,
        /// What to watch instead.
        help: String,
    },

    /// A `train` block without `target:`.
    #[error("{what} needs `{key}:`")]
    #[diagnostic(code(pipe::check::missing_setting), help("{help}"))]
    MissingSetting {
        /// "this training run".
        what: String,
        /// The setting.
        key: String,
        /// The block.
        #[label(primary, "no `{key}:` here")]
        span: Span,
        /// What to write.
        help: String,
    },

    /// `dense(3) softmax()` with `loss: cross_entropy`: the loss applies
    /// its own softmax to the model's raw outputs.
    #[error("the model ends in `{activation}()`, and `{loss}` applies its own to the model's raw outputs")]
    #[diagnostic(code(pipe::check::activation_before_loss), severity(Warning), help("{help}"))]
    ActivationBeforeLoss {
        /// The last layer.
        activation: String,
        /// The loss.
        loss: String,
        /// The loss (or the model, when the loss is the default).
        #[label(primary, "applies {activation} again")]
        span: Span,
        /// The fix.
        help: String,
    },

    /// `batch: 1` for a model with batch norm: the statistics of one row.
    #[error("`batch: 1` gives batch norm one row to compute its mean and variance from")]
    #[diagnostic(
        code(pipe::check::batch_norm_one_row),
        severity(Warning),
        help(
            "each feature minus its own mean is 0, so the layer passes on nothing the model can learn from; use `batch: 16` or more, or `layernorm()`, which normalises each row on its own"
        )
    )]
    BatchNormOneRow {
        /// The `batch:` value.
        #[label(primary, "one row per batch")]
        span: Span,
    },

    /// A model trained on `prep(train)`, evaluated on raw `test`.
    #[error("{what} has not been through `{transform}`, and the model learned from data that had")]
    #[diagnostic(code(pipe::check::untransformed_data), help("{help}"))]
    UntransformedData {
        /// "the evaluation data", "the validation data".
        what: String,
        /// The transform missing.
        transform: String,
        /// The data at fault.
        #[label(primary, "not through `{transform}`")]
        span: Span,
        /// The training data.
        #[label("the model learns from `{transform}(...)` here")]
        trained: Span,
        /// The fix, with the file's own names.
        help: String,
    },

    /// A model trained on raw `train`, evaluated on `prep(test)`: the data
    /// went through a transform the training data did not.
    #[error("{what} has been through `{transform}`, and the model learned from data that had not")]
    #[diagnostic(code(pipe::check::untransformed_data), help("{help}"))]
    ExtraTransform {
        /// "the evaluation data", "the validation data".
        what: String,
        /// The transform the training data lacks.
        transform: String,
        /// The data at fault.
        #[label(primary, "through `{transform}`")]
        span: Span,
        /// The training data.
        #[label("the model learns from data without `{transform}` here")]
        trained: Span,
        /// The fix.
        help: String,
    },

    /// `write("data/iris.csv")` where `data/iris.csv` is a source, `save:`
    /// onto the pipeline file: a run would destroy what it reads.
    #[error("{writer} would overwrite {input} `{path}`")]
    #[diagnostic(
        code(pipe::check::overwrites_input),
        help("write somewhere else: the pipeline reads this path, and the next run would read what this one wrote")
    )]
    OverwritesInput {
        /// `write(...)`, `save:` or `log:`.
        writer: String,
        /// The path, resolved.
        path: String,
        /// "a source", "the pipeline file".
        input: String,
        /// The write.
        #[label(primary, "writes over an input")]
        span: Span,
        /// Where the input is read.
        #[label("read here")]
        read: Option<Span>,
    },

    /// Two outputs (or an output and a `save:` or `log:`) writing one path:
    /// the last would silently win.
    #[error("two writes go to `{path}`")]
    #[diagnostic(code(pipe::check::write_conflict), help("give each output its own path"))]
    WriteConflict {
        /// The path, resolved.
        path: String,
        /// The second write.
        #[label(primary, "written again here")]
        span: Span,
        /// The first.
        #[label("first written here")]
        first: Span,
    },

    /// `save: "data"` where `data/` holds the user's files: `save:` replaces
    /// the whole folder.
    #[error("{reason}")]
    #[diagnostic(
        code(pipe::check::foreign_files),
        help("save to a new folder (or an empty one, or one an earlier `save:` wrote)")
    )]
    ForeignFiles {
        /// What the folder holds.
        reason: String,
        /// The `save:` value.
        #[label(primary, "would be replaced")]
        span: Span,
    },

    /// A mistake told as a message, a label and a help line; its kind
    /// ([`Mistake`]) gives its code.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Mistaken(Problem),

    /// `mlp(hidden: sweep([[64], [3]]))` where one point's model does not
    /// fit the data: that point's mistake, with the point.
    #[error(transparent)]
    #[diagnostic(transparent)]
    AtPoint(PointError),

    /// An item `pipe check` accepted and could not lower: a bug in pipe,
    /// reported instead of a run that skips the item or fails oddly.
    #[error("pipe checked this {keyword} item without finding a mistake, and cannot run it")]
    #[diagnostic(
        code(pipe::check::not_lowered),
        help("this is a bug in pipe's checker; please report it with this file")
    )]
    NotLowered {
        /// The item's keyword.
        keyword: String,
        /// The item.
        #[label(primary, "not lowered")]
        span: Span,
    },

    /// `stage unused = people |> select(age)` that nothing uses.
    #[error("`{name}` is never used")]
    #[diagnostic(
        code(pipe::check::unused_item),
        severity(Warning),
        help("use it (in a `train`, `evaluate` or `output`), or remove it")
    )]
    UnusedItem {
        /// The name.
        name: String,
        /// Its definition.
        #[label(primary, "defined here, never used")]
        span: Span,
    },
}

impl CheckError {
    /// The span of the primary label.
    pub fn primary_span(&self) -> Span {
        match self {
            CheckError::DuplicateName { span, .. }
            | CheckError::UnknownName { span, .. }
            | CheckError::WrongKind { span, .. }
            | CheckError::UnknownOperation { span, .. }
            | CheckError::SourceNotRead { span }
            | CheckError::UnknownArgument { span, .. }
            | CheckError::TooManyArguments { span, .. }
            | CheckError::RepeatedArgument { span, .. }
            | CheckError::MissingArgument { span, .. }
            | CheckError::SourceUnreadable { span, .. }
            | CheckError::UnknownColumn { span, .. }
            | CheckError::ColumnType { span, .. }
            | CheckError::UnknownSetting { span, .. }
            | CheckError::UnknownModule { span, .. }
            | CheckError::UnknownImport { span, .. }
            | CheckError::ImportUnreadable { span, .. }
            | CheckError::ImportCycle { span, .. }
            | CheckError::Cycle { span, .. }
            | CheckError::NotWatchable { span, .. }
            | CheckError::MissingSetting { span, .. }
            | CheckError::ActivationBeforeLoss { span, .. }
            | CheckError::BatchNormOneRow { span }
            | CheckError::UntransformedData { span, .. }
            | CheckError::ExtraTransform { span, .. }
            | CheckError::NotLowered { span, .. }
            | CheckError::Mistaken(Problem { span, .. })
            | CheckError::OverwritesInput { span, .. }
            | CheckError::WriteConflict { span, .. }
            | CheckError::ForeignFiles { span, .. }
            | CheckError::UnusedItem { span, .. } => *span,
            CheckError::AtPoint(point) => point.inner.primary_span(),
        }
    }

    /// Whether this is an error (as opposed to a warning): its severity.
    pub fn is_error(&self) -> bool {
        matches!(miette::Diagnostic::severity(self), None | Some(miette::Severity::Error))
    }
}

/// The kinds of mistake told as a message, a label at the span and a help
/// line ([`Problem`]): rules name the kind, and the code follows from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mistake {
    /// `class_weight: balanced` with `loss: mse`: settings that each check,
    /// and contradict each other.
    Conflict,
    /// `epochs: 9223372036854775807`: a number past what a run can do.
    OutOfRange,
    /// `metrics: accuracy` (not a list), `nesterov: 1`: a value of the wrong
    /// kind for its place.
    WrongType,
    /// `loss: hinge`, `precision: f8`: a name a setting does not take.
    UnknownValue,
    /// `precision: bf16` on a device or build that cannot run it.
    Unsupported,
    /// `dense(10)` after `conv(...)`, a 5x5 kernel on a 3x3 image, `dense(3)` last for a target of 2 classes: a shape that does not fit where it goes.
    ShapeMismatch,
    /// `cut(age, [0, 18, 65, 120], labels: [young, old])`, `split(0.8, 0.2)` into three names: counts that must agree and do not.
    CountMismatch,
    /// `freeze(until: feature)` where no layer is called `feature`.
    UnknownLayer,
    /// `weights("cnn.safetensors")` whose tensors are not the model's: names or shapes differ.
    WeightsMismatch,
    /// `sample()` with neither `n` nor `frac`, `warmup()` without a length:
    /// a call that needs one of several arguments and has none.
    Incomplete,
    /// `prep(raw)` where `prep` was fitted on other columns, a run
    /// evaluated on data with other columns than it was trained on.
    SchemaMismatch,
    /// `select(matches("[a-"))`: a regular expression that does not compile.
    BadPattern,
    /// A setting in a `transform` block, `split(...)` inside a stage: something written where it cannot be.
    Misplaced,
    /// `csv("logs/*.csv")` over files whose headers differ, `parquet("events/")`
    /// with files of other columns or types, or partition folders that differ.
    SourceFilesDiffer,
}

impl Mistake {
    /// `out_of_range` for a number outside its range, `wrong_type` for
    /// anything else where a number goes.
    pub fn range_or_type(is_number: bool) -> Mistake {
        if is_number { Mistake::OutOfRange } else { Mistake::WrongType }
    }

    /// The code of this kind of mistake.
    pub fn code(self) -> &'static str {
        match self {
            Mistake::Conflict => "pipe::check::conflict",
            Mistake::OutOfRange => "pipe::check::out_of_range",
            Mistake::WrongType => "pipe::check::wrong_type",
            Mistake::UnknownValue => "pipe::check::unknown_value",
            Mistake::Unsupported => "pipe::check::unsupported",
            Mistake::ShapeMismatch => "pipe::check::shape_mismatch",
            Mistake::CountMismatch => "pipe::check::count_mismatch",
            Mistake::UnknownLayer => "pipe::check::unknown_layer",
            Mistake::WeightsMismatch => "pipe::check::weights_mismatch",
            Mistake::Incomplete => "pipe::check::incomplete",
            Mistake::SchemaMismatch => "pipe::check::schema_mismatch",
            Mistake::BadPattern => "pipe::check::bad_pattern",
            Mistake::Misplaced => "pipe::check::misplaced",
            Mistake::SourceFilesDiffer => "pipe::check::source_files_differ",
        }
    }

    /// The diagnostic for this kind of mistake at `span`.
    pub fn at(
        self,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
        help: impl Into<String>,
    ) -> CheckError {
        CheckError::Mistaken(Problem {
            kind: self,
            message: message.into(),
            span,
            label: label.into(),
            help: help.into(),
        })
    }
}

/// A mistake of one of the [`Mistake`] kinds.
#[derive(Clone, Debug, Error, PartialEq)]
#[error("{message}")]
pub struct Problem {
    /// Its kind, which gives its code.
    pub kind: Mistake,
    /// What is wrong.
    pub message: String,
    /// Where.
    pub span: Span,
    /// The label at the span.
    pub label: String,
    /// How to fix it.
    pub help: String,
}

impl Diagnostic for Problem {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(self.kind.code()))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(&self.help))
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let label = miette::LabeledSpan::new_primary_with_span(Some(self.label.clone()), self.span);
        Some(Box::new(std::iter::once(label)))
    }
}

/// What to check when a source cannot be read: a path is relative to the
/// `.pipe` file; a URL needs its server, or the store's settings.
fn unreadable_help(path: &str) -> &'static str {
    if crate::files::remote::is_url(path) {
        crate::files::remote::unreadable_help(path)
    } else {
        "paths are relative to the .pipe file"
    }
}

/// A mistake one point of a sweep makes (and not every point).
#[derive(Clone, Debug, Error, PartialEq)]
#[error("{inner}, at the sweep's point {number} of {of} ({point})")]
pub struct PointError {
    /// The point's number, from 1.
    pub number: usize,
    /// How many points the sweep has.
    pub of: usize,
    /// The point: `lr = 0.01, hidden = [64]`.
    pub point: String,
    /// The point's mistake.
    pub inner: Box<CheckError>,
}

impl Diagnostic for PointError {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.inner.code()
    }

    fn severity(&self) -> Option<miette::Severity> {
        self.inner.severity()
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.inner.help()
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.inner.labels()
    }
}
