//! The layers and activations of a `model` block, each declared once in
//! [`LAYERS`]: its parameters and doc (the resolver's list, the LSP's
//! completion, signatures and hover come from here) and the rule that
//! checks a call on its input shape, gives the output shape and lowers it.

use std::collections::HashMap;

use crate::check::args::{Bound, Param, named, pos};
use crate::check::error::{CheckError, Mistake};
use crate::check::explain::thousands;
use crate::check::limits;
use crate::check::value::{Constants, Value, eval};
use crate::ir::{Activation, Init, LayerKind, Shape};
use crate::source::Span;
use crate::suggest::closest;
use crate::syntax::ast::{Arg, Expr, ExprKind};

/// A layer, declared once.
pub struct Layer {
    /// The name written in a `model` block.
    pub name: &'static str,
    /// Its parameters.
    pub params: &'static [Param],
    /// What it does, in one line.
    pub doc: &'static str,
    /// The shape rule and lowering: checks a call (mistakes into the call's
    /// errors) and returns its output shape and IR, `None` after a mistake.
    pub rule: fn(&mut LayerCall) -> Option<(Shape, LayerKind)>,
}

/// Blocks of layers written `name { ... }` rather than called: checked
/// where models are expanded, listed here for editors.
pub const BLOCKS: &[(&str, &str, &str)] = &[("residual", "residual { layers }", "Adds a block's input to its output")];

/// The values a layer's arguments are evaluated in, and where the value of
/// each of a model's parameters was written (so a bad value is reported at
/// the model's call site, not inside the model it flows into).
pub struct Values<'a> {
    /// Constants and the model's parameters.
    pub constants: &'a Constants,
    /// Where each parameter's value was written.
    pub written: &'a HashMap<String, Span>,
}

impl Values<'_> {
    /// Where the value of `expr` was written: at a model's call site when
    /// `expr` is just a parameter's name, else `expr` itself.
    pub fn origin(&self, expr: &Expr) -> Span {
        match &expr.kind {
            ExprKind::Path(p) if p.parts.len() == 1 => self.written.get(&p.parts[0].name).copied().unwrap_or(expr.span),
            _ => expr.span,
        }
    }
}

/// One call of a layer on its input shape.
pub struct LayerCall<'a> {
    /// The layer's name.
    pub name: &'static str,
    /// The whole call.
    pub span: Span,
    /// Its arguments, matched to the layer's parameters.
    pub args: &'a Bound<'a>,
    /// What the arguments' names stand for.
    pub values: &'a Values<'a>,
    /// The shape the layer receives.
    pub input: &'a Shape,
    /// The encoded columns of the model's input, for its first layer
    /// (empty for the others).
    pub codes: &'a [crate::ir::EmbeddingTable],
    /// For the first layer of a model whose input is a tokenized text: how
    /// many ids its tokens have.
    pub tokens: Option<usize>,
    /// Where mistakes go.
    pub errors: &'a mut Vec<CheckError>,
}

impl LayerCall<'_> {
    /// A parameter's value and where it was written.
    fn value(&self, param: &str) -> Option<(Value, Span)> {
        self.args.expr(param).map(|e| (eval(e, self.values.constants), self.values.origin(e)))
    }

    /// A whole number of 1 or more (and at most what can run: see
    /// [`limits`]), or `default` when not given.
    fn count(&mut self, param: &str, default: Option<usize>) -> Option<usize> {
        let Some((value, span)) = self.value(param) else { return default };
        let max = match param {
            "kernel" | "size" | "stride" => limits::MAX_SIDE,
            _ => limits::MAX_WIDTH,
        };
        match value.as_i64() {
            Some(n) if n >= 1 && n as u64 <= max as u64 => Some(n as usize),
            Some(n) if n >= 1 => {
                self.errors.push(Mistake::OutOfRange.at(
                    span,
                    format!("`{param}` of `{}` is at most {}", self.name, thousands(max as u64)),
                    format!("this is {}", thousands(n as u64)),
                    "a layer this large could not be allocated",
                ));
                None
            }
            found => {
                let kind = if found.is_some() { Mistake::OutOfRange } else { Mistake::WrongType };
                self.errors.push(kind.at(
                    span,
                    format!("`{param}` of `{}` is a whole number, 1 or more", self.name),
                    format!("this is {}", show(&value)),
                    format!("write `{}(...)` with a positive `{param}`", self.name),
                ));
                None
            }
        }
    }

    /// A number, or `default` when not given.
    fn number(&mut self, param: &str, default: f64) -> Option<f64> {
        let Some((value, span)) = self.value(param) else { return Some(default) };
        match value.as_f64() {
            Some(x) => Some(x),
            None => {
                self.errors.push(Mistake::WrongType.at(
                    span,
                    format!("`{param}` of `{}` is a number", self.name),
                    format!("this is {}", show(&value)),
                    format!("write `{}({default})`", self.name),
                ));
                None
            }
        }
    }

    /// A penalty weight: a number, 0 or more (`None` when not given; the
    /// outer `None` after an error).
    fn penalty(&mut self, param: &str) -> Option<Option<f64>> {
        let Some((value, span)) = self.value(param) else { return Some(None) };
        match value.as_f64() {
            Some(x) if x >= 0.0 && x.is_finite() => Some(Some(x)),
            found => {
                let mistake = if found.is_some() { Mistake::OutOfRange } else { Mistake::WrongType };
                self.errors.push(mistake.at(
                    span,
                    format!("`{param}` of `{}` is a penalty weight, 0 or more", self.name),
                    format!("this is {}", show(&value)),
                    format!("write `{}(..., {param}: 1e-4)`", self.name),
                ));
                None
            }
        }
    }

    /// The input's width, when it is flat.
    fn flat(&mut self) -> Option<usize> {
        match self.input {
            Shape::Flat(n) => Some(*n),
            Shape::Image(_) | Shape::Seq(_) => {
                self.errors.push(flat_needed(self.name, self.input, self.span));
                None
            }
        }
    }

    /// `padding: same` (true) or `valid` (false, the default).
    fn padding(&mut self) -> Option<bool> {
        match self.value("padding") {
            None => Some(false),
            Some((Value::Name(p), _)) if p == "same" => Some(true),
            Some((Value::Name(p), _)) if p == "valid" => Some(false),
            Some((value, span)) => {
                self.errors.push(Mistake::UnknownValue.at(
                    span,
                    "`padding` is `same` or `valid`",
                    format!("this is {}", show(&value)),
                    "`same` keeps the size, `valid` shrinks it by the kernel",
                ));
                None
            }
        }
    }

    /// The input's `[length, features]`, when it is a sequence.
    fn seq(&mut self) -> Option<[usize; 2]> {
        match self.input {
            Shape::Seq(dims) => Some(*dims),
            Shape::Flat(_) | Shape::Image(_) => {
                self.errors.push(Mistake::ShapeMismatch.at(
                    self.span,
                    format!("`{}` needs a sequence [length x features], but this is {}", self.name, self.input),
                    format!("input {}", self.input),
                    "1-D convolution and pooling work on sequences: a `tokenize`d text after `embedding(dim)`",
                ));
                None
            }
        }
    }

    /// The input's `[channels, height, width]`, when it is an image.
    fn image(&mut self) -> Option<[usize; 3]> {
        match self.input {
            Shape::Image(dims) => Some(*dims),
            Shape::Flat(_) | Shape::Seq(_) => {
                self.errors.push(Mistake::ShapeMismatch.at(
                    self.span,
                    format!(
                        "`{}` needs an image input [channels, height, width], but this is {}",
                        self.name, self.input
                    ),
                    format!("input {}", self.input),
                    "convolution and pooling work on images (sequences take `conv1d`, `maxpool1d`); tabular data goes through `dense`",
                ));
                None
            }
        }
    }

    /// The optional `init:` argument.
    fn init(&mut self) -> Option<Option<Init>> {
        let Some(expr) = self.args.expr("init") else { return Some(None) };
        init(expr, self.values, self.errors).map(Some)
    }

    /// The input, unchanged, with `kind`.
    fn same(&self, kind: LayerKind) -> Option<(Shape, LayerKind)> {
        Some((self.input.clone(), kind))
    }
}

const fn layer(
    name: &'static str,
    params: &'static [Param],
    doc: &'static str,
    rule: fn(&mut LayerCall) -> Option<(Shape, LayerKind)>,
) -> Layer {
    Layer { name, params, doc, rule }
}

const POOL: &[Param] = &[pos("size", true), named("stride")];
const RECURRENT: &[Param] = &[pos("units", true), named("return_sequences")];

/// Every layer and activation.
pub const LAYERS: &[Layer] = &[
    layer(
        "dense",
        &[pos("units", true), named("init"), named("l2")],
        "Fully connected layer (with a bias), step by step on a sequence; `l2:` penalizes its weights (Keras' kernel_regularizer)",
        dense,
    ),
    layer(
        "conv",
        &[pos("filters", true), named("kernel"), named("stride"), named("padding"), named("init"), named("l2")],
        "2-D convolution (`padding: same` keeps the size; kernel 3, stride 1 unless given; `l2:` penalizes its weights)",
        conv,
    ),
    layer("maxpool", POOL, "2-D max pooling (stride = size unless given)", |c| pool(c, true)),
    layer("avgpool", POOL, "2-D average pooling (stride = size unless given)", |c| pool(c, false)),
    layer("global_avgpool", &[], "Averages each channel over the image (each feature over a sequence)", global_avgpool),
    layer(
        "global_maxpool",
        &[],
        "The largest value of each channel over the image (each feature over a sequence)",
        global_maxpool,
    ),
    layer(
        "conv1d",
        &[pos("filters", true), named("kernel"), named("stride"), named("padding"), named("init"), named("l2")],
        "1-D convolution along a sequence (`padding: same` keeps the length; kernel 3, stride 1 unless given)",
        conv1d,
    ),
    layer("maxpool1d", POOL, "1-D max pooling along a sequence (stride = size unless given)", maxpool1d),
    layer(
        "attention",
        &[pos("heads", false)],
        "Multi-head self-attention over a sequence (PyTorch's nn.MultiheadAttention; 1 head unless given); std.models' transformer_encoder adds the rest of a block",
        attention,
    ),
    layer(
        "lstm",
        RECURRENT,
        "Long short-term memory over a sequence (PyTorch's nn.LSTM): the last step's output, or every step's with `return_sequences: true`",
        |c| recurrent(c, true),
    ),
    layer(
        "gru",
        RECURRENT,
        "Gated recurrent unit over a sequence (PyTorch's nn.GRU): the last step's output, or every step's with `return_sequences: true`",
        |c| recurrent(c, false),
    ),
    layer("flatten", &[], "Flattens an image to a vector", flatten),
    layer("batchnorm", &[], "Batch normalization (PyTorch's momentum 0.1, eps 1e-5)", |c| c.same(LayerKind::BatchNorm)),
    layer("layernorm", &[], "Layer normalization (eps 1e-5)", |c| c.same(LayerKind::LayerNorm)),
    layer(
        "normalize",
        &[named("mean"), named("std")],
        "(x - mean) / std per channel, fixed: the model's input in the scale it learns in",
        normalize,
    ),
    layer("dropout", &[pos("rate", true)], "Zeroes a fraction of activations while training", dropout),
    layer(
        "embedding",
        &[pos("dim", true)],
        "A learned vector of `dim` numbers per id of each `encode`d column, after the numeric ones (the model's first layer)",
        embedding,
    ),
    layer("relu", &[], "max(0, x)", |c| activation(c, Activation::Relu)),
    layer("leaky_relu", &[pos("slope", false)], "x, or slope * x below 0 (slope 0.01 unless given)", |c| {
        let slope = c.number("slope", 0.01)?;
        activation(c, Activation::LeakyRelu(slope))
    }),
    layer("elu", &[pos("alpha", false)], "x, or alpha * (exp(x) - 1) below 0 (alpha 1 unless given)", |c| {
        let alpha = c.number("alpha", 1.0)?;
        activation(c, Activation::Elu(alpha))
    }),
    layer("gelu", &[], "Gaussian error linear unit", |c| activation(c, Activation::Gelu)),
    layer("sigmoid", &[], "1 / (1 + exp(-x))", |c| activation(c, Activation::Sigmoid)),
    layer("tanh", &[], "Hyperbolic tangent", |c| activation(c, Activation::Tanh)),
    layer("softmax", &[], "Normalized exponentials", |c| activation(c, Activation::Softmax)),
    layer("silu", &[], "x * sigmoid(x) (also written `swish`)", |c| activation(c, Activation::Silu)),
    layer("swish", &[], "x * sigmoid(x) (`silu` by PyTorch's name)", |c| activation(c, Activation::Silu)),
    layer("selu", &[], "Scaled ELU with the self-normalizing constants (pair it with `he_normal`-like init)", |c| {
        activation(c, Activation::Selu)
    }),
    layer(
        "softplus",
        &[pos("beta", false)],
        "log(1 + exp(beta * x)) / beta, x above 20 / beta (beta 1 unless given)",
        softplus,
    ),
    layer("mish", &[], "x * tanh(softplus(x))", |c| activation(c, Activation::Mish)),
    layer(
        "prelu",
        &[pos("slope", false), named("shared")],
        "x, or a learned slope * x below 0: one slope (`shared: true`, the default) or one per feature or channel, starting at `slope` (0.25 unless given)",
        prelu,
    ),
    layer("hard_sigmoid", &[], "max(0, min(1, x / 6 + 0.5)), PyTorch's and Keras 3's", |c| {
        activation(c, Activation::HardSigmoid)
    }),
];

/// The declaration of the layer called `name`.
pub fn layer_named(name: &str) -> Option<&'static Layer> {
    LAYERS.iter().find(|l| l.name == name)
}

/// Whether `name` is a layer, an activation or a block of layers.
pub fn is_layer(name: &str) -> bool {
    layer_named(name).is_some() || BLOCKS.iter().any(|(block, _, _)| *block == name)
}

/// The names of every layer, activation and block, in declaration order.
pub fn layer_names() -> Vec<&'static str> {
    LAYERS.iter().map(|l| l.name).chain(BLOCKS.iter().map(|(name, _, _)| *name)).collect()
}

fn dense(c: &mut LayerCall) -> Option<(Shape, LayerKind)> {
    let units = c.count("units", None)?;
    let init = c.init()?;
    let l2 = c.penalty("l2")?;
    // On a sequence, step by step (Keras' Dense on 3-D inputs).
    if let Shape::Seq([length, _]) = c.input {
        return Some((Shape::Seq([*length, units]), LayerKind::Dense { units, init, l2 }));
    }
    c.flat()?;
    Some((Shape::Flat(units), LayerKind::Dense { units, init, l2 }))
}

/// `attention(heads: 4)`: self-attention over a sequence whose features
/// the heads divide.
fn attention(c: &mut LayerCall) -> Option<(Shape, LayerKind)> {
    let heads = c.count("heads", Some(1))?;
    let [_, features] = c.seq()?;
    if !features.is_multiple_of(heads) {
        let span = c.value("heads").map_or(c.span, |(_, span)| span);
        c.errors.push(Mistake::ShapeMismatch.at(
            span,
            format!("{heads} heads do not divide the sequence's {features} features"),
            format!("input {}", c.input),
            "choose heads that divide the features (the embedding's `dim`), as in `attention(heads: 4)` for 64",
        ));
        return None;
    }
    c.same(LayerKind::Attention { heads })
}

fn conv(c: &mut LayerCall) -> Option<(Shape, LayerKind)> {
    let filters = c.count("filters", None)?;
    let kernel = c.count("kernel", Some(3))?;
    let stride = c.count("stride", Some(1))?;
    let same = c.padding()?;
    let init = c.init()?;
    let l2 = c.penalty("l2")?;
    let [_, h, w] = c.image()?;
    let size = |n: usize| if same { n.div_ceil(stride) } else { n.checked_sub(kernel).map_or(0, |d| d / stride + 1) };
    let (oh, ow) = (size(h), size(w));
    if oh == 0 || ow == 0 {
        c.errors.push(Mistake::ShapeMismatch.at(
            c.span,
            format!("a {kernel}x{kernel} kernel does not fit a {h}x{w} image"),
            format!("input {}", c.input),
            "use `padding: same`, a smaller kernel, or fewer pooling layers before it",
        ));
        return None;
    }
    Some((Shape::Image([filters, oh, ow]), LayerKind::Conv { filters, kernel, stride, same, init, l2 }))
}

fn pool(c: &mut LayerCall, max: bool) -> Option<(Shape, LayerKind)> {
    let size = c.count("size", None)?;
    let stride = c.count("stride", Some(size))?;
    let [channels, h, w] = c.image()?;
    if h < size || w < size {
        c.errors.push(Mistake::ShapeMismatch.at(
            c.span,
            format!("a {size}x{size} pool does not fit a {h}x{w} image"),
            format!("input {}", c.input),
            "pool less, or use larger images (`size:` of the source)",
        ));
        return None;
    }
    let out = Shape::Image([channels, (h - size) / stride + 1, (w - size) / stride + 1]);
    let kind = if max { LayerKind::MaxPool { size, stride } } else { LayerKind::AvgPool { size, stride } };
    Some((out, kind))
}

fn global_avgpool(c: &mut LayerCall) -> Option<(Shape, LayerKind)> {
    let features = global_features(c)?;
    Some((Shape::Flat(features), LayerKind::GlobalAvgPool))
}

fn global_maxpool(c: &mut LayerCall) -> Option<(Shape, LayerKind)> {
    let features = global_features(c)?;
    Some((Shape::Flat(features), LayerKind::GlobalMaxPool))
}

/// What a global pool keeps: an image's channels, a sequence's features.
fn global_features(c: &mut LayerCall) -> Option<usize> {
    match c.input {
        Shape::Image([channels, _, _]) => Some(*channels),
        Shape::Seq([_, features]) => Some(*features),
        Shape::Flat(_) => {
            c.errors.push(Mistake::ShapeMismatch.at(
                c.span,
                format!("`{}` pools an image or a sequence, but this is {}", c.name, c.input),
                format!("input {}", c.input),
                "a vector has nothing to pool: remove it",
            ));
            None
        }
    }
}

/// `conv1d(filters, kernel: 3, stride: 1, padding: valid|same)` along a
/// sequence.
fn conv1d(c: &mut LayerCall) -> Option<(Shape, LayerKind)> {
    let filters = c.count("filters", None)?;
    let kernel = c.count("kernel", Some(3))?;
    let stride = c.count("stride", Some(1))?;
    let same = c.padding()?;
    let init = c.init()?;
    let l2 = c.penalty("l2")?;
    let [length, _] = c.seq()?;
    let out = if same { length.div_ceil(stride) } else { length.checked_sub(kernel).map_or(0, |d| d / stride + 1) };
    if out == 0 {
        c.errors.push(Mistake::ShapeMismatch.at(
            c.span,
            format!("a kernel of {kernel} does not fit a sequence of {length}"),
            format!("input {}", c.input),
            "use `padding: same`, a smaller kernel, or a longer `length:` in `tokenize`",
        ));
        return None;
    }
    Some((Shape::Seq([out, filters]), LayerKind::Conv1d { filters, kernel, stride, same, init, l2 }))
}

/// `lstm(units, return_sequences:)` or `gru(...)`: a sequence to the last
/// step's output `[units]`, or to every step's `[length x units]`.
fn recurrent(c: &mut LayerCall, lstm: bool) -> Option<(Shape, LayerKind)> {
    let units = c.count("units", None)?;
    let sequences = match c.value("return_sequences") {
        None => false,
        Some((Value::Bool(b), _)) => b,
        Some((value, span)) => {
            c.errors.push(Mistake::WrongType.at(
                span,
                format!("`return_sequences` of `{}` is true or false", c.name),
                format!("this is {}", show(&value)),
                "`return_sequences: true` keeps every step's output, for a layer that reads a sequence",
            ));
            return None;
        }
    };
    let [length, _] = c.seq()?;
    let out = if sequences { Shape::Seq([length, units]) } else { Shape::Flat(units) };
    let kind = if lstm { LayerKind::Lstm { units, sequences } } else { LayerKind::Gru { units, sequences } };
    Some((out, kind))
}

/// `maxpool1d(size, stride:)` along a sequence.
fn maxpool1d(c: &mut LayerCall) -> Option<(Shape, LayerKind)> {
    let size = c.count("size", None)?;
    let stride = c.count("stride", Some(size))?;
    let [length, features] = c.seq()?;
    if length < size {
        c.errors.push(Mistake::ShapeMismatch.at(
            c.span,
            format!("a pool of {size} does not fit a sequence of {length}"),
            format!("input {}", c.input),
            "pool less, or keep more of each text (`length:` in `tokenize`)",
        ));
        return None;
    }
    Some((Shape::Seq([(length - size) / stride + 1, features]), LayerKind::MaxPool1d { size, stride }))
}

fn flatten(c: &mut LayerCall) -> Option<(Shape, LayerKind)> {
    let out = match c.input {
        Shape::Seq([l, f]) => match l.checked_mul(*f) {
            Some(n) => Shape::Flat(n),
            None => {
                c.errors.push(Mistake::OutOfRange.at(
                    c.span,
                    "this sequence is too long to flatten",
                    format!("input {}", c.input),
                    "pool first (`global_maxpool()`)",
                ));
                return None;
            }
        },
        Shape::Image([ch, h, w]) => match ch.checked_mul(*h).and_then(|n| n.checked_mul(*w)) {
            Some(n) => Shape::Flat(n),
            None => {
                c.errors.push(Mistake::OutOfRange.at(
                    c.span,
                    "this image is too large to flatten",
                    format!("input {}", c.input),
                    "use smaller images or pool first",
                ));
                return None;
            }
        },
        flat => flat.clone(),
    };
    Some((out, LayerKind::Flatten))
}

fn dropout(c: &mut LayerCall) -> Option<(Shape, LayerKind)> {
    let (value, span) = c.value("rate")?;
    match value.as_f64() {
        Some(p) if (0.0..1.0).contains(&p) => c.same(LayerKind::Dropout(p)),
        found => {
            let kind = if found.is_some() { Mistake::OutOfRange } else { Mistake::WrongType };
            c.errors.push(kind.at(
                span,
                "a dropout rate is in [0, 1)",
                format!("this is {}", show(&value)),
                "the rate is the fraction of units dropped, as in `dropout(0.5)`",
            ));
            None
        }
    }
}

/// `embedding(dim)`: the input's encoded columns, each through a table of
/// its own, concatenated after the numeric features. Only the model's
/// first layer sees the encoded columns (`c.codes`).
fn embedding(c: &mut LayerCall) -> Option<(Shape, LayerKind)> {
    let dim = c.count("dim", None)?;
    if let (Some(ids), Shape::Flat(length)) = (c.tokens, c.input) {
        return Some((Shape::Seq([*length, dim]), LayerKind::TokenEmbedding { ids, dim }));
    }
    let Shape::Flat(width) = c.input else {
        c.errors.push(flat_needed("embedding", c.input, c.span));
        return None;
    };
    if c.codes.is_empty() {
        c.errors.push(Mistake::ShapeMismatch.at(
            c.span,
            "`embedding` reads the columns `encode` makes or the text `tokenize` makes, and this layer's input has neither",
            "nothing to embed",
            "encode categories (`encode(city)`) or tokenize a text (`tokenize(review)`) in a fitted transform, and make `embedding` the model's first layer",
        ));
        return None;
    }
    let numeric = width.saturating_sub(c.codes.len());
    let out = numeric.saturating_add(c.codes.len().saturating_mul(dim));
    Some((Shape::Flat(out), LayerKind::Embedding { dim, tables: c.codes.to_vec() }))
}

fn normalize(c: &mut LayerCall) -> Option<(Shape, LayerKind)> {
    let channels = match c.input {
        Shape::Image([channels, _, _]) => *channels,
        Shape::Flat(n) => *n,
        Shape::Seq(_) => {
            c.errors.push(Mistake::Unsupported.at(
                c.span,
                "`normalize` works on images and vectors, not sequences",
                format!("input {}", c.input),
                "use `layernorm()` on a sequence",
            ));
            return None;
        }
    };
    let mean = per_channel(c, "mean", channels, false)?;
    let std = per_channel(c, "std", channels, true)?;
    c.same(LayerKind::Normalize { mean, std })
}

/// `mean:` or `std:` of `normalize`: one number, or one per channel.
fn per_channel(c: &mut LayerCall, param: &str, channels: usize, positive: bool) -> Option<Vec<f64>> {
    let Some((value, span)) = c.value(param) else {
        c.errors.push(CheckError::MissingArgument { operation: "normalize".into(), name: param.into(), span: c.span });
        return None;
    };
    let numbers: Option<Vec<f64>> = match &value {
        Value::List(items) => items.iter().map(|(v, _)| v.as_f64()).collect(),
        v => v.as_f64().map(|x| vec![x]),
    };
    let example = "write `normalize(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])`";
    let label = format!("this is {}", show(&value));
    let mistake = match numbers {
        None => Mistake::WrongType.at(span, format!("`{param}` is one number, or one per channel"), label, example),
        Some(n) if n.len() != 1 && n.len() != channels => Mistake::CountMismatch.at(
            span,
            format!(
                "`{param}` gives {} values for {channels} channel{}: give one, or one per channel",
                n.len(),
                if channels == 1 { "" } else { "s" }
            ),
            label,
            example,
        ),
        Some(n) if positive && n.iter().any(|x| *x <= 0.0) => Mistake::OutOfRange.at(
            span,
            format!("`{param}` is positive: one number, or one per channel"),
            label,
            example,
        ),
        Some(n) => return Some(n),
    };
    c.errors.push(mistake);
    None
}

/// `softplus(beta)`: beta a positive, finite number.
fn softplus(c: &mut LayerCall) -> Option<(Shape, LayerKind)> {
    let beta = c.number("beta", 1.0)?;
    if !(beta > 0.0 && beta.is_finite()) {
        let span = c.value("beta").map_or(c.span, |(_, span)| span);
        c.errors.push(Mistake::OutOfRange.at(
            span,
            "`beta` of `softplus` is a positive number",
            format!("this is {beta}"),
            "a larger beta bends it closer to `relu`, as in `softplus(2)`",
        ));
        return None;
    }
    activation(c, Activation::Softplus(beta))
}

fn prelu(c: &mut LayerCall) -> Option<(Shape, LayerKind)> {
    let init = c.number("slope", 0.25)?;
    if !init.is_finite() {
        let span = c.value("slope").map_or(c.span, |(_, span)| span);
        c.errors.push(Mistake::OutOfRange.at(
            span,
            "`slope` of `prelu` is a finite number",
            format!("this is {init}"),
            "write `prelu(0.25)`",
        ));
        return None;
    }
    let shared = match c.value("shared") {
        None => true,
        Some((Value::Bool(shared), _)) => shared,
        Some((value, span)) => {
            c.errors.push(Mistake::WrongType.at(
                span,
                "`shared` of `prelu` is true or false",
                format!("this is {}", show(&value)),
                "`shared: false` learns one slope per feature or channel",
            ));
            return None;
        }
    };
    if !shared && matches!(c.input, Shape::Seq(_)) {
        c.errors.push(Mistake::Unsupported.at(
            c.span,
            "`prelu(shared: false)` learns a slope per channel, and on a sequence pipe has none yet",
            format!("input {}", c.input),
            "share one slope (`prelu()`) on a sequence",
        ));
        return None;
    }
    c.same(LayerKind::PRelu { init, shared })
}

fn activation(c: &mut LayerCall, activation: Activation) -> Option<(Shape, LayerKind)> {
    c.same(LayerKind::Activation(activation))
}

/// An initialiser, declared once: its name, what it does, its parameters
/// and how its arguments make the IR's [`Init`].
struct Initialiser {
    name: &'static str,
    params: &'static [Param],
    make: fn(&[f64]) -> Init,
}

/// Every initialiser `init:` takes (`xavier_*` are `glorot_*` by PyTorch's name).
const INITIALISERS: &[Initialiser] = &[
    Initialiser { name: "he_normal", params: &[], make: |_| Init::HeNormal },
    Initialiser { name: "he_uniform", params: &[], make: |_| Init::HeUniform },
    Initialiser { name: "glorot_normal", params: &[], make: |_| Init::GlorotNormal },
    Initialiser { name: "glorot_uniform", params: &[], make: |_| Init::GlorotUniform },
    Initialiser { name: "xavier_normal", params: &[], make: |_| Init::GlorotNormal },
    Initialiser { name: "xavier_uniform", params: &[], make: |_| Init::GlorotUniform },
    Initialiser { name: "zeros", params: &[], make: |_| Init::Zeros },
    Initialiser { name: "constant", params: &[pos("value", true)], make: |v| Init::Constant(v[0]) },
    Initialiser {
        name: "truncated_normal",
        params: &[pos("mean", false), pos("std", false)],
        make: |v| Init::TruncatedNormal { mean: v[0], std: v[1] },
    },
];

/// Defaults of initialisers' optional parameters (`truncated_normal`'s
/// mean 0 and std 0.05, Keras').
fn init_default(param: &str) -> f64 {
    if param == "std" { 0.05 } else { 0.0 }
}

/// `init: he_normal`, `init: constant(0.1)`, `init: truncated_normal(std: 0.1)`.
fn init(expr: &Expr, values: &Values, errors: &mut Vec<CheckError>) -> Option<Init> {
    let span = values.origin(expr);
    let (name, args): (String, &[Arg]) = match (&expr.kind, eval(expr, values.constants)) {
        (ExprKind::Call(call), _) => (call.callee.dotted(), &call.args),
        (_, Value::Name(name)) => (name, &[]),
        (_, value) => {
            errors.push(Mistake::WrongType.at(
                span,
                "`init` names an initialiser",
                format!("this is {}", show(&value)),
                "write `init: he_normal`",
            ));
            return None;
        }
    };
    let Some(initialiser) = INITIALISERS.iter().find(|i| i.name == name) else {
        let names: Vec<&str> = INITIALISERS.iter().map(|i| i.name).collect();
        let help = closest(&name, names.iter().copied())
            .map_or_else(|| format!("the initialisers are {}", names.join(", ")), |n| format!("did you mean `{n}`?"));
        errors.push(Mistake::UnknownValue.at(
            span,
            format!("unknown initialiser `{name}`"),
            "not an initialiser",
            help,
        ));
        return None;
    };
    let before = errors.len();
    let bound = crate::check::args::bind(&name, initialiser.params, args, span, errors);
    let mut numbers = Vec::new();
    for param in initialiser.params {
        match bound.expr(param.name).map(|e| (eval(e, values.constants), values.origin(e))) {
            None => numbers.push(init_default(param.name)),
            Some((value, span)) => match value.as_f64() {
                Some(x) => numbers.push(x),
                None => errors.push(Mistake::WrongType.at(
                    span,
                    format!("`{}` of `{name}` is a number", param.name),
                    format!("this is {}", show(&value)),
                    format!("write `{name}(...)` with numbers"),
                )),
            },
        }
    }
    if errors.len() > before {
        return None;
    }
    let made = (initialiser.make)(&numbers);
    if let Init::TruncatedNormal { std, .. } = made
        && std <= 0.0
    {
        errors.push(Mistake::OutOfRange.at(
            span,
            "`std` of `truncated_normal` must be greater than 0",
            "not a spread",
            "write `truncated_normal(std: 0.1)`",
        ));
        return None;
    }
    Some(made)
}

/// `dense` (or the loss) after an image: it needs a flat input.
pub fn flat_needed(what: &str, shape: &Shape, span: Span) -> CheckError {
    Mistake::ShapeMismatch.at(
        span,
        format!("`{what}` needs a flat input, but this is {shape}"),
        format!("input {shape}"),
        "add `flatten()` (or `global_avgpool()`) before it",
    )
}

/// A value as a user wrote it: numbers as numbers, else what kind it is.
pub fn show(value: &Value) -> String {
    match value {
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        other => other.described().into(),
    }
}
