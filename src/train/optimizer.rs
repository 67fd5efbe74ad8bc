//! Optimizers from the file's settings, with PyTorch's defaults where Burn's
//! differ (Adam's epsilon 1e-8, Adagrad's 1e-10, SGD without dampening,
//! RMSprop without momentum).

use burn::grad_clipping::GradientClippingConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdaGradConfig, AdamConfig, AdamWConfig, LionConfig, ModuleOptimizer, RmsPropConfig, SgdConfig};

use crate::ir::{Clip, OptimizerKind, TrainSettings};

/// The optimizer the settings name, and its learning rate.
pub fn build(settings: &TrainSettings) -> (ModuleOptimizer, f64) {
    let o = &settings.optimizer;
    let clip = settings.clip.map(|clip| match clip {
        Clip::Value(limit) => GradientClippingConfig::Value(limit as f32),
        Clip::Norm(limit) => GradientClippingConfig::Norm(limit as f32),
    });
    // No decay term at all for 0: the same numbers, fewer operations.
    let decay = (o.weight_decay > 0.0).then(|| WeightDecayConfig::new(o.weight_decay as f32));
    let eps = o.eps as f32;
    let optimizer = match o.kind {
        OptimizerKind::Sgd => {
            let momentum = (o.momentum > 0.0)
                .then(|| MomentumConfig::new().with_momentum(o.momentum).with_dampening(0.0).with_nesterov(o.nesterov));
            SgdConfig::new().with_momentum(momentum).with_weight_decay(decay).with_gradient_clipping(clip).init()
        }
        OptimizerKind::AdamW => AdamWConfig::new()
            .with_beta_1(o.beta1 as f32)
            .with_beta_2(o.beta2 as f32)
            .with_epsilon(eps)
            .with_weight_decay(o.weight_decay as f32)
            .with_grad_clipping(clip)
            .init(),
        OptimizerKind::RmsProp => RmsPropConfig::new()
            .with_alpha(o.alpha as f32)
            .with_momentum(o.momentum as f32)
            .with_epsilon(eps)
            .with_weight_decay(decay)
            .with_grad_clipping(clip)
            .init(),
        OptimizerKind::Adagrad => {
            AdaGradConfig::new().with_epsilon(eps).with_weight_decay(decay).with_grad_clipping(clip).init()
        }
        OptimizerKind::Lion => LionConfig::new()
            .with_beta_1(o.beta1 as f32)
            .with_beta_2(o.beta2 as f32)
            .with_weight_decay(o.weight_decay as f32)
            .with_grad_clipping(clip)
            .init(),
        OptimizerKind::Adam => AdamConfig::new()
            .with_beta_1(o.beta1 as f32)
            .with_beta_2(o.beta2 as f32)
            .with_epsilon(eps)
            .with_weight_decay(decay)
            .with_grad_clipping(clip)
            .init(),
    };
    (optimizer, o.lr)
}
