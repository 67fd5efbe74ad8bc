//! The typed program the executors run: every name resolved, every
//! argument checked and converted, every frame's schema known. It holds no
//! pest, Polars or Burn types.
//!
//! Data items (sources, stages, splits, fitted transforms, outputs),
//! training runs (the model layer by layer with shapes, data, target and
//! settings) and evaluations are lowered; models are lowered where a
//! training run uses them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;

use serde::{Serialize, Serializer};

use crate::check::schema::{DType, Schema};
use crate::source::Span;
use crate::syntax::ast::BinaryOp;

/// Index of an item in [`Program::items`].
pub type ItemId = usize;

/// A checked program: its items in the order they were written (the
/// executor plans from the dependencies the frames name).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Program {
    /// One entry per item of the file, by index (`None` for items that are
    /// not lowered yet).
    pub items: Vec<Option<Item>>,
}

/// One lowered item.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Item {
    /// Its name(s), for messages and the stage cache.
    pub name: String,
    /// Where it is written.
    #[serde(skip)]
    pub span: Span,
    /// What it is.
    pub kind: ItemKind,
}

/// The lowered items.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum ItemKind {
    /// Data read from files.
    Source(Source),
    /// A derived frame.
    Stage(Frame),
    /// A frame cut into named parts.
    Split {
        /// The frame being split.
        input: Frame,
        /// One fraction per part, adding up to 1.
        fractions: Vec<f64>,
        /// The column to stratify by.
        stratify: Option<String>,
        /// The random seed.
        seed: Option<u64>,
    },
    /// A fitted transform: its steps learn on `fit_on`.
    Transform {
        /// The data it learns from.
        fit_on: Frame,
        /// The steps, in order.
        steps: Vec<Op>,
        /// Where each step is written.
        #[serde(skip)]
        spans: Vec<Span>,
        /// The schema it expects of the data it is applied to.
        input: Schema,
    },
    /// A frame the run produces (normally ending in `write`).
    Output(Frame),
    /// A training run.
    Train(Box<Train>),
    /// Metrics of a trained run on data.
    Evaluate {
        /// The `train` item.
        #[serde(serialize_with = "item_ref")]
        run: ItemId,
        /// The data.
        data: Frame,
        /// The metrics asked for.
        metrics: Vec<String>,
    },
}

/// Where a source's data comes from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Source {
    /// A CSV file.
    Csv {
        /// The file, relative to the current directory.
        path: PathBuf,
        /// Field separator.
        sep: u8,
        /// Strings read as missing.
        nulls: Vec<String>,
        /// The schema the checker inferred (and any declared types).
        schema: Schema,
    },
    /// A Parquet file.
    Parquet {
        /// The file.
        path: PathBuf,
    },
    /// An image folder, one sub-folder per class.
    Images {
        /// The folder.
        dir: PathBuf,
        /// `[height, width]` after resizing.
        size: [usize; 2],
        /// 1 or 3.
        channels: usize,
        /// The class names, sorted.
        classes: Vec<String>,
        /// Leave out files that cannot be decoded (with a warning) instead
        /// of stopping.
        skip_bad: bool,
    },
}

/// A frame: a starting point and operations applied in order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Frame {
    /// Where the data comes from.
    pub input: FrameInput,
    /// What is done to it.
    pub ops: Vec<Op>,
    /// Where each operation is written (one per entry of `ops`), for
    /// diagnostics met while running.
    #[serde(skip)]
    pub spans: Vec<Span>,
    /// The schema it ends with.
    pub schema: Schema,
}

/// The start of a frame.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum FrameInput {
    /// Another item's data.
    Item(#[serde(serialize_with = "item_ref")] ItemId),
    /// One part of a `split` item.
    Part {
        /// The split item.
        #[serde(serialize_with = "item_ref")]
        split: ItemId,
        /// Which part.
        part: usize,
    },
    /// A fitted transform applied to a frame.
    Transformed {
        /// The transform item.
        #[serde(serialize_with = "item_ref")]
        transform: ItemId,
        /// The frame it is applied to.
        input: Box<Frame>,
    },
}

/// One data operation, its arguments checked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Op {
    /// Keep the rows where the condition holds.
    Filter(RowExpr),
    /// Keep these columns, in this order.
    Select(Vec<String>),
    /// Remove these columns.
    Drop(Vec<String>),
    /// Rename columns: `(old, new)`.
    Rename(Vec<(String, String)>),
    /// Add or replace columns computed per row.
    With(Vec<(String, RowExpr)>),
    /// Drop rows with a null in these columns (all columns when empty).
    DropNulls(Vec<String>),
    /// Fill nulls.
    FillNulls {
        /// The columns.
        columns: Vec<String>,
        /// With what.
        value: Fill,
    },
    /// Change column types.
    Cast {
        /// The columns.
        columns: Vec<String>,
        /// The new type.
        dtype: DType,
    },
    /// Bucket by fixed edges (pandas `cut`: right-closed bins).
    Cut {
        /// The numeric column read.
        column: String,
        /// The bin edges, increasing.
        edges: Vec<f64>,
        /// One label per bin.
        labels: Vec<String>,
        /// Whether the lowest edge is included in the first bin.
        include_lowest: bool,
        /// The column written.
        output: String,
    },
    /// Bucket by quantiles fitted on the data (pandas `qcut`).
    QCut {
        /// The numeric column read.
        column: String,
        /// Quantiles, from 0 to 1.
        quantiles: Vec<f64>,
        /// One label per bin.
        labels: Vec<String>,
        /// Merge bins whose edges repeat, instead of failing.
        drop_duplicates: bool,
        /// The column written.
        output: String,
    },
    /// Standard scaling (population standard deviation).
    Standard(Vec<String>),
    /// Scaling to `[low, high]`.
    MinMax {
        /// The columns.
        columns: Vec<String>,
        /// The target range.
        range: [f64; 2],
    },
    /// Median and interquartile-range scaling.
    Robust(Vec<String>),
    /// One column per level.
    OneHot {
        /// The columns, each with the levels the checker expects.
        columns: Vec<(String, Vec<String>)>,
        /// Drop each column's first level.
        drop_first: bool,
    },
    /// Principal components.
    Pca {
        /// The input columns.
        columns: Vec<String>,
        /// How many components.
        k: usize,
        /// Scale components to unit variance.
        whiten: bool,
        /// Keep the input columns (components go after the last of them).
        keep: bool,
        /// Output columns are `prefix0..prefix{k-1}`.
        prefix: String,
    },
    /// Columns of a table as one image column (`pixels`).
    Pixels {
        /// The columns, in pixel order (channel-major).
        columns: Vec<String>,
        /// `[channels, height, width]`.
        shape: [usize; 3],
        /// What the values are divided by (so they fall in [0, 1]).
        max: f64,
        /// The image column's name.
        name: String,
    },
    /// Repeat rows of rare classes until classes are balanced.
    Oversample(String),
    /// A random subset.
    Sample {
        /// How many rows, or what fraction.
        size: SampleSize,
        /// The random seed.
        seed: Option<u64>,
    },
    /// Keep the result in memory for reuse.
    Cache,
    /// Write the frame to a file (CSV or Parquet by extension).
    Write(PathBuf),
    /// Apply a fitted transform.
    Transform(#[serde(serialize_with = "item_ref")] ItemId),
    /// Add the predictions of a trained run.
    Predict(#[serde(serialize_with = "item_ref")] ItemId),
}

/// A fill value.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Fill {
    /// This number.
    Number(f64),
    /// This text.
    Text(String),
    /// The mean, fitted.
    Mean,
    /// The median, fitted.
    Median,
}

/// The size of a sample.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum SampleSize {
    /// A number of rows.
    Rows(u64),
    /// A fraction of the rows.
    Fraction(f64),
}

/// An expression evaluated per row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum RowExpr {
    /// A column.
    Column(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Text.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// `-x`
    Neg(Box<RowExpr>),
    /// `not x`
    Not(Box<RowExpr>),
    /// `a op b`
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        lhs: Box<RowExpr>,
        /// Right operand.
        rhs: Box<RowExpr>,
    },
    /// `abs(x)`, `sqrt(x)`, `log(x)`, `exp(x)`, `is_null(x)`.
    Function {
        /// The function's name.
        name: String,
        /// Its argument.
        arg: Box<RowExpr>,
    },
}

/// The shape of one sample flowing through a model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Shape {
    /// A vector of features.
    Flat(usize),
    /// An image: channels, height, width.
    Image([usize; 3]),
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shape::Flat(n) => write!(f, "[{n}]"),
            Shape::Image([c, h, w]) => write!(f, "[{c}, {h}, {w}]"),
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    /// The state dict of `nn.Sequential(*layers)` for this model's layers,
    /// one module per layer (activations, pooling and flatten have no
    /// entries); residual blocks have no Sequential form.
    pub fn torch_entries(&self) -> Result<Vec<TorchEntry>, String> {
        let mut out = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let mut add = |param: TorchParam, suffix: &str, shape: Vec<usize>| {
                out.push(TorchEntry { layer: i, param, name: format!("{i}.{suffix}"), shape });
            };
            let channels = |shape: &Shape| match shape {
                Shape::Image([c, _, _]) => *c,
                Shape::Flat(n) => *n,
            };
            match &layer.kind {
                LayerKind::Dense { units, .. } => {
                    let inputs = match &layer.input {
                        Shape::Flat(n) => *n,
                        Shape::Image([c, h, w]) => c * h * w,
                    };
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
                    let last = match &layer.input {
                        Shape::Image([_, _, w]) => *w,
                        Shape::Flat(n) => *n,
                    };
                    add(TorchParam::Weight, "weight", vec![last]);
                    add(TorchParam::Bias, "bias", vec![last]);
                }
                LayerKind::Residual(_) => {
                    return Err(format!("layer {i} is a residual block, which has no nn.Sequential form"));
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The model as a `.pipe` file that `load(...)` reads back: its input
    /// shape as `let input`, then `model saved { layers }`.
    pub fn to_pipe(&self) -> String {
        let input = match &self.input {
            Shape::Flat(n) => format!("[{n}]"),
            Shape::Image([c, h, w]) => format!("[{c}, {h}, {w}]"),
        };
        let mut out = format!("// Written by `save:`; read by `load(...)`.\nlet input = {input}\n\nmodel saved {{\n");
        write_layers(&self.layers, 1, &mut out);
        out.push_str("}\n");
        out
    }
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

/// A layer as the call that makes it (residual blocks are written apart).
fn layer_call(kind: &LayerKind) -> String {
    match kind {
        LayerKind::Dense { units, .. } => format!("dense({units})"),
        LayerKind::Conv { filters, kernel, stride, same, .. } => {
            let padding = if *same { "same" } else { "valid" };
            format!("conv({filters}, kernel: {kernel}, stride: {stride}, padding: {padding})")
        }
        LayerKind::MaxPool { size, stride } => format!("maxpool({size}, stride: {stride})"),
        LayerKind::AvgPool { size, stride } => format!("avgpool({size}, stride: {stride})"),
        LayerKind::GlobalAvgPool => "global_avgpool()".into(),
        LayerKind::Flatten => "flatten()".into(),
        LayerKind::BatchNorm => "batchnorm()".into(),
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
        },
        LayerKind::Residual(_) => String::new(),
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
    /// Average over height and width.
    GlobalAvgPool,
    /// To a vector.
    Flatten,
    /// Batch normalisation.
    BatchNorm,
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
    /// The settings as written (absent ones are the executor's defaults).
    pub settings: TrainSettings,
}

/// The settings of a training run; `None` where the file says nothing.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TrainSettings {
    /// `cross_entropy`, `binary_cross_entropy`, `mse`, `mae`, `huber`.
    pub loss: Option<String>,
    /// The optimizer.
    pub optimizer: Option<Optimizer>,
    /// Learning-rate phases, in order (`warmup(...) then cosine(...)`).
    pub schedule: Vec<Phase>,
    /// Samples per step (`None` inside: `auto`).
    pub batch: Option<Option<u64>>,
    /// Passes over the data.
    pub epochs: Option<u64>,
    /// Early stopping.
    pub early_stop: Option<EarlyStop>,
    /// `f32`, `f16` or `bf16`.
    pub precision: Option<String>,
    /// `cudnn_benchmark:` (libtorch devices only).
    pub cudnn_benchmark: Option<bool>,
    /// Devices, in order (several: data parallel).
    pub devices: Vec<Device>,
    /// L1 penalty weight.
    pub l1: Option<f64>,
    /// L2 penalty weight.
    pub l2: Option<f64>,
    /// Gradient clipping: (`norm` or `value`, limit).
    pub clip: Option<(String, f64)>,
    /// Steps whose gradients are accumulated before an update.
    pub accumulate: Option<u64>,
    /// Random seed.
    pub seed: Option<u64>,
    /// Where metrics go: (`console`, `tensorboard`, `csv`, `jsonl`; a path).
    pub logs: Vec<(String, Option<PathBuf>)>,
    /// Where the trained model is saved.
    pub save: Option<PathBuf>,
    /// A checkpoint every this many epochs.
    pub checkpoint_every: Option<u64>,
    /// How many checkpoints to keep.
    pub checkpoint_keep: Option<u64>,
    /// The augmentation applied to training batches (the `augment` item's
    /// steps).
    pub augment: Option<Augmentation>,
    /// Weight classes inversely to their frequency.
    pub balanced_classes: bool,
}

/// An optimizer and its numbers (`None`: the optimizer's default).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Optimizer {
    /// `sgd`, `adam`, `adamw`, `rmsprop`.
    pub name: String,
    /// Learning rate.
    pub lr: Option<f64>,
    /// Momentum (sgd, rmsprop).
    pub momentum: Option<f64>,
    /// Nesterov momentum (sgd).
    pub nesterov: bool,
    /// Weight decay.
    pub weight_decay: Option<f64>,
    /// Adam's first-moment decay.
    pub beta1: Option<f64>,
    /// Adam's second-moment decay.
    pub beta2: Option<f64>,
    /// Epsilon.
    pub eps: Option<f64>,
    /// RMSprop's averaging factor.
    pub alpha: Option<f64>,
}

impl Optimizer {
    /// The optimizer `name` with `lr` and every other number at its default.
    pub fn named(name: &str, lr: Option<f64>) -> Self {
        Optimizer {
            name: name.into(),
            lr,
            momentum: None,
            nesterov: false,
            weight_decay: None,
            beta1: None,
            beta2: None,
            eps: None,
            alpha: None,
        }
    }
}

/// One phase of a learning-rate schedule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Phase {
    /// The rate as given.
    Constant,
    /// A linear ramp over this many epochs or steps.
    Warmup {
        /// Epochs, when given.
        epochs: Option<u64>,
        /// Steps, when given.
        steps: Option<u64>,
    },
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
    /// Multiply by `factor` after `patience` epochs without improvement.
    OnPlateau {
        /// Epochs to wait.
        patience: u64,
        /// Factor.
        factor: f64,
    },
}

/// Early stopping.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EarlyStop {
    /// Epochs without improvement before stopping.
    pub patience: u64,
    /// (`val` or `train`, metric).
    pub on: (String, String),
    /// The smallest change that counts as improvement.
    pub min_delta: f64,
    /// Restore the best weights at the end (also when not stopped early).
    pub restore_best: bool,
}

/// A device as written.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Device {
    /// `cpu`, `cuda`, `torch.cpu`, `torch.cuda`.
    pub name: String,
    /// The device index, for GPUs.
    pub index: Option<u64>,
}

thread_local! {
    /// While an item is fingerprinted: what each referenced item is called
    /// in the fingerprint (its own cache key), so that a fingerprint does not
    /// change when unrelated items are added above it.
    static ITEM_NAMES: RefCell<HashMap<ItemId, String>> = RefCell::new(HashMap::new());
}

/// The JSON text of `value` with each item reference written as the name
/// `names` gives it (items not in `names` are written as their index).
pub fn fingerprint<T: Serialize>(value: &T, names: HashMap<ItemId, String>) -> String {
    ITEM_NAMES.with(|n| *n.borrow_mut() = names);
    let text = serde_json::to_string(value).unwrap_or_default();
    ITEM_NAMES.with(|n| n.borrow_mut().clear());
    text
}

fn item_ref<S: Serializer>(id: &ItemId, serializer: S) -> Result<S::Ok, S::Error> {
    match ITEM_NAMES.with(|n| n.borrow().get(id).cloned()) {
        Some(name) => serializer.serialize_str(&name),
        None => serializer.serialize_u64(*id as u64),
    }
}

/// An `augment` item: random changes to training images, drawn per sample.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Augmentation {
    /// The steps in the order written.
    pub steps: Vec<AugmentStep>,
    /// What geometric steps show where they uncover the image.
    pub fill: ImageFill,
}

/// One augmentation step; ranges are symmetric around "no change".
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum AugmentStep {
    /// Mirror left-right and/or top-bottom, each with probability `p`.
    Flip {
        /// Left-right.
        horizontal: bool,
        /// Top-bottom.
        vertical: bool,
        /// Probability of each flip.
        p: f64,
    },
    /// Rotate by an angle drawn from `[-degrees, degrees]` (counter-clockwise).
    Rotate(f64),
    /// Move by fractions of the width and height drawn from `[-x, x]`, `[-y, y]`.
    Shift(f64, f64),
    /// Shear along x by a factor (tan of the angle) drawn from `[-s, s]`.
    Shear(f64),
    /// Scale by a factor drawn from `[low, high]` (above 1 zooms in).
    Zoom(f64, f64),
    /// Add a value drawn from `[-b, b]`.
    Brightness(f64),
    /// Scale each channel's distance from its mean by a factor from `[1 - c, 1 + c]`.
    Contrast(f64),
    /// Scale the distance from grey by a factor from `[1 - s, 1 + s]` (colour only).
    Saturation(f64),
    /// Turn the hue by a fraction of a turn drawn from `[-h, h]` (colour only).
    Hue(f64),
    /// Add Gaussian noise of this standard deviation to every value.
    Noise(f64),
    /// Blank a square whose side is this fraction of the shorter side, at a
    /// random centre.
    Cutout(f64),
}

/// What geometric augmentation shows outside the original image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub enum ImageFill {
    /// The nearest edge pixel.
    #[default]
    Nearest,
    /// A constant value.
    Constant(f64),
    /// The image mirrored at its edges.
    Reflect,
}
