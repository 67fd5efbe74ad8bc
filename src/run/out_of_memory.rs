//! A training on libtorch's CUDA that runs out of GPU memory (a batch too
//! large for the card, or past `gpu_memory: limit(...)`). tch raises
//! libtorch's "CUDA out of memory" as a panic, in whichever thread computed
//! it (a data-parallel replica's too); guarded, it becomes the run's
//! diagnostic (`pipe::run::gpu_memory`) instead of a crash. Training,
//! evaluation and prediction on CUDA are guarded.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Guarded trainings running now (in any thread).
static GUARDED: AtomicUsize = AtomicUsize::new(0);

/// libtorch's words of the first out-of-memory panic while guarded.
static SEEN: Mutex<Option<String>> = Mutex::new(None);

/// What libtorch says when the CUDA caching allocator cannot reserve more.
const OUT_OF_MEMORY: &str = "CUDA out of memory";

/// Runs `work` (on CUDA); an out-of-memory panic in it, or in a thread it
/// started, becomes `Err` with libtorch's words (not printed as a panic:
/// the run's diagnostic says it). Any other panic goes on as before.
pub fn guarded<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    install();
    if GUARDED.fetch_add(1, Ordering::SeqCst) == 0 {
        // Words left by a panic no guard caught (a thread's, swallowed).
        SEEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
    GUARDED.fetch_sub(1, Ordering::SeqCst);
    result.or_else(|payload| {
        let own = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_string()))
            .unwrap_or_default();
        // A panic's own words first; a scope's "a scoped thread panicked"
        // stands for its thread's, which the hook kept.
        let words = if own.contains(OUT_OF_MEMORY) {
            Some(own)
        } else if own.contains("scoped thread panicked") {
            SEEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take()
        } else {
            None
        };
        match words {
            Some(words) => Err(libtorch_words(&words)),
            None => std::panic::resume_unwind(payload),
        }
    })
}

/// The sentences of libtorch's message about the allocation, without tch's
/// wrapping (`called Result::unwrap() on an Err value: Torch("...`), the
/// C++ stack after it, or its advice on PyTorch's environment variables
/// (the diagnostic's help gives pipe's settings).
pub fn libtorch_words(message: &str) -> String {
    let from = message.find(OUT_OF_MEMORY).map_or(message, |at| &message[at..]);
    let ends = ["\\n", "\n", "\")", " If reserved but unallocated", " See documentation"];
    let end = ends.iter().filter_map(|e| from.find(e)).min().unwrap_or(from.len());
    from[..end].trim().to_string()
}

/// Installs the panic hook, once a process: quiet about out-of-memory
/// panics while a guarded training runs (it keeps the first one's words),
/// as before otherwise.
fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let before = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message =
                info.payload_as_str().filter(|m| m.contains(OUT_OF_MEMORY) && GUARDED.load(Ordering::SeqCst) > 0);
            match message {
                Some(message) => {
                    let mut seen = SEEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    seen.get_or_insert_with(|| message.to_string());
                }
                None => before(info),
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tch's panic on libtorch's error, as libtorch 2.9 words it.
    const TCH_PANIC: &str = "called `Result::unwrap()` on an `Err` value: Torch(\"CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.19 GiB of which 70.87 GiB is free. Including non-PyTorch memory, this process has 8.31 GiB memory in use. Of the allocated memory 3.96 GiB is allocated by PyTorch, and 12.00 MiB is reserved by PyTorch but unallocated. If reserved but unallocated memory is large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See documentation for Memory Management  (https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)\\nException raised from malloc at /pytorch/c10/cuda/CUDACachingAllocator.cpp:1449 (most recent call first):\")";

    #[test]
    fn libtorchs_words_are_kept_without_tchs_wrapping_or_the_stack() {
        let words = libtorch_words(TCH_PANIC);
        assert!(words.starts_with("CUDA out of memory. Tried to allocate 2.00 GiB."), "{words}");
        assert!(words.ends_with("reserved by PyTorch but unallocated."), "{words}");
    }

    /// A panic in a thread of the training (as a data-parallel replica's
    /// is) is recognized through the hook; another panic goes on.
    #[test]
    fn an_out_of_memory_panic_becomes_an_error_and_others_go_on() {
        let failed = guarded(|| {
            std::thread::scope(|scope| {
                scope.spawn(|| panic!("{TCH_PANIC}"));
            });
        });
        match failed {
            Err(words) => assert!(words.starts_with("CUDA out of memory."), "{words}"),
            Ok(()) => panic!("no failure"),
        }
        let direct: Result<(), String> = guarded(|| panic!("{TCH_PANIC}"));
        assert!(direct.is_err_and(|words| words.starts_with("CUDA out of memory.")));
        let other = std::panic::catch_unwind(|| guarded(|| panic!("index out of bounds")));
        assert!(other.is_err(), "a panic that is not about memory goes on");
        assert_eq!(guarded(|| 7), Ok(7));
    }
}
