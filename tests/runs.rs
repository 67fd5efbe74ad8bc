//! `pipe runs` and `pipe runs diff`: the table of a file's training runs
//! (status, settings, final and best metrics, read back against the run
//! folders' own records), its formats, sorting and `--only-changed`.

use std::path::Path;
use std::process::{Command, Output};

use crate::run::{repo, scratch};

fn pipe(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipe")).args(args).current_dir(dir).output().expect("the pipe binary runs")
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The iris example with this learning rate, 3 epochs.
fn iris(lr: &str) -> String {
    std::fs::read_to_string(repo().join("pipelines/iris.pipe"))
        .unwrap()
        .replace("\"../data/", &format!("\"{}/data/", repo().display()))
        .replace("epochs: 100", "epochs: 3")
        .replace("adam(lr: 1e-2)", &format!("adam(lr: {lr})"))
}

/// A folder with four runs of `species`: lr 1e-2 and 1e-3 (finished), one
/// whose loss overflows (failed), and a copy of the first without its
/// weights (what a killed run leaves).
fn four_runs(name: &str) -> std::path::PathBuf {
    let dir = scratch(name);
    for lr in ["1e-2", "1e-3", "1e30"] {
        std::fs::write(dir.join("main.pipe"), iris(lr)).unwrap();
        let out = pipe(&dir, &["run", "--no-cache", "main.pipe"]);
        if lr != "1e30" {
            ok(&out);
        }
        // Run folders are named by the millisecond.
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let runs: Vec<_> = std::fs::read_dir(dir.join("runs/species")).unwrap().map(|e| e.unwrap().path()).collect();
    let mut runs = runs;
    runs.sort();
    let killed = dir.join("runs/species/9999999999-000");
    std::fs::create_dir_all(&killed).unwrap();
    for file in ["settings.json", "model.json", "pipeline.pipe"] {
        std::fs::copy(runs[0].join(file), killed.join(file)).unwrap();
    }
    dir
}

/// A CSV line's cells (quoted cells may hold commas and doubled quotes).
fn cells(line: &str) -> Vec<String> {
    let (mut out, mut cell, mut quoted, mut chars) = (Vec::new(), String::new(), false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cell)),
            (c, _) => cell.push(c),
        }
    }
    out.push(cell);
    out
}

/// A CSV's rows as maps of column to text.
fn rows(csv: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut lines = csv.lines();
    let header = cells(lines.next().unwrap());
    lines
        .map(|l| {
            let row = cells(l);
            assert_eq!(row.len(), header.len(), "{l}");
            header.iter().cloned().zip(row).collect()
        })
        .collect()
}

#[test]
fn runs_lists_each_run_with_its_status_settings_and_metrics() {
    let dir = four_runs("pipe_runs_table");
    let csv = ok(&pipe(&dir, &["runs", "main.pipe", "--format", "csv"]));
    let table = rows(&csv);
    let statuses: Vec<&str> = table.iter().map(|r| r["status"].as_str()).collect();
    assert_eq!(statuses, ["finished", "finished", "failed", "unfinished"], "{csv}");
    let lrs: Vec<&str> = table.iter().map(|r| r["optimizer.lr"].as_str()).collect();
    assert_eq!(lrs, ["0.01", "0.001", "1e+30", "0.01"], "{csv}");
    assert_eq!(table[0]["devices"], r#"[{"index":null,"kind":"Cpu"}]"#, "a quoted cell");
    // The metrics are the last epoch's in the run's own record.
    for row in table.iter().take(2) {
        let folder = dir.join("runs").join(&row["run"]);
        let trained: serde_json::Value =
            serde_json::from_slice(&std::fs::read(folder.join("trained.json")).unwrap()).unwrap();
        let last = trained["history"].as_array().unwrap().last().unwrap().clone();
        let shown: f64 = row["val_loss"].parse().unwrap();
        assert!((shown - last["val"]["loss"].as_f64().unwrap()).abs() < 1e-4, "{row:?}");
        assert_eq!(row["epochs_run"], "3");
    }
    // Only what differs: the learning rate, not the seed.
    let changed = ok(&pipe(&dir, &["runs", "main.pipe", "--only-changed", "--format", "csv"]));
    let header = changed.lines().next().unwrap();
    assert!(header.contains("optimizer.lr") && !header.contains("seed"), "{header}");
    // Sorted by the final validation loss, largest first, blanks last.
    let sorted = rows(&ok(&pipe(&dir, &["runs", "main.pipe", "--sort", "-val_loss", "--format", "csv"])));
    let losses: Vec<&str> = sorted.iter().map(|r| r["val_loss"].as_str()).collect();
    let numbers: Vec<f64> = losses.iter().filter(|l| !l.is_empty()).map(|l| l.parse().unwrap()).collect();
    assert!(numbers.windows(2).all(|w| w[0] >= w[1]), "{losses:?}");
    assert!(losses.iter().skip_while(|l| !l.is_empty()).all(|l| l.is_empty()), "{losses:?}");
    // JSON and Markdown carry the same runs.
    let json: serde_json::Value = serde_json::from_str(&ok(&pipe(&dir, &["runs", "--format", "json"]))).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 4);
    assert_eq!(json[2]["status"], "failed");
    assert!(json[2]["reason"].as_str().unwrap().contains("not finite"), "{}", json[2]);
    let markdown = ok(&pipe(&dir, &["runs", "main.pipe", "species", "--format", "markdown"]));
    assert!(markdown.starts_with("| run | status |") && markdown.lines().count() == 6, "{markdown}");
    // The people-readable table has a header and a line per run.
    assert_eq!(ok(&pipe(&dir, &["runs"])).lines().count(), 5);
}

#[test]
fn runs_diff_shows_the_settings_and_metric_deltas() {
    let dir = four_runs("pipe_runs_diff");
    let table = rows(&ok(&pipe(&dir, &["runs", "--format", "csv"])));
    let (a, b) = (&table[0], &table[1]);
    let out = ok(&pipe(&dir, &["runs", "diff", &a["run"], &b["run"]]));
    assert!(out.contains("optimizer.lr: 0.01 -> 0.001"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&pipe(&dir, &["runs", "diff", &a["run"], &b["run"], "--format", "json"]))).unwrap();
    let val = json["metrics"].as_array().unwrap().iter().find(|m| m["metric"] == "val_loss").unwrap().clone();
    let (x, y): (f64, f64) = (a["val_loss"].parse().unwrap(), b["val_loss"].parse().unwrap());
    assert!((val["delta"].as_f64().unwrap() - (y - x)).abs() < 1e-3, "{val}");
    let settings: Vec<&str> =
        json["settings"].as_array().unwrap().iter().map(|s| s["setting"].as_str().unwrap()).collect();
    assert_eq!(settings, ["optimizer.lr"], "only the learning rate differs");
}

#[test]
fn runs_says_what_is_wrong_with_its_arguments() {
    let dir = four_runs("pipe_runs_mistakes");
    let sort = pipe(&dir, &["runs", "--sort", "speed"]);
    assert!(!sort.status.success());
    assert!(
        String::from_utf8_lossy(&sort.stderr).contains("no column `speed`"),
        "{}",
        String::from_utf8_lossy(&sort.stderr)
    );
    let none = pipe(&dir, &["runs", "main.pipe", "nothing"]);
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("no runs of `nothing`"));
    let csv_check = pipe(&dir, &["check", "main.pipe", "--format", "csv"]);
    assert!(!csv_check.status.success());
    assert!(String::from_utf8_lossy(&csv_check.stderr).contains("for `pipe runs`"));
    let diff = pipe(&dir, &["runs", "diff", "species/none", "species/0"]);
    assert!(!diff.status.success());
}
