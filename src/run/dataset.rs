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

/// The arrays of `df`: `classes` given for classification.
#[expect(
    clippy::arithmetic_side_effects,
    reason = "rows x width counts values the frame already holds, and the offsets stay inside them"
)]
pub fn dataset(df: &DataFrame, target: &str, classes: Option<&[String]>, span: Span) -> RunResult<Dataset> {
    let rows = df.height();
    let features: Vec<&Column> = df.columns().iter().filter(|c| c.name().as_str() != target).collect();
    // Each column gives one feature, or, for an image column (a list of
    // floats per row), all of its values.
    let mut parts = Vec::with_capacity(features.len());
    for column in &features {
        parts.push(feature_values(column, rows, span)?);
    }
    let width: usize = parts.iter().map(|(_, w)| w).sum();
    let mut values = vec![0f32; rows * width];
    let mut offset = 0;
    for (part, part_width) in parts {
        for (i, row) in part.chunks_exact(part_width.max(1)).enumerate() {
            values[i * width + offset..i * width + offset + part_width].copy_from_slice(row);
        }
        offset += part_width;
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
    Ok(Dataset { features: values, rows, width, target, image: None })
}

/// A column's values as f32, row-major, and how many each row has (1, or
/// an image's pixel count).
fn feature_values(column: &Column, rows: usize, span: Span) -> RunResult<(Vec<f32>, usize)> {
    if let DataType::List(_) = column.dtype() {
        let lists = column.list().map_err(|e| failure(e, span))?;
        if lists.null_count() > 0 {
            return Err(missing(column.name(), lists.null_count(), span));
        }
        let inner = lists.get_inner().cast(&DataType::Float32).map_err(|e| failure(e, span))?;
        let floats: Vec<f32> = inner.f32().map_err(|e| failure(e, span))?.into_no_null_iter().collect();
        let per_row = floats.len().checked_div(rows).unwrap_or(0);
        return Ok((floats, per_row));
    }
    let cast = column.cast(&DataType::Float32).map_err(|e| failure(e, span))?;
    let floats = cast.f32().map_err(|e| failure(e, span))?;
    if floats.null_count() > 0 {
        return Err(missing(column.name(), floats.null_count(), span));
    }
    Ok((floats.into_no_null_iter().collect(), 1))
}

fn missing(column: &str, count: usize, span: Span) -> RunError {
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
