//! A k-fold run on the console: each fold's validation metrics and their
//! mean ± standard deviation (a JSON line with `--format json`).

use crate::cli::report::Reporter;
use crate::run::folds::FoldSummary;

/// The metrics shown as columns, in this order, when the folds have them
/// (every metric is in `folds.csv` and the JSON).
const SHOWN: [&str; 9] =
    ["val_loss", "val_accuracy", "val_f1", "val_auc", "val_log_loss", "val_mae", "val_rmse", "val_r2", "train_loss"];

/// The table: a row per fold, then `mean ± std`.
pub fn print_folds(name: &str, summary: &FoldSummary, r: &Reporter) {
    if r.is_json() {
        let metrics: serde_json::Map<String, serde_json::Value> = summary
            .metrics
            .iter()
            .map(|(k, (mean, std))| (k.clone(), serde_json::json!({ "mean": mean, "std": std })))
            .collect();
        println!("{}", serde_json::json!({ "item": name, "folds": summary.folds, "metrics": metrics }));
        return;
    }
    let shown: Vec<&str> = SHOWN.iter().copied().filter(|m| summary.metrics.contains_key(*m)).collect();
    let mut header = format!("  {:<10} {name:<20} {:>6} {:>6}", "k-fold", "fold", "rows");
    for m in &shown {
        header.push_str(&format!(" {m:>19}"));
    }
    r.note(&header);
    for fold in &summary.folds {
        let mut line = format!("  {:<10} {:<20} {:>6} {:>6}", "", "", fold.number, fold.rows);
        for m in &shown {
            line.push_str(&format!(" {:>19.4}", fold.metrics[*m]));
        }
        r.note(&line);
    }
    let mut line = format!("  {:<10} {:<20} {:>13}", "", "", "mean ± std");
    for m in &shown {
        let (mean, std) = summary.metrics[*m];
        line.push_str(&format!(" {:>19}", format!("{mean:.4} ± {std:.4}")));
    }
    r.note(&line);
    if let Some(dir) = summary.folds.first().and_then(|f| f.run_dir.parent()) {
        r.note(&format!("  {:<10} {:<20} every metric: {}", "", "", dir.join(crate::run::folds::FOLDS_FILE).display()));
    }
}
