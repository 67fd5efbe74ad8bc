//! `pipe report [RUNS...] -o report.html`: one self-contained HTML page
//! over run folders (MLflow's compare page, TensorBoard's HParams, offline):
//! the runs' table, learning curves per metric overlaid (a run toggled by
//! its row), a sweep's parallel coordinates and value-vs-metric scatters,
//! and each evaluation's scores, confusion matrix and ROC/PR curves.
//!
//! The page is `page.html` with the style (`page.css`), the drawing code
//! (`page.js`, plain SVG, no library) and the runs' data (JSON) inlined:
//! it loads nothing from the network and opens from any folder.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::cli::{CliError, Reporter};
use crate::run::folders::{self, RunRecord};

const PAGE: &str = include_str!("page.html");
const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// The per-epoch numbers a run's curves show: `(name, where in an epoch of
/// trained.json, where for validation)`.
const CURVES: [(&str, &str, &str); 8] = [
    ("loss", "/loss", "/val/loss"),
    ("accuracy", "/train/accuracy", "/val/accuracy"),
    ("f1", "/train/f1", "/val/f1"),
    ("auc", "/train/auc", "/val/auc"),
    ("mae", "/train/mae", "/val/mae"),
    ("rmse", "/train/rmse", "/val/rmse"),
    ("r2", "/train/r2", "/val/r2"),
    ("lr", "/lr", ""),
];

/// Writes the page for the runs `paths` name (run folders, `.pipe` files,
/// folders holding `runs/`, or `runs/` folders) to `output`, reloading
/// itself every `reload` seconds when given (`pipe watch --report`); false
/// (after a diagnostic) when there are none or the file cannot be written.
pub fn report(paths: &[PathBuf], output: &Path, reload: Option<u32>, reporter: &mut Reporter) -> bool {
    if let Err(error) = replaceable(output) {
        return fail(reporter, error);
    }
    let records = match collect(paths) {
        Ok(records) => records,
        Err(error) => return fail(reporter, error),
    };
    let mut page = page(&records);
    if let Some(seconds) = reload {
        let meta = format!("<meta http-equiv=\"refresh\" content=\"{seconds}\">\n<title>");
        page = page.replacen("<title>", &meta, 1);
    }
    if let Err(reason) = crate::files::write::bytes(output, page.as_bytes()) {
        return fail(reporter, CliError::Write { path: output.display().to_string(), reason });
    }
    let runs = if records.len() == 1 { "1 run".to_owned() } else { format!("{} runs", records.len()) };
    reporter.note(&format!("wrote {} ({runs}, {} KB)", output.display(), page.len().div_ceil(1024)));
    true
}

/// What marks a page this command wrote (in `page.html`'s head).
const GENERATOR: &str = "<meta name=\"generator\" content=\"pipe report\">";

/// `output` may be written: it does not exist, or is a page `pipe report`
/// wrote (its head says so), so `-o main.pipe` replaces nobody's file.
fn replaceable(output: &Path) -> Result<(), CliError> {
    if !output.exists() {
        return Ok(());
    }
    let mut head = [0u8; 1024];
    let read = std::fs::File::open(output).and_then(|mut f| std::io::Read::read(&mut f, &mut head)).unwrap_or(0);
    if String::from_utf8_lossy(&head[..read]).contains(GENERATOR) {
        return Ok(());
    }
    Err(CliError::Usage {
        message: format!(
            "{} exists and is no page `pipe report` wrote: not replaced (name another file with -o)",
            output.display()
        ),
    })
}

fn fail(reporter: &mut Reporter, error: CliError) -> bool {
    reporter.report(&error, &crate::source::SourceFile { name: String::new(), text: "".into() });
    false
}

/// The runs `paths` name, each once, oldest first.
fn collect(paths: &[PathBuf]) -> Result<Vec<RunRecord>, CliError> {
    let default = [PathBuf::from(".")];
    let paths = if paths.is_empty() { &default[..] } else { paths };
    let mut records: Vec<RunRecord> = Vec::new();
    for path in paths {
        if !path.exists() {
            return Err(unreadable(path, "no such file or folder"));
        }
        // A file beside run folders (`runs/fit/*` names `folds.csv` too).
        if path.is_file() && path.extension().is_none_or(|e| e != "pipe") {
            if paths.len() == 1 {
                return Err(CliError::Usage {
                    message: format!("{} is no run folder, `.pipe` file or runs folder", path.display()),
                });
            }
            continue;
        }
        // An item's folder (`runs/fit`): the run folders in it.
        if is_item_folder(path) {
            let item = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let found = folders::list(parent, Some(&item)).map_err(|e| unreadable(path, &e.to_string()))?;
            records.extend(found);
            continue;
        }
        if path.join("settings.json").is_file() {
            let item = path.canonicalize().ok().and_then(|p| Some(p.parent()?.file_name()?.to_string_lossy().into()));
            let item: String = item.unwrap_or_default();
            match folders::read(&item, path) {
                Some(record) => records.push(record),
                None => return Err(unreadable(path, "its settings.json is no JSON object")),
            }
            continue;
        }
        let dir = crate::cli::runs::runs_dir(path);
        let found = folders::list(&dir, None).map_err(|e| unreadable(&dir, &e.to_string()))?;
        if found.is_empty() {
            return Err(CliError::Usage {
                message: format!(
                    "no runs in {} (a run folder holds settings.json; `pipe run` makes them)",
                    dir.display()
                ),
            });
        }
        records.extend(found);
    }
    let mut seen = BTreeSet::new();
    records.retain(|r| seen.insert(r.folder.canonicalize().unwrap_or_else(|_| r.folder.clone())));
    records.sort_by(|a, b| (a.started, &a.name).cmp(&(b.started, &b.name)));
    Ok(records)
}

/// Whether `path` is a `train` item's folder under `runs/`: a sub-folder
/// of it is a run folder.
fn is_item_folder(path: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(path) else { return false };
    entries.filter_map(Result::ok).any(|e| e.path().join("settings.json").is_file())
}

fn unreadable(path: &Path, reason: &str) -> CliError {
    CliError::Read { path: path.display().to_string(), reason: reason.to_owned() }
}

/// The page: the template with its style, script and data put in.
fn page(records: &[RunRecord]) -> String {
    let changed = changed(records);
    let runs: Vec<Value> = records.iter().map(|r| run_json(r, &changed)).collect();
    let data = json!({ "runs": runs, "folds": fold_summaries(records) });
    // `</` inside the JSON would end its script element early.
    let data = data.to_string().replace("</", "<\\/");
    PAGE.replace("/*STYLE*/", STYLE).replace("/*DATA*/", &data).replace("/*SCRIPT*/", SCRIPT)
}

/// The settings whose values differ between the runs (all of them for a
/// single run), and every swept value.
fn changed(records: &[RunRecord]) -> BTreeSet<String> {
    let keys: BTreeSet<&String> = records.iter().flat_map(|r| r.settings.keys()).collect();
    keys.into_iter()
        .filter(|key| {
            let values: BTreeSet<Option<&String>> = records.iter().map(|r| r.settings.get(*key)).collect();
            records.len() == 1 || values.len() > 1 || key.starts_with("point.")
        })
        .cloned()
        .collect()
}

/// One run as the page reads it.
fn run_json(record: &RunRecord, changed: &BTreeSet<String>) -> Value {
    let settings: BTreeMap<&String, &String> =
        record.settings.iter().filter(|(k, _)| changed.contains(*k) && !k.starts_with("point.")).collect();
    let point: BTreeMap<&str, &String> =
        record.settings.iter().filter_map(|(k, v)| Some((k.strip_prefix("point.")?, v))).collect();
    let trained = read_json(&record.folder.join("trained.json"));
    let history = trained.as_ref().and_then(|t| t["history"].as_array().cloned()).unwrap_or_default();
    json!({
        "name": record.name,
        "item": record.item,
        "folder": record.folder.display().to_string(),
        "status": record.status.name(),
        "reason": record.reason,
        "started": record.started,
        "seconds": record.seconds,
        "epochs": record.epochs,
        "kept": record.kept_epoch,
        "settings": settings,
        "point": point,
        "metrics": record.metrics,
        "curves": curves(&history),
        "evaluations": evaluations(&record.folder),
    })
}

/// The k-fold summaries (`runs/<item>/folds.csv`) of the items whose
/// folds are among the runs: `{item, columns, rows}`, each once.
fn fold_summaries(records: &[RunRecord]) -> Vec<Value> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for record in records.iter().filter(|r| r.settings.contains_key("fold")) {
        let Some(dir) = record.folder.parent() else { continue };
        if !seen.insert(dir.to_path_buf()) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(dir.join(crate::run::folds::FOLDS_FILE)) else { continue };
        let mut lines = text.lines().map(|l| l.split(',').map(str::to_owned).collect::<Vec<String>>());
        let Some(columns) = lines.next() else { continue };
        out.push(json!({ "item": record.item, "columns": columns, "rows": lines.collect::<Vec<_>>() }));
    }
    out
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Each per-epoch number the history has: `{name: {train: [...], val: [...]}}`
/// (`null` where an epoch lacks it).
fn curves(history: &[Value]) -> BTreeMap<&'static str, Value> {
    let mut out = BTreeMap::new();
    for (name, train, val) in CURVES {
        let series = |pointer: &str| -> Option<Vec<Value>> {
            if pointer.is_empty() {
                return None;
            }
            let values: Vec<Value> =
                history.iter().map(|e| e.pointer(pointer).cloned().unwrap_or(Value::Null)).collect();
            values.iter().any(Value::is_number).then_some(values)
        };
        let (train, val) = (series(train), series(val));
        if train.is_some() || val.is_some() {
            out.insert(name, json!({ "train": train, "val": val }));
        }
    }
    out
}

/// The evaluations written into the run folder (`evaluate-<name>.json`),
/// by name.
fn evaluations(folder: &Path) -> Vec<Value> {
    let Ok(entries) = std::fs::read_dir(folder) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            name.starts_with("evaluate-") && name.ends_with(".json")
        })
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|path| {
            // Another tool's file of that name, not an object, is left out.
            let Value::Object(mut scores) = read_json(path)? else { return None };
            let stem = path.file_stem()?.to_string_lossy();
            scores.insert("name".into(), json!(stem.trim_start_matches("evaluate-")));
            Some(Value::Object(scores))
        })
        .collect()
}
