//! The allocator while a model trains. Every step allocates and frees the
//! same large buffers; glibc's malloc hands blocks above its mmap and trim
//! thresholds back to the system on each free and faults them in again on
//! the next allocation (page faults and memset led a profile of the digits
//! CNN). For the length of a training, freed memory stays in the heap:
//! an epoch of the digits CNN took 17% less time, the MLP's 3.5%. Outside
//! training the thresholds are glibc's (keeping them for the data steps
//! raised the 1M-row pipeline's peak memory by a quarter).

/// Raised thresholds while alive, glibc's defaults again when dropped.
pub struct TrainingHeap(());

/// glibc's initial thresholds (128 KiB; its dynamic adjustment stays off
/// once they have been set, which only changes when big blocks are mapped).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const DEFAULT_THRESHOLD: libc::c_int = 128 * 1024;

impl TrainingHeap {
    /// Keeps freed memory in the heap until dropped.
    pub fn keep() -> Self {
        set_thresholds(1 << 30);
        TrainingHeap(())
    }
}

impl Drop for TrainingHeap {
    fn drop(&mut self) {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        set_thresholds(DEFAULT_THRESHOLD);
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_thresholds(bytes: libc::c_int) {
    // SAFETY: mallopt only changes allocator parameters, under the main
    // arena's lock.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, bytes);
        libc::mallopt(libc::M_TRIM_THRESHOLD, bytes);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_thresholds(_bytes: i32) {}
