//! Batch normalization in training on libtorch (`torch.cpu`,
//! `torch.cuda`): libtorch's own kernels (`native_batch_norm`, and its
//! backward through libtorch's autograd; cuDNN's on a GPU) as one Burn
//! autodiff operation.
//!
//! Why: Burn's generic `batch_norm_train` composes it from a dozen tensor
//! operations, with swaps and reshapes that copy the activation.
//!
//! The statistics are the same as Burn's: the biased batch variance (from
//! libtorch's saved inverse deviation) feeds the running average.

#![allow(deprecated)] // Burn marks its libtorch backend deprecated in 0.22.
#![expect(clippy::arithmetic_side_effects, reason = "libtorch tensor arithmetic, no integers")]

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::libtorch::TchTensor;
use burn::backend::{Autodiff, AutodiffBackend, LibTorch};
use burn::tensor::Tensor;

use super::torch_grad::{Primitive, TorchState, backward, on_torch};

/// A tensor's libtorch primitive in the autodiff graph, if it is f32.
fn f32_on_torch<const D: usize>(t: &Tensor<D>) -> Option<Primitive> {
    on_torch(t).filter(|p| p.primitive().tensor.kind() == tch::Kind::Float)
}

/// The normalized output (in the autodiff graph) and the batch's mean and
/// biased variance per channel (constants), if `x`, `gamma` and `beta` are
/// f32 tensors on libtorch.
pub fn train<const D: usize>(
    x: &Tensor<D>,
    gamma: &Tensor<1>,
    beta: &Tensor<1>,
    epsilon: f64,
) -> Option<(Tensor<D>, Tensor<1>, Tensor<1>)> {
    let (x, gamma, beta) = (f32_on_torch(x)?, f32_on_torch(gamma)?, f32_on_torch(beta)?);
    // Leaves of libtorch's own graph, sharing the tensors' storage.
    let leaf = |t: &TchTensor| t.tensor.detach().set_requires_grad(true);
    let (xt, gt, bt) = (leaf(x.primitive()), leaf(gamma.primitive()), leaf(beta.primitive()));
    let (y, mean, invstd) =
        tch::with_grad(|| xt.native_batch_norm(Some(&gt), Some(&bt), None::<&tch::Tensor>, None, true, 0.0, epsilon));
    let variance = tch::no_grad(|| invstd.pow_tensor_scalar(-2.0) - epsilon);
    let output = TchTensor::new(y.detach());
    let mean = TchTensor::new(mean);
    // libtorch's graph saved these.
    let pinned = vec![x.primitive().clone(), gamma.primitive().clone(), beta.primitive().clone(), mean.clone()];
    let constant =
        |t: TchTensor| Tensor::<1>::from_primitive::<Autodiff<LibTorch>>(Autodiff::<LibTorch>::from_inner(t));
    let output = match TorchNormBackward
        .prepare::<NoCheckpointing>([x.node(), gamma.node(), beta.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let leaves = vec![TchTensor::new(xt), TchTensor::new(gt), TchTensor::new(bt)];
            let state = TorchState { y: TchTensor::new(y), leaves, pinned };
            prep.finish(state, output)
        }
        OpsKind::UnTracked(prep) => prep.finish(output),
    };
    Some((Tensor::from_primitive::<Autodiff<LibTorch>>(output), constant(mean), constant(TchTensor::new(variance))))
}

/// The backward: libtorch's autograd (`torch_grad::backward`).
#[derive(Debug)]
struct TorchNormBackward;

impl Backward<LibTorch, 3> for TorchNormBackward {
    type State = TorchState;

    fn backward(self, ops: Ops<TorchState, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        backward(ops, grads);
    }
}
