//! Error recovery at item boundaries.
//!
//! When a file does not parse, it is cut into chunks, each starting at a line
//! that begins (at column 0) with an item keyword or something close to one,
//! and each chunk is parsed on its own. One file with mistakes in three items
//! then reports three diagnostics, and the good items still parse.

use crate::suggest::edit_distance;
use crate::syntax::ast::ITEM_KEYWORDS;

/// Byte ranges `start..end` of the chunks of `text`, in order, covering it.
/// `opaque` lists ranges (comments), sorted and disjoint, inside which no
/// chunk may start.
pub fn chunks(text: &str, opaque: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let mut starts = vec![0];
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        // `opaque` is sorted and disjoint: the only candidate is the last
        // range starting before this line.
        let before = opaque.partition_point(|&(s, _)| s < offset);
        let inside_comment = before > 0 && offset < opaque[before - 1].1;
        if offset > 0 && !inside_comment && starts_item(line) {
            starts.push(offset);
        }
        offset += line.len();
    }
    let mut ranges: Vec<(usize, usize)> = starts.windows(2).map(|w| (w[0], w[1])).collect();
    ranges.push((*starts.last().unwrap_or(&0), text.len()));
    ranges
}

/// Whether a line looks like the start of an item: a keyword (or a near
/// miss of one, so that a misspelt keyword starts its own chunk) followed by
/// a space.
fn starts_item(line: &str) -> bool {
    let word_len = line.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
    let word = &line[..word_len];
    let followed_by_space = line[word_len..].starts_with([' ', '\t']);
    followed_by_space
        && word.len() >= 3
        && ITEM_KEYWORDS.iter().any(|k| edit_distance(word, k) <= 1 + usize::from(k.len() > 5))
}
