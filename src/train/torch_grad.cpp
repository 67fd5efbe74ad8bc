// libtorch's autograd with a given output gradient
// (torch::autograd::grad({y}, inputs, {dy})), which tch does not expose:
// its run_backward seeds the output with ones, so the gradient had to be
// multiplied in (y * dy), a full-size product forward and another backward
// for every layer. Compiled by build.rs with the `tch` feature; the tensors
// are tch's (at::Tensor pointers), and each gradient found is a new
// at::Tensor that tch owns (and deletes) from then on. Every C++ exception
// is caught and returned as its message.

#include <torch/csrc/autograd/autograd.h>

#include <cstddef>
#include <cstdio>
#include <exception>
#include <vector>

extern "C" {

// The gradients of `output` by `inputs[0..count]` for the output gradient
// `gradient`, into `found[0..count]`; 0, or 1 and the message in `error`.
int pipe_torch_grad(const at::Tensor* output, const at::Tensor* gradient, const at::Tensor* const* inputs,
                    size_t count, at::Tensor** found, char* error, size_t length) {
  try {
    std::vector<at::Tensor> wanted;
    wanted.reserve(count);
    for (size_t i = 0; i < count; ++i) {
      wanted.push_back(*inputs[i]);
    }
    // Every input is a leaf the output was computed from: one that is not
    // is a bug, which libtorch then names (instead of an undefined tensor).
    auto grads = torch::autograd::grad({*output}, wanted, {*gradient}, /*retain_graph=*/false,
                                       /*create_graph=*/false, /*allow_unused=*/false);
    for (size_t i = 0; i < count; ++i) {
      found[i] = new at::Tensor(grads[i]);
    }
    return 0;
  } catch (const std::exception& e) {
    if (error != nullptr && length > 0) {
      std::snprintf(error, length, "%s", e.what());
    }
  } catch (...) {
    if (error != nullptr && length > 0) {
      std::snprintf(error, length, "libtorch raised an unknown exception");
    }
  }
  return 1;
}

}  // extern "C"
