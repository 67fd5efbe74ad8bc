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

/// A tensor's libtorch primitive in the autodiff graph (a constant there if
/// it was plain), if it is an f32 tensor on libtorch.
fn on_torch<const D: usize>(t: &Tensor<D>) -> Option<burn::backend::tensor::FloatTensor<Autodiff<LibTorch>>> {
    let tracked = match t.clone().try_into_primitive::<Autodiff<LibTorch>>() {
        Ok(tracked) => tracked,
        Err(_) => Autodiff::<LibTorch>::from_inner(t.clone().try_into_primitive::<LibTorch>().ok()?),
    };
    (tracked.primitive().tensor.kind() == tch::Kind::Float).then_some(tracked)
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
    let (x, gamma, beta) = (on_torch(x)?, on_torch(gamma)?, on_torch(beta)?);
    // Leaves of libtorch's own graph, sharing the tensors' storage.
    let leaf = |t: &TchTensor| t.tensor.detach().set_requires_grad(true);
    let (xt, gt, bt) = (leaf(x.primitive()), leaf(gamma.primitive()), leaf(beta.primitive()));
    let (y, mean, invstd) =
        tch::with_grad(|| xt.native_batch_norm(Some(&gt), Some(&bt), None::<&tch::Tensor>, None, true, 0.0, epsilon));
    let variance = tch::no_grad(|| invstd.pow_tensor_scalar(-2.0) - epsilon);
    let output = TchTensor::new(y.detach());
    let mean = TchTensor::new(mean);
    // Burn's libtorch backend writes in place into a tensor it holds the
    // only handle of; libtorch's graph saved these, so the state keeps a
    // handle of each until the backward has run.
    let pinned = [x.primitive().clone(), gamma.primitive().clone(), beta.primitive().clone(), mean.clone()];
    let constant =
        |t: TchTensor| Tensor::<1>::from_primitive::<Autodiff<LibTorch>>(Autodiff::<LibTorch>::from_inner(t));
    let output = match TorchNormBackward
        .prepare::<NoCheckpointing>([x.node(), gamma.node(), beta.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let state = TorchState { y: TchTensor::new(y), leaves: [xt, gt, bt].map(TchTensor::new), pinned };
            prep.finish(state, output)
        }
        OpsKind::UnTracked(prep) => prep.finish(output),
    };
    Some((Tensor::from_primitive::<Autodiff<LibTorch>>(output), constant(mean), constant(TchTensor::new(variance))))
}

/// The backward: libtorch's autograd from the output back to its leaves.
#[derive(Debug)]
struct TorchNormBackward;

/// The output as libtorch's graph holds it, and the leaves: input, gamma,
/// beta; `pinned` keeps Burn from writing into what the graph saved.
#[derive(Clone, Debug)]
struct TorchState {
    y: TchTensor,
    leaves: [TchTensor; 3],
    pinned: [TchTensor; 4],
}

impl Backward<LibTorch, 3> for TorchNormBackward {
    type State = TorchState;

    fn backward(self, ops: Ops<TorchState, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<LibTorch>(&ops.node);
        let TorchState { y, leaves, pinned } = ops.state;
        // Only the leaves Burn tracks: libtorch computes no other gradient.
        let wanted: Vec<(usize, &tch::Tensor)> = ops
            .parents
            .iter()
            .zip(&leaves)
            .enumerate()
            .filter_map(|(i, (parent, leaf))| parent.as_ref().map(|_| (i, &leaf.tensor)))
            .collect();
        let inputs: Vec<&tch::Tensor> = wanted.iter().map(|(_, t)| *t).collect();
        let found = super::torch_grad::grad(&y.tensor, &grad.tensor, &inputs);
        for ((i, _), g) in wanted.into_iter().zip(found) {
            if let Some(Some(node)) = ops.parents.get(i) {
                grads.register::<LibTorch>(node.id, TchTensor::new(g));
            }
        }
        drop(pinned);
    }
}
