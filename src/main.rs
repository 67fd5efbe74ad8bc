//! The `pipe` command; everything lives in the library's `cli` module.

/// mimalloc: Polars allocates and frees buffers of megabytes for every
/// batch, which glibc's malloc hands back to the kernel and faults in
/// again; a streamed 10M-row prep spent 15-27 s in the kernel with glibc
/// (11-15 s with mimalloc), and peaked 160 MB higher (bench/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `arena_eager_commit` (its place in `mi_option_e`, mimalloc
/// 3's `include/mimalloc.h`). An arena committed whole (the default on
/// Linux) keeps freed pages in the resident set: a streamed output's peak
/// went from 88 MB (glibc) to 145 MB. 0 commits an arena's memory as it is
/// used and gives it back when freed: 92 MB.
#[cfg(target_os = "linux")]
const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// Sets mimalloc's options before the first allocation makes the first
/// arena (the Rust runtime allocates before `main`): a constructor, which
/// the loader runs before the runtime starts.
#[cfg(target_os = "linux")]
extern "C" fn tune_allocator() {
    // SAFETY: setting an option is a store into mimalloc's option table;
    // no other thread exists yet.
    unsafe { libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0) };
}

#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static TUNE_ALLOCATOR: extern "C" fn() = tune_allocator;

fn main() -> std::process::ExitCode {
    pipe::cli::main()
}
