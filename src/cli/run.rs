//! `pipe run FILE [ITEM...]`: checks the file, then runs its data items,
//! one line per item; `pipe cache clean`.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

use super::check::load;
use super::report::{Reporter, plural};
use crate::run::{self, Event, Finished, Options};

/// Checks and runs one file; returns whether it ran without errors.
pub fn run(path: &Path, only: &[String], no_cache: bool, reporter: &mut Reporter) -> bool {
    let Some((sources, report)) = load(path, reporter) else { return false };
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let options = Options { dir, cache: !no_cache, only: only.to_vec() };
    let start = Instant::now();
    let live = !reporter.is_json() && std::io::stderr().is_terminal();
    let (mut ran, mut cached) = (0, 0);
    let errors = run::run(&report.ir, &options, &mut |event| match event {
        Event::Step { name, index, total } if live => {
            let _ = write!(std::io::stderr(), "\r\x1b[2K  {name}: step {} of {total}", index + 1);
        }
        Event::Step { .. } => {}
        Event::Finished(finished) => {
            clear_line(live);
            ran += 1;
            cached += usize::from(finished.cached);
            print_finished(&finished, reporter);
        }
        Event::Warning(warning) => {
            clear_line(live);
            report_run_error(&warning, &sources, reporter);
        }
    });
    clear_line(live);
    for error in &errors {
        report_run_error(error, &sources, reporter);
    }
    let seconds = start.elapsed().as_secs_f64();
    let mut summary = format!("ran {} ({cached} cached) in {seconds:.2} s", plural(ran, "item"));
    if reporter.errors + reporter.warnings > 0 {
        summary.push_str(&format!(": {}, {}", plural(reporter.errors, "error"), plural(reporter.warnings, "warning")));
    }
    reporter.note(&summary);
    errors.is_empty()
}

fn clear_line(live: bool) {
    if live {
        let _ = write!(std::io::stderr(), "\r\x1b[2K");
    }
}

fn report_run_error(error: &run::error::RunError, sources: &crate::source::SourceMap, reporter: &mut Reporter) {
    let file = error.span().map_or_else(
        || crate::source::SourceFile { name: String::new(), text: String::new().into() },
        |span| sources.get(span.file).clone(),
    );
    reporter.report(error, &file);
}

/// `  output     predictions      300 rows   0.01 s`
fn print_finished(f: &Finished, reporter: &Reporter) {
    if reporter.is_json() {
        let line = serde_json::json!({
            "item": f.name, "kind": f.kind, "rows": f.rows, "seconds": f.seconds, "cached": f.cached,
        });
        println!("{line}");
        return;
    }
    let rows = f.rows.iter().map(|r| thousands(*r)).collect::<Vec<_>>().join(" + ");
    let rows = match f.kind {
        "transform" => format!("fitted on {rows} rows"),
        _ => format!("{rows} rows"),
    };
    let time = if f.cached { "cached".to_owned() } else { format!("{:.2} s", f.seconds) };
    reporter.note(&format!("  {:<10} {:<20} {rows:>24}  {time}", f.kind, f.name));
}

/// `1234567` as `1,234,567`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `pipe cache clean [PATH]`: removes the cache folder beside a `.pipe`
/// file, or in a folder.
pub fn clean(path: &Path, reporter: &mut Reporter) -> bool {
    let dir = if path.is_dir() { path.to_path_buf() } else { path.parent().map(Path::to_path_buf).unwrap_or_default() };
    let folder = dir.join(run::cache::FOLDER);
    match run::cache::clean(&folder) {
        Ok(0) => {
            reporter.note(&format!("no cache at {}", folder.display()));
            true
        }
        Ok(bytes) => {
            reporter.note(&format!("removed {} ({:.1} MB)", folder.display(), bytes as f64 / 1e6));
            true
        }
        Err(e) => {
            let error = super::CliError::Write { path: folder.display().to_string(), reason: e.to_string() };
            reporter.report(&error, &crate::source::SourceFile { name: folder.display().to_string(), text: "".into() });
            false
        }
    }
}
