//! `pipe fmt FILE... [--check]`

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::error::CliError;
use super::read;
use super::report::{Reporter, plural};
use crate::source::{FileId, SourceFile};
use crate::syntax;

/// Formats each file (or stdin for `-`); returns whether all succeeded and,
/// with `check`, whether all were already formatted.
pub fn run(files: &[PathBuf], check: bool, reporter: &mut Reporter) -> bool {
    let mut unformatted = 0;
    for path in files {
        match format_file(path, check, reporter) {
            Outcome::Unchanged | Outcome::Failed => {}
            Outcome::Changed => unformatted += 1,
        }
    }
    if check && unformatted > 0 {
        reporter.note(&format!("{} would be reformatted", plural(unformatted, "file")));
    }
    reporter.errors == 0 && !(check && unformatted > 0)
}

enum Outcome {
    Unchanged,
    Changed,
    Failed,
}

fn format_file(path: &Path, check: bool, reporter: &mut Reporter) -> Outcome {
    let stdin = path.as_os_str() == "-";
    let bytes = if stdin { read_stdin(reporter) } else { read(path, reporter) };
    let Some(bytes) = bytes else { return Outcome::Failed };
    let name = if stdin { "<stdin>".to_owned() } else { path.display().to_string() };
    let Some(formatted) = format_bytes(&bytes, &name, reporter) else { return Outcome::Failed };
    let unchanged = formatted.as_bytes() == bytes.as_slice();
    if stdin && !check {
        let _ = std::io::stdout().write_all(formatted.as_bytes());
        return Outcome::Unchanged;
    }
    if unchanged {
        return Outcome::Unchanged;
    }
    if check {
        reporter.note(&format!("would reformat {name}"));
        return Outcome::Changed;
    }
    // A link stays a link: the file it points to is the one rewritten.
    let target = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    match write_atomically(&target, formatted.as_bytes()) {
        Ok(()) => {
            reporter.note(&format!("formatted {name}"));
            Outcome::Changed
        }
        Err(e) => {
            let error = CliError::Write { path: name.clone(), reason: e.to_string() };
            reporter.report(&error, &SourceFile { name, text: "".into() });
            Outcome::Failed
        }
    }
}

/// The formatted text, or `None` after reporting why not.
fn format_bytes(bytes: &[u8], name: &str, reporter: &mut Reporter) -> Option<String> {
    let (text, parsed) = syntax::parse_bytes(bytes, FileId(0));
    let file = SourceFile { name: name.to_owned(), text: text.as_str().into() };
    for error in &parsed.errors {
        reporter.report(error, &file);
    }
    if parsed.has_errors() {
        return None;
    }
    let formatted = crate::format::format(&parsed.program, &parsed.comments, &text);
    // Never write a file whose meaning changed or whose comments were lost.
    let again = syntax::parse(&formatted, FileId(0));
    let same = !again.has_errors()
        && syntax::same_program(&parsed.program, &again.program)
        && again.comments.len() == parsed.comments.len();
    if !same {
        reporter.report(&CliError::FormatChangedMeaning { path: name.to_owned() }, &file);
        return None;
    }
    Some(formatted)
}

fn read_stdin(reporter: &mut Reporter) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    match std::io::stdin().read_to_end(&mut bytes) {
        Ok(_) => Some(bytes),
        Err(e) => {
            let error = CliError::Read { path: "<stdin>".into(), reason: e.to_string() };
            reporter.report(&error, &SourceFile { name: "<stdin>".into(), text: "".into() });
            None
        }
    }
}

/// Writes to a temporary file beside `path`, then renames it over `path`, so
/// a crash never leaves a half-written file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = write_then_rename(&temp, path, bytes);
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

fn write_then_rename(temp: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create(temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    if let Ok(metadata) = std::fs::metadata(path) {
        std::fs::set_permissions(temp, metadata.permissions())?;
    }
    std::fs::rename(temp, path)
}
