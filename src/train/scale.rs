//! Dynamic loss scaling for f16 training (PyTorch's `GradScaler`): the
//! loss is multiplied by a large scale before the backward pass so small
//! gradients do not vanish in f16, and the gradients are divided by it
//! before the step. A step whose gradients overflowed is skipped and the
//! scale halved; after a run of good steps the scale doubles.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

use crate::train::model::{Net, Precision};

/// PyTorch's defaults: initial scale 2^16, doubled after 2000 good steps.
const INITIAL_SCALE: f64 = 65536.0;
const GROWTH_INTERVAL: u32 = 2000;

/// The current scale and how many steps in a row were finite.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LossScale {
    /// What the loss is multiplied by.
    pub scale: f64,
    good_steps: u32,
    /// Steps skipped because their gradients overflowed.
    pub skipped: u64,
}

impl LossScale {
    /// A scaler for f16; bf16 (f32's range) and f32 need none.
    pub fn for_precision(precision: Precision) -> Option<Self> {
        (precision == Precision::F16).then_some(LossScale { scale: INITIAL_SCALE, good_steps: 0, skipped: 0 })
    }

    /// Divides `grads` by the scale. Returns false, halving the scale, when
    /// any gradient is not finite: the step must then be skipped.
    pub fn unscale(&mut self, net: &Net, grads: &mut GradientsParams) -> bool {
        let mut visitor = Unscale { grads, factor: 1.0 / self.scale, total: None };
        net.visit(&mut visitor);
        // One read back for the whole step: an inf or NaN anywhere makes
        // the sum of every gradient one too.
        let finite = visitor.total.is_none_or(|t| t.into_scalar::<f64>().is_finite());
        if finite {
            self.good_steps = self.good_steps.saturating_add(1);
            if self.good_steps == GROWTH_INTERVAL {
                self.scale *= 2.0;
                self.good_steps = 0;
            }
        } else {
            self.scale = (self.scale / 2.0).max(1.0);
            self.good_steps = 0;
            self.skipped = self.skipped.saturating_add(1);
        }
        finite
    }
}

struct Unscale<'a> {
    grads: &'a mut GradientsParams,
    factor: f64,
    /// The sum of every gradient value so far.
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for Unscale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            let grad = grad * self.factor;
            let sum = grad.clone().sum();
            self.total = Some(match self.total.take() {
                Some(total) => total + sum,
                None => sum,
            });
            self.grads.register(param.id, grad);
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, TensorData};

    use super::*;
    use crate::ir::{LayerKind, Model, ModelLayer, Shape};
    use crate::train::model::X;

    fn net(device: &Device) -> Net {
        let dense = ModelLayer {
            name: None,
            kind: LayerKind::Dense { units: 2, init: None, l2: None },
            input: Shape::Flat(3),
            output: Shape::Flat(2),
        };
        let model = Model {
            layers: vec![dense],
            input: Shape::Flat(3),
            output: Shape::Flat(2),
            frozen_until: None,
            pretrained: None,
        };
        Net::new(&model, device, 1)
    }

    /// The gradient of `sum(net(x)) * factor`, as a flat list per parameter.
    fn gradients(net: &Net, factor: f32, device: &Device) -> GradientsParams {
        let x = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, -2.0, 0.5, 3.0, 0.25, -1.0], [2, 3]), device);
        let out = net.forward(X::Flat(x)).flat().sum() * factor;
        GradientsParams::from_grads(out.backward(), net)
    }

    fn flat(net: &Net, grads: &GradientsParams) -> Vec<f32> {
        struct Collect<'a>(&'a GradientsParams, Vec<f32>);
        impl ModuleVisitor for Collect<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                if let Some(g) = self.0.get::<D>(param.id) {
                    self.1.extend(g.try_into_vec_as::<f32>().unwrap());
                }
            }
        }
        let mut collect = Collect(grads, Vec::new());
        net.visit(&mut collect);
        collect.1
    }

    #[test]
    fn scaled_gradients_are_divided_back_to_the_unscaled_ones() {
        let device = Device::flex().autodiff();
        let net = net(&device);
        let plain = flat(&net, &gradients(&net, 1.0, &device));
        let mut scaler = LossScale::for_precision(Precision::F16).unwrap();
        let mut scaled = gradients(&net, scaler.scale as f32, &device);
        assert!(scaler.unscale(&net, &mut scaled));
        let unscaled = flat(&net, &scaled);
        assert_eq!(unscaled.len(), 8, "2x3 weights and 2 biases");
        for (a, b) in unscaled.iter().zip(&plain) {
            assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{a} != {b}");
        }
    }

    #[test]
    fn an_overflow_skips_the_step_and_halves_the_scale_and_good_steps_double_it() {
        let device = Device::flex().autodiff();
        let net = net(&device);
        let mut scaler = LossScale::for_precision(Precision::F16).unwrap();
        // 2^16 * 1e36 overflows f32.
        let mut overflowed = gradients(&net, 1e36 * scaler.scale as f32, &device);
        assert!(!scaler.unscale(&net, &mut overflowed));
        assert_eq!((scaler.scale, scaler.skipped), (32768.0, 1));
        for _ in 0..GROWTH_INTERVAL {
            let mut good = gradients(&net, scaler.scale as f32, &device);
            assert!(scaler.unscale(&net, &mut good));
        }
        assert_eq!(scaler.scale, 65536.0, "doubled after {GROWTH_INTERVAL} good steps");
        assert_eq!(LossScale::for_precision(Precision::BF16), None, "bf16 has f32's range: no scaling");
    }
}
