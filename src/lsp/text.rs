//! Positions as editors count them: lines and UTF-16 code units (the LSP
//! default), to and from the byte offsets that spans use.

use lsp_types::{Position, Range};

/// Where each line of a text starts, for converting positions.
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// The index of `text`.
    pub fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        LineIndex { text, starts }
    }

    /// The editor position of a byte offset.
    pub fn position(&self, offset: usize) -> Position {
        let offset = crate::source::floor_char_boundary(self.text, offset);
        let line = self.starts.partition_point(|&start| start <= offset) - 1;
        let character = self.text[self.starts[line]..offset].encode_utf16().count();
        Position { line: line as u32, character: character as u32 }
    }

    /// The editor range of a byte range.
    pub fn range(&self, start: usize, end: usize) -> Range {
        Range { start: self.position(start), end: self.position(end.max(start)) }
    }

    /// The byte offset of an editor position (clamped to the line and the
    /// text, as editors may send positions past a line's end).
    pub fn offset(&self, position: Position) -> usize {
        let Some(&line_start) = self.starts.get(position.line as usize) else { return self.text.len() };
        let line_end = self.starts.get(position.line as usize + 1).map_or(self.text.len(), |&next| next - 1);
        let mut units = 0;
        for (i, c) in self.text[line_start..line_end].char_indices() {
            if units >= position.character as usize {
                return line_start + i;
            }
            units += c.len_utf16();
        }
        line_end
    }

    /// The whole text as a range.
    pub fn full_range(&self) -> Range {
        self.range(0, self.text.len())
    }
}

/// Maps an offset in `new` to the matching offset in `old`, for answering
/// with an analysis of an older text: unchanged text before and after the
/// edit keeps its place; inside the edit, the edit's start.
pub fn map_offset(new: &str, old: &str, offset: usize) -> usize {
    let prefix = new.bytes().zip(old.bytes()).take_while(|(a, b)| a == b).count();
    let room = new.len().min(old.len()) - prefix;
    let suffix = new.bytes().rev().zip(old.bytes().rev()).take(room).take_while(|(a, b)| a == b).count();
    if offset <= prefix {
        offset
    } else if offset >= new.len() - suffix {
        old.len() - (new.len() - offset)
    } else {
        prefix
    }
}

/// Whether `c` can be part of a name.
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Where the name (letters, digits, `_`) that ends at `offset` starts
/// (`offset` itself when none does); `offset` is a char boundary.
pub fn name_start(text: &str, offset: usize) -> usize {
    text[..offset].char_indices().rev().find(|(_, c)| !is_name_char(*c)).map_or(0, |(i, c)| i + c.len_utf8())
}

/// The byte range of the name (letters, digits, `_`) around `offset`.
pub fn name_at(text: &str, offset: usize) -> Option<(usize, usize)> {
    let offset = crate::source::floor_char_boundary(text, offset);
    let start = name_start(text, offset);
    let end = text[offset..].find(|c: char| !is_name_char(c)).map_or(text.len(), |i| offset + i);
    (start < end && !text[start..].starts_with(|c: char| c.is_ascii_digit())).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_utf16_units_and_round_trip() {
        let text = "a = \"é😀\" x\nsecond";
        let index = LineIndex::new(text);
        let x = text.find('x').unwrap();
        // `a = "` is 5 units, é 1, 😀 2, `" ` 2.
        assert_eq!(index.position(x), Position { line: 0, character: 10 });
        assert_eq!(index.offset(Position { line: 0, character: 10 }), x);
        assert_eq!(index.offset(Position { line: 1, character: 99 }), text.len());
        assert_eq!(index.offset(Position { line: 7, character: 0 }), text.len());
    }

    #[test]
    fn offsets_map_across_an_edit() {
        let old = "stage a = b |> filter(x)\nstage c = a";
        let new = "stage a = b |> filter(x > )\nstage c = a";
        assert_eq!(map_offset(new, old, 3), 3);
        assert_eq!(map_offset(new, old, new.find("x > ").unwrap() + 3), old.find("x)").unwrap() + 1);
        assert_eq!(map_offset(new, old, new.len()), old.len());
    }

    #[test]
    fn offsets_in_the_unchanged_tail_of_a_shorter_text_map_forward() {
        let old = "stage a = b |> filter(x >= 1)\nstage c = a";
        let new = "stage a = b |> filter(x >= )\nstage c = a";
        let c = new.find("c =").unwrap();
        assert_eq!(map_offset(new, old, c), old.find("c =").unwrap());
    }

    #[test]
    fn names_after_multibyte_characters() {
        let text = "// naïve Größe";
        let ve = text.find("ve").unwrap();
        assert_eq!(name_at(text, ve + 1), Some((ve, ve + 2)));
        // Names are ASCII: `ß` ends one, without splitting its bytes.
        let e = text.find("ße").unwrap() + "ß".len();
        assert_eq!(name_at(text, e), Some((e, e + 1)));
        assert_eq!(name_start(text, text.len()), e);
    }

    #[test]
    fn names_around_an_offset() {
        assert_eq!(name_at("a + income_q)", 6), Some((4, 12)));
        assert_eq!(name_at("a + 12", 5), None);
        assert_eq!(name_at("(  )", 2), None);
    }
}
