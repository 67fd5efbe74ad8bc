//! The names the language provides: source readers, data operations, model
//! operations. Their signatures are checked by the rules for each; here the
//! names alone tell a known operation from a typo.

/// Functions that read data, valid as the value of a `source` item.
pub const SOURCES: [&str; 3] = ["csv", "parquet", "images"];

/// Operations on frames, valid after `|>` in a data pipeline (and as steps
/// of a `transform` block, for the fitted ones): every declared operation
/// ([`crate::check::ops::OPERATIONS`]) and `predict`.
pub fn data_operations() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = crate::check::ops::OPERATIONS.iter().map(|o| o.name).collect();
    names.push("predict");
    names
}

/// Operations on models, valid after `|>` in a model expression.
pub const MODEL_OPERATIONS: [&str; 4] = ["replace_head", "freeze", "unfreeze", "weights"];

/// Functions that produce a model without a `model` item.
pub const MODEL_SOURCES: [&str; 1] = ["load"];

/// Whether `name` is a data operation.
pub fn is_data_operation(name: &str) -> bool {
    name == "predict" || crate::check::ops::operation(name).is_some()
}

/// Whether `name` is a layer or an activation.
pub fn is_layer(name: &str) -> bool {
    LAYERS.contains(&name)
}

/// Layers and activations, valid as steps of a `model` block.
pub const LAYERS: [&str; 19] = [
    "dense",
    "conv",
    "maxpool",
    "avgpool",
    "global_avgpool",
    "flatten",
    "batchnorm",
    "layernorm",
    "normalize",
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

/// What editors show for the builtins that are not data operations (those
/// come from their declarations): its signature (`name:` marks a
/// parameter given only by name, `...` one that takes every remaining
/// positional argument) and one line on what it does.
pub const SIGNATURES: &[(&str, &str)] = &[
    ("csv(path, sep:, nulls:, dtypes:)", "Reads a CSV file; `dtypes: {col: type}` overrides inferred types"),
    ("parquet(path)", "Reads a Parquet file"),
    ("images(dir, size:, channels:, skip_bad:)", "Reads one sub-folder of PNG/JPEG images per class"),
    ("predict(run)", "Adds the trained run's `prediction` column"),
    ("load(path)", "A model saved by an earlier run"),
    ("replace_head(layers...)", "Replaces a model's layers from its last dense layer on"),
    ("freeze(until:)", "Stops training layers up to a named layer"),
    ("weights(path)", "Starts every layer from PyTorch weights (safetensors of an nn.Sequential of the same layers)"),
    ("unfreeze()", "Trains every layer again (after a `freeze` earlier in the chain)"),
    ("dense(units, init:)", "Fully connected layer (with a bias)"),
    ("conv(filters, kernel:, stride:, padding:, init:)", "2-D convolution"),
    ("maxpool(size, stride:)", "2-D max pooling"),
    ("avgpool(size, stride:)", "2-D average pooling"),
    ("global_avgpool()", "Averages each channel over the image"),
    ("flatten()", "Flattens an image to a vector"),
    ("batchnorm()", "Batch normalization (PyTorch's momentum 0.1, eps 1e-5)"),
    ("layernorm()", "Layer normalization (eps 1e-5)"),
    ("normalize(mean:, std:)", "(x - mean) / std per channel, fixed: the model's input in the scale it learns in"),
    ("dropout(rate)", "Zeroes a fraction of activations while training"),
    ("embedding(vocabulary, dim)", "A learned vector per category"),
    ("residual { layers }", "Adds a block's input to its output"),
    ("flip(directions..., p:)", "Mirrors left-right (`horizontal`) and/or top-bottom (`vertical`) with probability p"),
    ("rotate(degrees)", "Rotates by an angle drawn from [-degrees, degrees]"),
    ("shift(x, y)", "Moves by fractions of the width and height drawn from [-x, x], [-y, y]"),
    ("shear(factor)", "Shears along x by a factor (or an angle with `deg`) drawn from [-s, s]"),
    ("zoom(low, high)", "Scales by a factor drawn from [low, high]"),
    ("brightness(amount)", "Adds a value drawn from [-amount, amount]"),
    ("contrast(amount)", "Scales each channel's distance from its mean by [1 - amount, 1 + amount]"),
    ("saturation(amount)", "Scales the distance from grey by [1 - amount, 1 + amount] (colour)"),
    ("hue(amount)", "Turns the hue by up to amount of a circle (colour)"),
    ("noise(kind, std:)", "Adds Gaussian noise of this standard deviation"),
    ("cutout(size)", "Blanks a square of this fraction of the shorter side"),
    ("relu()", "max(0, x)"),
    ("leaky_relu(slope)", "x, or slope * x below 0"),
    ("elu(alpha)", "x, or alpha * (exp(x) - 1) below 0"),
    ("gelu()", "Gaussian error linear unit"),
    ("sigmoid()", "1 / (1 + exp(-x))"),
    ("tanh()", "Hyperbolic tangent"),
    ("softmax()", "Normalized exponentials"),
];

/// A builtin's signature and description, by name (data operations'
/// from their declarations).
pub fn signature(name: &str) -> Option<(std::borrow::Cow<'static, str>, &'static str)> {
    if let Some(operation) = crate::check::ops::operation(name) {
        return Some((operation.signature().into(), operation.doc));
    }
    SIGNATURES.iter().copied().find(|(sig, _)| sig.split(['(', ' ']).next() == Some(name)).map(|(s, d)| (s.into(), d))
}

/// The parameter names in a signature, in order: `cut(column, edges,
/// labels:, include_lowest:)` gives `column, edges, labels, include_lowest`
/// (none for `rename`'s and `with`'s pairs of the user's choosing).
pub fn parameter_names(signature: &str) -> Vec<&str> {
    let Some(inside) = signature.split_once('(').and_then(|(_, rest)| rest.strip_suffix(')')) else { return vec![] };
    inside
        .split(", ")
        .map(|p| p.trim_end_matches(':').trim_end_matches("..."))
        .filter(|p| !p.is_empty() && !p.contains(':') && !p.contains(' '))
        .collect()
}
