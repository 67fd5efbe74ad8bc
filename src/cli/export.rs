//! `pipe export RUN_DIR -o OUT`: the run folder's saved pipeline is parsed
//! and checked here (as `pipe predict` does), and the runner writes the
//! model in the format `OUT`'s extension names.

use std::path::Path;

use super::report::Reporter;
use crate::source::SourceFile;

/// Exports a run's model; returns whether it succeeded.
pub fn export(run_dir: &Path, out: &Path, reporter: &mut Reporter) -> bool {
    let no_file = || SourceFile { name: run_dir.display().to_string(), text: "".into() };
    let extension = out.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    if extension != "safetensors" && extension != "onnx" {
        let message = format!("-o {}: pipe exports `.onnx` and `.safetensors` files", out.display());
        reporter.report(&super::CliError::Usage { message }, &no_file());
        return false;
    }
    let Some((saved, program, _)) = super::predict::checked_run(run_dir, None, reporter) else { return false };
    if extension == "onnx" {
        return match crate::run::onnx::export(saved, &program, out) {
            Ok(done) => {
                let (inputs, nodes) = (done.inputs, done.nodes);
                reporter.note(&format!("exported {}: {inputs} inputs, {nodes} nodes", done.path.display()));
                true
            }
            Err(error) => {
                reporter.report(&error, &no_file());
                false
            }
        };
    }
    match crate::run::export::safetensors(saved, &program, out) {
        Ok(done) => {
            reporter.note(&format!(
                "exported {} tensors: {} (transforms: {})",
                done.tensors,
                done.weights.display(),
                done.transforms.display()
            ));
            true
        }
        Err(error) => {
            reporter.report(&error, &no_file());
            false
        }
    }
}
