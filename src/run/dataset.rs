//! From a prepared frame to training arrays ([`Dataset`]).

// See src/run/mod.rs: run errors are rare and cold.
#![allow(clippy::result_large_err)]

use polars::prelude::*;

use crate::run::error::{RunError, RunResult};
use crate::source::Span;
use crate::train::data::{Dataset, Target};

/// The classes of a target column: its distinct values, sorted (numbers
/// numerically).
pub fn class_names(df: &DataFrame, target: &str, span: Span) -> RunResult<Vec<String>> {
    let column = df.column(target).map_err(|e| failure(e, span))?;
    let numeric = column.dtype().is_integer();
    let text = column.cast(&DataType::String).map_err(|e| failure(e, span))?;
    let mut names: Vec<String> = text
        .str()
        .map_err(|e| failure(e, span))?
        .iter()
        .flatten()
        .map(str::to_owned)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if numeric {
        names.sort_by_key(|n| n.parse::<i64>().unwrap_or(i64::MAX));
    }
    Ok(names)
}

/// Rows laid out together by [`dataset`]: a block of a hundred features a
/// row stays within a core's cache.
const ROWS_PER_BLOCK: usize = 256;

/// The arrays of `df`: every column but the target (and the `weights:`
/// column, whose values weigh each row's loss) as features; `classes`
/// given for classification.
#[expect(
    clippy::arithmetic_side_effects,
    reason = "rows x width counts values the frame already holds, and the offsets stay inside them"
)]
pub fn dataset(
    df: &DataFrame,
    target: &str,
    weights: Option<&str>,
    classes: Option<&[String]>,
    span: Span,
) -> RunResult<Dataset> {
    let rows = df.height();
    let features: Vec<&Column> =
        df.columns().iter().filter(|c| c.name().as_str() != target && Some(c.name().as_str()) != weights).collect();
    // Each column gives one feature, or, for an image column (a list of
    // floats per row), all of its values.
    let mut parts = Vec::with_capacity(features.len());
    for column in &features {
        parts.push(feature_values(column, rows, span)?);
    }
    let parts = parts.iter().map(|(series, w)| Ok((floats_of(series, span)?, *w))).collect::<RunResult<Vec<_>>>()?;
    let width: usize = parts.iter().map(|(_, w)| w).sum();
    let mut values = vec![0f32; rows * width];
    // Rows a block at a time, every column into the block: the block's
    // rows stay in the cache while each column is written into them (one
    // column at a time over all rows walked the whole array per column).
    for start in (0..rows).step_by(ROWS_PER_BLOCK) {
        let end = (start + ROWS_PER_BLOCK).min(rows);
        let mut offset = 0;
        for (part, part_width) in &parts {
            let part_width = *part_width;
            if part_width == 1 {
                // One value a row (a plain column): no copy call per value.
                for (i, value) in part[start..end].iter().enumerate() {
                    values[(start + i) * width + offset] = *value;
                }
            } else {
                for i in start..end {
                    values[i * width + offset..i * width + offset + part_width]
                        .copy_from_slice(&part[i * part_width..(i + 1) * part_width]);
                }
            }
            offset += part_width;
        }
    }
    let column = df.column(target).map_err(|e| failure(e, span))?;
    if column.null_count() > 0 {
        return Err(missing(column.name(), column.null_count(), span));
    }
    let target = match classes {
        Some(names) => {
            let text = column.cast(&DataType::String).map_err(|e| failure(e, span))?;
            let index: std::collections::HashMap<&str, i64> =
                names.iter().enumerate().map(|(i, n)| (n.as_str(), i as i64)).collect();
            let mut out = Vec::with_capacity(rows);
            for value in text.str().map_err(|e| failure(e, span))?.iter().flatten() {
                let Some(&i) = index.get(value) else {
                    return Err(RunError::data(
                        format!("the target has a class `{value}` that the training data does not"),
                        span,
                        "an unknown class",
                        "split with `stratify:` so every part has every class",
                    ));
                };
                out.push(i);
            }
            Target::Classes(out)
        }
        None => {
            let cast = column.cast(&DataType::Float32).map_err(|e| failure(e, span))?;
            Target::Numbers(cast.f32().map_err(|e| failure(e, span))?.into_no_null_iter().collect())
        }
    };
    let weights = match weights {
        Some(column) => Some(row_weights(df, column, span)?),
        None => None,
    };
    Ok(Dataset { features: values, rows, width, target, image: None, weights, to_augment: None })
}

/// The `weights:` column's values: numbers, none missing, none negative,
/// not all zero.
fn row_weights(df: &DataFrame, column: &str, span: Span) -> RunResult<Vec<f32>> {
    let values = df.column(column).and_then(|c| c.cast(&DataType::Float32)).map_err(|e| failure(e, span))?;
    if values.null_count() > 0 {
        return Err(RunError::data(
            format!("the weights column `{column}` has {} missing values", values.null_count()),
            span,
            "trained here",
            &format!("fill them (`fill_nulls({column}, 1)`) or drop those rows (`drop_nulls({column})`) first"),
        ));
    }
    let values: Vec<f32> = values.f32().map_err(|e| failure(e, span))?.into_no_null_iter().collect();
    if let Some(bad) = values.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
        return Err(RunError::data(
            format!("the weights column `{column}` has the value {bad}: a row's weight is a finite number, 0 or more"),
            span,
            "trained here",
            &format!("filter those rows out, or clamp the weights (`with({column}: ...)`)"),
        ));
    }
    if !values.is_empty() && values.iter().all(|w| *w == 0.0) {
        return Err(RunError::data(
            format!("every weight in `{column}` is 0: the loss would weigh nothing"),
            span,
            "trained here",
            "give some rows a positive weight",
        ));
    }
    Ok(values)
}

/// A column's values as f32 in one chunk, row-major, and how many each row
/// has (1, or an image's pixel count).
fn feature_values(column: &Column, rows: usize, span: Span) -> RunResult<(Series, usize)> {
    if let DataType::List(_) = column.dtype() {
        let lists = column.list().map_err(|e| failure(e, span))?;
        if lists.null_count() > 0 {
            return Err(missing(column.name(), lists.null_count(), span));
        }
        let inner = lists.get_inner().cast(&DataType::Float32).map_err(|e| failure(e, span))?.rechunk();
        let per_row = inner.len().checked_div(rows).unwrap_or(0);
        return Ok((inner, per_row));
    }
    let cast = column.as_materialized_series().cast(&DataType::Float32).map_err(|e| failure(e, span))?;
    if cast.null_count() > 0 {
        return Err(missing(column.name(), cast.null_count(), span));
    }
    Ok((cast.rechunk(), 1))
}

/// The values of a column [`feature_values`] made: f32, one chunk, no nulls.
fn floats_of(series: &Series, span: Span) -> RunResult<&[f32]> {
    let floats = series.f32().map_err(|e| failure(e, span))?;
    floats.cont_slice().map_err(|e| failure(e, span))
}

/// The error for missing values in a column a model reads.
pub(super) fn missing(column: &str, count: usize, span: Span) -> RunError {
    RunError::data(
        format!("`{column}` has {count} missing values, and a model cannot read them"),
        span,
        "trained here",
        &format!("fill them (`fill_nulls({column}, median)`) or drop those rows (`drop_nulls({column})`) first"),
    )
}

fn failure(e: PolarsError, span: Span) -> RunError {
    crate::run::error::RunError::data(format!("cannot read the training data: {e}"), span, "trained here", "")
}
