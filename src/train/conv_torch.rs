//! Convolutions on libtorch (`torch.cpu`, `torch.cuda`): libtorch's
//! `conv2d` and, for the gradients, libtorch's own convolution backward
//! (oneDNN's backward-data and backward-weights kernels on a CPU, cuDNN's
//! on a GPU) through libtorch's autograd, as one Burn autodiff operation.
//!
//! Why: Burn's libtorch backend computes a convolution's gradients with
//! Burn's generic formulas, the input's as a transposed convolution and the
//! weight's as a convolution of the input by the output gradient with batch
//! and channels swapped (a kernel the size of the image, after copies of
//! both), which oneDNN runs far slower than its backward-weights kernel.
//! Only the gradients a Burn parent needs are asked of libtorch: the first
//! layer's input (data) gets none, as in PyTorch. f32 and the half types of
//! `precision:` (input, weight and bias in one type) run here; mixed types
//! keep Burn's convolution.

#![allow(deprecated)] // Burn marks its libtorch backend deprecated in 0.22.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::libtorch::TchTensor;
use burn::backend::{Autodiff, LibTorch};
use burn::tensor::Tensor;
use burn::tensor::ops::ConvOptions;

use super::torch_grad::{Primitive, TorchState, backward, on_torch};

/// The operands' primitives, if all are on libtorch in one float type
/// (f32, or a half type under `precision:`).
fn operands(x: &Tensor<4>, weight: &Tensor<4>, bias: Option<&Tensor<1>>) -> Option<Vec<Primitive>> {
    let mut all = vec![on_torch(x)?, on_torch(weight)?];
    if let Some(bias) = bias {
        all.push(on_torch(bias)?);
    }
    let kind = all[0].primitive().tensor.kind();
    let float = matches!(kind, tch::Kind::Float | tch::Kind::BFloat16 | tch::Kind::Half);
    (float && all.iter().all(|t| t.primitive().tensor.kind() == kind)).then_some(all)
}

/// Whether [`conv2d`] takes these tensors: on libtorch, in one float type.
pub fn takes(x: &Tensor<4>, weight: &Tensor<4>, bias: Option<&Tensor<1>>) -> bool {
    operands(x, weight, bias).is_some()
}

/// `conv2d(x, weight, bias, options)` by libtorch, if the tensors are on
/// libtorch in one float type (the caller has checked the shapes).
pub fn conv2d(
    x: &Tensor<4>,
    weight: &Tensor<4>,
    bias: Option<&Tensor<1>>,
    options: &ConvOptions<2>,
) -> Option<Tensor<4>> {
    let operands = operands(x, weight, bias)?;
    if !x.device().is_autodiff() {
        // Inference: a plain tensor out for a plain one in. Out of Burn's
        // autodiff graph (even untracked), the layers after it would take
        // the device for a training one (batch norm its batch statistics,
        // dropout its mask).
        let plain: Vec<tch::Tensor> = operands.iter().map(|t| t.primitive().tensor.shallow_clone()).collect();
        let output = TchTensor::new(tch::no_grad(|| convolve(&plain, options)));
        return Some(Tensor::from_primitive::<LibTorch>(output));
    }
    let output = match operands.as_slice() {
        [x, w, b] => record(TorchConvBackward, [x.clone(), w.clone(), b.clone()], options),
        [x, w] => record(TorchConvBackward, [x.clone(), w.clone()], options),
        _ => return None,
    };
    Some(Tensor::from_primitive::<Autodiff<LibTorch>>(output))
}

/// libtorch's convolution of `operands` (input, weight, and bias if three),
/// in Burn's graph when one of them is tracked.
fn record<const N: usize>(op: TorchConvBackward, operands: [Primitive; N], options: &ConvOptions<2>) -> Primitive
where
    TorchConvBackward: Backward<LibTorch, N, State = TorchState>,
{
    let nodes = operands.each_ref().map(|t| t.node());
    match op.prepare::<NoCheckpointing>(nodes).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            // Leaves of libtorch's own graph, sharing the tensors' storage.
            let leaves: Vec<tch::Tensor> =
                operands.iter().map(|t| t.primitive().tensor.detach().set_requires_grad(true)).collect();
            let y = tch::with_grad(|| convolve(&leaves, options));
            let output = TchTensor::new(y.detach());
            // libtorch's graph saved the input and the weight.
            let pinned = operands.iter().map(|t| t.primitive().clone()).collect();
            let state =
                TorchState { y: TchTensor::new(y), leaves: leaves.into_iter().map(TchTensor::new).collect(), pinned };
            prep.finish(state, output)
        }
        OpsKind::UnTracked(prep) => {
            let plain: Vec<tch::Tensor> = operands.iter().map(|t| t.primitive().tensor.shallow_clone()).collect();
            prep.finish(TchTensor::new(tch::no_grad(|| convolve(&plain, options))))
        }
    }
}

/// libtorch's convolution of input, weight and bias (`operands`, the bias
/// optional), padded as `options` say: symmetric padding inside the
/// convolution, uneven padding (`same` with an even kernel or a stride)
/// added to the input first.
fn convolve(operands: &[tch::Tensor], options: &ConvOptions<2>) -> tch::Tensor {
    let to_i64 = |values: [usize; 2]| values.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
    let [(top, bottom), (left, right)] = options.padding;
    let groups = i64::try_from(options.groups).unwrap_or(1);
    let (stride, dilation) = (to_i64(options.stride), to_i64(options.dilation));
    let bias = operands.get(2);
    if top == bottom && left == right {
        operands[0].conv2d(&operands[1], bias, stride, to_i64([top, left]), dilation, groups)
    } else {
        let padded = operands[0]
            .constant_pad_nd(to_i64([left, right]).into_iter().chain(to_i64([top, bottom])).collect::<Vec<_>>());
        padded.conv2d(&operands[1], bias, stride, [0, 0], dilation, groups)
    }
}

/// The backward: libtorch's autograd (`torch_grad::backward`).
#[derive(Debug)]
struct TorchConvBackward;

impl Backward<LibTorch, 2> for TorchConvBackward {
    type State = TorchState;

    fn backward(self, ops: Ops<TorchState, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        backward(ops, grads);
    }
}

impl Backward<LibTorch, 3> for TorchConvBackward {
    type State = TorchState;

    fn backward(self, ops: Ops<TorchState, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        backward(ops, grads);
    }
}
