//! Steps that learn from data: what each learns (a plain serialisable
//! value, saved with the run so prediction applies the same numbers) and
//! how it is applied. Scikit-learn's conventions throughout: population
//! standard deviation, a zero scale replaced by 1, statistics that ignore
//! missing values.

use std::collections::HashMap;
use std::path::Path;

use polars::prelude::*;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::ir::{Fill, Op};
use crate::run::bucket::{Bins, Outside, bucket, outside_warnings};
use crate::run::error::{RunError, RunResult};
use crate::run::learn::Learner;
use crate::run::ops::{self, polars_failure};
use crate::run::threads::on_pool;
use crate::run::{encode, onehot, pca, text};
use crate::source::Span;

/// What one step learned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fitted {
    /// Nothing: the step is the same on any data.
    Nothing,
    /// `qcut`: the bin edges.
    Edges {
        /// Increasing edges.
        edges: Vec<f64>,
    },
    /// `standard`, `robust`, `minmax`: `(x - center) / scale` per column
    /// (`minmax` as `x * scale + offset`, see [`Fitted::Linear`]).
    Scale {
        /// The columns.
        columns: Vec<String>,
        /// Subtracted (mean or median).
        center: Vec<f64>,
        /// Divided by (standard deviation or interquartile range; 1 where 0).
        scale: Vec<f64>,
    },
    /// `minmax`: `x * scale + offset`, as scikit-learn's `MinMaxScaler`.
    Linear {
        /// The columns.
        columns: Vec<String>,
        /// The smallest value seen.
        data_min: Vec<f64>,
        /// The largest value seen.
        data_max: Vec<f64>,
        /// Multiplier.
        scale: Vec<f64>,
        /// Added after.
        offset: Vec<f64>,
    },
    /// `fill_nulls(mean|median)`: the value per column.
    Fill {
        /// The columns.
        columns: Vec<String>,
        /// The value filled in.
        values: Vec<f64>,
    },
    /// `onehot`: the levels of each column, in column order.
    Levels(onehot::Levels),
    /// `encode`: each column's fitted ids.
    Codes(encode::Vocabulary),
    /// `tokenize`: the fitted vocabulary.
    Words(text::Vocabulary),
    /// `pca`: the projection.
    Pca(pca::Projection),
}

/// Learns what `op` needs from `df` (the data it is fitted on), as one
/// batch of [`Learner`]: the streaming path learns the same numbers batch
/// by batch.
pub fn fit(op: &Op, df: &DataFrame, span: Span, warnings: &mut Vec<RunError>) -> RunResult<Fitted> {
    let Some(mut learner) = Learner::new(op, span) else { return Ok(Fitted::Nothing) };
    learner.observe(df)?;
    learner.finish(warnings)
}

/// What applying steps found worth a warning (values outside every bin,
/// levels not seen when fitting): counted over every batch a step is
/// applied to, and said once.
#[derive(Default)]
pub struct Notes {
    notes: Vec<(usize, Note)>,
    /// The step being applied: warnings are said in step order.
    step: usize,
}

enum Note {
    Outside { span: Span, column: String, edges: Vec<f64>, what: &'static str, counts: Outside },
    Unseen { span: Span, column: String, counts: HashMap<String, usize>, help: &'static str },
}

impl Notes {
    /// Notes from now on are of step `index` (of a chain of steps).
    pub fn at(&mut self, index: usize) {
        self.step = index;
    }

    fn outside(&mut self, span: Span, bins: &Bins, counts: Outside) {
        let (column, edges, what) = (bins.column.to_owned(), bins.edges.to_vec(), bins.what);
        self.add(self.step, Note::Outside { span, column, edges, what, counts });
    }

    fn unseen(&mut self, span: Span, found: onehot::Unseen, help: &'static str) {
        for (column, counts) in found {
            self.add(self.step, Note::Unseen { span, column, counts, help });
        }
    }

    /// Adds a note of step `step`, to the counts of the same one if any.
    fn add(&mut self, step: usize, note: Note) {
        for (s, existing) in &mut self.notes {
            match (existing, &note) {
                (
                    Note::Outside { span, column, counts, .. },
                    Note::Outside { span: new_span, column: new_column, counts: new, .. },
                ) if *s == step && span == new_span && column == new_column => {
                    counts.add(*new);
                    return;
                }
                (
                    Note::Unseen { span, column, counts, .. },
                    Note::Unseen { span: new_span, column: new_column, counts: new, .. },
                ) if *s == step && span == new_span && column == new_column => {
                    for (level, n) in new {
                        let count = counts.entry(level.clone()).or_default();
                        *count = count.saturating_add(*n);
                    }
                    return;
                }
                _ => {}
            }
        }
        self.notes.push((step, note));
    }

    /// Adds another set of notes (another batch's) to these.
    pub fn merge(&mut self, other: Notes) {
        for (step, note) in other.notes {
            self.add(step, note);
        }
    }

    /// The warnings, in step order (then in the order first met).
    pub fn warnings(mut self) -> Vec<RunError> {
        self.notes.sort_by_key(|(step, _)| *step);
        let mut warnings = Vec::new();
        for (_, note) in self.notes {
            match note {
                Note::Outside { span, column, edges, what, counts } => {
                    warnings.extend(outside_warnings(&counts, &column, &edges, what, span))
                }
                Note::Unseen { span, column, counts, help } => {
                    warnings.push(onehot::unseen_warning(&column, &counts, span, help))
                }
            }
        }
        warnings
    }
}

/// Applies `op` with what it learned to `df`, adding its warnings to
/// `warnings`.
pub fn apply(
    op: &Op,
    fitted: &Fitted,
    df: DataFrame,
    span: Span,
    dir: &Path,
    warnings: &mut Vec<RunError>,
) -> RunResult<DataFrame> {
    let mut notes = Notes::default();
    let result = apply_noting(op, fitted, df, span, dir, &mut notes);
    warnings.extend(notes.warnings());
    result
}

/// [`apply`], counting what is worth a warning in `notes` (one batch of
/// many).
pub fn apply_noting(
    op: &Op,
    fitted: &Fitted,
    df: DataFrame,
    span: Span,
    dir: &Path,
    notes: &mut Notes,
) -> RunResult<DataFrame> {
    let failed = |e: PolarsError| polars_failure(e, span);
    match (op, fitted) {
        (Op::Cut { column, edges, labels, include_lowest, output }, _) => {
            let bins = Bins { column, output, edges, labels, include_lowest: *include_lowest, what: "cut" };
            let (df, outside) = bucket(df, &bins, span)?;
            notes.outside(span, &bins, outside);
            Ok(df)
        }
        (Op::QCut { column, labels, output, .. }, Fitted::Edges { edges }) => {
            let bins = Bins { column, output, edges, labels, include_lowest: true, what: "qcut" };
            let (df, outside) = bucket(df, &bins, span)?;
            notes.outside(span, &bins, outside);
            Ok(df)
        }
        (_, Fitted::Scale { columns, center, scale }) => {
            let formulas = center.iter().zip(scale).map(|(&m, &s)| move |x: f64| (x - m) / s);
            each_in_place(df, columns, formulas.collect()).map_err(failed)
        }
        (_, Fitted::Linear { columns, scale, offset, .. }) => {
            let formulas = scale.iter().zip(offset).map(|(&s, &o)| move |x: f64| x * s + o);
            each_in_place(df, columns, formulas.collect()).map_err(failed)
        }
        (Op::FillNulls { columns, value }, fitted) => {
            let fills: Vec<Expr> = match (value, fitted) {
                (_, Fitted::Fill { values, .. }) => {
                    columns.iter().zip(values).map(|(c, v)| col(c.as_str()).fill_null(lit(*v))).collect()
                }
                // A whole number fills a whole-number column as one: the
                // column keeps the type (and levels) `pipe check` gave it.
                (Fill::Number(x), _) => columns
                    .iter()
                    .map(|c| {
                        let whole = df.column(c).is_ok_and(|c| c.dtype().is_integer()) && x.fract() == 0.0;
                        col(c.as_str()).fill_null(if whole { lit(*x as i64) } else { lit(*x) })
                    })
                    .collect(),
                (Fill::Text(t), _) => columns.iter().map(|c| col(c.as_str()).fill_null(lit(t.clone()))).collect(),
                // `fit` learns a value for these: without one, nothing is filled.
                (Fill::Mean | Fill::Median, _) => {
                    return Err(RunError::data(
                        "`fill_nulls` reached its step without the value it learns",
                        span,
                        "not fitted",
                        "this is a bug in pipe; please report it with this file",
                    ));
                }
            };
            df.lazy().with_columns(fills).collect().map_err(failed)
        }
        (Op::OneHot { drop_first, dtype, .. }, Fitted::Levels(levels)) => {
            let (df, unseen) = onehot::apply(df, levels, *drop_first, *dtype, span)?;
            notes.unseen(span, unseen, onehot::UNSEEN_HELP);
            Ok(df)
        }
        (Op::Tokenize { column, length, .. }, Fitted::Words(vocabulary)) => {
            text::apply(df, column, vocabulary, *length, span)
        }
        (Op::Encode(_), Fitted::Codes(vocabulary)) => {
            let (df, unseen) = encode::apply(df, vocabulary, span)?;
            notes.unseen(span, unseen, encode::UNSEEN_HELP);
            Ok(df)
        }
        (Op::Pca { prefix, keep, .. }, Fitted::Pca(projection)) => pca::apply(df, projection, prefix, *keep, span),
        (op, _) => match ops::apply(op, df, span, dir) {
            Some(result) => result,
            None => Err(RunError::data(
                "this step cannot run here",
                span,
                "not runnable here",
                "a transform's steps are data operations; apply other transforms and `predict` outside it",
            )),
        },
    }
}

/// Replaces each of `columns` by `formula` applied to each of its values
/// (as floats), the columns in parallel. A float column the frame alone
/// holds is rewritten in its own buffer: no new memory (which this
/// machine's fresh pages make slow), and the same bits as a new column.
fn each_in_place<F>(df: DataFrame, columns: &[String], formulas: Vec<F>) -> PolarsResult<DataFrame>
where
    F: Fn(f64) -> f64 + Copy + Send + Sync,
{
    let height = df.height();
    let mut all = df.into_columns();
    let mut taken = Vec::with_capacity(columns.len());
    for name in columns {
        let Some(index) = all.iter().position(|c| c.name().as_str() == name) else {
            return Err(PolarsError::ColumnNotFound(name.clone().into()));
        };
        // Moved out, so that the frame no longer shares the buffer.
        let column = std::mem::replace(&mut all[index], Column::new_empty(name.as_str().into(), &DataType::Null));
        taken.push((index, column));
    }
    let done: Vec<PolarsResult<(usize, Column)>> = on_pool(|| {
        taken
            .into_par_iter()
            .zip(formulas.into_par_iter())
            .map(|((index, column), formula)| {
                let series = column.take_materialized_series();
                let series =
                    if series.dtype() == &DataType::Float64 { series } else { series.cast(&DataType::Float64)? };
                let mut values = series.f64()?.clone();
                // The series' handle on the buffer goes, so that the values
                // alone hold it and can be written in place.
                drop(series);
                values.apply_mut(formula);
                Ok((index, values.into_column()))
            })
            .collect()
    });
    for result in done {
        let (index, column) = result?;
        all[index] = column;
    }
    DataFrame::new(height, all)
}
