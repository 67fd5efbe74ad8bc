//! Optimizers from the file's settings, with PyTorch's defaults where Burn's
//! differ (Adam's epsilon 1e-8, SGD without dampening, RMSprop without
//! momentum).

use burn::grad_clipping::GradientClippingConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer, RmsPropConfig, SgdConfig};

use crate::ir::{Optimizer, TrainSettings};

/// The learning rate when the file gives none.
pub const DEFAULT_LR: f64 = 1e-3;

/// The optimizer (Adam with lr 1e-3 when the file names none) and its rate.
pub fn build(settings: &TrainSettings) -> (ModuleOptimizer, f64) {
    let adam = Optimizer::named("adam", None);
    let o = settings.optimizer.as_ref().unwrap_or(&adam);
    let clip = settings.clip.as_ref().map(|(kind, limit)| match kind.as_str() {
        "value" => GradientClippingConfig::Value(*limit as f32),
        _ => GradientClippingConfig::Norm(*limit as f32),
    });
    let decay = o.weight_decay.map(|w| WeightDecayConfig::new(w as f32));
    let eps = o.eps.unwrap_or(1e-8) as f32;
    let optimizer = match o.name.as_str() {
        "sgd" => {
            let momentum = o
                .momentum
                .filter(|m| *m > 0.0)
                .map(|m| MomentumConfig::new().with_momentum(m).with_dampening(0.0).with_nesterov(o.nesterov));
            SgdConfig::new().with_momentum(momentum).with_weight_decay(decay).with_gradient_clipping(clip).init()
        }
        "adamw" => AdamWConfig::new()
            .with_beta_1(o.beta1.unwrap_or(0.9) as f32)
            .with_beta_2(o.beta2.unwrap_or(0.999) as f32)
            .with_epsilon(eps)
            .with_weight_decay(o.weight_decay.unwrap_or(0.01) as f32)
            .with_grad_clipping(clip)
            .init(),
        "rmsprop" => RmsPropConfig::new()
            .with_alpha(o.alpha.unwrap_or(0.99) as f32)
            .with_momentum(o.momentum.unwrap_or(0.0) as f32)
            .with_epsilon(eps)
            .with_weight_decay(decay)
            .with_grad_clipping(clip)
            .init(),
        _ => AdamConfig::new()
            .with_beta_1(o.beta1.unwrap_or(0.9) as f32)
            .with_beta_2(o.beta2.unwrap_or(0.999) as f32)
            .with_epsilon(eps)
            .with_weight_decay(decay)
            .with_grad_clipping(clip)
            .init(),
    };
    (optimizer, o.lr.unwrap_or(DEFAULT_LR))
}
