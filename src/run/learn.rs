//! What a learning step learns, accumulated batch by batch: the in-memory
//! path hands it the whole frame as one batch, a streaming pass each batch
//! as it comes. Every statistic depends on the rows and their order only,
//! never on where batches end (sums and scatter matrices are folded in
//! blocks of a fixed number of values, carried over from batch to batch),
//! so both paths learn the very same numbers. Columns are observed in
//! parallel, and so are a batch's whole blocks of rows for the scatter
//! matrix: each column's (each block's) arithmetic is the same on any
//! thread, and blocks are merged in row order, so threads change no bit.

use std::collections::{HashMap, HashSet};

use ndarray::{Array1, Array2, ShapeBuilder};
use polars::prelude::*;
use rayon::prelude::*;

use crate::ir::{Fill, Op};
use crate::run::bucket::{place_at, qcut_edges, quantile_positions, quantiles};
use crate::run::error::{RunError, RunResult};
use crate::run::fitted::Fitted;
use crate::run::ops::polars_failure;
use crate::run::threads::on_pool;
use crate::run::{encode, onehot, pca, text};
use crate::source::Span;

/// Values per block: each block's mean and squared deviations are exact
/// sums of at most this many values, merged into the running totals with
/// Chan et al.'s formula.
const BLOCK: usize = 4096;

/// Rows whose levels one thread looks up at a time (`onehot`).
const LEVEL_BLOCK: usize = 1 << 16;

/// One learning step's statistics so far.
pub struct Learner<'o> {
    op: &'o Op,
    span: Span,
    state: State,
}

enum State {
    /// Mean and variance per column (`standard`, `fill_nulls(mean)`).
    Moments(Vec<Moments>),
    /// Smallest and largest value per column (`minmax`).
    Extremes(Vec<(f64, f64)>),
    /// Every value per column (`qcut`, `robust`, `fill_nulls(median)`).
    Values(Vec<Vec<f64>>),
    /// The levels not promised by the checker, per column (`onehot`).
    Levels { extra: Vec<Vec<String>>, seen: Vec<HashSet<String>>, integer: Vec<Option<bool>> },
    /// Every level met, per column (`encode`).
    Seen(Vec<HashSet<String>>),
    /// How often each word was met (`tokenize`).
    Words(HashMap<String, u64>),
    /// Mean and scatter matrix of whole rows (`pca`).
    Scatter(Scatter),
}

impl<'o> Learner<'o> {
    /// A learner for `op`; `None` when the operation learns nothing.
    pub fn new(op: &'o Op, span: Span) -> Option<Learner<'o>> {
        let state = match op {
            Op::Standard(columns) | Op::FillNulls { columns, value: Fill::Mean } => {
                State::Moments(columns.iter().map(|_| Moments::default()).collect())
            }
            Op::MinMax { columns, .. } => State::Extremes(vec![(f64::INFINITY, f64::NEG_INFINITY); columns.len()]),
            Op::Robust(columns) | Op::FillNulls { columns, value: Fill::Median } => {
                State::Values(vec![Vec::new(); columns.len()])
            }
            Op::QCut { .. } => State::Values(vec![Vec::new()]),
            Op::OneHot { columns, .. } => State::Levels {
                extra: vec![Vec::new(); columns.len()],
                seen: columns.iter().map(|(_, levels)| levels.iter().cloned().collect()).collect(),
                integer: vec![None; columns.len()],
            },
            Op::Encode(columns) => State::Seen(vec![HashSet::new(); columns.len()]),
            Op::Tokenize { .. } => State::Words(HashMap::new()),
            Op::Pca { columns, .. } => State::Scatter(Scatter::new(columns.len())),
            // Named one by one, so that a new operation does not compile
            // until it says whether it learns.
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
            | Op::Pixels { .. }
            | Op::Oversample(_)
            | Op::Sample { .. }
            | Op::Cache
            | Op::Write(..)
            | Op::Transform(_)
            | Op::Predict { .. } => return None,
        };
        Some(Learner { op, span, state })
    }

    /// Adds a batch of the rows the step is fitted on.
    pub fn observe(&mut self, df: &DataFrame) -> RunResult<()> {
        let span = self.span;
        let failed = |e: PolarsError| polars_failure(e, span);
        let columns = self.op.learns_from();
        match &mut self.state {
            State::Moments(moments) => {
                each_column(&columns, moments, |column, m| for_each_value(df, column, |v| m.push(v)).map_err(failed))?
            }
            State::Extremes(extremes) => each_column(&columns, extremes, |column, (lo, hi)| {
                for_each_value(df, column, |v| {
                    *lo = lo.min(v);
                    *hi = hi.max(v);
                })
                .map_err(failed)
            })?,
            State::Values(values) => each_column(&columns, values, |column, kept| {
                for_each_value(df, column, |v| kept.push(v)).map_err(failed)
            })?,
            State::Levels { extra, seen, integer } => {
                for (i, column) in columns.iter().enumerate() {
                    let c = df.column(column).map_err(failed)?;
                    integer[i].get_or_insert(c.dtype().is_integer());
                    let keys = onehot::keys(df, column).map_err(failed)?;
                    let keys = keys.str().map_err(failed)?;
                    // Each block's new levels in the order met, on all cores;
                    // merged in block order, they are met in row order.
                    let starts: Vec<usize> = (0..keys.len()).step_by(LEVEL_BLOCK).collect();
                    let known = &seen[i];
                    let found: Vec<Vec<String>> = on_pool(|| {
                        starts
                            .par_iter()
                            .map(|&start| {
                                let mut new: Vec<String> = Vec::new();
                                let mut met: HashSet<&str> = HashSet::new();
                                let block = keys.slice(start as i64, LEVEL_BLOCK);
                                for key in block.iter().flatten() {
                                    if !known.contains(key) && met.insert(key) {
                                        new.push(key.to_owned());
                                    }
                                }
                                new
                            })
                            .collect()
                    });
                    for key in found.into_iter().flatten() {
                        if seen[i].insert(key.clone()) {
                            extra[i].push(key);
                        }
                    }
                }
            }
            State::Seen(seen) => {
                for (column, seen) in columns.iter().zip(seen) {
                    encode::observe(df, column, seen).map_err(failed)?;
                }
            }
            State::Words(counts) => {
                for column in &columns {
                    text::observe(df, column, counts).map_err(failed)?;
                }
            }
            State::Scatter(scatter) => scatter.observe(df, &columns, span)?,
        }
        Ok(())
    }

    /// What the step learned from every batch.
    pub fn finish(self, warnings: &mut Vec<RunError>) -> RunResult<Fitted> {
        let (op, span) = (self.op, self.span);
        let columns: Vec<String> = op.learns_from().into_iter().map(str::to_owned).collect();
        Ok(match (op, self.state) {
            (Op::Standard(_), State::Moments(moments)) => {
                let mut center = Vec::new();
                let mut scale = Vec::new();
                for (c, m) in columns.iter().zip(moments) {
                    let (mean, var) = m.finish().ok_or_else(|| no_values("standard", c, span))?;
                    center.push(mean);
                    scale.push(safe_scale(var.sqrt()));
                }
                Fitted::Scale { columns, center, scale }
            }
            (Op::FillNulls { .. }, State::Moments(moments)) => {
                let mut values = Vec::new();
                for (c, m) in columns.iter().zip(moments) {
                    values.push(m.finish().ok_or_else(|| no_values("fill_nulls", c, span))?.0);
                }
                Fitted::Fill { columns, values }
            }
            (Op::MinMax { range, .. }, State::Extremes(extremes)) => minmax(columns, &extremes, *range, span)?,
            (Op::QCut { quantiles, drop_duplicates, .. }, State::Values(mut values)) => {
                let column = columns.first().map_or("", String::as_str);
                let values = values.pop().unwrap_or_default();
                Fitted::Edges { edges: qcut_edges(values, column, quantiles, *drop_duplicates, span)? }
            }
            (Op::Robust(_), State::Values(values)) => {
                let mut center = Vec::new();
                let mut scale = Vec::new();
                for (c, mut v) in columns.iter().zip(values) {
                    if v.is_empty() {
                        return Err(no_values("robust", c, span));
                    }
                    let qs = [0.25, 0.5, 0.75];
                    let positions = quantile_positions(v.len(), &qs);
                    place_at(&mut v, &positions);
                    let q = quantiles(&v, &qs);
                    center.push(q[1]);
                    scale.push(safe_scale(q[2] - q[0]));
                }
                Fitted::Scale { columns, center, scale }
            }
            (Op::FillNulls { .. }, State::Values(values)) => {
                let mut filled = Vec::new();
                for (c, mut v) in columns.iter().zip(values) {
                    let half = v.len() / 2;
                    place_at(&mut v, &[half.saturating_sub(1), half]);
                    filled.push(median(&v).ok_or_else(|| no_values("fill_nulls", c, span))?);
                }
                Fitted::Fill { columns, values: filled }
            }
            (Op::OneHot { columns: checked, .. }, State::Levels { extra, integer, .. }) => {
                let found = extra.into_iter().zip(integer).map(|(e, i)| (e, i.unwrap_or(false)));
                Fitted::Levels(onehot::levels(checked, found.collect(), span, warnings))
            }
            (Op::Tokenize { vocab, .. }, State::Words(counts)) => Fitted::Words(text::vocabulary(counts, *vocab)),
            (Op::Encode(checked), State::Seen(seen)) => {
                Fitted::Codes(encode::vocabulary(checked, &seen, span, warnings))
            }
            (Op::Pca { k, whiten, .. }, State::Scatter(scatter)) => {
                let (rows, mean, matrix) = scatter.finish();
                Fitted::Pca(pca::solve(&columns, rows, mean, matrix, *k, *whiten, span)?)
            }
            // `new` pairs each operation with its state.
            (op, _) => {
                return Err(RunError::data(
                    format!("`{}` learned into the wrong kind of statistics", op.keyword()),
                    span,
                    "not fitted",
                    "this is a bug in pipe; please report it with this file",
                ));
            }
        })
    }
}

/// Runs `observe` on each column with its own statistics, the columns in
/// parallel; the first error in column order.
fn each_column<S: Send>(
    columns: &[&str],
    states: &mut [S],
    observe: impl Fn(&str, &mut S) -> RunResult<()> + Sync,
) -> RunResult<()> {
    let results: Vec<RunResult<()>> = on_pool(|| {
        columns.par_iter().zip(states.par_iter_mut()).map(|(column, state)| observe(column, state)).collect()
    });
    results.into_iter().collect()
}

/// Calls `f` with each value of a numeric column, as a float, leaving out
/// missing values and NaN (scikit-learn's scalers ignore both).
fn for_each_value(df: &DataFrame, column: &str, mut f: impl FnMut(f64)) -> PolarsResult<()> {
    let values = df.column(column)?.cast(&DataType::Float64)?;
    for array in values.f64()?.downcast_iter() {
        match array.validity().filter(|v| v.unset_bits() > 0) {
            None => array.values().iter().filter(|v| !v.is_nan()).for_each(|v| f(*v)),
            Some(_) => array.iter().flatten().filter(|v| !v.is_nan()).for_each(|v| f(*v)),
        }
    }
    Ok(())
}

/// Count, mean and sum of squared deviations of one column's values, with
/// the values not yet folded in.
#[derive(Default)]
struct Moments {
    count: f64,
    mean: f64,
    squares: f64,
    pending: Vec<f64>,
}

impl Moments {
    fn push(&mut self, v: f64) {
        self.pending.push(v);
        if self.pending.len() == BLOCK {
            self.fold();
        }
    }

    /// Merges the pending block into the totals (Chan et al.).
    fn fold(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let n = self.pending.len() as f64;
        let mean = self.pending.iter().sum::<f64>() / n;
        let squares: f64 = self.pending.iter().map(|v| (v - mean) * (v - mean)).sum();
        let total = self.count + n;
        let delta = mean - self.mean;
        self.mean += delta * n / total;
        self.squares += squares + delta * delta * self.count * n / total;
        self.count = total;
        self.pending.clear();
    }

    /// The mean and population variance; `None` without values.
    fn finish(mut self) -> Option<(f64, f64)> {
        self.fold();
        (self.count > 0.0).then(|| (self.mean, self.squares / self.count))
    }
}

/// Row count, column means and the scatter matrix `Xc^T Xc` of the
/// centred rows, with the rows not yet folded in (column by column).
struct Scatter {
    rows: usize,
    mean: Array1<f64>,
    matrix: Array2<f64>,
    pending: Vec<Vec<f64>>,
}

impl Scatter {
    fn new(p: usize) -> Scatter {
        Scatter { rows: 0, mean: Array1::zeros(p), matrix: Array2::zeros((p, p)), pending: vec![Vec::new(); p] }
    }

    /// Adds a batch's rows: first those that complete the pending block,
    /// then the batch's whole blocks (their statistics found in parallel,
    /// merged in row order), then the rest, pending.
    fn observe(&mut self, df: &DataFrame, columns: &[&str], span: Span) -> RunResult<()> {
        let values = pca::Columns::of(df, columns, span)?;
        let height = values.rows();
        let p = columns.len();
        let pending = self.pending.first().map_or(0, Vec::len);
        let mut start = 0;
        if pending > 0 {
            start = BLOCK.saturating_sub(pending).min(height);
            for (i, kept) in self.pending.iter_mut().enumerate() {
                values.pieces(i, 0, start).into_iter().for_each(|piece| kept.extend_from_slice(piece));
            }
            if self.pending.first().map_or(0, Vec::len) == BLOCK {
                let whole: Vec<Vec<&[f64]>> = self.pending.iter().map(|c| vec![c.as_slice()]).collect();
                let block = BlockScatter::of(&whole);
                self.merge(block);
                self.pending.iter_mut().for_each(Vec::clear);
            }
        }
        let whole = height.saturating_sub(start) / BLOCK;
        let blocks: Vec<BlockScatter> = on_pool(|| {
            (0..whole)
                .into_par_iter()
                .map(|b| {
                    let from = start.saturating_add(b.saturating_mul(BLOCK));
                    let to = from.saturating_add(BLOCK);
                    let pieces: Vec<Vec<&[f64]>> = (0..p).map(|i| values.pieces(i, from, to)).collect();
                    BlockScatter::of(&pieces)
                })
                .collect()
        });
        for block in blocks {
            self.merge(block);
        }
        let rest = start.saturating_add(whole.saturating_mul(BLOCK));
        for (i, kept) in self.pending.iter_mut().enumerate() {
            values.pieces(i, rest, height).into_iter().for_each(|piece| kept.extend_from_slice(piece));
        }
        Ok(())
    }

    /// Merges a block's statistics into the totals (Chan et al., per
    /// matrix entry).
    fn merge(&mut self, block: BlockScatter) {
        let BlockScatter { rows: n, mean: block_mean, matrix: scatter } = block;
        if n == 0 {
            return;
        }
        let p = block_mean.len();
        let total = self.rows.saturating_add(n) as f64;
        let delta = &block_mean - &self.mean;
        let weight = self.rows as f64 * n as f64 / total;
        for i in 0..p {
            for j in 0..p {
                self.matrix[[i, j]] += scatter[[i, j]] + delta[i] * delta[j] * weight;
            }
        }
        self.mean = &self.mean + &(&delta * (n as f64 / total));
        self.rows = self.rows.saturating_add(n);
    }

    fn finish(mut self) -> (usize, Vec<f64>, Array2<f64>) {
        let whole: Vec<Vec<&[f64]>> = self.pending.iter().map(|c| vec![c.as_slice()]).collect();
        let block = BlockScatter::of(&whole);
        self.merge(block);
        (self.rows, self.mean.to_vec(), self.matrix)
    }
}

/// One block of rows: its row count, column means and the scatter matrix
/// of its rows centred on those means.
struct BlockScatter {
    rows: usize,
    mean: Array1<f64>,
    matrix: Array2<f64>,
}

impl BlockScatter {
    /// The statistics of the rows whose columns are `columns`, each given
    /// as pieces in row order (the columns equally long).
    fn of(columns: &[Vec<&[f64]>]) -> BlockScatter {
        let values = |c: &[&[f64]]| c.iter().flat_map(|piece| piece.iter()).copied().collect::<Vec<f64>>();
        let n = columns.first().map_or(0, |c| c.iter().map(|piece| piece.len()).sum());
        let p = columns.len();
        if n == 0 {
            return BlockScatter { rows: 0, mean: Array1::zeros(p), matrix: Array2::zeros((p, p)) };
        }
        let mut data = Vec::with_capacity(n.saturating_mul(p));
        let mut mean = Array1::zeros(p);
        for (c, m) in columns.iter().zip(mean.iter_mut()) {
            let column = values(c);
            *m = column.iter().sum::<f64>() / n as f64;
            data.extend(column.iter().map(|v| v - *m));
        }
        let block = Array2::from_shape_vec((n, p).f(), data).unwrap_or_else(|_| Array2::zeros((n, p)));
        BlockScatter { rows: n, mean, matrix: block.t().dot(&block) }
    }
}

/// numpy's median of values in order at their middle positions (sorted, or
/// placed there by [`place_at`]): the middle one, or the mean of the two
/// middle ones.
fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    let half = n.checked_div(2)?;
    if n == 0 {
        return None;
    }
    if !n.is_multiple_of(2) { Some(sorted[half]) } else { Some((sorted[half.saturating_sub(1)] + sorted[half]) / 2.0) }
}

fn minmax(columns: Vec<String>, extremes: &[(f64, f64)], range: [f64; 2], span: Span) -> RunResult<Fitted> {
    let (mut data_min, mut data_max, mut scale, mut offset) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (c, &(lo, hi)) in columns.iter().zip(extremes) {
        if lo > hi {
            return Err(no_values("minmax", c, span));
        }
        let factor = (range[1] - range[0]) / safe_scale(hi - lo);
        data_min.push(lo);
        data_max.push(hi);
        scale.push(factor);
        offset.push(range[0] - lo * factor);
    }
    Ok(Fitted::Linear { columns, data_min, data_max, scale, offset })
}

/// A zero (or non-finite) scale would divide by zero: scikit-learn uses 1.
fn safe_scale(s: f64) -> f64 {
    if s == 0.0 || !s.is_finite() { 1.0 } else { s }
}

fn no_values(step: &str, column: &str, span: Span) -> RunError {
    RunError::data(
        format!("`{step}` cannot learn from `{column}`: it has no values"),
        span,
        "nothing to learn from",
        "check the data this step is fitted on; filters may have removed every row",
    )
}
