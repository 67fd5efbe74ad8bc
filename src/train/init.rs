//! Initial weights, drawn by the network's own seeded generator.
//!
//! Burn's initialisers draw from the backend's one global generator, which
//! every training in the process shares: two trainings at once (the LSP,
//! `pipe watch`, tests running in parallel) interleave their draws, and a
//! seeded run no longer repeats. So every value is drawn here, with the
//! formulas of PyTorch's `nn.init` (which Burn's initialisers also follow).

use crate::ir::Init;
use crate::random::Rng;

/// How the values of one weight tensor are drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Draw {
    /// Uniform in `[-bound, bound]`.
    Uniform(f64),
    /// Normal with mean 0 and this standard deviation.
    Normal(f64),
    /// Normal redrawn until within two standard deviations of its mean.
    Truncated {
        /// The mean.
        mean: f64,
        /// The standard deviation before truncation.
        std: f64,
    },
    /// Every value the same.
    Constant(f64),
}

/// How a layer's weights and bias are drawn for `init` (`None`: PyTorch's
/// default for `nn.Linear` and `nn.Conv2d`, uniform within `1/sqrt(fan_in)`
/// for both), given the layer's fans. A named initialiser gives a zero bias,
/// as Keras does.
pub fn draws(init: Option<&Init>, fan_in: usize, fan_out: usize) -> (Draw, Draw) {
    let (fan_in, fan_out) = (fan_in.max(1) as f64, fan_out.max(1) as f64);
    let Some(init) = init else {
        let bound = 1.0 / fan_in.sqrt();
        return (Draw::Uniform(bound), Draw::Uniform(bound));
    };
    let weight = match init {
        Init::HeNormal => Draw::Normal((2.0 / fan_in).sqrt()),
        Init::HeUniform => Draw::Uniform((6.0 / fan_in).sqrt()),
        Init::GlorotNormal => Draw::Normal((2.0 / (fan_in + fan_out)).sqrt()),
        Init::GlorotUniform => Draw::Uniform((6.0 / (fan_in + fan_out)).sqrt()),
        Init::Zeros => Draw::Constant(0.0),
        Init::Constant(v) => Draw::Constant(*v),
        Init::TruncatedNormal { mean, std } => Draw::Truncated { mean: *mean, std: *std },
    };
    (weight, Draw::Constant(0.0))
}

/// `n` values drawn as `draw` says.
pub fn values(draw: Draw, n: usize, rng: &mut Rng) -> Vec<f32> {
    match draw {
        Draw::Uniform(bound) => (0..n).map(|_| ((2.0 * unit(rng) - 1.0) * bound) as f32).collect(),
        Draw::Normal(std) => (0..n).map(|_| (std * standard_normal(rng)) as f32).collect(),
        Draw::Truncated { mean, std } => truncated_normal(n, mean, std, rng),
        Draw::Constant(v) => vec![v as f32; n],
    }
}

/// `n` draws of a normal distribution, each redrawn until it lies within
/// two standard deviations of the mean (Keras' and PyTorch's truncation).
pub fn truncated_normal(n: usize, mean: f64, std: f64, rng: &mut Rng) -> Vec<f32> {
    (0..n)
        .map(|_| {
            loop {
                let z = standard_normal(rng);
                if z.abs() <= 2.0 {
                    break (mean + std * z) as f32;
                }
            }
        })
        .collect()
}

/// A number in the open interval (0, 1), from 53 random bits.
fn unit(rng: &mut Rng) -> f64 {
    ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// A standard normal draw (Box-Muller, the cosine half).
fn standard_normal(rng: &mut Rng) -> f64 {
    let (u1, u2) = (unit(rng), unit(rng));
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}
