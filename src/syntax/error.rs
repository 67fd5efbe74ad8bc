//! Syntax errors: every mistake the parser can report, with a stable code.
//!
//! Each variant's doc comment shows an input that triggers it; the UI tests in
//! `tests/ui/syntax/` hold one file per variant at least.

use miette::Diagnostic;
use thiserror::Error;

use crate::source::Span;

/// A mistake in the text of a `.pipe` file.
#[derive(Clone, Debug, Error, Diagnostic, PartialEq)]
pub enum SyntaxError {
    /// `model m { dense(3)` — a `{` with no matching `}`.
    #[error("this block is never closed")]
    #[diagnostic(code(pipe::syntax::unclosed_block), help("add `}}` where the block ends"))]
    UnclosedBlock {
        /// The `{`.
        #[label(primary, "this `{{` has no matching `}}`")]
        span: Span,
        /// Where the parser gave up looking.
        #[label("expected `}}` here at the latest")]
        end: Span,
    },

    /// `stage s = f(a, b` — a `(` or `[` with no matching closer.
    #[error("this `{open}` is never closed")]
    #[diagnostic(code(pipe::syntax::unclosed_delimiter), help("add `{close}` to close it"))]
    UnclosedDelimiter {
        /// The opening bracket.
        open: char,
        /// The bracket that would close it.
        close: char,
        /// The opening bracket's place.
        #[label(primary, "unclosed `{open}`")]
        span: Span,
        /// Where the parser gave up looking.
        #[label("expected `{close}` here at the latest")]
        end: Span,
    },

    /// `f([1, 2)` — a closer that does not match the innermost open bracket.
    #[error("mismatched closing delimiter `{found}`")]
    #[diagnostic(code(pipe::syntax::mismatched_delimiter), help("close the `{open}` before this `{found}`"))]
    MismatchedCloser {
        /// The innermost open bracket.
        open: char,
        /// Where it was opened.
        #[label("this `{open}` is still open")]
        open_span: Span,
        /// The closer found.
        found: char,
        /// The closer's place.
        #[label(primary, "`{found}` found here")]
        span: Span,
    },

    /// `let x = 3)` — a closer with no opener.
    #[error("unexpected closing delimiter `{found}`")]
    #[diagnostic(
        code(pipe::syntax::unexpected_closing_delimiter),
        help("remove it, or add the bracket it was meant to close")
    )]
    UnexpectedCloser {
        /// The closer found.
        found: char,
        /// Its place.
        #[label(primary, "nothing is open here")]
        span: Span,
    },

    /// `source s = csv("data.csv)` — a string without its closing quote.
    #[error("this string is never closed")]
    #[diagnostic(
        code(pipe::syntax::unterminated_string),
        help("add `\"` at the end of the string; strings cannot span lines (write `\\n` for a line break)")
    )]
    UnterminatedString {
        /// From the opening quote to the end of its line.
        #[label(primary, "the string starts here and runs to the end of the line")]
        span: Span,
    },

    /// `/* never closed` — a block comment without `*/`.
    #[error("this comment is never closed")]
    #[diagnostic(
        code(pipe::syntax::unterminated_comment),
        help("add `*/` where the comment ends (block comments nest: each `/*` needs its own `*/`)")
    )]
    UnterminatedComment {
        /// The `/*`.
        #[label(primary, "the comment starts here")]
        span: Span,
    },

    /// `"C:\data"` — an escape the language does not know.
    #[error("unknown escape in string")]
    #[diagnostic(
        code(pipe::syntax::invalid_escape),
        help(
            "the escapes are \\\" \\\\ \\n \\t \\r \\0 and \\u{{1F600}}; for a backslash write \\\\ (paths may use `/` on every system)"
        )
    )]
    InvalidEscape {
        /// The backslash and the character after it.
        #[label(primary, "not a valid escape")]
        span: Span,
    },

    /// `lr: 1e` — digits that do not form a number.
    #[error("malformed number `{text}`")]
    #[diagnostic(code(pipe::syntax::bad_number), help("{help}"))]
    BadNumber {
        /// The text as written.
        text: String,
        /// What is wrong and how to write it.
        help: String,
        /// Its place.
        #[label(primary, "{reason}")]
        span: Span,
        /// A short reason.
        reason: String,
    },

    /// `sorce people = csv("p.csv")` — a word where an item keyword belongs.
    #[error("unknown item `{word}`")]
    #[diagnostic(code(pipe::syntax::unknown_item), help("{help}"))]
    UnknownItem {
        /// The word found.
        word: String,
        /// "did you mean ..." or the list of keywords.
        help: String,
        /// Its place.
        #[label(primary, "expected an item keyword here")]
        span: Span,
    },

    /// `let on = 3` — a reserved word used as a name.
    #[error("`{word}` is a reserved word and cannot be used as a name")]
    #[diagnostic(code(pipe::syntax::reserved_word), help("pick another name, such as `{word}_`"))]
    ReservedWord {
        /// The word.
        word: String,
        /// Its place.
        #[label(primary, "reserved word")]
        span: Span,
    },

    /// `stage s = a |> |> b`, `f(a b)` — anything else the grammar rejects.
    #[error("expected {expected}, found {found}")]
    #[diagnostic(code(pipe::syntax::unexpected_token))]
    Unexpected {
        /// What would have been valid here, in words.
        expected: String,
        /// What was there, in words.
        found: String,
        /// The offending token (empty at the end of the file).
        #[label(primary, "{label}")]
        span: Span,
        /// The primary label's text.
        label: String,
        /// A fix, when one is known.
        #[help]
        help: Option<String>,
    },

    /// `filter(18 <= age < 65)` — comparisons (and ranges) do not chain.
    #[error("`{first}` and `{second}` cannot be chained")]
    #[diagnostic(
        code(pipe::syntax::chained_comparison),
        help("compare twice and join with `and`: `18 <= age and age < 65`")
    )]
    ChainedComparison {
        /// The second operator.
        #[label(primary, "a second comparison of the result of the first")]
        span: Span,
        /// The first operator.
        first: String,
        /// The second operator.
        second: String,
    },

    /// `((((((...))))))` nested deeper than the parser allows.
    #[error("nested too deeply (more than {limit} levels)")]
    #[diagnostic(
        code(pipe::syntax::too_deep),
        help("split the expression into named items (`let`, `stage`) or a shorter chain")
    )]
    TooDeep {
        /// Where the limit was passed.
        #[label(primary, "this is nested more than {limit} levels deep")]
        span: Span,
        /// The limit.
        limit: usize,
    },

    /// A file that is not UTF-8 text.
    #[error("this file is not valid UTF-8 text")]
    #[diagnostic(code(pipe::syntax::invalid_utf8), help("save the file as UTF-8"))]
    InvalidUtf8 {
        /// The first invalid byte.
        #[label(primary, "invalid UTF-8 starts here")]
        span: Span,
    },

    /// An empty file (or one with only comments).
    #[error("this file declares nothing")]
    #[diagnostic(
        code(pipe::syntax::empty_file),
        severity(Warning),
        help("a pipeline starts with a `source`; see `docs/language.md`")
    )]
    EmptyFile {
        /// The start of the file.
        #[label(primary, "no items")]
        span: Span,
    },
}

impl SyntaxError {
    /// The span of the primary label, for sorting and for tools.
    pub fn primary_span(&self) -> Span {
        match self {
            SyntaxError::UnclosedBlock { span, .. }
            | SyntaxError::UnclosedDelimiter { span, .. }
            | SyntaxError::MismatchedCloser { span, .. }
            | SyntaxError::UnexpectedCloser { span, .. }
            | SyntaxError::UnterminatedString { span }
            | SyntaxError::UnterminatedComment { span }
            | SyntaxError::InvalidEscape { span }
            | SyntaxError::BadNumber { span, .. }
            | SyntaxError::UnknownItem { span, .. }
            | SyntaxError::ReservedWord { span, .. }
            | SyntaxError::Unexpected { span, .. }
            | SyntaxError::TooDeep { span, .. }
            | SyntaxError::ChainedComparison { span, .. }
            | SyntaxError::InvalidUtf8 { span }
            | SyntaxError::EmptyFile { span } => *span,
        }
    }

    /// Whether this is an error (as opposed to a warning).
    pub fn is_error(&self) -> bool {
        !matches!(self, SyntaxError::EmptyFile { .. })
    }
}
