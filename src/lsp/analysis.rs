//! One version of a document, parsed and checked by the same code as
//! `pipe check`, and its problems as LSP diagnostics.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lsp_types::{DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString};
use miette::{Diagnostic, Severity};

use super::text::LineIndex;
use super::uri;
use crate::check::{self, Report};
use crate::source::{FileId, SourceMap};
use crate::syntax::{self, Parsed};

/// A text with what the parser and checker made of it.
pub struct Analysis {
    /// The text analysed.
    pub text: Arc<str>,
    /// The items, comments and syntax errors.
    pub parsed: Parsed,
    /// The checker's findings (empty when the text has syntax errors).
    pub report: Report,
    /// The root file (id 0) and the files it imports.
    pub sources: SourceMap,
    /// The folder the file's imports and data paths start from.
    pub dir: Option<PathBuf>,
}

impl Analysis {
    /// Parses and checks `text`, the contents of the file at `path`; given
    /// up (`None`) as soon as `stop` says so.
    pub fn until(text: &str, path: Option<&Path>, stop: &dyn Fn() -> bool) -> Option<Self> {
        let mut sources = SourceMap::new();
        let name = path.map_or_else(|| "untitled.pipe".to_string(), |p| p.display().to_string());
        let file = sources.add(name, text);
        let parsed = syntax::parse(text, file);
        if stop() {
            return None;
        }
        let dir = path.and_then(Path::parent).map(Path::to_path_buf);
        let report = if parsed.has_errors() {
            Report::default()
        } else {
            check::check_until(&parsed.program, &mut sources, dir.as_deref(), stop)?
        };
        Some(Analysis { text: Arc::from(text), parsed, report, sources, dir })
    }

    /// Whether the text parsed (so the checker's findings are complete).
    pub fn parsed_cleanly(&self) -> bool {
        !self.parsed.has_errors()
    }

    /// Every problem, grouped by the file it is in: the root file under
    /// `root` (its URI), imported files under theirs. Files without a path
    /// on disk (the embedded standard library) are left out.
    pub fn diagnostics(&self, root: &lsp_types::Uri) -> BTreeMap<String, Vec<lsp_types::Diagnostic>> {
        let mut by_file: BTreeMap<String, Vec<lsp_types::Diagnostic>> = BTreeMap::new();
        by_file.insert(root.as_str().to_string(), Vec::new());
        let found = self.parsed.errors.iter().map(|e| (e as &dyn Diagnostic, e.primary_span()));
        let imported = self.report.syntax.iter().map(|e| (e as &dyn Diagnostic, e.primary_span()));
        let checked = self.report.errors.iter().map(|e| (e as &dyn Diagnostic, e.primary_span()));
        for (diagnostic, span) in found.chain(imported).chain(checked) {
            let Some(file_uri) = self.file_uri(span.file, root) else { continue };
            let file = self.sources.get(span.file);
            let lines = LineIndex::new(&file.text);
            let converted = convert(diagnostic, span, &lines, &file_uri);
            by_file.entry(file_uri.as_str().to_string()).or_default().push(converted);
        }
        by_file
    }

    /// The URI of a loaded file: the document itself, or an imported file.
    pub fn file_uri(&self, file: FileId, root: &lsp_types::Uri) -> Option<lsp_types::Uri> {
        if file == FileId(0) {
            return Some(root.clone());
        }
        let name = Path::new(&self.sources.get(file).name);
        let path = if name.is_absolute() { name.to_path_buf() } else { self.dir.as_ref()?.join(name) };
        path.is_file().then(|| uri::from_path(&path)).flatten()
    }
}

/// One diagnostic for an editor: the message with its help, the code, the
/// primary label's range, and the other labels as related information.
fn convert(
    diagnostic: &dyn Diagnostic,
    span: crate::source::Span,
    lines: &LineIndex,
    file_uri: &lsp_types::Uri,
) -> lsp_types::Diagnostic {
    let severity = match diagnostic.severity().unwrap_or(Severity::Error) {
        Severity::Error => DiagnosticSeverity::ERROR,
        Severity::Warning => DiagnosticSeverity::WARNING,
        Severity::Advice => DiagnosticSeverity::HINT,
    };
    let mut message = diagnostic.to_string();
    let labels: Vec<_> = diagnostic.labels().map(|l| l.collect()).unwrap_or_default();
    let primary_label =
        labels.iter().find(|l| l.offset() == span.start).and_then(|l| l.label()).filter(|l| !l.is_empty());
    if let Some(label) = primary_label {
        message.push_str(&format!(": {label}"));
    }
    if let Some(help) = diagnostic.help() {
        message.push_str(&format!("\nhelp: {help}"));
    }
    let related: Vec<DiagnosticRelatedInformation> = labels
        .iter()
        .filter(|l| l.offset() != span.start)
        .map(|l| DiagnosticRelatedInformation {
            location: Location { uri: file_uri.clone(), range: lines.range(l.offset(), l.offset() + l.len()) },
            message: l.label().unwrap_or("here").to_string(),
        })
        .collect();
    lsp_types::Diagnostic {
        range: lines.range(span.start, span.end),
        severity: Some(severity),
        code: diagnostic.code().map(|c| NumberOrString::String(c.to_string())),
        source: Some("pipe".into()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        ..Default::default()
    }
}
