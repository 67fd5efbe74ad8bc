//! libtorch's autograd with a given output gradient, for pipe's libtorch
//! operations (`conv_torch.rs`, `norm_torch.rs`): `torch_grad.cpp`, since
//! tch's `run_backward` only seeds an output with ones.

use std::ffi::{CStr, c_char, c_int, c_void};

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
pub fn grad(output: &tch::Tensor, gradient: &tch::Tensor, inputs: &[&tch::Tensor]) -> Vec<tch::Tensor> {
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
