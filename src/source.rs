//! Source files and spans.
//!
//! Every AST node, IR node and diagnostic points back into the text it came
//! from through a [`Span`]: a file id and a byte range. The text itself lives
//! once, in a [`SourceMap`], and is attached only when a diagnostic is printed.

use std::sync::Arc;

use miette::{NamedSource, SourceSpan};
use serde::Serialize;

/// Identifies one file of a [`SourceMap`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct FileId(pub u32);

/// A byte range `start..end` in one source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Span {
    /// The file the range is in.
    pub file: FileId,
    /// Offset of the first byte.
    pub start: usize,
    /// Offset one past the last byte.
    pub end: usize,
}

impl Span {
    /// A span of `start..end` in `file`.
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        Span { file, start, end }
    }

    /// The empty span at `offset`, for "expected something here" labels.
    pub fn point(file: FileId, offset: usize) -> Self {
        Span::new(file, offset, offset)
    }

    /// The smallest span covering both `self` and `other`.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.file, self.start.min(other.start), self.end.max(other.end))
    }

    /// Number of bytes covered.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the span covers no bytes.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

impl From<Span> for SourceSpan {
    fn from(span: Span) -> Self {
        SourceSpan::new(span.start.into(), span.len())
    }
}

/// One loaded source file.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// The name shown in diagnostics (a path, or `std/models.pipe`).
    pub name: String,
    /// The file's text (invalid UTF-8 was replaced by U+FFFD on load).
    pub text: Arc<str>,
}

impl SourceFile {
    /// The file as miette wants it when a diagnostic is rendered.
    pub fn named_source(&self) -> NamedSource<Arc<str>> {
        NamedSource::new(self.name.clone(), self.text.clone()).with_language("pipe")
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..floor_char_boundary(&self.text, offset)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }
}

/// The largest char boundary of `text` at or before `offset`.
pub fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut i = offset.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// All the files of one program: the root file, its imports, the stdlib.
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    /// An empty map.
    pub fn new() -> Self {
        SourceMap::default()
    }

    /// Adds a file and returns its id.
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<Arc<str>>) -> FileId {
        let id = FileId(self.files.len() as u32);
        self.files.push(SourceFile { name: name.into(), text: text.into() });
        id
    }

    /// Replaces the text of a file (added before its text was decoded).
    pub fn set_text(&mut self, id: FileId, text: impl Into<Arc<str>>) {
        if let Some(file) = self.files.get_mut(id.0 as usize) {
            file.text = text.into();
        }
    }

    /// The file with this id.
    ///
    /// Ids come from [`SourceMap::add`] on this map, so the lookup does not
    /// miss; a foreign id gets the first file (or an empty one) rather than a
    /// The names of every file loaded, the root first.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.files.iter().map(|f| f.name.as_str())
    }

    /// panic.
    pub fn get(&self, id: FileId) -> &SourceFile {
        static EMPTY: std::sync::LazyLock<SourceFile> =
            std::sync::LazyLock::new(|| SourceFile { name: String::new(), text: "".into() });
        self.files.get(id.0 as usize).or(self.files.first()).unwrap_or(&EMPTY)
    }
}

/// Decodes file bytes as UTF-8. On invalid UTF-8 returns the text with the
/// bad bytes replaced and the offset of the first bad byte. A byte-order
/// mark (which some editors write) becomes three spaces, so that every byte
/// offset stays where it was.
pub fn decode(bytes: &[u8]) -> (String, Option<usize>) {
    let (mut text, bad) = match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_owned(), None),
        Err(e) => (String::from_utf8_lossy(bytes).into_owned(), Some(e.valid_up_to())),
    };
    if text.starts_with('\u{feff}') {
        text.replace_range(..'\u{feff}'.len_utf8(), "   ");
    }
    (normalize_line_ends(text), bad)
}

/// A lone carriage return (old Mac line ends) becomes a newline, as editors
/// read it: without this, a file with CR-only line ends was one line, and a
/// comment at its top swallowed every item. CRLF stays; byte offsets do
/// not move (one byte for one).
pub fn normalize_line_ends(text: String) -> String {
    if !text.contains('\r') {
        return text;
    }
    let mut bytes = text.into_bytes();
    for i in 0..bytes.len() {
        if bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n') {
            bytes[i] = b'\n';
        }
    }
    // Only ASCII bytes changed, so the text is still UTF-8.
    String::from_utf8(bytes).unwrap_or_default()
}
