//! What pipe's libtorch operations (`conv_torch.rs`, `norm_torch.rs`)
//! share: a tensor's libtorch primitive, the state their Burn backward
//! keeps, and that backward, which runs libtorch's autograd with the output
//! gradient given (`torch_grad.cpp`, since tch's `run_backward` only seeds
//! an output with ones).

#![allow(deprecated)] // Burn marks its libtorch backend deprecated in 0.22.

use std::ffi::{CStr, c_char, c_int, c_void};

use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::Ops;
use burn::backend::libtorch::TchTensor;
use burn::backend::{Autodiff, AutodiffBackend, LibTorch};
use burn::tensor::Tensor;

/// A float tensor of the libtorch backend in Burn's autodiff graph.
pub type Primitive = burn::backend::tensor::FloatTensor<Autodiff<LibTorch>>;

/// A tensor's libtorch primitive in the autodiff graph (a constant there if
/// it was plain), if it is on libtorch.
pub fn on_torch<const D: usize>(t: &Tensor<D>) -> Option<Primitive> {
    match t.clone().try_into_primitive::<Autodiff<LibTorch>>() {
        Ok(tracked) => Some(tracked),
        Err(_) => Some(Autodiff::<LibTorch>::from_inner(t.clone().try_into_primitive::<LibTorch>().ok()?)),
    }
}

/// What a libtorch operation's Burn backward keeps: its output as
/// libtorch's graph holds it, the leaves of that graph (one per Burn
/// parent, in order), and handles that keep Burn's libtorch backend from
/// writing in place into what the graph saved (it does so into a tensor it
/// holds the only handle of).
#[derive(Clone, Debug)]
pub struct TorchState {
    /// The output, attached to libtorch's graph.
    pub y: TchTensor,
    /// The graph's leaves, the Burn parents' tensors detached.
    pub leaves: Vec<TchTensor>,
    /// Extra handles of what the graph saved, until the backward has run.
    pub pinned: Vec<TchTensor>,
}

/// The Burn backward of a libtorch operation: libtorch's gradients of the
/// output by the leaves whose Burn parent is tracked (libtorch computes no
/// other), registered to those parents.
pub fn backward<const N: usize>(ops: Ops<TorchState, N>, grads: &mut Gradients) {
    let grad = grads.consume::<LibTorch>(&ops.node);
    let TorchState { y, leaves, pinned } = ops.state;
    let (ids, inputs): (Vec<_>, Vec<&tch::Tensor>) = ops
        .parents
        .iter()
        .zip(&leaves)
        .filter_map(|(parent, leaf)| parent.as_ref().map(|node| (node.id, &leaf.tensor)))
        .unzip();
    for (id, g) in ids.into_iter().zip(grad_of(&y.tensor, &grad.tensor, &inputs)) {
        grads.register::<LibTorch>(id, TchTensor::new(g));
    }
    drop(pinned);
}

unsafe extern "C" {
    fn pipe_torch_grad(
        output: *const c_void,
        gradient: *const c_void,
        inputs: *const *const c_void,
        count: usize,
        found: *mut *mut c_void,
        error: *mut c_char,
        length: usize,
    ) -> c_int;
}

/// The gradients of `output` by each of `inputs` (leaves of libtorch's
/// graph that `output` was computed from), for the output gradient
/// `gradient`. libtorch computes only what these need: an input left out
/// costs nothing. Panics with libtorch's message if its backward fails, as
/// tch's operations do (a CUDA out-of-memory one becomes the run's
/// diagnostic, `run::out_of_memory`).
fn grad_of(output: &tch::Tensor, gradient: &tch::Tensor, inputs: &[&tch::Tensor]) -> Vec<tch::Tensor> {
    if inputs.is_empty() {
        return Vec::new();
    }
    let pointers: Vec<*const c_void> = inputs.iter().map(|t| t.as_ptr().cast()).collect();
    let mut found: Vec<*mut c_void> = vec![std::ptr::null_mut(); inputs.len()];
    let mut error = [0 as c_char; 2048];
    // SAFETY: the pointers are tch tensors alive for the call; `found` has
    // room for one tensor per input, and the error buffer its length.
    let status = unsafe {
        pipe_torch_grad(
            output.as_ptr().cast(),
            gradient.as_ptr().cast(),
            pointers.as_ptr(),
            pointers.len(),
            found.as_mut_ptr(),
            error.as_mut_ptr(),
            error.len(),
        )
    };
    if status != 0 {
        // SAFETY: torch_grad.cpp wrote a NUL-terminated message within the buffer.
        let message = unsafe { CStr::from_ptr(error.as_ptr()) };
        panic!("libtorch's backward failed: {}", message.to_string_lossy());
    }
    // SAFETY: each pointer is a new at::Tensor that tch now owns.
    found.into_iter().map(|t| unsafe { tch::Tensor::from_ptr(t.cast()) }).collect()
}
