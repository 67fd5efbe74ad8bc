//! `tokenize(col, vocab:, length:)`: a text column as a fixed number of
//! token ids. Words are the runs of letters and digits of the lower-cased
//! text (anything else separates them); the vocabulary is the `vocab` most
//! frequent words of the rows fitted on (ties by the word, alphabetically).
//! Id 0 pads a short text, before its words (as Keras' `pad_sequences`
//! does by default: a recurrent layer's last step is then the text's last
//! word), 1 is any word outside the vocabulary, and the vocabulary's words
//! are 2, 3, ... by rank (Keras' `TextVectorization` keeps 0 for padding
//! and 1 for out-of-vocabulary words too). A text longer than `length`
//! words keeps its first ones; a missing text is all padding.

use std::collections::HashMap;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::run::error::RunResult;
use crate::run::ops::polars_failure;
use crate::source::Span;

/// Id of the padding after a text's last word.
pub const PADDING: i64 = 0;
/// Id of a word outside the vocabulary.
pub const UNKNOWN: i64 = 1;

/// The fitted vocabulary of a tokenized column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vocabulary {
    /// The words by rank: word `i` has id `i + 2`.
    pub words: Vec<String>,
}

/// The words of a text.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase)
}

/// Adds the words of `column` in a batch of the rows being fitted on to
/// `counts`.
pub fn observe(df: &DataFrame, column: &str, counts: &mut HashMap<String, u64>) -> PolarsResult<()> {
    let text = df.column(column)?.cast(&DataType::String)?;
    for value in text.str()?.iter().flatten() {
        for word in words(value) {
            let count = counts.entry(word).or_default();
            *count = count.saturating_add(1);
        }
    }
    Ok(())
}

/// The `size` most frequent words, ties broken alphabetically.
pub fn vocabulary(counts: HashMap<String, u64>, size: usize) -> Vocabulary {
    let mut ranked: Vec<(String, u64)> = counts.into_iter().collect();
    ranked.sort_unstable_by(|(a, x), (b, y)| y.cmp(x).then_with(|| a.cmp(b)));
    ranked.truncate(size);
    Vocabulary { words: ranked.into_iter().map(|(w, _)| w).collect() }
}

/// Replaces `column`, in place, by its `length` ids a row (a list of i64).
pub fn apply(df: DataFrame, column: &str, vocabulary: &Vocabulary, length: usize, span: Span) -> RunResult<DataFrame> {
    let failed = |e: PolarsError| polars_failure(e, span);
    let index: HashMap<&str, i64> = vocabulary.words.iter().zip(2i64..).map(|(w, id)| (w.as_str(), id)).collect();
    let text = df.column(column).map_err(failed)?.cast(&DataType::String).map_err(failed)?;
    let rows = df.height();
    let mut builder = ListPrimitiveChunkedBuilder::<Int64Type>::new(
        column.into(),
        rows,
        rows.saturating_mul(length),
        DataType::Int64,
    );
    let mut ids = Vec::with_capacity(length);
    for value in text.str().map_err(failed)?.iter() {
        ids.clear();
        if let Some(value) = value {
            ids.extend(words(value).take(length).map(|w| index.get(w.as_str()).copied().unwrap_or(UNKNOWN)));
        }
        // Padding first: a recurrent layer's last step is the text's last word.
        let words = ids.len();
        ids.resize(length, PADDING);
        ids.rotate_right(length.saturating_sub(words));
        builder.append_slice(&ids);
    }
    let mut out = df;
    out.with_column(builder.finish().into_column()).map_err(failed)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lower_cased_runs_of_letters_and_digits() {
        let got: Vec<String> = words("Don't buy it!! 45 minutes.MAJOR problems, Café").collect();
        assert_eq!(got, ["don", "t", "buy", "it", "45", "minutes", "major", "problems", "café"]);
    }

    #[test]
    fn ids_rank_the_words_pad_and_truncate() {
        let mut counts = HashMap::new();
        let fit = df!("text" => ["b a a", "c b a"]).unwrap();
        observe(&fit, "text", &mut counts).unwrap();
        // a: 3, b: 2, c: 1; a vocabulary of two keeps a and b.
        let vocabulary = vocabulary(counts, 2);
        assert_eq!(vocabulary.words, ["a", "b"]);
        let rows = df!("text" => [Some("A b z"), None, Some("b b b b b")]).unwrap();
        let out = apply(rows, "text", &vocabulary, 4, Span::default()).unwrap();
        let lists = out.column("text").unwrap().list().unwrap().clone();
        let flat: Vec<i64> = lists.get_inner().i64().unwrap().into_no_null_iter().collect();
        let got: Vec<Vec<i64>> = flat.chunks(4).map(<[i64]>::to_vec).collect();
        assert_eq!(got, [vec![0, 2, 3, 1], vec![0, 0, 0, 0], vec![3, 3, 3, 3]]);
    }
}
