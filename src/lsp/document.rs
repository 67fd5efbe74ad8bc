//! An open document: its latest text, the newest analysis (of that text,
//! or of an older one while a check runs), and the latest analysis that
//! parsed, which answers questions while the user is in the middle of
//! typing something that does not parse yet.

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
    /// Grows with each text (server-wide, so a document closed and opened
    /// again never meets an old text's number); the analysis of the newest
    /// carries it.
    pub generation: u64,
    /// The generation it was opened with: analyses older than that are of
    /// a text before it was last opened.
    pub opened: u64,
    /// The newest analysis, and the generation of the text it analysed
    /// (`None` until the first check ends).
    pub latest: Option<(u64, Analysis)>,
    /// The latest analysis of a text that parsed, when `latest` did not.
    pub last_parsed: Option<Analysis>,
    /// The files diagnostics were last published for (to clear them).
    pub published: BTreeSet<String>,
}

impl Document {
    /// A document opened with `text` as `generation` (to be analysed: see
    /// [`Document::analysed`]).
    pub fn open(uri: lsp_types::Uri, text: String, generation: u64) -> Self {
        let text = crate::source::normalize_line_ends(text);
        let path = uri::to_path(&uri);
        let published = BTreeSet::new();
        Document { uri, path, text, generation, opened: generation, latest: None, last_parsed: None, published }
    }

    /// Replaces the text, as `generation`.
    pub fn change(&mut self, text: String, generation: u64) {
        self.text = crate::source::normalize_line_ends(text);
        self.generation = generation;
    }

    /// Takes the analysis of the text of `generation`.
    pub fn analysed(&mut self, generation: u64, analysis: Analysis) {
        let previous = self.latest.replace((generation, analysis));
        if let Some((_, previous)) = previous
            && previous.parsed_cleanly()
        {
            self.last_parsed = Some(previous);
        }
        if self.latest.as_ref().is_some_and(|(_, a)| a.parsed_cleanly()) {
            self.last_parsed = None;
        }
    }

    /// Whether the newest analysis is of the current text.
    pub fn is_current(&self) -> bool {
        self.latest.as_ref().is_some_and(|(g, _)| *g == self.generation)
    }

    /// The newest analysis of the current text, if it is done.
    pub fn current(&self) -> Option<&Analysis> {
        self.latest.as_ref().filter(|(g, _)| *g == self.generation).map(|(_, a)| a)
    }

    /// The analysis to answer from (the newest one that parsed), and the
    /// place in its text of `offset` in the current text (`None` before the
    /// first check ends).
    pub fn semantic(&self, offset: usize) -> Option<(&Analysis, usize)> {
        let (_, latest) = self.latest.as_ref()?;
        let analysis = match &self.last_parsed {
            Some(old) if !latest.parsed_cleanly() => old,
            _ => latest,
        };
        let at = if *analysis.text == *self.text { offset } else { map_offset(&self.text, &analysis.text, offset) };
        Some((analysis, at))
    }
}
