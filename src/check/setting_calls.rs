//! The calls a setting's value may be (`adam(1e-3)`, `warmup(epochs: 2)`,
//! `patience(3, on: val.loss)`, `l2(1e-4)`, `norm(1.0)`,
//! `tensorboard("runs")`, `checkpoint(every: 5)`), each declared once: its
//! name, what the checker matches (an enum, matched exhaustively), its
//! parameters and one line of doc. `settings.rs` checks calls against
//! these; editors' signatures and hover come from them too.

use crate::check::args::{Declared, Param, declared as call, named, pos};
use crate::ir::{Loss, OptimizerKind};

const SGD: &[Param] = &[pos("lr", false), named("momentum"), named("nesterov"), named("weight_decay")];
const ADAM: &[Param] = &[pos("lr", false), named("beta1"), named("beta2"), named("eps"), named("weight_decay")];
const RMSPROP: &[Param] = &[pos("lr", false), named("alpha"), named("eps"), named("momentum"), named("weight_decay")];
const ADAGRAD: &[Param] = &[pos("lr", false), named("eps"), named("weight_decay")];
const LION: &[Param] = &[pos("lr", false), named("beta1"), named("beta2"), named("weight_decay")];

/// `optimizer:`
pub const OPTIMIZERS: &[Declared<OptimizerKind>] = &[
    call("sgd", OptimizerKind::Sgd, SGD, "Stochastic gradient descent, with (Nesterov) momentum if given"),
    call("adam", OptimizerKind::Adam, ADAM, "Adam (weight decay added to the gradient, as PyTorch's Adam)"),
    call("adamw", OptimizerKind::AdamW, ADAM, "Adam with decoupled weight decay"),
    call("rmsprop", OptimizerKind::RmsProp, RMSPROP, "RMSprop"),
    call(
        "adagrad",
        OptimizerKind::Adagrad,
        ADAGRAD,
        "Adagrad: steps scaled by each weight's summed squared gradients (lr 0.01 unless given)",
    ),
    call(
        "lion",
        OptimizerKind::Lion,
        LION,
        "Lion: the sign of an interpolated momentum, decoupled weight decay (lr 1e-4 unless given)",
    ),
];

/// `loss:`, each with its parameters (all optional).
pub const LOSSES: &[Declared<Loss>] = &[
    call(
        "cross_entropy",
        Loss::CrossEntropy,
        &[named("label_smoothing")],
        "Softmax cross-entropy over one output per class; `label_smoothing` mixes that much of the uniform distribution into the targets",
    ),
    call(
        "binary_cross_entropy",
        Loss::BinaryCrossEntropy,
        &[named("pos_weight")],
        "Sigmoid cross-entropy of one output for two classes; `pos_weight` weighs the positive class's term",
    ),
    call(
        "focal",
        Loss::Focal,
        &[named("gamma")],
        "Focal loss over one output per class: cross-entropy scaled by (1 - p)^gamma, gamma 2 unless given",
    ),
    call("mse", Loss::Mse, &[], "Mean squared error"),
    call("mae", Loss::Mae, &[], "Mean absolute error"),
    call("huber", Loss::Huber, &[named("delta")], "Huber loss: squared below delta (1 unless given), linear above"),
];

/// A phase of `schedule:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduleKind {
    /// `constant`
    Constant,
    /// `warmup(epochs: | steps:)`
    Warmup,
    /// `step(every:, gamma:)`
    Step,
    /// `exponential(gamma)`
    Exponential,
    /// `cosine(min_lr:)`
    Cosine,
    /// `on_plateau(patience:, factor:)`
    OnPlateau,
}

/// The phases of `schedule:` (`warmup(...) then cosine()`).
pub const SCHEDULES: &[Declared<ScheduleKind>] = &[
    call("constant", ScheduleKind::Constant, &[], "The optimizer's learning rate throughout"),
    call(
        "warmup",
        ScheduleKind::Warmup,
        &[named("epochs"), named("steps")],
        "Rises linearly to the learning rate over these epochs or steps (first, before `then`)",
    ),
    call(
        "step",
        ScheduleKind::Step,
        &[named("every"), named("gamma")],
        "Multiplies the rate by gamma every few epochs",
    ),
    call("exponential", ScheduleKind::Exponential, &[pos("gamma", true)], "Multiplies the rate by gamma each epoch"),
    call("cosine", ScheduleKind::Cosine, &[named("min_lr")], "Cosine decay to min_lr over the remaining epochs"),
    call(
        "on_plateau",
        ScheduleKind::OnPlateau,
        &[named("patience"), named("factor")],
        "Multiplies the rate by factor after `patience` epochs without a lower loss (validation loss when there is validation data)",
    ),
];

/// `early_stop:`
pub const EARLY_STOPS: &[Declared<()>] = &[call(
    "patience",
    (),
    &[pos("patience", true), named("on"), named("min_delta"), named("restore_best")],
    "Stops after this many epochs without improvement of `on` (val.loss unless given)",
)];

/// An L1 or L2 penalty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Norm {
    /// Absolute values.
    L1,
    /// Squares.
    L2,
}

const WEIGHT: &[Param] = &[pos("weight", true)];

/// The terms of `regularize:`.
pub const REGULARIZERS: &[Declared<Norm>] = &[
    call("l1", Norm::L1, WEIGHT, "Adds weight * the sum of |w| over dense and conv weights to the loss"),
    call("l2", Norm::L2, WEIGHT, "Adds weight * the sum of w^2 over dense and conv weights to the loss"),
];

/// How `clip:` limits gradients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClipKind {
    /// The whole gradient's norm.
    Norm,
    /// Each value.
    Value,
}

const LIMIT: &[Param] = &[pos("limit", true)];

/// `clip:`
pub const CLIPS: &[Declared<ClipKind>] = &[
    call("norm", ClipKind::Norm, LIMIT, "Scales the gradients down to this norm at most"),
    call("value", ClipKind::Value, LIMIT, "Clamps each gradient value to [-limit, limit]"),
];

/// Where `log:` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkKind {
    /// The terminal.
    Console,
    /// TensorBoard event files.
    TensorBoard,
    /// A CSV file, a row per epoch.
    Csv,
    /// A JSON line per epoch.
    Jsonl,
}

const PATH: &[Param] = &[pos("path", true)];

/// The sinks of `log:`.
pub const LOG_SINKS: &[Declared<SinkKind>] = &[
    call("console", SinkKind::Console, &[], "Each epoch's metrics on the terminal"),
    call("tensorboard", SinkKind::TensorBoard, PATH, "TensorBoard event files in this folder"),
    call("csv", SinkKind::Csv, PATH, "A CSV file, one row per epoch"),
    call("jsonl", SinkKind::Jsonl, PATH, "A JSON line per epoch"),
];

/// `checkpoint:`
pub const CHECKPOINTS: &[Declared<()>] = &[call(
    "checkpoint",
    (),
    &[named("every"), named("keep")],
    "A checkpoint every few epochs (every epoch unless given), the newest `keep` kept",
)];

/// What `gpu_memory:` sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpuMemoryKind {
    /// Expandable segments.
    Growth,
    /// A share of each card.
    Limit,
}

/// `gpu_memory:` (libtorch's CUDA caching allocator).
pub const GPU_MEMORIES: &[Declared<GpuMemoryKind>] = &[
    call(
        "growth",
        GpuMemoryKind::Growth,
        &[],
        "Reserves GPU memory in expandable segments that grow in place as tensors need more (PYTORCH_CUDA_ALLOC_CONF's expandable_segments)",
    ),
    call(
        "limit",
        GpuMemoryKind::Limit,
        &[pos("fraction", true)],
        "Lets the process reserve at most this share of each card's memory, in (0, 1]; past it an allocation fails as out of memory",
    ),
];

/// Every value call's name, parameters and doc, for editors.
pub fn all() -> Vec<(&'static str, &'static [Param], &'static str)> {
    fn of<K>(calls: &'static [Declared<K>]) -> impl Iterator<Item = (&'static str, &'static [Param], &'static str)> {
        calls.iter().map(|c| (c.name, c.params, c.doc))
    }
    of(LOSSES)
        .chain(of(OPTIMIZERS))
        .chain(of(SCHEDULES))
        .chain(of(EARLY_STOPS))
        .chain(of(REGULARIZERS))
        .chain(of(CLIPS))
        .chain(of(LOG_SINKS))
        .chain(of(CHECKPOINTS))
        .chain(of(GPU_MEMORIES))
        .chain(of(crate::check::sweep::SEARCHES))
        .chain(of(crate::check::sweep::SPACES))
        .chain(of(crate::check::sweep::PRUNERS))
        .collect()
}
