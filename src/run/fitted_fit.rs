//! Whether the numbers a run folder saved for a transform's steps are
//! what those steps learn: the kind of numbers, and one entry per column
//! the step names. Checksums catch a file that changed; this catches a
//! record that was edited and summed again, or saved by a pipeline whose
//! steps were since reordered, before a step reads the wrong numbers
//! (`zip` would silently apply part of them).

use crate::ir::{Fill, Op};
use crate::run::fitted::Fitted;

/// `Ok` when `fitted` is what `op` learns for its columns; otherwise what
/// differs.
pub fn fits(op: &Op, fitted: &Fitted) -> Result<(), String> {
    match (op, fitted) {
        (Op::Standard(columns) | Op::Robust(columns), Fitted::Scale { columns: saved, center, scale }) => {
            per_column(columns, saved, &[center.len(), scale.len()])
        }
        (Op::MinMax { columns, .. }, Fitted::Linear { columns: saved, data_min, data_max, scale, offset }) => {
            per_column(columns, saved, &[data_min.len(), data_max.len(), scale.len(), offset.len()])
        }
        (Op::FillNulls { columns, value: Fill::Mean | Fill::Median }, Fitted::Fill { columns: saved, values }) => {
            per_column(columns, saved, &[values.len()])
        }
        (Op::QCut { labels, .. }, Fitted::Edges { edges }) => {
            // One edge is what `duplicates: drop` leaves of a constant
            // column; more edges than bins (one label each) plus one would
            // name a bin without a label.
            let most = labels.len().saturating_add(1);
            if !edges.is_empty() && edges.len() <= most && edges.windows(2).all(|w| w[0] < w[1]) {
                Ok(())
            } else {
                Err(format!("its qcut edges {edges:?} are not at most {most} increasing numbers"))
            }
        }
        (Op::OneHot { columns, .. }, Fitted::Levels(levels)) => {
            same_names(columns.iter().map(|(c, _)| c), levels.columns.iter().map(|(c, _)| c))
        }
        (Op::Encode(columns), Fitted::Codes(vocabulary)) => {
            same_names(columns.iter().map(|(c, _)| c), vocabulary.columns.iter().map(|c| &c.name))?;
            // Ids are levels' places (from 1) in the step's levels: the
            // embedding after it has a row for each and no more.
            for ((name, levels), coded) in columns.iter().zip(&vocabulary.columns) {
                let most = i64::try_from(levels.len()).unwrap_or(i64::MAX);
                if let Some((level, id)) = coded.ids.iter().find(|(_, id)| !(1..=most).contains(id)) {
                    return Err(format!("`{name}`'s level `{level}` has id {id}, outside 1 to {most}"));
                }
            }
            Ok(())
        }
        (Op::Tokenize { vocab, .. }, Fitted::Words(words)) if words.words.len() > *vocab => {
            Err(format!("it has {} words, and the step keeps {vocab}", words.words.len()))
        }
        (Op::Tokenize { .. }, Fitted::Words(_)) => Ok(()),
        (Op::Pca { columns, .. }, Fitted::Pca(p)) => {
            let widths = p.components.iter().map(Vec::len).chain([p.mean.len()]);
            let lengths: Vec<usize> = widths.collect();
            per_column(columns, &p.columns, &lengths)?;
            if p.explained_variance.len() == p.components.len() {
                Ok(())
            } else {
                Err(format!("it has {} components and {} variances", p.components.len(), p.explained_variance.len()))
            }
        }
        (op, Fitted::Nothing) if !learns(op) => Ok(()),
        (op, _) => Err(format!("its numbers are not the kind `{}` learns", op.keyword())),
    }
}

/// Whether `op` learns numbers from the data it is fitted on.
fn learns(op: &Op) -> bool {
    crate::run::learn::Learner::new(op, crate::source::Span::default()).is_some()
}

/// The saved columns are the step's, and each list of per-column numbers
/// has one per column.
fn per_column(columns: &[String], saved: &[String], lengths: &[usize]) -> Result<(), String> {
    same_names(columns.iter(), saved.iter())?;
    match lengths.iter().find(|&&n| n != columns.len()) {
        None => Ok(()),
        Some(n) => Err(format!("it has {n} numbers for {} columns", columns.len())),
    }
}

/// The same column names in the same order.
fn same_names<'a>(
    columns: impl Iterator<Item = &'a String>,
    saved: impl Iterator<Item = &'a String>,
) -> Result<(), String> {
    let (columns, saved): (Vec<&String>, Vec<&String>) = (columns.collect(), saved.collect());
    if columns == saved {
        return Ok(());
    }
    let list = |names: &[&String]| names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
    Err(format!("its numbers are for {}, and the step names {}", list(&saved), list(&columns)))
}

#[cfg(test)]
mod tests {
    use super::fits;
    use crate::ir::{Fill, Op};
    use crate::run::fitted::Fitted;

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    /// Each kind of step against its own numbers, another step's, and
    /// numbers for other columns or of other lengths.
    #[test]
    fn saved_numbers_fit_only_their_own_step() {
        let standard = Op::Standard(names(&["a", "b"]));
        let scale = |columns: &[&str], n: usize| Fitted::Scale {
            columns: names(columns),
            center: vec![0.0; n],
            scale: vec![1.0; n],
        };
        assert_eq!(fits(&standard, &scale(&["a", "b"], 2)), Ok(()));
        assert!(fits(&standard, &scale(&["a", "b"], 1)).is_err_and(|e| e.contains("1 numbers for 2 columns")));
        assert!(fits(&standard, &scale(&["b", "a"], 2)).is_err_and(|e| e.contains("`b`, `a`")));
        assert!(fits(&standard, &Fitted::Nothing).is_err_and(|e| e.contains("`standard`")));
        let fill = Op::FillNulls { columns: names(&["a"]), value: Fill::Median };
        assert!(fits(&fill, &scale(&["a"], 1)).is_err());
        assert_eq!(fits(&fill, &Fitted::Fill { columns: names(&["a"]), values: vec![2.0] }), Ok(()));
        let qcut = Op::QCut {
            column: "a".into(),
            quantiles: vec![0.0, 0.5, 1.0],
            labels: names(&["low", "high"]),
            drop_duplicates: false,
            output: "q".into(),
        };
        assert_eq!(fits(&qcut, &Fitted::Edges { edges: vec![0.0, 1.0, 2.0] }), Ok(()));
        assert!(fits(&qcut, &Fitted::Edges { edges: vec![0.0, 2.0, 1.0] }).is_err());
        assert_eq!(fits(&qcut, &Fitted::Edges { edges: vec![0.0] }), Ok(()), "a constant column, duplicates dropped");
        assert!(fits(&qcut, &Fitted::Edges { edges: vec![] }).is_err());
        assert!(fits(&qcut, &Fitted::Edges { edges: vec![0.0, 1.0, 2.0, 3.0] }).is_err(), "more bins than labels");
        let encode = Op::Encode(vec![("a".into(), names(&["x", "y"]))]);
        let codes = |id: i64| {
            Fitted::Codes(crate::run::encode::Vocabulary {
                columns: vec![crate::run::encode::CodedColumn { name: "a".into(), ids: vec![("x".into(), id)] }],
            })
        };
        assert_eq!(fits(&encode, &codes(2)), Ok(()));
        assert!(fits(&encode, &codes(3)).is_err_and(|e| e.contains("outside 1 to 2")));
        let tokenize = Op::Tokenize { column: "t".into(), vocab: 1, length: 4 };
        let words = |n: usize| Fitted::Words(crate::run::text::Vocabulary { words: vec!["w".into(); n] });
        assert_eq!(fits(&tokenize, &words(1)), Ok(()));
        assert!(fits(&tokenize, &words(2)).is_err());
        let pca = Op::Pca { columns: names(&["a", "b"]), k: 1, whiten: false, keep: false, prefix: "pc".into() };
        let projection = |width: usize, variances: usize| {
            Fitted::Pca(crate::run::pca::Projection {
                columns: names(&["a", "b"]),
                mean: vec![0.0; 2],
                components: vec![vec![1.0; width]],
                explained_variance: vec![1.0; variances],
                explained_variance_ratio: vec![1.0; variances],
                whiten: false,
            })
        };
        assert_eq!(fits(&pca, &projection(2, 1)), Ok(()));
        assert!(fits(&pca, &projection(1, 1)).is_err());
        assert!(fits(&pca, &projection(2, 0)).is_err());
        // A step that learns nothing has nothing saved.
        assert_eq!(fits(&Op::Log1p(names(&["a"])), &Fitted::Nothing), Ok(()));
        assert!(fits(&Op::Log1p(names(&["a"])), &scale(&["a"], 1)).is_err());
    }
}
