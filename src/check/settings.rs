//! The settings of training runs and evaluations, checked and lowered in
//! one pass: every key known, every value of the right kind and range,
//! devices and precisions that this build can run, and each accepted value
//! turned into its typed IR form with the defaults resolved. A rule that
//! accepts a value is the rule that produces its IR, so nothing is checked
//! in one place and read (or guessed) in another.

use std::path::PathBuf;

use crate::check::args::{Bound, Declared, bind, pos};
use crate::check::error::{CheckError, Mistake};
use crate::check::familiar::{self, Place};
use crate::check::setting_calls::{
    CHECKPOINTS, CLIPS, ClipKind, EARLY_STOPS, GPU_MEMORIES, GpuMemoryKind, LOG_SINKS, LOSSES, Norm, OPTIMIZERS,
    REGULARIZERS, SCHEDULES, ScheduleKind, SinkKind,
};
use crate::check::value::{Constants, Value, eval};
use crate::ir::{
    Batch, Checkpoint, ClassWeight, Clip, DataSplit, Decay, Device, DeviceKind, EarlyStop, GpuMemory, LogSink, Loss,
    LossOptions, Metric, Objective, Optimizer, Precision, Scalar, Schedule, TargetScaling, Task, TrainSettings,
    WarmupLength,
};
use crate::schema::{DType, Schema};
use crate::source::Span;
use crate::suggest::closest;
use crate::syntax::ast::*;

/// The settings of a `train` block (matched exhaustively where they are
/// checked: a new one fails to compile until it is).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrainKey {
    /// `target:`
    Target,
    /// `validate:`
    Validate,
    /// `loss:`
    Loss,
    /// `optimizer:`
    Optimizer,
    /// `schedule:`
    Schedule,
    /// `batch:`
    Batch,
    /// `epochs:`
    Epochs,
    /// `early_stop:`
    EarlyStop,
    /// `precision:`
    Precision,
    /// `device:`
    Device,
    /// `log:`
    Log,
    /// `regularize:`
    Regularize,
    /// `clip:`
    Clip,
    /// `accumulate:`
    Accumulate,
    /// `seed:`
    Seed,
    /// `save:`
    Save,
    /// `checkpoint:`
    Checkpoint,
    /// `augment:`
    Augment,
    /// `class_weight:`
    ClassWeight,
    /// `weights:`
    Weights,
    /// `scale:`
    Scale,
    /// `cudnn_benchmark:`
    CudnnBenchmark,
    /// `gpu_memory:`
    GpuMemory,
    /// `prefetch:`
    Prefetch,
    /// `jit:` (or `compile:`)
    Jit,
    /// `search:` (how a sweep picks its points)
    Search,
    /// `objective:` (what ranks a sweep's points)
    Objective,
    /// `prune:` (a sweep's stopping rule)
    Prune,
    /// `parallel:` (a sweep's points trained at a time)
    Parallel,
}

impl TrainKey {
    /// Whether a sweep may vary this setting (`optimizer: adam(lr:
    /// sweep([1e-3, 1e-2]))`): not the ones that name data, columns, files
    /// or devices, which every point shares, nor the sweep's own.
    pub fn sweepable(self) -> bool {
        match self {
            TrainKey::Loss
            | TrainKey::Optimizer
            | TrainKey::Schedule
            | TrainKey::Batch
            | TrainKey::Epochs
            | TrainKey::EarlyStop
            | TrainKey::Precision
            | TrainKey::Regularize
            | TrainKey::Clip
            | TrainKey::Accumulate
            | TrainKey::Seed
            | TrainKey::ClassWeight
            | TrainKey::Scale => true,
            // `prefetch:` changes how fast rows arrive, not what trains:
            // every point of a sweep over it would be the same run.
            TrainKey::Prefetch
            | TrainKey::Target
            | TrainKey::Validate
            | TrainKey::Device
            | TrainKey::Log
            | TrainKey::Save
            | TrainKey::Checkpoint
            | TrainKey::Augment
            | TrainKey::Weights
            | TrainKey::CudnnBenchmark
            | TrainKey::GpuMemory
            | TrainKey::Jit
            | TrainKey::Search
            | TrainKey::Objective
            | TrainKey::Prune
            | TrainKey::Parallel => false,
        }
    }
}

/// A setting, declared once: its key, the form of its value and what it
/// does (the checker's keys, the LSP's completion and hover).
pub struct Setting<K: 'static> {
    /// What the checker matches.
    pub key: K,
    /// The key as written.
    pub name: &'static str,
    /// The values it takes.
    pub form: &'static str,
    /// What it does, in one line.
    pub doc: &'static str,
}

const fn train_setting(key: TrainKey, name: &'static str, form: &'static str, doc: &'static str) -> Setting<TrainKey> {
    Setting { key, name, form, doc }
}

/// The settings of a `train` block.
pub const TRAIN_SETTINGS: &[Setting<TrainKey>] = &[
    train_setting(TrainKey::Target, "target", "column", "The column the model learns to predict"),
    train_setting(
        TrainKey::Validate,
        "validate",
        "data",
        "Data scored after each epoch (`val.` metrics, early stopping)",
    ),
    train_setting(
        TrainKey::Loss,
        "loss",
        "cross_entropy | binary_cross_entropy | mse | mae | huber",
        "The loss, on the model's raw outputs (cross_entropy for classes, mse for numbers unless given)",
    ),
    train_setting(
        TrainKey::Optimizer,
        "optimizer",
        "sgd(lr, ...) | adam(lr, ...) | adamw(lr, ...) | rmsprop(lr, ...)",
        "How weights are updated (adam(1e-3) unless given)",
    ),
    train_setting(
        TrainKey::Schedule,
        "schedule",
        "constant | warmup(epochs: | steps:) then ... | step(every:, gamma:) | exponential(gamma) | cosine(min_lr:) | on_plateau(patience:, factor:)",
        "How the learning rate changes over training",
    ),
    train_setting(TrainKey::Batch, "batch", "n | auto", "Samples per step (`auto`: the largest that fits)"),
    train_setting(TrainKey::Epochs, "epochs", "n", "Passes over the training data (0 trains nothing)"),
    train_setting(
        TrainKey::EarlyStop,
        "early_stop",
        "patience(n, on: val.loss, min_delta:, restore_best:)",
        "Stops when the watched metric has not improved for n epochs",
    ),
    train_setting(TrainKey::Precision, "precision", "f32 | f16 | bf16", "The float type the model computes in"),
    train_setting(
        TrainKey::Device,
        "device",
        "cpu | cuda(N) | torch.cpu | torch.cuda(N) | remote(\"ws://HOST:PORT\") | [devices]",
        "Where training runs (a list trains data parallel)",
    ),
    train_setting(
        TrainKey::Log,
        "log",
        "console | tensorboard(dir) | csv(path) | jsonl(path) | [sinks]",
        "Where each epoch's metrics go",
    ),
    train_setting(
        TrainKey::Regularize,
        "regularize",
        "l1(w) | l2(w) | [l1(w), l2(w)]",
        "Weight penalties on dense and conv weights",
    ),
    train_setting(TrainKey::Clip, "clip", "norm(x) | value(x)", "Gradient clipping"),
    train_setting(TrainKey::Accumulate, "accumulate", "n", "Steps whose gradients are summed before one update"),
    train_setting(TrainKey::Seed, "seed", "n", "Seed of initialisation, shuffles, dropout and augmentation"),
    train_setting(
        TrainKey::Save,
        "save",
        "\"folder\"",
        "Where the trained model is saved (for `load` and `pipe predict`)",
    ),
    train_setting(
        TrainKey::Checkpoint,
        "checkpoint",
        "checkpoint(every:, keep:)",
        "Checkpoints to resume an interrupted run",
    ),
    train_setting(TrainKey::Augment, "augment", "augment item", "Random changes to training images, per sample"),
    train_setting(TrainKey::ClassWeight, "class_weight", "balanced", "Weights each class's loss by its rarity"),
    train_setting(
        TrainKey::Weights,
        "weights",
        "column",
        "Weighs each training row's loss by this column's value (Keras' sample_weight); not a feature",
    ),
    train_setting(
        TrainKey::Scale,
        "scale",
        "standard | minmax",
        "Scales a numeric target for training; predictions and metrics stay in its units",
    ),
    train_setting(TrainKey::CudnnBenchmark, "cudnn_benchmark", "true | false", "cuDNN's autotuning (`torch.cuda`)"),
    train_setting(
        TrainKey::GpuMemory,
        "gpu_memory",
        "growth | limit(fraction) | [growth, limit(fraction)]",
        "How libtorch takes a CUDA card's memory (`torch.cuda` devices): segments that grow in place, at most a share of the card",
    ),
    train_setting(
        TrainKey::Prefetch,
        "prefetch",
        "n",
        "Batches built (and augmented) on another thread while the step before trains (2 unless given; 0: none)",
    ),
    train_setting(
        TrainKey::Jit,
        "jit",
        "false",
        "Operation fusion (XLA's jit_compile): no backend of this build fuses, so only `false` checks",
    ),
    train_setting(
        TrainKey::Jit,
        "compile",
        "false",
        "`jit` by torch.compile's name: no backend of this build compiles, so only `false` checks",
    ),
    train_setting(
        TrainKey::Search,
        "search",
        "grid | random(n:, seed:)",
        "How a sweep picks its points: every combination (`grid`, the default) or `n` drawn at random",
    ),
    train_setting(
        TrainKey::Objective,
        "objective",
        "val.loss | val.<metric> | train.<metric>",
        "What ranks a sweep's points (at each point's kept epoch); `val.loss` unless given",
    ),
    train_setting(
        TrainKey::Prune,
        "prune",
        "median(startup:, after:)",
        "Stops a sweep's point whose best objective so far is worse than the finished points' median at that epoch",
    ),
    train_setting(
        TrainKey::Parallel,
        "parallel",
        "k",
        "A sweep's points trained k at a time, each on a thread of its own (1 unless given)",
    ),
];

/// The settings of an `evaluate` block.
pub const EVALUATE_SETTINGS: &[Setting<EvaluateKey>] = &[
    Setting {
        key: EvaluateKey::Metrics,
        name: "metrics",
        form: "[accuracy, precision, recall, f1, confusion, auc, log_loss, loss, mse, mae, r2, ...]",
        doc: "What the evaluation computes",
    },
    Setting {
        key: EvaluateKey::Curves,
        name: "curves",
        form: "\"folder\"",
        doc: "Writes each class's ROC and precision-recall curves there (roc.csv, pr.csv, roc.png, pr.png)",
    },
    Setting {
        key: EvaluateKey::Threshold,
        name: "threshold",
        form: "p in (0, 1)",
        doc: "A two-class run predicts its second class above this probability (0.5 unless given)",
    },
];

/// The settings of an `evaluate` block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvaluateKey {
    /// `metrics:`
    Metrics,
    /// `threshold:`
    Threshold,
    /// `curves:`
    Curves,
}

/// An evaluation's settings, checked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EvaluateSettings {
    /// The metrics, in the order written.
    pub metrics: Vec<Metric>,
    /// `threshold:`, checked in (0, 1) (whether the run has two classes is
    /// checked where its model is known).
    pub threshold: Option<(f64, Span)>,
    /// `curves:`, the folder the curves go to.
    pub curves: Option<(std::path::PathBuf, Span)>,
}

/// The settings of an `augment` block.
pub const AUGMENT_SETTINGS: &[Setting<()>] = &[Setting {
    key: (),
    name: "fill",
    form: "nearest | reflect | constant(v)",
    doc: "What geometric steps show where they uncover the image (nearest unless given)",
}];

/// The keys of settings, as written.
pub fn setting_names<K>(settings: &[Setting<K>]) -> Vec<&'static str> {
    settings.iter().map(|s| s.name).collect()
}

/// A setting's form and doc, by its key as written (for hover).
pub fn describe_setting(name: &str) -> Option<(String, &'static str)> {
    let train = TRAIN_SETTINGS.iter().find(|s| s.name == name).map(|s| (s.name, s.form, s.doc));
    let evaluate = || EVALUATE_SETTINGS.iter().find(|s| s.name == name).map(|s| (s.name, s.form, s.doc));
    let augment = || AUGMENT_SETTINGS.iter().find(|s| s.name == name).map(|s| (s.name, s.form, s.doc));
    train.or_else(evaluate).or_else(augment).map(|(name, form, doc)| (format!("{name}: {form}"), doc))
}

/// The largest count a setting takes (epochs, batch, steps, ...): beyond
/// it a run could not finish, and the number would overflow on the way.
const MAX_COUNT: i64 = 1 << 31;

/// The most batches `prefetch:` builds ahead.
const MAX_PREFETCH: u64 = 64;

/// Checks settings against their rules and lowers the ones that pass.
pub struct Settings<'a> {
    constants: &'a Constants,
    /// Mistakes found.
    pub errors: Vec<CheckError>,
}

impl<'a> Settings<'a> {
    /// A checker using these constants.
    pub fn new(constants: &'a Constants) -> Self {
        Settings { constants, errors: Vec::new() }
    }

    fn value(&self, expr: &Expr) -> Value {
        eval(expr, self.constants)
    }

    /// A mistake of this kind at `span`.
    fn mistake(&mut self, kind: Mistake, span: Span, message: &str, label: &str, help: &str) {
        self.errors.push(kind.at(span, message, label, help));
    }

    /// A value of the wrong kind (a number where a name goes, ...).
    fn wrong_type(&mut self, span: Span, message: &str, label: &str, help: &str) {
        self.mistake(Mistake::WrongType, span, message, label, help);
    }

    /// A name that is none of the ones this setting takes.
    fn unknown_value(&mut self, span: Span, message: &str, label: &str, help: &str) {
        self.mistake(Mistake::UnknownValue, span, message, label, help);
    }

    /// A number outside its range is `out_of_range`; anything else where a
    /// number goes is `wrong_type`.
    fn range_or_type(&mut self, value: &Value, span: Span, message: &str, label: &str, help: &str) {
        let is_number = matches!(value, Value::Int(_) | Value::Float(_));
        self.mistake(Mistake::range_or_type(is_number), span, message, label, help);
    }

    /// Every entry of a block is a known `key: value` setting.
    fn keys<'b>(&mut self, block: &'b Block, keys: &[&str], what: &str) -> Vec<(&'b Ident, &'b Expr)> {
        let mut settings = Vec::new();
        for entry in &block.entries {
            let EntryKind::Setting { key, value } = &entry.kind else {
                self.mistake(
                    Mistake::Misplaced,
                    entry.span,
                    &format!("{what} holds settings, written `key: value`"),
                    "not a setting",
                    &format!("the settings are {}", keys.join(", ")),
                );
                continue;
            };
            if !keys.contains(&key.name.as_str()) {
                let help = familiar::setting_help(&key.name, keys);
                self.errors.push(CheckError::UnknownSetting {
                    key: key.name.clone(),
                    span: key.span,
                    block: what.into(),
                    help,
                });
                continue;
            }
            if let Some((first, _)) = settings.iter().find(|(k, _): &&(&Ident, &Expr)| k.name == key.name) {
                self.errors.push(CheckError::DuplicateName {
                    name: key.name.clone(),
                    span: key.span,
                    first: first.span,
                });
                continue;
            }
            settings.push((key, value));
        }
        settings
    }

    /// The settings of a `train` item, checked and lowered; `data` is what
    /// it trains on, when known. The settings are `None` when any is wrong
    /// (the errors say which).
    pub fn train(&mut self, train: &TrainItem, data: Option<&Schema>) -> Option<TrainSettings> {
        let errors_before = self.errors.len();
        let settings = self.keys(&train.body, &setting_names(TRAIN_SETTINGS), "a training run");
        let get = |key: &str| settings.iter().find(|(k, _)| k.name == key).map(|(_, v)| *v);
        let task = classification(get("loss"), get("target"), data);
        let validated = get("validate").is_some();
        let mut out = TrainSettings::defaults(task.unwrap_or(Task::Classification));
        for &(key, value) in &settings {
            // `keys` let only declared keys through.
            let Some(declared) = TRAIN_SETTINGS.iter().find(|s| s.name == key.name) else { continue };
            match declared.key {
                // Read by the frame checker (data and columns).
                TrainKey::Target | TrainKey::Validate => {}
                // The frame checker checks the column; a path names it.
                TrainKey::Weights => {
                    if let ExprKind::Path(column) = &value.kind {
                        out.weights = Some(column.dotted());
                    }
                }
                TrainKey::Loss => {
                    if let Some((loss, options)) = self.loss(value) {
                        (out.loss, out.loss_options) = (loss, options);
                    }
                }
                TrainKey::Optimizer => set(&mut out.optimizer, self.optimizer(value)),
                TrainKey::Schedule => set(&mut out.schedule, self.schedule(value)),
                TrainKey::Batch => {
                    let help = "the number of samples per step, or `auto` for the largest that fits";
                    let batch = self.count_or(value, "batch", "auto", 1, help);
                    set(&mut out.batch, batch.map(|b| b.map_or(Batch::Auto, Batch::Rows)));
                }
                TrainKey::Accumulate => {
                    set(&mut out.accumulate, self.count(value, "accumulate", 1, "a whole number, 1 or more"))
                }
                // 0 trains nothing: the model keeps the weights it starts
                // from (imported, loaded or fresh) and still evaluates.
                TrainKey::Epochs => set(&mut out.epochs, self.count(value, "epochs", 0, "a whole number, 0 or more")),
                TrainKey::Seed => set(&mut out.seed, self.seed(value)),
                TrainKey::EarlyStop => out.early_stop = self.early_stop(value, validated, task),
                TrainKey::Device => set(&mut out.devices, self.devices(value)),
                TrainKey::Regularize => {
                    if let Some((l1, l2)) = self.regularize(value) {
                        (out.l1, out.l2) = (l1, l2);
                    }
                }
                TrainKey::Clip => out.clip = self.clip(value),
                TrainKey::Log => set(&mut out.logs, self.logs(value)),
                TrainKey::Save => out.save = self.path(value, "save"),
                TrainKey::Checkpoint => set(&mut out.checkpoint, self.checkpoint(value)),
                // The item it names is lowered by the caller.
                TrainKey::Augment => self.augment(value, data),
                TrainKey::ClassWeight => {
                    let target = get("target").and_then(|t| data?.get(&loss_name(t)?));
                    out.class_weight = self.class_weight(value, get("loss"), task, target);
                }
                TrainKey::Scale => out.target_scale = self.target_scale(value, task),
                TrainKey::Precision => set(&mut out.precision, self.precision(value)),
                // Need the devices, lowered: below.
                TrainKey::CudnnBenchmark | TrainKey::GpuMemory => {}
                TrainKey::Prefetch => set(&mut out.prefetch, self.prefetch(value)),
                // Eager execution is what runs: `false` says so, `true` is refused.
                TrainKey::Jit => self.jit(key.name.as_str(), value),
                // Read by the sweep planner (`check::sweep`), which needs
                // them before the points are checked.
                TrainKey::Search | TrainKey::Prune | TrainKey::Parallel => {}
                TrainKey::Objective => {
                    out.objective = self
                        .metric_on("objective", value, validated, task)
                        .map(|(split, metric)| Objective { split, metric })
                }
            }
        }
        if let Some(value) = get("cudnn_benchmark")
            && self.errors.len() == errors_before
        {
            out.cudnn_benchmark = self.cudnn_benchmark(value, get("device"), &out.devices);
        }
        if let Some(value) = get("gpu_memory")
            && self.errors.len() == errors_before
        {
            out.gpu_memory = self.gpu_memory(value, get("device"), &out.devices);
        }
        (self.errors.len() == errors_before).then_some(out)
    }

    /// `prefetch: n`: batches built ahead, each a batch of memory, so a
    /// few are plenty (the queue's slots are allocated up front).
    fn prefetch(&mut self, value: &Expr) -> Option<u64> {
        let n = self.count(value, "prefetch", 0, "a whole number of batches, 0 or more")?;
        if n > MAX_PREFETCH {
            self.errors.push(Mistake::OutOfRange.at(
                value.span,
                format!("`prefetch` is at most {MAX_PREFETCH} batches"),
                format!("this is {n}"),
                "a few batches ahead are enough to keep training fed: write `prefetch: 2`",
            ));
            return None;
        }
        Some(n)
    }

    /// `jit: true` / `compile: true`: refused, saying what the backends do
    /// instead; `false` is what runs (each operation eagerly).
    fn jit(&mut self, key: &str, value: &Expr) {
        match self.value(value) {
            Value::Bool(false) => {}
            Value::Bool(true) => self.errors.push(Mistake::Unsupported.at(
                value.span,
                format!(
                    "`{key}: true` asks for fused, compiled kernels, and no backend of this build makes them: flex and libtorch (as Burn drives it, without TorchScript or torch.compile) run each operation eagerly"
                ),
                "no fusion here",
                format!(
                    "remove `{key}`; Burn fuses operations only on its CubeCL backends (`cuda`, `wgpu` with `fusion`), a build that downloads LLVM and cannot be made offline. For speed train on `device: torch.cuda` with `precision: bf16`"
                ),
            )),
            _ => self.wrong_type(value.span, &format!("`{key}` is true or false"), "not a boolean", &format!("write `{key}: false`")),
        }
    }

    /// `cudnn_benchmark: true`: cuDNN's autotuning, a switch of libtorch
    /// on CUDA GPUs; `torch.cpu` and the other backends have no cuDNN.
    fn cudnn_benchmark(&mut self, value: &Expr, device: Option<&Expr>, devices: &[Device]) -> Option<bool> {
        let Value::Bool(on) = self.value(value) else {
            self.wrong_type(
                value.span,
                "`cudnn_benchmark` is true or false",
                "not a boolean",
                "write `cudnn_benchmark: true`",
            );
            return None;
        };
        self.on_torch_cuda("cudnn_benchmark", "turns on cuDNN's autotuning", value.span, device, devices)?;
        Some(on)
    }

    /// `gpu_memory: growth | limit(f) | [growth, limit(f)]`: libtorch's CUDA
    /// allocator, so only for runs on `torch.cuda`.
    fn gpu_memory(&mut self, value: &Expr, device: Option<&Expr>, devices: &[Device]) -> Option<GpuMemory> {
        let parts = value.one_or_many();
        if parts.is_empty() {
            let help = "write `gpu_memory: growth`, `limit(0.8)`, or both in a list";
            self.wrong_type(value.span, "`gpu_memory` takes a rule, and this list is empty", "no rule", help);
            return None;
        }
        let mut out = GpuMemory::default();
        for part in parts {
            let (kind, b) = self.call(part, GPU_MEMORIES, "a GPU memory rule")?;
            let given_twice = match kind {
                GpuMemoryKind::Growth => std::mem::replace(&mut out.growth, true),
                GpuMemoryKind::Limit => {
                    let rule = "a share of the card, greater than 0 and at most 1";
                    let help = "write `limit(0.8)` to let the process reserve at most 80% of each card";
                    let limit = self.number_helped(&b, "fraction", |x| x > 0.0 && x <= 1.0, rule, help).ok()??;
                    out.limit.replace(limit).is_some()
                }
            };
            if given_twice {
                let message = "this rule is given twice";
                let help = "keep one `growth` and one `limit(...)` at most";
                self.mistake(Mistake::Conflict, part.span, message, "given again", help);
                return None;
            }
        }
        self.on_torch_cuda("gpu_memory", "sets libtorch's CUDA allocator", value.span, device, devices)?;
        if !crate::backend::has_cuda_allocator() {
            self.errors.push(Mistake::Unsupported.at(
                value.span,
                "this build of pipe cannot set libtorch's CUDA allocator: it was compiled without CUDA's runtime headers",
                "not in this build",
                "rebuild with `--features tch` where CUDA's headers are found (CUDA_HOME, /usr/local/cuda, or `pip install nvidia-cuda-nvcc-cu12` beside torch), or remove `gpu_memory`",
            ));
            return None;
        }
        Some(out)
    }

    /// Every device of the run is libtorch's CUDA (`torch.cuda`): a
    /// setting of its allocator or of cuDNN (`what` it does) means nothing
    /// elsewhere.
    fn on_torch_cuda(
        &mut self,
        key: &str,
        what: &str,
        span: Span,
        device: Option<&Expr>,
        devices: &[Device],
    ) -> Option<()> {
        let written = device.map(Expr::one_or_many).unwrap_or_default();
        let elsewhere = devices.iter().zip(&written).find(|(d, _)| d.kind != DeviceKind::TorchCuda);
        if !written.is_empty() && elsewhere.is_none() {
            return Some(());
        }
        let (span, backend) = match elsewhere {
            Some((d, e)) if d.kind == DeviceKind::TorchCpu => (e.span, "libtorch's CPU device (`torch.cpu`)"),
            Some((d, e)) if d.kind == DeviceKind::Cuda => (e.span, "CubeCL (`cuda`)"),
            Some((d, e)) if d.kind == DeviceKind::Remote => (e.span, "a remote device (flex, on its server)"),
            Some((_, e)) => (e.span, "flex (`cpu`)"),
            None => (span, "flex, the default device,"),
        };
        self.errors.push(Mistake::Unsupported.at(
            span,
            format!("`{key}` {what}, which {backend} does not use"),
            "not a `torch.cuda` device",
            format!(
                "write `device: torch.cuda` (a `--features tch` build; `pipe run --device cpu` then runs the file without `{key}` on a machine without a GPU), or remove `{key}`"
            ),
        ));
        None
    }

    /// The settings of an `evaluate` item: the metrics asked for, lowered.
    pub fn evaluate(&mut self, body: &Block, task: Option<Task>) -> EvaluateSettings {
        let mut out = EvaluateSettings::default();
        for (key, value) in self.keys(body, &setting_names(EVALUATE_SETTINGS), "an evaluation") {
            let Some(declared) = EVALUATE_SETTINGS.iter().find(|s| s.name == key.name) else { continue };
            match declared.key {
                EvaluateKey::Metrics => {
                    let ExprKind::List { items } = &value.kind else {
                        let help = "write `metrics: [accuracy, f1]`";
                        self.wrong_type(value.span, "`metrics` is a list", "not a list", help);
                        continue;
                    };
                    for item in items {
                        let metric = match &item.kind {
                            ExprKind::Call(call) if call.callee.dotted() == "top_k" => {
                                self.top_k(call, item.span, task)
                            }
                            _ => self.metric(&self.value(item), item.span, task),
                        };
                        out.metrics.extend(metric);
                    }
                }
                EvaluateKey::Threshold => out.threshold = self.threshold(value, task).map(|t| (t, value.span)),
                EvaluateKey::Curves => out.curves = self.curves(value, task).map(|c| (c, value.span)),
            }
        }
        out
    }

    /// `curves: "folder"`, for a run that learns classes.
    fn curves(&mut self, value: &Expr, task: Option<Task>) -> Option<std::path::PathBuf> {
        let Value::Str(folder) = self.value(value) else {
            let help = "write `curves: \"out/curves\"`: a folder for roc.csv, pr.csv and their plots";
            self.wrong_type(value.span, "`curves` is a folder, as a string", "not a path", help);
            return None;
        };
        if task == Some(Task::Regression) {
            let message = "`curves` draws ROC and precision-recall curves of classes, and this run learns numbers";
            self.mistake(Mistake::Conflict, value.span, message, "no classes", "remove `curves`");
            return None;
        }
        Some(std::path::PathBuf::from(folder))
    }

    /// A probability threshold in (0, 1), for a run that learns classes.
    pub fn threshold(&mut self, value: &Expr, task: Option<Task>) -> Option<f64> {
        let given = self.value(value);
        let Some(p) = given.as_f64().filter(|p| *p > 0.0 && *p < 1.0) else {
            self.range_or_type(
                &given,
                value.span,
                "`threshold` is a probability between 0 and 1",
                &format!("this is {}", shown(&given)),
                "write `threshold: 0.3` to predict the second class more often, `0.7` less",
            );
            return None;
        };
        if task == Some(Task::Regression) {
            let message = "`threshold` turns probabilities into classes, and this run learns numbers";
            self.mistake(Mistake::Conflict, value.span, message, "no probabilities", "remove `threshold`");
            return None;
        }
        Some(p)
    }

    /// `top_k(k)`: `k` a whole number from 1, for a run that learns classes.
    fn top_k(&mut self, call: &Call, span: Span, task: Option<Task>) -> Option<Metric> {
        let errors_before = self.errors.len();
        let b = bind("top_k", &[pos("k", true)], &call.args, span, &mut self.errors);
        if self.errors.len() > errors_before {
            return None;
        }
        let k = match b.value("k", self.constants) {
            Some((value, at)) => match whole_value(&value) {
                Some(k) if (1..=i64::from(u16::MAX)).contains(&k) => k as u16,
                _ => {
                    let label = format!("this is {}", shown(&value));
                    self.range_or_type(
                        &value,
                        at,
                        "`k` of `top_k` is a whole number, 1 or more",
                        &label,
                        "write `top_k(5)`",
                    );
                    return None;
                }
            },
            None => return None,
        };
        if task == Some(Task::Regression) {
            let message = "`top_k` is a classification metric, but this model is trained for the other task";
            self.mistake(Mistake::Conflict, span, message, "not computed for this task", &metrics_by_task());
            return None;
        }
        Some(Metric::TopK(k))
    }

    fn metric(&mut self, value: &Value, span: Span, task: Option<Task>) -> Option<Metric> {
        let names = Metric::names();
        let Value::Name(name) = value else {
            self.wrong_type(
                span,
                "a metric is a name",
                "not a metric",
                &format!("the metrics are {}", names.join(", ")),
            );
            return None;
        };
        let Some(metric) = Metric::from_name(name) else {
            let help = if name == "top_k" {
                "`top_k` takes how many of the most probable classes count: write `top_k(5)`".to_owned()
            } else {
                familiar::help(Place::Metric, name, &names, "the metrics are")
            };
            self.unknown_value(span, &format!("unknown metric `{name}`"), "not a metric", &help);
            return None;
        };
        if let (Some(needs), Some(task)) = (metric.task(), task)
            && needs != task
        {
            let task_name = match needs {
                Task::Classification => "classification",
                Task::Regression => "regression",
            };
            self.mistake(
                Mistake::Conflict,
                span,
                &format!("`{name}` is a {task_name} metric, but this model is trained for the other task"),
                "not computed for this task",
                &metrics_by_task(),
            );
            return None;
        }
        Some(metric)
    }

    /// The loss named in place (not through a `let`: the frame and model
    /// checks read the same name to pair the loss with the target and the
    /// output layer).
    fn loss(&mut self, value: &Expr) -> Option<(Loss, LossOptions)> {
        let names = Loss::names();
        match loss_name(value) {
            Some(n) if Loss::from_name(&n).is_some() => {}
            Some(n) => {
                let help = familiar::help(Place::Loss, &n, &names, "the losses are");
                self.unknown_value(value.span, &format!("unknown loss `{n}`"), "not a loss", &help);
                return None;
            }
            None => {
                self.wrong_type(
                    value.span,
                    "a loss is a name, or a call such as `cross_entropy(label_smoothing: 0.1)`",
                    "not a loss",
                    &format!("the losses are {}", names.join(", ")),
                );
                return None;
            }
        }
        let (loss, b) = self.call(value, LOSSES, "a loss")?;
        let mut options = LossOptions::default();
        let smoothing = self.number(&b, "label_smoothing", |x| (0.0..1.0).contains(&x), "in [0, 1)");
        let pos_weight = self.number(&b, "pos_weight", |x| x > 0.0 && x.is_finite(), "greater than 0");
        let gamma = self.number_helped(
            &b,
            "gamma",
            |x| (0.0..=MAX_FOCAL_GAMMA).contains(&x),
            "from 0 to 10",
            "focal loss's gamma is an exponent from 0 (cross-entropy) to 10, typically 2",
        );
        let delta = self.number(&b, "delta", |x| x > 0.0 && x.is_finite(), "greater than 0");
        for (field, given) in [
            (&mut options.label_smoothing, smoothing),
            (&mut options.pos_weight, pos_weight),
            (&mut options.gamma, gamma),
            (&mut options.delta, delta),
        ] {
            if let Some(x) = given.ok()? {
                *field = x;
            }
        }
        Some((loss, options))
    }

    /// A call (or a bare name) of one of `known`, with its arguments bound.
    fn call<'e, K: Copy>(
        &mut self,
        value: &'e Expr,
        known: &[Declared<K>],
        what: &str,
    ) -> Option<(K, crate::check::args::Bound<'e>)> {
        let list: Vec<&str> = known.iter().map(|c| c.name).collect();
        let (name, args, span): (String, &[Arg], Span) = match &value.kind {
            ExprKind::Call(call) => (call.callee.dotted(), &call.args, value.span),
            ExprKind::Path(path) => (path.dotted(), &[], value.span),
            _ => {
                self.wrong_type(
                    value.span,
                    &format!("this is not {what}"),
                    &format!("expected {what}"),
                    &format!("write one of {}", list.join(", ")),
                );
                return None;
            }
        };
        let Some(Declared { kind, params, .. }) = known.iter().find(|c| c.name == name) else {
            let help = match what {
                "an optimizer" => familiar::help(Place::Optimizer, &name, &list, "write one of"),
                _ => familiar::help(Place::TrainSetting, "", &list, "write one of"),
            };
            let help = if help.starts_with("write one of") {
                closest(&name, list.iter().copied()).map_or(help, |n| format!("did you mean `{n}`?"))
            } else {
                help
            };
            self.errors.push(CheckError::UnknownOperation {
                what: what.trim_start_matches("an ").trim_start_matches("a ").into(),
                name,
                span,
                help,
            });
            return None;
        };
        let errors_before = self.errors.len();
        let bound = bind(&name, params, args, span, &mut self.errors);
        (self.errors.len() == errors_before).then_some((*kind, bound))
    }

    /// A number argument that must satisfy `ok`, described by `rule`:
    /// `Ok(None)` when not given, `Err(())` when wrong (reported).
    fn number(&mut self, b: &Bound, param: &str, ok: fn(f64) -> bool, rule: &str) -> Result<Option<f64>, ()> {
        self.number_helped(b, param, ok, rule, example(param))
    }

    /// [`Self::number`] with its own help line.
    fn number_helped(
        &mut self,
        b: &Bound,
        param: &str,
        ok: fn(f64) -> bool,
        rule: &str,
        help: &str,
    ) -> Result<Option<f64>, ()> {
        let Some((value, span)) = b.value(param, self.constants) else { return Ok(None) };
        match value.as_f64() {
            Some(x) if ok(x) => Ok(Some(x)),
            _ => {
                let help = help.to_owned();
                self.range_or_type(
                    &value,
                    span,
                    &format!("`{param}` must be {rule}"),
                    &format!("this is {}", shown(&value)),
                    &help,
                );
                Err(())
            }
        }
    }

    /// A whole-number argument of at least `least`.
    fn whole(&mut self, b: &Bound, param: &str, least: i64) -> Result<Option<u64>, ()> {
        let Some((value, span)) = b.value(param, self.constants) else { return Ok(None) };
        match whole_value(&value) {
            Some(n) if (least..=MAX_COUNT).contains(&n) => Ok(Some(n as u64)),
            Some(n) if n > MAX_COUNT => {
                self.errors.push(Mistake::OutOfRange.at(
                    span,
                    format!("`{param}` is at most {MAX_COUNT}"),
                    format!("this is {n}"),
                    example(param),
                ));
                Err(())
            }
            _ => {
                let rule = format!("a whole number, {least} or more");
                self.range_or_type(
                    &value,
                    span,
                    &format!("`{param}` must be {rule}"),
                    &format!("this is {}", shown(&value)),
                    example(param),
                );
                Err(())
            }
        }
    }

    fn optimizer(&mut self, value: &Expr) -> Option<Optimizer> {
        let (kind, b) = self.call(value, OPTIMIZERS, "an optimizer")?;
        let mut o = Optimizer::new(kind, kind.default_lr());
        let fraction = |x: f64| (0.0..1.0).contains(&x);
        let lr = self.number(&b, "lr", |x| x > 0.0 && x.is_finite(), "greater than 0");
        let momentum = self.number(&b, "momentum", fraction, "in [0, 1)");
        let decay = self.number(&b, "weight_decay", |x| x >= 0.0 && x.is_finite(), "0 or more");
        let beta1 = self.number(&b, "beta1", fraction, "in [0, 1)");
        let beta2 = self.number(&b, "beta2", fraction, "in [0, 1)");
        let alpha = self.number(&b, "alpha", fraction, "in [0, 1)");
        let eps = self.number(&b, "eps", |x| x > 0.0 && x.is_finite(), "greater than 0");
        for (field, given) in [
            (&mut o.lr, lr),
            (&mut o.momentum, momentum),
            (&mut o.weight_decay, decay),
            (&mut o.beta1, beta1),
            (&mut o.beta2, beta2),
            (&mut o.alpha, alpha),
            (&mut o.eps, eps),
        ] {
            if let Some(x) = given.ok()? {
                *field = x;
            }
        }
        if let Some((v, span)) = b.value("nesterov", self.constants) {
            match v {
                Value::Bool(on) => o.nesterov = on,
                _ => {
                    let label = format!("this is {}", shown(&v));
                    self.wrong_type(span, "`nesterov` is true or false", &label, "write `nesterov: true`");
                    return None;
                }
            }
            if o.nesterov && o.momentum == 0.0 {
                self.errors.push(Mistake::Conflict.at(
                    span,
                    "Nesterov momentum needs a momentum above 0",
                    "nesterov without momentum",
                    "write `sgd(lr: 0.05, momentum: 0.9, nesterov: true)`",
                ));
                return None;
            }
        }
        Some(o)
    }

    /// `cosine()`, `warmup(epochs: 2)`, `warmup(steps: 500) then step(every: 10)`.
    fn schedule(&mut self, value: &Expr) -> Option<Schedule> {
        let phases: Vec<&Expr> = match &value.kind {
            ExprKind::Then { phases } => phases.iter().collect(),
            _ => vec![value],
        };
        let mut lowered = Vec::new();
        for phase in &phases {
            lowered.push(self.schedule_phase(phase)?);
        }
        let mut warmup = None;
        let mut decay = None;
        let last = phases.len() - 1;
        for (i, (phase, expr)) in lowered.into_iter().zip(&phases).enumerate() {
            match phase {
                Phase::Decay(_) if i < last => {
                    let help = "write `warmup(epochs: 2) then cosine()`";
                    self.mistake(
                        Mistake::Misplaced,
                        expr.span,
                        "only `warmup(...)` comes before `then`",
                        "not a warmup",
                        help,
                    );
                    return None;
                }
                Phase::Warmup(_) if i > 0 => {
                    let help = "a schedule is one warmup, then one decay: `warmup(epochs: 2) then cosine()`";
                    self.mistake(
                        Mistake::Misplaced,
                        expr.span,
                        "only the first phase can be `warmup(...)`",
                        "a second warmup",
                        help,
                    );
                    return None;
                }
                Phase::Warmup(length) => warmup = Some(length),
                Phase::Decay(d) => decay = Some(d),
            }
        }
        Some(Schedule { warmup, decay: decay.unwrap_or(Decay::Constant) })
    }

    fn schedule_phase(&mut self, phase: &Expr) -> Option<Phase> {
        use ScheduleKind as Kind;
        let (kind, b) = self.call(phase, SCHEDULES, "a schedule")?;
        let factor = |x: f64| x > 0.0 && x <= 1.0;
        Some(Phase::Decay(match kind {
            Kind::Constant => Decay::Constant,
            Kind::Warmup => {
                let epochs = self.whole(&b, "epochs", 1).ok()?;
                let steps = self.whole(&b, "steps", 1).ok()?;
                return match (epochs, steps) {
                    (Some(e), None) => Some(Phase::Warmup(WarmupLength::Epochs(e))),
                    (None, Some(s)) => Some(Phase::Warmup(WarmupLength::Steps(s))),
                    (None, None) => {
                        let help = "write `warmup(epochs: 2)`";
                        self.mistake(
                            Mistake::Incomplete,
                            phase.span,
                            "`warmup` needs `epochs:` or `steps:`",
                            "how long?",
                            help,
                        );
                        None
                    }
                    (Some(_), Some(_)) => {
                        self.errors.push(Mistake::Conflict.at(
                            phase.span,
                            "`warmup` lasts `epochs:` or `steps:`, not both",
                            "two lengths",
                            "keep one: `warmup(epochs: 2)` or `warmup(steps: 500)`",
                        ));
                        None
                    }
                };
            }
            Kind::Step => Decay::Step {
                every: self.whole(&b, "every", 1).ok()?.unwrap_or(1),
                gamma: self.number(&b, "gamma", factor, "in (0, 1]").ok()?.unwrap_or(0.1),
            },
            Kind::Exponential => Decay::Exponential { gamma: self.number(&b, "gamma", factor, "in (0, 1]").ok()?? },
            Kind::Cosine => Decay::Cosine {
                min_lr: self.number(&b, "min_lr", |x| x >= 0.0 && x.is_finite(), "0 or more").ok()?.unwrap_or(0.0),
            },
            Kind::OnPlateau => Decay::OnPlateau {
                patience: self.whole(&b, "patience", 1).ok()?.unwrap_or(10),
                factor: self.number(&b, "factor", factor, "in (0, 1]").ok()?.unwrap_or(0.1),
            },
        }))
    }

    /// A whole number of at least `least`.
    fn count(&mut self, value: &Expr, key: &str, least: i64, help: &str) -> Option<u64> {
        self.count_or(value, key, "", least, help)?
    }

    /// A whole number of at least `least` (`Some(Some(n))`), or `word`
    /// when there is one (`Some(None)`).
    fn count_or(&mut self, value: &Expr, key: &str, word: &str, least: i64, help: &str) -> Option<Option<u64>> {
        let v = self.value(value);
        match &v {
            Value::Name(n) if !word.is_empty() && n == word => return Some(None),
            _ => {}
        }
        match whole_value(&v) {
            Some(n) if (least..=MAX_COUNT).contains(&n) => Some(Some(n as u64)),
            Some(n) if n > MAX_COUNT => {
                self.errors.push(Mistake::OutOfRange.at(
                    value.span,
                    format!("`{key}` is at most {MAX_COUNT}"),
                    format!("this is {n}"),
                    format!("write `{key}: 32`"),
                ));
                None
            }
            _ => {
                let label = format!("this is {}", shown(&v));
                self.range_or_type(
                    &v,
                    value.span,
                    &format!("`{key}` is {help}"),
                    &label,
                    &format!("write `{key}: 32`"),
                );
                None
            }
        }
    }

    fn seed(&mut self, value: &Expr) -> Option<u64> {
        let v = self.value(value);
        match whole_value(&v) {
            Some(n) if n >= 0 => Some(n as u64),
            _ => {
                let label = format!("this is {}", shown(&v));
                self.range_or_type(&v, value.span, "a seed is a whole number, 0 or more", &label, "write `seed: 42`");
                None
            }
        }
    }

    /// `patience(3, on: val.loss, min_delta: 0.001, restore_best: true)`
    fn early_stop(&mut self, value: &Expr, validated: bool, task: Option<Task>) -> Option<EarlyStop> {
        let (_, b) = self.call(value, EARLY_STOPS, "an early-stopping rule")?;
        let patience = self.whole(&b, "patience", 1).ok()??;
        let min_delta = self.number(&b, "min_delta", |x| x >= 0.0 && x.is_finite(), "0 or more").ok()?;
        let restore_best = match b.value("restore_best", self.constants) {
            None => false,
            Some((Value::Bool(on), _)) => on,
            Some((v, span)) => {
                let label = format!("this is {}", shown(&v));
                self.wrong_type(span, "`restore_best` is true or false", &label, "write `restore_best: true`");
                return None;
            }
        };
        let (split, metric) = match b.expr("on") {
            // Keras' default: the validation loss, or the training loss
            // when there is no validation data.
            None => (if validated { DataSplit::Val } else { DataSplit::Train }, Scalar::Loss),
            Some(on) => self.watched(on, validated, task)?,
        };
        Some(EarlyStop { patience, split, metric, min_delta: min_delta.unwrap_or(0.0), restore_best })
    }

    /// `on: val.loss`, `on: train.f1`: a split and a metric that is one
    /// number, computed for this run's task.
    fn watched(&mut self, on: &Expr, validated: bool, task: Option<Task>) -> Option<(DataSplit, Scalar)> {
        self.metric_on("on", on, validated, task)
    }

    /// `on: val.loss` (early stopping) or `objective: val.accuracy` (a
    /// sweep's ranking), told in the words of `key`.
    fn metric_on(&mut self, key: &str, on: &Expr, validated: bool, task: Option<Task>) -> Option<(DataSplit, Scalar)> {
        let write = format!("write `{key}: val.loss`");
        let verb = if key == "on" { "stop on" } else { "rank on" };
        let ExprKind::Path(path) = &on.kind else {
            self.wrong_type(on.span, &format!("`{key}` names a metric, as in `val.loss`"), "not a metric", &write);
            return None;
        };
        let parts: Vec<&str> = path.parts.iter().map(|p| p.name.as_str()).collect();
        let (split, metric) = match parts.as_slice() {
            [split, metric] => (*split, *metric),
            // As without `on:`: validation data when there is some.
            [metric] => (if validated { "val" } else { "train" }, *metric),
            _ => {
                let message = format!("`{key}` is `val.<metric>` or `train.<metric>`");
                self.mistake(Mistake::UnknownValue, on.span, &message, "not a metric", &write);
                return None;
            }
        };
        let split = match split {
            "val" => DataSplit::Val,
            "train" => DataSplit::Train,
            other => {
                let message = format!("`{other}` is not `val` or `train`");
                self.unknown_value(path.parts[0].span, &message, "unknown split", &write);
                return None;
            }
        };
        if split == DataSplit::Val && !validated {
            self.mistake(
                Mistake::Conflict,
                on.span,
                &format!("`val.{metric}` is not computed: this run has no `validate:` data"),
                "never computed",
                &format!("add `validate: <data>`, or {verb} `train.loss`"),
            );
            return None;
        }
        let metric_span = path.parts[path.parts.len() - 1].span;
        match self.metric(&Value::Name(metric.into()), metric_span, task)? {
            Metric::Scalar(scalar) if split == DataSplit::Train && scalar.needs_probabilities() => {
                self.mistake(
                    Mistake::Conflict,
                    metric_span,
                    &format!("`train.{metric}` is not computed: the training batches keep predicted classes, not probabilities"),
                    "needs probabilities",
                    &format!("{verb} `val.{metric}` (with `validate:` data), or `train.loss`"),
                );
                None
            }
            Metric::Scalar(scalar) => Some((split, scalar)),
            Metric::Confusion | Metric::TopK(_) if key != "on" => {
                let message = format!("`{key}` ranks on one number, and `{metric}` is not one");
                let help = "rank on one number: `val.loss`, `val.accuracy` or `val.f1`";
                self.mistake(Mistake::WrongType, metric_span, &message, "not one number", help);
                None
            }
            Metric::Confusion | Metric::TopK(_) => {
                self.errors.push(CheckError::NotWatchable {
                    metric: metric.into(),
                    span: metric_span,
                    help: "watch one number: `on: val.loss`, `val.accuracy` or `val.f1`".into(),
                });
                None
            }
        }
    }

    /// Each device must be known and compiled into this build.
    fn devices(&mut self, value: &Expr) -> Option<Vec<Device>> {
        if value.one_or_many().is_empty() {
            let help = "write `device: cpu`, or list the devices to train on in parallel: `device: [cpu, cpu]`";
            self.wrong_type(value.span, "`device` names no device", "an empty list", help);
            return None;
        }
        let lowered: Vec<Option<Device>> = value.one_or_many().into_iter().map(|d| self.device(d)).collect();
        lowered.into_iter().collect()
    }

    fn device(&mut self, device: &Expr) -> Option<Device> {
        if let ExprKind::Call(c) = &device.kind
            && c.callee.dotted() == DeviceKind::Remote.name()
        {
            return self.remote_device(device, c);
        }
        let (name, index) = match &device.kind {
            ExprKind::Path(p) => (p.dotted(), None),
            ExprKind::Call(c) if c.args.len() == 1 && c.args[0].name.as_ref().is_none_or(|n| n.name == "index") => {
                (c.callee.dotted(), Some(self.value(&c.args[0].value)))
            }
            _ => (String::new(), None),
        };
        let kind = DeviceKind::from_name(&name);
        let index = match index {
            None => Ok(None),
            Some(v) => whole_value(&v).filter(|n| (0..=1024).contains(n)).map(|n| Some(n as u64)).ok_or(()),
        };
        let (Some(kind), Ok(index)) = (kind, index) else {
            let help = "devices are cpu, cuda, cuda(N), torch.cpu, torch.cuda, torch.cuda(N)";
            self.unknown_value(device.span, "unknown device", "not a device", help);
            return None;
        };
        let gpu = match kind {
            DeviceKind::Cpu | DeviceKind::TorchCpu => false,
            DeviceKind::Cuda | DeviceKind::TorchCuda => true,
            DeviceKind::Remote => {
                let help = "write the server's address: `remote(\"ws://HOST:PORT\")` (see `pipe device-server`)";
                self.mistake(Mistake::WrongType, device.span, "`remote` needs an address", "no address", help);
                return None;
            }
        };
        if index.is_some() && !gpu {
            let help = format!("write `{name}` (one CPU device); several: `device: [{name}, {name}]`");
            self.mistake(Mistake::WrongType, device.span, &format!("`{name}` takes no index"), "not a GPU", &help);
            return None;
        }
        match kind {
            DeviceKind::TorchCpu | DeviceKind::TorchCuda if !crate::backend::has_libtorch() => {
                self.errors.push(Mistake::Unsupported.at(
                    device.span,
                    format!("`{name}` needs the libtorch backend, which this build of pipe lacks"),
                    "libtorch device",
                    "build pipe with `--features tch` (see the README's GPU set-up), or use `device: cpu`",
                ));
                None
            }
            DeviceKind::Cuda if !crate::backend::has_cubecl_cuda() => {
                self.errors.push(Mistake::Unsupported.at(
                    device.span,
                    "`cuda` (CubeCL) needs the `cuda` feature, which this build of pipe lacks",
                    "CubeCL device",
                    "for NVIDIA GPUs use `torch.cuda` with a `--features tch` build, or use `device: cpu`",
                ));
                None
            }
            _ => Some(Device::local(kind, index)),
        }
    }

    /// `remote("ws://HOST:PORT")`: a device `pipe device-server` serves.
    fn remote_device(&mut self, device: &Expr, call: &crate::syntax::ast::Call) -> Option<Device> {
        let address = match call.args.as_slice() {
            [arg] if arg.name.as_ref().is_none_or(|n| n.name == "address") => match self.value(&arg.value) {
                Value::Str(address) => Some((address, arg.value.span)),
                _ => None,
            },
            _ => None,
        };
        let Some((address, span)) = address else {
            let help = "write the server's address as a string: `remote(\"ws://127.0.0.1:7070\")`";
            self.mistake(Mistake::WrongType, device.span, "`remote` takes one address", "not an address", help);
            return None;
        };
        if let Some(problem) = crate::ir::remote_address_problem(&address) {
            let help = "`pipe device-server --port 7070` on HOST serves `remote(\"ws://HOST:7070\")`";
            self.mistake(Mistake::WrongType, span, &problem, "not a server address", help);
            return None;
        }
        if !crate::backend::has_remote() {
            self.errors.push(Mistake::Unsupported.at(
                device.span,
                "remote devices need the `remote` feature, which this build of pipe lacks",
                "remote device",
                "build pipe with `--features remote` (see the README), or use `device: cpu`",
            ));
            return None;
        }
        Some(Device::remote(&address))
    }

    /// `f16`/`bf16`: every backend pipe builds with computes in both (flex
    /// and libtorch, CPU and CUDA), so only the name is checked.
    fn precision(&mut self, value: &Expr) -> Option<Precision> {
        let v = self.value(value);
        if let Value::Name(n) = &v
            && let Some(p) = Precision::from_name(n)
        {
            return Some(p);
        }
        let near = if let Value::Name(n) = &v { closest(n, Precision::names()) } else { None };
        let help = format!("write `precision: {}`", near.unwrap_or("bf16"));
        self.unknown_value(value.span, "`precision` is f32, f16 or bf16", &format!("this is {}", shown(&v)), &help);
        None
    }

    /// `regularize: l2(1e-4)` or `[l1(1e-5), l2(1e-4)]`.
    fn regularize(&mut self, value: &Expr) -> Option<(Option<f64>, Option<f64>)> {
        let (mut l1, mut l2) = (None, None);
        for term in value.one_or_many() {
            let (norm, b) = self.call(term, REGULARIZERS, "a regularizer")?;
            let weight = self.number(&b, "weight", |x| x >= 0.0 && x.is_finite(), "0 or more").ok()??;
            let slot = match norm {
                Norm::L1 => &mut l1,
                Norm::L2 => &mut l2,
            };
            if slot.replace(weight).is_some() {
                self.errors.push(Mistake::Conflict.at(
                    term.span,
                    "this penalty is given twice",
                    "given again",
                    "keep one `l1(...)` and one `l2(...)` at most",
                ));
                return None;
            }
        }
        Some((l1, l2))
    }

    fn clip(&mut self, value: &Expr) -> Option<Clip> {
        use ClipKind as Kind;
        let (kind, b) = self.call(value, CLIPS, "a clipping rule")?;
        let limit = self.number(&b, "limit", |x| x > 0.0 && x.is_finite(), "greater than 0").ok()??;
        Some(match kind {
            Kind::Norm => Clip::Norm(limit),
            Kind::Value => Clip::Value(limit),
        })
    }

    fn logs(&mut self, value: &Expr) -> Option<Vec<LogSink>> {
        use SinkKind as Kind;
        let mut sinks = Vec::new();
        for sink in value.one_or_many() {
            let (kind, b) = self.call(sink, LOG_SINKS, "a log")?;
            let path = || b.expr("path");
            sinks.push(match kind {
                Kind::Console => LogSink::Console,
                Kind::TensorBoard => LogSink::TensorBoard(self.path(path()?, "a log")?),
                Kind::Csv => LogSink::Csv(self.path(path()?, "a log")?),
                Kind::Jsonl => LogSink::Jsonl(self.path(path()?, "a log")?),
            });
        }
        Some(sinks)
    }

    fn path(&mut self, value: &Expr, what: &str) -> Option<PathBuf> {
        match self.value(value) {
            Value::Str(s) if !s.is_empty() => Some(PathBuf::from(s)),
            _ => {
                self.wrong_type(
                    value.span,
                    &format!("{what} takes a path in quotes"),
                    "not a path",
                    "write it like `\"runs/income\"`",
                );
                None
            }
        }
    }

    fn checkpoint(&mut self, value: &Expr) -> Option<Checkpoint> {
        let (_, b) = self.call(value, CHECKPOINTS, "a checkpoint rule")?;
        let defaults = Checkpoint { every: 1, ..Checkpoint::default() };
        let every = self.whole(&b, "every", 1).ok()?.unwrap_or(defaults.every);
        let keep = self.whole(&b, "keep", 1).ok()?.unwrap_or(defaults.keep);
        Some(Checkpoint { every, keep })
    }

    /// Augmentation transforms images: the data must have an image column.
    fn augment(&mut self, value: &Expr, data: Option<&Schema>) {
        let Some(schema) = data else { return };
        if !schema.columns.iter().any(|c| matches!(c.dtype, DType::Image(_))) {
            self.mistake(
                Mistake::WrongType,
                value.span,
                "augmentation applies to images, but this data has no image column",
                "tabular data",
                "augment image data from `images(...)`; tabular data is not augmented",
            );
        }
    }

    /// `class_weight: balanced`: only where the loss weighs classes.
    /// `scale: standard | minmax`, for a run that learns numbers.
    fn target_scale(&mut self, value: &Expr, task: Option<Task>) -> Option<TargetScaling> {
        let names = TargetScaling::names();
        let scaling = match &value.kind {
            ExprKind::Path(p) => TargetScaling::from_name(&p.dotted()),
            _ => None,
        };
        let Some(scaling) = scaling else {
            self.unknown_value(
                value.span,
                "`scale` scales the target: `standard` or `minmax`",
                "not a scaling",
                &format!("write one of {}", names.join(", ")),
            );
            return None;
        };
        if task == Some(Task::Classification) {
            self.mistake(
                Mistake::Conflict,
                value.span,
                "`scale` scales a numeric target, and this run learns classes",
                "no numbers to scale",
                "remove `scale`, or learn numbers with `loss: mse`",
            );
            return None;
        }
        Some(scaling)
    }

    /// `class_weight: balanced` or `{cat: 2, dog: 1}` (positive weights;
    /// classes the target is known to have, when its levels are known).
    fn class_weight(
        &mut self,
        value: &Expr,
        loss: Option<&Expr>,
        task: Option<Task>,
        target: Option<&crate::schema::Column>,
    ) -> Option<ClassWeight> {
        let weighting = match &value.kind {
            ExprKind::Path(p) if p.dotted() == "balanced" => ClassWeight::Balanced,
            ExprKind::Path(p) => {
                let name = p.dotted();
                let help = match closest(&name, ["balanced"]) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => "write `class_weight: balanced` or `class_weight: {cat: 2, dog: 1}`".into(),
                };
                let message = format!("unknown weighting `{name}`");
                self.unknown_value(value.span, &message, "not a weighting", &help);
                return None;
            }
            ExprKind::Record { fields } if fields.is_empty() => {
                let help = "name the classes to weigh, `{cat: 2}` (the others weigh 1), or remove `class_weight`";
                self.mistake(Mistake::Conflict, value.span, "`class_weight: {}` weighs nothing", "empty", help);
                return None;
            }
            ExprKind::Record { fields } => ClassWeight::Given(self.given_weights(fields, target)?),
            _ => {
                self.wrong_type(
                    value.span,
                    "`class_weight` is `balanced` or a record of classes' weights",
                    "not a weighting",
                    "write `class_weight: balanced` or `class_weight: {cat: 2, dog: 1}`",
                );
                return None;
            }
        };
        if task == Some(Task::Regression) {
            let at = loss.map_or(value.span, |l| l.span);
            self.errors.push(Mistake::Conflict.at(
                value.span,
                "`class_weight` weighs classes, and this run learns numbers",
                "no classes to weigh",
                format!(
                    "remove `class_weight`, or learn classes with `loss: cross_entropy`{}",
                    if at == value.span { "" } else { " (the loss here is for numbers)" }
                ),
            ));
            return None;
        }
        Some(weighting)
    }

    /// The weights of `{cat: 2, dog: 1}`: positive numbers, each class
    /// named once, and a class of the target when its levels are known
    /// (a categorical or boolean target; a text column's are known only
    /// after reading it, so the run checks those).
    fn given_weights(
        &mut self,
        fields: &[Field],
        target: Option<&crate::schema::Column>,
    ) -> Option<Vec<(String, f64)>> {
        let known: Option<Vec<String>> = target.and_then(|t| match &t.dtype {
            DType::Cat(levels) => Some(levels.clone()),
            DType::Bool => Some(vec!["false".into(), "true".into()]),
            _ => None,
        });
        let mut out: Vec<(String, f64)> = Vec::new();
        let errors_before = self.errors.len();
        for field in fields {
            let name = field.key.name.clone();
            if out.iter().any(|(n, _)| *n == name) {
                let message = format!("`{name}` is weighed twice");
                self.mistake(Mistake::Conflict, field.key.span, &message, "again", "give each class one weight");
                continue;
            }
            if let Some(levels) = &known
                && !levels.contains(&name)
            {
                let help = match closest(&name, levels.iter().map(String::as_str)) {
                    Some(near) => format!("did you mean `{near}`? The classes are {}", levels.join(", ")),
                    None => format!("the classes are {}", levels.join(", ")),
                };
                self.unknown_value(
                    field.key.span,
                    &format!("`{name}` is not a class of the target"),
                    "no such class",
                    &help,
                );
                continue;
            }
            match eval(&field.value, self.constants).as_f64() {
                Some(w) if w > 0.0 && w.is_finite() => out.push((name, w)),
                _ => self.mistake(
                    Mistake::OutOfRange,
                    field.value.span,
                    &format!("the weight of `{name}` must be a positive number"),
                    "not a positive weight",
                    "a class's weight multiplies its rows' loss: 2 counts them twice",
                ),
            }
        }
        (self.errors.len() == errors_before).then_some(out)
    }
}

/// One phase of a schedule as written.
enum Phase {
    Warmup(WarmupLength),
    Decay(Decay),
}

/// Replaces `slot` with a lowered value (a wrong value leaves the default;
/// its error stops the lowering anyway).
fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

/// The whole number a value is (`3` or `3.0`), if it is one.
fn whole_value(value: &Value) -> Option<i64> {
    match value {
        Value::Int(i) => Some(*i),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9e15 => Some(*f as i64),
        _ => None,
    }
}

/// The largest focusing exponent `focal(gamma:)` takes: (1 - p)^gamma of
/// a larger one underflows f32 for all but the worst-classified rows (the
/// focal loss paper uses 0 to 5).
const MAX_FOCAL_GAMMA: f64 = 10.0;

/// The loss a `loss:` value names: `cross_entropy` or the callee of
/// `cross_entropy(label_smoothing: 0.1)`.
pub fn loss_name(value: &Expr) -> Option<String> {
    match &value.kind {
        ExprKind::Path(p) => Some(p.dotted()),
        ExprKind::Call(call) => Some(call.callee.dotted()),
        _ => None,
    }
}

/// Which metrics each task gets, from their declarations: "classification
/// gets accuracy, ...; regression gets mse, ...; both get loss".
fn metrics_by_task() -> String {
    let of = |task: Option<Task>| -> String {
        let names: Vec<&str> =
            Metric::listed().into_iter().filter(|(_, m)| m.task() == task).map(|(name, _)| name).collect();
        names.join(", ")
    };
    format!(
        "classification gets {}; regression gets {}; both get {}",
        of(Some(Task::Classification)),
        of(Some(Task::Regression)),
        of(None)
    )
}

/// Whether a run learns classes or numbers, or it cannot be told (the
/// target is unknown; its error is reported elsewhere).
pub fn classification(loss: Option<&Expr>, target: Option<&Expr>, data: Option<&Schema>) -> Option<Task> {
    if let Some(name) = loss.and_then(loss_name) {
        return Loss::from_name(&name).map(Loss::task);
    }
    let ExprKind::Path(target) = &target?.kind else { return None };
    let column = data?.get(&target.dotted())?;
    Some(if matches!(column.dtype, DType::F64) { Task::Regression } else { Task::Classification })
}

/// A typical value of a setting's argument, for help lines.
fn example(param: &str) -> &'static str {
    match param {
        "lr" => "learning rates are positive, typically 1e-4 to 1e-1: `adam(lr: 1e-3)`",
        "momentum" => "momentum is a fraction, typically 0.9: `sgd(lr: 0.05, momentum: 0.9)`",
        "weight_decay" => "weight decay is 0 or more, typically 1e-4",
        "beta1" | "beta2" | "alpha" => "these averaging factors are fractions below 1, such as 0.9 or 0.999",
        "eps" => "eps is a small positive number, such as 1e-8",
        "patience" => "patience counts epochs without improvement: `patience(3, on: val.loss)`",
        "gamma" => "a decay factor multiplies the rate: a fraction such as 0.5",
        "factor" => "a decay factor multiplies the rate: a fraction such as 0.5",
        "label_smoothing" => "label smoothing is a small fraction such as 0.1",
        "pos_weight" => "`pos_weight` is positive: the negatives per positive, such as 3, for rare positives",
        "delta" => "`delta` is positive, such as 1.0: errors below it are squared, above it linear",
        "min_lr" | "min_delta" => "this is 0 or a small positive number",
        "weight" => "a regularization weight is 0 or more, such as `l2(1e-4)`",
        "limit" => "a clipping limit is positive, such as `norm(1.0)`",
        "epochs" | "steps" => "a warmup lasts a few epochs or steps: `warmup(epochs: 2)`",
        "every" | "keep" => "counts are whole numbers: `checkpoint(every: 1, keep: 3)`",
        _ => "see the settings in docs/language.md",
    }
}

fn shown(value: &Value) -> String {
    match value {
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Str(s) => format!("\"{s}\""),
        Value::Name(n) => format!("`{n}`"),
        other => other.described().into(),
    }
}
