//! Peak memory per item: the process's resident-set high-water mark
//! (Linux's `VmHWM`), reset just before the item runs. It is the whole
//! process's peak while the item ran, the frames other items keep included,
//! which is what decides whether a run fits the machine. The whole run's
//! peak is kept apart ([`process_peak`]).

use std::sync::atomic::{AtomicU64, Ordering};

/// The highest high-water mark seen before a reset: resetting it for an
/// item loses the process's own peak (a parent's `wait4` then reports only
/// the last item's), so [`process_peak`] keeps it.
static EARLIER_PEAK: AtomicU64 = AtomicU64::new(0);

/// The process's peak resident set so far, resets included, in bytes.
pub fn process_peak() -> Option<u64> {
    peak().map(|now| now.max(EARLIER_PEAK.load(Ordering::Relaxed)))
}

/// Starts measuring: hands freed heap back to the system (so the peak is
/// not the previous item's) and resets the high-water mark to the current
/// resident set. False where the system offers no such reset.
pub fn reset() -> bool {
    if let Some(before) = peak() {
        EARLIER_PEAK.fetch_max(before, Ordering::Relaxed);
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of glibc's heap to the
    // system; it takes the arenas' locks itself.
    unsafe {
        libc::malloc_trim(0);
    }
    // "5" resets the peak resident set size (Linux 4.0 and later).
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The peak resident set since the last [`reset`], in bytes.
pub fn peak() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
    kib.checked_mul(1024)
}

/// Measures `work`: its result and the peak (when the system reports it).
pub fn measured<T>(work: impl FnOnce() -> T) -> (T, Option<u64>) {
    let ready = reset();
    let result = work();
    (result, if ready { peak() } else { None })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_large_allocation_raises_the_peak() {
        let (_, before) = super::measured(|| ());
        let (sum, peak) = super::measured(|| {
            let block = vec![1u8; 64 << 20];
            block.iter().map(|&b| u64::from(b)).sum::<u64>()
        });
        assert_eq!(sum, 64 << 20);
        if let (Some(before), Some(peak)) = (before, peak) {
            assert!(peak >= before + (60 << 20), "peak {peak} after {before}");
        }
    }
}
