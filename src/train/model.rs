//! A Burn module built at run time from a checked model (`ir::Model`): one
//! enum variant per layer kind, forward over flat `[batch, features]` or
//! image `[batch, channels, height, width]` tensors.

use burn::module::{Module, Param};
use burn::nn::attention::{MhaInput, MultiHeadAttention, MultiHeadAttentionConfig};
use burn::nn::conv::{Conv1d, Conv1dConfig, Conv2d, Conv2dConfig};
use burn::nn::pool::{
    AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, AvgPool2d, AvgPool2dConfig, MaxPool1d, MaxPool1dConfig, MaxPool2d,
    MaxPool2dConfig,
};
use burn::nn::{
    BatchNorm, BatchNormConfig, Embedding, EmbeddingConfig, GateController, Gru, GruConfig, Initializer, LayerNorm,
    LayerNormConfig, Linear, LinearConfig, Lstm, LstmConfig, PaddingConfig1d, PaddingConfig2d,
};
use burn::tensor::activation;
use burn::tensor::{Device, FloatDType, Tensor, TensorData};

use super::init;
use crate::ir::{self, Activation, LayerKind, Shape};
use crate::random::Rng;

/// The network.
#[derive(Module, Debug)]
pub struct Net {
    layers: Vec<Layer>,
    /// The type the layers compute in (the weights stay f32).
    #[module(skip)]
    precision: Precision,
}

/// What a network computes in: f32, or a half type with f32 master
/// weights (mixed precision, as PyTorch's autocast does it): dense and conv
/// layers run on half copies of the weights, while normalization, softmax
/// and the loss see f32, and gradients reach the f32 weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// Everything in f32.
    #[default]
    F32,
    /// IEEE half precision (needs loss scaling).
    F16,
    /// bfloat16 (f32's range, 8 bits of mantissa).
    BF16,
}

impl Precision {
    /// The precision a run's `precision:` setting gives.
    pub fn of(precision: crate::ir::Precision) -> Self {
        match precision {
            crate::ir::Precision::F32 => Precision::F32,
            crate::ir::Precision::F16 => Precision::F16,
            crate::ir::Precision::Bf16 => Precision::BF16,
        }
    }

    /// The half type layers compute in, if any.
    fn half(self) -> Option<FloatDType> {
        match self {
            Precision::F32 => None,
            Precision::F16 => Some(FloatDType::F16),
            Precision::BF16 => Some(FloatDType::BF16),
        }
    }
}

/// One layer.
#[derive(Module, Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "a network holds a few layers, each built once; a boxed recurrent layer would need Burn's Module for Box"
)]
pub enum Layer {
    /// `dense`
    Dense(Linear),
    /// `conv`
    Conv(Conv2d),
    /// `batchnorm`, over features or channels.
    Norm(BatchNorm),
    /// `layernorm`, over the last dimension.
    LayerNorm(LayerNorm),
    /// `normalize`: fixed per-channel shift and scale.
    Normalize(Standardize),
    /// `dropout`
    Dropout(FastDropout),
    /// `maxpool`
    MaxPool(MaxPool2d),
    /// `avgpool`
    AvgPool(AvgPool2d),
    /// `global_avgpool`
    GlobalAvgPool(AdaptiveAvgPool2d),
    /// `flatten`
    Flatten(Marker),
    /// An activation.
    Activation(Act),
    /// `residual { ... }`: input plus the block's output.
    Residual(Block),
    /// `prelu`: its learned slopes.
    PRelu(PRelu),
    /// `embedding`: a table per encoded input column.
    Embedding(Embeddings),
    /// `embedding` of a tokenized text: one table for every step.
    TokenEmbedding(Embedding),
    /// `conv1d`, along a sequence.
    Conv1d(Conv1d),
    /// `maxpool1d`, along a sequence.
    MaxPool1d(MaxPool1d),
    /// `global_maxpool`
    GlobalMaxPool(Marker),
    /// `lstm` or `gru`.
    Recurrent(Recurrent),
    /// `attention`
    Attention(MultiHeadAttention),
}

/// `lstm` or `gru` (one of the two set), and whether it gives every step's
/// output or the last one's. It computes in f32 under `precision:` too.
#[derive(Module, Debug)]
pub struct Recurrent {
    lstm: Option<Lstm>,
    gru: Option<Gru>,
    sequences: bool,
}

impl Recurrent {
    /// `[batch, length, features]` to every step's `[batch, length,
    /// units]`, or the last step's `[batch, units]`.
    fn forward(&self, t: Tensor<3>) -> X {
        let [batch, length, _] = t.dims();
        let outputs = match (&self.lstm, &self.gru) {
            (Some(lstm), _) => lstm.forward(t, None).0,
            (None, Some(gru)) => gru.forward(t, None),
            (None, None) => return X::Seq(t),
        };
        if self.sequences {
            return X::Seq(outputs);
        }
        let [_, _, units] = outputs.dims();
        X::Flat(outputs.narrow(1, length.saturating_sub(1), 1).reshape([batch, units]))
    }

    /// The gates in PyTorch's order (`nn.LSTM`: input, forget, cell,
    /// output; `nn.GRU`: reset, update, new).
    fn gates(&self) -> Vec<&GateController> {
        match (&self.lstm, &self.gru) {
            (Some(l), _) => [Some(&l.input_gate), l.forget_gate.as_ref(), Some(&l.cell_gate), Some(&l.output_gate)]
                .into_iter()
                .flatten()
                .collect(),
            (None, Some(g)) => vec![&g.reset_gate, &g.update_gate, &g.new_gate],
            (None, None) => Vec::new(),
        }
    }

    fn gates_mut(&mut self) -> Vec<&mut GateController> {
        match (&mut self.lstm, &mut self.gru) {
            (Some(l), _) => {
                let Lstm { input_gate, forget_gate, cell_gate, output_gate, .. } = l;
                [Some(input_gate), forget_gate.as_mut(), Some(cell_gate), Some(output_gate)]
                    .into_iter()
                    .flatten()
                    .collect()
            }
            (None, Some(g)) => vec![&mut g.reset_gate, &mut g.update_gate, &mut g.new_gate],
            (None, None) => Vec::new(),
        }
    }
}

/// `embedding(dim)`: each encoded column of the input (ids carried as f32
/// features, exact below 2^24) looked up in its own table, the vectors
/// concatenated after the numeric columns, in input order.
#[derive(Module, Debug)]
pub struct Embeddings {
    /// One `[ids, dim]` table per encoded column.
    pub tables: Vec<Embedding>,
    /// The encoded columns' positions among the input features.
    #[module(skip)]
    codes: Vec<usize>,
    /// The other features' positions.
    #[module(skip)]
    numeric: Vec<usize>,
}

impl Embeddings {
    /// `[batch, features]` to `[batch, numeric + tables * dim]`, in f32:
    /// autocast leaves embeddings in f32 too, and half types would round
    /// the ids (bf16 is exact to 256 only).
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let device = x.device();
        let [batch, _] = x.dims();
        let mut parts = Vec::with_capacity(self.tables.len().saturating_add(1));
        if !self.numeric.is_empty() {
            let positions: Vec<i64> = self.numeric.iter().map(|&p| p as i64).collect();
            let index =
                Tensor::<1, burn::tensor::Int>::from_data(TensorData::new(positions, [self.numeric.len()]), &device);
            parts.push(x.clone().select(1, index));
        }
        for (table, &position) in self.tables.iter().zip(&self.codes) {
            let ids = x.clone().slice([0..batch, position..position.saturating_add(1)]).int();
            let [_, dim] = table.weight.dims();
            parts.push(table.forward(ids).reshape([batch, dim]));
        }
        Tensor::cat(parts, 1)
    }
}

/// A leaky ReLU with learned slopes: one, or one per feature or channel.
#[derive(Module, Debug)]
pub struct PRelu {
    /// The slopes.
    pub alpha: Param<Tensor<1>>,
}

impl PRelu {
    /// x above 0, else its slope times x; the gradient at 0 is the slope
    /// (for x) and x, 0 (for the slope), as PyTorch's `PReLU`.
    fn forward<const D: usize>(&self, t: Tensor<D>, half: Option<FloatDType>) -> Tensor<D> {
        let alpha = match half {
            Some(h) => self.alpha.val().cast(h),
            None => self.alpha.val(),
        };
        let slopes = alpha.dims()[0];
        let mut shape = [1; D];
        if slopes > 1 && D > 1 {
            shape[1] = slopes;
        }
        let positive = t.clone().greater_elem(0.0);
        (t.clone() * alpha.reshape(shape)).mask_where(positive, t)
    }
}

/// Inverted dropout with masks drawn by a small seeded generator on the
/// host: Burn's Bernoulli sampling took a third of an MLP's training time on
/// the CPU, this takes a few percent. Active only on an autodiff device
/// (training); evaluation runs on a plain device and passes inputs through.
#[derive(Module, Debug)]
pub struct FastDropout {
    prob: f64,
    #[module(skip)]
    state: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl FastDropout {
    fn new(prob: f64, seed: u64) -> Self {
        FastDropout { prob, state: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(seed)) }
    }

    fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        if self.prob <= 0.0 || !x.device().is_autodiff() {
            return x;
        }
        let shape = x.shape();
        let n = shape.num_elements();
        // Each mask gets its own stream: the state advances by one per mask.
        let seed = self.state.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut rng = Rng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        // Keep with probability 1 - p, compared on 16-bit draws.
        let threshold = ((1.0 - self.prob) * 65536.0).round() as u32;
        let kept = (1.0 / (1.0 - self.prob)) as f32;
        let mut mask = Vec::with_capacity(n.saturating_add(3));
        while mask.len() < n {
            let bits = rng.next_u64();
            for k in 0..4u32 {
                let draw = (bits.wrapping_shr(k.wrapping_mul(16)) & 0xFFFF) as u32;
                mask.push(if draw < threshold { kept } else { 0.0 });
            }
        }
        mask.truncate(n);
        // The mask in the batch's own type (a half batch stays half).
        let mask = Tensor::<D>::from_data(TensorData::new(mask, shape), &x.device()).cast(FloatDType::from(x.dtype()));
        x * mask
    }
}

/// `(x - mean) / std` along the channel (image) or feature (flat) axis,
/// with constants, not parameters.
#[derive(Module, Debug)]
pub struct Standardize {
    #[module(skip)]
    mean: Vec<f32>,
    #[module(skip)]
    std: Vec<f32>,
}

impl Standardize {
    fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        // Shaped to broadcast over axis 1 (channels or features).
        let mut shape = [1usize; D];
        shape[1] = self.mean.len();
        let device = x.device();
        let dtype = FloatDType::from(x.dtype());
        let mean = Tensor::<D>::from_data(TensorData::new(self.mean.clone(), shape), &device).cast(dtype);
        let std = Tensor::<D>::from_data(TensorData::new(self.std.clone(), shape), &device).cast(dtype);
        (x - mean) / std
    }
}

/// A layer without parameters or settings.
#[derive(Module, Debug)]
pub struct Marker {
    unused: usize,
}

/// An activation: its kind (index into [`ACTIVATIONS`], kept as a number
/// in saved weights) and parameter.
#[derive(Module, Debug)]
pub struct Act {
    kind: usize,
    parameter: f64,
}

/// The activations, by [`Act::kind`] (the order saved weights use).
/// New kinds go at the end, so weights saved before still load.
const ACTIVATIONS: [ActKind; 12] = [
    ActKind::Relu,
    ActKind::LeakyRelu,
    ActKind::Elu,
    ActKind::Gelu,
    ActKind::Sigmoid,
    ActKind::Tanh,
    ActKind::Softmax,
    ActKind::Silu,
    ActKind::Selu,
    ActKind::Softplus,
    ActKind::Mish,
    ActKind::HardSigmoid,
];

/// What an activation computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ActKind {
    Relu,
    LeakyRelu,
    Elu,
    Gelu,
    Sigmoid,
    Tanh,
    Softmax,
    Silu,
    Selu,
    Softplus,
    Mish,
    HardSigmoid,
}

/// Layers inside a residual block.
#[derive(Module, Debug)]
pub struct Block {
    layers: Vec<Layer>,
}

/// A batch flowing through the network.
pub enum X {
    /// `[batch, features]`
    Flat(Tensor<2>),
    /// `[batch, channels, height, width]`
    Image(Tensor<4>),
    /// `[batch, length, features]`
    Seq(Tensor<3>),
}

impl X {
    /// The same batch in another float type.
    fn cast(self, dtype: FloatDType) -> X {
        match self {
            X::Flat(t) => X::Flat(t.cast(dtype)),
            X::Image(t) => X::Image(t.cast(dtype)),
            X::Seq(t) => X::Seq(t.cast(dtype)),
        }
    }

    /// As `[batch, features]` (images flattened).
    pub fn flat(self) -> Tensor<2> {
        match self {
            X::Flat(t) => t,
            X::Image(t) => t.flatten(1, 3),
            X::Seq(t) => t.flatten(1, 2),
        }
    }
}

impl Net {
    /// The model with fresh weights on `device`, every one drawn from a
    /// generator seeded by `seed` (see [`super::init`]), as are the dropout
    /// layers' streams.
    pub fn new(model: &ir::Model, device: &Device, seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0x5EED_1417);
        let layers = model.layers.iter().map(|l| layer(l, device, &mut rng)).collect();
        Net { layers, precision: Precision::F32 }
    }

    /// The network with its first `count` layers taken from `base` (a
    /// trained network whose first layers have the same structure), moved
    /// to `device`.
    pub fn adopt(mut self, base: &Net, count: usize, device: &Device) -> Self {
        for (mine, theirs) in self.layers.iter_mut().zip(&base.layers).take(count) {
            // A trained network is a validation snapshot: `train` restores
            // gradients on the training device.
            *mine = theirs.clone().fork(device).train();
        }
        self
    }

    /// The network with every layer's parameters read from a safetensors
    /// file of PyTorch weights for `model`'s layers (the checker matched
    /// its names and shapes): dense weights are transposed (PyTorch keeps
    /// `[out, in]`), batch norms get their running statistics too.
    pub fn import_torch(mut self, model: &ir::Model, path: &std::path::Path, device: &Device) -> Result<Self, String> {
        use burn::module::RunningState;
        let header = crate::files::safetensors::header(path)?;
        let expected = model.torch_entries()?;
        let prefix = expected.first().map_or_else(String::new, |first| header.prefix_of(&first.name));
        let names: std::collections::HashSet<String> = expected.iter().map(|e| format!("{prefix}{}", e.name)).collect();
        let values: std::collections::HashMap<String, Vec<f32>> =
            crate::files::safetensors::read_wanted(path, &header, &|name| names.contains(name))?
                .into_iter()
                .map(|(e, v)| (e.name, v))
                .collect();
        for entry in &expected {
            let name = format!("{prefix}{}", entry.name);
            let data = values.get(&name).ok_or_else(|| format!("no tensor `{name}`"))?.clone();
            // The file may have changed since `pipe check` matched it.
            let needed: usize = entry.shape.iter().product();
            if data.len() != needed {
                return Err(format!(
                    "`{name}` has {} values, the model's {:?} needs {needed}",
                    data.len(),
                    entry.shape
                ));
            }
            let vector = || Tensor::<1>::from_data(TensorData::new(data.clone(), [data.len()]), device);
            match (self.layers.get_mut(entry.layer), entry.param) {
                (Some(Layer::Dense(m)), ir::TorchParam::Weight) => {
                    let [out, inputs] = [entry.shape[0], entry.shape[1]];
                    let mut transposed = vec![0.0; data.len()];
                    // `out * inputs` values were counted above.
                    for (o, row) in data.chunks_exact(inputs.max(1)).enumerate().take(out) {
                        for (i, value) in row.iter().enumerate() {
                            transposed[i.saturating_mul(out).saturating_add(o)] = *value;
                        }
                    }
                    m.weight =
                        Param::from_tensor(Tensor::from_data(TensorData::new(transposed, [inputs, out]), device));
                }
                (Some(Layer::Dense(m)), _) => m.bias = Some(Param::from_tensor(vector())),
                (Some(Layer::Conv(m)), ir::TorchParam::Weight) => {
                    let shape: [usize; 4] = [entry.shape[0], entry.shape[1], entry.shape[2], entry.shape[3]];
                    m.weight = Param::from_tensor(Tensor::from_data(TensorData::new(data, shape), device));
                }
                (Some(Layer::Conv(m)), _) => m.bias = Some(Param::from_tensor(vector())),
                (Some(Layer::Norm(m)), ir::TorchParam::Weight) => m.gamma = Param::from_tensor(vector()),
                (Some(Layer::Norm(m)), ir::TorchParam::Bias) => m.beta = Param::from_tensor(vector()),
                (Some(Layer::Norm(m)), ir::TorchParam::RunningMean) => m.running_mean = RunningState::new(vector()),
                (Some(Layer::Norm(m)), ir::TorchParam::RunningVar) => m.running_var = RunningState::new(vector()),
                (Some(Layer::LayerNorm(m)), ir::TorchParam::Weight) => m.gamma = Param::from_tensor(vector()),
                (Some(Layer::LayerNorm(m)), _) => m.beta = Some(Param::from_tensor(vector())),
                (Some(Layer::PRelu(m)), ir::TorchParam::Weight) => m.alpha = Param::from_tensor(vector()),
                _ => return Err(format!("`{name}` has no layer to go to")),
            }
        }
        Ok(self)
    }

    /// The values of each entry of the PyTorch state dict of `model`'s
    /// layers (see [`ir::Model::torch_entries`]), in PyTorch's layouts: the
    /// inverse of [`Net::import_torch`] (dense weights transposed back to
    /// `[out, in]`, batch norms' running statistics included).
    pub fn torch_values(&self, model: &ir::Model) -> Result<Vec<(ir::TorchEntry, Vec<f32>)>, String> {
        let values = |t: Tensor<1>| t.try_into_vec_as::<f32>().map_err(|e| format!("{e:?}"));
        let mut out = Vec::new();
        for entry in model.torch_entries()? {
            let data = match (self.layers.get(entry.layer), entry.param) {
                (Some(Layer::Dense(m)), ir::TorchParam::Weight) => {
                    let weight: Tensor<1> = m.weight.val().transpose().flatten(0, 1);
                    values(weight)?
                }
                (Some(Layer::Dense(m)), _) => values(m.bias.as_ref().ok_or("a dense layer without a bias")?.val())?,
                (Some(Layer::Conv(m)), ir::TorchParam::Weight) => {
                    let weight: Tensor<1> = m.weight.val().flatten(0, 3);
                    values(weight)?
                }
                (Some(Layer::Conv(m)), _) => values(m.bias.as_ref().ok_or("a convolution without a bias")?.val())?,
                (Some(Layer::Norm(m)), ir::TorchParam::Weight) => values(m.gamma.val())?,
                (Some(Layer::Norm(m)), ir::TorchParam::Bias) => values(m.beta.val())?,
                (Some(Layer::Norm(m)), ir::TorchParam::RunningMean) => values(m.running_mean.value())?,
                (Some(Layer::Norm(m)), ir::TorchParam::RunningVar) => values(m.running_var.value())?,
                (Some(Layer::LayerNorm(m)), ir::TorchParam::Weight) => values(m.gamma.val())?,
                (Some(Layer::LayerNorm(m)), _) => values(m.beta.as_ref().ok_or("a layer norm without a shift")?.val())?,
                (Some(Layer::PRelu(m)), ir::TorchParam::Weight) => values(m.alpha.val())?,
                _ => return Err(format!("`{}` has no layer to come from", entry.name)),
            };
            out.push((entry, data));
        }
        Ok(out)
    }

    /// The network with its first `count` layers frozen: their parameters
    /// get no gradients (so no updates), and their batch normalization
    /// uses, and keeps, its running statistics.
    pub fn freeze_first(mut self, count: usize) -> Self {
        self.layers =
            self.layers.into_iter().enumerate().map(|(i, l)| if i < count { l.freeze() } else { l }).collect();
        self
    }

    /// The same network computing in `precision`.
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// The output for a batch (f32, whatever the layers computed in). A
    /// first `embedding` reads the f32 input before any cast to half.
    pub fn forward(&self, x: X) -> X {
        let (x, rest) = match self.layers.split_first() {
            Some((Layer::Embedding(e), rest)) => (X::Flat(e.forward(x.flat())), rest),
            Some((Layer::TokenEmbedding(e), rest)) => (X::Seq(e.forward(x.flat().int())), rest),
            _ => (x, &self.layers[..]),
        };
        match self.precision.half() {
            None => forward_all(rest, x, None),
            Some(half) => forward_all(rest, x.cast(half), Some(half)).cast(FloatDType::F32),
        }
    }
}

fn forward_all(layers: &[Layer], mut x: X, half: Option<FloatDType>) -> X {
    for layer in layers {
        x = forward_one(layer, x, half);
    }
    x
}

fn forward_one(layer: &Layer, x: X, half: Option<FloatDType>) -> X {
    match (layer, x) {
        // Step by step on a sequence.
        (Layer::Dense(m), X::Seq(t)) => X::Seq(match half {
            None => m.forward(t),
            Some(h) => {
                let bias = m.bias.as_ref().map(|b| b.val().cast(h));
                burn::tensor::module::linear(t, m.weight.val().cast(h), bias)
            }
        }),
        (Layer::Dense(m), x) => X::Flat(match half {
            None => m.forward(x.flat()),
            Some(h) => {
                let bias = m.bias.as_ref().map(|b| b.val().cast(h));
                burn::tensor::module::linear(x.flat(), m.weight.val().cast(h), bias)
            }
        }),
        (Layer::Attention(m), X::Seq(t)) => X::Seq(in_f32(t, half, |t| m.forward(MhaInput::self_attn(t)).context)),
        (Layer::Conv(m), X::Image(t)) => X::Image(match half {
            None => super::conv::layer(m, t),
            Some(h) => {
                // A copy whose weights are half copies of the f32 ones (the
                // casts pass gradients back to them).
                let mut copy = m.clone();
                copy.weight = copy.weight.map(|w| w.cast(h));
                copy.bias = copy.bias.map(|b| b.map(|b| b.cast(h)));
                super::conv::layer(&copy, t)
            }
        }),
        // Statistics in f32, as autocast does.
        (Layer::Norm(m), X::Image(t)) => X::Image(in_f32(t, half, |t| super::norm::layer(m, t))),
        (Layer::Norm(m), X::Flat(t)) => X::Flat(in_f32(t, half, |t| super::norm::layer(m, t))),
        (Layer::LayerNorm(m), X::Flat(t)) => X::Flat(in_f32(t, half, |t| m.forward(t))),
        (Layer::LayerNorm(m), X::Image(t)) => X::Image(in_f32(t, half, |t| m.forward(t))),
        (Layer::Normalize(m), X::Flat(t)) => X::Flat(m.forward(t)),
        (Layer::Normalize(m), X::Image(t)) => X::Image(m.forward(t)),
        (Layer::Dropout(m), X::Flat(t)) => X::Flat(m.forward(t)),
        (Layer::Dropout(m), X::Image(t)) => X::Image(m.forward(t)),
        (Layer::MaxPool(m), X::Image(t)) => X::Image(m.forward(t)),
        (Layer::AvgPool(m), X::Image(t)) => X::Image(m.forward(t)),
        (Layer::GlobalAvgPool(m), X::Image(t)) => X::Flat(m.forward(t).flatten(1, 3)),
        (Layer::Flatten(_), x) => X::Flat(x.flat()),
        (Layer::PRelu(m), X::Flat(t)) => X::Flat(m.forward(t, half)),
        (Layer::PRelu(m), X::Image(t)) => X::Image(m.forward(t, half)),
        (Layer::Activation(a), X::Flat(t)) => X::Flat(activate(a, t, half)),
        (Layer::Activation(a), X::Image(t)) => X::Image(activate(a, t, half)),
        (Layer::Residual(b), X::Flat(t)) => X::Flat(t.clone() + forward_all(&b.layers, X::Flat(t), half).flat()),
        (Layer::Residual(b), X::Image(t)) => match forward_all(&b.layers, X::Image(t.clone()), half) {
            X::Image(out) => X::Image(t + out),
            other => X::Flat(t.flatten(1, 3) + other.flat()),
        },
        // Only a model's first layer embeds (`Net::forward` runs it before
        // any cast); the checker puts it nowhere else.
        (Layer::Embedding(e), x) => X::Flat(e.forward(x.flat())),
        (Layer::TokenEmbedding(e), x) => X::Seq(e.forward(x.flat().int())),
        // Burn's 1-D layers read `[batch, channels, length]`.
        (Layer::Conv1d(m), X::Seq(t)) => X::Seq(
            match half {
                None => m.forward(t.swap_dims(1, 2)),
                Some(h) => {
                    let mut copy = m.clone();
                    copy.weight = copy.weight.map(|w| w.cast(h));
                    copy.bias = copy.bias.map(|b| b.map(|b| b.cast(h)));
                    copy.forward(t.swap_dims(1, 2))
                }
            }
            .swap_dims(1, 2),
        ),
        (Layer::MaxPool1d(m), X::Seq(t)) => X::Seq(m.forward(t.swap_dims(1, 2)).swap_dims(1, 2)),
        (Layer::GlobalMaxPool(_), X::Seq(t)) => {
            let [batch, _, features] = t.dims();
            X::Flat(t.max_dim(1).reshape([batch, features]))
        }
        (Layer::GlobalMaxPool(_), X::Image(t)) => {
            let [batch, channels, _, _] = t.dims();
            let spread: Tensor<3> = t.flatten(2, 3);
            X::Flat(spread.max_dim(2).reshape([batch, channels]))
        }
        (Layer::Recurrent(r), X::Seq(t)) => match half {
            None => r.forward(t),
            Some(h) => r.forward(t.cast(FloatDType::F32)).cast(h),
        },
        (Layer::GlobalAvgPool(_), X::Seq(t)) => {
            let [batch, _, features] = t.dims();
            X::Flat(t.mean_dim(1).reshape([batch, features]))
        }
        (Layer::Norm(m), X::Seq(t)) => {
            X::Seq(in_f32(t, half, |t| super::norm::layer(m, t.swap_dims(1, 2)).swap_dims(1, 2)))
        }
        (Layer::LayerNorm(m), X::Seq(t)) => X::Seq(in_f32(t, half, |t| m.forward(t))),
        (Layer::Dropout(m), X::Seq(t)) => X::Seq(m.forward(t)),
        (Layer::PRelu(m), X::Seq(t)) => X::Seq(m.forward(t, half)),
        (Layer::Activation(a), X::Seq(t)) => X::Seq(activate(a, t, half)),
        (Layer::Residual(b), X::Seq(t)) => match forward_all(&b.layers, X::Seq(t.clone()), half) {
            X::Seq(out) => X::Seq(t + out),
            other => X::Flat(t.flatten(1, 2) + other.flat()),
        },
        // The checker's shapes rule these out (conv or pooling on flat data).
        (_, x) => x,
    }
}

/// `f` applied in f32 to a tensor computed in `half` (if any), the result
/// cast back.
fn in_f32<const D: usize>(t: Tensor<D>, half: Option<FloatDType>, f: impl Fn(Tensor<D>) -> Tensor<D>) -> Tensor<D> {
    match half {
        None => f(t),
        Some(h) => f(t.cast(FloatDType::F32)).cast(h),
    }
}

fn activate<const D: usize>(a: &Act, t: Tensor<D>, half: Option<FloatDType>) -> Tensor<D> {
    match ACTIVATIONS[a.kind] {
        ActKind::Relu => activation::relu(t),
        ActKind::LeakyRelu => leaky_relu(t, a.parameter),
        ActKind::Elu => activation::elu(t, a.parameter),
        ActKind::Gelu => activation::gelu(t),
        ActKind::Sigmoid => activation::sigmoid(t),
        ActKind::Tanh => activation::tanh(t),
        ActKind::Softmax => in_f32(t, half, |t| activation::softmax(t, D.saturating_sub(1))),
        ActKind::Silu => activation::silu(t),
        // scale * elu(x, alpha): at 0 the gradient is elu's (the negative
        // side's), as PyTorch's `SELU` (Burn's `selu` takes the positive
        // side's there).
        ActKind::Selu => activation::elu(t, SELU_ALPHA).mul_scalar(SELU_SCALE),
        // Burn caps the threshold where the float type's exp overflows.
        ActKind::Softplus => activation::softplus(t, a.parameter),
        ActKind::Mish => activation::mish(t),
        ActKind::HardSigmoid => hard_sigmoid(t),
    }
}

/// SELU's constants (Klambauer et al., as PyTorch and Keras write them).
const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
const SELU_SCALE: f64 = 1.050_700_987_355_480_5;

/// x above 0, else slope * x, whose gradient at 0 is the slope: PyTorch's
/// `LeakyReLU` (Burn's `leaky_relu` passes 1 there).
fn leaky_relu<const D: usize>(t: Tensor<D>, slope: f64) -> Tensor<D> {
    let positive = t.clone().greater_elem(0.0);
    t.clone().mul_scalar(slope).mask_where(positive, t)
}

/// max(0, min(1, x / 6 + 1 / 2)), whose gradient is 1/6 strictly inside
/// (-3, 3) and 0 elsewhere, at -3 and 3 too: PyTorch's `Hardsigmoid`
/// (Burn's `hard_sigmoid` passes the gradient at the edges).
fn hard_sigmoid<const D: usize>(t: Tensor<D>) -> Tensor<D> {
    let dtype = FloatDType::from(t.dtype());
    let inside = t.clone().greater_elem(-3.0).bool_and(t.clone().lower_elem(3.0));
    // 1 at 3 and above, 0 at -3 and below: no gradient through a comparison.
    let outside = t.clone().greater_equal_elem(3.0).float().cast(dtype);
    outside.mask_where(inside, t.mul_scalar(1.0 / 6.0).add_scalar(0.5))
}

fn act(kind: ActKind, parameter: f64) -> Layer {
    let kind = ACTIVATIONS.iter().position(|k| *k == kind).unwrap_or_else(|| unreachable!("every kind is listed"));
    Layer::Activation(Act { kind, parameter })
}

fn layer(l: &ir::ModelLayer, device: &Device, rng: &mut Rng) -> Layer {
    match &l.kind {
        LayerKind::Dense { units, init, .. } => {
            let inputs = ir::dense_inputs(&l.input);
            // Built with zeros, then filled from the network's generator.
            let mut linear = LinearConfig::new(inputs, *units).with_initializer(Initializer::Zeros).init(device);
            let (weight, bias) = init::draws(init.as_ref(), inputs, *units);
            linear.weight = param(init::values(weight, inputs.saturating_mul(*units), rng), [inputs, *units], device);
            linear.bias = Some(param(init::values(bias, *units, rng), [*units], device));
            Layer::Dense(linear)
        }
        LayerKind::Conv { filters, kernel, stride, same, init, .. } => {
            let channels = l.input.channels();
            let padding = if *same { PaddingConfig2d::Same } else { PaddingConfig2d::Valid };
            let mut conv = Conv2dConfig::new([channels, *filters], [*kernel, *kernel])
                .with_stride([*stride, *stride])
                .with_padding(padding)
                .with_initializer(Initializer::Zeros)
                .init(device);
            // The checker bounds parameters by memory (check/models.rs).
            let area = kernel.saturating_mul(*kernel);
            let (weight, bias) =
                init::draws(init.as_ref(), channels.saturating_mul(area), filters.saturating_mul(area));
            let shape = [*filters, channels, *kernel, *kernel];
            conv.weight =
                param(init::values(weight, filters.saturating_mul(channels).saturating_mul(area), rng), shape, device);
            conv.bias = Some(param(init::values(bias, *filters, rng), [*filters], device));
            Layer::Conv(conv)
        }
        LayerKind::MaxPool { size, stride } => {
            Layer::MaxPool(MaxPool2dConfig::new([*size, *size]).with_strides([*stride, *stride]).init())
        }
        LayerKind::AvgPool { size, stride } => {
            Layer::AvgPool(AvgPool2dConfig::new([*size, *size]).with_strides([*stride, *stride]).init())
        }
        LayerKind::GlobalAvgPool => Layer::GlobalAvgPool(AdaptiveAvgPool2dConfig::new([1, 1]).init()),
        LayerKind::Flatten => Layer::Flatten(Marker { unused: 0 }),
        LayerKind::BatchNorm => Layer::Norm(BatchNormConfig::new(l.input.channels()).init(device)),
        LayerKind::PRelu { init, shared } => {
            let slopes = if *shared { 1 } else { l.input.channels() };
            Layer::PRelu(PRelu { alpha: param(vec![*init as f32; slopes], [slopes], device) })
        }
        LayerKind::LayerNorm => Layer::LayerNorm(LayerNormConfig::new(l.input.last()).init(device)),
        LayerKind::Dropout(p) => Layer::Dropout(FastDropout::new(*p, rng.next_u64())),
        LayerKind::Normalize { mean, std } => {
            let channels = l.input.channels();
            let spread =
                |v: &[f64]| -> Vec<f32> { (0..channels).map(|i| v[i.min(v.len().saturating_sub(1))] as f32).collect() };
            Layer::Normalize(Standardize { mean: spread(mean), std: spread(std) })
        }
        LayerKind::Activation(a) => match a {
            Activation::Relu => act(ActKind::Relu, 0.0),
            Activation::LeakyRelu(slope) => act(ActKind::LeakyRelu, *slope),
            Activation::Elu(alpha) => act(ActKind::Elu, *alpha),
            Activation::Gelu => act(ActKind::Gelu, 0.0),
            Activation::Sigmoid => act(ActKind::Sigmoid, 0.0),
            Activation::Tanh => act(ActKind::Tanh, 0.0),
            Activation::Softmax => act(ActKind::Softmax, 0.0),
            Activation::Silu => act(ActKind::Silu, 0.0),
            Activation::Selu => act(ActKind::Selu, 0.0),
            Activation::Softplus(beta) => act(ActKind::Softplus, *beta),
            Activation::Mish => act(ActKind::Mish, 0.0),
            Activation::HardSigmoid => act(ActKind::HardSigmoid, 0.0),
        },
        LayerKind::Residual(body) => {
            Layer::Residual(Block { layers: body.iter().map(|l| layer(l, device, rng)).collect() })
        }
        LayerKind::Embedding { dim, tables } => {
            // PyTorch's `nn.Embedding`: N(0, 1).
            let tables_made = tables
                .iter()
                .map(|t| {
                    let mut table = EmbeddingConfig::new(t.ids, *dim).with_initializer(Initializer::Zeros).init(device);
                    let values = init::values(init::Draw::Normal(1.0), t.ids.saturating_mul(*dim), rng);
                    table.weight = param(values, [t.ids, *dim], device);
                    table
                })
                .collect();
            let codes: Vec<usize> = tables.iter().map(|t| t.position).collect();
            let numeric = (0..flat_width(&l.input)).filter(|p| !codes.contains(p)).collect();
            Layer::Embedding(Embeddings { tables: tables_made, codes, numeric })
        }
        LayerKind::TokenEmbedding { ids, dim } => {
            let mut table = EmbeddingConfig::new(*ids, *dim).with_initializer(Initializer::Zeros).init(device);
            let values = init::values(init::Draw::Normal(1.0), ids.saturating_mul(*dim), rng);
            table.weight = param(values, [*ids, *dim], device);
            Layer::TokenEmbedding(table)
        }
        LayerKind::Conv1d { filters, kernel, stride, same, init, .. } => {
            let channels = l.input.channels();
            let padding = if *same { PaddingConfig1d::Same } else { PaddingConfig1d::Valid };
            let mut conv = Conv1dConfig::new(channels, *filters, *kernel)
                .with_stride(*stride)
                .with_padding(padding)
                .with_initializer(Initializer::Zeros)
                .init(device);
            let (weight, bias) =
                init::draws(init.as_ref(), channels.saturating_mul(*kernel), filters.saturating_mul(*kernel));
            let count = filters.saturating_mul(channels).saturating_mul(*kernel);
            conv.weight = param(init::values(weight, count, rng), [*filters, channels, *kernel], device);
            conv.bias = Some(param(init::values(bias, *filters, rng), [*filters], device));
            Layer::Conv1d(conv)
        }
        LayerKind::MaxPool1d { size, stride } => {
            Layer::MaxPool1d(MaxPool1dConfig::new(*size).with_stride(*stride).init())
        }
        LayerKind::GlobalMaxPool => Layer::GlobalMaxPool(Marker { unused: 0 }),
        LayerKind::Attention { heads } => {
            let f = l.input.channels();
            let mut mha = MultiHeadAttentionConfig::new(f, *heads).with_dropout(0.0).init(device);
            // PyTorch's: query, key and value weights Xavier-uniform over
            // the packed `[3f, f]`, the output's within 1/sqrt(f); biases 0.
            let packed = (6.0 / (4.0 * f as f64)).sqrt();
            let out = 1.0 / (f as f64).sqrt();
            for (linear, bound) in
                [(&mut mha.query, packed), (&mut mha.key, packed), (&mut mha.value, packed), (&mut mha.output, out)]
            {
                linear.weight =
                    param(init::values(init::Draw::Uniform(bound), f.saturating_mul(f), rng), [f, f], device);
                linear.bias = Some(param(vec![0.0; f], [f], device));
            }
            Layer::Attention(mha)
        }
        LayerKind::Lstm { units, sequences } | LayerKind::Gru { units, sequences } => {
            let inputs = l.input.channels();
            let lstm = matches!(l.kind, LayerKind::Lstm { .. });
            let mut recurrent = Recurrent {
                lstm: lstm.then(|| LstmConfig::new(inputs, *units, true).init(device)),
                gru: (!lstm).then(|| GruConfig::new(inputs, *units, true).init(device)),
                sequences: *sequences,
            };
            // PyTorch's: every weight and bias uniform within 1/sqrt(units).
            let bound = 1.0 / (*units as f64).sqrt();
            for gate in recurrent.gates_mut() {
                for (linear, fan_in) in [(&mut gate.input_transform, inputs), (&mut gate.hidden_transform, *units)] {
                    let weight = init::values(init::Draw::Uniform(bound), fan_in.saturating_mul(*units), rng);
                    linear.weight = param(weight, [fan_in, *units], device);
                    linear.bias = Some(param(init::values(init::Draw::Uniform(bound), *units, rng), [*units], device));
                }
            }
            Layer::Recurrent(recurrent)
        }
    }
}

fn flat_width(shape: &Shape) -> usize {
    shape.values() as usize
}

/// A trainable tensor of `shape` holding `values`.
fn param<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Param<Tensor<D>> {
    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device))
}

impl Net {
    /// The weights of dense and conv layers (what L1/L2 penalise).
    pub fn weights(&self) -> Vec<Tensor<2>> {
        fn collect(layers: &[Layer], out: &mut Vec<Tensor<2>>) {
            for layer in layers {
                match layer {
                    Layer::Dense(m) => out.push(m.weight.val()),
                    Layer::Conv(m) => out.push(m.weight.val().flatten(1, 3)),
                    Layer::Conv1d(m) => out.push(m.weight.val().flatten(1, 2)),
                    Layer::Residual(b) => collect(&b.layers, out),
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        collect(&self.layers, &mut out);
        out
    }

    /// Units of the last dense layer (the number of classes).
    pub fn output_width(&self) -> usize {
        self.layers
            .iter()
            .rev()
            .find_map(|l| if let Layer::Dense(m) = l { Some(m.weight.val().dims()[1]) } else { None })
            .unwrap_or(1)
    }
}

impl Net {
    /// Replaces dense layer `index`'s weight (`[inputs, units]`, row-major)
    /// and bias: for comparisons with other frameworks from equal weights.
    pub fn set_dense(&mut self, index: usize, weight: Vec<f32>, bias: Vec<f32>, device: &Device) {
        if let Some(Layer::Dense(m)) = self.layers.get_mut(index) {
            let [inputs, units] = m.weight.val().dims();
            m.weight = Param::from_tensor(Tensor::from_data(TensorData::new(weight, [inputs, units]), device));
            let n = bias.len();
            m.bias = Some(Param::from_tensor(Tensor::from_data(TensorData::new(bias, [n]), device)));
        }
    }

    /// Dense layer `index`'s weight (`[inputs, units]`, row-major) and bias.
    pub fn dense(&self, index: usize) -> Option<(Vec<f32>, Vec<f32>)> {
        let Some(Layer::Dense(m)) = self.layers.get(index) else { return None };
        let weight = m.weight.val().try_into_vec_as::<f32>().ok()?;
        let bias = m.bias.as_ref().map_or(Some(Vec::new()), |b| b.val().try_into_vec_as::<f32>().ok())?;
        Some((weight, bias))
    }

    /// Batch-norm layer `index`'s running mean and variance.
    pub fn norm_statistics(&self, index: usize) -> Option<(Vec<f32>, Vec<f32>)> {
        let Some(Layer::Norm(m)) = self.layers.get(index) else { return None };
        let mean = m.running_mean.value().try_into_vec_as::<f32>().ok()?;
        Some((mean, m.running_var.value().try_into_vec_as::<f32>().ok()?))
    }

    /// Table `table` of the `embedding` layer at `index` (`[ids, dim]`,
    /// row-major).
    pub fn embedding_table(&self, index: usize, table: usize) -> Option<Vec<f32>> {
        let Some(Layer::Embedding(m)) = self.layers.get(index) else { return None };
        m.tables.get(table)?.weight.val().try_into_vec_as::<f32>().ok()
    }

    /// Replaces table `table` of the `embedding` layer at `index` (`[ids,
    /// dim]`, row-major): for comparisons with other frameworks.
    pub fn set_embedding_table(&mut self, index: usize, table: usize, values: Vec<f32>, device: &Device) {
        if let Some(Layer::Embedding(m)) = self.layers.get_mut(index)
            && let Some(t) = m.tables.get_mut(table)
        {
            let dims = t.weight.dims();
            t.weight = param(values, dims, device);
        }
    }

    /// The table of the tokens' `embedding` at `index` (`[ids, dim]`).
    pub fn token_table(&self, index: usize) -> Option<Vec<f32>> {
        let Some(Layer::TokenEmbedding(m)) = self.layers.get(index) else { return None };
        m.weight.val().try_into_vec_as::<f32>().ok()
    }

    /// Replaces the table of the tokens' `embedding` at `index`: for
    /// comparisons with other frameworks.
    pub fn set_token_table(&mut self, index: usize, values: Vec<f32>, device: &Device) {
        if let Some(Layer::TokenEmbedding(m)) = self.layers.get_mut(index) {
            let dims = m.weight.dims();
            m.weight = param(values, dims, device);
        }
    }

    /// The weight (`[filters, channels, kernel]`, PyTorch's layout) and bias
    /// of the `conv1d` layer at `index`.
    pub fn conv1d(&self, index: usize) -> Option<(Vec<f32>, Vec<f32>)> {
        let Some(Layer::Conv1d(m)) = self.layers.get(index) else { return None };
        let weight = m.weight.val().try_into_vec_as::<f32>().ok()?;
        let bias = m.bias.as_ref().map_or(Some(Vec::new()), |b| b.val().try_into_vec_as::<f32>().ok())?;
        Some((weight, bias))
    }

    /// Replaces the weight and bias of the `conv1d` layer at `index`.
    pub fn set_conv1d(&mut self, index: usize, weight: Vec<f32>, bias: Vec<f32>, device: &Device) {
        if let Some(Layer::Conv1d(m)) = self.layers.get_mut(index) {
            let dims = m.weight.dims();
            m.weight = param(weight, dims, device);
            m.bias = Some(param(bias.clone(), [bias.len()], device));
        }
    }

    /// The `lstm` or `gru` layer at `index` in PyTorch's layout: the
    /// input weights `[gates * units, inputs]`, the hidden weights
    /// `[gates * units, units]` and the two biases, gates in PyTorch's order.
    pub fn recurrent(&self, index: usize) -> Option<[Vec<f32>; 4]> {
        let Some(Layer::Recurrent(r)) = self.layers.get(index) else { return None };
        let mut out: [Vec<f32>; 4] = Default::default();
        for gate in r.gates() {
            for (weights, biases, linear) in [(0, 2, &gate.input_transform), (1, 3, &gate.hidden_transform)] {
                // Burn keeps `[in, out]`: PyTorch's rows are its columns.
                out[weights].extend(linear.weight.val().transpose().try_into_vec_as::<f32>().ok()?);
                out[biases].extend(linear.bias.as_ref()?.val().try_into_vec_as::<f32>().ok()?);
            }
        }
        Some(out)
    }

    /// Replaces the `lstm` or `gru` layer at `index`'s weights, given in
    /// PyTorch's layout (see [`Net::recurrent`]).
    pub fn set_recurrent(&mut self, index: usize, torch: [Vec<f32>; 4], device: &Device) {
        let Some(Layer::Recurrent(r)) = self.layers.get_mut(index) else { return };
        for (g, gate) in r.gates_mut().into_iter().enumerate() {
            let [input, hidden, input_bias, hidden_bias] = &torch;
            let pairs =
                [(input, input_bias, &mut gate.input_transform), (hidden, hidden_bias, &mut gate.hidden_transform)];
            for (weights, biases, linear) in pairs {
                let [inputs, units] = linear.weight.dims();
                // Gate `g`'s rows: `units` rows of `inputs` values.
                let rows = weights.chunks(inputs.saturating_mul(units).max(1)).nth(g).unwrap_or_default().to_vec();
                let weight = Tensor::<2>::from_data(TensorData::new(rows, [units, inputs]), device).transpose();
                linear.weight = Param::from_tensor(weight);
                let bias = biases.chunks(units.max(1)).nth(g).unwrap_or_default().to_vec();
                linear.bias = Some(param(bias, [units], device));
            }
        }
    }

    /// The layer at `path` (indices into the network, then into residual
    /// blocks).
    fn at(&self, path: &[usize]) -> Option<&Layer> {
        let (first, rest) = path.split_first()?;
        rest.iter().try_fold(self.layers.get(*first)?, |layer, i| match layer {
            Layer::Residual(b) => b.layers.get(*i),
            _ => None,
        })
    }

    fn at_mut(&mut self, path: &[usize]) -> Option<&mut Layer> {
        let (first, rest) = path.split_first()?;
        let mut layer = self.layers.get_mut(*first)?;
        for i in rest {
            layer = match layer {
                Layer::Residual(b) => b.layers.get_mut(*i)?,
                _ => return None,
            };
        }
        Some(layer)
    }

    /// The parameters of the dense, layer-norm or attention layer at
    /// `path`, in Burn's layout: a dense layer's `[weight [in, out], bias]`,
    /// a layer norm's `[gamma, beta]`, attention's query, key, value and
    /// output weights and biases. For comparisons with other frameworks.
    pub fn parameters_at(&self, path: &[usize]) -> Option<Vec<Vec<f32>>> {
        let values = |t: Tensor<2>| t.try_into_vec_as::<f32>().ok();
        let vector = |t: Tensor<1>| t.try_into_vec_as::<f32>().ok();
        let linear = |l: &Linear| Some(vec![values(l.weight.val())?, vector(l.bias.as_ref()?.val())?]);
        match self.at(path)? {
            Layer::Dense(m) => linear(m),
            Layer::LayerNorm(m) => Some(vec![vector(m.gamma.val())?, vector(m.beta.as_ref()?.val())?]),
            Layer::Attention(m) => {
                let parts = [&m.query, &m.key, &m.value, &m.output].into_iter().map(linear);
                Some(parts.collect::<Option<Vec<_>>>()?.concat())
            }
            _ => None,
        }
    }

    /// Replaces the parameters of the layer at `path`, given as
    /// [`Net::parameters_at`] gives them.
    pub fn set_parameters_at(&mut self, path: &[usize], values: Vec<Vec<f32>>, device: &Device) {
        let mut values = values.into_iter();
        let set_linear = |l: &mut Linear, values: &mut std::vec::IntoIter<Vec<f32>>| {
            let dims = l.weight.dims();
            if let (Some(w), Some(b)) = (values.next(), values.next()) {
                l.weight = param(w, dims, device);
                l.bias = Some(param(b.clone(), [b.len()], device));
            }
        };
        match self.at_mut(path) {
            Some(Layer::Dense(m)) => set_linear(m, &mut values),
            Some(Layer::LayerNorm(m)) => {
                if let (Some(g), Some(b)) = (values.next(), values.next()) {
                    m.gamma = param(g.clone(), [g.len()], device);
                    m.beta = Some(param(b.clone(), [b.len()], device));
                }
            }
            Some(Layer::Attention(m)) => {
                for linear in [&mut m.query, &mut m.key, &mut m.value, &mut m.output] {
                    set_linear(linear, &mut values);
                }
            }
            _ => {}
        }
    }

    /// The learned slopes of the `prelu` layer at `index`.
    pub fn slopes(&self, index: usize) -> Option<Tensor<1>> {
        let Some(Layer::PRelu(m)) = self.layers.get(index) else { return None };
        Some(m.alpha.val())
    }

    /// Batch-norm layer `index`'s scale and shift.
    pub fn norm(&self, index: usize) -> Option<(Vec<f32>, Vec<f32>)> {
        let Some(Layer::Norm(m)) = self.layers.get(index) else { return None };
        Some((m.gamma.val().try_into_vec_as::<f32>().ok()?, m.beta.val().try_into_vec_as::<f32>().ok()?))
    }
}

impl Net {
    /// The dropout layers' generator states, in order (saved in checkpoints
    /// so a resumed run draws the masks an uninterrupted one would).
    pub fn dropout_states(&self) -> Vec<u64> {
        fn collect(layers: &[Layer], out: &mut Vec<u64>) {
            for layer in layers {
                match layer {
                    Layer::Dropout(d) => out.push(d.state.load(std::sync::atomic::Ordering::Relaxed)),
                    Layer::Residual(b) => collect(&b.layers, out),
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        collect(&self.layers, &mut out);
        out
    }

    /// Whether a layer normalizes by batch statistics (a batch norm, also
    /// inside a residual block).
    pub fn has_batch_norm(&self) -> bool {
        fn any(layers: &[Layer]) -> bool {
            layers.iter().any(|layer| match layer {
                Layer::Norm(_) => true,
                Layer::Residual(b) => any(&b.layers),
                _ => false,
            })
        }
        any(&self.layers)
    }

    /// The same network with batch norms' running statistics of its own.
    /// Burn's `RunningState` is shared by clones of a module and keeps one
    /// update per thread, averaged when read: a data-parallel copy updating
    /// it from its own thread was averaged into the first device's, in
    /// whatever order the threads got there (runs differed). A copy's own
    /// statistics are dropped with it, so the first device's are kept.
    pub fn own_running_stats(mut self) -> Self {
        fn own(layers: &mut [Layer]) {
            for layer in layers {
                match layer {
                    Layer::Norm(m) => {
                        m.running_mean = burn::module::RunningState::new(m.running_mean.value_sync());
                        m.running_var = burn::module::RunningState::new(m.running_var.value_sync());
                    }
                    Layer::Residual(b) => own(&mut b.layers),
                    _ => {}
                }
            }
        }
        own(&mut self.layers);
        self
    }

    /// The same network with dropout streams of its own, derived from the
    /// current ones and `salt` (a copy on another device draws masks of its
    /// own, repeatably).
    pub fn reseed_dropout(mut self, salt: u64) -> Self {
        fn reseed(layers: &mut [Layer], salt: u64) {
            for layer in layers {
                match layer {
                    Layer::Dropout(d) => {
                        let state = d.state.load(std::sync::atomic::Ordering::Relaxed);
                        let own = state ^ salt.wrapping_mul(0xD6E8_FEB8_6659_FD93);
                        d.state = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(own));
                    }
                    Layer::Residual(b) => reseed(&mut b.layers, salt),
                    _ => {}
                }
            }
        }
        reseed(&mut self.layers, salt);
        self
    }

    /// Restores what [`Net::dropout_states`] returned.
    pub fn set_dropout_states(&self, states: &[u64]) {
        fn restore(layers: &[Layer], states: &mut std::slice::Iter<u64>) {
            for layer in layers {
                match layer {
                    Layer::Dropout(d) => {
                        if let Some(s) = states.next() {
                            d.state.store(*s, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    Layer::Residual(b) => restore(&b.layers, states),
                    _ => {}
                }
            }
        }
        restore(&self.layers, &mut states.iter());
    }
}

/// Burn's record error in words, without its debug form (`Io("...")`).
pub fn record_error(e: burn::store::RecordError) -> String {
    match e {
        burn::store::RecordError::Io(reason) | burn::store::RecordError::Validation(reason) => reason,
    }
}

/// Writes a network's weights to `path` (Burn's record format).
pub fn save_weights(net: &Net, path: &std::path::Path) -> Result<(), String> {
    net.clone().save_file(path).map_err(record_error)
}
