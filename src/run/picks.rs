//! Steps that keep rows by their position, streamed: `sample` and the
//! parts of a `split`. A pass counts the rows that reach the step (and,
//! for a stratified split, notes each row's class, classes numbered as
//! they first appear); the rows kept are then worked out exactly as from
//! the rows held whole ([`ops::sample_rows`], [`split::deal`]), and each
//! later pass keeps a batch's rows by their position. Batches come in the
//! source's order, so a position counted over the batches is the row's
//! position in the frame.

use std::collections::HashMap;
use std::sync::Arc;

use polars::prelude::*;

use crate::ir::SampleSize;
use crate::run::error::{RunError, RunResult};
use crate::run::ops::{polars_failure, sample_rows};
use crate::run::split::deal;
use crate::source::Span;

/// The rows that reach a picking step, counted batch by batch.
pub struct Counter {
    rows: usize,
    strata: Option<Strata>,
}

/// Each row's class, for a stratified split.
struct Strata {
    column: String,
    /// Class (the value as text) to its number, in the order the classes
    /// first appear, as [`crate::run::ops::row_groups`] numbers them;
    /// `missing`: the number of the missing value's class.
    classes: HashMap<String, u32>,
    missing: Option<u32>,
    of_row: Vec<u32>,
}

impl Strata {
    /// The number of `key`'s class, numbering it when it is new (a row's
    /// lookup allocates nothing once its class is known).
    fn class(&mut self, key: Option<&str>) -> u32 {
        let next =
            u32::try_from(self.classes.len().saturating_add(usize::from(self.missing.is_some()))).unwrap_or(u32::MAX);
        match key {
            None => *self.missing.get_or_insert(next),
            Some(key) => match self.classes.get(key) {
                Some(&class) => class,
                None => {
                    self.classes.insert(key.to_owned(), next);
                    next
                }
            },
        }
    }

    /// How many classes there are.
    fn len(&self) -> usize {
        self.classes.len().saturating_add(usize::from(self.missing.is_some()))
    }
}

impl Counter {
    /// A counter; `stratify`: the column whose classes a split keeps in
    /// proportion.
    pub fn new(stratify: Option<&str>) -> Counter {
        let strata = stratify.map(|c| Strata {
            column: c.to_owned(),
            classes: HashMap::new(),
            missing: None,
            of_row: Vec::new(),
        });
        Counter { rows: 0, strata }
    }

    /// Counts a batch's rows (and notes their classes).
    pub fn observe(&mut self, batch: &DataFrame, span: Span) -> RunResult<()> {
        self.rows = self.rows.saturating_add(batch.height());
        if IdxSize::try_from(self.rows).is_err() {
            return Err(RunError::data(
                format!("more than {} rows reach this step", IdxSize::MAX),
                span,
                "too many rows",
                "sample or filter the rows before this step",
            ));
        }
        let Some(strata) = &mut self.strata else { return Ok(()) };
        let failed = |e: PolarsError| polars_failure(e, span);
        let keys = batch.column(&strata.column).map_err(failed)?.cast(&DataType::String).map_err(failed)?;
        for key in keys.str().map_err(failed)?.iter() {
            let class = strata.class(key);
            strata.of_row.push(class);
        }
        Ok(())
    }

    /// The rows counted, grouped: by class (classes in order of first
    /// appearance), or all in one group.
    fn groups(self) -> Vec<Vec<IdxSize>> {
        // `observe` refused more rows than an index holds.
        let all = IdxSize::try_from(self.rows).unwrap_or(IdxSize::MAX);
        let Some(strata) = self.strata else { return vec![(0..all).collect()] };
        let mut groups: Vec<Vec<IdxSize>> = vec![Vec::new(); strata.len()];
        for (row, class) in (0..all).zip(strata.of_row) {
            if let Some(group) = groups.get_mut(class as usize) {
                group.push(row);
            }
        }
        groups
    }

    /// The rows `sample(size, seed)` keeps of those counted.
    pub fn sample(self, size: SampleSize, seed: u64, span: Span) -> RunResult<Picks> {
        let mut of_row = vec![0u8; self.rows];
        for row in sample_rows(self.rows, size, seed, span)? {
            if let Some(slot) = of_row.get_mut(row as usize) {
                *slot = 1;
            }
        }
        Ok(Picks { of_row: Arc::new(of_row), keep: 1 })
    }

    /// The part each row counted goes to in a split into `fractions`
    /// (at most [`crate::ir::MAX_STREAMED_PARTS`] parts).
    pub fn split(self, fractions: &[f64], seed: Option<u64>) -> Arc<Vec<u8>> {
        let mut of_row = vec![0u8; self.rows];
        for (part, rows) in deal(self.groups(), fractions, seed).into_iter().enumerate() {
            let part = u8::try_from(part).unwrap_or(u8::MAX);
            for row in rows {
                if let Some(slot) = of_row.get_mut(row as usize) {
                    *slot = part;
                }
            }
        }
        Arc::new(of_row)
    }
}

/// Which rows a picking step keeps: those whose entry is `keep`.
#[derive(Clone, Debug)]
pub struct Picks {
    of_row: Arc<Vec<u8>>,
    keep: u8,
}

impl Picks {
    /// The rows of part `part` of a split whose rows go to `of_row`.
    pub fn part(of_row: Arc<Vec<u8>>, part: usize) -> Picks {
        Picks { of_row, keep: u8::try_from(part).unwrap_or(u8::MAX) }
    }

    /// The rows of `batch` to keep; `offset`: the position of its first
    /// row, moved past it.
    pub fn keep(&self, batch: DataFrame, offset: &mut usize, span: Span) -> RunResult<DataFrame> {
        let end = offset.saturating_add(batch.height());
        let Some(entries) = self.of_row.get(*offset..end) else {
            return Err(RunError::data(
                format!("more rows reached this step than the {} counted before", self.of_row.len()),
                span,
                "the rows changed between passes",
                "a data file changed while the run read it: run again",
            ));
        };
        *offset = end;
        let mask = BooleanChunked::from_iter_values("".into(), entries.iter().map(|&p| p == self.keep));
        batch.filter(&mask).map_err(|e| polars_failure(e, span))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::split;

    fn frame(classes: &[&str]) -> DataFrame {
        let n = classes.len() as i64;
        df!("x" => (0..n).collect::<Vec<i64>>(), "y" => classes).expect("a frame")
    }

    /// A frame's rows fed in batches of `size`, through `picks`.
    fn kept(df: &DataFrame, picks: &Picks, size: usize) -> DataFrame {
        let mut offset = 0;
        let mut out: Option<DataFrame> = None;
        for start in (0..df.height()).step_by(size) {
            let batch = df.slice(start as i64, size);
            let kept = picks.keep(batch, &mut offset, Span::default()).expect("keeps");
            match &mut out {
                Some(o) => {
                    o.vstack_mut(&kept).expect("stacks");
                }
                None => out = Some(kept),
            }
        }
        out.unwrap_or_default()
    }

    fn counted(df: &DataFrame, stratify: Option<&str>, size: usize) -> Counter {
        let mut counter = Counter::new(stratify);
        for start in (0..df.height()).step_by(size) {
            counter.observe(&df.slice(start as i64, size), Span::default()).expect("counts");
        }
        counter
    }

    #[test]
    fn streamed_splits_keep_the_rows_a_held_split_keeps() {
        let classes: Vec<&str> = (0..1000).map(|i| ["a", "b", "b", "c", "c", "c"][(i * 7) % 6]).collect();
        let df = frame(&classes);
        let fractions = [0.6, 0.25, 0.15];
        for stratify in [None, Some("y")] {
            let held = split::split(&df, &fractions, stratify, Some(9), Span::default()).expect("splits");
            for size in [1, 7, 128, 1000] {
                let of_row = counted(&df, stratify, size).split(&fractions, Some(9));
                assert_eq!(held.iter().map(DataFrame::height).sum::<usize>(), 1000);
                for (part, rows) in held.iter().enumerate() {
                    let streamed = kept(&df, &Picks::part(Arc::clone(&of_row), part), size);
                    assert!(streamed.equals(rows), "part {part}, stratify {stratify:?}, batches of {size}");
                }
            }
        }
    }

    #[test]
    fn a_missing_class_is_a_stratum_of_its_own_as_held() {
        let classes: Vec<Option<&str>> = (0..300).map(|i| [Some("a"), None, Some("b"), None, None][i % 5]).collect();
        let df = df!("x" => (0..300i64).collect::<Vec<i64>>(), "y" => classes).expect("a frame");
        let held = split::split(&df, &[0.5, 0.5], Some("y"), Some(2), Span::default()).expect("splits");
        let of_row = counted(&df, Some("y"), 64).split(&[0.5, 0.5], Some(2));
        for (part, rows) in held.iter().enumerate() {
            assert!(rows.height() > 100);
            assert!(kept(&df, &Picks::part(Arc::clone(&of_row), part), 64).equals_missing(rows), "part {part}");
        }
    }

    #[test]
    fn streamed_samples_keep_the_rows_a_held_sample_keeps() {
        let df = frame(&vec!["a"; 500]);
        for size in [SampleSize::Rows(123), SampleSize::Fraction(0.3), SampleSize::Rows(500)] {
            let rows = sample_rows(500, size, 4, Span::default()).expect("samples");
            let held = crate::run::ops::take(&df, rows, Span::default()).expect("takes");
            for batch in [1, 64, 500] {
                let picks = counted(&df, None, batch).sample(size, 4, Span::default()).expect("samples");
                assert!(kept(&df, &picks, batch).equals(&held));
            }
        }
        assert!(counted(&df, None, 64).sample(SampleSize::Rows(501), 4, Span::default()).is_err());
    }

    #[test]
    fn a_batch_past_the_rows_counted_is_an_error() {
        let df = frame(&["a"; 10]);
        let picks = counted(&df.slice(0, 5), None, 5).sample(SampleSize::Rows(2), 1, Span::default()).expect("ok");
        let mut offset = 0;
        assert!(picks.keep(df, &mut offset, Span::default()).is_err());
    }
}
