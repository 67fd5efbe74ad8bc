//! A small Wadler-style document printer: text, line breaks that become
//! spaces when a group fits on the line, nesting, and groups.
//!
//! The formatter builds a [`Doc`] for each item; [`render`] decides where
//! lines break so that output stays within the width when it can.

/// A document to lay out.
#[derive(Clone, Debug)]
pub enum Doc {
    /// Literal text (may contain newlines only for verbatim source).
    Text(String),
    /// A space, or a newline when the enclosing group breaks.
    Line,
    /// Nothing, or a newline when the enclosing group breaks.
    SoftLine,
    /// Always a newline.
    HardLine,
    /// Text printed only when the enclosing group breaks (a trailing comma).
    IfBreak(&'static str),
    /// Indents the lines inside by the given number of spaces.
    Nest(usize, Box<Doc>),
    /// Lays its content out flat if it fits, else breaks its lines.
    Group(Box<Doc>),
    /// A sequence.
    Concat(Vec<Doc>),
}

/// Literal text.
pub fn text(s: impl Into<String>) -> Doc {
    Doc::Text(s.into())
}

/// A sequence of documents.
pub fn concat(parts: impl IntoIterator<Item = Doc>) -> Doc {
    Doc::Concat(parts.into_iter().collect())
}

/// An indented part.
pub fn nest(indent: usize, doc: Doc) -> Doc {
    Doc::Nest(indent, Box::new(doc))
}

/// A group that breaks as a whole.
pub fn group(doc: Doc) -> Doc {
    Doc::Group(Box::new(doc))
}

/// `open items, ... close`: flat when it fits, else one item per line with
/// a trailing comma.
pub fn bracketed(open: &str, items: Vec<Doc>, close: &str) -> Doc {
    if items.is_empty() {
        return text(format!("{open}{close}"));
    }
    let mut inner = vec![Doc::SoftLine];
    let count = items.len();
    for (i, item) in items.into_iter().enumerate() {
        inner.push(item);
        if i + 1 < count {
            inner.push(text(","));
            inner.push(Doc::Line);
        }
    }
    inner.push(Doc::IfBreak(","));
    group(concat([text(open), nest(4, concat(inner)), Doc::SoftLine, text(close)]))
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Flat,
    Break,
}

/// Lays `doc` out within `width` columns.
pub fn render(doc: &Doc, width: usize) -> String {
    let mut out = String::new();
    let mut column = 0usize;
    let mut stack: Vec<(usize, Mode, &Doc)> = vec![(0, Mode::Break, doc)];
    while let Some((indent, mode, doc)) = stack.pop() {
        match doc {
            Doc::Text(s) => {
                out.push_str(s);
                column = match s.rfind('\n') {
                    Some(i) => s.len() - i - 1,
                    None => column + s.chars().count(),
                };
            }
            Doc::Line | Doc::SoftLine if mode == Mode::Flat => {
                if matches!(doc, Doc::Line) {
                    out.push(' ');
                    column += 1;
                }
            }
            Doc::Line | Doc::SoftLine | Doc::HardLine => {
                newline(&mut out, indent);
                column = indent;
            }
            Doc::IfBreak(s) => {
                if mode == Mode::Break {
                    out.push_str(s);
                    column += s.len();
                }
            }
            Doc::Nest(extra, inner) => stack.push((indent + extra, mode, inner)),
            Doc::Group(inner) => {
                let flat = fits(inner, width.saturating_sub(column), &stack);
                stack.push((indent, if flat { Mode::Flat } else { Mode::Break }, inner));
            }
            Doc::Concat(parts) => stack.extend(parts.iter().rev().map(|p| (indent, mode, p))),
        }
    }
    out
}

/// Starts a new line at `indent`, dropping trailing spaces of the last one.
fn newline(out: &mut String, indent: usize) {
    let trimmed = out.trim_end_matches(' ').len();
    out.truncate(trimmed);
    out.push('\n');
    out.extend(std::iter::repeat_n(' ', indent));
}

/// Whether `doc` laid out flat, followed by the rest up to the next line
/// break, fits in `room` columns.
fn fits(doc: &Doc, room: usize, rest: &[(usize, Mode, &Doc)]) -> bool {
    let mut room = room as isize;
    let mut pending: Vec<(Mode, &Doc)> = vec![(Mode::Flat, doc)];
    let mut rest = rest.iter().rev();
    loop {
        let Some((mode, doc)) = pending.pop().or_else(|| rest.next().map(|(_, m, d)| (*m, *d))) else {
            return true;
        };
        match doc {
            Doc::Text(s) => {
                if s.contains('\n') {
                    return room >= s.find('\n').unwrap_or(0) as isize;
                }
                room -= s.chars().count() as isize;
            }
            Doc::Line | Doc::SoftLine | Doc::HardLine if mode == Mode::Break || matches!(doc, Doc::HardLine) => {
                return room >= 0;
            }
            Doc::Line => room -= 1,
            Doc::SoftLine | Doc::HardLine => {}
            Doc::IfBreak(s) => {
                if mode == Mode::Break {
                    room -= s.len() as isize;
                }
            }
            Doc::Nest(_, inner) | Doc::Group(inner) => {
                pending.push((if matches!(doc, Doc::Group(_)) { Mode::Flat } else { mode }, inner))
            }
            Doc::Concat(parts) => pending.extend(parts.iter().rev().map(|p| (mode, p))),
        }
        if room < 0 {
            return false;
        }
    }
}
