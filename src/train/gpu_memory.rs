//! libtorch's CUDA caching allocator: `gpu_memory:` (expandable segments,
//! a share of each card) and the peak memory each epoch held, for the
//! epoch log. tch exposes neither, so `gpu_memory.cpp` (compiled by
//! build.rs against the libtorch pipe links) wraps c10's allocator; without
//! the `tch` feature no run reaches here (the checker refuses `gpu_memory`
//! off `torch.cuda`, and only libtorch has `torch.cuda`).

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::ir::GpuMemory;

/// The most GPU memory an epoch held, the largest over the run's cards
/// (the card that runs out first is the one that matters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeakMemory {
    /// Bytes held by tensors (`torch.cuda.max_memory_allocated`).
    pub allocated_bytes: u64,
    /// Bytes reserved from the card by the caching allocator, tensors and
    /// its cache (`torch.cuda.max_memory_reserved`): what other processes
    /// cannot have.
    pub reserved_bytes: u64,
}

/// What pipe has changed in this process's allocator (`None`: nothing
/// yet, libtorch's defaults and `PYTORCH_CUDA_ALLOC_CONF` rule). The
/// allocator is one per process, so a later run without `gpu_memory:`
/// (under `pipe watch`, or a second `train` item) puts back what an earlier
/// one changed.
static CHANGED: Mutex<Option<Changed>> = Mutex::new(None);

/// The allocator as pipe left it.
struct Changed {
    /// `PYTORCH_CUDA_ALLOC_CONF` as the process started: parsing settings
    /// resets the keys left out, so pipe's are added to these.
    original: String,
    /// Whether pipe turned expandable segments on.
    growth: bool,
    /// The cards pipe limited to a share of their memory.
    limited: std::collections::BTreeSet<usize>,
}

/// Sets the allocator as `wanted` for a run on the CUDA cards `cards`
/// (libtorch device indices, present), undoing what an earlier run set and
/// this one does not want (on every card); a run without CUDA cards leaves
/// it alone. Memory cached under the old settings is given back first.
/// Returns what libtorch reports back, for a note, or why it could not be
/// set.
pub fn apply(wanted: Option<GpuMemory>, cards: &[usize]) -> Result<Option<String>, String> {
    let mut changed = CHANGED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if cards.is_empty() || (wanted.is_none() && changed.is_none()) {
        return Ok(None);
    }
    let state = changed.get_or_insert_with(|| Changed {
        original: std::env::var("PYTORCH_CUDA_ALLOC_CONF").unwrap_or_default(),
        growth: false,
        limited: Default::default(),
    });
    let target = wanted.unwrap_or_default();
    ffi::empty_cache()?;
    if target.growth != state.growth {
        ffi::allocator_settings(&settings(&state.original, target.growth))?;
        state.growth = target.growth;
    }
    let undo: Vec<usize> =
        state.limited.iter().copied().filter(|c| target.limit.is_none() || !cards.contains(c)).collect();
    for card in undo {
        limit(card, 1.0)?;
        state.limited.remove(&card);
    }
    if let Some(fraction) = target.limit {
        for &card in cards {
            limit(card, fraction)?;
            state.limited.insert(card);
        }
    }
    wanted.map(|w| described(w, cards)).transpose()
}

/// The allocator settings for `growth` on top of `original` (the
/// environment's): with it, expandable segments are added; without, the
/// environment's settings alone (libtorch's default for what they omit).
fn settings(original: &str, growth: bool) -> String {
    match (growth, original.is_empty()) {
        (true, true) => "expandable_segments:True".into(),
        (true, false) => format!("{original},expandable_segments:True"),
        (false, true) => "expandable_segments:False".into(),
        (false, false) => original.into(),
    }
}

/// Turns expandable segments on or off for the memory reserved from now
/// on (`torch.cuda.memory._set_allocator_settings`).
pub fn set_expandable_segments(on: bool) -> Result<(), String> {
    ffi::allocator_settings(&settings("", on))
}

/// Whether the CUDA allocator reserves new memory in expandable segments,
/// as it reads its configuration.
pub fn expandable_segments() -> Result<bool, String> {
    ffi::expandable_segments()
}

/// Lets the process reserve at most `fraction` of `card`'s memory,
/// starting libtorch's CUDA there first (its allocator exists from then).
pub fn limit(card: usize, fraction: f64) -> Result<(), String> {
    ffi::start(card)?;
    ffi::set_memory_fraction(fraction, card)
}

/// The allocator's settings as libtorch reports them back (the shares
/// only when limited: CUDA may not have started yet otherwise).
fn described(wanted: GpuMemory, cards: &[usize]) -> Result<String, String> {
    let growth = if expandable_segments()? { "expandable segments" } else { "fixed segments" };
    let mut parts = vec![growth.to_string()];
    if wanted.limit.is_some() {
        for &card in cards {
            let fraction = ffi::memory_fraction(card)?;
            parts.push(format!("torch.cuda({card}) may reserve {:.0}% of its memory", fraction * 100.0));
        }
    }
    Ok(format!("gpu_memory: {}", parts.join("; ")))
}

/// Starts counting peaks afresh on `cards` (at an epoch's start).
pub fn reset_peaks(cards: &[usize]) {
    for &card in cards {
        // A card whose statistics cannot be read has no peak to report.
        let _ = ffi::peak_memory(card, true);
    }
}

/// The peak since the last [`reset_peaks`], the largest over `cards`
/// (`None` without CUDA cards, or where libtorch cannot say).
pub fn peak(cards: &[usize]) -> Option<PeakMemory> {
    let peaks: Vec<PeakMemory> = cards.iter().filter_map(|&card| ffi::peak_memory(card, false).ok()).collect();
    let largest = |bytes: fn(&PeakMemory) -> u64| peaks.iter().map(bytes).max();
    Some(PeakMemory {
        allocated_bytes: largest(|p| p.allocated_bytes)?,
        reserved_bytes: largest(|p| p.reserved_bytes)?,
    })
}

/// The CUDA cards among a run's devices (libtorch indices).
pub fn cards(devices: &[crate::ir::Device]) -> Vec<usize> {
    devices
        .iter()
        .filter(|d| d.kind == crate::ir::DeviceKind::TorchCuda)
        .map(|d| d.index.unwrap_or(0) as usize)
        .collect()
}

#[cfg(feature = "tch")]
mod ffi {
    //! The C functions of gpu_memory.cpp, each returning 0 or 1 and an
    //! error message.
    use std::ffi::{CStr, CString, c_char, c_int};

    use super::PeakMemory;

    unsafe extern "C" {
        fn pipe_cuda_allocator_settings(settings: *const c_char, error: *mut c_char, length: usize) -> c_int;
        fn pipe_cuda_expandable_segments(on: *mut c_int, error: *mut c_char, length: usize) -> c_int;
        fn pipe_cuda_empty_cache(error: *mut c_char, length: usize) -> c_int;
        fn pipe_cuda_set_memory_fraction(fraction: f64, device: c_int, error: *mut c_char, length: usize) -> c_int;
        fn pipe_cuda_memory_fraction(device: c_int, fraction: *mut f64, error: *mut c_char, length: usize) -> c_int;
        fn pipe_cuda_peak_memory(
            device: c_int,
            reset: c_int,
            allocated: *mut i64,
            reserved: *mut i64,
            error: *mut c_char,
            length: usize,
        ) -> c_int;
    }

    /// Calls `call` with an error buffer; its message when it returns 1.
    fn checked(call: impl FnOnce(*mut c_char, usize) -> c_int) -> Result<(), String> {
        let mut error = [0 as c_char; 1024];
        if call(error.as_mut_ptr(), error.len()) == 0 {
            return Ok(());
        }
        // SAFETY: gpu_memory.cpp writes a NUL-terminated message within the buffer.
        let message = unsafe { CStr::from_ptr(error.as_ptr()) };
        Err(message.to_string_lossy().lines().next().unwrap_or("libtorch failed").to_string())
    }

    fn index(card: usize) -> Result<c_int, String> {
        c_int::try_from(card).map_err(|_| format!("no CUDA device {card}"))
    }

    /// Parses settings as `PYTORCH_CUDA_ALLOC_CONF` would.
    pub fn allocator_settings(settings: &str) -> Result<(), String> {
        let settings = CString::new(settings).map_err(|e| e.to_string())?;
        // SAFETY: a NUL-terminated string and a buffer of the length given.
        checked(|error, length| unsafe { pipe_cuda_allocator_settings(settings.as_ptr(), error, length) })
    }

    /// Whether new memory is mapped in expandable segments.
    pub fn expandable_segments() -> Result<bool, String> {
        let mut on: c_int = 0;
        // SAFETY: a valid out-pointer and a buffer of the length given.
        checked(|error, length| unsafe { pipe_cuda_expandable_segments(&mut on, error, length) })?;
        Ok(on != 0)
    }

    /// Gives cached memory no tensor uses back to the cards.
    pub fn empty_cache() -> Result<(), String> {
        // SAFETY: a buffer of the length given.
        checked(|error, length| unsafe { pipe_cuda_empty_cache(error, length) })
    }

    /// Starts libtorch's CUDA on `card` (its allocator exists from then on).
    pub fn start(card: usize) -> Result<(), String> {
        let device = tch::Device::Cuda(card);
        tch::Tensor::f_zeros([1], (tch::Kind::Float, device)).map(drop).map_err(|e| e.to_string())
    }

    /// The share of `card`'s memory the allocator may reserve.
    pub fn set_memory_fraction(fraction: f64, card: usize) -> Result<(), String> {
        let card = index(card)?;
        // SAFETY: a buffer of the length given.
        checked(|error, length| unsafe { pipe_cuda_set_memory_fraction(fraction, card, error, length) })
    }

    /// The share set last.
    pub fn memory_fraction(card: usize) -> Result<f64, String> {
        let card = index(card)?;
        let mut fraction = 0.0;
        // SAFETY: a valid out-pointer and a buffer of the length given.
        checked(|error, length| unsafe { pipe_cuda_memory_fraction(card, &mut fraction, error, length) })?;
        Ok(fraction)
    }

    /// `card`'s peaks since they were last reset; resets them when `reset`.
    pub fn peak_memory(card: usize, reset: bool) -> Result<PeakMemory, String> {
        let card = index(card)?;
        let (mut allocated, mut reserved) = (0i64, 0i64);
        // SAFETY: valid out-pointers and a buffer of the length given.
        checked(|error, length| unsafe {
            pipe_cuda_peak_memory(card, c_int::from(reset), &mut allocated, &mut reserved, error, length)
        })?;
        let bytes = |b: i64| u64::try_from(b).unwrap_or(0);
        Ok(PeakMemory { allocated_bytes: bytes(allocated), reserved_bytes: bytes(reserved) })
    }
}

#[cfg(not(feature = "tch"))]
mod ffi {
    //! Without libtorch there are no CUDA cards of its: every call says so.
    use super::PeakMemory;

    const NO_LIBTORCH: &str = "this build has no libtorch backend (`--features tch`)";

    pub fn allocator_settings(_settings: &str) -> Result<(), String> {
        Err(NO_LIBTORCH.into())
    }

    pub fn expandable_segments() -> Result<bool, String> {
        Err(NO_LIBTORCH.into())
    }

    pub fn start(_card: usize) -> Result<(), String> {
        Err(NO_LIBTORCH.into())
    }

    pub fn empty_cache() -> Result<(), String> {
        Err(NO_LIBTORCH.into())
    }

    pub fn set_memory_fraction(_fraction: f64, _card: usize) -> Result<(), String> {
        Err(NO_LIBTORCH.into())
    }

    pub fn memory_fraction(_card: usize) -> Result<f64, String> {
        Err(NO_LIBTORCH.into())
    }

    pub fn peak_memory(_card: usize, _reset: bool) -> Result<PeakMemory, String> {
        Err(NO_LIBTORCH.into())
    }
}
