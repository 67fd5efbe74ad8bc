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

/// Fold `fold.index` of a `kfold` split of `df`: its training rows (every
/// other fold's) and its validation rows, each in the order they had.
pub fn fold(
    df: &DataFrame,
    fold: crate::ir::Fold,
    stratify: Option<&str>,
    seed: Option<u64>,
    span: Span,
) -> RunResult<Vec<DataFrame>> {
    let groups = match stratify {
        Some(column) => row_groups(df, column).map_err(|e| polars_failure(e, span))?,
        None => vec![(0..df.height() as IdxSize).collect()],
    };
    too_few_rows(&groups, df.height(), fold.k, stratify, span)?;
    let of_row = fold_of_rows(groups, df.height(), fold.k, seed);
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (row, f) in of_row.iter().enumerate() {
        if *f == fold.index { &mut val } else { &mut train }.push(row as IdxSize);
    }
    Ok(vec![take(df, train, span)?, take(df, val, span)?])
}

/// scikit-learn's refusals: fewer rows than folds (a fold would validate
/// on nothing), or, stratified, more folds than any class has rows.
fn too_few_rows(groups: &[Vec<IdxSize>], rows: usize, k: usize, stratify: Option<&str>, span: Span) -> RunResult<()> {
    if rows < k {
        return Err(crate::run::error::RunError::data(
            format!("`kfold({k})` needs at least {k} rows; the data has {rows}"),
            span,
            "too few rows for these folds",
            "use fewer folds, or more rows (a filter before `kfold` may leave too few)",
        ));
    }
    let largest = groups.iter().map(Vec::len).max().unwrap_or(0);
    if let Some(column) = stratify
        && largest < k
    {
        return Err(crate::run::error::RunError::data(
            format!(
                "`kfold({k}, stratify: {column})`: no class of `{column}` has {k} rows (the largest has {largest})"
            ),
            span,
            "more folds than any class has rows",
            "use at most as many folds as the classes have rows (scikit-learn's StratifiedKFold refuses this too)",
        ));
    }
    Ok(())
}

/// The fold each row validates in, as scikit-learn deals them: without
/// classes, `KFold`'s sizes (the first `n % k` folds one row larger); with
/// classes (`groups`, in scikit-learn's order: as they first appear), the
/// counts of `StratifiedKFold`: the rows sorted by class dealt to the folds
/// in turn, so each fold's count of each class is the one scikit-learn's
/// gives. Which rows of a class go to which fold: that class's rows
/// shuffled by one generator seeded with `seed`, then taken in fold order.
pub fn fold_of_rows(groups: Vec<Vec<IdxSize>>, rows: usize, k: usize, seed: Option<u64>) -> Vec<usize> {
    let mut rng = Rng::new(seed.unwrap_or(DEFAULT_SEED));
    let mut of_row = vec![0usize; rows];
    let k = k.max(1);
    if groups.len() == 1 {
        let mut order = groups.into_iter().next().unwrap_or_default();
        rng.shuffle(&mut order);
        let (size, extra) = (order.len().checked_div(k).unwrap_or(0), order.len().checked_rem(k).unwrap_or(0));
        let mut start = 0usize;
        for f in 0..k {
            let count = size.saturating_add(usize::from(f < extra));
            for row in &order[start..start.saturating_add(count).min(order.len())] {
                of_row[*row as usize] = f;
            }
            start = start.saturating_add(count);
        }
        return of_row;
    }
    // Position of each class's first row in the class-sorted order.
    let mut position = 0usize;
    for mut class in groups {
        let mut counts = vec![0usize; k];
        for p in position..position.saturating_add(class.len()) {
            let f = p.checked_rem(k).unwrap_or(0);
            counts[f] = counts[f].saturating_add(1);
        }
        position = position.saturating_add(class.len());
        rng.shuffle(&mut class);
        let mut rows = class.into_iter();
        for (f, count) in counts.into_iter().enumerate() {
            for row in rows.by_ref().take(count) {
                of_row[row as usize] = f;
            }
        }
    }
    of_row
}
