//! `cut` and `qcut` with pandas' semantics: bins are right-closed
//! `(low, high]`, the lowest edge belongs to the first bin only with
//! `include_lowest` (always for `qcut`), and quantile edges interpolate
//! linearly between sorted values (numpy's default method).

use polars::prelude::*;
use rayon::prelude::*;

use crate::run::error::{RunError, RunResult};
use crate::run::ops::polars_failure;
use crate::run::threads::on_pool;
use crate::source::Span;

/// Quantiles of `sorted` (ascending, not empty) by linear interpolation,
/// computed exactly as numpy's `quantile(method="linear")` does. Only the
/// values at [`quantile_positions`] are read: `sorted` may be values put
/// in order there alone ([`place_at`]).
pub fn quantiles(sorted: &[f64], qs: &[f64]) -> Vec<f64> {
    let last = sorted.len().saturating_sub(1);
    qs.iter()
        .map(|q| {
            let (below, above, t) = quantile_position(*q, last);
            let (a, b) = (sorted[below], sorted[above]);
            // numpy's `_lerp`: from the nearer end, for symmetry.
            let diff = b - a;
            if t >= 0.5 { b - diff * (1.0 - t) } else { a + diff * t }
        })
        .collect()
}

/// The sorted positions quantile `q` interpolates between, of values
/// `0..=last`, and how far from the first.
fn quantile_position(q: f64, last: usize) -> (usize, usize, f64) {
    let position = q * last as f64;
    let below = (position.floor() as usize).min(last);
    let above = below.saturating_add(1).min(last);
    (below, above, position - below as f64)
}

/// The sorted positions [`quantiles`] reads for `qs` among `n` values.
pub fn quantile_positions(n: usize, qs: &[f64]) -> Vec<usize> {
    let last = n.saturating_sub(1);
    qs.iter()
        .flat_map(|q| {
            let (below, above, _) = quantile_position(*q, last);
            [below, above]
        })
        .collect()
}

/// Beyond this many positions a whole sort is quicker than one selection
/// per position.
const MOST_SELECTED: usize = 24;

/// Puts the values that belong at `positions` of the ascending order
/// (`f64::total_cmp`) there, as a sort would, and leaves the others
/// anywhere: one selection per position, each over the values after the
/// last one placed (a million values: a few milliseconds, where a sort
/// takes tens). Values equal under `total_cmp` have the same bits, so the
/// values placed are the sort's, bit for bit.
pub fn place_at(values: &mut [f64], positions: &[usize]) {
    let mut wanted: Vec<usize> = positions.iter().copied().filter(|&p| p < values.len()).collect();
    wanted.sort_unstable();
    wanted.dedup();
    if wanted.len() > MOST_SELECTED {
        values.sort_unstable_by(f64::total_cmp);
        return;
    }
    let mut from = 0;
    for position in wanted {
        // Everything before `from` is placed and no larger than what follows.
        if let Some(rest) = values.get_mut(from..) {
            rest.select_nth_unstable_by(position.saturating_sub(from), f64::total_cmp);
        }
        from = position.saturating_add(1);
    }
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
    let positions = quantile_positions(values.len(), qs);
    place_at(&mut values, &positions);
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
/// counted (see [`outside_warnings`]). Blocks of rows are labelled on all
/// cores, then joined into one column.
pub fn bucket(df: DataFrame, bins: &Bins, span: Span) -> RunResult<(DataFrame, Outside)> {
    let values =
        df.column(bins.column).and_then(|c| c.cast(&DataType::Float64)).map_err(|e| polars_failure(e, span))?;
    let values = values.f64().map_err(|e| polars_failure(e, span))?;
    let starts: Vec<usize> = (0..values.len()).step_by(LABELLED).collect();
    let blocks: Vec<(StringChunked, Outside)> =
        on_pool(|| starts.par_iter().map(|&start| label(&values.slice(start as i64, LABELLED), bins)).collect());
    let mut outside = Outside::default();
    let mut labelled: Option<StringChunked> = None;
    for (block, counts) in blocks {
        outside.add(counts);
        match labelled.as_mut() {
            Some(all) => all.append(&block).map_err(|e| polars_failure(e, span))?,
            None => labelled = Some(block),
        }
    }
    let labelled = labelled.unwrap_or_else(|| StringChunked::full_null("".into(), 0)).rechunk().into_owned();
    let mut df = df;
    df.with_column(labelled.with_name(bins.output.into()).into_column()).map_err(|e| polars_failure(e, span))?;
    Ok((df, outside))
}

/// Rows labelled as one block.
const LABELLED: usize = 1 << 16;

/// The labels of `values`' bins, and what fell outside them.
fn label(values: &Float64Chunked, bins: &Bins) -> (StringChunked, Outside) {
    let Bins { edges, labels, include_lowest, .. } = *bins;
    let count = edges.len().saturating_sub(1);
    let mut outside = Outside::default();
    let labelled: StringChunked = values
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
    (labelled, outside)
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

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    /// Values with repeats, signed zeros and a wide spread, in a scrambled
    /// order (a fixed linear congruential sequence).
    fn scrambled(n: usize) -> Vec<f64> {
        let mut state = 12_345u64;
        (0..n)
            .map(|i| {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                match i % 7 {
                    0 => 0.0,
                    1 => -0.0,
                    2 => 3.5,
                    _ => ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 1e6,
                }
            })
            .collect()
    }

    #[test]
    fn placed_values_give_the_quantiles_of_sorted_ones_bit_for_bit() {
        let many: Vec<f64> = (0..=40).map(|i| f64::from(i) / 40.0).collect();
        for n in [1, 2, 3, 10, 101, 5_000] {
            for qs in [&[0.25, 0.5, 0.75][..], &[0.0, 1.0], &[0.1, 0.333, 0.9, 0.999], &many] {
                let mut sorted = scrambled(n);
                sorted.sort_unstable_by(f64::total_cmp);
                let mut placed = scrambled(n);
                place_at(&mut placed, &quantile_positions(n, qs));
                let (expected, found) = (quantiles(&sorted, qs), quantiles(&placed, qs));
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&found), bits(&expected), "n = {n}, qs = {qs:?}");
            }
        }
    }
}
