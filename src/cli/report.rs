//! Where diagnostics go: people get miette reports on stderr, tools get JSON
//! lines on stdout (`--format json`).

use std::io::{IsTerminal, Write};

use miette::{Diagnostic, Severity};

use crate::diagnostic::{Style, render};
use crate::source::SourceFile;

/// Prints diagnostics and counts them.
pub struct Reporter {
    style: Style,
    /// Errors reported so far.
    pub errors: usize,
    /// Warnings reported so far.
    pub warnings: usize,
}

/// When to colour human output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal, unless `NO_COLOR` is set.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl Reporter {
    /// A reporter for human output (`json = false`) or JSON lines.
    pub fn new(json: bool, color: ColorChoice) -> Self {
        let style = if json { Style::Json } else { Style::Human { color: use_color(color), width: terminal_width() } };
        Reporter { style, errors: 0, warnings: 0 }
    }

    /// Whether output is JSON lines.
    pub fn is_json(&self) -> bool {
        self.style == Style::Json
    }

    /// Prints one diagnostic about `file`.
    pub fn report(&mut self, diagnostic: &dyn Diagnostic, file: &SourceFile) {
        match diagnostic.severity().unwrap_or(Severity::Error) {
            Severity::Error => self.errors += 1,
            _ => self.warnings += 1,
        }
        let text = render(diagnostic, file, self.style);
        // A closed pipe is not worth a panic; there is no one to tell.
        let _ = match self.style {
            Style::Json => writeln!(std::io::stdout(), "{text}"),
            Style::Human { .. } => write!(std::io::stderr(), "{text}"),
        };
    }

    /// Prints diagnostics as this reporter does, from any thread (for an
    /// error that ends the process: `run::fatal`).
    pub fn printer(&self) -> impl Fn(&dyn Diagnostic, &SourceFile) + Send + Sync + 'static {
        let style = self.style;
        move |diagnostic, file| {
            let text = render(diagnostic, file, style);
            let _ = match style {
                Style::Json => writeln!(std::io::stdout(), "{text}"),
                Style::Human { .. } => write!(std::io::stderr(), "{text}"),
            };
        }
    }

    /// A line for people (stderr), suppressed in JSON mode.
    pub fn note(&self, line: &str) {
        if !self.is_json() {
            let _ = writeln!(std::io::stderr(), "{line}");
        }
    }
}

fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
        }
    }
}

/// `COLUMNS` when set, else 100 (the width snapshots are taken at).
fn terminal_width() -> usize {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).filter(|w| *w >= 40).unwrap_or(100)
}

/// "1 error", "2 warnings"
pub fn plural(count: usize, word: &str) -> String {
    if count == 1 { format!("1 {word}") } else { format!("{count} {word}s") }
}
