//! Names people bring from Keras, PyTorch, scikit-learn and pandas, and
//! what pipe calls them. "Did you mean" by spelling finds `desne`; this
//! table finds `batch_size`, `sparse_categorical_crossentropy` and
//! `fillna`, which no edit distance connects to `batch`, `cross_entropy`
//! and `fill_nulls`.

use crate::suggest::closest;

/// Where a name is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// A key of a `train` block.
    TrainSetting,
    /// A `loss:` value.
    Loss,
    /// A metric in `metrics:` or `early_stop`.
    Metric,
    /// An optimizer.
    Optimizer,
    /// A data operation after `|>`.
    Operation,
    /// A layer in a model.
    Layer,
    /// A named argument of a layer.
    LayerArgument,
}

/// One familiar name: where it is written, the name, and the help.
pub struct Familiar {
    /// Where.
    pub place: Place,
    /// The name as the other library spells it.
    pub name: &'static str,
    /// What to write in pipe (a full help line).
    pub help: &'static str,
}

const fn f(place: Place, name: &'static str, help: &'static str) -> Familiar {
    Familiar { place, name, help }
}

use Place::*;

/// The table. Each entry has a UI case in `tests/ui/check/familiar/`.
pub const FAMILIAR: &[Familiar] = &[
    // Settings of a training run (Keras' fit(), PyTorch Lightning).
    f(TrainSetting, "batch_size", "pipe calls it `batch`: write `batch: 32`"),
    f(TrainSetting, "lr", "the learning rate belongs to the optimizer: write `optimizer: adam(lr: 1e-3)`"),
    f(TrainSetting, "learning_rate", "the learning rate belongs to the optimizer: write `optimizer: adam(lr: 1e-3)`"),
    f(
        TrainSetting,
        "validation_split",
        "split the data first (`split train, val = data |> split([0.8, 0.2], seed: 1)`), then write `validate: val`",
    ),
    f(TrainSetting, "validation_data", "pipe calls it `validate`: write `validate: prep(val)`"),
    f(
        TrainSetting,
        "callbacks",
        "callbacks are settings here: `early_stop: patience(3, on: val.loss)`, `checkpoint: checkpoint(every: 1)`, `log: tensorboard(\"runs/x\")`",
    ),
    f(TrainSetting, "num_epochs", "pipe calls it `epochs`: write `epochs: 10`"),
    f(TrainSetting, "max_epochs", "pipe calls it `epochs`: write `epochs: 10`"),
    f(TrainSetting, "criterion", "pipe calls it `loss`: write `loss: cross_entropy`"),
    f(TrainSetting, "loss_fn", "pipe calls it `loss`: write `loss: cross_entropy`"),
    f(TrainSetting, "optim", "pipe calls it `optimizer`: write `optimizer: adam(lr: 1e-3)`"),
    f(TrainSetting, "lr_scheduler", "pipe calls it `schedule`: write `schedule: warmup(epochs: 2) then cosine()`"),
    f(TrainSetting, "mixed_precision", "write `precision: bf16` (or `f16`, which adds loss scaling)"),
    f(TrainSetting, "random_state", "pipe calls it `seed`: write `seed: 42`"),
    f(TrainSetting, "clipnorm", "write `clip: norm(1.0)`"),
    f(TrainSetting, "clipvalue", "write `clip: value(0.5)`"),
    f(TrainSetting, "gradient_clip_val", "write `clip: norm(1.0)`"),
    f(TrainSetting, "accumulate_grad_batches", "pipe calls it `accumulate`: write `accumulate: 4`"),
    f(
        TrainSetting,
        "weight_decay",
        "weight decay belongs to the optimizer (`optimizer: adamw(lr: 1e-3, weight_decay: 0.01)`), or write an L2 penalty: `regularize: l2(1e-4)`",
    ),
    f(TrainSetting, "kernel_regularizer", "write `regularize: l2(1e-4)` (it applies to every dense and conv weight)"),
    f(TrainSetting, "class_weights", "write `class_weight: balanced`"),
    f(TrainSetting, "label", "pipe calls the column to predict `target`: write `target: label`"),
    f(TrainSetting, "early_stopping", "write `early_stop: patience(3, on: val.loss, restore_best: true)`"),
    f(TrainSetting, "patience", "patience belongs to early stopping: write `early_stop: patience(3, on: val.loss)`"),
    f(TrainSetting, "tensorboard", "write `log: tensorboard(\"runs/name\")`"),
    f(TrainSetting, "memory_growth", "write `gpu_memory: growth` (libtorch's CUDA devices)"),
    f(TrainSetting, "allow_growth", "write `gpu_memory: growth` (libtorch's CUDA devices)"),
    f(TrainSetting, "memory_limit", "write `gpu_memory: limit(0.8)`: a share of each card's memory"),
    f(TrainSetting, "per_process_memory_fraction", "write `gpu_memory: limit(0.8)`: a share of each card's memory"),
    f(TrainSetting, "gpus", "write `device: torch.cuda` (one GPU) or `device: [torch.cuda(0), torch.cuda(1)]`"),
    f(
        TrainSetting,
        "metrics",
        "an `evaluate` item reports metrics: `evaluate run on prep(test) { metrics: [accuracy, f1] }`",
    ),
    // Losses.
    f(Loss, "sparse_categorical_crossentropy", "write `loss: cross_entropy` (it takes class labels and raw outputs)"),
    f(Loss, "categorical_crossentropy", "write `loss: cross_entropy` (targets are class labels, not one-hot rows)"),
    f(Loss, "CrossEntropyLoss", "write `loss: cross_entropy`"),
    f(
        Loss,
        "binary_crossentropy",
        "write `loss: binary_cross_entropy` (it takes the raw output, as `from_logits=True`)",
    ),
    f(Loss, "BCEWithLogitsLoss", "write `loss: binary_cross_entropy`"),
    f(Loss, "mean_squared_error", "write `loss: mse`"),
    f(Loss, "mean_absolute_error", "write `loss: mae`"),
    f(Loss, "SmoothL1Loss", "write `loss: huber` (delta 1)"),
    f(Loss, "HuberLoss", "write `loss: huber(delta: 1.0)`"),
    f(Loss, "focal_loss", "write `loss: focal(gamma: 2)` (softmax focal loss over one output per class)"),
    f(Loss, "categorical_focal_crossentropy", "write `loss: focal(gamma: 2)`"),
    // Metrics.
    f(Metric, "acc", "write `accuracy`"),
    f(Metric, "f1_score", "write `f1` (macro-averaged)"),
    f(Metric, "confusion_matrix", "write `confusion`"),
    // Optimizers.
    f(Optimizer, "Adam", "names are lower case: write `adam(lr: 1e-3)`"),
    f(Optimizer, "SGD", "names are lower case: write `sgd(lr: 0.01, momentum: 0.9)`"),
    // Data operations (pandas, scikit-learn, Polars).
    f(Operation, "dropna", "write `drop_nulls(cols)` (no columns: any column)"),
    f(Operation, "fillna", "write `fill_nulls(cols, value)` (`mean` and `median` are fitted)"),
    f(Operation, "astype", "write `cast(cols, f64)`"),
    f(Operation, "get_dummies", "write `onehot(cols)` in a `transform` block (the levels are fitted)"),
    f(Operation, "StandardScaler", "write `standard(cols)` in a `transform` block"),
    f(Operation, "MinMaxScaler", "write `minmax(cols)` in a `transform` block"),
    f(Operation, "train_test_split", "write `split train, test = data |> split([0.8, 0.2], seed: 1)`"),
    f(Operation, "query", "write `filter(condition)`, as in `filter(age >= 18)`"),
    f(Operation, "with_columns", "write `with(name: expression)`, as in `with(ratio: income / age)`"),
    // Layers (Keras, PyTorch).
    f(Layer, "Dense", "names are lower case: write `dense(64)`"),
    f(Layer, "Linear", "write `dense(64)` (the input width is inferred)"),
    f(Layer, "Conv2D", "write `conv(32, kernel: 3)`"),
    f(Layer, "MaxPooling2D", "write `maxpool(2)`"),
    f(Layer, "BatchNormalization", "write `batchnorm()`"),
    f(Layer, "ReLU", "activations are layers in lower case: write `relu()`"),
    f(LayerArgument, "activation", "activations are layers: write `dense(64) relu()`"),
    f(LayerArgument, "kernel_initializer", "write `init: he_normal` (or `glorot_uniform`, ...)"),
    f(LayerArgument, "use_bias", "pipe's dense and conv layers always have a bias"),
];

/// The help for a familiar name written at `place`, if the table has it.
pub fn lookup(place: Place, name: &str) -> Option<&'static str> {
    FAMILIAR.iter().find(|e| e.place == place && e.name == name).map(|e| e.help)
}

/// The help line for an unknown name at `place`: the table's advice, else
/// the closest known name, else the list.
pub fn help(place: Place, name: &str, known: &[&str], list_intro: &str) -> String {
    if let Some(help) = lookup(place, name) {
        return help.to_owned();
    }
    match closest(name, known.iter().copied()) {
        Some(near) => format!("did you mean `{near}`?"),
        None => format!("{list_intro} {}", known.join(", ")),
    }
}

/// The help line for an unknown key of a `train` block.
pub fn setting_help(key: &str, keys: &[&str]) -> String {
    help(TrainSetting, key, keys, "the settings are")
}
