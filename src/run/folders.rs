//! The run folders training leaves (`runs/<item>/<seconds>-<millis>/`
//! beside the `.pipe` file), read back for `pipe runs`: each run's status,
//! start, duration, settings (flattened `settings.json`, and the model's
//! fingerprint) and metrics (from the epochs in `trained.json`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

/// The file a run that stopped early leaves: why it stopped.
pub const STATUS_FILE: &str = "status.json";

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// It trained to the end and wrote its weights.
    Finished,
    /// Stopped by Ctrl-C (or a change under `pipe watch`).
    Cancelled,
    /// Stopped by an error (the loss diverged, say).
    Failed,
    /// No end was recorded: still running, or killed.
    Unfinished,
}

impl Status {
    /// As printed.
    pub fn name(&self) -> &'static str {
        match self {
            Status::Finished => "finished",
            Status::Cancelled => "cancelled",
            Status::Failed => "failed",
            Status::Unfinished => "unfinished",
        }
    }
}

/// One run folder, read.
#[derive(Clone, Debug, Serialize)]
pub struct RunRecord {
    /// `item/stamp`: how `pipe runs` names it.
    pub name: String,
    /// The train item.
    pub item: String,
    /// The folder.
    pub folder: PathBuf,
    /// When it started, in seconds since 1970 (from the folder's name).
    pub started: u64,
    /// How it ended.
    pub status: Status,
    /// Why it failed, when it did.
    pub reason: Option<String>,
    /// Its epochs' seconds, added up.
    pub seconds: Option<f64>,
    /// Epochs trained.
    pub epochs: usize,
    /// The epoch whose weights were kept (`restore_best`), else the last.
    pub kept_epoch: Option<usize>,
    /// Every setting, flattened to `optimizer.lr`-like keys, and `model`
    /// (a fingerprint of the layers).
    pub settings: BTreeMap<String, String>,
    /// Final and best metrics: `train_loss`, `val_loss`, `best_val_loss`,
    /// `train_accuracy`, `val_accuracy`, `train_mae`, `val_mae` (those it
    /// has).
    pub metrics: BTreeMap<String, f64>,
}

/// The run folders under `runs` (the folder `runs/` beside a `.pipe`
/// file), of the item `item` only when given, oldest first.
pub fn list(runs: &Path, item: Option<&str>) -> std::io::Result<Vec<RunRecord>> {
    let mut out = Vec::new();
    for entry in sorted_dirs(runs)? {
        let name = file_name(&entry);
        if item.is_some_and(|i| i != name) {
            continue;
        }
        for folder in sorted_dirs(&entry)? {
            if let Some(record) = read(&name, &folder) {
                out.push(record);
            }
        }
    }
    out.sort_by(|a, b| (a.started, &a.name).cmp(&(b.started, &b.name)));
    Ok(out)
}

/// A run folder, read (`None` when it is no run folder: no settings).
pub fn read(item: &str, folder: &Path) -> Option<RunRecord> {
    let settings_json: Value = serde_json::from_slice(&std::fs::read(folder.join("settings.json")).ok()?).ok()?;
    let stamp = file_name(folder);
    let started = stamp.split('-').next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut settings = BTreeMap::new();
    flatten("", &settings_json, &mut settings);
    if let Ok(model) = std::fs::read(folder.join("model.json")) {
        settings.insert("model".into(), crate::run::cache::hash(&model).chars().take(8).collect());
    }
    // A point of a sweep: its swept values, as written.
    let point: Option<Value> =
        std::fs::read(folder.join(crate::run::sweep::POINT_FILE)).ok().and_then(|b| serde_json::from_slice(&b).ok());
    if let Some(Value::Object(values)) = point.as_ref().map(|p| &p["values"]) {
        for (label, value) in values {
            settings.insert(format!("point.{label}"), value.as_str().unwrap_or_default().to_owned());
        }
    }
    // A fold of a k-fold run: which, of how many.
    let fold: Option<Value> =
        std::fs::read(folder.join(crate::run::folds::FOLD_FILE)).ok().and_then(|b| serde_json::from_slice(&b).ok());
    if let Some(fold) = fold {
        settings.insert("fold".into(), format!("{}/{}", fold["fold"], fold["of"]));
    }
    let trained: Option<Value> =
        std::fs::read(folder.join("trained.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let finished = trained.is_some() && folder.join("checksums.json").exists();
    let stopped: Option<Value> =
        std::fs::read(folder.join(STATUS_FILE)).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let (status, reason) = match (&stopped, finished) {
        (_, true) => (Status::Finished, None),
        (Some(s), false) if s["status"] == "cancelled" => (Status::Cancelled, None),
        (Some(s), false) => (Status::Failed, s["reason"].as_str().map(str::to_owned)),
        (None, false) => (Status::Unfinished, None),
    };
    let history = trained.as_ref().and_then(|t| t["history"].as_array().cloned()).unwrap_or_default();
    let seconds = (!history.is_empty()).then(|| history.iter().filter_map(|e| e["seconds"].as_f64()).sum());
    let kept_epoch = trained.as_ref().and_then(|t| t["kept_epoch"].as_u64()).map(|e| e as usize);
    Some(RunRecord {
        name: format!("{item}/{stamp}"),
        item: item.to_owned(),
        folder: folder.to_path_buf(),
        started,
        status,
        reason,
        seconds,
        epochs: history.len(),
        kept_epoch,
        settings,
        metrics: metrics(&history),
    })
}

/// The final epoch's losses and headline scores, and the best
/// validation loss.
fn metrics(history: &[Value]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let Some(last) = history.last() else { return out };
    let mut put = |key: &str, value: &Value| {
        if let Some(x) = value.as_f64() {
            out.insert(key.to_owned(), x);
        }
    };
    put("train_loss", &last["loss"]);
    for score in ["accuracy", "mae"] {
        put(&format!("train_{score}"), &last["train"][score]);
        put(&format!("val_{score}"), &last["val"][score]);
    }
    put("val_loss", &last["val"]["loss"]);
    let best = history.iter().filter_map(|e| e["val"]["loss"].as_f64()).fold(f64::INFINITY, f64::min);
    if best.is_finite() {
        out.insert("best_val_loss".into(), best);
    }
    out
}

/// `settings.json` as `key.sub: value` pairs (lists as JSON text).
fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(fields) if !fields.is_empty() => {
            for (key, field) in fields {
                let key = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                flatten(&key, field, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_owned(), s.clone());
        }
        other => {
            out.insert(prefix.to_owned(), other.to_string());
        }
    }
}

/// The sub-folders of `dir`, by name (none when it does not exist).
fn sorted_dirs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut dirs: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    Ok(dirs)
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Records why a run stopped before its end, in its folder (what `pipe
/// runs` reads); a folder that cannot be written keeps no record.
pub fn record_stop(folder: &Path, status: &Status, reason: Option<&str>) {
    let text = serde_json::json!({ "status": status.name(), "reason": reason });
    if folder.is_dir() {
        let _ = crate::run::write::bytes(&folder.join(STATUS_FILE), text.to_string().as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_flatten_to_dotted_keys() {
        let json: Value = serde_json::json!({"optimizer": {"kind": "Adam", "lr": 0.01}, "batch": {"Rows": 16}, "logs": [1, 2], "seed": 7});
        let mut out = BTreeMap::new();
        flatten("", &json, &mut out);
        let got: Vec<(&str, &str)> = out.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            got,
            [
                ("batch.Rows", "16"),
                ("logs", "[1,2]"),
                ("optimizer.kind", "Adam"),
                ("optimizer.lr", "0.01"),
                ("seed", "7")
            ]
        );
    }
}
