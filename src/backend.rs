//! Which execution backends this build has. The one place that looks at
//! the cargo features: everything else asks here.

/// Whether Burn's libtorch backend (`torch.cpu`, `torch.cuda`) is compiled
/// in (`--features tch`).
pub fn has_libtorch() -> bool {
    cfg!(feature = "tch")
}

/// Whether Burn's CubeCL CUDA backend (`cuda`) is compiled in
/// (`--features cuda`).
pub fn has_cubecl_cuda() -> bool {
    cfg!(feature = "cuda")
}
