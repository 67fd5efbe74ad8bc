//! Checkpoints of a training in progress: written atomically every few
//! epochs (weights, optimizer state, the loop's state), the newest kept,
//! and found again to resume.

use serde::{Deserialize, Serialize};

use crate::files::checksums;
use crate::train::fit::Epoch;
use crate::train::model::{Net, record_error, save_weights};
use crate::train::scale::LossScale;

/// Where and how often to save checkpoints, and one to resume from.
#[derive(Clone, Debug)]
pub struct Checkpoints {
    /// The folder holding `epoch-NNNN/` checkpoints.
    pub dir: std::path::PathBuf,
    /// A checkpoint every this many epochs (0: none).
    pub every: usize,
    /// How many to keep (the newest).
    pub keep: usize,
    /// A checkpoint folder to continue from.
    pub resume: Option<std::path::PathBuf>,
}

/// What a checkpoint holds besides the weights and the optimizer state.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct LoopState {
    /// The epochs done.
    pub(super) epoch: usize,
    /// The optimizer steps done.
    pub(super) update: usize,
    /// The plateau schedule's factor so far.
    pub(super) plateau_factor: f64,
    /// Epochs the plateau schedule has waited.
    pub(super) plateau_waited: u64,
    /// The plateau schedule's best value.
    pub(super) plateau_best: f64,
    /// Epochs early stopping has waited.
    pub(super) waited: u64,
    /// Early stopping's best value and its epoch.
    pub(super) best: Option<(f64, usize)>,
    /// Every epoch's metrics.
    pub(super) history: Vec<Epoch>,
    /// The dropout layers' random streams.
    pub(super) dropout: Vec<u64>,
    /// The f16 loss scaler, so a resumed run scales as the original did.
    #[serde(default)]
    pub(super) scaler: Option<LossScale>,
    /// A checkpoint written when the run was interrupted inside an epoch:
    /// that epoch's batches done and what they measured (none at an
    /// epoch's end).
    #[serde(default)]
    pub(super) within: Option<Within>,
}

/// Where an interrupted epoch stood: the next one after `LoopState::epoch`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(super) struct Within {
    /// Its batches done.
    pub(super) steps: usize,
    /// The sum of their losses, each times its rows.
    pub(super) loss_sum: f64,
    /// Their rows' targets.
    pub(super) truth: Vec<f32>,
    /// Their rows' predictions.
    pub(super) predicted: Vec<f32>,
    /// Whether the rows were read from disk (whose epochs take the rows in
    /// another order than held ones: the rest of the epoch is only the
    /// rest read the same way).
    #[serde(default)]
    pub(super) from_disk: bool,
}

/// The files of a checkpoint (`best.bpk` when early stopping keeps the
/// best weights).
pub(super) fn files(with_best: bool) -> Vec<&'static str> {
    let mut files = vec!["state.json", "model.bpk", "optimizer.bpk"];
    if with_best {
        files.push("best.bpk");
    }
    files
}

/// Checks some of a checkpoint's files against its checksums before a
/// resume reads them.
pub(super) fn verify(dir: &std::path::Path, files: &[&str]) -> Result<(), checksums::Damage> {
    checksums::verify(dir, files)
}

/// The newest checkpoint in `dir`, if any.
pub fn latest_checkpoint(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    let mut found: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("epoch-")) && p.join("state.json").exists()
        })
        .collect();
    found.sort();
    found.pop()
}

/// Saves a checkpoint atomically (a temporary folder renamed), then drops
/// the oldest beyond `keep`.
#[allow(clippy::too_many_arguments)]
pub(super) fn save_checkpoint(
    plan: &Checkpoints,
    state: &LoopState,
    net: &Net,
    best: Option<&Net>,
    optim: &burn::optim::ModuleOptimizer,
) -> Result<(), String> {
    super::fit::beat();
    // Names sort in training order: `epoch-0002` < `epoch-0002-step-000040` < `epoch-0003`.
    let name = match &state.within {
        Some(within) => format!("epoch-{:04}-step-{:06}", state.epoch, within.steps),
        None => format!("epoch-{:04}", state.epoch),
    };
    let temp = plan.dir.join(format!(".{name}.tmp"));
    let _ = std::fs::remove_dir_all(&temp);
    std::fs::create_dir_all(&temp).map_err(|e| e.to_string())?;
    save_weights(net, &temp.join("model.bpk"))?;
    if let Some(best) = best {
        save_weights(best, &temp.join("best.bpk"))?;
    }
    optim.save(temp.join("optimizer.bpk")).map_err(record_error)?;
    let json = serde_json::to_vec(state).map_err(|e| e.to_string())?;
    std::fs::write(temp.join("state.json"), json).map_err(|e| e.to_string())?;
    checksums::record(&temp, &files(best.is_some()))?;
    let target = plan.dir.join(&name);
    let _ = std::fs::remove_dir_all(&target);
    std::fs::rename(&temp, &target).map_err(|e| e.to_string())?;
    let mut all: Vec<std::path::PathBuf> = std::fs::read_dir(&plan.dir)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("epoch-")))
        .collect();
    all.sort();
    while all.len() > plan.keep.max(1) {
        let _ = std::fs::remove_dir_all(all.remove(0));
    }
    Ok(())
}
