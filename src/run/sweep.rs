//! A swept `train` item: every point trained on the same prepared rows
//! (each in its own run folder, each cached on its own, so an unchanged
//! point never trains again), ranked by the objective at its kept epoch;
//! the best point is the item's result.

use std::path::Path;
use std::rc::Rc;
use std::time::Instant;

use crate::ir::{DataSplit, ItemId, MedianPrune, Objective, Scalar, Sweep, Train};
use crate::run::error::{RunError, RunResult};
use crate::run::training::{self, Trained, TrainedMeta};
use crate::run::{Event, Session, write};
use crate::source::Span;
use crate::train::fit::Epoch;

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
    /// The epoch `prune:` stopped it after, if it did.
    pub pruned_at: Option<usize>,
    /// Why it failed, when its training did (its loss stopped being
    /// finite): the other points train on.
    pub failed: Option<String>,
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
        let total = sweep.trials.len();
        // A model that starts from trained weights shares them: one at a time.
        let parallel = if train.model.pretrained.is_some() { 1 } else { sweep.parallel.max(1) as usize };
        let mut trained: Vec<Option<Trained>> = Vec::with_capacity(total);
        let mut first_failure = None;
        let mut results = Vec::with_capacity(total);
        // Each unpruned point's objective per epoch, for the pruning rule.
        let mut finished: Vec<Vec<Option<f64>>> = Vec::new();
        // `parallel` points at a time, each group after the one before:
        // the points a group's pruning compares with are the same however
        // fast each trains.
        let mut next = 0;
        while next < total {
            let group: Vec<usize> = (next..total.min(next.saturating_add(parallel))).collect();
            next = next.saturating_add(group.len());
            let mut done: Vec<(usize, RunResult<Done>)> = Vec::new();
            let mut to_train = Vec::new();
            for &index in &group {
                let run = training::trial_run(train, index);
                let key = if self.cache.is_some() { Some(self.run_key(&run)?) } else { None };
                let found = key.as_deref().and_then(|k| self.load_point(k, &run));
                (self.events)(Event::Point {
                    name: name.clone(),
                    number: index.saturating_add(1),
                    of: total,
                    point: sweep.trials[index].point.clone(),
                    cached: found.is_some(),
                });
                match found {
                    // A point from the cache: the time it took when it trained.
                    Some(point) => {
                        let seconds = point.meta.history.iter().map(|e| e.seconds).sum();
                        done.push((index, Ok(Done { point, pruned_at: None, cached: true, seconds })));
                    }
                    None => to_train.push((index, run, key)),
                }
            }
            let prune = sweep.prune.map(|rule| Pruner::new(rule, objective, finished.clone()));
            for (index, key, result) in self.train_points(id, to_train, &rows, prune)? {
                match result {
                    Ok(done_point) => {
                        // A pruned point's training depends on the points
                        // before it: it is not kept for another sweep.
                        if let (Some(key), None) = (&key, done_point.pruned_at) {
                            self.store_point(key, &done_point.point);
                        }
                        write_point(&done_point.point.meta.run_dir, index, sweep);
                        done.push((index, Ok(done_point)));
                    }
                    // A point whose loss stopped being finite fails alone (a
                    // failed trial, as in Keras Tuner and Optuna): the
                    // others train on.
                    Err(error @ RunError::Diverged { .. }) => {
                        (self.events)(Event::Note(format!(
                            "  {:<10} {name:<20} point {}/{total} failed: {error}",
                            "sweep",
                            index.saturating_add(1),
                        )));
                        done.push((index, Err(error)));
                    }
                    Err(error) => return Err(error),
                }
            }
            done.sort_by_key(|(index, _)| *index);
            for (index, outcome) in done {
                let point = sweep.trials[index].point.clone();
                match outcome {
                    Ok(Done { point: trained_point, pruned_at, cached, seconds }) => {
                        if pruned_at.is_none() {
                            let history = &trained_point.meta.history;
                            finished.push(history.iter().map(|e| objective_value(e, objective)).collect());
                        }
                        let mut result = result_of(index, point, &trained_point.meta, objective, seconds, cached);
                        result.pruned_at = pruned_at;
                        results.push(result);
                        trained.push(Some(trained_point));
                    }
                    Err(error) => {
                        results.push(failed_point(index, point, error.to_string()));
                        trained.push(None);
                        first_failure.get_or_insert(error);
                    }
                }
            }
        }
        let ranking = rank(results, objective);
        let best = ranking.points.iter().map(|p| p.number.saturating_sub(1)).find(|&i| trained[i].is_some());
        let Some(best) = best else {
            // Every point failed: the first failure is the run's.
            return Err(first_failure.unwrap_or(RunError::Cancelled));
        };
        write_ranking(&self.dir.join("runs").join(&name), &ranking).map_err(|reason| RunError::Write {
            path: self.dir.join("runs").join(&name).join(RANKING_FILE).display().to_string(),
            reason,
            span,
        })?;
        let Some(mut chosen) = trained.swap_remove(best) else { return Err(RunError::Cancelled) };
        training::finish_sweep(&self.dir, &train.trial(best), &chosen.meta, span)?;
        chosen.point = Some(Box::new(training::trial_run(train, best)));
        (self.events)(Event::Swept { name, ranking });
        let rows = vec![chosen.meta.rows];
        self.trained.insert(id, Rc::new(chosen));
        Ok(rows)
    }
}

/// A point trained (or found in the cache).
struct Done {
    point: Trained,
    /// The epoch `prune:` stopped it after.
    pruned_at: Option<usize>,
    cached: bool,
    /// Seconds of training.
    seconds: f64,
}

/// A point to train: its index, its run, its cache key.
type ToTrain = (usize, Train, Option<String>);

/// Points trained: each with its index, cache key and result.
type Trainings = Vec<(usize, Option<String>, RunResult<Done>)>;

impl Session<'_> {
    /// Trains points of a sweep (item `id`'s) on `rows`: one on this
    /// thread, several each on a thread of its own (their events passed on
    /// here, in the order they come). Each with its index, key and result.
    fn train_points(
        &mut self,
        id: ItemId,
        points: Vec<ToTrain>,
        rows: &training::TrainRows,
        prune: Option<Pruner>,
    ) -> RunResult<Trainings> {
        let pruner = || prune.clone();
        if points.len() <= 1 {
            let mut out = Vec::new();
            for (index, run, key) in points {
                let start = Instant::now();
                let mut pruner = pruner();
                let number = Some(index.saturating_add(1));
                let result =
                    self.train_one(id, &run, rows.clone(), pruner.as_mut(), (number, None)).map(|point| Done {
                        point,
                        pruned_at: pruner.and_then(|p| p.pruned_at),
                        cached: false,
                        seconds: start.elapsed().as_secs_f64(),
                    });
                out.push((index, key, result));
            }
            return Ok(out);
        }
        let program = self.program;
        let item = program.items[id].as_ref().expect("the checker lowered every item");
        let (name, span) = (item.name.as_str(), item.span);
        let transforms = points.first().map(|(_, run, _)| self.saved_transforms(run)).unwrap_or_default();
        let (dir, source_text, resume) = (self.dir.clone(), self.source_text.clone(), self.resume);
        let control = self.control.clone();
        let (events, received) = std::sync::mpsc::channel::<Event>();
        let events_out = &mut *self.events;
        let results = std::thread::scope(|scope| {
            let handles: Vec<_> = points
                .into_iter()
                .map(|(index, run, key)| {
                    let (events, control, rows) = (events.clone(), control.clone(), rows.clone());
                    let (dir, source_text, transforms) = (&dir, source_text.as_deref(), &transforms);
                    let mut pruner = pruner();
                    scope.spawn(move || {
                        let start = Instant::now();
                        let mut send = |event: Event| {
                            let _ = events.send(event);
                        };
                        let console = crate::run::progress::to_console(&run);
                        let mut progress = crate::run::progress::TrainProgress {
                            name,
                            console,
                            events: &mut send,
                            control,
                            pruner: pruner.as_mut(),
                            point: Some(index.saturating_add(1)),
                        };
                        let result = training::train(
                            name,
                            &run,
                            rows,
                            dir,
                            source_text,
                            span,
                            &mut progress,
                            resume,
                            transforms,
                            None,
                        );
                        let pruned_at = pruner.and_then(|p| p.pruned_at);
                        let seconds = start.elapsed().as_secs_f64();
                        let done = result.map(|point| Done { point, pruned_at, cached: false, seconds });
                        (index, key, done)
                    })
                })
                .collect();
            drop(events);
            // Every thread's events, until the last thread is done.
            for event in received {
                events_out(event);
            }
            handles.into_iter().map(|h| h.join()).collect::<Vec<_>>()
        });
        results
            .into_iter()
            .map(|r| {
                r.map_err(|_| {
                    RunError::data(
                        "a point of the sweep stopped on a bug in pipe",
                        Span::default(),
                        "",
                        "please report it with this file",
                    )
                })
            })
            .collect()
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

/// A point whose training failed.
fn failed_point(index: usize, point: Vec<(String, String)>, reason: String) -> PointResult {
    PointResult {
        number: index.saturating_add(1),
        point,
        objective: None,
        epochs: 0,
        kept_epoch: 0,
        seconds: 0.0,
        cached: false,
        pruned_at: None,
        failed: Some(reason),
        run_dir: std::path::PathBuf::new(),
    }
}

/// `point.json` in a point's run folder: which point of which sweep it is
/// (`pipe runs` shows its values).
fn write_point(run_dir: &Path, index: usize, sweep: &Sweep) {
    let Some(trial) = sweep.trials.get(index) else { return };
    let values: serde_json::Map<String, serde_json::Value> =
        trial.point.iter().map(|(l, v)| (l.clone(), serde_json::Value::String(v.clone()))).collect();
    let json = serde_json::json!({ "point": index.saturating_add(1), "of": sweep.trials.len(), "values": values });
    // The folder is whole without it; `pipe runs` only shows less.
    let _ = write::bytes(&run_dir.join(POINT_FILE), json.to_string().as_bytes());
}

/// The file in a point's run folder that names its point.
pub const POINT_FILE: &str = "point.json";

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
    let value = kept.and_then(|epoch| objective_value(epoch, objective));
    PointResult {
        number: index.saturating_add(1),
        point,
        objective: value.filter(|v| v.is_finite()),
        epochs: meta.history.len(),
        kept_epoch: meta.kept_epoch,
        seconds,
        cached,
        pruned_at: None,
        failed: None,
        run_dir: meta.run_dir.clone(),
    }
}

/// An epoch's objective (`None`: not computed, or not finite).
fn objective_value(epoch: &Epoch, objective: Objective) -> Option<f64> {
    let value = match objective.split {
        DataSplit::Val => epoch.val.as_ref()?.get(objective.metric),
        DataSplit::Train => epoch.train.get(objective.metric),
    };
    value.filter(|v| v.is_finite())
}

/// The median stopping rule for one point, over the points finished
/// before it (Optuna's `MedianPruner`: the point's best objective so far
/// against the median of the finished points' objectives at the same
/// epoch).
#[derive(Clone)]
pub struct Pruner {
    rule: MedianPrune,
    objective: Objective,
    /// Each finished (unpruned) point's objective per epoch.
    finished: Vec<Vec<Option<f64>>>,
    /// This point's best objective so far.
    best: Option<f64>,
    /// The epoch it was stopped after.
    pruned_at: Option<usize>,
}

impl Pruner {
    fn new(rule: MedianPrune, objective: Objective, finished: Vec<Vec<Option<f64>>>) -> Self {
        Pruner { rule, objective, finished, best: None, pruned_at: None }
    }

    /// Whether the point stops after `epoch`.
    pub fn prunes(&mut self, epoch: &Epoch) -> bool {
        let Some(value) = objective_value(epoch, self.objective) else { return false };
        let lower = self.objective.metric.lower_is_better();
        let best = match self.best {
            Some(b) if (lower && b <= value) || (!lower && b >= value) => b,
            _ => value,
        };
        self.best = Some(best);
        if (self.finished.len() as u64) < self.rule.startup || epoch.epoch as u64 <= self.rule.after {
            return false;
        }
        let at = epoch.epoch.saturating_sub(1);
        let mut values: Vec<f64> = self.finished.iter().filter_map(|h| h.get(at).copied().flatten()).collect();
        let Some(median) = median(&mut values) else { return false };
        let worse = if lower { best > median } else { best < median };
        if worse {
            self.pruned_at = Some(epoch.epoch);
        }
        worse
    }
}

/// The median (the mean of the middle two for an even count, as numpy's).
fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let half = n / 2;
    match n {
        0 => None,
        _ if n % 2 == 1 => values.get(half).copied(),
        _ => Some((values.get(half.checked_sub(1)?)? + values.get(half)?) / 2.0),
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
    let mut out = format!(
        "rank,point,{},{},trained_epochs,kept_epoch,pruned_at,failed,seconds,cached,run\n",
        labels.join(","),
        ranking.objective
    );
    for (rank, p) in ranking.points.iter().enumerate() {
        let values: Vec<String> = p.point.iter().map(|(_, v)| csv_field(v)).collect();
        let objective = p.objective.map_or_else(String::new, |v| v.to_string());
        out += &format!(
            "{},{},{},{objective},{},{},{},{},{:.3},{},{}\n",
            rank.saturating_add(1),
            p.number,
            values.join(","),
            p.epochs,
            p.kept_epoch,
            p.pruned_at.map_or_else(String::new, |e| e.to_string()),
            csv_field(p.failed.as_deref().unwrap_or_default()),
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
