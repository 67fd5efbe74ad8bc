//! `cut` and `qcut` with pandas' semantics: bins are right-closed
//! `(low, high]`, the lowest edge belongs to the first bin only with
//! `include_lowest` (always for `qcut`), and quantile edges interpolate
//! linearly between sorted values (numpy's default method).

use polars::prelude::*;

use crate::run::error::{RunError, RunResult};
use crate::run::ops::polars_failure;
use crate::source::Span;

/// Quantiles of `sorted` (ascending, not empty) by linear interpolation,
/// computed exactly as numpy's `quantile(method="linear")` does.
pub fn quantiles(sorted: &[f64], qs: &[f64]) -> Vec<f64> {
    let last = sorted.len().saturating_sub(1);
    qs.iter()
        .map(|q| {
            let position = q * last as f64;
            let below = (position.floor() as usize).min(last);
            let above = below.saturating_add(1).min(last);
            let t = position - below as f64;
            let (a, b) = (sorted[below], sorted[above]);
            // numpy's `_lerp`: from the nearer end, for symmetry.
            let diff = b - a;
            if t >= 0.5 { b - diff * (1.0 - t) } else { a + diff * t }
        })
        .collect()
}

/// The edges `qcut` learns: the quantiles of the column's values (its
/// non-missing, non-NaN ones). Repeated edges are merged with
/// `drop_duplicates`, else an error.
pub fn qcut_edges(
    mut values: Vec<f64>,
    column: &str,
    qs: &[f64],
    drop_duplicates: bool,
    span: Span,
) -> RunResult<Vec<f64>> {
    if values.is_empty() {
        return Err(RunError::data(
            format!("`qcut` cannot learn quantiles of `{column}`: it has no values"),
            span,
            "nothing to learn from",
            "check the data this step is fitted on; filters may have removed every row",
        ));
    }
    values.sort_unstable_by(f64::total_cmp);
    let mut edges = quantiles(&values, qs);
    if edges.windows(2).any(|w| w[0] == w[1]) {
        if !drop_duplicates {
            return Err(RunError::data(
                format!("the quantile edges of `{column}` repeat: {}", list(&edges)),
                span,
                "bins would be empty",
                "too many rows share a value; use fewer bins, or merge them with `duplicates: drop`",
            ));
        }
        edges.dedup();
    }
    Ok(edges)
}

/// What `bucket` found outside the bins: counts, added up over batches.
#[derive(Clone, Copy, Debug, Default)]
pub struct Outside {
    below: usize,
    at_lowest: usize,
    above: usize,
}

impl Outside {
    /// Both counts together.
    pub fn add(&mut self, other: Outside) {
        self.below = self.below.saturating_add(other.below);
        self.at_lowest = self.at_lowest.saturating_add(other.at_lowest);
        self.above = self.above.saturating_add(other.above);
    }
}

/// The bins of one `cut` or `qcut`.
pub struct Bins<'a> {
    /// The numeric column read.
    pub column: &'a str,
    /// The column written.
    pub output: &'a str,
    /// The edges, increasing.
    pub edges: &'a [f64],
    /// One label per bin (extra labels are unused).
    pub labels: &'a [String],
    /// Whether the lowest edge belongs to the first bin.
    pub include_lowest: bool,
    /// The step's name, for messages.
    pub what: &'static str,
}

/// Labels each value with its bin; values in no bin become null, and are
/// counted (see [`outside_warnings`]).
pub fn bucket(df: DataFrame, bins: &Bins, span: Span) -> RunResult<(DataFrame, Outside)> {
    let Bins { column, output, edges, labels, include_lowest, .. } = *bins;
    let values = df.column(column).and_then(|c| c.cast(&DataType::Float64)).map_err(|e| polars_failure(e, span))?;
    let values = values.f64().map_err(|e| polars_failure(e, span))?;
    let count = edges.len().saturating_sub(1);
    let mut outside = Outside::default();
    let bucketed: StringChunked = values
        .iter()
        .map(|v| {
            let v = v.filter(|v| !v.is_nan())?;
            // How many edges lie strictly below v: bin `below - 1` is (e[below-1], e[below]].
            let below = edges.partition_point(|e| *e < v);
            if below == 0 {
                if v == edges[0] && include_lowest {
                    return Some(labels[0].as_str());
                }
                if v == edges[0] {
                    outside.at_lowest = outside.at_lowest.saturating_add(1)
                } else {
                    outside.below = outside.below.saturating_add(1)
                }
                return None;
            }
            if below > count {
                outside.above = outside.above.saturating_add(1);
                return None;
            }
            // `below` is at least 1 here.
            Some(labels[below.saturating_sub(1)].as_str())
        })
        .collect();
    let mut df = df;
    df.with_column(bucketed.with_name(output.into()).into_column()).map_err(|e| polars_failure(e, span))?;
    Ok((df, outside))
}

/// The warnings that say which values fell outside the bins, and why.
pub fn outside_warnings(outside: &Outside, column: &str, edges: &[f64], what: &str, span: Span) -> Vec<RunError> {
    let mut warnings = Vec::new();
    let (low, high) = (edges[0], edges[edges.len().saturating_sub(1)]);
    let fitted = if what == "qcut" { " seen when fitting" } else { "" };
    if outside.at_lowest > 0 {
        warnings.push(RunError::OutsideBins {
            message: format!(
                "{} {column} = {}, excluded by the right-closed first bin ({}, {}]",
                rows(outside.at_lowest),
                number(low),
                number(low),
                number(edges[1])
            ),
            span,
            help: "add `include_lowest: true` to put them in the first bin".into(),
        });
    }
    if outside.below > 0 {
        warnings.push(RunError::OutsideBins {
            message: format!("{} {column} below {}, the lowest edge{fitted}", rows(outside.below), number(low)),
            span,
            help: format!("lower the first edge, or use `-inf`, to keep them: `{what}` leaves them without a bucket"),
        });
    }
    if outside.above > 0 {
        warnings.push(RunError::OutsideBins {
            message: format!("{} {column} above {}, the highest edge{fitted}", rows(outside.above), number(high)),
            span,
            help: format!("raise the last edge, or use `inf`, to keep them: `{what}` leaves them without a bucket"),
        });
    }
    warnings
}

/// "1 row has", "3 rows have"
fn rows(n: usize) -> String {
    if n == 1 { "1 row has".into() } else { format!("{n} rows have") }
}

/// A number as a person would write it: `18`, `0.5`, `inf`.
pub fn number(x: f64) -> String {
    if x == f64::INFINITY {
        "inf".into()
    } else if x == f64::NEG_INFINITY {
        "-inf".into()
    } else {
        format!("{x}")
    }
}

fn list(edges: &[f64]) -> String {
    edges.iter().map(|e| number(*e)).collect::<Vec<_>>().join(", ")
}
