//! `pipe predict RUN_DIR DATA [-o OUT]`.

use std::path::Path;

use super::report::Reporter;
use crate::run::predict::{default_output, predict_file};
use crate::source::SourceFile;

/// Predicts for new data with a training run's folder; returns whether it
/// succeeded.
pub fn predict(run_dir: &Path, data: &Path, out: Option<&Path>, reporter: &mut Reporter) -> bool {
    let out = out.map_or_else(|| default_output(data), Path::to_path_buf);
    match predict_file(run_dir, data, &out) {
        Ok(done) => {
            for warning in &done.warnings {
                let file = warning.span().map_or_else(
                    || SourceFile { name: String::new(), text: "".into() },
                    |s| done.sources.get(s.file).clone(),
                );
                reporter.report(warning, &file);
            }
            reporter.note(&format!("predicted {} rows: {}", done.rows, out.display()));
            true
        }
        Err(error) => {
            reporter.report(&error, &SourceFile { name: run_dir.display().to_string(), text: "".into() });
            false
        }
    }
}
