//! The training loop: batches, loss (plus L1/L2 terms), gradients
//! (accumulated, clipped), the optimizer step at the scheduled rate,
//! validation each epoch, early stopping with best-weight restore, and a
//! stop with a diagnostic on a non-finite loss.

use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsAccumulator;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::ir::{Batch, DataSplit, EarlyStop, Scalar, Train};
use crate::train::data::{Dataset, Rows};
use crate::train::feed::{self, Feed, batch_ranges};
use crate::train::gpu_memory::PeakMemory;
use crate::train::loss::Loss;
use crate::train::metrics::{Confusion, average_precision, log_loss, regression, regression_more, roc_auc};
use crate::train::model::{Net, Precision};
use crate::train::optimizer;
use crate::train::scale::LossScale;
use crate::train::schedule::Schedule;
use crate::train::step::{Regularize, batch_gradients, batch_tensors};

pub use crate::train::checkpoint::{Checkpoints, latest_checkpoint};
use crate::train::checkpoint::{LoopState, Within, save_checkpoint};

/// `batch: auto` on the CPU.
pub const AUTO_BATCH: usize = 256;

/// The metrics of one epoch (validation ones when there is validation data).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Epoch {
    /// 1-based.
    pub epoch: usize,
    /// Mean training loss.
    pub loss: f64,
    /// Training accuracy (classes) or mean absolute error (numbers).
    pub metric: f64,
    /// Every metric on the training batches, as the model changed over the
    /// epoch (Keras' training metrics).
    #[serde(default)]
    pub train: Scores,
    /// Validation metrics.
    pub val: Option<Scores>,
    /// The learning rate at the epoch's last step.
    pub lr: f64,
    /// Seconds of training (without validation).
    pub seconds: f64,
    /// Training samples per second.
    pub samples_per_second: f64,
    /// The f16 loss scale at the epoch's end (f16 training only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_scale: Option<f64>,
    /// The most GPU memory the epoch held (libtorch's CUDA cards only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_memory: Option<PeakMemory>,
}

/// Metrics of a model on a data set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Mean loss.
    pub loss: f64,
    /// Accuracy (classes).
    pub accuracy: Option<f64>,
    /// Macro precision.
    pub precision: Option<f64>,
    /// Macro recall.
    pub recall: Option<f64>,
    /// Macro F1.
    pub f1: Option<f64>,
    /// Confusion matrix: rows true classes, columns predicted.
    pub confusion: Option<Vec<Vec<u64>>>,
    /// Mean squared error (numbers).
    pub mse: Option<f64>,
    /// Mean absolute error (numbers).
    pub mae: Option<f64>,
    /// Area under the ROC curve (classes; not on training batches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auc: Option<f64>,
    /// Average precision, the area under the precision-recall curve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr_auc: Option<f64>,
    /// Log loss of the predicted probabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_loss: Option<f64>,
    /// Root mean squared error (numbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rmse: Option<f64>,
    /// Coefficient of determination (numbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r2: Option<f64>,
    /// Mean absolute percentage error, a fraction (numbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mape: Option<f64>,
    /// ROC and precision-recall points per class, when an evaluation asks
    /// for them (`curves:`); written as files, not in the scores' JSON.
    #[serde(skip)]
    pub curves: Option<Vec<crate::train::metrics::ClassCurve>>,
    /// `top_k(k)` for each `k` an evaluation asks for: `(k, fraction)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_k: Vec<(u16, f64)>,
}

/// What an evaluation asks for beyond the scores every one gets.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Asked {
    /// Each class's ROC and PR points (`curves:`).
    pub curves: bool,
    /// `top_k(k)`'s `k`s.
    pub top_k: Vec<u16>,
}

impl Scores {
    /// A metric's value (`None`: not computed for this task, which the
    /// checker rules out for watched metrics).
    pub fn get(&self, metric: Scalar) -> Option<f64> {
        match metric {
            Scalar::Loss => Some(self.loss),
            Scalar::Accuracy => self.accuracy,
            Scalar::Precision => self.precision,
            Scalar::Recall => self.recall,
            Scalar::F1 => self.f1,
            Scalar::Mse => self.mse,
            Scalar::Mae => self.mae,
            Scalar::Auc => self.auc,
            Scalar::PrAuc => self.pr_auc,
            Scalar::LogLoss => self.log_loss,
            Scalar::Rmse => self.rmse,
            Scalar::R2 => self.r2,
            Scalar::Mape => self.mape,
        }
    }

    /// The scores of predictions against the truth (`classes`: how many
    /// classes the model tells apart, `None` for numbers; `probabilities`:
    /// each row's class probabilities, when kept, for the metrics of
    /// ranking and calibration).
    pub fn of(
        loss: f64,
        truth: &[f32],
        predicted: &[f32],
        probabilities: Option<&[f32]>,
        classes: Option<usize>,
    ) -> Self {
        let mut scores = Scores { loss, ..Scores::default() };
        match classes {
            Some(classes) => {
                let t: Vec<usize> = truth.iter().map(|v| *v as usize).collect();
                let p: Vec<usize> = predicted.iter().map(|v| *v as usize).collect();
                let confusion = Confusion::new(classes, &t, &p);
                let (precision, recall, f1) = confusion.macro_scores();
                scores.accuracy = Some(confusion.accuracy());
                (scores.precision, scores.recall, scores.f1) = (Some(precision), Some(recall), Some(f1));
                scores.confusion = Some(confusion.counts);
                if let Some(probabilities) = probabilities {
                    let p: Vec<f64> = probabilities.iter().map(|v| f64::from(*v)).collect();
                    scores.auc = roc_auc(&t, &p, classes);
                    scores.pr_auc = average_precision(&t, &p, classes);
                    scores.log_loss = Some(log_loss(&t, &p, classes));
                }
            }
            None => {
                let (mse, mae) = regression(truth, predicted);
                (scores.mse, scores.mae) = (Some(mse), Some(mae));
                let (rmse, r2, mape) = regression_more(truth, predicted);
                (scores.rmse, scores.r2, scores.mape) = (Some(rmse), Some(r2), Some(mape));
            }
        }
        scores
    }
}

/// Why training stopped early with an error.
#[derive(Debug)]
pub enum Failure {
    /// The loss became NaN or infinite at this epoch and step (1-based);
    /// the weights are the last good ones.
    NonFinite {
        /// Epoch.
        epoch: usize,
        /// Step within the epoch.
        step: usize,
        /// The model before the bad step.
        last_good: Box<Net>,
    },
    /// Stopped on request (the pipeline changed under `pipe watch`).
    Cancelled,
    /// A checkpoint to resume from could not be read.
    Resume(String),
    /// The checkpoint of an interrupted run could not be written.
    Checkpoint(String),
    /// The training or validation rows could not be read from disk.
    Read(String),
    /// A checkpoint's file is gone or changed since it was written.
    Damaged {
        /// The checkpoint.
        dir: std::path::PathBuf,
        /// Which file, and what is wrong with it.
        damage: crate::files::checksums::Damage,
    },
    /// A remote device went away during training (Burn Remote's reason).
    DeviceLost(String),
    /// libtorch's CUDA ran out of memory (its words).
    OutOfMemory(String),
}

/// A trained model and its history.
#[derive(Debug)]
pub struct Fitted {
    /// The weights kept (the best epoch's with `restore_best`), for inference.
    pub net: Net,
    /// One entry per epoch run.
    pub history: Vec<Epoch>,
    /// The epoch whose weights were kept (1-based).
    pub kept_epoch: usize,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
    /// Whether settings changed while it ran (the result then belongs to no
    /// single version of the file, and is not cached).
    pub changed_while_running: bool,
}

/// Work done so far in this process: each training step, evaluation or
/// prediction batch and checkpoint adds one. The watchdog over remote
/// devices (`run::stall`) ends a run when it stops growing.
static BEATS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Counts a piece of work done (see [`beats`]).
pub fn beat() {
    BEATS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// The work done so far in this process (training steps, evaluation and
/// prediction batches, checkpoints).
pub fn beats() -> u64 {
    BEATS.load(std::sync::atomic::Ordering::Relaxed)
}

/// What the loop reports as it goes.
pub trait Progress {
    /// An epoch is done.
    fn epoch(&mut self, epoch: &Epoch, epochs: usize);
    /// A step is done (for a progress bar).
    fn step(&mut self, epoch: usize, step: usize, steps: usize);
    /// New settings to apply from the next epoch on (`pipe watch`: only
    /// epochs, early stopping, the schedule and the learning rate change).
    fn new_settings(&mut self) -> Option<crate::ir::TrainSettings> {
        None
    }
    /// Whether to stop now (checked between epochs).
    fn cancelled(&mut self) -> bool {
        false
    }
    /// Whether a sweep's pruning stops this training after `epoch` (the
    /// weights kept as when stopped early).
    fn prune(&mut self, _epoch: &Epoch) -> bool {
        false
    }
    /// A line worth showing (resuming from a checkpoint).
    fn note(&mut self, _line: &str) {}
}

/// What a training starts from besides fresh weights.
#[derive(Default)]
pub struct Start<'a> {
    /// A trained network whose first layers the model takes (with their
    /// weights), and how many.
    pub pretrained: Option<(&'a Net, usize)>,
    /// Where checkpoints go (and the one to resume from).
    pub checkpoints: Option<&'a Checkpoints>,
}

/// Trains `train.model` on `data`, validating on `val`, on `devices`: the
/// first holds the model; with more, each step is data parallel (see
/// [`batch_gradients`]).
pub fn fit(
    train: &Train,
    data: Rows,
    val: Option<&Rows>,
    loss: &Loss,
    devices: &[Device],
    progress: &mut dyn Progress,
    start: Start,
) -> Result<Fitted, Failure> {
    let checkpoints = start.checkpoints;
    let from_disk = matches!(data, Rows::Disk(_));
    // Rows read from disk come and go a window at a time, on other threads
    // (each with its own malloc arena): kept in the heap, every arena would
    // keep a window's worth.
    let _heap = matches!(data, Rows::Memory(_)).then(crate::train::alloc::TrainingHeap::keep);
    let device = &devices[0];
    let replicas: Vec<Device> = devices[1..].iter().map(|d| d.clone().autodiff()).collect();
    let mut settings = train.settings.clone();
    let s = &settings;
    let seed = s.seed;
    // The CUDA cards whose peak memory each epoch reports.
    let cards = crate::train::gpu_memory::cards(&s.devices);
    let autodiff = device.clone().autodiff();
    let precision = Precision::of(s.precision);
    let mut net = Net::new(&train.model, &autodiff, seed).with_precision(precision);
    if let Some((base, layers)) = start.pretrained {
        net = net.adopt(base, layers, &autodiff);
    }
    let frozen = frozen_layers(train);
    net = net.freeze_first(frozen);
    let mut scaler = LossScale::for_precision(precision);
    let (mut optim, lr) = optimizer::build(s);
    let batch = training_batch(s).clamp(1, data.len().max(1));
    let mut epochs = s.epochs as usize;
    // A last batch of one row would give batch norm no statistics (all
    // zeros, or PyTorch's "expected more than 1 value per channel"): that
    // row joins the batch before it.
    let merge_single = train.model.has_batch_norm();
    let steps = batch_ranges(data.len(), batch, merge_single).len();
    let accumulate = s.accumulate.max(1) as usize;
    let mut schedule = Schedule::new(lr, &s.schedule, steps.div_ceil(accumulate), epochs);
    let mut accumulator = GradientsAccumulator::<Net>::new();
    let mut history = Vec::new();
    let mut best: Option<(f64, usize, Net)> = None;
    // f64::MAX, not infinity: the state goes through JSON in checkpoints.
    let (mut waited, mut plateau_waited, mut plateau_best) = (0u64, 0u64, f64::MAX);
    let mut update = 0usize;
    let mut stopped_early = false;
    let mut changed_while_running = false;
    let mut epoch = 0;
    // The part of an epoch a resumed checkpoint had done.
    let mut within: Option<Within> = None;
    if let Some(dir) = checkpoints.and_then(|c| c.resume.as_ref()) {
        let damaged = |damage| Failure::Damaged { dir: dir.clone(), damage };
        crate::train::checkpoint::verify(dir, &["state.json"]).map_err(damaged)?;
        let state: LoopState = std::fs::read(dir.join("state.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| Failure::Resume(format!("{} has no readable state", dir.display())))?;
        // The weights the state says there are (best.bpk when it has a best).
        crate::train::checkpoint::verify(dir, &crate::train::checkpoint::files(state.best.is_some()))
            .map_err(damaged)?;
        net = net
            .try_load_file(dir.join("model.bpk"))
            .map_err(|e| Failure::Resume(crate::train::model::record_error(e)))?;
        net = net.freeze_first(frozen);
        optim =
            optim.load(dir.join("optimizer.bpk")).map_err(|e| Failure::Resume(crate::train::model::record_error(e)))?;
        net.set_dropout_states(&state.dropout);
        if let Some((value, at)) = state.best {
            let plain = device.clone().without_autodiff();
            let best_net = Net::new(&train.model, &plain, seed)
                .try_load_file(dir.join("best.bpk"))
                .map_err(|e| Failure::Resume(crate::train::model::record_error(e)))?
                .with_precision(precision);
            best = Some((value, at, best_net.valid()));
        }
        epoch = state.epoch;
        within = state.within;
        if let Some(stopped) = &within
            && stopped.from_disk != from_disk
        {
            let (then, now) = if stopped.from_disk { ("from disk", "in memory") } else { ("in memory", "from disk") };
            return Err(Failure::Resume(format!(
                "its checkpoint stopped mid-epoch training {then}, and this run trains {now} (the memory budget, `--memory`, decides): the rest of that epoch would not be the rows it had left; run with the budget it had, or start over"
            )));
        }
        update = state.update;
        schedule.reduce(state.plateau_factor);
        (plateau_waited, plateau_best, waited) = (state.plateau_waited, state.plateau_best, state.waited);
        history = state.history;
        if state.scaler.is_some() {
            scaler = state.scaler;
        }
    }
    // The loop's state for a checkpoint: `done` epochs, and where the next stands.
    macro_rules! state_now {
        ($done:expr, $within:expr) => {
            LoopState {
                epoch: $done,
                update,
                plateau_factor: schedule.factor(),
                plateau_waited,
                plateau_best,
                waited,
                best: best.as_ref().map(|(v, e, _)| (*v, *e)),
                history: history.clone(),
                dropout: net.dropout_states(),
                scaler: scaler.clone(),
                within: $within,
            }
        };
    }
    while epoch < epochs {
        epoch = epoch.saturating_add(1);
        if progress.cancelled() {
            if let Some(plan) = checkpoints.filter(|c| c.every > 0) {
                // A resumed epoch not started yet keeps its place.
                let state = state_now!(epoch.saturating_sub(1), within.clone());
                save_checkpoint(plan, &state, &net, best.as_ref().map(|b| &b.2), &optim)
                    .map_err(Failure::Checkpoint)?;
            }
            return Err(Failure::Cancelled);
        }
        if let Some(new) = progress.new_settings() {
            epochs = new.epochs as usize;
            // A plateau's reductions so far carry over to the new schedule.
            let factor = schedule.factor();
            schedule = Schedule::new(new.optimizer.lr, &new.schedule, steps.div_ceil(accumulate), epochs);
            schedule.reduce(factor);
            // A new watched metric starts over: its best is not the old one's.
            let watched = |e: &Option<EarlyStop>| e.as_ref().map(|e| (e.split, e.metric));
            if watched(&settings.early_stop) != watched(&new.early_stop) {
                (best, waited) = (None, 0);
            }
            settings.early_stop = new.early_stop;
            settings.epochs = new.epochs;
            changed_while_running = true;
            if epoch > epochs {
                break;
            }
        }
        let s = &settings;
        // Each epoch's order depends only on the seed and the epoch (not on
        // the epochs before), so a resumed run shuffles as the original did.
        let start = Instant::now();
        let resumed = within.take().unwrap_or_default();
        let (mut loss_sum, mut truth, mut predicted) = (resumed.loss_sum, resumed.truth, resumed.predicted);
        let mut rate = schedule.rate(update);
        let augment = s.augment.clone();
        let window_bytes = feed::WINDOW_BYTES;
        let augment_on_device = crate::train::augment_device::on_device(&s.devices);
        let plan = feed::Plan {
            rows: data.clone(),
            batch,
            merge_single,
            seed,
            epoch,
            augment,
            augment_on_device,
            window_bytes,
        };
        let regularize = Regularize::of(train);
        crate::train::gpu_memory::reset_peaks(&cards);
        // Steps done before the checkpoint this run resumed from are not built.
        for gathered in Feed::start(plan, resumed.steps, s.prefetch as usize).map_err(Failure::Read)? {
            let gathered = gathered.map_err(Failure::Read)?;
            let (step, rows) = (gathered.step, gathered.batch.rows);
            // Steps as people count them, from 1.
            let number = step.saturating_add(1);
            // Ctrl-C (or a change under `pipe watch`) stops at the next
            // batch that starts an update (with `accumulate:`, the
            // gradients summed so far would be lost), with a checkpoint of
            // where the epoch stands when the run has `checkpoint:`.
            if progress.cancelled() && step.is_multiple_of(accumulate) {
                if let Some(plan) = checkpoints.filter(|c| c.every > 0) {
                    let state = state_now!(
                        epoch.saturating_sub(1),
                        Some(Within { steps: step, loss_sum, truth, predicted, from_disk })
                    );
                    save_checkpoint(plan, &state, &net, best.as_ref().map(|b| &b.2), &optim)
                        .map_err(Failure::Checkpoint)?;
                }
                return Err(Failure::Cancelled);
            }
            let scale = scaler.as_ref().map(|s| s.scale);
            let (value, mut grads, step_truth, step_predicted) =
                batch_gradients(&net, &replicas, gathered.batch, loss, &autodiff, &regularize, scale);
            if !value.is_finite() {
                return Err(Failure::NonFinite { epoch, step: number, last_good: Box::new(net.valid()) });
            }
            loss_sum += value * rows as f64;
            predicted.extend(step_predicted);
            truth.extend(step_truth);
            if let Some(scaler) = &mut scaler
                && !scaler.unscale(&net, &mut grads)
            {
                // Overflowed: no step this time, a smaller scale next.
                beat();
                progress.step(epoch, number, steps);
                continue;
            }
            if accumulate == 1 {
                rate = schedule.rate(update);
                net = optim.step(rate, net, grads);
                update = update.saturating_add(1);
            } else {
                accumulator.accumulate(&net, grads);
                if number.is_multiple_of(accumulate) || number == steps {
                    rate = schedule.rate(update);
                    net = optim.step(rate, net, accumulator.grads());
                    update = update.saturating_add(1);
                }
            }
            beat();
            progress.step(epoch, number, steps);
        }
        let seconds = start.elapsed().as_secs_f64();
        let mean_loss = loss_sum / data.len().max(1) as f64;
        let classes = loss.is_classification().then(|| net.output_width().max(2));
        let train_scores = Scores::of(mean_loss, &truth, &predicted, None, classes);
        let metric = if loss.is_classification() { train_scores.accuracy } else { train_scores.mae };
        let val_scores = match val {
            Some(v) => {
                let how = Scoring { asked: &Asked::default(), batch };
                Some(evaluate_rows(&net.valid(), v, loss, device, how).map_err(Failure::Read)?)
            }
            None => None,
        };
        let record = Epoch {
            epoch,
            loss: mean_loss,
            metric: metric.unwrap_or(f64::NAN),
            train: train_scores,
            val: val_scores,
            lr: rate,
            seconds,
            samples_per_second: data.len() as f64 / seconds.max(1e-9),
            loss_scale: scaler.as_ref().map(|s| s.scale),
            gpu_memory: crate::train::gpu_memory::peak(&cards),
        };
        progress.epoch(&record, epochs);
        if let Some((patience, factor)) = schedule.plateau() {
            let watched = record.val.as_ref().map_or(record.loss, |v| v.loss);
            if watched < plateau_best {
                (plateau_best, plateau_waited) = (watched, 0);
            } else {
                plateau_waited = plateau_waited.saturating_add(1);
                if plateau_waited >= patience {
                    schedule.reduce(factor);
                    plateau_waited = 0;
                }
            }
        }
        let watched = s.early_stop.as_ref().and_then(|e| monitored(e, &record));
        history.push(record);
        if let (Some(stop), Some(value)) = (&s.early_stop, watched) {
            let better = match &best {
                None => true,
                Some((b, _, _)) => improves(stop.metric, value, *b, stop.min_delta),
            };
            if better {
                best = Some((value, epoch, net.valid()));
                waited = 0;
            } else {
                waited = waited.saturating_add(1);
                if waited >= stop.patience {
                    stopped_early = true;
                    break;
                }
            }
        }
        if history.last().is_some_and(|e| progress.prune(e)) {
            stopped_early = true;
            break;
        }
        if let Some(plan) = checkpoints.filter(|c| c.every > 0 && epoch.is_multiple_of(c.every)) {
            let state = state_now!(epoch, None);
            // A checkpoint that cannot be written costs only the ability to resume.
            let _ = save_checkpoint(plan, &state, &net, best.as_ref().map(|b| &b.2), &optim);
        }
    }
    let last = history.len();
    let restore = settings.early_stop.as_ref().is_some_and(|e| e.restore_best);
    let (net, kept_epoch) = match best {
        // Also when the run ended without stopping early (Keras keeps the last).
        Some((_, epoch, best_net)) if restore => (best_net, epoch),
        _ => (net.valid(), last),
    };
    Ok(Fitted { net, history, kept_epoch, stopped_early, changed_while_running })
}

/// The watched value of an epoch: `val.loss`, `train.f1`, ...
fn monitored(stop: &EarlyStop, epoch: &Epoch) -> Option<f64> {
    match stop.split {
        DataSplit::Val => epoch.val.as_ref()?.get(stop.metric),
        DataSplit::Train => epoch.train.get(stop.metric),
    }
}

/// Whether `value` beats `best` by more than `min_delta` (lower is better
/// for losses and errors, higher for the rest).
fn improves(metric: Scalar, value: f64, best: f64, min_delta: f64) -> bool {
    if metric.lower_is_better() { value < best - min_delta } else { value > best + min_delta }
}

/// How many of the model's first layers are frozen (`freeze(until: name)`
/// or `freeze(until: index)`: up to and including that layer).
fn frozen_layers(train: &Train) -> usize {
    let Some(until) = &train.model.frozen_until else { return 0 };
    // A layer's index, or its name.
    let index = until.parse::<usize>().ok();
    let index = index.or_else(|| train.model.layers.iter().position(|l| l.name.as_deref() == Some(until.as_str())));
    index.map_or(0, |i| i.saturating_add(1))
}

/// The most rows an inference batch takes.
const EVAL_BATCH: usize = 2048;

/// The input values an inference batch holds, if its rows are wide: 2,048
/// rows of up to 1,024 features (a 28x28 image), fewer wider ones.
const EVAL_VALUES: usize = EVAL_BATCH * 1024;

/// Rows per inference batch for rows of `width` features, for a run that
/// trains `batch` rows a step: up to 2,048 rows while their input stays
/// within [`EVAL_VALUES`] (a layer's activations grow with it: 2,048
/// 3x224x224 images through a 64-channel convolution would be 26 GB), and
/// never fewer than the training batch, whose step (activations kept for
/// the backward pass too) fits where the run trains.
pub fn eval_rows(width: usize, batch: usize) -> usize {
    EVAL_VALUES.checked_div(width).unwrap_or(EVAL_BATCH).max(batch).clamp(1, EVAL_BATCH)
}

/// The rows a run trains on a step (`batch: auto` is [`AUTO_BATCH`]).
pub fn training_batch(settings: &crate::ir::TrainSettings) -> usize {
    match settings.batch {
        Batch::Rows(b) => usize::try_from(b).unwrap_or(usize::MAX),
        Batch::Auto => AUTO_BATCH,
    }
}

/// The model's predictions for every row (class indices or numbers), in
/// inference batches for a run that trains `batch` rows a step.
pub fn predict(net: &Net, data: &Dataset, loss: &Loss, device: &Device, batch: usize) -> Vec<f32> {
    predict_with_probabilities(net, data, loss, device, false, batch).0
}

/// The model's predictions for every row, and when `probabilities` (for a
/// classification loss) every class's probability, row after row (in the
/// run's class order); inference batches as [`eval_rows`].
pub fn predict_with_probabilities(
    net: &Net,
    data: &Dataset,
    loss: &Loss,
    device: &Device,
    probabilities: bool,
    batch: usize,
) -> (Vec<f32>, Option<Vec<f32>>) {
    let plain = device.clone().without_autodiff();
    let rows: Vec<usize> = (0..data.rows).collect();
    let (mut out, mut all) = (Vec::with_capacity(data.rows), Vec::new());
    let wanted = probabilities && loss.is_classification();
    for chunk in rows.chunks(eval_rows(data.width, batch)) {
        let (x, _, _) = batch_tensors(data.select(chunk), &plain);
        let output = net.forward(x).flat();
        let predicted = loss.predict(output.clone());
        if wanted && let Some(block) = loss.probabilities(output) {
            all.extend(block);
        }
        out.extend(predicted);
        beat();
    }
    let all = (wanted && !out.is_empty() && all.len().is_multiple_of(out.len())).then_some(all);
    (out, all)
}

/// How an evaluation reads: what it `asked` for, and the training batch
/// of the run (see [`eval_rows`]).
pub struct Scoring<'a> {
    /// What the evaluation asked for beyond the default metrics.
    pub asked: &'a Asked,
    /// The rows the run trains on a step.
    pub batch: usize,
}

/// The metrics of `net` on `data`.
pub fn evaluate(net: &Net, data: &Dataset, loss: &Loss, device: &Device, how: Scoring) -> Scores {
    let rows: Vec<usize> = (0..data.rows).collect();
    let chunks = rows.chunks(eval_rows(data.width, how.batch)).map(|chunk| data.select(chunk));
    score(net, chunks, data.rows, loss, device, how)
}

/// The metrics of `net` on rows in memory or on disk (an error when they
/// cannot be read).
pub fn evaluate_rows(net: &Net, data: &Rows, loss: &Loss, device: &Device, how: Scoring) -> Result<Scores, String> {
    let mut failure = None;
    let blocks = data.blocks(EVAL_BATCH).map_while(|block| block.map_err(|e| failure = Some(e)).ok());
    let scores = score(net, blocks, data.len(), loss, device, how);
    failure.map_or(Ok(scores), Err)
}

/// The metrics of `net` on `rows` rows, given a block at a time.
fn score(
    net: &Net,
    blocks: impl Iterator<Item = Dataset>,
    rows: usize,
    loss: &Loss,
    device: &Device,
    how: Scoring,
) -> Scores {
    let asked = how.asked;
    let plain = device.clone().without_autodiff();
    let (mut loss_sum, mut truth, mut predicted, mut probabilities) = (0.0, Vec::new(), Vec::new(), Vec::new());
    for block in blocks {
        let all: Vec<usize> = (0..block.rows).collect();
        for chunk in all.chunks(eval_rows(block.width, how.batch)) {
            let (x, y, host) = batch_tensors(block.select(chunk), &plain);
            let output = net.forward(x).flat();
            loss_sum += loss.forward(output.clone(), &y, &plain).into_scalar::<f64>() * chunk.len() as f64;
            probabilities.extend(loss.probabilities(output.clone()).unwrap_or_default());
            predicted.extend(loss.predict(output));
            truth.extend(host);
            beat();
        }
    }
    let classes = loss.is_classification().then(|| net.output_width().max(2));
    let kept = (classes.and_then(|c| c.checked_mul(truth.len())) == Some(probabilities.len()))
        .then_some(probabilities.as_slice());
    let mut scores = Scores::of(loss_sum / rows.max(1) as f64, &truth, &predicted, kept, classes);
    if let (Some(kept), Some(classes)) = (kept, classes)
        && (asked.curves || !asked.top_k.is_empty())
    {
        let t: Vec<usize> = truth.iter().map(|v| *v as usize).collect();
        let p: Vec<f64> = kept.iter().map(|v| f64::from(*v)).collect();
        if asked.curves {
            scores.curves = Some(crate::train::metrics::curves(&t, &p, classes));
        }
        scores.top_k =
            asked.top_k.iter().map(|&k| (k, crate::train::metrics::top_k(&t, &p, classes, usize::from(k)))).collect();
    }
    scores
}
