//! Syntax: `.pipe` text to an owned AST with spans, or syntax errors.
//!
//! This is the only module that sees pest. The flow is:
//! 1. [`lex::scan`] matches brackets, strings and comments and caps nesting;
//! 2. the pest grammar (`grammar/pipe.pest`) parses the whole file;
//! 3. `lower` turns pest's pairs into the [`ast`];
//! 4. on any mistake, `recover` cuts the file at item boundaries and steps
//!    1–3 run per chunk, so that each broken item gets its own diagnostic.

pub mod ast;
mod error;
mod expected;
mod grammar;
pub mod lex;
mod lower;
mod recover;

use pest::Parser;

pub use ast::*;
pub use error::SyntaxError;
pub use lex::Comment;

use crate::source::{FileId, Span};
use grammar::{PipeParser, Rule};

/// The result of parsing one file: the items that parsed, the comments, and
/// every mistake found.
#[derive(Debug)]
pub struct Parsed {
    /// The items that parsed (all of them when `errors` is empty).
    pub program: Program,
    /// The comments, in source order (the formatter keeps them).
    pub comments: Vec<Comment>,
    /// Syntax errors and warnings, in source order.
    pub errors: Vec<SyntaxError>,
}

impl Parsed {
    /// Whether any of `errors` is an error rather than a warning.
    pub fn has_errors(&self) -> bool {
        self.errors.iter().any(SyntaxError::is_error)
    }
}

/// Parses file bytes: invalid UTF-8 is an error and nothing is parsed.
/// Returns the text (lossily decoded) with the result.
pub fn parse_bytes(bytes: &[u8], file: FileId) -> (String, Parsed) {
    let (text, bad_byte) = crate::source::decode(bytes);
    match bad_byte {
        Some(at) => {
            let error = SyntaxError::InvalidUtf8 { span: Span::new(file, at, at + 1) };
            (text, Parsed { program: Program { items: vec![] }, comments: vec![], errors: vec![error] })
        }
        None => {
            let parsed = parse(&text, file);
            (text, parsed)
        }
    }
}

/// Parses the text of one file.
pub fn parse(text: &str, file: FileId) -> Parsed {
    let scan = lex::scan(text, file, 0, text.len());
    if scan.errors.is_empty()
        && let Ok(items) = parse_range(text, file, 0, text.len(), &scan.comments)
    {
        return finish(file, items, scan.comments, vec![]);
    }
    // Something is wrong. pest's detailed expectations (the literal tokens
    // it tried) cost time, so they are collected only from here on; the
    // setting is process-wide and never turned off again, so every parse
    // that reports an error below has them.
    pest::set_error_detail(true);
    let opaque = opaque_ranges(text, &scan);
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for (start, end) in recover::chunks(text, &opaque) {
        let chunk_scan = lex::scan(text, file, start, end);
        if !chunk_scan.errors.is_empty() {
            errors.extend(chunk_scan.errors);
            continue;
        }
        match parse_range(text, file, start, end, &chunk_scan.comments) {
            Ok(mut chunk_items) => items.append(&mut chunk_items),
            Err(error) => errors.push(error),
        }
    }
    errors.sort_by_key(|e| e.primary_span().start);
    errors.dedup();
    finish(file, items, scan.comments, errors)
}

/// Comment ranges (an unclosed `/*` runs to the end of the file).
fn opaque_ranges(text: &str, scan: &lex::Scan) -> Vec<(usize, usize)> {
    let mut ranges: Vec<(usize, usize)> = scan.comments.iter().map(|c| (c.span.start, c.span.end)).collect();
    for error in &scan.errors {
        if let SyntaxError::UnterminatedComment { span } = error {
            ranges.push((span.start, text.len()));
        }
    }
    ranges.sort_unstable();
    ranges
}

fn finish(file: FileId, items: Vec<Item>, comments: Vec<Comment>, mut errors: Vec<SyntaxError>) -> Parsed {
    if items.is_empty() && errors.is_empty() {
        errors.push(SyntaxError::EmptyFile { span: Span::point(file, 0) });
    }
    Parsed { program: Program { items }, comments, errors }
}

/// Parses `text[start..end]` as a sequence of items.
fn parse_range(
    text: &str,
    file: FileId,
    start: usize,
    end: usize,
    comments: &[Comment],
) -> Result<Vec<Item>, SyntaxError> {
    let chunk = &text[start..end];
    let pairs = PipeParser::parse(Rule::program, chunk).map_err(|e| expected::describe(&e, text, file, start, end))?;
    lower::Lowerer::new(file, start, text, comments).program(pairs)
}

/// Whether two programs are the same tree, ignoring spans (what the
/// formatter must preserve).
pub fn same_program(a: &Program, b: &Program) -> bool {
    // Item by item: the JSON form of a whole large file would take hundreds
    // of bytes per byte of source (`pipe fmt` on 1 MB needed 700 MB).
    a.items.len() == b.items.len() && a.items.iter().zip(&b.items).all(|(x, y)| spanless_item(x) == spanless_item(y))
}

/// One item as JSON, without its spans.
fn spanless_item(item: &Item) -> serde_json::Value {
    let mut value = serde_json::to_value(item).unwrap_or_default();
    strip_spans(&mut value);
    value
}

/// The program as JSON with every span removed.
pub fn spanless(program: &Program) -> serde_json::Value {
    let mut value = serde_json::to_value(program).unwrap_or_default();
    strip_spans(&mut value);
    value
}

fn strip_spans(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.remove("span");
            map.values_mut().for_each(strip_spans);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_spans),
        _ => {}
    }
}
