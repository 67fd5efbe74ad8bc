//! The typed program the executors run: every name resolved, every
//! argument checked and converted, every frame's schema known. It holds no
//! pest, Polars or Burn types.
//!
//! Data items (sources, stages, splits, fitted transforms, outputs),
//! training runs (the model layer by layer with shapes, data, target and
//! settings) and evaluations are lowered; models are lowered where a
//! training run uses them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;

use serde::{Serialize, Serializer};

use crate::schema::{DType, Schema};
use crate::source::Span;

mod augment;
mod model;
mod stream;
mod train;

pub use augment::{AugmentStep, Augmentation, ImageFill};
pub use model::{
    Activation, EmbeddingTable, Init, LayerKind, Model, ModelLayer, Pretrained, PretrainedFrom, Shape, TorchEntry,
    TorchParam, dense_inputs, layer_call,
};
pub use stream::{
    Chain, ChainStep, MAX_STREAMED_PARTS, Memory, PREDICTION, PROBABILITY, StepKind, class_probability, fit_passes,
    frames_of, pass_steps,
};
pub(crate) use train::named_enum;
pub use train::{
    Batch, Checkpoint, ClassWeight, Clip, DEFAULT_BATCH, DEFAULT_EPOCHS, DEFAULT_LR, DataSplit, Decay, Device,
    DeviceKind, EarlyStop, FoldData, GpuMemory, LogSink, Loss, LossOptions, MedianPrune, Metric, Objective, Optimizer,
    OptimizerKind, Precision, Scalar, Schedule, Sweep, TargetScaling, Task, Train, TrainSettings, Trial, WarmupLength,
    remote_address_problem,
};

/// Index of an item in [`Program::items`].
pub type ItemId = usize;

/// A checked program: its items in the order they were written (the
/// executor plans from the dependencies the frames name).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Program {
    /// One entry per item of the file, by index (`None` for items that are
    /// not lowered yet).
    pub items: Vec<Option<Item>>,
}

/// One lowered item.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Item {
    /// Its name(s), for messages and the stage cache.
    pub name: String,
    /// Where it is written.
    #[serde(skip)]
    pub span: Span,
    /// What it is.
    pub kind: ItemKind,
}

/// The lowered items.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum ItemKind {
    /// Data read from files.
    Source(Source),
    /// A derived frame.
    Stage(Frame),
    /// A frame cut into named parts.
    Split {
        /// The frame being split.
        input: Frame,
        /// One fraction per part, adding up to 1.
        fractions: Vec<f64>,
        /// The column to stratify by.
        stratify: Option<String>,
        /// The random seed.
        seed: Option<u64>,
        /// For one fold of a `kfold` split: which (its parts are that
        /// fold's training and validation rows).
        fold: Option<Fold>,
    },
    /// A fitted transform: its steps learn on `fit_on`.
    Transform {
        /// The data it learns from.
        fit_on: Frame,
        /// The steps, in order.
        steps: Vec<Op>,
        /// Where each step is written.
        #[serde(skip)]
        spans: Vec<Span>,
        /// The schema it expects of the data it is applied to.
        input: Schema,
    },
    /// A frame the run produces (normally ending in `write`).
    Output(Frame),
    /// A training run.
    Train(Box<Train>),
    /// Metrics of a trained run on data.
    Evaluate {
        /// The `train` item.
        #[serde(serialize_with = "item_ref")]
        run: ItemId,
        /// The data.
        data: Frame,
        /// The metrics asked for, in the order written.
        metrics: Vec<Metric>,
        /// `threshold:`: a two-class run predicts its second class when that
        /// class's probability passes this (0.5 unless given).
        threshold: Option<f64>,
        /// `curves:`: the folder that gets `roc.csv`, `pr.csv`, `roc.png`
        /// and `pr.png`.
        curves: Option<PathBuf>,
    },
}

/// One fold of a `kfold` split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Fold {
    /// How many folds.
    pub k: usize,
    /// This fold, from 0: the rows it validates on.
    pub index: usize,
}

/// Where a source's data comes from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Source {
    /// CSV files.
    Csv {
        /// The files.
        files: SourceFiles,
        /// Field separator.
        sep: u8,
        /// Strings read as missing.
        nulls: Vec<String>,
        /// The schema the checker inferred (and any declared types).
        schema: Schema,
    },
    /// Parquet files.
    Parquet {
        /// The files.
        files: SourceFiles,
    },
    /// An image folder, one sub-folder per class.
    Images {
        /// The folder.
        dir: PathBuf,
        /// `[height, width]` after resizing.
        size: [usize; 2],
        /// 1 or 3.
        channels: usize,
        /// The class names, sorted.
        classes: Vec<String>,
        /// Leave out files that cannot be decoded (with a warning) instead
        /// of stopping.
        skip_bad: bool,
    },
}

/// The files a CSV or Parquet source reads, as the checker found them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SourceFiles {
    /// The path as written (joined to the pipeline's folder): one file, a
    /// glob or a folder.
    pub path: PathBuf,
    /// Whether `path` names several files (a glob or a folder), found again
    /// when the source is read.
    pub many: bool,
    /// The glob, when the path is one (`path` is then only shown).
    pub glob: Option<crate::files::many::Glob>,
    /// The files, in the order their rows are read (sorted by path).
    pub files: Vec<SourceFile>,
    /// The Hive partition columns their folders name (`year=2024/`),
    /// outermost first; they follow the files' own columns.
    pub partitions: Vec<(String, DType)>,
    /// The folders where a new matching file would appear (`pipe watch`
    /// watches them).
    #[serde(skip)]
    pub folders: Vec<PathBuf>,
}

impl SourceFiles {
    /// One file on an HTTP(S) server, at the version the checker saw, of
    /// about `held_bytes` in memory.
    pub fn url(url: &str, version: Option<String>, held_bytes: Option<u64>) -> SourceFiles {
        let path = PathBuf::from(url);
        SourceFiles {
            path: path.clone(),
            many: false,
            glob: None,
            files: vec![SourceFile { path, values: Vec::new(), stamp: None, version, held_bytes }],
            partitions: Vec::new(),
            folders: Vec::new(),
        }
    }

    /// Whether the source reads a URL.
    pub fn is_url(&self) -> bool {
        crate::files::remote::is_url(&self.path.to_string_lossy())
    }

    /// One file, read as it is when the source runs (`pipe predict`'s data).
    pub fn one(path: PathBuf) -> SourceFiles {
        let folders = path.parent().map(std::path::Path::to_path_buf).into_iter().collect();
        SourceFiles {
            path: path.clone(),
            many: false,
            glob: None,
            files: vec![SourceFile { path, values: Vec::new(), stamp: None, version: None, held_bytes: None }],
            partitions: Vec::new(),
            folders,
        }
    }
}

/// One file of a source.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SourceFile {
    /// The file.
    pub path: PathBuf,
    /// Its partition values, one per partition column (`None`: missing).
    pub values: Vec<Option<String>>,
    /// Its size and modification time when checked: a run refuses a file
    /// that changed since. Not part of cache keys (the cache hashes the
    /// contents).
    #[serde(skip)]
    pub stamp: Option<crate::files::many::Stamp>,
    /// For a URL: the version the server gave when checked (ETag or
    /// last-modified), which a run compares and the cache keys on.
    #[serde(skip)]
    pub version: Option<String>,
    /// For a URL: about how many bytes its rows take in memory, from what
    /// the checker read (a CSV's length, a Parquet file's rows times its
    /// columns' widths): what the memory budget weighs it by.
    #[serde(skip)]
    pub held_bytes: Option<u64>,
}

/// A frame: a starting point and operations applied in order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Frame {
    /// Where the data comes from.
    pub input: FrameInput,
    /// What is done to it.
    pub ops: Vec<Op>,
    /// Where each operation is written (one per entry of `ops`), for
    /// diagnostics met while running.
    #[serde(skip)]
    pub spans: Vec<Span>,
    /// The schema it ends with.
    pub schema: Schema,
}

/// The start of a frame.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum FrameInput {
    /// Another item's data.
    Item(#[serde(serialize_with = "item_ref")] ItemId),
    /// One part of a `split` item.
    Part {
        /// The split item.
        #[serde(serialize_with = "item_ref")]
        split: ItemId,
        /// Which part.
        part: usize,
    },
    /// A fitted transform applied to a frame.
    Transformed {
        /// The transform item.
        #[serde(serialize_with = "item_ref")]
        transform: ItemId,
        /// The frame it is applied to.
        input: Box<Frame>,
    },
}

/// One data operation, its arguments checked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Op {
    /// Keep the rows where the condition holds.
    Filter(RowExpr),
    /// Keep these columns, in this order.
    Select(Vec<String>),
    /// Remove these columns.
    Drop(Vec<String>),
    /// Rename columns: `(old, new)`.
    Rename(Vec<(String, String)>),
    /// Add or replace columns computed per row.
    With(Vec<(String, RowExpr)>),
    /// Drop rows with a null in these columns (all columns when empty).
    DropNulls(Vec<String>),
    /// Fill nulls.
    FillNulls {
        /// The columns.
        columns: Vec<String>,
        /// With what.
        value: Fill,
    },
    /// Change column types.
    Cast {
        /// The columns.
        columns: Vec<String>,
        /// The new type.
        dtype: DType,
    },
    /// Bucket by fixed edges (pandas `cut`: right-closed bins).
    Cut {
        /// The numeric column read.
        column: String,
        /// The bin edges, increasing.
        edges: Vec<f64>,
        /// One label per bin.
        labels: Vec<String>,
        /// Whether the lowest edge is included in the first bin.
        include_lowest: bool,
        /// The column written.
        output: String,
    },
    /// Bucket by quantiles fitted on the data (pandas `qcut`).
    QCut {
        /// The numeric column read.
        column: String,
        /// Quantiles, from 0 to 1.
        quantiles: Vec<f64>,
        /// One label per bin.
        labels: Vec<String>,
        /// Merge bins whose edges repeat, instead of failing.
        drop_duplicates: bool,
        /// The column written.
        output: String,
    },
    /// Standard scaling (population standard deviation).
    Standard(Vec<String>),
    /// Scaling to `[low, high]`.
    MinMax {
        /// The columns.
        columns: Vec<String>,
        /// The target range.
        range: [f64; 2],
    },
    /// `ln(1 + x)` of these numeric columns, in place, as f64.
    Log1p(Vec<String>),
    /// Median and interquartile-range scaling.
    Robust(Vec<String>),
    /// One column per level.
    OneHot {
        /// The columns, each with the levels the checker expects.
        columns: Vec<(String, Vec<String>)>,
        /// Drop each column's first level.
        drop_first: bool,
        /// The dummies' type.
        dtype: Dummy,
    },
    /// Integer ids per level (`encode`): 1 to n in the order of the
    /// levels the checker expects, for those the fitted frame has; 0 for a
    /// missing value and any other level. What `embedding` layers read.
    Encode(Vec<(String, Vec<String>)>),
    /// A text column as `length` token ids a row (`tokenize`), the
    /// vocabulary fitted: its `vocab` most frequent words.
    Tokenize {
        /// The text column, replaced.
        column: String,
        /// Words in the vocabulary.
        vocab: usize,
        /// Ids a row.
        length: usize,
    },
    /// Principal components.
    Pca {
        /// The input columns.
        columns: Vec<String>,
        /// How many components.
        k: usize,
        /// Scale components to unit variance.
        whiten: bool,
        /// Keep the input columns (components go after the last of them).
        keep: bool,
        /// Output columns are `prefix0..prefix{k-1}`.
        prefix: String,
    },
    /// Columns of a table as one image column (`pixels`).
    Pixels {
        /// The columns, in pixel order (channel-major).
        columns: Vec<String>,
        /// `[channels, height, width]`.
        shape: [usize; 3],
        /// What the values are divided by (so they fall in [0, 1]).
        max: f64,
        /// The image column's name.
        name: String,
    },
    /// Repeat rows of rare classes until classes are balanced.
    Oversample(String),
    /// A random subset.
    Sample {
        /// How many rows, or what fraction.
        size: SampleSize,
        /// The random seed.
        seed: Option<u64>,
    },
    /// Keep the result in memory for reuse.
    Cache,
    /// Write the frame to a file (CSV or Parquet by extension), a Parquet
    /// file's pages compressed with the codec.
    Write(PathBuf, Codec),
    /// Apply a fitted transform.
    Transform(#[serde(serialize_with = "item_ref")] ItemId),
    /// Add the predictions of a trained run.
    Predict {
        /// The trained run.
        #[serde(serialize_with = "item_ref")]
        run: ItemId,
        /// Also add `probability`, the predicted class's probability
        /// (`probabilities: true`; classification runs only).
        probability: bool,
        /// With `probability`, one `probability_<class>` column per class
        /// the checker knows the target to have (a class the training rows
        /// lack has probability 0).
        classes: Vec<String>,
        /// `threshold:` of a two-class run (0.5 unless given).
        threshold: Option<f64>,
    },
}

/// How a written Parquet file's pages are compressed
/// (`write(path, compression: snappy)`); the names are Parquet's, as pandas
/// and Polars spell them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum Codec {
    /// No compression.
    Uncompressed,
    /// Snappy (pandas' and pyarrow's default).
    Snappy,
    /// LZ4 (Parquet's `LZ4_RAW`).
    Lz4,
    /// Zstandard at level 3 (Polars' default, and `pipe`'s).
    #[default]
    Zstd,
    /// Gzip.
    Gzip,
    /// Brotli.
    Brotli,
}

impl Codec {
    /// Every codec, by the name `write` takes.
    pub const ALL: [(&'static str, Codec); 6] = [
        ("uncompressed", Codec::Uncompressed),
        ("snappy", Codec::Snappy),
        ("lz4", Codec::Lz4),
        ("zstd", Codec::Zstd),
        ("gzip", Codec::Gzip),
        ("brotli", Codec::Brotli),
    ];

    /// The codec called `name`.
    pub fn named(name: &str) -> Option<Codec> {
        Codec::ALL.iter().find(|(n, _)| *n == name).map(|(_, codec)| *codec)
    }
}

/// The type of `onehot`'s columns (`onehot(city, dtype: bool)`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum Dummy {
    /// 0.0 and 1.0 (scikit-learn's `OneHotEncoder`).
    #[default]
    F64,
    /// false and true (pandas' `get_dummies`; a bit each in Parquet).
    Bool,
}

impl Dummy {
    /// Every dummy type, by the name `dtype:` takes.
    pub const ALL: [(&'static str, Dummy); 2] = [("f64", Dummy::F64), ("bool", Dummy::Bool)];

    /// The dummy type called `name`.
    pub fn named(name: &str) -> Option<Dummy> {
        Dummy::ALL.iter().find(|(n, _)| *n == name).map(|(_, dummy)| *dummy)
    }

    /// The columns' type in a schema.
    pub fn dtype(self) -> DType {
        match self {
            Dummy::F64 => DType::F64,
            Dummy::Bool => DType::Bool,
        }
    }
}

/// A fill value.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Fill {
    /// This number.
    Number(f64),
    /// This text.
    Text(String),
    /// The mean, fitted.
    Mean,
    /// The median, fitted.
    Median,
}

/// The size of a sample.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum SampleSize {
    /// A number of rows.
    Rows(u64),
    /// A fraction of the rows.
    Fraction(f64),
}

/// An expression evaluated per row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum RowExpr {
    /// A column.
    Column(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Text.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// `-x`
    Neg(Box<RowExpr>),
    /// `not x`
    Not(Box<RowExpr>),
    /// `a op b`
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        lhs: Box<RowExpr>,
        /// Right operand.
        rhs: Box<RowExpr>,
    },
    /// A function of one value.
    Function {
        /// The function.
        function: RowFunction,
        /// Its argument.
        arg: Box<RowExpr>,
    },
}

named_enum! {
    /// Functions of one value in row expressions.
    RowFunction {
        /// Absolute value (keeps the type).
        Abs = "abs",
        /// Square root, as a float (negative numbers give NaN).
        Sqrt = "sqrt",
        /// Natural logarithm, as a float.
        Log = "log",
        /// e to the power of the value, as a float.
        Exp = "exp",
        /// Whether the value is missing.
        IsNull = "is_null",
    }
}

/// Binary operators of row expressions (the parser's column ranges
/// `a..b` never reach a row expression, so they are not here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum BinaryOp {
    /// `or`
    Or,
    /// `and`
    And,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`, always a float.
    Div,
    /// `%`
    Rem,
}

thread_local! {
    /// While an item is fingerprinted: what each referenced item is called
    /// in the fingerprint (its own cache key), so that a fingerprint does not
    /// change when unrelated items are added above it.
    static ITEM_NAMES: RefCell<HashMap<ItemId, String>> = RefCell::new(HashMap::new());
}

/// The JSON text of `value` with each item reference written as the name
/// `names` gives it (items not in `names` are written as their index).
pub fn fingerprint<T: Serialize>(value: &T, names: HashMap<ItemId, String>) -> String {
    ITEM_NAMES.with(|n| *n.borrow_mut() = names);
    let text = serde_json::to_string(value).unwrap_or_default();
    ITEM_NAMES.with(|n| n.borrow_mut().clear());
    text
}

pub(crate) fn item_ref<S: Serializer>(id: &ItemId, serializer: S) -> Result<S::Ok, S::Error> {
    match ITEM_NAMES.with(|n| n.borrow().get(id).cloned()) {
        Some(name) => serializer.serialize_str(&name),
        None => serializer.serialize_u64(*id as u64),
    }
}

/// The items an item reads, in the order it names them (so they run
/// first, their cache keys enter its key, and what reads a `kfold` split
/// is found).
pub fn references(kind: &ItemKind) -> Vec<ItemId> {
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
            // A k-fold run reads every fold's data (the first fold's above).
            for fold in train.folds.iter().skip(1) {
                frame_references(&fold.data, &mut out);
                if let Some(v) = &fold.validate {
                    frame_references(v, &mut out);
                }
            }
            // A model that starts from a trained run needs its weights.
            if let Some(Pretrained { from: PretrainedFrom::Run(run), .. }) = &train.model.pretrained {
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

/// The items `frame` reads: where it starts, its transforms, the runs it
/// predicts with.
pub fn frame_references(frame: &Frame, out: &mut Vec<ItemId>) {
    match &frame.input {
        FrameInput::Item(id) | FrameInput::Part { split: id, .. } => out.push(*id),
        FrameInput::Transformed { transform, input } => {
            out.push(*transform);
            frame_references(input, out);
        }
    }
    op_references(&frame.ops, out);
}

/// The items operations read (transforms, runs they predict with).
pub fn op_references(ops: &[Op], out: &mut Vec<ItemId>) {
    for op in ops {
        if let Op::Transform(id) | Op::Predict { run: id, .. } = op {
            out.push(*id);
        }
    }
}
