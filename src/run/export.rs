//! `pipe export RUN_DIR -o model.safetensors`: a trained run's weights
//! under the names PyTorch gives an `nn.Sequential` of the same layers
//! (what `weights(...)` imports), written with the safetensors crate, and
//! beside them `<out>.transforms.json`: the numbers the run's fitted
//! transforms learned (means, scales, levels, PCA components), as
//! `transforms.json` in the run folder holds them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::ir::Program;
use crate::run::error::{RunError, RunResult};
use crate::run::predict::SavedRun;
use crate::run::write;
use crate::source::Span;

/// What an export wrote.
pub struct Exported {
    /// The weights file.
    pub weights: PathBuf,
    /// The fitted transforms' numbers.
    pub transforms: PathBuf,
    /// How many tensors.
    pub tensors: usize,
}

/// Writes the run's weights to `out` (a `.safetensors` file) and its
/// transforms beside it.
pub fn safetensors(saved: SavedRun, program: &Program, out: &Path) -> RunResult<Exported> {
    let span = Span::default();
    let transforms = transforms_path(out);
    not_someone_elses(out, &transforms)?;
    let predictor = crate::run::predict::Predictor::open(saved.on_cpu(), program.clone())?;
    let (_, train, learned, trained) = predictor.parts();
    let values = trained.net.torch_values(&train.model).map_err(|reason| {
        failure(
            format!("this model has no nn.Sequential form to export: {reason}"),
            "export models of dense, conv, pooling, normalization and activation layers",
        )
    })?;
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = values
        .into_iter()
        .map(|(entry, data)| (entry.name, data.iter().flat_map(|x| x.to_le_bytes()).collect(), entry.shape))
        .collect();
    let views = bytes
        .iter()
        .map(|(name, data, shape)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                .map(|v| (name.clone(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| failure(format!("the weights could not be laid out: {e}"), ""))?;
    let info = HashMap::from([("format".to_owned(), "pt".to_owned()), ("written_by".to_owned(), WRITTEN_BY.into())]);
    let file = safetensors::serialize(views, Some(info))
        .map_err(|e| failure(format!("the weights could not be laid out: {e}"), ""))?;
    write::bytes(out, &file).map_err(|reason| RunError::Write { path: out.display().to_string(), reason, span })?;
    let numbers = serde_json::to_vec_pretty(learned).map_err(|e| failure(e.to_string(), ""))?;
    write::bytes(&transforms, &numbers).map_err(|reason| RunError::Write {
        path: transforms.display().to_string(),
        reason,
        span,
    })?;
    Ok(Exported { weights: out.to_path_buf(), transforms, tensors: bytes.len() })
}

/// Refuses to replace files `pipe export` did not write: an existing
/// weights file must carry its mark (`written_by` in the header's
/// metadata), and the transforms file may exist only beside such a one.
fn not_someone_elses(out: &Path, transforms: &Path) -> RunResult<()> {
    let ours = |path: &Path| {
        let header = crate::files::safetensors::metadata(path).ok().flatten();
        header.is_some_and(|m| m.get("written_by").is_some_and(|w| w == WRITTEN_BY))
    };
    let foreign = if out.exists() && !ours(out) {
        Some(out)
    } else if transforms.exists() && !(out.exists() && ours(out)) {
        Some(transforms)
    } else {
        None
    };
    match foreign {
        Some(path) => Err(failure(
            format!("{} exists, and `pipe export` did not write it", path.display()),
            "choose another `-o`, or move the file away: an export replaces only its own files",
        )),
        None => Ok(()),
    }
}

/// The mark `pipe export` leaves in the weights file's metadata.
const WRITTEN_BY: &str = "pipe export";

/// `model.transforms.json` beside `model.safetensors`.
pub fn transforms_path(out: &Path) -> PathBuf {
    out.with_extension("transforms.json")
}

fn failure(message: impl Into<String>, help: &str) -> RunError {
    RunError::Export { message: message.into(), help: help.to_owned() }
}
