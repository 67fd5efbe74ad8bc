//! Frame schemas as the checker knows them: column names, dtypes, and where
//! each column was made (for "`income_q` is created here" labels).

use std::fmt;

use crate::source::Span;

/// The type of a column.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum DType {
    /// 64-bit integers.
    I64,
    /// 64-bit floats.
    F64,
    /// Booleans.
    Bool,
    /// Text.
    Str,
    /// A categorical with these levels, in order.
    Cat(Vec<String>),
    /// An image of `[channels, height, width]`, values in [0, 1].
    Image([usize; 3]),
    /// Integer ids from `encode`: 1 to n for the fitted levels, 0 for a
    /// missing value or a level not seen when fitting; the number is the
    /// count of ids (n + 1), an `embedding` table's rows. Stored as i64.
    Codes(usize),
    /// A text as `length` token ids from `tokenize` (0 pads, 1 is a word
    /// outside the vocabulary, 2 and up the fitted words), `ids` in all:
    /// what `embedding` reads as a sequence. A list of i64 per row.
    Tokens {
        /// How many ids there are (the vocabulary and the two reserved).
        ids: usize,
        /// Ids per row.
        length: usize,
    },
}

impl DType {
    /// About how many bytes a value takes in memory (text: a typical
    /// short string and its offset): the memory budget's measure.
    pub fn held_width(&self) -> u64 {
        match self {
            DType::I64 | DType::F64 | DType::Codes(_) => 8,
            DType::Tokens { length, .. } => (*length as u64).saturating_mul(8),
            DType::Bool => 1,
            DType::Str | DType::Cat(_) => 16,
            DType::Image([c, h, w]) => (c.saturating_mul(*h).saturating_mul(*w) as u64).saturating_mul(4),
        }
    }

    /// Whether arithmetic and scaling apply.
    pub fn is_numeric(&self) -> bool {
        matches!(self, DType::I64 | DType::F64)
    }

    /// Whether one-hot encoding applies (a finite set of values).
    pub fn is_discrete(&self) -> bool {
        matches!(self, DType::Str | DType::Cat(_) | DType::Bool | DType::I64)
    }

    /// The type named in a `cast` or a `dtypes:` setting.
    pub fn from_name(name: &str) -> Option<DType> {
        Some(match name {
            "i64" | "int" => DType::I64,
            "f64" | "float" => DType::F64,
            "bool" => DType::Bool,
            "str" => DType::Str,
            "cat" => DType::Cat(Vec::new()),
            _ => return None,
        })
    }
}

/// The names `cast` and `dtypes:` accept.
pub const DTYPE_NAMES: [&str; 5] = ["i64", "f64", "bool", "str", "cat"];

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DType::I64 => write!(f, "i64"),
            DType::F64 => write!(f, "f64"),
            DType::Bool => write!(f, "bool"),
            DType::Str => write!(f, "str"),
            DType::Cat(levels) if levels.len() <= 6 => write!(f, "cat{{{}}}", levels.join(", ")),
            DType::Cat(levels) => write!(f, "cat{{{}, ... {} levels}}", levels[..3].join(", "), levels.len()),
            DType::Image([c, h, w]) => write!(f, "image[{c}, {h}, {w}]"),
            DType::Codes(ids) => write!(f, "codes[{ids}]"),
            DType::Tokens { ids, length } => write!(f, "tokens[{length} of {ids}]"),
        }
    }
}

/// One column.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its type.
    pub dtype: DType,
    /// Where it was made: the source that read it, or the step that created it.
    #[serde(skip)]
    pub origin: Span,
    /// For text and integer columns read from a file: the distinct values
    /// seen in the sample (one-hot encoding's estimate of the levels).
    /// Shared, because schemas are copied at every step.
    #[serde(skip)]
    pub sample_levels: std::sync::Arc<[String]>,
}

impl Column {
    /// A column made at `origin`, with no sampled levels.
    pub fn new(name: impl Into<String>, dtype: DType, origin: Span) -> Self {
        Column { name: name.into(), dtype, origin, sample_levels: std::sync::Arc::from(Vec::new()) }
    }
}

/// The columns of a frame, in order.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Schema {
    /// The columns.
    pub columns: Vec<Column>,
}

impl Schema {
    /// The column with this name.
    pub fn get(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Its position.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Every column name.
    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }

    /// Removes the named columns.
    pub fn remove(&mut self, names: &[String]) {
        self.columns.retain(|c| !names.contains(&c.name));
    }

    /// Adds a column, or replaces the one with its name in place.
    pub fn set(&mut self, column: Column) {
        match self.position(&column.name) {
            Some(i) => self.columns[i] = column,
            None => self.columns.push(column),
        }
    }
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.columns.iter().map(|c| format!("{}: {}", c.name, c.dtype)).collect();
        write!(f, "frame{{{}}}", parts.join(", "))
    }
}
