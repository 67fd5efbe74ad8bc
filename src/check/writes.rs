//! Writes that cannot destroy. Every path a run writes (each `write(...)`,
//! each `save:` folder, each `log:` file or folder) is checked before
//! anything runs: it may not be something the pipeline reads (a source, the
//! pipeline file itself), two writes may not share a path, and a `save:`
//! folder must be new, empty or one `save:` wrote (it is replaced as a
//! whole). Replacing what an earlier run wrote is fine: writes are atomic.
//! Paths outside the pipeline's folder are allowed: a pipeline writes
//! where its user asks, under these same rules.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::check::error::{CheckError, Mistake};
use crate::check::frames::setting;
use crate::files::{many, remote};
use crate::ir::{self, Frame, LogSink, Op, Source};
use crate::source::Span;
use crate::syntax::ast;

/// The files `curves:` writes into its folder.
pub const CURVE_FILES: [&str; 4] = ["roc.csv", "pr.csv", "roc.png", "pr.png"];

/// What writes TensorBoard event files.
const TENSORBOARD: &str = "`log: tensorboard(...)`";

/// A path a run writes, where it is written in the file and what writes it.
struct Write {
    path: PathBuf,
    /// As written (messages must not depend on where the file lies).
    shown: PathBuf,
    span: Span,
    what: &'static str,
}

/// A path the pipeline reads, and where (none for the pipeline file).
struct Read {
    path: PathBuf,
    span: Option<Span>,
    what: &'static str,
}

/// The mistakes in what the run of `ir` would write; `dir` is where its
/// relative paths start, `pipeline` the file itself.
pub fn guard(program: &ast::Program, ir: &ir::Program, dir: Option<&Path>, pipeline: Option<&Path>) -> Vec<CheckError> {
    let base = |path: &Path| resolved(&dir.map_or_else(|| path.to_path_buf(), |d| d.join(path)));
    let mut reads: Vec<Read> =
        pipeline.map(|p| Read { path: resolved(p), span: None, what: "the pipeline file" }).into_iter().collect();
    let mut writes = Vec::new();
    // Mistakes found while the writes are gathered.
    let mut errors_now = Vec::new();
    // Globs and folders a source reads: a file written into one would be
    // read by the next run.
    let mut patterns: Vec<(&ir::SourceFiles, &'static str, Span)> = Vec::new();
    for (index, item) in ir.items.iter().enumerate() {
        let Some(item) = item else { continue };
        match &item.kind {
            ir::ItemKind::Source(source) => {
                for path in source_paths(source) {
                    reads.push(Read { path: resolved(path), span: Some(item.span), what: "a source" });
                }
                if let Source::Csv { files, .. } | Source::Parquet { files } = source
                    && files.many
                {
                    let extension = if matches!(source, Source::Csv { .. }) { "csv" } else { "parquet" };
                    patterns.push((files, extension, item.span));
                }
            }
            ir::ItemKind::Train(train) => {
                let body = match program.items.get(index).map(|i| &i.kind) {
                    Some(ast::ItemKind::Train(t)) => Some(&t.body),
                    _ => None,
                };
                let span_of = |key: &str| body.and_then(|b| setting(b, key)).map_or(item.span, |v| v.span);
                if let Some(save) = &train.settings.save {
                    writes.push(Write {
                        path: base(save),
                        shown: save.clone(),
                        span: span_of("save"),
                        what: "`save:`",
                    });
                }
                for sink in &train.settings.logs {
                    let (path, what) = match sink {
                        LogSink::Console => continue,
                        LogSink::TensorBoard(path) => (path, TENSORBOARD),
                        LogSink::Csv(path) | LogSink::Jsonl(path) => (path, "`log:`"),
                    };
                    writes.push(Write { path: base(path), shown: path.clone(), span: span_of("log"), what });
                }
                frame_writes(&train.data, &base, &mut writes);
                if let Some(validate) = &train.validate {
                    frame_writes(validate, &base, &mut writes);
                }
            }
            ir::ItemKind::Stage(frame) | ir::ItemKind::Output(frame) | ir::ItemKind::Split { input: frame, .. } => {
                frame_writes(frame, &base, &mut writes)
            }
            ir::ItemKind::Transform { fit_on, .. } => frame_writes(fit_on, &base, &mut writes),
            ir::ItemKind::Evaluate { data, curves, .. } => {
                frame_writes(data, &base, &mut writes);
                if let Some(folder) = curves {
                    let span = match program.items.get(index).map(|i| &i.kind) {
                        Some(ast::ItemKind::Evaluate(e)) => {
                            e.body.as_ref().and_then(|b| setting(b, "curves")).map_or(item.span, |v| v.span)
                        }
                        _ => item.span,
                    };
                    if base(folder).is_file() {
                        errors_now.push(Mistake::Conflict.at(
                            span,
                            format!("`curves:` writes four files into a folder, and `{}` is a file", folder.display()),
                            "a file, not a folder",
                            "name a folder, such as `curves: \"out/curves\"`",
                        ));
                    }
                    for file in CURVE_FILES {
                        let shown = folder.join(file);
                        writes.push(Write { path: base(&shown), shown, span, what: "`curves:`" });
                    }
                }
            }
        }
    }
    let mut errors = errors_now;
    // By path, in order: a file of thousands of items compares each path once.
    let mut read_at: HashMap<&Path, &Read> = HashMap::new();
    for read in &reads {
        read_at.entry(&read.path).or_insert(read);
    }
    let mut written_at: HashMap<&Path, Vec<&Write>> = HashMap::new();
    for write in &writes {
        if remote::is_url(&write.shown.to_string_lossy()) {
            errors.push(Mistake::Unsupported.at(
                write.span,
                format!("{} writes files on this machine: `{}` is a URL", write.what, write.shown.display()),
                "a URL",
                "write to a path here (relative to the .pipe file), and copy the file to the store after the run",
            ));
            continue;
        }
        let earlier = written_at.entry(&write.path).or_default();
        let first = earlier.iter().find(|w| {
            // Runs may share a TensorBoard folder: each writes its own event file.
            let both_tensorboard = w.what == TENSORBOARD && write.what == TENSORBOARD;
            w.span != write.span && !both_tensorboard
        });
        let first = first.map(|w| w.span);
        earlier.push(write);
        if let Some(read) = read_at.get(write.path.as_path()) {
            errors.push(CheckError::OverwritesInput {
                writer: write.what.into(),
                path: write.shown.display().to_string(),
                input: read.what.into(),
                span: write.span,
                read: read.span,
            });
        } else if let Some((_, _, read)) = patterns.iter().find(|(files, extension, _)| {
            many::would_read(files.glob.as_ref(), &files.path, extension, &write.path, &resolved)
        }) {
            errors.push(CheckError::OverwritesInput {
                writer: write.what.into(),
                path: write.shown.display().to_string(),
                input: "a file of a source's glob or folder".into(),
                span: write.span,
                read: Some(*read),
            });
        } else if let Some(first) = first {
            errors.push(CheckError::WriteConflict { path: write.shown.display().to_string(), span: write.span, first });
        } else if write.what == "`save:`"
            && let Some(reason) = crate::files::saved::refusal(&write.path, &write.shown)
        {
            errors.push(CheckError::ForeignFiles { reason, span: write.span });
        }
    }
    errors
}

/// The files or folder a source reads.
fn source_paths(source: &Source) -> Vec<&Path> {
    match source {
        Source::Csv { files, .. } | Source::Parquet { files } => files.files.iter().map(|f| f.path.as_path()).collect(),
        Source::Images { dir, .. } => vec![dir],
    }
}

/// The `write(...)` steps of a frame (and of the frames it is made from).
fn frame_writes(frame: &Frame, base: &dyn Fn(&Path) -> PathBuf, writes: &mut Vec<Write>) {
    if let ir::FrameInput::Transformed { input, .. } = &frame.input {
        frame_writes(input, base, writes);
    }
    for (op, span) in frame.ops.iter().zip(&frame.spans) {
        if let Op::Write(path, _) = op {
            writes.push(Write { path: base(path), shown: path.clone(), span: *span, what: "`write(...)`" });
        }
    }
}

/// `path` with its longest existing ancestor resolved (links, `..`), so
/// two spellings of one file compare equal, whether it exists or not.
fn resolved(path: &Path) -> PathBuf {
    if let Ok(real) = path.canonicalize() {
        return real;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => resolved(parent).join(name),
        _ => path.to_path_buf(),
    }
}
