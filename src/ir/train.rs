//! Training runs in the IR: the data, the target, the task and every
//! setting, typed, with its default resolved once (in lowering). The
//! executors match these enums exhaustively: a new loss, optimizer,
//! metric or device fails to compile until every executor handles it.

use std::path::PathBuf;

use serde::Serialize;

use super::{Augmentation, Frame, Model};

/// A training run, everything resolved.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Train {
    /// The model, with shapes.
    pub model: Model,
    /// The data it learns from.
    pub data: Frame,
    /// Validation data.
    pub validate: Option<Frame>,
    /// The target column.
    pub target: String,
    /// The classes the checker knows the target to have, in the run's order
    /// (sorted; integers as numbers): one model output each, whatever the
    /// training rows hold. `None` when only the data tells (a text target
    /// whose values the check could not read).
    pub classes: Option<Vec<String>>,
    /// Whether it learns classes or numbers (decided by the checker from
    /// the loss, or from the target's type when no loss is written).
    pub task: Task,
    /// The settings, defaults filled in.
    pub settings: TrainSettings,
    /// A sweep's points, when the run is one (`model` and `settings` are
    /// its first point's): each trains on its own, and the best by the
    /// objective is the run's result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<Sweep>,
    /// On a `kfold` split's parts: each fold's training and validation
    /// data (`data` and `validate` are the first fold's); one model trains
    /// per fold. Empty otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub folds: Vec<FoldData>,
}

/// The data of one fold of a k-fold run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FoldData {
    /// The fold's training rows, through the transforms fitted on them.
    pub data: Frame,
    /// Its validation rows.
    pub validate: Option<Frame>,
}

/// The points of a sweep, each checked as if written out.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sweep {
    /// How they were picked: `grid`, `random(n: 20, seed: 1)`.
    pub search: String,
    /// The points, in the order they train.
    pub trials: Vec<Trial>,
    /// Stopping points that fall behind (`prune: median(...)`).
    pub prune: Option<MedianPrune>,
    /// Points trained at a time (`parallel: k`), each on a thread of its own.
    pub parallel: u64,
}

/// The median stopping rule (Optuna's `MedianPruner`): after `startup`
/// points have finished, a point stops at an epoch past `after` whose best
/// objective so far is worse than the median of the finished points'
/// objectives at that epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct MedianPrune {
    /// Points that finish unpruned before any is pruned.
    pub startup: u64,
    /// Epochs every point trains before it can be pruned.
    pub after: u64,
}

/// One point of a sweep.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trial {
    /// Each swept value as written: `("lr", "0.01")`.
    pub point: Vec<(String, String)>,
    /// The model at this point.
    pub model: Model,
    /// The settings at this point.
    pub settings: TrainSettings,
}

impl Train {
    /// The run of fold `index` of a k-fold run: its data, no other folds.
    pub fn fold(&self, index: usize) -> Train {
        let mut run = self.clone();
        if let Some(fold) = self.folds.get(index) {
            run.data = fold.data.clone();
            run.validate = fold.validate.clone();
        }
        run.folds = Vec::new();
        run
    }

    /// The run of one point of its sweep (the run itself without one).
    pub fn trial(&self, index: usize) -> Train {
        let Some(trial) = self.sweep.as_ref().and_then(|s| s.trials.get(index)) else { return self.clone() };
        Train {
            model: trial.model.clone(),
            settings: trial.settings.clone(),
            sweep: None,
            folds: self.folds.clone(),
            data: self.data.clone(),
            validate: self.validate.clone(),
            target: self.target.clone(),
            classes: self.classes.clone(),
            task: self.task,
        }
    }
}

/// What a run learns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Task {
    /// Classes: the target's distinct values.
    Classification,
    /// Numbers.
    Regression,
}

/// Declares a setting's closed set of names once: the enum, its names as
/// written in a `.pipe` file, and the lookups the checker and the LSP use.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every variant, in the order the docs list them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name as written in a `.pipe` file.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The variant written `text`, if any.
            pub fn from_name(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.name() == text)
            }

            /// Every name, in order (for help lines and completion).
            pub fn names() -> Vec<&'static str> {
                Self::ALL.iter().map(|v| v.name()).collect()
            }
        }
    };
}
pub(crate) use named_enum;

named_enum! {
    /// Losses. Every loss takes the model's raw outputs (logits for
    /// classes): `cross_entropy` applies softmax itself, and
    /// `binary_cross_entropy` a sigmoid.
    Loss {
        /// Softmax cross-entropy over class scores (`label_smoothing:`).
        CrossEntropy = "cross_entropy",
        /// Sigmoid cross-entropy of one logit for class 1 of two
        /// (`pos_weight:`).
        BinaryCrossEntropy = "binary_cross_entropy",
        /// Softmax focal loss, `-(1 - p)^gamma ln p` of the true class's
        /// probability (`gamma:`, 2 unless given).
        Focal = "focal",
        /// Mean squared error.
        Mse = "mse",
        /// Mean absolute error.
        Mae = "mae",
        /// Huber loss (`delta:`, 1 unless given).
        Huber = "huber",
    }
}

impl Loss {
    /// What a model trained with this loss learns.
    pub fn task(self) -> Task {
        match self {
            Loss::CrossEntropy | Loss::BinaryCrossEntropy | Loss::Focal => Task::Classification,
            Loss::Mse | Loss::Mae | Loss::Huber => Task::Regression,
        }
    }

    /// Whether the model ends with one output per class (else one output:
    /// a number, or one logit for two classes).
    pub fn one_output_per_class(self) -> bool {
        matches!(self, Loss::CrossEntropy | Loss::Focal)
    }

    /// The squashing the loss applies to the raw outputs itself: "a
    /// softmax", "a sigmoid", or none (numbers).
    pub fn applies(self) -> Option<&'static str> {
        match self {
            Loss::CrossEntropy | Loss::Focal => Some("a softmax"),
            Loss::BinaryCrossEntropy => Some("a sigmoid"),
            Loss::Mse | Loss::Mae | Loss::Huber => None,
        }
    }

    /// The loss used when the file names none.
    pub fn default_for(task: Task) -> Self {
        match task {
            Task::Classification => Loss::CrossEntropy,
            Task::Regression => Loss::Mse,
        }
    }
}

named_enum! {
    /// Optimizers.
    OptimizerKind {
        /// Stochastic gradient descent, optionally with (Nesterov) momentum.
        Sgd = "sgd",
        /// Adam (weight decay added to the gradient, as PyTorch's `Adam`).
        Adam = "adam",
        /// Adam with decoupled weight decay.
        AdamW = "adamw",
        /// RMSprop.
        RmsProp = "rmsprop",
        /// Adagrad: each weight's step divided by the root of its summed
        /// squared gradients (PyTorch's `Adagrad`).
        Adagrad = "adagrad",
        /// Lion (Chen et al. 2023): the sign of an interpolated momentum,
        /// with decoupled weight decay.
        Lion = "lion",
    }
}

impl OptimizerKind {
    /// The learning rate when the call gives none: PyTorch's default
    /// (Adagrad's 0.01), the Lion paper's 1e-4, else 1e-3.
    pub fn default_lr(self) -> f64 {
        match self {
            OptimizerKind::Adagrad => 0.01,
            OptimizerKind::Lion => 1e-4,
            OptimizerKind::Sgd | OptimizerKind::Adam | OptimizerKind::AdamW | OptimizerKind::RmsProp => DEFAULT_LR,
        }
    }
}

named_enum! {
    /// How a numeric target is scaled for training (`scale:`); the
    /// predictions and metrics are in the target's own units.
    TargetScaling {
        /// `(y - mean) / std` (population std, scikit-learn's
        /// `StandardScaler`).
        Standard = "standard",
        /// `(y - min) / (max - min)`, into [0, 1].
        MinMax = "minmax",
    }
}

named_enum! {
    /// The type a model computes in.
    Precision {
        /// Everything in f32.
        F32 = "f32",
        /// IEEE half precision (with dynamic loss scaling).
        F16 = "f16",
        /// bfloat16.
        Bf16 = "bf16",
    }
}

named_enum! {
    /// The backends a device can name.
    DeviceKind {
        /// flex, the embedded CPU backend.
        Cpu = "cpu",
        /// CubeCL CUDA (the `cuda` feature).
        Cuda = "cuda",
        /// libtorch on the CPU (the `tch` feature).
        TorchCpu = "torch.cpu",
        /// libtorch on a CUDA GPU (the `tch` feature).
        TorchCuda = "torch.cuda",
        /// Another process's flex device, served by `pipe device-server`
        /// (the `remote` feature).
        Remote = "remote",
    }
}

named_enum! {
    /// Metrics that are one number, so they can be watched (early stopping)
    /// and reported per epoch.
    Scalar {
        /// The loss.
        Loss = "loss",
        /// Fraction of rows whose class is right.
        Accuracy = "accuracy",
        /// Macro-averaged precision.
        Precision = "precision",
        /// Macro-averaged recall.
        Recall = "recall",
        /// Macro-averaged F1.
        F1 = "f1",
        /// Mean squared error.
        Mse = "mse",
        /// Mean absolute error.
        Mae = "mae",
        /// Area under the ROC curve (one class against the rest, macro
        /// averaged, for more than two classes).
        Auc = "auc",
        /// Area under the precision-recall curve: average precision
        /// (scikit-learn's `average_precision_score`).
        PrAuc = "pr_auc",
        /// Cross-entropy of the predicted probabilities.
        LogLoss = "log_loss",
        /// Root mean squared error.
        Rmse = "rmse",
        /// Coefficient of determination.
        R2 = "r2",
        /// Mean absolute percentage error (a fraction, as scikit-learn's).
        Mape = "mape",
    }
}

impl Scalar {
    /// The task the metric is computed for (`None`: both).
    pub fn task(self) -> Option<Task> {
        match self {
            Scalar::Loss => None,
            Scalar::Accuracy
            | Scalar::Precision
            | Scalar::Recall
            | Scalar::F1
            | Scalar::Auc
            | Scalar::PrAuc
            | Scalar::LogLoss => Some(Task::Classification),
            Scalar::Mse | Scalar::Mae | Scalar::Rmse | Scalar::R2 | Scalar::Mape => Some(Task::Regression),
        }
    }

    /// Whether it is computed from the predicted probabilities, which the
    /// training batches do not keep (so only validation and evaluation
    /// data have it).
    pub fn needs_probabilities(self) -> bool {
        matches!(self, Scalar::Auc | Scalar::PrAuc | Scalar::LogLoss)
    }

    /// Whether a lower value is better.
    pub fn lower_is_better(self) -> bool {
        match self {
            Scalar::Loss | Scalar::Mse | Scalar::Mae | Scalar::LogLoss | Scalar::Rmse | Scalar::Mape => true,
            Scalar::Accuracy
            | Scalar::Precision
            | Scalar::Recall
            | Scalar::F1
            | Scalar::Auc
            | Scalar::PrAuc
            | Scalar::R2 => false,
        }
    }
}

/// A metric an `evaluate` item reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Metric {
    /// One number.
    Scalar(Scalar),
    /// The confusion matrix (classes only; not a number, so never watched).
    Confusion,
    /// `top_k(k)`: the fraction of rows whose class is among the `k` most
    /// probable (from the predicted probabilities, so not on training
    /// batches).
    TopK(u16),
}

impl Metric {
    /// The name as written.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Scalar(s) => s.name(),
            Metric::Confusion => "confusion",
            Metric::TopK(_) => "top_k",
        }
    }

    /// The metric written `text`.
    pub fn from_name(text: &str) -> Option<Self> {
        if text == "confusion" { Some(Metric::Confusion) } else { Scalar::from_name(text).map(Metric::Scalar) }
    }

    /// Every metric's name: the numbers, then `confusion` and `top_k(k)`.
    pub fn names() -> Vec<&'static str> {
        Self::listed().into_iter().map(|(name, _)| name).collect()
    }

    /// Every metric as listed in help lines, with one of its kind (`top_k`
    /// stands for every `k`).
    pub fn listed() -> Vec<(&'static str, Metric)> {
        let mut listed: Vec<(&'static str, Metric)> =
            Scalar::ALL.iter().map(|s| (s.name(), Metric::Scalar(*s))).collect();
        listed.extend([("confusion", Metric::Confusion), ("top_k(k)", Metric::TopK(1))]);
        listed
    }

    /// The task it is computed for (`None`: both).
    pub fn task(self) -> Option<Task> {
        match self {
            Metric::Scalar(s) => s.task(),
            Metric::Confusion | Metric::TopK(_) => Some(Task::Classification),
        }
    }
}

/// Which data a watched metric is computed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum DataSplit {
    /// The training data, over the epoch's batches (as the model changed).
    Train,
    /// The `validate:` data, after the epoch.
    Val,
}

/// `class_weight:`: how much each class's rows weigh in the loss.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum ClassWeight {
    /// `balanced`: inversely to each class's frequency, scikit-learn's
    /// `n / (classes * count)`.
    Balanced,
    /// `{cat: 2, dog: 1}`: these classes' weights; the others weigh 1
    /// (Keras' `class_weight`).
    Given(Vec<(String, f64)>),
}

/// The parameters of the losses (each loss reads its own; the checker
/// refuses another loss's).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LossOptions {
    /// `cross_entropy(label_smoothing:)`: the weight of the uniform
    /// distribution mixed into the one-hot targets, in [0, 1).
    pub label_smoothing: f64,
    /// `binary_cross_entropy(pos_weight:)`: the weight of the positive
    /// class's term (PyTorch's `pos_weight`), positive.
    pub pos_weight: f64,
    /// `focal(gamma:)`: the focusing exponent, 0 or more (0 is
    /// cross-entropy).
    pub gamma: f64,
    /// `huber(delta:)`: where the loss turns from squared to linear,
    /// positive.
    pub delta: f64,
}

impl Default for LossOptions {
    fn default() -> Self {
        LossOptions { label_smoothing: 0.0, pos_weight: 1.0, gamma: 2.0, delta: 1.0 }
    }
}

/// The settings of a training run, defaults resolved.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrainSettings {
    /// The loss.
    pub loss: Loss,
    /// The loss's parameters.
    pub loss_options: LossOptions,
    /// The optimizer.
    pub optimizer: Optimizer,
    /// How the learning rate changes over the run.
    pub schedule: Schedule,
    /// Samples per step.
    pub batch: Batch,
    /// Passes over the data.
    pub epochs: u64,
    /// Early stopping.
    pub early_stop: Option<EarlyStop>,
    /// The type the model computes in.
    pub precision: Precision,
    /// `cudnn_benchmark:` (libtorch devices only).
    pub cudnn_benchmark: Option<bool>,
    /// `gpu_memory:` (libtorch's CUDA devices only). How memory is taken,
    /// not what trains: not part of the run's identity (cache key,
    /// `settings.json`, what `--resume` compares).
    #[serde(skip)]
    pub gpu_memory: Option<GpuMemory>,
    /// Devices, in order (several: data parallel); at least one.
    pub devices: Vec<Device>,
    /// L1 penalty weight.
    pub l1: Option<f64>,
    /// L2 penalty weight.
    pub l2: Option<f64>,
    /// Gradient clipping.
    pub clip: Option<Clip>,
    /// Steps whose gradients are accumulated before an update (1: none).
    pub accumulate: u64,
    /// Random seed.
    pub seed: u64,
    /// Where metrics go besides the run folder.
    pub logs: Vec<LogSink>,
    /// Where the trained model is saved.
    pub save: Option<PathBuf>,
    /// Checkpoints.
    pub checkpoint: Checkpoint,
    /// The augmentation applied to training batches (the `augment` item's
    /// steps).
    pub augment: Option<Augmentation>,
    /// How classes weigh in the loss (classification only).
    pub class_weight: Option<ClassWeight>,
    /// `weights:`: the column whose values weigh each training row's loss
    /// (Keras' `sample_weight`); not a feature. A setting, so a run
    /// folder's settings.json records it (`pipe runs`, `--resume`).
    pub weights: Option<String>,
    /// How a numeric target is scaled for training (regression only).
    pub target_scale: Option<TargetScaling>,
    /// Batches built ahead of the step training (0: each built when the
    /// step starts). It changes when a batch is built, not what it holds,
    /// so it is not part of the run's identity: not in its cache key, its
    /// `settings.json`, or what `--resume` compares.
    #[serde(skip)]
    pub prefetch: u64,
    /// What ranks a sweep's points (`None`: the validation loss, or the
    /// training loss without validation data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objective: Option<Objective>,
}

/// `gpu_memory:`: how libtorch's CUDA caching allocator takes a card's
/// memory (TensorFlow's memory growth and memory limit). libtorch never
/// takes a whole card up front: it reserves memory as tensors need it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct GpuMemory {
    /// `growth`: memory is reserved in expandable segments that grow in
    /// place as tensors need more, instead of fixed blocks that fragment
    /// (`PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True`).
    pub growth: bool,
    /// `limit(f)`: the share of each card's memory the process may reserve,
    /// in (0, 1] (`torch.cuda.set_per_process_memory_fraction`); past it an
    /// allocation fails as out of memory.
    pub limit: Option<f64>,
}

/// A metric on a split: what ranks a sweep's points.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Objective {
    /// The data it is computed on.
    pub split: DataSplit,
    /// The metric.
    pub metric: Scalar,
}

/// Epochs when the file says nothing.
pub const DEFAULT_EPOCHS: u64 = 10;
/// Samples per step when the file says nothing (Keras' default).
pub const DEFAULT_BATCH: u64 = 32;
/// Batches built ahead when the file says nothing: enough to hide a
/// batch's gathering and augmentation behind the step before it, little
/// enough to cost only a few batches of memory.
pub const DEFAULT_PREFETCH: u64 = 2;
/// The learning rate when the file gives none.
pub const DEFAULT_LR: f64 = 1e-3;

impl TrainSettings {
    /// The settings of a block that writes none, for a run of `task`.
    pub fn defaults(task: Task) -> Self {
        TrainSettings {
            loss: Loss::default_for(task),
            loss_options: LossOptions::default(),
            optimizer: Optimizer::new(OptimizerKind::Adam, DEFAULT_LR),
            schedule: Schedule { warmup: None, decay: Decay::Constant },
            batch: Batch::Rows(DEFAULT_BATCH),
            epochs: DEFAULT_EPOCHS,
            early_stop: None,
            precision: Precision::F32,
            cudnn_benchmark: None,
            gpu_memory: None,
            devices: vec![Device::local(DeviceKind::Cpu, None)],
            l1: None,
            l2: None,
            clip: None,
            accumulate: 1,
            seed: 0,
            logs: Vec::new(),
            save: None,
            checkpoint: Checkpoint::default(),
            augment: None,
            class_weight: None,
            weights: None,
            target_scale: None,
            prefetch: DEFAULT_PREFETCH,
            objective: None,
        }
    }
}

/// Samples per step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Batch {
    /// This many rows.
    Rows(u64),
    /// `auto`: the largest batch that fits the device (256 on the CPU).
    Auto,
}

/// Gradient clipping.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Clip {
    /// Scale each parameter's gradient down to this norm.
    Norm(f64),
    /// Clamp every gradient value to `[-limit, limit]`.
    Value(f64),
}

/// Where a run's metrics are written, besides its run folder.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum LogSink {
    /// One line per epoch on the terminal.
    Console,
    /// TensorBoard event files in this folder.
    TensorBoard(PathBuf),
    /// A CSV file.
    Csv(PathBuf),
    /// JSON lines.
    Jsonl(PathBuf),
}

/// How often checkpoints are written, and how many are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Checkpoint {
    /// A checkpoint every this many epochs (0: none).
    pub every: u64,
    /// How many to keep (the newest).
    pub keep: u64,
}

impl Default for Checkpoint {
    fn default() -> Self {
        Checkpoint { every: 0, keep: 2 }
    }
}

/// An optimizer and its numbers, each default resolved for its kind
/// (PyTorch's defaults).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Optimizer {
    /// Which.
    pub kind: OptimizerKind,
    /// Learning rate.
    pub lr: f64,
    /// Momentum (sgd, rmsprop; 0: none).
    pub momentum: f64,
    /// Nesterov momentum (sgd).
    pub nesterov: bool,
    /// Weight decay (0: none; adamw's default is 0.01).
    pub weight_decay: f64,
    /// Adam's first-moment decay.
    pub beta1: f64,
    /// Adam's second-moment decay.
    pub beta2: f64,
    /// Epsilon.
    pub eps: f64,
    /// RMSprop's averaging factor.
    pub alpha: f64,
}

impl Optimizer {
    /// `kind` with `lr` and every other number at PyTorch's default.
    pub fn new(kind: OptimizerKind, lr: f64) -> Self {
        let weight_decay = match kind {
            OptimizerKind::AdamW => 0.01,
            OptimizerKind::Sgd
            | OptimizerKind::Adam
            | OptimizerKind::RmsProp
            | OptimizerKind::Adagrad
            | OptimizerKind::Lion => 0.0,
        };
        Optimizer {
            kind,
            lr,
            momentum: 0.0,
            nesterov: false,
            weight_decay,
            beta1: 0.9,
            // Lion's second beta is the paper's 0.99.
            beta2: if kind == OptimizerKind::Lion { 0.99 } else { 0.999 },
            // Adagrad's epsilon is PyTorch's 1e-10 (Burn's is 1e-5).
            eps: if kind == OptimizerKind::Adagrad { 1e-10 } else { 1e-8 },
            alpha: 0.99,
        }
    }
}

/// A learning-rate schedule: `warmup(epochs: 2) then cosine()`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Schedule {
    /// A linear ramp from the start, if any.
    pub warmup: Option<WarmupLength>,
    /// What the rate does after the warmup.
    pub decay: Decay,
}

/// What the learning rate does after any warmup.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Decay {
    /// The rate as given.
    Constant,
    /// Multiply by `gamma` every `every` epochs.
    Step {
        /// Period in epochs.
        every: u64,
        /// Factor.
        gamma: f64,
    },
    /// Multiply by `gamma` every epoch.
    Exponential {
        /// Factor.
        gamma: f64,
    },
    /// Cosine decay to `min_lr`.
    Cosine {
        /// The floor.
        min_lr: f64,
    },
    /// Multiply by `factor` after `patience` epochs without improvement
    /// of the validation loss (the training loss without validation data).
    OnPlateau {
        /// Epochs to wait.
        patience: u64,
        /// Factor.
        factor: f64,
    },
}

/// How long a warmup lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum WarmupLength {
    /// This many epochs.
    Epochs(u64),
    /// This many optimizer steps.
    Steps(u64),
}

/// Early stopping.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EarlyStop {
    /// Epochs without improvement before stopping.
    pub patience: u64,
    /// The data the watched metric is computed on.
    pub split: DataSplit,
    /// The watched metric.
    pub metric: Scalar,
    /// The smallest change that counts as improvement.
    pub min_delta: f64,
    /// Restore the best weights at the end (also when not stopped early).
    pub restore_best: bool,
}

/// A device.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Device {
    /// The backend.
    pub kind: DeviceKind,
    /// The device index, for GPUs (`None`: 0).
    pub index: Option<u64>,
    /// Where a remote device's server listens (`ws://host:port`); left out
    /// of the settings JSON for local devices (their records and cache
    /// keys stay as they were before remote devices).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl Device {
    /// A local device of `kind` (`index` for GPUs).
    pub fn local(kind: DeviceKind, index: Option<u64>) -> Device {
        Device { kind, index, address: None }
    }

    /// The device a `pipe device-server` at `address` serves.
    pub fn remote(address: &str) -> Device {
        Device { kind: DeviceKind::Remote, index: None, address: Some(address.to_string()) }
    }
}

/// What is wrong with a remote device's address, if anything: it must be
/// `ws://HOST:PORT` (what `pipe device-server --port PORT` listens on).
pub fn remote_address_problem(address: &str) -> Option<String> {
    let Some(rest) = address.strip_prefix("ws://") else {
        return Some("the address starts with `ws://` (Burn Remote's WebSocket transport)".into());
    };
    let Some((host, port)) = rest.rsplit_once(':') else {
        return Some("the address ends with the server's port: `ws://HOST:PORT`".into());
    };
    if host.is_empty() || host.contains('/') {
        return Some("the address names a host before the port: `ws://HOST:PORT`".into());
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => None,
        _ => Some(format!("`{port}` is no port: a number from 1 to 65535")),
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.address, self.index) {
            (Some(address), _) => write!(f, "{}({address:?})", self.kind.name()),
            (None, Some(i)) => write!(f, "{}({i})", self.kind.name()),
            (None, None) => f.write_str(self.kind.name()),
        }
    }
}
