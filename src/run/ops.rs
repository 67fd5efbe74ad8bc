//! The operations that learn nothing from the data: filters, selections,
//! per-row expressions, casts, samples, writes. Each is a Polars lazy
//! query over the frame.

use std::path::Path;

use polars::prelude::*;

use crate::ir::{BinaryOp, Op, RowExpr, RowFunction, SampleSize};
use crate::random::Rng;
use crate::run::error::{RunError, RunResult};
use crate::run::read::polars_dtype;
use crate::run::write;
use crate::schema::DType;
use crate::source::Span;

/// Applies an operation that needs no fitting; `None` for the ones that do.
/// `dir` is the folder `write` paths are relative to.
pub fn apply(op: &Op, df: DataFrame, span: Span, dir: &Path) -> Option<RunResult<DataFrame>> {
    let failed = |e: PolarsError| polars_failure(e, span);
    Some(match op {
        Op::Sample { size, seed } => sample(df, *size, seed.unwrap_or(0), span),
        Op::Oversample(column) => oversample(df, column, span),
        Op::Pixels { columns, max, name, .. } => pixels(df, columns, *max, name, span),
        Op::Write(path, codec) => write::frame(df.clone(), &dir.join(path), *codec, span).map(|()| df),
        // The same query a streaming output runs (`stream.rs`).
        Op::Filter(_)
        | Op::Select(_)
        | Op::Drop(_)
        | Op::Rename(_)
        | Op::With(_)
        | Op::DropNulls(_)
        | Op::Cast { .. }
        | Op::Log1p(_)
        | Op::Cache => lazy(op, df.lazy()).and_then(|l| l.collect().map_err(failed)),
        // These learn from the data, or need another item's result: the
        // session runs them (`fitted.rs`, transforms, predictions).
        Op::FillNulls { .. }
        | Op::Cut { .. }
        | Op::QCut { .. }
        | Op::Standard(_)
        | Op::MinMax { .. }
        | Op::Robust(_)
        | Op::OneHot { .. }
        | Op::Encode(_)
        | Op::Tokenize { .. }
        | Op::Pca { .. }
        | Op::Transform(_)
        | Op::Predict { .. } => return None,
    })
}

/// The lazy query of a row-wise operation ([`Op::is_row_wise`]): the one expression set
/// both the in-memory and the streaming paths run, so they give the same
/// rows. Any other operation is refused (a caller's bug, reported as one).
pub fn lazy(op: &Op, l: LazyFrame) -> RunResult<LazyFrame> {
    Ok(match op {
        Op::Filter(condition) => l.filter(expr(condition)),
        Op::Select(columns) => l.select(columns.iter().map(|c| col(c.as_str())).collect::<Vec<_>>()),
        Op::Drop(columns) => l.drop(cols(columns.iter().map(String::as_str))),
        Op::Rename(pairs) => {
            let (old, new): (Vec<&str>, Vec<&str>) = pairs.iter().map(|(o, n)| (o.as_str(), n.as_str())).unzip();
            l.rename(old, new, true)
        }
        Op::With(columns) => l.with_columns(columns.iter().map(|(n, e)| expr(e).alias(n)).collect::<Vec<_>>()),
        Op::DropNulls(columns) => {
            let subset = (!columns.is_empty()).then(|| cols(columns.iter().map(String::as_str)));
            l.drop_nulls(subset)
        }
        Op::Cast { columns, dtype } => {
            let target = polars_dtype(dtype);
            l.with_columns(columns.iter().map(|c| cast(c, dtype, &target)).collect::<Vec<_>>())
        }
        Op::Log1p(columns) => {
            l.with_columns(columns.iter().map(|c| float_map(col(c.as_str()), f64::ln_1p)).collect::<Vec<_>>())
        }
        Op::Cache => l,
        Op::Sample { .. }
        | Op::Oversample(_)
        | Op::Pixels { .. }
        | Op::Write(..)
        | Op::FillNulls { .. }
        | Op::Cut { .. }
        | Op::QCut { .. }
        | Op::Standard(_)
        | Op::MinMax { .. }
        | Op::Robust(_)
        | Op::OneHot { .. }
        | Op::Encode(_)
        | Op::Tokenize { .. }
        | Op::Pca { .. }
        | Op::Transform(_)
        | Op::Predict { .. } => {
            return Err(RunError::data(
                "this step was taken for a streaming one",
                Span::default(),
                "not streamed",
                "this is a bug in pipe; please report it with this file",
            ));
        }
    })
}

/// `pixels`: the columns, divided by `max`, as one list column per row
/// (where the first of them was).
fn pixels(df: DataFrame, columns: &[String], max: f64, name: &str, span: Span) -> RunResult<DataFrame> {
    let failed = |e: PolarsError| polars_failure(e, span);
    let mut values = Vec::with_capacity(columns.len());
    for column in columns {
        let cast = df.column(column).map_err(failed)?.cast(&DataType::Float32).map_err(failed)?;
        let floats = cast.f32().map_err(failed)?;
        if floats.null_count() > 0 {
            return Err(RunError::data(
                format!("`{column}` has {} missing values, and an image cannot hold them", floats.null_count()),
                span,
                "made here",
                &format!("fill them (`fill_nulls({column}, 0)`) first"),
            ));
        }
        values.push(floats.into_no_null_iter().collect::<Vec<f32>>());
    }
    let rows = df.height();
    let mut builder = ListPrimitiveChunkedBuilder::<Float32Type>::new(
        name.into(),
        rows,
        rows.saturating_mul(columns.len()),
        DataType::Float32,
    );
    let scale = 1.0 / max as f32;
    let mut row = Vec::with_capacity(columns.len());
    for i in 0..rows {
        row.clear();
        row.extend(values.iter().map(|column| column[i] * scale));
        builder.append_slice(&row);
    }
    let first = columns.iter().filter_map(|c| df.get_column_index(c)).min().unwrap_or(0);
    let mut out = df.drop_many(columns.iter().map(String::as_str));
    out.insert_column(first.min(out.width()), builder.finish().into_column()).map_err(failed)?;
    Ok(out)
}

/// A Polars failure inside a step, as a diagnostic at the step.
pub fn polars_failure(error: PolarsError, span: Span) -> RunError {
    RunError::data(
        format!("this step failed on the data: {error}"),
        span,
        "failed here",
        "the data differs from what the checker saw; fix the data or the step",
    )
}

fn cast(column: &str, dtype: &DType, target: &DataType) -> Expr {
    let c = col(column);
    match dtype {
        // Booleans as text are `true`/`false`, as the checker reads them.
        DType::Str | DType::Cat(_) => c.cast(target.clone()),
        _ => c.strict_cast(target.clone()),
    }
}

/// A row expression as a Polars expression.
pub fn expr(e: &RowExpr) -> Expr {
    match e {
        RowExpr::Column(name) => col(name.as_str()),
        RowExpr::Int(i) => lit(*i),
        RowExpr::Float(f) => lit(*f),
        RowExpr::Str(s) => lit(s.clone()),
        RowExpr::Bool(b) => lit(*b),
        RowExpr::Neg(x) => lit(0) - expr(x),
        RowExpr::Not(x) => expr(x).not(),
        RowExpr::Binary { op, lhs, rhs } => binary(*op, expr(lhs), expr(rhs)),
        RowExpr::Function { function: f, arg } => function(*f, expr(arg)),
    }
}

fn binary(op: BinaryOp, a: Expr, b: Expr) -> Expr {
    match op {
        BinaryOp::Or => a.or(b),
        BinaryOp::And => a.and(b),
        BinaryOp::Eq => a.eq(b),
        BinaryOp::Ne => a.neq(b),
        BinaryOp::Lt => a.lt(b),
        BinaryOp::Le => a.lt_eq(b),
        BinaryOp::Gt => a.gt(b),
        BinaryOp::Ge => a.gt_eq(b),
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        // `/` always gives a float (the checker types it f64).
        BinaryOp::Div => a.cast(DataType::Float64).true_div(b.cast(DataType::Float64)),
        BinaryOp::Rem => a % b,
    }
}

fn function(function: RowFunction, x: Expr) -> Expr {
    match function {
        RowFunction::IsNull => x.is_null(),
        RowFunction::Sqrt => x.cast(DataType::Float64).sqrt(),
        RowFunction::Abs => when(x.clone().lt(lit(0))).then(lit(0) - x.clone()).otherwise(x),
        RowFunction::Log => float_map(x, f64::ln),
        RowFunction::Exp => float_map(x, f64::exp),
    }
}

/// `f` applied to each value, as floats.
fn float_map(x: Expr, f: fn(f64) -> f64) -> Expr {
    x.cast(DataType::Float64).map(
        move |c: Column| {
            let values = c.as_materialized_series().f64()?.apply_values(f);
            Ok(values.into_column())
        },
        |_, field| Ok(Field::new(field.name().clone(), DataType::Float64)),
    )
}

fn sample(df: DataFrame, size: SampleSize, seed: u64, span: Span) -> RunResult<DataFrame> {
    let indices = sample_rows(df.height(), size, seed, span)?;
    take(&df, indices, span)
}

/// The rows a `sample` of `rows` rows keeps, in increasing order: the
/// first `n` of a seeded shuffle. A streamed `sample` counts the rows and
/// keeps the same ones.
pub fn sample_rows(rows: usize, size: SampleSize, seed: u64, span: Span) -> RunResult<Vec<IdxSize>> {
    let n = match size {
        SampleSize::Rows(n) => n as usize,
        SampleSize::Fraction(f) => (f * rows as f64).round() as usize,
    };
    if n > rows {
        return Err(RunError::data(
            format!("`sample` asks for {n} rows of a frame with {rows}"),
            span,
            "more rows than there are",
            "ask for fewer rows, or a fraction: `sample(frac: 0.1)`",
        ));
    }
    let mut indices: Vec<IdxSize> = (0..rows as IdxSize).collect();
    Rng::new(seed).shuffle(&mut indices);
    indices.truncate(n);
    // Rows keep their order in the frame: a sample reads like the data.
    indices.sort_unstable();
    Ok(indices)
}

/// Rows at `indices`, in that order.
pub fn take(df: &DataFrame, indices: Vec<IdxSize>, span: Span) -> RunResult<DataFrame> {
    let indices = IdxCa::from_vec("".into(), indices);
    df.take(&indices).map_err(|e| polars_failure(e, span))
}

/// Repeats rows of the rarer classes (drawn with replacement, seeded) until
/// every class has as many rows as the largest.
fn oversample(df: DataFrame, column: &str, span: Span) -> RunResult<DataFrame> {
    let groups = row_groups(&df, column).map_err(|e| polars_failure(e, span))?;
    let largest = groups.iter().map(Vec::len).max().unwrap_or(0);
    let mut rng = Rng::new(0);
    let mut indices: Vec<IdxSize> = (0..df.height() as IdxSize).collect();
    for rows in groups.iter().filter(|g| !g.is_empty()) {
        for _ in rows.len()..largest {
            indices.push(rows[rng.below(rows.len())]);
        }
    }
    take(&df, indices, span)
}

/// The row indices of each distinct value of `column` (nulls are one
/// group), groups in order of first appearance.
pub fn row_groups(df: &DataFrame, column: &str) -> PolarsResult<Vec<Vec<IdxSize>>> {
    let keys = df.column(column)?.cast(&DataType::String)?;
    let keys = keys.str()?;
    let mut index: std::collections::HashMap<Option<&str>, usize> = std::collections::HashMap::new();
    let mut groups: Vec<Vec<IdxSize>> = Vec::new();
    for (row, key) in keys.iter().enumerate() {
        let g = *index.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len().saturating_sub(1)
        });
        groups[g].push(row as IdxSize);
    }
    Ok(groups)
}
