//! The typed program the executors run: every name resolved, every
//! argument checked and converted, every frame's schema known. It holds no
//! pest, Polars or Burn types.
//!
//! So far the data side is lowered (sources, stages, splits, fitted
//! transforms, outputs); models and training runs are checked but kept as
//! their syntax until the training executor defines what it consumes.

use std::path::PathBuf;

use crate::check::schema::{DType, Schema};
use crate::source::Span;
use crate::syntax::ast::BinaryOp;

/// Index of an item in [`Program::items`].
pub type ItemId = usize;

/// A checked program: its items in the order they were written (the
/// executor plans from the dependencies the frames name).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Program {
    /// One entry per item of the file, by index (`None` for items that are
    /// not lowered yet).
    pub items: Vec<Option<Item>>,
}

/// One lowered item.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// Its name(s), for messages and the stage cache.
    pub name: String,
    /// Where it is written.
    pub span: Span,
    /// What it is.
    pub kind: ItemKind,
}

/// The data items.
#[derive(Clone, Debug, PartialEq)]
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
    },
    /// A fitted transform: its steps learn on `fit_on`.
    Transform {
        /// The data it learns from.
        fit_on: Frame,
        /// The steps, in order.
        steps: Vec<Op>,
        /// The schema it expects of the data it is applied to.
        input: Schema,
    },
    /// A frame the run produces (normally ending in `write`).
    Output(Frame),
}

/// Where a source's data comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// A CSV file.
    Csv {
        /// The file, relative to the current directory.
        path: PathBuf,
        /// Field separator.
        sep: u8,
        /// Strings read as missing.
        nulls: Vec<String>,
        /// The schema the checker inferred (and any declared types).
        schema: Schema,
    },
    /// A Parquet file.
    Parquet {
        /// The file.
        path: PathBuf,
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
    },
}

/// A frame: a starting point and operations applied in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// Where the data comes from.
    pub input: FrameInput,
    /// What is done to it.
    pub ops: Vec<Op>,
    /// The schema it ends with.
    pub schema: Schema,
}

/// The start of a frame.
#[derive(Clone, Debug, PartialEq)]
pub enum FrameInput {
    /// Another item's data.
    Item(ItemId),
    /// One part of a `split` item.
    Part {
        /// The split item.
        split: ItemId,
        /// Which part.
        part: usize,
    },
    /// A fitted transform applied to a frame.
    Transformed {
        /// The transform item.
        transform: ItemId,
        /// The frame it is applied to.
        input: Box<Frame>,
    },
}

/// One data operation, its arguments checked.
#[derive(Clone, Debug, PartialEq)]
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
    /// Median and interquartile-range scaling.
    Robust(Vec<String>),
    /// One column per level.
    OneHot {
        /// The columns, each with the levels the checker expects.
        columns: Vec<(String, Vec<String>)>,
        /// Drop each column's first level.
        drop_first: bool,
    },
    /// Principal components.
    Pca {
        /// The input columns.
        columns: Vec<String>,
        /// How many components.
        k: usize,
        /// Scale components to unit variance.
        whiten: bool,
        /// Output columns are `prefix0..prefix{k-1}`.
        prefix: String,
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
    /// Write the frame to a file (CSV or Parquet by extension).
    Write(PathBuf),
    /// Apply a fitted transform.
    Transform(ItemId),
    /// Add the predictions of a trained run.
    Predict(ItemId),
}

/// A fill value.
#[derive(Clone, Debug, PartialEq)]
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
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SampleSize {
    /// A number of rows.
    Rows(u64),
    /// A fraction of the rows.
    Fraction(f64),
}

/// An expression evaluated per row.
#[derive(Clone, Debug, PartialEq)]
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
    /// `abs(x)`, `sqrt(x)`, `log(x)`, `exp(x)`, `is_null(x)`.
    Function {
        /// The function's name.
        name: String,
        /// Its argument.
        arg: Box<RowExpr>,
    },
}
