//! Models in the IR: layers with their shapes, where starting weights come
//! from, and the two forms a model is written out in (PyTorch state-dict
//! names, and the `.pipe` text `load(...)` reads).

use std::path::PathBuf;

use serde::Serialize;

use super::{ItemId, item_ref};

/// The shape of one sample flowing through a model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Shape {
    /// A vector of features.
    Flat(usize),
    /// An image: channels, height, width.
    Image([usize; 3]),
    /// A sequence: its length, and the features of each step (a
    /// tokenized text after `embedding`).
    Seq([usize; 2]),
}

impl Shape {
    /// How many numbers one sample holds.
    pub fn values(&self) -> u64 {
        match self {
            Shape::Flat(n) => *n as u64,
            Shape::Image([c, h, w]) => (*c as u64).saturating_mul(*h as u64).saturating_mul(*w as u64),
            Shape::Seq([l, f]) => (*l as u64).saturating_mul(*f as u64),
        }
    }

    /// The axis normalization and per-channel layers work along: an
    /// image's channels, a sequence's features, a vector's features.
    pub fn channels(&self) -> usize {
        match self {
            Shape::Flat(n) | Shape::Image([n, _, _]) | Shape::Seq([_, n]) => *n,
        }
    }

    /// The last axis (what layer normalization normalizes).
    pub fn last(&self) -> usize {
        match self {
            Shape::Flat(n) | Shape::Image([_, _, n]) | Shape::Seq([_, n]) => *n,
        }
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shape::Flat(n) => write!(f, "[{n}]"),
            Shape::Image([c, h, w]) => write!(f, "[{c}, {h}, {w}]"),
            Shape::Seq([l, n]) => write!(f, "[{l} x {n}]"),
        }
    }
}

/// A model, layer by layer, with every parameter and loop resolved.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Model {
    /// The layers in order.
    pub layers: Vec<ModelLayer>,
    /// The shape of one input sample.
    pub input: Shape,
    /// The shape of one output.
    pub output: Shape,
    /// Layers up to and including this name receive no updates.
    pub frozen_until: Option<String>,
    /// The first layers come from a trained run, with its weights.
    pub pretrained: Option<Pretrained>,
}

/// Where a model's first layers (and their starting weights) come from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Pretrained {
    /// The trained network.
    pub from: PretrainedFrom,
    /// How many of the model's first layers are that network's.
    pub layers: usize,
}

/// A trained network a model starts from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum PretrainedFrom {
    /// A training run of the same file.
    Run(#[serde(serialize_with = "item_ref")] ItemId),
    /// A safetensors file of PyTorch weights (`weights("...")`), whose
    /// names follow an `nn.Sequential` of the same layers.
    Imported {
        /// The file.
        path: PathBuf,
        /// Its size and modification time.
        stamp: String,
    },
    /// A folder written by `save:` (`load("...")`).
    Saved {
        /// The folder.
        dir: PathBuf,
        /// Its weights file's size and modification time (a new save
        /// retrains what loads it).
        stamp: String,
        /// The saved network, whole (its weights load into this).
        model: Box<Model>,
    },
}

/// Which parameter of a layer a PyTorch state-dict entry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TorchParam {
    /// `weight` (a dense layer's is `[out, in]`, the transpose of Burn's).
    Weight,
    /// `bias`.
    Bias,
    /// A batch norm's `running_mean`.
    RunningMean,
    /// A batch norm's `running_var`.
    RunningVar,
}

/// One entry of the state dict an `nn.Sequential` of a model's layers has.
#[derive(Clone, Debug, PartialEq)]
pub struct TorchEntry {
    /// The layer's index (also the Sequential's).
    pub layer: usize,
    /// Which parameter.
    pub param: TorchParam,
    /// `3.weight`, without any prefix.
    pub name: String,
    /// Its shape in PyTorch's layout.
    pub shape: Vec<usize>,
}

impl Model {
    /// Whether a layer (also inside a residual block) is a batch norm,
    /// whose statistics come from the batch: one row has none.
    pub fn has_batch_norm(&self) -> bool {
        fn any(layers: &[ModelLayer]) -> bool {
            layers.iter().any(|l| match &l.kind {
                LayerKind::BatchNorm => true,
                LayerKind::Residual(body) => any(body),
                _ => false,
            })
        }
        any(&self.layers)
    }

    /// The state dict of `nn.Sequential(*layers)` for this model's layers,
    /// one module per layer (activations, pooling and flatten have no
    /// entries); residual blocks have no Sequential form.
    pub fn torch_entries(&self) -> Result<Vec<TorchEntry>, String> {
        let mut out = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let mut add = |param: TorchParam, suffix: &str, shape: Vec<usize>| {
                out.push(TorchEntry { layer: i, param, name: format!("{i}.{suffix}"), shape });
            };
            let channels = |shape: &Shape| shape.channels();
            match &layer.kind {
                LayerKind::Dense { units, .. } => {
                    let inputs = dense_inputs(&layer.input);
                    add(TorchParam::Weight, "weight", vec![*units, inputs]);
                    add(TorchParam::Bias, "bias", vec![*units]);
                }
                LayerKind::Conv { filters, kernel, .. } => {
                    add(TorchParam::Weight, "weight", vec![*filters, channels(&layer.input), *kernel, *kernel]);
                    add(TorchParam::Bias, "bias", vec![*filters]);
                }
                LayerKind::BatchNorm => {
                    let c = channels(&layer.input);
                    add(TorchParam::Weight, "weight", vec![c]);
                    add(TorchParam::Bias, "bias", vec![c]);
                    add(TorchParam::RunningMean, "running_mean", vec![c]);
                    add(TorchParam::RunningVar, "running_var", vec![c]);
                }
                LayerKind::LayerNorm => {
                    let last = layer.input.last();
                    add(TorchParam::Weight, "weight", vec![last]);
                    add(TorchParam::Bias, "bias", vec![last]);
                }
                LayerKind::PRelu { shared, .. } => {
                    add(TorchParam::Weight, "weight", vec![if *shared { 1 } else { channels(&layer.input) }]);
                }
                LayerKind::Residual(_) => {
                    return Err(format!("layer {i} is a residual block, which has no nn.Sequential form"));
                }
                LayerKind::Embedding { .. } => {
                    return Err(format!("layer {i} embeds several columns, which no one nn.Sequential module does"));
                }
                LayerKind::TokenEmbedding { .. }
                | LayerKind::Conv1d { .. }
                | LayerKind::Lstm { .. }
                | LayerKind::Gru { .. }
                | LayerKind::Attention { .. } => {
                    return Err(format!(
                        "layer {i} works on a sequence laid out [batch, length, features], which PyTorch's modules read otherwise (Conv1d transposed, LSTM as a tuple): no nn.Sequential form"
                    ));
                }
                // No parameters: no entries. Named one by one, so that a
                // new layer does not compile until it says.
                LayerKind::MaxPool { .. }
                | LayerKind::AvgPool { .. }
                | LayerKind::GlobalAvgPool
                | LayerKind::GlobalMaxPool
                | LayerKind::MaxPool1d { .. }
                | LayerKind::Flatten
                | LayerKind::Normalize { .. }
                | LayerKind::Dropout(_)
                | LayerKind::Activation(_) => {}
            }
        }
        Ok(out)
    }

    /// Each dense and conv layer's own L2 weight (`l2:`), in the order the
    /// network lists their weights (residual blocks' in place).
    pub fn kernel_l2(&self) -> Vec<Option<f64>> {
        fn collect(layers: &[ModelLayer], out: &mut Vec<Option<f64>>) {
            for layer in layers {
                match &layer.kind {
                    LayerKind::Dense { l2, .. } | LayerKind::Conv { l2, .. } | LayerKind::Conv1d { l2, .. } => {
                        out.push(*l2)
                    }
                    LayerKind::Residual(body) => collect(body, out),
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        collect(&self.layers, &mut out);
        out
    }

    /// How many numbers training learns: PyTorch's
    /// `sum(p.numel() for p in model.parameters())` for the same layers
    /// (batch norms' running statistics are buffers, not parameters).
    pub fn parameters(&self) -> u64 {
        count_parameters(&self.layers)
    }

    /// The model as a `.pipe` file that `load(...)` reads back: its input
    /// shape as `let input`, then `model saved { layers }`.
    pub fn to_pipe(&self) -> String {
        let input = match &self.input {
            Shape::Flat(n) => format!("[{n}]"),
            Shape::Image([c, h, w]) => format!("[{c}, {h}, {w}]"),
            Shape::Seq([l, n]) => format!("[{l}, {n}]"),
        };
        let mut out = format!("// Written by `save:`; read by `load(...)`.\nlet input = {input}\n\nmodel saved {{\n");
        write_layers(&self.layers, 1, &mut out);
        out.push_str("}\n");
        out
    }
}

fn count_parameters(layers: &[ModelLayer]) -> u64 {
    let channels = |shape: &Shape| shape.channels() as u64;
    layers
        .iter()
        .map(|layer| match &layer.kind {
            LayerKind::Dense { units, .. } => {
                (dense_inputs(&layer.input) as u64).saturating_add(1).saturating_mul(*units as u64)
            }
            // Query, key, value and output: `features x features` and a bias each.
            LayerKind::Attention { .. } => {
                let f = channels(&layer.input);
                f.saturating_add(1).saturating_mul(f).saturating_mul(4)
            }
            LayerKind::Conv { filters, kernel, .. } => {
                let per_filter = channels(&layer.input).saturating_mul((*kernel as u64).saturating_pow(2));
                per_filter.saturating_add(1).saturating_mul(*filters as u64)
            }
            LayerKind::BatchNorm => channels(&layer.input).saturating_mul(2),
            LayerKind::PRelu { shared, .. } => {
                if *shared {
                    1
                } else {
                    channels(&layer.input)
                }
            }
            LayerKind::LayerNorm => (layer.input.last() as u64).saturating_mul(2),
            LayerKind::TokenEmbedding { ids, dim } => (*ids as u64).saturating_mul(*dim as u64),
            // Per gate: input and hidden weights and two biases (PyTorch's).
            LayerKind::Lstm { units, .. } => recurrent_parameters(4, channels(&layer.input), *units as u64),
            LayerKind::Gru { units, .. } => recurrent_parameters(3, channels(&layer.input), *units as u64),
            LayerKind::Conv1d { filters, kernel, .. } => {
                let per_filter = channels(&layer.input).saturating_mul(*kernel as u64);
                per_filter.saturating_add(1).saturating_mul(*filters as u64)
            }
            LayerKind::Residual(body) => count_parameters(body),
            LayerKind::Embedding { dim, tables } => {
                tables.iter().map(|t| (t.ids as u64).saturating_mul(*dim as u64)).fold(0, u64::saturating_add)
            }
            LayerKind::MaxPool { .. }
            | LayerKind::AvgPool { .. }
            | LayerKind::GlobalAvgPool
            | LayerKind::GlobalMaxPool
            | LayerKind::MaxPool1d { .. }
            | LayerKind::Flatten
            | LayerKind::Normalize { .. }
            | LayerKind::Dropout(_)
            | LayerKind::Activation(_) => 0,
        })
        .fold(0, u64::saturating_add)
}

/// The inputs of a dense layer: every value of a vector or image (flattened),
/// or each step's features of a sequence (applied step by step).
pub fn dense_inputs(shape: &Shape) -> usize {
    match shape {
        Shape::Seq([_, features]) => *features,
        other => other.values() as usize,
    }
}

/// Parameters of a recurrent layer of `gates` gates: per gate, `inputs x
/// units` and `units x units` weights and two biases of `units`.
fn recurrent_parameters(gates: u64, inputs: u64, units: u64) -> u64 {
    let per_gate = inputs.saturating_add(units).saturating_add(2).saturating_mul(units);
    per_gate.saturating_mul(gates)
}

fn write_layers(layers: &[ModelLayer], depth: usize, out: &mut String) {
    let indent = "    ".repeat(depth);
    for layer in layers {
        if let LayerKind::Residual(body) = &layer.kind {
            out.push_str(&format!("{indent}residual {{\n"));
            write_layers(body, depth + 1, out);
            out.push_str(&format!("{indent}}}"));
        } else {
            out.push_str(&format!("{indent}{}", layer_call(&layer.kind)));
        }
        if let Some(name) = &layer.name {
            out.push_str(&format!(" as {name}"));
        }
        out.push('\n');
    }
}

/// `, l2: x` when a layer has its own L2 penalty.
fn l2_arg(l2: Option<f64>) -> String {
    l2.map_or(String::new(), |x| format!(", l2: {x:?}"))
}

/// A layer as the call that makes it (residual blocks are written apart:
/// empty here).
pub fn layer_call(kind: &LayerKind) -> String {
    match kind {
        LayerKind::Dense { units, l2, .. } => format!("dense({units}{})", l2_arg(*l2)),
        LayerKind::Conv { filters, kernel, stride, same, l2, .. } => {
            let padding = if *same { "same" } else { "valid" };
            format!("conv({filters}, kernel: {kernel}, stride: {stride}, padding: {padding}{})", l2_arg(*l2))
        }
        LayerKind::MaxPool { size, stride } => format!("maxpool({size}, stride: {stride})"),
        LayerKind::AvgPool { size, stride } => format!("avgpool({size}, stride: {stride})"),
        LayerKind::GlobalAvgPool => "global_avgpool()".into(),
        LayerKind::Flatten => "flatten()".into(),
        LayerKind::BatchNorm => "batchnorm()".into(),
        LayerKind::PRelu { init, shared } => format!("prelu({init:?}, shared: {shared})"),
        LayerKind::LayerNorm => "layernorm()".into(),
        LayerKind::Dropout(p) => format!("dropout({p:?})"),
        LayerKind::Normalize { mean, std } => {
            let list = |v: &[f64]| v.iter().map(|x| format!("{x:?}")).collect::<Vec<_>>().join(", ");
            format!("normalize(mean: [{}], std: [{}])", list(mean), list(std))
        }
        LayerKind::Activation(a) => match a {
            Activation::Relu => "relu()".into(),
            Activation::LeakyRelu(s) => format!("leaky_relu({s:?})"),
            Activation::Elu(a) => format!("elu({a:?})"),
            Activation::Gelu => "gelu()".into(),
            Activation::Sigmoid => "sigmoid()".into(),
            Activation::Tanh => "tanh()".into(),
            Activation::Softmax => "softmax()".into(),
            Activation::Silu => "silu()".into(),
            Activation::Selu => "selu()".into(),
            Activation::Softplus(beta) => format!("softplus({beta:?})"),
            Activation::Mish => "mish()".into(),
            Activation::HardSigmoid => "hard_sigmoid()".into(),
        },
        LayerKind::Residual(_) => String::new(),
        LayerKind::Embedding { dim, .. } | LayerKind::TokenEmbedding { dim, .. } => format!("embedding({dim})"),
        LayerKind::Conv1d { filters, kernel, stride, same, l2, .. } => {
            let padding = if *same { "same" } else { "valid" };
            format!("conv1d({filters}, kernel: {kernel}, stride: {stride}, padding: {padding}{})", l2_arg(*l2))
        }
        LayerKind::MaxPool1d { size, stride } => format!("maxpool1d({size}, stride: {stride})"),
        LayerKind::GlobalMaxPool => "global_maxpool()".into(),
        LayerKind::Lstm { units, sequences } => format!("lstm({units}, return_sequences: {sequences})"),
        LayerKind::Gru { units, sequences } => format!("gru({units}, return_sequences: {sequences})"),
        LayerKind::Attention { heads } => format!("attention(heads: {heads})"),
    }
}

/// One layer with its place in the model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelLayer {
    /// The name given with `as`.
    pub name: Option<String>,
    /// What it computes.
    pub kind: LayerKind,
    /// Its input shape.
    pub input: Shape,
    /// Its output shape.
    pub output: Shape,
}

/// The layers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum LayerKind {
    /// A fully connected layer.
    Dense {
        /// Output width.
        units: usize,
        /// Weight initialisation.
        init: Option<Init>,
        /// `l2:`: this layer's weights' L2 penalty (Keras'
        /// `kernel_regularizer=l2(x)`), added to the run's `regularize:`.
        l2: Option<f64>,
    },
    /// A 2-D convolution.
    Conv {
        /// Output channels.
        filters: usize,
        /// Square kernel size.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// `padding: same` (else valid).
        same: bool,
        /// Weight initialisation.
        init: Option<Init>,
        /// `l2:`: this layer's weights' L2 penalty, added to the run's
        /// `regularize:`.
        l2: Option<f64>,
    },
    /// Max pooling.
    MaxPool {
        /// Window size.
        size: usize,
        /// Stride.
        stride: usize,
    },
    /// Average pooling.
    AvgPool {
        /// Window size.
        size: usize,
        /// Stride.
        stride: usize,
    },
    /// Average over height and width (an image), or over the steps (a
    /// sequence).
    GlobalAvgPool,
    /// The largest value over height and width, or over the steps.
    GlobalMaxPool,
    /// A 1-D convolution along a sequence.
    Conv1d {
        /// Output features.
        filters: usize,
        /// Kernel length.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// `padding: same` (else valid).
        same: bool,
        /// Weight initialisation.
        init: Option<Init>,
        /// `l2:`: this layer's weights' L2 penalty.
        l2: Option<f64>,
    },
    /// Max pooling along a sequence.
    MaxPool1d {
        /// Window length.
        size: usize,
        /// Stride.
        stride: usize,
    },
    /// A long short-term memory over a sequence (PyTorch's `nn.LSTM`, one
    /// layer, batch first, zero initial state).
    Lstm {
        /// Hidden units.
        units: usize,
        /// Every step's output (`return_sequences: true`), else the last
        /// step's.
        sequences: bool,
    },
    /// A gated recurrent unit over a sequence (PyTorch's `nn.GRU`).
    Gru {
        /// Hidden units.
        units: usize,
        /// Every step's output, else the last step's.
        sequences: bool,
    },
    /// Multi-head self-attention over a sequence (PyTorch's
    /// `nn.MultiheadAttention` with query, key and value the input): the
    /// features split into `heads` heads.
    Attention {
        /// Heads (they divide the features).
        heads: usize,
    },
    /// `embedding(dim)` of a tokenized text: each id of the sequence looked
    /// up in one table, `[length]` ids to `[length, dim]`.
    TokenEmbedding {
        /// How many ids (the table's rows): the vocabulary, padding and
        /// out-of-vocabulary.
        ids: usize,
        /// Numbers per id.
        dim: usize,
    },
    /// To a vector.
    Flatten,
    /// Batch normalisation.
    BatchNorm,
    /// A leaky ReLU whose negative slope is learned (PyTorch's `PReLU`).
    PRelu {
        /// The slope every slope starts at.
        init: f64,
        /// One slope for all inputs (else one per feature or channel).
        shared: bool,
    },
    /// Layer normalisation.
    LayerNorm,
    /// `(x - mean) / std` per channel (or feature), fixed.
    Normalize {
        /// One value, or one per channel.
        mean: Vec<f64>,
        /// One value, or one per channel.
        std: Vec<f64>,
    },
    /// Dropout with this rate.
    Dropout(f64),
    /// An activation.
    Activation(Activation),
    /// `input + body(input)`.
    Residual(Vec<ModelLayer>),
    /// `embedding(dim)`: each encoded input column looked up in a table of
    /// its own (`dim` learned numbers per id), the vectors concatenated
    /// after the numeric columns (Ludwig's concat combiner).
    Embedding {
        /// Numbers per id.
        dim: usize,
        /// The encoded columns, in input order.
        tables: Vec<EmbeddingTable>,
    },
}

/// One encoded input column of an `embedding` layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EmbeddingTable {
    /// The column's name.
    pub column: String,
    /// Its position among the model's input features.
    pub position: usize,
    /// How many ids it has (its table's rows): the fitted levels and 0.
    pub ids: usize,
}

/// Activations.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Activation {
    /// max(0, x)
    Relu,
    /// x for x > 0, else slope * x.
    LeakyRelu(f64),
    /// x for x > 0, else alpha * (e^x - 1).
    Elu(f64),
    /// Gaussian error linear unit.
    Gelu,
    /// 1 / (1 + e^-x)
    Sigmoid,
    /// tanh
    Tanh,
    /// softmax over the features.
    Softmax,
    /// x * sigmoid(x) (`silu`, also written `swish`).
    Silu,
    /// scale * (x, or alpha * (e^x - 1) below 0), with the SELU paper's
    /// constants.
    Selu,
    /// log(1 + e^(beta * x)) / beta, x itself where beta * x > 20
    /// (PyTorch's threshold).
    Softplus(f64),
    /// x * tanh(softplus(x)).
    Mish,
    /// max(0, min(1, x / 6 + 1 / 2)) (PyTorch's and Keras 3's).
    HardSigmoid,
}

/// Weight initialisers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Init {
    /// He (Kaiming) normal.
    HeNormal,
    /// He (Kaiming) uniform.
    HeUniform,
    /// Glorot (Xavier) normal.
    GlorotNormal,
    /// Glorot (Xavier) uniform.
    GlorotUniform,
    /// All zeros.
    Zeros,
    /// All this value.
    Constant(f64),
    /// Normal, resampled outside two standard deviations.
    TruncatedNormal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
}
