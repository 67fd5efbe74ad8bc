//! `pipe predict RUN_DIR DATA [-o OUT]`: the run folder's saved pipeline
//! is parsed and checked here, and its program handed to the runner.

use std::path::Path;

use super::report::Reporter;
use crate::ir::Program;
use crate::run::predict::{SavedRun, default_output, open_run, predict_file, stale_pipeline};
use crate::source::{SourceFile, SourceMap};

/// What `pipe predict` adds and how it decides.
pub struct Asked {
    /// Each row's predicted class's probability too.
    pub probabilities: bool,
    /// A two-class run's threshold.
    pub threshold: Option<f64>,
    /// The device to predict on, as written (`--device`).
    pub device: Option<String>,
}

/// A run folder, read, and its saved pipeline checked into a program (with
/// its sources, where a step's warnings point); `None` after reporting why
/// not.
/// `device`: where to predict (`--device`, as written), checked first.
pub fn checked_run(
    run_dir: &Path,
    device: Option<&str>,
    reporter: &mut Reporter,
) -> Option<(SavedRun, Program, SourceMap)> {
    let no_file = || SourceFile { name: run_dir.display().to_string(), text: "".into() };
    let parsed = device.map(super::run::parse_device).transpose().and_then(|d| match d {
        Some(d) if d.kind == crate::ir::DeviceKind::Remote => {
            Err("a remote device trains; predictions run on this machine (`cpu`, `torch.cpu`, `torch.cuda`)".into())
        }
        other => Ok(other),
    });
    let device = match parsed {
        Ok(device) => device,
        Err(reason) => {
            let error =
                super::CliError::Usage { message: format!("--device {}: {reason}", device.unwrap_or_default()) };
            reporter.report(&error, &SourceFile { name: String::new(), text: "".into() });
            return None;
        }
    };
    let saved = match open_run(run_dir) {
        Ok(saved) => SavedRun { device, ..saved },
        Err(error) => {
            reporter.report(&error, &no_file());
            return None;
        }
    };
    let mut sources = SourceMap::new();
    let file = sources.add(run_dir.join("pipeline.pipe").display().to_string(), saved.pipeline.as_str());
    let parsed = crate::syntax::parse(&saved.pipeline, file);
    let report = crate::check::check(&parsed.program, &mut sources, Some(&saved.meta.pipeline_dir));
    if !parsed.errors.is_empty() || report.has_errors() {
        let first = parsed
            .errors
            .iter()
            .map(ToString::to_string)
            .chain(report.errors.iter().filter(|e| e.is_error()).map(ToString::to_string))
            .next();
        reporter.report(&stale_pipeline(first, &saved.meta.pipeline_dir), &no_file());
        return None;
    }
    Some((saved, report.ir, sources))
}

/// Predicts for new data with a training run's folder; returns whether it
/// succeeded.
pub fn predict(run_dir: &Path, data: &Path, out: Option<&Path>, asked: Asked, reporter: &mut Reporter) -> bool {
    let out = out.map_or_else(|| default_output(data), Path::to_path_buf);
    if let (Ok(data_file), Ok(out_file)) = (data.canonicalize(), out.canonicalize())
        && data_file == out_file
    {
        let message = format!("-o {} is the data it predicts for: writing there would replace it", out.display());
        let error = super::CliError::Usage { message };
        reporter.report(&error, &SourceFile { name: String::new(), text: "".into() });
        return false;
    }
    let no_file = || SourceFile { name: run_dir.display().to_string(), text: "".into() };
    let Some((saved, program, sources)) = checked_run(run_dir, asked.device.as_deref(), reporter) else { return false };
    match predict_file(saved, &program, data, &out, asked.probabilities, asked.threshold) {
        Ok(done) => {
            for warning in &done.warnings {
                let file = warning.span().map_or_else(no_file, |s| sources.get(s.file).clone());
                reporter.report(warning, &file);
            }
            reporter.note(&format!("predicted {} rows: {}", done.rows, out.display()));
            true
        }
        Err(error) => {
            // A step of the saved pipeline points into it; the rest has no source.
            reporter.report(&error, &error.span().map_or_else(no_file, |s| sources.get(s.file).clone()));
            false
        }
    }
}
