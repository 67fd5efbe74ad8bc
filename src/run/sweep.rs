//! A swept `train` item: every point trained on the same prepared rows
//! (each in its own run folder, each cached on its own, so an unchanged
//! point never trains again), ranked by the objective at its kept epoch;
//! the best point is the item's result.

use std::path::Path;
use std::rc::Rc;
use std::time::Instant;

use crate::ir::{DataSplit, ItemId, Objective, Scalar, Sweep, Train};
use crate::run::error::{RunError, RunResult};
use crate::run::training::{self, Trained, TrainedMeta};
use crate::run::{Event, Session, write};

/// One point's line of a sweep's ranked table.
#[derive(Clone, Debug, PartialEq)]
pub struct PointResult {
    /// The point's number, from 1, in the order the points were drawn.
    pub number: usize,
    /// Each swept value as written.
    pub point: Vec<(String, String)>,
    /// The objective at the kept epoch (`None`: not computed, as with
    /// `epochs: 0`).
    pub objective: Option<f64>,
    /// Epochs trained.
    pub epochs: usize,
    /// The epoch whose weights were kept.
    pub kept_epoch: usize,
    /// Seconds of training (0 for a point found in the cache).
    pub seconds: f64,
    /// Whether it came from the cache.
    pub cached: bool,
    /// Its run folder.
    pub run_dir: std::path::PathBuf,
}

/// What a sweep found, best first.
#[derive(Clone, Debug, PartialEq)]
pub struct Ranking {
    /// What ranks the points, as written: `val.loss`.
    pub objective: String,
    /// Whether lower is better.
    pub lower_is_better: bool,
    /// Every point, best first (points without a value last, in order).
    pub points: Vec<PointResult>,
}

impl Session<'_> {
    /// Trains every point of `sweep` (item `id`'s) on `rows`; its row counts.
    pub(super) fn sweep_item(
        &mut self,
        id: ItemId,
        train: &Train,
        sweep: &Sweep,
        rows: training::TrainRows,
    ) -> RunResult<Vec<usize>> {
        let (name, span) = (self.item(id).name.clone(), self.item(id).span);
        let objective = objective_of(train);
        let mut trained: Vec<Trained> = Vec::with_capacity(sweep.trials.len());
        let mut results = Vec::with_capacity(sweep.trials.len());
        for (index, trial) in sweep.trials.iter().enumerate() {
            let run = training::trial_run(train, index);
            let key = if self.cache.is_some() { Some(self.run_key(&run)?) } else { None };
            let start = Instant::now();
            let found = key.as_deref().and_then(|k| self.load_point(k, &run));
            let cached = found.is_some();
            (self.events)(Event::Point {
                name: name.clone(),
                number: index.saturating_add(1),
                of: sweep.trials.len(),
                point: trial.point.clone(),
                cached,
            });
            let point = match found {
                Some(point) => point,
                None => {
                    let point = self.train_one(id, &run, rows.clone())?;
                    if let Some(key) = &key {
                        self.store_point(key, &point);
                    }
                    point
                }
            };
            let seconds = if cached { 0.0 } else { start.elapsed().as_secs_f64() };
            results.push(result_of(index, trial.point.clone(), &point.meta, objective, seconds, cached));
            trained.push(point);
        }
        let ranking = rank(results, objective);
        let best = ranking.points.first().map_or(0, |p| p.number.saturating_sub(1));
        write_ranking(&self.dir.join("runs").join(&name), &ranking).map_err(|reason| RunError::Write {
            path: self.dir.join("runs").join(&name).join(RANKING_FILE).display().to_string(),
            reason,
            span,
        })?;
        let mut chosen = trained.swap_remove(best);
        training::finish_sweep(&self.dir, &train.trial(best), &chosen.meta, span)?;
        chosen.point = Some(Box::new(training::trial_run(train, best)));
        (self.events)(Event::Swept { name, ranking });
        let rows = vec![chosen.meta.rows];
        self.trained.insert(id, Rc::new(chosen));
        Ok(rows)
    }
}

/// The file beside a swept run's folders with its latest ranking.
pub const RANKING_FILE: &str = "sweep.csv";

/// What ranks a sweep's points: the setting, else the validation loss (the
/// training loss without validation data).
fn objective_of(train: &Train) -> Objective {
    train.settings.objective.unwrap_or(Objective {
        split: if train.validate.is_some() { DataSplit::Val } else { DataSplit::Train },
        metric: Scalar::Loss,
    })
}

/// The objective's name as written: `val.loss`.
pub fn objective_name(objective: Objective) -> String {
    let split = match objective.split {
        DataSplit::Val => "val",
        DataSplit::Train => "train",
    };
    format!("{split}.{}", objective.metric.name())
}

fn result_of(
    index: usize,
    point: Vec<(String, String)>,
    meta: &TrainedMeta,
    objective: Objective,
    seconds: f64,
    cached: bool,
) -> PointResult {
    let kept = meta.kept_epoch.checked_sub(1).and_then(|i| meta.history.get(i));
    let value = kept.and_then(|epoch| match objective.split {
        DataSplit::Val => epoch.val.as_ref()?.get(objective.metric),
        DataSplit::Train => epoch.train.get(objective.metric),
    });
    PointResult {
        number: index.saturating_add(1),
        point,
        objective: value.filter(|v| v.is_finite()),
        epochs: meta.history.len(),
        kept_epoch: meta.kept_epoch,
        seconds,
        cached,
        run_dir: meta.run_dir.clone(),
    }
}

/// The points, best first; ties keep the order drawn.
fn rank(mut points: Vec<PointResult>, objective: Objective) -> Ranking {
    let lower = objective.metric.lower_is_better();
    points.sort_by(|a, b| match (a.objective, b.objective) {
        (Some(x), Some(y)) if lower => x.total_cmp(&y),
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    Ranking { objective: objective_name(objective), lower_is_better: lower, points }
}

/// The ranking as CSV: rank, point, each swept value, objective, epochs,
/// kept epoch, seconds, cached, run folder.
pub fn ranking_csv(ranking: &Ranking) -> String {
    let labels: Vec<&str> =
        ranking.points.first().map(|p| p.point.iter().map(|(l, _)| l.as_str()).collect()).unwrap_or_default();
    let mut out =
        format!("rank,point,{},{},epochs,kept_epoch,seconds,cached,run\n", labels.join(","), ranking.objective);
    for (rank, p) in ranking.points.iter().enumerate() {
        let values: Vec<String> = p.point.iter().map(|(_, v)| csv_field(v)).collect();
        let objective = p.objective.map_or_else(String::new, |v| v.to_string());
        out += &format!(
            "{},{},{},{objective},{},{},{:.3},{},{}\n",
            rank.saturating_add(1),
            p.number,
            values.join(","),
            p.epochs,
            p.kept_epoch,
            p.seconds,
            p.cached,
            csv_field(&p.run_dir.display().to_string())
        );
    }
    out
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_owned() }
}

fn write_ranking(dir: &Path, ranking: &Ranking) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    write::bytes(&dir.join(RANKING_FILE), ranking_csv(ranking).as_bytes())
}
