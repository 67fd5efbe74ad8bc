//! Batch normalization in training on flex: the batch statistics, the
//! output and the three gradients in two passes over the tensor each.
//!
//! Why: Burn's generic `batch_norm_train` and its backward swap the batch
//! and channel dimensions and reshape (copies of the whole activation) for
//! each mean, and build the gradient from a dozen whole-tensor operations:
//! 4.9 ms forward and backward for the digits CNN's second layer against
//! PyTorch's 2.4 (bench/README.md, `conv.rs`). Here one pass sums each
//! channel's values and squares (in f64), one writes the output; the
//! backward sums each channel's `dy` and `dy * x̂`, then writes `dx`.
//!
//! The statistics and the running averages are Burn's: the biased batch
//! variance normalizes and enters the running variance, `momentum` weighs
//! the new batch (`BatchNorm::forward`). Under mixed precision the layer
//! computes in f32 (`model.rs` casts its input), so these kernels run there
//! too. On libtorch, training runs libtorch's own batch norm
//! (`norm_torch.rs`, in a `tch` build). Inference, frozen layers, rows
//! [N, C] on flex, other backends and half tensors keep Burn's layer.

#![expect(clippy::arithmetic_side_effects, reason = "offsets inside tensors whose sizes Burn allocated and checked")]

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, AutodiffBackend, Flex, TensorMetadata};
use burn::nn::BatchNorm;
use burn::tensor::Tensor;
use rayon::prelude::*;

use super::flex::{OnFlex, contiguous, on_flex, primitive, values};

/// A `batchnorm` layer applied to `x` [N, C, ...]: `BatchNorm::forward`,
/// with the training pass through the flex kernels below where they apply.
pub fn layer<const D: usize>(m: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    let device = x.device();
    let trained = match flex_parts(m, &x) {
        Some((xf, gamma, beta)) => Some(train(xf, gamma, beta, m.epsilon)),
        None => training(m, &x).then(|| torch_train(&x, m)).flatten(),
    };
    let Some((output, mean, variance)) = trained else {
        return m.forward(x);
    };
    // As `BatchNorm::forward_train` updates them.
    let running_mean = m.running_mean.value_sync().to_device(&device);
    let running_var = m.running_var.value_sync().to_device(&device);
    let running_mean = running_mean.mul_scalar(1.0 - m.momentum).add(mean.detach().mul_scalar(m.momentum));
    let running_var = running_var.mul_scalar(1.0 - m.momentum).add(variance.detach().mul_scalar(m.momentum));
    m.running_mean.update(running_mean.detach());
    m.running_var.update(running_var.detach());
    output
}

/// Training on libtorch's own kernels (`norm_torch.rs`).
#[cfg(feature = "tch")]
fn torch_train<const D: usize>(x: &Tensor<D>, m: &BatchNorm) -> Option<(Tensor<D>, Tensor<1>, Tensor<1>)> {
    super::norm_torch::train(x, &m.gamma.val(), &m.beta.val(), m.epsilon)
}

/// Without libtorch there is none.
#[cfg(not(feature = "tch"))]
fn torch_train<const D: usize>(_: &Tensor<D>, _: &BatchNorm) -> Option<(Tensor<D>, Tensor<1>, Tensor<1>)> {
    None
}

/// Whether [`layer`] runs `x` through the kernels below: training (an
/// autodiff device and a layer not frozen), f32 on flex, a channel per
/// gamma, a non-empty batch, and more than one value per channel and
/// sample (rows [N, C] keep Burn's layer, whose column sums suit them).
pub fn runs_natively<const D: usize>(m: &BatchNorm, x: &Tensor<D>) -> bool {
    flex_parts(m, x).is_some()
}

/// Whether the layer trains on this batch (as `BatchNorm::forward` decides).
fn training<const D: usize>(m: &BatchNorm, x: &Tensor<D>) -> bool {
    x.device().is_autodiff() && m.training.is_enabled()
}

/// The flex primitives of `x`, gamma and beta, where the kernels below take
/// them (see [`runs_natively`]).
fn flex_parts<const D: usize>(m: &BatchNorm, x: &Tensor<D>) -> Option<(OnFlex, OnFlex, OnFlex)> {
    let dims = x.dims();
    let gamma = m.gamma.val();
    let fits = D >= 3
        && dims[0] > 0
        && dims[1] == gamma.dims()[0]
        && dims[2..].iter().product::<usize>() > 1
        && training(m, x);
    if !fits {
        return None;
    }
    Some((on_flex(x)?, on_flex(&gamma)?, on_flex(&m.beta.val())?))
}

/// A tensor laid out [N, C, S]: batch, channels, values per channel and sample.
#[derive(Clone, Copy, Debug)]
struct Layout {
    batch: usize,
    channels: usize,
    /// Values per channel per sample (height x width for images, 1 for rows).
    spatial: usize,
}

impl Layout {
    fn of(shape: &[usize]) -> Layout {
        Layout { batch: shape[0], channels: shape[1], spatial: shape[2..].iter().product() }
    }

    /// Values per channel over the batch.
    fn count(&self) -> usize {
        self.batch * self.spatial
    }

    /// Per channel, the two values `f` gives summed (in f64) over the
    /// channel's values of `a` and `b` (the same layout), every channel in
    /// parallel. Eight partial sums per value, so the loop vectorizes.
    fn per_channel(&self, a: &[f32], b: &[f32], f: impl Fn(f32, f32, usize) -> [f64; 2] + Sync) -> Vec<[f64; 2]> {
        const LANES: usize = 8;
        (0..self.channels)
            .into_par_iter()
            .map(|c| {
                let (mut first, mut second) = ([0.0f64; LANES], [0.0f64; LANES]);
                for n in 0..self.batch {
                    let at = (n * self.channels + c) * self.spatial;
                    let (xs, ys) = (&a[at..at + self.spatial], &b[at..at + self.spatial]);
                    let mut chunks = xs.chunks_exact(LANES).zip(ys.chunks_exact(LANES));
                    for (xs, ys) in &mut chunks {
                        for lane in 0..LANES {
                            let [u, v] = f(xs[lane], ys[lane], c);
                            first[lane] += u;
                            second[lane] += v;
                        }
                    }
                    let tail = self.spatial - self.spatial % LANES;
                    for (lane, (&x, &y)) in xs[tail..].iter().zip(&ys[tail..]).enumerate() {
                        let [u, v] = f(x, y, c);
                        first[lane] += u;
                        second[lane] += v;
                    }
                }
                [first.iter().sum(), second.iter().sum()]
            })
            .collect()
    }

    /// A new tensor's values, `f(value of a, value of b, channel)` at each
    /// position, written in parallel.
    fn map(&self, a: &[f32], b: &[f32], f: impl Fn(f32, f32, usize) -> f32 + Sync) -> Vec<f32> {
        let mut out = vec![0.0f32; a.len()];
        let sample = self.channels * self.spatial;
        out.par_chunks_mut(sample).enumerate().for_each(|(n, out)| {
            for (c, out) in out.chunks_mut(self.spatial).enumerate() {
                let at = n * sample + c * self.spatial;
                for ((o, &x), &y) in out.iter_mut().zip(&a[at..at + self.spatial]).zip(&b[at..at + self.spatial]) {
                    *o = f(x, y, c);
                }
            }
        });
        out
    }
}

/// The normalized output (in the autodiff graph), and the batch's mean and
/// biased variance per channel (constants).
fn train<const D: usize>(x: OnFlex, gamma: OnFlex, beta: OnFlex, epsilon: f64) -> (Tensor<D>, Tensor<1>, Tensor<1>) {
    let (x, gamma, beta) = (x.tracked(), gamma.tracked(), beta.tracked());
    // Copied once if strided (a sequence's swapped dimensions), for the
    // statistics, the output and the backward.
    let values_of_x = contiguous(x.primitive());
    let stats = Stats::of(&values_of_x, epsilon);
    let constant = |v: &[f32]| {
        Tensor::<1>::from_primitive::<Autodiff<Flex>>(Autodiff::<Flex>::from_inner(primitive(v.to_vec(), &[v.len()])))
    };
    let (mean, variance) = (constant(&stats.mean), constant(&stats.variance));
    let output = normalize(&values_of_x, gamma.primitive(), beta.primitive(), &stats);
    let output =
        match NormBackward.prepare::<NoCheckpointing>([x.node(), gamma.node(), beta.node()]).compute_bound().stateful()
        {
            OpsKind::Tracked(prep) => {
                let state = State { x: values_of_x, gamma: gamma.primitive().clone(), stats };
                prep.finish(state, output)
            }
            OpsKind::UnTracked(prep) => prep.finish(output),
        };
    (Tensor::from_primitive::<Autodiff<Flex>>(output), mean, variance)
}

/// A batch's statistics per channel.
#[derive(Clone, Debug)]
struct Stats {
    mean: Vec<f32>,
    variance: Vec<f32>,
    /// 1 / sqrt(variance + epsilon)
    inv_std: Vec<f32>,
}

impl Stats {
    /// The mean and biased variance of each channel of `x` [N, C, ...].
    fn of(x: &FlexTensor, epsilon: f64) -> Stats {
        let x = contiguous(x);
        let layout = Layout::of(&x.shape());
        let xs = values(&x);
        let count = layout.count() as f64;
        // One pass: sums and squares of each value less the channel's first
        // value (in f64, and shifted so a mean far from zero loses nothing
        // to cancellation).
        let shift: Vec<f32> = (0..layout.channels).map(|c| xs[c * layout.spatial]).collect();
        let sums = layout.per_channel(xs, xs, |v, _, c| {
            let d = f64::from(v) - f64::from(shift[c]);
            [d, d * d]
        });
        let means: Vec<f64> = sums.iter().zip(&shift).map(|(s, &k)| f64::from(k) + s[0] / count).collect();
        let variances: Vec<f64> =
            // Rounding can leave a constant channel's variance a hair below
            // zero; a NaN stays NaN (the loss shows the divergence).
            sums.iter()
                .map(|s| s[1] / count - (s[0] / count) * (s[0] / count))
                .map(|v| if v < 0.0 { 0.0 } else { v })
                .collect();
        Stats {
            mean: means.iter().map(|&m| m as f32).collect(),
            variance: variances.iter().map(|&v| v as f32).collect(),
            inv_std: variances.iter().map(|&v| (1.0 / (v + epsilon).sqrt()) as f32).collect(),
        }
    }
}

/// `(x - mean) * inv_std * gamma + beta`, per channel.
fn normalize(x: &FlexTensor, gamma: &FlexTensor, beta: &FlexTensor, stats: &Stats) -> FlexTensor {
    let (x, gamma, beta) = (contiguous(x), contiguous(gamma), contiguous(beta));
    let shape = x.shape();
    let layout = Layout::of(&shape);
    let (xs, g, b) = (values(&x), values(&gamma), values(&beta));
    let scale: Vec<f32> = g.iter().zip(&stats.inv_std).map(|(g, s)| g * s).collect();
    let out = layout.map(xs, xs, |v, _, c| (v - stats.mean[c]) * scale[c] + b[c]);
    primitive(out, &shape)
}

/// The batch norm's backward: its parents are the input, gamma and beta.
#[derive(Debug)]
struct NormBackward;

/// The input and gamma as the forward saw them, and its statistics.
#[derive(Clone, Debug)]
struct State {
    x: FlexTensor,
    gamma: FlexTensor,
    stats: Stats,
}

impl Backward<Flex, 3> for NormBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let [x_node, gamma_node, beta_node] = ops.parents;
        let State { x, gamma, stats } = ops.state;
        let (x, gamma, dy) = (contiguous(&x), contiguous(&gamma), contiguous(&grad));
        let shape = x.shape();
        let layout = Layout::of(&shape);
        let (xs, g, dys) = (values(&x), values(&gamma), values(&dy));
        // Per channel: sum(dy) (beta's gradient) and sum(dy * x̂) (gamma's).
        let sums = layout.per_channel(xs, dys, |v, d, c| {
            let hat = (v - stats.mean[c]) * stats.inv_std[c];
            [f64::from(d), f64::from(d) * f64::from(hat)]
        });
        let count = layout.count() as f64;
        if let Some(node) = x_node {
            // dx = gamma * inv_std * (dy - mean(dy) - x̂ * mean(dy * x̂))
            let mean_dy: Vec<f32> = sums.iter().map(|s| (s[0] / count) as f32).collect();
            let mean_dy_hat: Vec<f32> = sums.iter().map(|s| (s[1] / count) as f32).collect();
            let scale: Vec<f32> = g.iter().zip(&stats.inv_std).map(|(g, s)| g * s).collect();
            let dx = layout.map(xs, dys, |v, d, c| {
                let hat = (v - stats.mean[c]) * stats.inv_std[c];
                scale[c] * (d - mean_dy[c] - hat * mean_dy_hat[c])
            });
            grads.register::<Flex>(node.id, primitive(dx, &shape));
        }
        if let Some(node) = gamma_node {
            let dgamma: Vec<f32> = sums.iter().map(|s| s[1] as f32).collect();
            grads.register::<Flex>(node.id, primitive(dgamma, &[layout.channels]));
        }
        if let Some(node) = beta_node {
            let dbeta: Vec<f32> = sums.iter().map(|s| s[0] as f32).collect();
            grads.register::<Flex>(node.id, primitive(dbeta, &[layout.channels]));
        }
    }
}
