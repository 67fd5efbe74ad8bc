//! Printing diagnostics: for people (miette's graphical report, with or
//! without colour) and for tools (one JSON object per line).
//!
//! Errors are data: each phase's error enum carries spans but no text. The
//! source is attached here, when printing.

use std::fmt;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, Severity, SourceCode, SourceSpan};
use serde::Serialize;

use crate::source::{SourceFile, floor_char_boundary};

/// How to print diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// miette's report, with ANSI colours when `color` is set, wrapped at `width`.
    Human {
        /// Use ANSI colours.
        color: bool,
        /// Terminal width to wrap at.
        width: usize,
    },
    /// One JSON object per diagnostic, per line.
    Json,
}

/// Renders one diagnostic about `file` in the given style (no trailing
/// newline for JSON; the human form ends with one).
pub fn render(diagnostic: &dyn Diagnostic, file: &SourceFile, style: Style) -> String {
    match style {
        Style::Human { color, width } => render_human(diagnostic, file, color, width),
        Style::Json => render_json(diagnostic, file),
    }
}

fn render_human(diagnostic: &dyn Diagnostic, file: &SourceFile, color: bool, width: usize) -> String {
    let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(width).with_links(false);
    // No source (an error of a run folder, of the command line): no snippet
    // pointing at an empty file's line 1.
    let labels: Vec<LabeledSpan> =
        if file.text.is_empty() { Vec::new() } else { diagnostic.labels().map(Iterator::collect).unwrap_or_default() };
    let (text, map) = elide_long_lines(&file.text, &labels);
    let text = shown_source(&text);
    let labels = labels.iter().map(|l| map.label(l)).map(|l| visible_label(&l)).collect();
    let attached = Attached {
        inner: diagnostic,
        source: miette::NamedSource::new(&file.name, text).with_language("pipe"),
        labels,
    };
    let mut out = String::new();
    if handler.render_report(&mut out, &attached).is_err() {
        out = format!("{diagnostic}\n");
    }
    out
}

/// A diagnostic with its source attached (and labels moved to match an
/// elided source).
struct Attached<'a> {
    inner: &'a dyn Diagnostic,
    source: miette::NamedSource<String>,
    labels: Vec<LabeledSpan>,
}

impl fmt::Debug for Attached<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.inner, f)
    }
}

impl fmt::Display for Attached<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&visible(&self.inner.to_string()))
    }
}

impl std::error::Error for Attached<'_> {}

impl Diagnostic for Attached<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.inner.code()
    }
    fn severity(&self) -> Option<Severity> {
        self.inner.severity()
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.inner.help().map(|h| Box::new(visible(&h.to_string())) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
}

/// Whether a terminal would not show `c` as written: control characters
/// (NUL, ESC, which can also recolour the terminal) and invisible format
/// characters (zero-width spaces and joiners, direction marks and
/// overrides, the byte-order mark).
fn hidden(c: char) -> bool {
    // A CR is a line end (CRLF files keep theirs; miette shows them as such).
    (c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        || matches!(c, '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}')
        || matches!(c, '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// `text` with its hidden characters written as escapes (`\u{200b}`), so
/// that a name a message quotes shows what it really holds.
pub fn visible(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if hidden(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// The source as the excerpt shows it: each hidden character replaced by
/// visible ones of the same length in bytes (`?`, or U+FFFD for three
/// bytes), so the labels' byte offsets still hold.
fn shown_source(text: &str) -> String {
    if !text.chars().any(hidden) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| match c {
            c if !hidden(c) => c.to_string(),
            c if c.len_utf8() == 3 => "\u{FFFD}".to_owned(),
            c => "?".repeat(c.len_utf8()),
        })
        .collect()
}

fn visible_label(label: &LabeledSpan) -> LabeledSpan {
    let text = label.label().map(visible);
    let span = SourceSpan::new(label.offset().into(), label.len());
    if label.primary() {
        LabeledSpan::new_primary_with_span(text, span)
    } else {
        LabeledSpan::new_with_span(text, span)
    }
}

/// Lines longer than this are cut around the labels when printed.
const LONG_LINE: usize = 200;
/// Characters kept on each side of the labels on a cut line.
const CONTEXT: usize = 40;

/// Which byte ranges of the original text were kept, and where they went.
struct OffsetMap {
    /// `(old_start, old_end, new_start)`, in order.
    kept: Vec<(usize, usize, usize)>,
}

impl OffsetMap {
    fn offset(&self, old: usize) -> usize {
        let mut last_end = 0;
        for &(start, end, new_start) in &self.kept {
            if old < start {
                return new_start;
            }
            if old <= end {
                return new_start + (old - start);
            }
            last_end = new_start + (end - start);
        }
        last_end
    }

    fn label(&self, label: &LabeledSpan) -> LabeledSpan {
        let start = self.offset(label.offset());
        let end = self.offset(label.offset() + label.len()).max(start);
        let span = SourceSpan::new(start.into(), end - start);
        if label.primary() {
            LabeledSpan::new_primary_with_span(label.label().map(str::to_owned), span)
        } else {
            LabeledSpan::new_with_span(label.label().map(str::to_owned), span)
        }
    }
}

/// Replaces the parts of very long lines far from any label with `…`, so a
/// diagnostic about a 1 MB line prints a readable excerpt.
fn elide_long_lines(text: &str, labels: &[LabeledSpan]) -> (String, OffsetMap) {
    let mut out = String::with_capacity(text.len().min(1 << 16));
    let mut kept = Vec::new();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let line_end = line_start + line.len();
        if line.len() <= LONG_LINE {
            kept.push((line_start, line_end, out.len()));
            out.push_str(line);
        } else {
            let (from, to) = window(text, line_start, line_end, labels);
            let content_end = line_start + line.trim_end_matches('\n').len();
            if from > line_start {
                out.push('…');
            }
            kept.push((from, to, out.len()));
            out.push_str(&text[from..to]);
            if to < content_end {
                out.push('…');
            }
            if line.ends_with('\n') {
                out.push('\n');
            }
        }
        line_start = line_end;
    }
    (out, OffsetMap { kept })
}

/// The part of one long line worth showing: around its labels, or its start.
fn window(text: &str, line_start: usize, line_end: usize, labels: &[LabeledSpan]) -> (usize, usize) {
    let points: Vec<usize> = labels
        .iter()
        .flat_map(|l| [l.offset(), l.offset() + l.len()])
        .filter(|p| (line_start..=line_end).contains(p))
        .collect();
    let (low, high) = match (points.iter().min(), points.iter().max()) {
        (Some(&low), Some(&high)) => (low.saturating_sub(CONTEXT).max(line_start), (high + CONTEXT).min(line_end)),
        _ => (line_start, (line_start + 2 * CONTEXT).min(line_end)),
    };
    let high = high.min(low + 4 * LONG_LINE);
    let content_end = if text[..line_end].ends_with('\n') { line_end - 1 } else { line_end };
    (floor_char_boundary(text, low), floor_char_boundary(text, high.min(content_end)))
}

/// The JSON form of a diagnostic.
#[derive(Serialize)]
struct JsonDiagnostic {
    severity: &'static str,
    code: Option<String>,
    message: String,
    file: String,
    help: Option<String>,
    labels: Vec<JsonLabel>,
}

#[derive(Serialize)]
struct JsonLabel {
    message: Option<String>,
    primary: bool,
    start: usize,
    end: usize,
    line: usize,
    column: usize,
}

fn render_json(diagnostic: &dyn Diagnostic, file: &SourceFile) -> String {
    let labels = diagnostic
        .labels()
        .map(|labels| {
            labels
                .map(|l| {
                    let (line, column) = file.line_col(l.offset());
                    JsonLabel {
                        message: l.label().map(visible),
                        primary: l.primary(),
                        start: l.offset(),
                        end: l.offset() + l.len(),
                        line,
                        column,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let json = JsonDiagnostic {
        severity: severity_name(diagnostic.severity()),
        code: diagnostic.code().map(|c| c.to_string()),
        message: visible(&diagnostic.to_string()),
        file: file.name.clone(),
        help: diagnostic.help().map(|h| visible(&h.to_string())),
        labels,
    };
    serde_json::to_string(&json).unwrap_or_default()
}

/// "error", "warning" or "advice".
pub fn severity_name(severity: Option<Severity>) -> &'static str {
    match severity.unwrap_or(Severity::Error) {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Advice => "advice",
    }
}
