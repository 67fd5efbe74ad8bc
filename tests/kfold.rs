//! k-fold: every row is in exactly one validation fold; stratified folds
//! hold each class as often as scikit-learn's `StratifiedKFold` (computed
//! here by scikit-learn), unstratified ones `KFold`'s sizes; each fold's
//! transform learns from that fold's training rows only (its mean equals
//! the mean of those rows, worked out here from the CSV); and a run trains
//! one model a fold, reporting the mean and standard deviation of each
//! fold's metrics, cached per fold.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use pipe::run::Event;
use pipe::run::fitted::Fitted;

use crate::run::{check_text, provided, scratch, with_session};
use crate::train::run_events;

const K: usize = 5;
const ROWS: usize = 237;

/// A CSV of `ROWS` rows: `id`, a class `y` of three uneven classes in a
/// scrambled order, and a number `x`.
fn write_data(dir: &Path) -> Vec<(u64, String, f64)> {
    let rows: Vec<(u64, String, f64)> = (0..ROWS as u64)
        .map(|i| {
            let scrambled = (i * 97 + 13) % ROWS as u64;
            // Class sizes 121, 79 and 37: none a multiple of K, and the
            // first row's class is not the first in sorted order, so the
            // order scikit-learn deals classes in changes the counts.
            let y = match scrambled {
                0..121 => "c",
                121..200 => "a",
                _ => "b",
            };
            (i, y.to_owned(), (i as f64 * 0.37).sin() * 10.0 + i as f64 / 50.0)
        })
        .collect();
    let mut csv = String::from("id,y,x\n");
    for (id, y, x) in &rows {
        csv.push_str(&format!("{id},{y},{x}\n"));
    }
    std::fs::write(dir.join("data.csv"), csv).unwrap();
    rows
}

fn folds_text(kfold: &str) -> String {
    format!(
        r#"source data = csv("data.csv")

split folds = data |> {kfold}

transform prep = fit(folds.train) {{
    standard(x)
}}

stage seen = prep(folds.val)
"#
    )
}

/// Each fold's validation ids, and what each fold's `prep` learned (x's mean).
fn folds(dir: &Path, text: &str) -> Vec<(BTreeSet<u64>, f64)> {
    let program = check_text(dir, text);
    let (folds, _) = with_session(&program, dir, |session| {
        (1..=K)
            .map(|fold| {
                let suffix = if fold == 1 { String::new() } else { format!(" (fold {fold})") };
                let val = session.frame(&format!("folds.val{suffix}")).unwrap();
                let ids: BTreeSet<u64> =
                    val.column("id").unwrap().i64().unwrap().into_no_null_iter().map(|i| i as u64).collect();
                let fitted = session.fitted(&format!("prep{suffix}")).unwrap();
                let Fitted::Scale { center, .. } = &fitted[0] else { panic!("standard learns a scale") };
                (ids, center[0])
            })
            .collect::<Vec<_>>()
    });
    folds
}

/// Per fold, the count of each class among its validation rows.
fn class_counts(folds: &[(BTreeSet<u64>, f64)], rows: &[(u64, String, f64)]) -> Vec<BTreeMap<String, usize>> {
    folds
        .iter()
        .map(|(ids, _)| {
            let mut counts = BTreeMap::new();
            for id in ids {
                *counts.entry(rows[*id as usize].1.clone()).or_default() += 1;
            }
            counts
        })
        .collect()
}

#[test]
fn stratified_folds_cover_every_row_once_with_scikit_learns_class_counts_and_fit_on_their_own_rows() {
    let dir = scratch("kfold_stratified");
    let rows = write_data(&dir);
    let folds = folds(&dir, &folds_text("kfold(5, stratify: y, seed: 3)"));
    // Every row validates in exactly one fold.
    let mut seen = BTreeSet::new();
    for (ids, _) in &folds {
        for id in ids {
            assert!(seen.insert(*id), "row {id} is in two validation folds");
        }
    }
    assert_eq!(seen.len(), ROWS);
    // No leakage: each fold's scaler learned the mean of its training rows
    // (every row but its validation ones), not of all rows.
    let all_mean = rows.iter().map(|r| r.2).sum::<f64>() / ROWS as f64;
    for (fold, (ids, center)) in folds.iter().enumerate() {
        let train: Vec<f64> = rows.iter().filter(|r| !ids.contains(&r.0)).map(|r| r.2).collect();
        let mean = train.iter().sum::<f64>() / train.len() as f64;
        assert!((center - mean).abs() < 1e-12, "fold {}: learned {center}, its rows' mean {mean}", fold + 1);
        assert!((center - all_mean).abs() > 1e-6, "fold {} learned from every row", fold + 1);
    }
    // Another seed deals other rows.
    let other = self::folds(&dir, &folds_text("kfold(5, stratify: y, seed: 4)"));
    assert_ne!(other[0].0, folds[0].0);

    let Some(python) = provided("PIPE_TEST_PYTHON") else { return };
    let script = format!(
        r#"
import csv, json
from sklearn.model_selection import StratifiedKFold
rows = list(csv.DictReader(open("{}")))
y = [r["y"] for r in rows]
out = []
for _, val in StratifiedKFold(n_splits={K}, shuffle=True, random_state=0).split(y, y):
    counts = {{}}
    for i in val:
        counts[y[i]] = counts.get(y[i], 0) + 1
    out.append(counts)
print(json.dumps(out))
"#,
        dir.join("data.csv").display()
    );
    let out = Command::new(python).arg("-c").arg(script).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected: Vec<BTreeMap<String, usize>> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(class_counts(&folds, &rows), expected, "each fold's class counts are StratifiedKFold's");
}

#[test]
fn unstratified_folds_have_kfolds_sizes() {
    let dir = scratch("kfold_plain");
    write_data(&dir);
    let folds = folds(&dir, &folds_text("kfold(5, seed: 1)"));
    let sizes: Vec<usize> = folds.iter().map(|(ids, _)| ids.len()).collect();
    // scikit-learn's KFold: the first n % k folds one row larger.
    let (size, extra) = (ROWS / K, ROWS % K);
    let expected: Vec<usize> = (0..K).map(|f| size + usize::from(f < extra)).collect();
    assert_eq!(sizes, expected);
    let all: BTreeSet<u64> = folds.iter().flat_map(|(ids, _)| ids.iter().copied()).collect();
    assert_eq!(all.len(), ROWS);
}

#[test]
fn the_kfold_example_trains_a_model_a_fold_and_reports_mean_and_std() {
    let dir = scratch("kfold_run");
    // The example, its data path made absolute.
    let text = std::fs::read_to_string(crate::run::repo().join("pipelines/iris_kfold.pipe"))
        .unwrap()
        .replace("\"../data/", &format!("\"{}/data/", crate::run::repo().display()));
    let mut summary = None;
    let mut epochs = 0;
    let errors = run_events(&dir, &text, true, &mut |event| match event {
        Event::Folded { summary: s, .. } => summary = Some(s),
        Event::Epoch { .. } => epochs += 1,
        _ => {}
    });
    assert!(errors.is_empty(), "{errors:?}");
    let summary = summary.expect("the folds' summary");
    assert_eq!(epochs, 5 * 30, "five models of 30 epochs");
    assert_eq!(summary.folds.len(), 5);
    for fold in &summary.folds {
        assert_eq!(fold.rows, 120, "each model trains on the other folds' 120 rows");
        assert!(fold.run_dir.join("fold.json").exists());
    }
    // The summary: the folds' mean and (numpy's) standard deviation.
    let losses: Vec<f64> = summary.folds.iter().map(|f| f.metrics["val_loss"]).collect();
    let mean = losses.iter().sum::<f64>() / 5.0;
    let std = (losses.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / 5.0).sqrt();
    let (got_mean, got_std) = summary.metrics["val_loss"];
    assert!((got_mean - mean).abs() < 1e-12 && (got_std - std).abs() < 1e-12);
    assert!(summary.metrics.contains_key("val_accuracy"));
    let csv = std::fs::read_to_string(dir.join("runs/species/folds.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 5 + 2, "header, a row per fold, mean, std");
    // `pipe report` shows the summary: in its data, and drawn in Chromium.
    let made = std::process::Command::new(env!("CARGO_BIN_EXE_pipe"))
        .args(["report", "-o", "report.html"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let mean_line = csv.lines().find(|l| l.starts_with("mean,")).unwrap();
    let first_mean = mean_line.split(',').nth(3).unwrap();
    assert!(html.contains(&format!("\"{first_mean}\"")), "the page holds folds.csv's mean {first_mean}");
    if let Some(chromium) = provided("PIPE_TEST_CHROMIUM") {
        let url = format!("file://{}", dir.join("report.html").display());
        let dumped = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--enable-logging=stderr",
                "--v=0",
                "--dump-dom",
                &url,
            ])
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&dumped.stderr);
        assert!(!log.contains(":CONSOLE"), "{log}");
        let dom = String::from_utf8_lossy(&dumped.stdout);
        assert_eq!(dom.matches("<tr class=\"fold\"").count(), 5);
        assert_eq!((dom.matches("class=\"fold-mean\"").count(), dom.matches("class=\"fold-std\"").count()), (1, 1));
    }
    // `pipe predict` with a later fold's run folder uses that fold's
    // transform (its own saved numbers) and model.
    let third = &summary.folds[2].run_dir;
    let iris = crate::run::repo().join("data/iris.csv");
    let predicted = std::process::Command::new(env!("CARGO_BIN_EXE_pipe"))
        .args(["predict", third.to_str().unwrap(), iris.to_str().unwrap(), "-o"])
        .arg(dir.join("predicted.csv"))
        .output()
        .unwrap();
    assert!(predicted.status.success(), "{}", String::from_utf8_lossy(&predicted.stderr));
    let rows = std::fs::read_to_string(dir.join("predicted.csv")).unwrap();
    let mut lines = rows.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let (label, prediction) =
        (header.iter().position(|c| *c == "label").unwrap(), header.iter().position(|c| *c == "prediction").unwrap());
    let (right, all) = lines.fold((0, 0), |(r, a), l| {
        let cells: Vec<&str> = l.split(',').collect();
        (r + usize::from(cells[label] == cells[prediction]), a + 1)
    });
    assert_eq!(all, 150);
    assert!(right as f64 / all as f64 > 0.8, "fold 3's model predicts {right} of {all} right");
    // Unchanged: every fold comes from the cache, with the same metrics.
    let mut again = None;
    let mut epochs = 0;
    let errors = run_events(&dir, &text, true, &mut |event| match event {
        Event::Folded { summary: s, .. } => again = Some(s),
        Event::Epoch { .. } => epochs += 1,
        _ => {}
    });
    assert!(errors.is_empty(), "{errors:?}");
    let again = again.unwrap();
    assert_eq!(epochs, 0, "nothing retrains");
    assert!(again.folds.iter().all(|f| f.cached));
    assert_eq!(again.metrics, summary.metrics);
}

#[test]
fn fewer_rows_than_folds_is_an_error_before_any_training() {
    let dir = scratch("kfold_too_few");
    write_data(&dir);
    let text = "source data = csv(\"data.csv\")\n\
                split folds = data |> filter(id < 3) |> kfold(5)\n\
                stage seen = folds.val\n";
    let program = check_text(&dir, text);
    let (result, _) = with_session(&program, &dir, |session| session.frame("folds.val").err().map(|e| e.to_string()));
    let error = result.expect("3 rows cannot make 5 folds");
    assert!(error.contains("needs at least 5 rows; the data has 3"), "{error}");
    // Stratified: more folds than any class has rows.
    let text = "source data = csv(\"data.csv\")\n\
                split folds = data |> filter(id < 40) |> kfold(30, stratify: y)\n\
                stage seen = folds.val\n";
    let program = check_text(&dir, text);
    let (result, _) = with_session(&program, &dir, |session| session.frame("folds.val").err().map(|e| e.to_string()));
    let error = result.expect("no class has 30 of the 40 rows");
    assert!(error.contains("no class of `y` has 30 rows (the largest has"), "{error}");
}
