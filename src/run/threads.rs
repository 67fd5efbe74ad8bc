//! Data-parallel work (rayon's parallel iterators) on Polars' own thread
//! pool: a second pool, rayon's global one, would have its threads contend
//! with Polars' for the same cores, and spin while they wait.

/// Runs `work` on Polars' thread pool: the parallel iterators it runs
/// share that pool's threads.
pub fn on_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    polars_core::runtime::THREAD_POOL.install(work)
}
