//! Which execution backends this build has. The one place that looks at
//! the cargo features: everything else asks here.

/// Whether Burn's libtorch backend (`torch.cpu`, `torch.cuda`) is compiled
/// in (`--features tch`).
pub fn has_libtorch() -> bool {
    cfg!(feature = "tch")
}

/// Whether remote devices (`device: remote("ws://...")`, `pipe
/// device-server`) are compiled in (`--features remote`).
pub fn has_remote() -> bool {
    cfg!(feature = "remote")
}

/// Whether Burn's CubeCL CUDA backend (`cuda`) is compiled in
/// (`--features cuda`).
pub fn has_cubecl_cuda() -> bool {
    cfg!(feature = "cuda")
}

/// Whether this build reaches libtorch's CUDA caching allocator
/// (`gpu_memory:`): a `tch` build whose libtorch has CUDA, compiled with
/// CUDA's runtime headers (build.rs sets `pipe_cuda_allocator`).
pub fn has_cuda_allocator() -> bool {
    cfg!(pipe_cuda_allocator)
}

/// How many CUDA devices libtorch can use on this machine (0 without the
/// `tch` feature, a GPU or its driver).
pub fn cuda_devices() -> usize {
    #[cfg(feature = "tch")]
    return tch::Cuda::device_count().max(0) as usize;
    #[cfg(not(feature = "tch"))]
    0
}

/// Turns cuDNN's autotuning (`torch.backends.cudnn.benchmark`) on or off
/// for libtorch's convolutions; nothing without the `tch` feature.
pub fn set_cudnn_benchmark(on: bool) {
    #[cfg(feature = "tch")]
    tch::Cuda::cudnn_set_benchmark(on);
    #[cfg(not(feature = "tch"))]
    let _ = on;
}
