//! `pipe lr-find FILE TRAIN [-o OUT]`: the learning-rate range test of a
//! training run: its loss at each rate as a PNG and a CSV, and the rates
//! it suggests.

// See src/run/mod.rs: run errors are rare and cold.
#![allow(clippy::result_large_err)]

use std::path::Path;

use super::CliError;
use super::check::load;
use super::report::Reporter;
use crate::ir::ItemKind;
use crate::run::{self, Session};
use crate::train::lr_find::{Curve, RangeTest};

/// What to test.
pub struct LrFind<'a> {
    /// The `.pipe` file.
    pub file: &'a Path,
    /// The training run.
    pub train: &'a str,
    /// The PNG's path; the CSV goes beside it.
    pub output: &'a Path,
    /// The rates and steps.
    pub test: RangeTest,
}

/// Runs the test and writes its plot and points; returns whether it
/// succeeded.
pub fn lr_find(what: &LrFind, reporter: &mut Reporter) -> bool {
    let Some((sources, report)) = load(what.file, reporter) else { return false };
    let usage = |message: String, reporter: &mut Reporter| {
        let error = CliError::Usage { message };
        reporter.report(&error, &crate::source::SourceFile { name: String::new(), text: "".into() });
        false
    };
    let test = &what.test;
    if let Some(mistake) = test.mistake() {
        return usage(mistake, reporter);
    }
    let found = report.ir.items.iter().flatten().find_map(|i| match &i.kind {
        ItemKind::Train(t) if i.name == what.train => Some((t.as_ref(), i.span)),
        _ => None,
    });
    let Some((train, span)) = found else {
        let runs: Vec<&str> = report
            .ir
            .items
            .iter()
            .flatten()
            .filter(|i| matches!(i.kind, ItemKind::Train(_)))
            .map(|i| i.name.as_str())
            .collect();
        let hint = match crate::suggest::closest(what.train, runs.iter().copied()) {
            Some(near) => format!(": did you mean `{near}`?"),
            None if runs.is_empty() => ": it has none".to_owned(),
            None => format!(": its runs are {}", runs.join(", ")),
        };
        return usage(format!("`{}` is not a training run of {}{hint}", what.train, what.file.display()), reporter);
    };
    if let Some(sweep) = &train.sweep {
        return usage(
            format!(
                "`{}` is a sweep of {} points, and the range test runs one model: write the point to test as a run of its own",
                what.train,
                sweep.trials.len()
            ),
            reporter,
        );
    }
    if train.model.pretrained.is_some() {
        let message = format!(
            "`{}` starts from pretrained weights, and the range test trains fresh ones: its suggestion would not fit",
            what.train
        );
        return usage(message, reporter);
    }
    let csv = what.output.with_extension("csv");
    // The PNG and the CSV beside it replace only files of their own kind:
    // `-o data/train.png` must not replace `data/train.csv`.
    for (path, head) in [(what.output, &b"\x89PNG"[..]), (csv.as_path(), CSV_HEADER.as_bytes())] {
        if !replaceable(path, head) {
            let message = format!("{} exists and is not a file lr-find writes: choose another -o", path.display());
            return usage(message, reporter);
        }
    }
    let options = super::run::options(what.file, &sources, &[], false, None);
    let mut events = |_| {};
    let curve = {
        let mut session = Session::new(&report.ir, &options, &mut events);
        session.rows_of(&train.data).and_then(|frame| run::training::lr_find(train, &frame, test, span))
    };
    let curve = match curve {
        Ok(curve) => curve,
        Err(error) => {
            reporter.report(&error, sources.get(crate::source::FileId(0)));
            return false;
        }
    };
    let written = crate::train::plot::chart_xy(what.output, "loss vs rate", &points(&curve))
        .and_then(|()| run::write::bytes(&csv, table(&curve).as_bytes()));
    if let Err(reason) = written {
        let error = CliError::Write { path: what.output.display().to_string(), reason };
        reporter.report(&error, &crate::source::SourceFile { name: String::new(), text: "".into() });
        return false;
    }
    reporter.note(&summary(&curve, what.output, &csv, train.settings.augment.is_some()));
    true
}

/// The CSV's first line.
const CSV_HEADER: &str = "lr,loss,smoothed_loss\n";

/// Whether `path` is absent, or a file that starts with `head` (one this
/// command wrote).
fn replaceable(path: &Path, head: &[u8]) -> bool {
    use std::io::Read;
    let Ok(mut file) = std::fs::File::open(path) else { return !path.exists() };
    let mut start = vec![0u8; head.len()];
    path.is_file() && file.read_exact(&mut start).is_ok() && start == head
}

/// (log10 rate, smoothed loss) per step, for the plot.
fn points(curve: &Curve) -> Vec<(f64, f64)> {
    curve.points.iter().map(|p| (p.lr.log10(), p.smoothed)).collect()
}

/// `lr,loss,smoothed_loss` per step.
fn table(curve: &Curve) -> String {
    let mut out = String::from(CSV_HEADER);
    for p in &curve.points {
        out.push_str(&format!("{},{},{}\n", p.lr, p.loss, p.smoothed));
    }
    out
}

/// What the test found, in a few lines.
fn summary(curve: &Curve, png: &Path, csv: &Path, augmented: bool) -> String {
    let rate = |lr: Option<f64>| lr.map_or("none (the loss never fell)".into(), |lr| format!("{lr:.2e}"));
    let mut text = format!(
        "{} steps up to lr {:.2e}: {}, {}\n  suggested (valley): {}\n  a tenth of the minimum: {}",
        curve.points.len(),
        curve.points.last().map_or(0.0, |p| p.lr),
        png.display(),
        csv.display(),
        rate(curve.valley),
        rate(curve.minimum_tenth),
    );
    if augmented {
        text.push_str("\n  (the test trains without the run's augmentation)");
    }
    text
}
