//! `encode`: each level of a column as an integer id, what `embedding`
//! layers read. The checker numbers the levels it expects 1 to n (sorted,
//! as `onehot` orders them), so the embedding tables' sizes are known
//! before any data is read; fitting keeps the ids of the levels the fitted
//! rows have. A missing value, and any level without a fitted id, is 0
//! (Keras' `StringLookup` out-of-vocabulary index), counted in a warning.

use std::collections::{HashMap, HashSet};

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::run::error::{RunError, RunResult};
use crate::run::onehot::{self, Unseen};
use crate::run::ops::polars_failure;
use crate::source::Span;

/// The fitted ids of each encoded column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vocabulary {
    /// The columns, in the order they are encoded.
    pub columns: Vec<CodedColumn>,
}

/// One encoded column's ids.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CodedColumn {
    /// The column.
    pub name: String,
    /// Each fitted level and its id (1 or more).
    pub ids: Vec<(String, i64)>,
}

/// The warning's help for rows encoded 0 for an unseen level.
pub const UNSEEN_HELP: &str = "they are encoded 0, the id every level without a fitted one shares; fit on data that has every level to give them ids of their own";

/// The vocabulary: the checked levels (`checked`, numbered from 1) that
/// the fitted rows have (`seen`: per column, every level met). Levels the
/// check did not expect keep id 0, with a warning: the embedding tables
/// were sized by the check.
pub fn vocabulary(
    checked: &[(String, Vec<String>)],
    seen: &[HashSet<String>],
    span: Span,
    warnings: &mut Vec<RunError>,
) -> Vocabulary {
    let mut columns = Vec::new();
    for ((name, levels), seen) in checked.iter().zip(seen) {
        let ids = (1..).zip(levels).filter(|(_, l)| seen.contains(*l)).map(|(id, l)| (l.clone(), id)).collect();
        let expected: HashSet<&str> = levels.iter().map(String::as_str).collect();
        let mut extra: Vec<&str> = seen.iter().map(String::as_str).filter(|l| !expected.contains(l)).collect();
        if !extra.is_empty() {
            extra.sort_unstable();
            let shown: Vec<&str> = extra.iter().take(5).copied().collect();
            let more = match extra.len() {
                n if n > 5 => format!(" and {} more", n.saturating_sub(5)),
                _ => String::new(),
            };
            warnings.push(RunError::UnseenLevels {
                message: format!(
                    "`{name}` has {} level{} the check did not see (it samples the first 4 MB of a file): {}{more}",
                    extra.len(),
                    if extra.len() == 1 { "" } else { "s" },
                    shown.join(", ")
                ),
                span,
                help: "they are encoded 0 with unseen levels: the check sized the embedding tables; cast the column to `cat` with every level, or check a file whose first rows have them all".into(),
            });
        }
        columns.push(CodedColumn { name: name.clone(), ids });
    }
    Vocabulary { columns }
}

/// The levels of `column` in a batch of the rows being fitted on, added
/// to `seen`.
pub fn observe(df: &DataFrame, column: &str, seen: &mut HashSet<String>) -> PolarsResult<()> {
    let keys = onehot::keys(df, column)?;
    for key in keys.str()?.iter().flatten() {
        if !seen.contains(key) {
            seen.insert(key.to_owned());
        }
    }
    Ok(())
}

/// Replaces each encoded column, in place, by its ids (i64); the rows
/// whose level has no id, counted per level.
pub fn apply(df: DataFrame, vocabulary: &Vocabulary, span: Span) -> RunResult<(DataFrame, Unseen)> {
    let failed = |e: PolarsError| polars_failure(e, span);
    let mut unseen_levels = Vec::new();
    let mut columns = df.into_columns();
    for coded in &vocabulary.columns {
        let Some(index) = columns.iter().position(|c| c.name().as_str() == coded.name) else {
            return Err(failed(PolarsError::ColumnNotFound(coded.name.clone().into())));
        };
        let one = DataFrame::new(columns[index].len(), vec![columns[index].clone()]).map_err(failed)?;
        let keys = onehot::keys(&one, &coded.name).map_err(failed)?;
        let index_of: HashMap<&str, i64> = coded.ids.iter().map(|(l, id)| (l.as_str(), *id)).collect();
        let mut unseen: HashMap<String, usize> = HashMap::new();
        let ids: Vec<i64> = keys
            .str()
            .map_err(failed)?
            .iter()
            .map(|key| match key {
                None => 0,
                Some(k) => index_of.get(k).copied().unwrap_or_else(|| {
                    let count = unseen.entry(k.to_owned()).or_default();
                    *count = count.saturating_add(1);
                    0
                }),
            })
            .collect();
        if !unseen.is_empty() {
            unseen_levels.push((coded.name.clone(), unseen));
        }
        columns[index] = Int64Chunked::from_vec(coded.name.as_str().into(), ids).into_column();
    }
    let height = columns.first().map_or(0, Column::len);
    Ok((DataFrame::new(height, columns).map_err(failed)?, unseen_levels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> DataFrame {
        df!("city" => [Some("b"), Some("a"), None, Some("z"), Some("c")], "x" => [1i64, 2, 3, 4, 5]).unwrap()
    }

    #[test]
    fn checked_levels_are_numbered_from_one_and_the_rest_share_zero() {
        let checked = vec![("city".to_string(), vec!["a".to_string(), "b".to_string(), "c".to_string()])];
        // Fitted on rows without `c`: it keeps no id.
        let seen = vec![HashSet::from(["a".to_string(), "b".to_string()])];
        let mut warnings = Vec::new();
        let vocabulary = vocabulary(&checked, &seen, Span::default(), &mut warnings);
        assert!(warnings.is_empty());
        let (df, unseen) = apply(frame(), &vocabulary, Span::default()).unwrap();
        let ids: Vec<Option<i64>> = df.column("city").unwrap().i64().unwrap().iter().collect();
        assert_eq!(ids, [Some(2), Some(1), Some(0), Some(0), Some(0)]);
        assert_eq!(df.get_column_names(), ["city", "x"]);
        let counts = &unseen[0].1;
        assert_eq!((counts["z"], counts["c"], counts.len()), (1, 1, 2), "missing values are not counted");
    }

    #[test]
    fn levels_the_check_did_not_expect_are_zero_with_a_warning() {
        let checked = vec![("city".to_string(), vec!["a".to_string()])];
        let seen = vec![HashSet::from(["a".to_string(), "q".to_string()])];
        let mut warnings = Vec::new();
        let vocabulary = vocabulary(&checked, &seen, Span::default(), &mut warnings);
        assert_eq!(vocabulary.columns[0].ids, [("a".to_string(), 1)]);
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].to_string().ends_with("the check did not see (it samples the first 4 MB of a file): q"),
            "{}",
            warnings[0]
        );
    }
}
