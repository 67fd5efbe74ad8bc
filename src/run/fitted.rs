//! Steps that learn from data: what each learns (a plain serialisable
//! value, saved with the run so prediction applies the same numbers) and
//! how it is applied. Scikit-learn's conventions throughout: population
//! standard deviation, a zero scale replaced by 1, statistics that ignore
//! missing values.

use std::path::Path;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::ir::{Fill, Op};
use crate::run::bucket::{Bins, bucket, finite_values, qcut_edges, quantiles};
use crate::run::error::{RunError, RunResult};
use crate::run::ops::{self, polars_failure};
use crate::run::{onehot, pca};
use crate::source::Span;

/// What one step learned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fitted {
    /// Nothing: the step is the same on any data.
    Nothing,
    /// `qcut`: the bin edges.
    Edges {
        /// Increasing edges.
        edges: Vec<f64>,
    },
    /// `standard`, `robust`, `minmax`: `(x - center) / scale` per column
    /// (`minmax` as `x * scale + offset`, see [`Fitted::Linear`]).
    Scale {
        /// The columns.
        columns: Vec<String>,
        /// Subtracted (mean or median).
        center: Vec<f64>,
        /// Divided by (standard deviation or interquartile range; 1 where 0).
        scale: Vec<f64>,
    },
    /// `minmax`: `x * scale + offset`, as scikit-learn's `MinMaxScaler`.
    Linear {
        /// The columns.
        columns: Vec<String>,
        /// The smallest value seen.
        data_min: Vec<f64>,
        /// The largest value seen.
        data_max: Vec<f64>,
        /// Multiplier.
        scale: Vec<f64>,
        /// Added after.
        offset: Vec<f64>,
    },
    /// `fill_nulls(mean|median)`: the value per column.
    Fill {
        /// The columns.
        columns: Vec<String>,
        /// The value filled in.
        values: Vec<f64>,
    },
    /// `onehot`: the levels of each column, in column order.
    Levels(onehot::Levels),
    /// `pca`: the projection.
    Pca(pca::Projection),
}

/// Whether an operation learns from the data it is fitted on (what
/// [`fit`] returns something other than [`Fitted::Nothing`] for).
pub fn learns(op: &Op) -> bool {
    matches!(
        op,
        Op::QCut { .. }
            | Op::Standard(_)
            | Op::Robust(_)
            | Op::MinMax { .. }
            | Op::OneHot { .. }
            | Op::Pca { .. }
            | Op::FillNulls { value: Fill::Mean | Fill::Median, .. }
    )
}

/// Learns what `op` needs from `df` (the data it is fitted on).
pub fn fit(op: &Op, df: &DataFrame, span: Span, warnings: &mut Vec<RunError>) -> RunResult<Fitted> {
    Ok(match op {
        Op::QCut { column, quantiles, drop_duplicates, .. } => {
            Fitted::Edges { edges: qcut_edges(df, column, quantiles, *drop_duplicates, span)? }
        }
        Op::Standard(columns) => standard(df, columns, span)?,
        Op::Robust(columns) => robust(df, columns, span)?,
        Op::MinMax { columns, range } => minmax(df, columns, *range, span)?,
        Op::FillNulls { columns, value: value @ (Fill::Mean | Fill::Median) } => fill(df, columns, value, span)?,
        Op::OneHot { columns, .. } => Fitted::Levels(onehot::fit(df, columns, span, warnings)?),
        Op::Pca { columns, k, whiten, .. } => Fitted::Pca(pca::fit(df, columns, *k, *whiten, span)?),
        // Named one by one, so that a new operation does not compile until
        // it says whether it learns.
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
        | Op::Oversample(_)
        | Op::Pixels { .. }
        | Op::Sample { .. }
        | Op::Cache
        | Op::Write(_)
        | Op::Transform(_)
        | Op::Predict(_) => Fitted::Nothing,
    })
}

/// Applies `op` with what it learned to `df`.
pub fn apply(
    op: &Op,
    fitted: &Fitted,
    df: DataFrame,
    span: Span,
    dir: &Path,
    warnings: &mut Vec<RunError>,
) -> RunResult<DataFrame> {
    let failed = |e: PolarsError| polars_failure(e, span);
    match (op, fitted) {
        (Op::Cut { column, edges, labels, include_lowest, output }, _) => {
            let bins = Bins { column, output, edges, labels, include_lowest: *include_lowest, what: "cut" };
            bucket(df, &bins, span, warnings)
        }
        (Op::QCut { column, labels, output, .. }, Fitted::Edges { edges }) => {
            let bins = Bins { column, output, edges, labels, include_lowest: true, what: "qcut" };
            bucket(df, &bins, span, warnings)
        }
        (_, Fitted::Scale { columns, center, scale }) => {
            let exprs = columns
                .iter()
                .zip(center.iter().zip(scale))
                .map(|(c, (m, s))| ((col(c.as_str()).cast(DataType::Float64) - lit(*m)) / lit(*s)).alias(c.as_str()));
            df.lazy().with_columns(exprs.collect::<Vec<_>>()).collect().map_err(failed)
        }
        (_, Fitted::Linear { columns, scale, offset, .. }) => {
            let exprs = columns
                .iter()
                .zip(scale.iter().zip(offset))
                .map(|(c, (s, o))| (col(c.as_str()).cast(DataType::Float64) * lit(*s) + lit(*o)).alias(c.as_str()));
            df.lazy().with_columns(exprs.collect::<Vec<_>>()).collect().map_err(failed)
        }
        (Op::FillNulls { columns, value }, fitted) => {
            let fills: Vec<Expr> = match (value, fitted) {
                (_, Fitted::Fill { values, .. }) => {
                    columns.iter().zip(values).map(|(c, v)| col(c.as_str()).fill_null(lit(*v))).collect()
                }
                (Fill::Number(x), _) => columns.iter().map(|c| col(c.as_str()).fill_null(lit(*x))).collect(),
                (Fill::Text(t), _) => columns.iter().map(|c| col(c.as_str()).fill_null(lit(t.clone()))).collect(),
                // `fit` learns a value for these: without one, nothing is filled.
                (Fill::Mean | Fill::Median, _) => {
                    return Err(RunError::data(
                        "`fill_nulls` reached its step without the value it learns",
                        span,
                        "not fitted",
                        "this is a bug in pipe; please report it with this file",
                    ));
                }
            };
            df.lazy().with_columns(fills).collect().map_err(failed)
        }
        (Op::OneHot { drop_first, .. }, Fitted::Levels(levels)) => {
            onehot::apply(df, levels, *drop_first, span, warnings)
        }
        (Op::Pca { prefix, keep, .. }, Fitted::Pca(projection)) => pca::apply(df, projection, prefix, *keep, span),
        (op, _) => match ops::apply(op, df, span, dir) {
            Some(result) => result,
            None => Err(RunError::data(
                "this step cannot run here",
                span,
                "not runnable here",
                "a transform's steps are data operations; apply other transforms and `predict` outside it",
            )),
        },
    }
}

fn no_values(step: &str, column: &str, span: Span) -> RunError {
    RunError::data(
        format!("`{step}` cannot learn from `{column}`: it has no values"),
        span,
        "nothing to learn from",
        "check the data this step is fitted on; filters may have removed every row",
    )
}

/// Per-column statistics in one pass: `stats(column)` gives expressions
/// whose results are read back in order.
fn column_stats(
    df: &DataFrame,
    columns: &[String],
    stats: &dyn Fn(Expr) -> Vec<Expr>,
    span: Span,
) -> RunResult<Vec<Vec<Option<f64>>>> {
    let exprs: Vec<Expr> = columns
        .iter()
        .enumerate()
        .flat_map(|(i, c)| {
            stats(col(c.as_str()).cast(DataType::Float64))
                .into_iter()
                .enumerate()
                .map(move |(j, e)| e.alias(format!("{i}_{j}")))
        })
        .collect();
    let per_column = exprs.len().checked_div(columns.len()).unwrap_or(0);
    let row = df.clone().lazy().select(exprs).collect().map_err(|e| polars_failure(e, span))?;
    let values: Vec<Option<f64>> = row
        .columns()
        .iter()
        .map(|c| c.cast(&DataType::Float64).ok().and_then(|c| c.f64().ok().and_then(|v| v.get(0))))
        .collect();
    Ok(values.chunks(per_column.max(1)).map(<[Option<f64>]>::to_vec).collect())
}

/// A zero (or non-finite) scale would divide by zero: scikit-learn uses 1.
fn safe_scale(s: f64) -> f64 {
    if s == 0.0 || !s.is_finite() { 1.0 } else { s }
}

fn standard(df: &DataFrame, columns: &[String], span: Span) -> RunResult<Fitted> {
    let stats = column_stats(df, columns, &|c| vec![c.clone().mean(), c.std(0)], span)?;
    let mut center = Vec::new();
    let mut scale = Vec::new();
    for (c, s) in columns.iter().zip(stats) {
        let (Some(mean), Some(std)) = (s[0], s[1]) else { return Err(no_values("standard", c, span)) };
        center.push(mean);
        scale.push(safe_scale(std));
    }
    Ok(Fitted::Scale { columns: columns.to_vec(), center, scale })
}

fn minmax(df: &DataFrame, columns: &[String], range: [f64; 2], span: Span) -> RunResult<Fitted> {
    let stats = column_stats(df, columns, &|c| vec![c.clone().min(), c.max()], span)?;
    let (mut data_min, mut data_max, mut scale, mut offset) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (c, s) in columns.iter().zip(stats) {
        let (Some(lo), Some(hi)) = (s[0], s[1]) else { return Err(no_values("minmax", c, span)) };
        let factor = (range[1] - range[0]) / safe_scale(hi - lo);
        data_min.push(lo);
        data_max.push(hi);
        scale.push(factor);
        offset.push(range[0] - lo * factor);
    }
    Ok(Fitted::Linear { columns: columns.to_vec(), data_min, data_max, scale, offset })
}

fn robust(df: &DataFrame, columns: &[String], span: Span) -> RunResult<Fitted> {
    let mut center = Vec::new();
    let mut scale = Vec::new();
    for c in columns {
        let mut values = finite_values(df, c).map_err(|e| polars_failure(e, span))?;
        if values.is_empty() {
            return Err(no_values("robust", c, span));
        }
        values.sort_unstable_by(f64::total_cmp);
        let q = quantiles(&values, &[0.25, 0.5, 0.75]);
        center.push(q[1]);
        scale.push(safe_scale(q[2] - q[0]));
    }
    Ok(Fitted::Scale { columns: columns.to_vec(), center, scale })
}

fn fill(df: &DataFrame, columns: &[String], value: &Fill, span: Span) -> RunResult<Fitted> {
    let median = matches!(value, Fill::Median);
    let stats = column_stats(df, columns, &|c| vec![if median { c.median() } else { c.mean() }], span)?;
    let mut values = Vec::new();
    for (c, s) in columns.iter().zip(stats) {
        values.push(s[0].ok_or_else(|| no_values("fill_nulls", c, span))?);
    }
    Ok(Fitted::Fill { columns: columns.to_vec(), values })
}
