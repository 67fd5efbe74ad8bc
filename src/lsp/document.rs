//! An open document: its latest text, the analysis of that text, and the
//! latest analysis that parsed, which answers questions while the user is
//! in the middle of typing something that does not parse yet.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::analysis::Analysis;
use super::text::map_offset;
use super::uri;

/// One open `.pipe` document.
pub struct Document {
    /// The editor's name for it.
    pub uri: lsp_types::Uri,
    /// Its path on disk (`None` for unsaved buffers: imports and data
    /// paths are then not resolved).
    pub path: Option<PathBuf>,
    /// The text as the editor has it now.
    pub text: String,
    /// The analysis of `text`.
    pub latest: Analysis,
    /// The latest analysis of a text that parsed, when `latest` did not.
    pub last_parsed: Option<Analysis>,
    /// The files diagnostics were last published for (to clear them).
    pub published: BTreeSet<String>,
}

impl Document {
    /// Opens a document and analyses it.
    pub fn open(uri: lsp_types::Uri, text: String) -> Self {
        let text = crate::source::normalize_line_ends(text);
        let path = uri::to_path(&uri);
        let latest = Analysis::new(&text, path.as_deref());
        Document { uri, path, text, latest, last_parsed: None, published: BTreeSet::new() }
    }

    /// Replaces the text and analyses it again.
    pub fn change(&mut self, text: String) {
        let text = crate::source::normalize_line_ends(text);
        let analysis = Analysis::new(&text, self.path.as_deref());
        let previous = std::mem::replace(&mut self.latest, analysis);
        if previous.parsed_cleanly() {
            self.last_parsed = Some(previous);
        }
        if self.latest.parsed_cleanly() {
            self.last_parsed = None;
        }
        self.text = text;
    }

    /// The analysis to answer from (the latest one that parsed), and the
    /// place in its text of `offset` in the current text.
    pub fn semantic(&self, offset: usize) -> (&Analysis, usize) {
        match &self.last_parsed {
            Some(old) if !self.latest.parsed_cleanly() => (old, map_offset(&self.text, &old.text, offset)),
            _ => (&self.latest, offset),
        }
    }
}
