//! The names the language provides: source readers, data operations, model
//! operations. Their signatures are checked by the rules for each; here the
//! names alone tell a known operation from a typo.

/// Functions that read data, valid as the value of a `source` item.
pub const SOURCES: [&str; 3] = ["csv", "parquet", "images"];

/// Operations on frames, valid after `|>` in a data pipeline (and as steps
/// of a `transform` block, for the fitted ones).
pub const DATA_OPERATIONS: [&str; 21] = [
    "filter",
    "select",
    "drop",
    "rename",
    "with",
    "drop_nulls",
    "fill_nulls",
    "cast",
    "cut",
    "qcut",
    "standard",
    "minmax",
    "robust",
    "onehot",
    "pca",
    "oversample",
    "sample",
    "split",
    "cache",
    "write",
    "predict",
];

/// Operations on models, valid after `|>` in a model expression.
pub const MODEL_OPERATIONS: [&str; 3] = ["replace_head", "freeze", "unfreeze"];

/// Functions that produce a model without a `model` item.
pub const MODEL_SOURCES: [&str; 1] = ["load"];

/// Whether `name` is a data operation.
pub fn is_data_operation(name: &str) -> bool {
    DATA_OPERATIONS.contains(&name)
}

/// Layers and activations, valid as steps of a `model` block.
pub const LAYERS: [&str; 18] = [
    "dense",
    "conv",
    "maxpool",
    "avgpool",
    "global_avgpool",
    "flatten",
    "batchnorm",
    "layernorm",
    "dropout",
    "embedding",
    "residual",
    "relu",
    "leaky_relu",
    "elu",
    "gelu",
    "sigmoid",
    "tanh",
    "softmax",
];

/// Image augmentations, valid as steps of an `augment` block.
pub const AUGMENTATIONS: [&str; 11] =
    ["flip", "rotate", "shift", "shear", "zoom", "brightness", "contrast", "saturation", "hue", "noise", "cutout"];
