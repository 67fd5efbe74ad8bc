//! `pipe runs [PATH] [ITEM]`: a table of the training runs in a `runs/`
//! folder (DVC's `exp show`), and `pipe runs diff A B`: what differs
//! between two runs' settings and metrics (`exp diff`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::cli::{CliError, Format, Reporter};
use crate::run::folders::{self, RunRecord};

/// What `pipe runs` lists, and how.
pub struct Listing<'a> {
    /// A `.pipe` file, a folder holding `runs/`, or a `runs/` folder.
    pub path: &'a Path,
    /// Only this train item's runs.
    pub item: Option<&'a str>,
    /// Only the settings whose values differ between the runs listed.
    pub only_changed: bool,
    /// The column to sort by (`-` first for descending).
    pub sort: Option<&'a str>,
    /// Table, CSV, JSON or Markdown.
    pub format: Format,
}

/// The metrics' columns, in this order.
const METRICS: [&str; 7] =
    ["train_loss", "val_loss", "best_val_loss", "train_accuracy", "val_accuracy", "train_mae", "val_mae"];

/// Prints the table; false (after a diagnostic) when the runs cannot be read.
pub fn runs(listing: &Listing, reporter: &mut Reporter) -> bool {
    let dir = runs_dir(listing.path);
    let records = match folders::list(&dir, listing.item) {
        Ok(records) => records,
        Err(e) => return fail(reporter, CliError::Read { path: dir.display().to_string(), reason: e.to_string() }),
    };
    if records.is_empty() {
        let what = listing.item.map_or_else(String::new, |i| format!(" of `{i}`"));
        return fail(
            reporter,
            CliError::Usage { message: format!("no runs{what} in {} (`pipe run` makes them)", dir.display()) },
        );
    }
    let table = Table::of(&records, listing.only_changed);
    let rows = match listing.sort {
        Some(key) => match table.sorted(key) {
            Ok(rows) => rows,
            Err(message) => return fail(reporter, CliError::Usage { message }),
        },
        None => table.rows.clone(),
    };
    print!("{}", table.render(&rows, &records, listing.format));
    true
}

/// Prints what differs between runs `a` and `b` (run folders, or their
/// `item/stamp` names under `./runs`).
pub fn diff(a: &Path, b: &Path, format: Format, reporter: &mut Reporter) -> bool {
    let (Some(first), Some(second)) = (find(a), find(b)) else {
        let missing = if find(a).is_none() { a } else { b };
        return fail(
            reporter,
            CliError::Usage { message: format!("{} is no run folder (one holds settings.json)", missing.display()) },
        );
    };
    let keys: BTreeSet<&String> = first.settings.keys().chain(second.settings.keys()).collect();
    let mut settings = Vec::new();
    for key in keys {
        let (x, y) = (first.settings.get(key), second.settings.get(key));
        if x != y {
            settings.push((key.clone(), x.cloned().unwrap_or_default(), y.cloned().unwrap_or_default()));
        }
    }
    let mut metrics = Vec::new();
    for key in METRICS {
        let (x, y) = (first.metrics.get(key), second.metrics.get(key));
        if x.is_some() || y.is_some() {
            metrics.push((key, x.copied(), y.copied()));
        }
    }
    match format {
        Format::Json => {
            let settings: Vec<_> =
                settings.iter().map(|(k, x, y)| serde_json::json!({ "setting": k, "a": x, "b": y })).collect();
            let metrics: Vec<_> = metrics
                .iter()
                .map(|(k, x, y)| {
                    let delta = x.zip(*y).map(|(x, y)| y - x);
                    serde_json::json!({ "metric": k, "a": x, "b": y, "delta": delta })
                })
                .collect();
            let out =
                serde_json::json!({ "a": first.name, "b": second.name, "settings": settings, "metrics": metrics });
            println!("{out}");
        }
        _ => {
            println!("a: {} ({})\nb: {} ({})", first.name, first.status.name(), second.name, second.status.name());
            if settings.is_empty() {
                println!("\nsettings: the same");
            } else {
                println!("\nsettings that differ:");
                for (key, x, y) in &settings {
                    println!("  {key}: {x} -> {y}");
                }
            }
            if !metrics.is_empty() {
                println!("\nmetrics:");
                for (key, x, y) in &metrics {
                    let delta = x.zip(*y).map_or_else(String::new, |(x, y)| format!("  ({:+.4})", y - x));
                    println!("  {key}: {} -> {}{delta}", number(*x), number(*y));
                }
            }
        }
    }
    true
}

/// The run folder `path` names: a folder, or `item/stamp` under `./runs`.
fn find(path: &Path) -> Option<RunRecord> {
    let folder = if path.join("settings.json").exists() { path.to_path_buf() } else { Path::new("runs").join(path) };
    let item = folder.parent().and_then(Path::file_name)?.to_string_lossy().into_owned();
    folders::read(&item, &folder)
}

/// The `runs/` folder `path` means.
pub(crate) fn runs_dir(path: &Path) -> PathBuf {
    if path.extension().is_some_and(|e| e == "pipe") {
        return path.parent().unwrap_or(Path::new(".")).join("runs");
    }
    if path.join("runs").is_dir() { path.join("runs") } else { path.to_path_buf() }
}

fn fail(reporter: &mut Reporter, error: CliError) -> bool {
    reporter.report(&error, &crate::source::SourceFile { name: String::new(), text: "".into() });
    false
}

/// A number as the table shows it (blank when missing).
fn number(x: Option<f64>) -> String {
    x.map_or_else(String::new, |x| format!("{x:.4}"))
}

/// The columns and, per run, their texts.
struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Which columns hold numbers (sorted as numbers, right-aligned).
    numeric: Vec<bool>,
}

impl Table {
    fn of(records: &[RunRecord], only_changed: bool) -> Table {
        let mut settings: BTreeSet<&String> = records.iter().flat_map(|r| r.settings.keys()).collect();
        if only_changed {
            settings.retain(|key| {
                let values: BTreeSet<Option<&String>> = records.iter().map(|r| r.settings.get(*key)).collect();
                values.len() > 1
            });
        }
        let metrics: Vec<&str> =
            METRICS.into_iter().filter(|m| records.iter().any(|r| r.metrics.contains_key(*m))).collect();
        let mut columns: Vec<String> =
            ["run", "status", "started", "seconds", "epochs_run", "kept"].iter().map(|c| c.to_string()).collect();
        let mut numeric = vec![false, false, false, true, true, true];
        columns.extend(settings.iter().map(|s| s.to_string()));
        numeric.extend(settings.iter().map(|_| false));
        columns.extend(metrics.iter().map(|m| m.to_string()));
        numeric.extend(metrics.iter().map(|_| true));
        let rows = records
            .iter()
            .map(|r| {
                let mut row = vec![
                    r.name.clone(),
                    r.status.name().to_owned(),
                    utc(r.started),
                    r.seconds.map_or_else(String::new, |s| format!("{s:.2}")),
                    r.epochs.to_string(),
                    r.kept_epoch.map_or_else(String::new, |e| e.to_string()),
                ];
                row.extend(settings.iter().map(|s| r.settings.get(*s).cloned().unwrap_or_default()));
                row.extend(metrics.iter().map(|m| number(r.metrics.get(*m).copied())));
                row
            })
            .collect();
        Table { columns, rows, numeric }
    }

    /// The rows sorted by column `key` (`-key`: descending); blanks last.
    fn sorted(&self, key: &str) -> Result<Vec<Vec<String>>, String> {
        let (descending, name) = match key.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, key),
        };
        let Some(at) = self.columns.iter().position(|c| c == name) else {
            return Err(format!("--sort: no column `{name}`; the columns are {}", self.columns.join(", ")));
        };
        let mut rows = self.rows.clone();
        let numeric = self.numeric[at];
        rows.sort_by(|a, b| {
            let (x, y) = (&a[at], &b[at]);
            match (x.is_empty(), y.is_empty()) {
                (true, false) => return std::cmp::Ordering::Greater,
                (false, true) => return std::cmp::Ordering::Less,
                _ => {}
            }
            let order = if numeric {
                x.parse::<f64>().unwrap_or(f64::NAN).total_cmp(&y.parse::<f64>().unwrap_or(f64::NAN))
            } else {
                x.cmp(y)
            };
            if descending { order.reverse() } else { order }
        });
        Ok(rows)
    }

    fn render(&self, rows: &[Vec<String>], records: &[RunRecord], format: Format) -> String {
        match format {
            Format::Csv => {
                let line = |cells: &[String]| cells.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(",") + "\n";
                std::iter::once(line(&self.columns)).chain(rows.iter().map(|r| line(r))).collect()
            }
            Format::Markdown => {
                let line = |cells: &[String]| {
                    format!("| {} |\n", cells.iter().map(|c| c.replace('|', "\\|")).collect::<Vec<_>>().join(" | "))
                };
                let rule = format!("|{}\n", self.columns.iter().map(|_| " --- |").collect::<String>());
                std::iter::once(line(&self.columns)).chain([rule]).chain(rows.iter().map(|r| line(r))).collect()
            }
            Format::Json => {
                let by_name: BTreeMap<&str, &RunRecord> = records.iter().map(|r| (r.name.as_str(), r)).collect();
                let shown: Vec<&RunRecord> = rows.iter().filter_map(|r| by_name.get(r[0].as_str()).copied()).collect();
                serde_json::to_string_pretty(&shown).unwrap_or_default() + "\n"
            }
            Format::Human => {
                let widths: Vec<usize> = (0..self.columns.len())
                    .map(|i| {
                        rows.iter().map(|r| r[i].chars().count()).chain([self.columns[i].len()]).max().unwrap_or(0)
                    })
                    .collect();
                let line = |cells: &[String]| {
                    let padded: Vec<String> = cells
                        .iter()
                        .zip(&widths)
                        .zip(&self.numeric)
                        .map(|((c, w), n)| if *n { format!("{c:>w$}") } else { format!("{c:<w$}") })
                        .collect();
                    padded.join("  ").trim_end().to_owned() + "\n"
                };
                std::iter::once(line(&self.columns)).chain(rows.iter().map(|r| line(r))).collect()
            }
        }
    }
}

/// A CSV cell, quoted when it needs to be.
fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_owned() }
}

/// Seconds since 1970 as `YYYY-MM-DD HH:MM:SS` (UTC).
fn utc(seconds: u64) -> String {
    let days = seconds / 86_400;
    let rest = seconds % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_are_civil_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(utc(1_796_409_847), "2026-12-04 18:44:07");
    }

    #[test]
    fn csv_cells_are_quoted_when_needed() {
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("plain"), "plain");
    }
}
