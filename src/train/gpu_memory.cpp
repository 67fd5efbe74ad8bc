// libtorch's CUDA caching allocator, for `gpu_memory:` and the epoch log's
// peak GPU memory (src/train/gpu_memory.rs). tch exposes none of it, so
// this small C interface is compiled by build.rs against the headers of the
// libtorch pipe links (the `tch` feature), and linked with libc10_cuda.
// Every function catches libtorch's exceptions and returns 0 on success,
// or 1 with libtorch's message in `error` (so no C++ exception crosses into
// Rust).
//
// The settings, the memory fraction and the cache are the CUDA allocator's
// own (c10/cuda headers, which need CUDA's runtime headers): PIPE_CUDA_ALLOCATOR
// is 1 when build.rs found them (and libc10_cuda), 0 otherwise, and then
// those functions say so (the checker refuses `gpu_memory:` in such a
// build). In torch 2.9 the CUDA allocator keeps its settings apart from
// c10's device-generic ones, so they must be set and read through
// c10::cuda (2.11 makes the two one). The peak statistics go through c10's
// device-generic interface.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>

#include <c10/core/AllocatorConfig.h>
#include <c10/core/CachingDeviceAllocator.h>
#include <c10/core/DeviceType.h>

#if PIPE_CUDA_ALLOCATOR
#include <c10/cuda/CUDAAllocatorConfig.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace {

void put(const char* message, char* error, size_t length) {
  if (error != nullptr && length > 0) {
    std::snprintf(error, length, "%s", message);
  }
}

// Runs `body`, turning a C++ exception into 1 and its message.
template <typename Body>
int guarded(Body body, char* error, size_t length) {
  try {
    body();
    return 0;
  } catch (const std::exception& e) {
    put(e.what(), error, length);
  } catch (...) {
    put("libtorch raised an unknown exception", error, length);
  }
  return 1;
}

#if !PIPE_CUDA_ALLOCATOR
int no_cuda(char* error, size_t length) {
  put("this pipe was built without CUDA's runtime headers (or against a libtorch without CUDA), "
      "so it cannot set libtorch's CUDA allocator",
      error, length);
  return 1;
}
#endif

c10::DeviceAllocator* cuda_allocator() { return c10::getDeviceAllocator(c10::DeviceType::CUDA); }

}  // namespace

extern "C" {

// Parses allocator settings as PYTORCH_CUDA_ALLOC_CONF would
// ("expandable_segments:True"); they apply to memory reserved from then on,
// and keys left out go back to their defaults.
int pipe_cuda_allocator_settings(const char* settings, char* error, size_t length) {
#if PIPE_CUDA_ALLOCATOR
  return guarded([&] { c10::cuda::CUDACachingAllocator::setAllocatorSettings(settings); }, error, length);
#else
  (void)settings;
  return no_cuda(error, length);
#endif
}

// Whether the CUDA allocator maps new memory in expandable segments, as it
// reads its configuration.
int pipe_cuda_expandable_segments(int* on, char* error, size_t length) {
#if PIPE_CUDA_ALLOCATOR
  return guarded(
      [&] { *on = c10::cuda::CUDACachingAllocator::CUDAAllocatorConfig::expandable_segments() ? 1 : 0; }, error,
      length);
#else
  (void)on;
  return no_cuda(error, length);
#endif
}

// Gives the memory the allocator holds but no tensor uses back to the
// card (torch.cuda.empty_cache), so what is reserved next follows new
// settings.
int pipe_cuda_empty_cache(char* error, size_t length) {
#if PIPE_CUDA_ALLOCATOR
  return guarded([&] { c10::cuda::CUDACachingAllocator::emptyCache(); }, error, length);
#else
  return no_cuda(error, length);
#endif
}

// The share of `device`'s memory the allocator may reserve (as PyTorch's
// torch.cuda.set_per_process_memory_fraction); the device must be started.
int pipe_cuda_set_memory_fraction(double fraction, int device, char* error, size_t length) {
#if PIPE_CUDA_ALLOCATOR
  return guarded(
      [&] {
        c10::cuda::CUDACachingAllocator::setMemoryFraction(fraction, static_cast<c10::DeviceIndex>(device));
      },
      error, length);
#else
  (void)fraction;
  (void)device;
  return no_cuda(error, length);
#endif
}

// The share set last (1 unless limited).
int pipe_cuda_memory_fraction(int device, double* fraction, char* error, size_t length) {
#if PIPE_CUDA_ALLOCATOR
  return guarded(
      [&] {
        *fraction = c10::cuda::CUDACachingAllocator::getMemoryFraction(static_cast<c10::DeviceIndex>(device));
      },
      error, length);
#else
  (void)device;
  (void)fraction;
  return no_cuda(error, length);
#endif
}

// The most bytes allocated to tensors and reserved from the card on
// `device` since its peaks were last reset (torch.cuda.max_memory_allocated
// and max_memory_reserved); resets them afterwards when `reset`.
int pipe_cuda_peak_memory(int device, int reset, int64_t* allocated, int64_t* reserved, char* error,
                          size_t length) {
  return guarded(
      [&] {
        auto index = static_cast<c10::DeviceIndex>(device);
        auto* allocator = cuda_allocator();
        auto stats = allocator->getDeviceStats(index);
        auto aggregate = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
        *allocated = stats.allocated_bytes[aggregate].peak;
        *reserved = stats.reserved_bytes[aggregate].peak;
        if (reset != 0) {
          allocator->resetPeakStats(index);
        }
      },
      error, length);
}

}  // extern "C"
