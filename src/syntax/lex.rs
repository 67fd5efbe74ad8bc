//! A light lexical scan that runs before the grammar.
//!
//! The PEG parser is good at saying what it expected at the furthest point it
//! reached, but poor at delimiters: for an unclosed `{` it complains somewhere
//! far below. This scan matches brackets, strings and comments the way a
//! reader does and reports those mistakes at the opening token, like rustc.
//! It also finds the comments, which the formatter keeps, and caps nesting so
//! the recursive parser can never run out of stack.

use crate::source::{FileId, Span};
use crate::syntax::error::SyntaxError;

/// Deepest bracket nesting (and longest run of prefix operators) accepted.
pub const MAX_NESTING: usize = 64;

/// A comment found in the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// From `//` to the end of the line (newline excluded), or `/*` to `*/`.
    pub span: Span,
    /// Whether it is a `/* */` comment.
    pub block: bool,
}

/// What the scan found in one range of a file.
#[derive(Debug, Default)]
pub struct Scan {
    /// Comments in source order.
    pub comments: Vec<Comment>,
    /// Lexical mistakes in source order.
    pub errors: Vec<SyntaxError>,
}

/// Scans `text[start..end]`; offsets in the result are file offsets.
pub fn scan(text: &str, file: FileId, start: usize, end: usize) -> Scan {
    let mut scanner = Scanner {
        bytes: text.as_bytes(),
        text,
        file,
        pos: start,
        end,
        opens: Vec::new(),
        prefix_run: 0,
        scan: Scan::default(),
    };
    scanner.run();
    scanner.scan
}

struct Scanner<'a> {
    bytes: &'a [u8],
    text: &'a str,
    file: FileId,
    pos: usize,
    end: usize,
    /// Open brackets: the bracket and its offset.
    opens: Vec<(u8, usize)>,
    /// Consecutive prefix operators (`-`, `not`) seen so far.
    prefix_run: usize,
    scan: Scan,
}

impl Scanner<'_> {
    fn run(&mut self) {
        while self.pos < self.end {
            if !self.step() {
                return;
            }
        }
        self.report_unclosed(self.end);
    }

    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, start, end)
    }

    fn peek(&self, offset: usize) -> u8 {
        let i = self.pos + offset;
        if i < self.end { self.bytes[i] } else { 0 }
    }

    /// Consumes one token; returns false when scanning must stop.
    fn step(&mut self) -> bool {
        let b = self.peek(0);
        match b {
            b'/' if self.peek(1) == b'/' => self.line_comment(),
            b'/' if self.peek(1) == b'*' => return self.block_comment(),
            // After an unclosed string the rest of the line is garbage: any
            // further report would only be a consequence of this one.
            b'"' => return self.string(),
            b'(' | b'[' | b'{' => return self.open(b),
            b')' | b']' | b'}' => self.close(b),
            b'-' if self.peek(1) != b'>' => return self.prefix(1),
            b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
            _ if b.is_ascii_alphanumeric() || b == b'_' => return self.word(),
            _ => {
                self.prefix_run = 0;
                self.pos += 1;
            }
        }
        true
    }

    fn line_comment(&mut self) {
        let start = self.pos;
        while self.pos < self.end && self.bytes[self.pos] != b'\n' {
            self.pos += 1;
        }
        self.scan.comments.push(Comment { span: self.span(start, self.pos), block: false });
    }

    /// `/* ... */`, nesting like the grammar's `block_comment`.
    fn block_comment(&mut self) -> bool {
        let start = self.pos;
        let mut depth = 0usize;
        while self.pos < self.end {
            if self.peek(0) == b'/' && self.peek(1) == b'*' {
                depth += 1;
                if depth > MAX_NESTING {
                    // The grammar's comment rule recurses per level.
                    self.scan
                        .errors
                        .push(SyntaxError::TooDeep { span: self.span(self.pos, self.pos + 2), limit: MAX_NESTING });
                    return false;
                }
                self.pos += 2;
            } else if self.peek(0) == b'*' && self.peek(1) == b'/' {
                depth -= 1;
                self.pos += 2;
                if depth == 0 {
                    self.scan.comments.push(Comment { span: self.span(start, self.pos), block: true });
                    return true;
                }
            } else {
                self.pos += 1;
            }
        }
        self.scan.errors.push(SyntaxError::UnterminatedComment { span: self.span(start, start + 2) });
        false
    }

    /// A string literal; it may not cross a line end. Returns false (stop
    /// scanning) when it is not closed.
    fn string(&mut self) -> bool {
        self.prefix_run = 0;
        let start = self.pos;
        self.pos += 1;
        while self.pos < self.end {
            match self.bytes[self.pos] {
                b'"' => {
                    self.pos += 1;
                    return true;
                }
                b'\n' => break,
                b'\\' => self.escape(),
                _ => self.pos += 1,
            }
        }
        let line_end = self.pos;
        self.scan.errors.push(SyntaxError::UnterminatedString { span: self.span(start, line_end) });
        false
    }

    /// A backslash escape inside a string; reports the ones the grammar rejects.
    fn escape(&mut self) {
        let start = self.pos;
        let rest = &self.text[start + 1..self.end];
        let len = match rest.chars().next() {
            Some('"' | '\\' | 'n' | 't' | 'r' | '0') => 1,
            Some('u') => unicode_escape_len(rest).unwrap_or(0),
            _ => 0,
        };
        if len == 0 {
            let shown = rest.chars().next().filter(|c| *c != '\n').map_or(0, char::len_utf8);
            self.scan.errors.push(SyntaxError::InvalidEscape { span: self.span(start, start + 1 + shown) });
            self.pos += 1 + shown;
        } else {
            self.pos += 1 + len;
        }
    }

    fn open(&mut self, b: u8) -> bool {
        self.prefix_run = 0;
        if self.opens.len() >= MAX_NESTING {
            self.scan.errors.push(SyntaxError::TooDeep { span: self.span(self.pos, self.pos + 1), limit: MAX_NESTING });
            return false;
        }
        self.opens.push((b, self.pos));
        self.pos += 1;
        true
    }

    fn close(&mut self, b: u8) {
        self.prefix_run = 0;
        let here = self.pos;
        self.pos += 1;
        let wanted = opener_of(b);
        match self.opens.iter().rposition(|(o, _)| *o == wanted) {
            None => self
                .scan
                .errors
                .push(SyntaxError::UnexpectedCloser { found: b as char, span: self.span(here, here + 1) }),
            Some(i) => {
                // Brackets opened inside this pair and never closed: report
                // the innermost, with the closer that cut it short.
                if let Some(&(inner, at)) = self.opens.get(i + 1..).and_then(|o| o.last()) {
                    self.scan.errors.push(SyntaxError::MismatchedCloser {
                        open: inner as char,
                        open_span: self.span(at, at + 1),
                        found: b as char,
                        span: self.span(here, here + 1),
                    });
                }
                self.opens.truncate(i);
            }
        }
    }

    /// A `-` that may be a prefix operator; long runs would nest too deep.
    fn prefix(&mut self, len: usize) -> bool {
        self.prefix_run += 1;
        if self.prefix_run > MAX_NESTING {
            self.scan
                .errors
                .push(SyntaxError::TooDeep { span: self.span(self.pos, self.pos + len), limit: MAX_NESTING });
            return false;
        }
        self.pos += len;
        true
    }

    fn word(&mut self) -> bool {
        let start = self.pos;
        while self.pos < self.end && (self.bytes[self.pos].is_ascii_alphanumeric() || self.bytes[self.pos] == b'_') {
            self.pos += 1;
        }
        if &self.text[start..self.pos] == "not" {
            self.pos = start;
            return self.prefix(3);
        }
        self.prefix_run = 0;
        true
    }

    /// Every bracket still open at the end of the range is unclosed; the
    /// outermost is the one to report (inner ones follow from it).
    fn report_unclosed(&mut self, end: usize) {
        let Some(&(b, at)) = self.opens.first() else { return };
        let close = closer_of(b);
        let expected_at = self.span(last_token_end(self.text, at, end), last_token_end(self.text, at, end));
        let error = if b == b'{' {
            SyntaxError::UnclosedBlock { span: self.span(at, at + 1), end: expected_at }
        } else {
            SyntaxError::UnclosedDelimiter { open: b as char, close, span: self.span(at, at + 1), end: expected_at }
        };
        self.scan.errors.push(error);
    }
}

/// The length of `u{XXXX}` at the start of `rest` (after the backslash).
fn unicode_escape_len(rest: &str) -> Option<usize> {
    let body = rest.strip_prefix("u{")?;
    // At most six hex digits: look no further than that.
    let close = body.char_indices().take(8).find(|(_, c)| *c == '}').map(|(i, _)| i)?;
    let hex = &body[..close];
    let valid = (1..=6).contains(&hex.len()) && u32::from_str_radix(hex, 16).ok().and_then(char::from_u32).is_some();
    valid.then_some(2 + close + 1)
}

fn opener_of(close: u8) -> u8 {
    match close {
        b')' => b'(',
        b']' => b'[',
        _ => b'{',
    }
}

fn closer_of(open: u8) -> char {
    match open {
        b'(' => ')',
        b'[' => ']',
        _ => '}',
    }
}

/// The end of the last non-blank, non-comment text in `text[from..to]`: the
/// place where a missing closer belongs.
fn last_token_end(text: &str, from: usize, to: usize) -> usize {
    let slice = &text[from..to];
    let mut end = slice.trim_end().len();
    // Step back over trailing line comments.
    loop {
        let line_start = slice[..end].rfind('\n').map_or(0, |i| i + 1);
        let line = &slice[line_start..end];
        match line.find("//") {
            Some(c) if !line[..c].contains('"') => {
                let trimmed = slice[..line_start + c].trim_end().len();
                if trimmed == end || trimmed == 0 {
                    break;
                }
                end = trimmed;
            }
            _ => break,
        }
    }
    from + end
}
