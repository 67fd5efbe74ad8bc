//! A k-fold run: one model a fold, each on its fold's training rows
//! through the transforms fitted on them (the checker made each fold's
//! copies), validated on the fold's held-out rows; each fold its own run
//! folder and cache key. The result is every validation metric per fold
//! and their mean ± standard deviation (numpy's `std`, over the folds),
//! printed and written to `runs/<item>/folds.csv`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::ir::{ItemId, Train};
use crate::run::error::{RunError, RunResult};
use crate::run::{Event, Session, training};

/// The summary's file, in `runs/<item>/`.
pub const FOLDS_FILE: &str = "folds.csv";

/// The file in a fold's run folder that says which fold it is.
pub const FOLD_FILE: &str = "fold.json";

/// One fold's result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FoldResult {
    /// The fold, from 1.
    pub number: usize,
    /// Rows trained on.
    pub rows: usize,
    /// The epoch whose weights were kept.
    pub kept_epoch: usize,
    /// Its validation metrics at that epoch (and `train_loss`), by name.
    pub metrics: BTreeMap<String, f64>,
    /// Its run folder.
    pub run_dir: PathBuf,
    /// Whether it came from the cache.
    pub cached: bool,
}

/// Every fold's result and, per metric, the mean and standard deviation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FoldSummary {
    /// The folds, in order.
    pub folds: Vec<FoldResult>,
    /// `(mean, std)` of each metric every fold has.
    pub metrics: BTreeMap<String, (f64, f64)>,
}

impl Session<'_> {
    /// Trains run `id` once per fold; the rows each fold trained on.
    pub(super) fn folds_item(&mut self, id: ItemId, train: &Train) -> RunResult<Vec<usize>> {
        let (name, span) = (self.item(id).name.clone(), self.item(id).span);
        let of = train.folds.len();
        let mut folds = Vec::with_capacity(of);
        for (index, fold) in train.folds.iter().enumerate() {
            let run = train.fold(index);
            let key = if self.cache.is_some() { Some(self.run_key(&run)?) } else { None };
            let found = key.as_deref().and_then(|k| self.load_point(k, &run));
            let number = index.saturating_add(1);
            let cached = found.is_some();
            let note = if cached { " (cached)" } else { "" };
            (self.events)(Event::Note(format!("  {:<10} {name:<20} fold {number}/{of}{note}", "k-fold")));
            let trained = match found {
                Some(trained) => trained,
                // Only a fold that trains needs its rows.
                None => {
                    let data = self.frame_rows(&fold.data, &name)?;
                    let validate = match &fold.validate {
                        Some(v) => Some(self.frame_rows(v, &name)?),
                        None => None,
                    };
                    let rows = training::TrainRows::Frames { data: &data, validate: validate.as_ref() };
                    let label = format!("{name} (fold {number})");
                    let trained = self.train_one(id, &run, rows, None, (None, Some(&label)))?;
                    if let Some(key) = &key {
                        self.store_point(key, &trained);
                    }
                    write_fold(&trained.meta.run_dir, number, of, span)?;
                    trained
                }
            };
            folds.push(result_of(number, &trained.meta, cached));
        }
        let summary = summarize(folds);
        let dir = self.dir.join("runs").join(&name);
        let file = dir.join(FOLDS_FILE);
        crate::run::write::bytes(&file, folds_csv(&summary).as_bytes()).map_err(|reason| RunError::Write {
            path: file.display().to_string(),
            reason,
            span,
        })?;
        let rows = summary.folds.iter().map(|f| f.rows).collect();
        (self.events)(Event::Folded { name, summary });
        Ok(rows)
    }
}

/// `fold.json` in a fold's run folder (what `pipe runs` shows as `fold`).
fn write_fold(run_dir: &std::path::Path, number: usize, of: usize, span: crate::source::Span) -> RunResult<()> {
    let file = run_dir.join(FOLD_FILE);
    let text = serde_json::json!({ "fold": number, "of": of }).to_string();
    crate::run::write::bytes(&file, text.as_bytes()).map_err(|reason| RunError::Write {
        path: file.display().to_string(),
        reason,
        span,
    })
}

/// A fold's metrics: the kept epoch's validation scores (every number
/// they hold) and its training loss.
fn result_of(number: usize, meta: &training::TrainedMeta, cached: bool) -> FoldResult {
    let kept = meta.history.get(meta.kept_epoch.saturating_sub(1)).or(meta.history.last());
    let mut metrics = BTreeMap::new();
    if let Some(epoch) = kept {
        metrics.insert("train_loss".to_owned(), epoch.loss);
        if let Some(val) = &epoch.val
            && let Ok(serde_json::Value::Object(scores)) = serde_json::to_value(val)
        {
            for (key, value) in scores {
                if let Some(x) = value.as_f64() {
                    metrics.insert(format!("val_{key}"), x);
                }
            }
        }
    }
    FoldResult { number, rows: meta.rows, kept_epoch: meta.kept_epoch, metrics, run_dir: meta.run_dir.clone(), cached }
}

/// Mean and standard deviation (over the folds, numpy's `std`: divided by
/// the number of folds) of each metric every fold has.
pub fn summarize(folds: Vec<FoldResult>) -> FoldSummary {
    let mut metrics = BTreeMap::new();
    let names: Vec<String> = folds.first().map(|f| f.metrics.keys().cloned().collect()).unwrap_or_default();
    for name in names {
        let values: Vec<f64> = folds.iter().filter_map(|f| f.metrics.get(&name).copied()).collect();
        if values.len() != folds.len() || values.is_empty() {
            continue;
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let std = (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
        metrics.insert(name, (mean, std));
    }
    FoldSummary { folds, metrics }
}

/// `folds.csv`: a row per fold, then `mean` and `std` rows.
fn folds_csv(summary: &FoldSummary) -> String {
    let names: Vec<&String> = summary.metrics.keys().collect();
    let mut out = String::from("fold,rows,kept_epoch");
    for name in &names {
        out.push(',');
        out.push_str(name);
    }
    out.push('\n');
    for fold in &summary.folds {
        out.push_str(&format!("{},{},{}", fold.number, fold.rows, fold.kept_epoch));
        for name in &names {
            out.push_str(&format!(",{}", fold.metrics[*name]));
        }
        out.push('\n');
    }
    for (label, pick) in [("mean", 0), ("std", 1)] {
        out.push_str(label);
        out.push_str(",,");
        for name in &names {
            let (mean, std) = summary.metrics[*name];
            out.push_str(&format!(",{}", if pick == 0 { mean } else { std }));
        }
        out.push('\n');
    }
    out
}
