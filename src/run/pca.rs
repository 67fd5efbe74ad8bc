//! Principal components (linfa-linalg's eigensolver), reported and applied as
//! scikit-learn does: explained-variance ratios out of the total variance of
//! all input columns, each component's largest loading positive, and
//! `whiten` scaling scores to unit variance.

use linfa_linalg::eigh::Eigh;
use ndarray::{Array2, ShapeBuilder};
use polars::prelude::*;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::run::error::{RunError, RunResult};
use crate::run::ops::polars_failure;
use crate::run::threads::on_pool;
use crate::source::Span;

/// A fitted projection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    /// The input columns, in order.
    pub columns: Vec<String>,
    /// Their means.
    pub mean: Vec<f64>,
    /// One row of loadings per component (unit length).
    pub components: Vec<Vec<f64>>,
    /// The variance of each component's scores.
    pub explained_variance: Vec<f64>,
    /// Each component's share of the total variance of the inputs.
    pub explained_variance_ratio: Vec<f64>,
    /// Scores divided by the square root of their variance.
    pub whiten: bool,
}

/// The columns as floats (checked complete and finite), in the chunks
/// they came in: joining them into one would copy every value.
pub struct Columns {
    series: Vec<Series>,
}

impl Columns {
    /// The columns of `df`, or an error at `span` when one has a missing
    /// or infinite value.
    pub fn of(df: &DataFrame, columns: &[impl AsRef<str>], span: Span) -> RunResult<Columns> {
        let mut series = Vec::with_capacity(columns.len());
        for name in columns {
            let name = name.as_ref();
            let column =
                df.column(name).and_then(|c| c.cast(&DataType::Float64)).map_err(|e| polars_failure(e, span))?;
            let s = column.as_materialized_series().clone();
            let complete = s.f64().ok().is_some_and(|v| {
                v.null_count() == 0 && v.downcast_iter().all(|a| a.values().iter().all(|x| x.is_finite()))
            });
            if !complete {
                return Err(RunError::data(
                    format!("`pca` cannot use `{name}`: it has missing or infinite values"),
                    span,
                    "needs complete numbers",
                    "fill them first with `fill_nulls(...)`, or drop those rows with `drop_nulls(...)`",
                ));
            }
            series.push(s);
        }
        Ok(Columns { series })
    }

    /// Column `i`'s values in rows `start..end`, as pieces of its chunks
    /// (in row order).
    pub fn pieces(&self, i: usize, start: usize, end: usize) -> Vec<&[f64]> {
        let mut pieces = Vec::new();
        let mut offset = 0usize;
        // Checked in `of`: floats without nulls.
        for array in self.series[i].f64().into_iter().flat_map(|v| v.downcast_iter()) {
            let values = array.values().as_slice();
            let next = offset.saturating_add(values.len());
            let (from, to) = (start.max(offset), end.min(next));
            if from < to {
                pieces.push(&values[from.saturating_sub(offset)..to.saturating_sub(offset)]);
            }
            if next >= end {
                break;
            }
            offset = next;
        }
        pieces
    }

    /// How many rows there are.
    pub fn rows(&self) -> usize {
        self.series.first().map_or(0, |s| s.len())
    }

    /// Rows `start..end`, centred by `mean`, as a `(end - start) x p` matrix.
    fn block(&self, start: usize, end: usize, mean: &[f64]) -> Array2<f64> {
        let p = self.series.len();
        let rows = end.saturating_sub(start);
        let mut data = Vec::with_capacity(rows.saturating_mul(p));
        for (i, m) in mean.iter().enumerate() {
            for piece in self.pieces(i, start, end) {
                data.extend(piece.iter().map(|v| v - m));
            }
        }
        Array2::from_shape_vec((rows, p).f(), data).unwrap_or_else(|_| Array2::zeros((0, p)))
    }
}

/// Rows per block when projecting: no copy of all the rows is made.
const BLOCK: usize = 8192;

/// The `k` leading components of `rows` rows whose column means are `mean`
/// and whose centred scatter matrix `Xc^T Xc` is `scatter` (accumulated by
/// `learn.rs`, batch by batch).
///
/// The components are the leading eigenvectors of the scatter matrix,
/// found by linfa-linalg's symmetric eigensolver: an exact `p x p`
/// decomposition after one pass over the rows, the route scikit-learn
/// takes too when rows far outnumber columns (`covariance_eigh`).
/// linfa-reduction's `Pca` solves the same problem iteratively (LOBPCG)
/// over all rows: 20 times slower on a million rows, and it panics on some
/// inputs, so it is not used.
pub fn solve(
    columns: &[String],
    rows: usize,
    mean: Vec<f64>,
    scatter: Array2<f64>,
    k: usize,
    whiten: bool,
    span: Span,
) -> RunResult<Projection> {
    if rows < 2 {
        return Err(RunError::data(
            format!("`pca` needs at least 2 rows to fit, and has {rows}"),
            span,
            "too few rows",
            "fit it on more data",
        ));
    }
    let p = columns.len();
    let total: f64 = scatter.diag().sum();
    let (values, vectors) = scatter.eigh().map_err(|e| {
        RunError::data(format!("`pca` failed: {e}"), span, "could not fit", "check that the columns vary")
    })?;
    let mut order: Vec<usize> = (0..p).collect();
    order.sort_by(|a, b| values[*b].total_cmp(&values[*a]));
    order.truncate(k);
    // Rounding can leave a zero eigenvalue slightly negative.
    let variances: Vec<f64> = order.iter().map(|&i| values[i].max(0.0)).collect();
    if whiten && variances.iter().any(|v| *v <= total * 1e-12) {
        return Err(RunError::data(
            format!("`pca` asks for {k} whitened components, but the columns vary in fewer directions"),
            span,
            "a component with no variance cannot be whitened",
            "lower `k`, or drop columns that are constant or copies of others",
        ));
    }
    let mut components: Vec<Vec<f64>> = order.iter().map(|&i| vectors.column(i).to_vec()).collect();
    for component in &mut components {
        flip_sign(component);
    }
    // Fewer than 2 rows were refused above.
    let denominator = rows.saturating_sub(1) as f64;
    let explained_variance: Vec<f64> = variances.iter().map(|v| v / denominator).collect();
    let explained_variance_ratio = variances.iter().map(|v| if total > 0.0 { v / total } else { 0.0 }).collect();
    Ok(Projection { columns: columns.to_vec(), mean, components, explained_variance, explained_variance_ratio, whiten })
}

/// Makes the largest loading positive (scikit-learn's `svd_flip` on the
/// components), so the projection does not depend on the solver's signs.
fn flip_sign(component: &mut [f64]) {
    let largest = component.iter().copied().max_by(|a, b| a.abs().total_cmp(&b.abs())).unwrap_or(0.0);
    if largest < 0.0 {
        component.iter_mut().for_each(|v| *v = -*v);
    }
}

/// Adds the components `prefix0..`: where the first input column was,
/// replacing the inputs, or after the last input when they are kept.
pub fn apply(df: DataFrame, p: &Projection, prefix: &str, keep: bool, span: Span) -> RunResult<DataFrame> {
    let x = Columns::of(&df, &p.columns, span)?;
    let (rows, k) = (x.rows(), p.components.len());
    // Whitening divides each component by the square root of its variance.
    let loadings = Array2::from_shape_fn((k, p.columns.len()), |(j, i)| {
        p.components[j][i] / if p.whiten { p.explained_variance[j].sqrt() } else { 1.0 }
    });
    // Blocks in parallel, each writing its rows of every component's
    // scores in place (the columns made zeroed, their pages touched by the
    // block that fills them): no block's scores are gathered afterwards.
    let mut scores: Vec<Vec<f64>> = (0..k).map(|_| vec![0.0; rows]).collect();
    let mut blocks: Vec<Vec<&mut [f64]>> = (0..rows.div_ceil(BLOCK)).map(|_| Vec::with_capacity(k)).collect();
    for component in &mut scores {
        for (block, part) in blocks.iter_mut().zip(component.chunks_mut(BLOCK)) {
            block.push(part);
        }
    }
    on_pool(|| {
        blocks.into_par_iter().enumerate().for_each(|(b, mut outs)| {
            let start = b.saturating_mul(BLOCK);
            let end = start.saturating_add(BLOCK).min(rows);
            let part = loadings.dot(&x.block(start, end, &p.mean).t());
            for (out, row) in outs.iter_mut().zip(part.rows()) {
                out.iter_mut().zip(row.iter()).for_each(|(o, v)| *o = *v);
            }
        })
    });
    drop(x);
    let made: Vec<Column> = scores
        .into_iter()
        .enumerate()
        .map(|(j, values)| Float64Chunked::from_vec(format!("{prefix}{j}").into(), values).into_column())
        .collect();
    let is_input = |c: &Column| p.columns.iter().any(|n| n == c.name().as_str());
    let positions = df.columns().iter().enumerate().filter(|(_, c)| is_input(c)).map(|(i, _)| i);
    let at = if keep { positions.max().map(|i| i.saturating_add(1)) } else { positions.min() };
    let mut out: Vec<Column> = Vec::with_capacity(df.width().saturating_add(k));
    let mut made = Some(made);
    for (i, c) in df.columns().iter().enumerate() {
        if Some(i) == at {
            out.extend(made.take().unwrap_or_default());
        }
        if keep || !is_input(c) {
            out.push(c.clone());
        }
    }
    out.extend(made.take().unwrap_or_default());
    DataFrame::new(df.height(), out).map_err(|e| polars_failure(e, span))
}
