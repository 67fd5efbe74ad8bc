//! One-hot encoding: one 0/1 column per level, named `column_level`, in the
//! order of the levels; a missing value encodes as all zeros, and so does a
//! level not seen when fitting (with a warning that counts them).

use std::collections::HashMap;

use polars::prelude::*;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::ir::Dummy;
use crate::run::error::{RunError, RunResult};
use crate::run::ops::polars_failure;
use crate::run::threads::on_pool;
use crate::source::Span;

/// The levels of each encoded column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Levels {
    /// `(column, levels)` in the order the columns are encoded.
    pub columns: Vec<(String, Vec<String>)>,
}

/// The levels: the ones the checker promised (so the frame has the
/// columns `pipe check` reported), then any others the data has, sorted
/// (`found`: per column, the others in the order met, and whether the
/// column holds integers).
pub fn levels(
    checked: &[(String, Vec<String>)],
    found: Vec<(Vec<String>, bool)>,
    span: Span,
    warnings: &mut Vec<RunError>,
) -> Levels {
    let mut fitted = Vec::new();
    for ((column, promised), (mut extra, integer)) in checked.iter().zip(found) {
        let mut levels = promised.clone();
        if !extra.is_empty() {
            sort_levels(&mut extra, integer);
            warnings.push(RunError::UnseenLevels {
                message: format!(
                    "`{column}` has {} levels the check did not see (it samples the first 4 MB of a file): {}",
                    extra.len(),
                    preview(&extra)
                ),
                span,
                help: "they get columns of their own, after the checked ones; later steps see a wider frame than `pipe check` showed".into(),
            });
            levels.extend(extra);
        }
        fitted.push((column.clone(), levels));
    }
    Levels { columns: fitted }
}

/// The values of a column as text: the level names.
pub fn keys(df: &DataFrame, column: &str) -> PolarsResult<Column> {
    let c = df.column(column)?;
    match c.dtype() {
        // `true`/`false`, as the checker names boolean levels.
        DataType::Boolean => c.cast(&DataType::String).map(|s| {
            let lower = s.str().map(|v| v.apply_values(|x| x.to_lowercase().into())).ok();
            lower.map_or(s, IntoColumn::into_column)
        }),
        _ => c.cast(&DataType::String),
    }
}

fn sort_levels(levels: &mut [String], numeric: bool) {
    if numeric {
        levels.sort_by_key(|l| l.parse::<i64>().unwrap_or(i64::MAX));
    } else {
        levels.sort();
    }
}

fn preview(levels: &[String]) -> String {
    let shown: Vec<&str> = levels.iter().take(5).map(String::as_str).collect();
    let more = if levels.len() > 5 { format!(" and {} more", levels.len().saturating_sub(5)) } else { String::new() };
    format!("{}{more}", shown.join(", "))
}

/// The warning's help for rows whose level has no one-hot column.
pub const UNSEEN_HELP: &str =
    "their one-hot columns are all zeros; fit on data that has every level to give them columns";

/// Rows whose level was not seen when fitting, per encoded column: level
/// and count.
pub type Unseen = Vec<(String, HashMap<String, usize>)>;

/// Replaces each encoded column, in place, by its 0/1 columns; the levels
/// not seen when fitting, counted.
pub fn apply(
    df: DataFrame,
    levels: &Levels,
    drop_first: bool,
    dtype: Dummy,
    span: Span,
) -> RunResult<(DataFrame, Unseen)> {
    let mut unseen_levels = Vec::new();
    let height = df.height();
    let mut dummies: HashMap<&str, Vec<Column>> = HashMap::new();
    for (column, column_levels) in &levels.columns {
        let keys = keys(&df, column).map_err(|e| polars_failure(e, span))?;
        let keys = keys.str().map_err(|e| polars_failure(e, span))?;
        let index: HashMap<&str, u32> = column_levels.iter().zip(0..).map(|(l, i)| (l.as_str(), i)).collect();
        // Each row's level, `NO_LEVEL` for a missing or unseen one: blocks
        // of rows on all cores, joined in row order.
        let starts: Vec<usize> = (0..keys.len()).step_by(CODED).collect();
        let blocks: Vec<(Vec<u32>, HashMap<String, usize>)> =
            on_pool(|| starts.par_iter().map(|&start| codes_of(&keys.slice(start as i64, CODED), &index)).collect());
        let mut codes: Vec<u32> = Vec::with_capacity(height);
        let mut unseen: HashMap<String, usize> = HashMap::new();
        for (block, block_unseen) in blocks {
            codes.extend(block);
            for (key, n) in block_unseen {
                let count = unseen.entry(key).or_default();
                *count = count.saturating_add(n);
            }
        }
        if !unseen.is_empty() {
            unseen_levels.push((column.clone(), unseen));
        }
        let named: Vec<(u32, &String)> = (0..).zip(column_levels).skip(usize::from(drop_first)).collect();
        let made = on_pool(|| {
            named
                .into_par_iter()
                .map(|(level, name)| dummy_column(format!("{column}_{name}"), &codes, level, dtype))
                .collect()
        });
        dummies.insert(column.as_str(), made);
    }
    let mut out = Vec::with_capacity(df.width().saturating_add(dummies.values().map(Vec::len).sum::<usize>()));
    for c in df.columns() {
        match dummies.remove(c.name().as_str()) {
            Some(made) => out.extend(made),
            None => out.push(c.clone()),
        }
    }
    let df = DataFrame::new(height, out).map_err(|e| polars_failure(e, span))?;
    Ok((df, unseen_levels))
}

/// Rows coded as one block.
const CODED: usize = 1 << 16;

/// The codes of `keys` (levels numbered by `index`), and how often each
/// key without a level was met.
fn codes_of(keys: &StringChunked, index: &HashMap<&str, u32>) -> (Vec<u32>, HashMap<String, usize>) {
    let mut codes: Vec<u32> = Vec::with_capacity(keys.len());
    let mut unseen: HashMap<String, usize> = HashMap::new();
    for key in keys.iter() {
        let code = match key.map(|k| (k, index.get(k))) {
            None => NO_LEVEL,
            Some((_, Some(&level))) => level,
            Some((key, None)) => {
                let count = unseen.entry(key.to_owned()).or_default();
                *count = count.saturating_add(1);
                NO_LEVEL
            }
        };
        codes.push(code);
    }
    (codes, unseen)
}

/// The code of a row whose level has no column (missing, or not seen
/// when fitting).
const NO_LEVEL: u32 = u32::MAX;

/// Level `level`'s dummy column over rows coded `codes`: 1.0/0.0 or
/// true/false.
fn dummy_column(name: String, codes: &[u32], level: u32, dtype: Dummy) -> Column {
    let ones = codes.iter().map(|&code| code == level);
    match dtype {
        Dummy::F64 => {
            Float64Chunked::from_iter_values(name.into(), ones.map(|one| f64::from(u8::from(one)))).into_column()
        }
        Dummy::Bool => BooleanChunked::from_iter_values(name.into(), ones).into_column(),
    }
}

/// The warning for rows of `column` whose levels were not seen when
/// fitting.
pub fn unseen_warning(column: &str, unseen: &HashMap<String, usize>, span: Span, help: &str) -> RunError {
    let rows: usize = unseen.values().sum();
    let mut names: Vec<String> = unseen.keys().cloned().collect();
    names.sort();
    RunError::UnseenLevels {
        message: format!(
            "{rows} {} {} of `{column}` not seen when fitting: {}",
            if rows == 1 { "row has" } else { "rows have" },
            if names.len() == 1 { "a level" } else { "levels" },
            preview(&names)
        ),
        span,
        help: help.into(),
    }
}
