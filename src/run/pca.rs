//! Principal components with linfa-reduction, reported and applied as
//! scikit-learn does: explained-variance ratios out of the total variance of
//! all input columns, each component's largest loading positive, and
//! `whiten` scaling scores to unit variance.

use linfa::DatasetBase;
use linfa::traits::Fit;
use linfa_reduction::Pca;
use ndarray::{Array2, ShapeBuilder};
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::run::error::{RunError, RunResult};
use crate::run::ops::polars_failure;
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

/// The columns as a matrix, one row per row of the frame (column-major, as
/// Polars holds them).
fn matrix(df: &DataFrame, columns: &[String], span: Span) -> RunResult<Array2<f64>> {
    let rows = df.height();
    let mut data = Vec::with_capacity(rows * columns.len());
    for name in columns {
        let values = df.column(name).and_then(|c| c.cast(&DataType::Float64)).map_err(|e| polars_failure(e, span))?;
        let values = values.f64().map_err(|e| polars_failure(e, span))?;
        if values.null_count() > 0 || values.iter().flatten().any(|v| !v.is_finite()) {
            return Err(RunError::data(
                format!("`pca` cannot use `{name}`: it has missing or infinite values"),
                span,
                "needs complete numbers",
                "fill them first with `fill_nulls(...)`, or drop those rows with `drop_nulls(...)`",
            ));
        }
        data.extend(values.into_no_null_iter());
    }
    Array2::from_shape_vec((rows, columns.len()).f(), data).map_err(|e| RunError::data(e.to_string(), span, "", ""))
}

/// Fits `k` components on the columns of `df`.
pub fn fit(df: &DataFrame, columns: &[String], k: usize, whiten: bool, span: Span) -> RunResult<Projection> {
    let x = matrix(df, columns, span)?;
    let rows = x.nrows();
    if rows < 2 {
        return Err(RunError::data(
            format!("`pca` needs at least 2 rows to fit, and has {rows}"),
            span,
            "too few rows",
            "fit it on more data",
        ));
    }
    let fitted = Pca::params(k).fit(&DatasetBase::from(x.view())).map_err(|e| {
        RunError::data(format!("`pca` failed: {e}"), span, "could not fit", "check the columns vary")
    })?;
    let mean = fitted.mean().to_vec();
    let centered_squares: f64 = x
        .columns()
        .into_iter()
        .zip(&mean)
        .map(|(column, m)| column.iter().map(|v| (v - m) * (v - m)).sum::<f64>())
        .sum();
    let mut components: Vec<Vec<f64>> = fitted.components().rows().into_iter().map(|r| r.to_vec()).collect();
    for component in &mut components {
        flip_sign(component);
    }
    let sigma = fitted.singular_values();
    let denominator = (rows - 1) as f64;
    let explained_variance: Vec<f64> = sigma.iter().map(|s| s * s / denominator).collect();
    let explained_variance_ratio = sigma.iter().map(|s| s * s / centered_squares).collect();
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

/// Replaces the input columns by the components `prefix0..`, placed where
/// the first input column was.
pub fn apply(df: DataFrame, p: &Projection, prefix: &str, span: Span) -> RunResult<DataFrame> {
    let mut x = matrix(&df, &p.columns, span)?;
    for (mut column, m) in x.columns_mut().into_iter().zip(&p.mean) {
        column -= *m;
    }
    let k = p.components.len();
    let loadings = Array2::from_shape_fn((p.columns.len(), k), |(i, j)| p.components[j][i]);
    let scores = x.dot(&loadings);
    let made: Vec<Column> = (0..k)
        .map(|j| {
            let scale = if p.whiten { p.explained_variance[j].sqrt() } else { 1.0 };
            let values: Vec<f64> = scores.column(j).iter().map(|v| v / scale).collect();
            Float64Chunked::from_vec(format!("{prefix}{j}").into(), values).into_column()
        })
        .collect();
    let first = df.columns().iter().position(|c| p.columns.iter().any(|n| n == c.name().as_str()));
    let mut out: Vec<Column> = Vec::with_capacity(df.width() - p.columns.len() + k);
    let mut made = Some(made);
    for (i, c) in df.columns().iter().enumerate() {
        if Some(i) == first {
            out.extend(made.take().unwrap_or_default());
        }
        if !p.columns.iter().any(|n| n == c.name().as_str()) {
            out.push(c.clone());
        }
    }
    DataFrame::new(df.height(), out).map_err(|e| polars_failure(e, span))
}
