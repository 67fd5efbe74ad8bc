//! `pipe check FILE...`

use std::path::PathBuf;

use super::read;
use super::report::{Reporter, plural};
use crate::source::{FileId, SourceFile};
use crate::syntax;

/// Checks each file; returns whether all were free of errors.
pub fn run(files: &[PathBuf], reporter: &mut Reporter) -> bool {
    for path in files {
        check_file(path, reporter);
    }
    let summary = match (reporter.errors, reporter.warnings) {
        (0, 0) => format!("checked {}: no problems", plural(files.len(), "file")),
        (e, w) => format!("checked {}: {}, {}", plural(files.len(), "file"), plural(e, "error"), plural(w, "warning")),
    };
    reporter.note(&summary);
    reporter.errors == 0
}

fn check_file(path: &std::path::Path, reporter: &mut Reporter) {
    let Some(bytes) = read(path, reporter) else { return };
    let (text, parsed) = syntax::parse_bytes(&bytes, FileId(0));
    let file = SourceFile { name: path.display().to_string(), text: text.into() };
    for error in &parsed.errors {
        reporter.report(error, &file);
    }
}
