//! `split`: rows dealt into parts by seeded shuffling, optionally
//! stratified so every part has each class in the same proportion. Each
//! part keeps the rows in the order they had.

use polars::prelude::*;

use crate::random::{Rng, allocate};
use crate::run::error::RunResult;
use crate::run::ops::{polars_failure, row_groups, take};
use crate::source::Span;

/// The seed when a split names none: splits are reproducible by default.
pub const DEFAULT_SEED: u64 = 0;

/// Splits `df` into `fractions.len()` parts.
pub fn split(
    df: &DataFrame,
    fractions: &[f64],
    stratify: Option<&str>,
    seed: Option<u64>,
    span: Span,
) -> RunResult<Vec<DataFrame>> {
    let groups = match stratify {
        Some(column) => row_groups(df, column).map_err(|e| polars_failure(e, span))?,
        None => vec![(0..df.height() as IdxSize).collect()],
    };
    deal(groups, fractions, seed).into_iter().map(|rows| take(df, rows, span)).collect()
}

/// Deals rows into `fractions.len()` parts: each group's rows (the rows of
/// one class, or all of them) shuffled by one generator seeded with `seed`,
/// then shared out by [`allocate`]. Each part's rows in increasing order.
/// A streamed split deals the same groups, so it picks the same rows.
pub fn deal(groups: Vec<Vec<IdxSize>>, fractions: &[f64], seed: Option<u64>) -> Vec<Vec<IdxSize>> {
    let mut rng = Rng::new(seed.unwrap_or(DEFAULT_SEED));
    let mut parts: Vec<Vec<IdxSize>> = vec![Vec::new(); fractions.len()];
    for mut rows in groups {
        rng.shuffle(&mut rows);
        let mut start = 0usize;
        for (part, count) in parts.iter_mut().zip(allocate(rows.len(), fractions)) {
            // `allocate` shares out exactly `rows.len()` rows.
            let end = start.saturating_add(count);
            part.extend_from_slice(&rows[start..end]);
            start = end;
        }
    }
    for rows in &mut parts {
        rows.sort_unstable();
    }
    parts
}
