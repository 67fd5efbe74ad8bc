//! The largest numbers the language accepts where a larger one could not
//! run: past these, a run would overflow an integer or ask for memory no
//! machine has, so the checker refuses them (`out_of_range`) before
//! anything is allocated.

/// Units of a dense layer, filters of a convolution, an embedding's
/// vocabulary and width.
pub const MAX_WIDTH: usize = 1 << 24;

/// An image's height or width, a kernel, a pooling window, a stride.
pub const MAX_SIDE: usize = 1 << 16;

/// Values in one image (channels x height x width): 256 MB of f32.
pub const MAX_IMAGE_VALUES: usize = 1 << 26;

/// The values of an image of `dims`, if within [`MAX_IMAGE_VALUES`].
pub fn image_values(dims: [usize; 3]) -> Option<usize> {
    let [c, h, w] = dims;
    c.checked_mul(h).and_then(|n| n.checked_mul(w)).filter(|n| *n <= MAX_IMAGE_VALUES)
}

/// Bytes a training run keeps per parameter: f32 weights, gradients and
/// two optimizer moments (Adam's).
pub const BYTES_PER_PARAMETER: u64 = 16;

/// This machine's memory in bytes (Linux' `MemTotal`), when known.
pub fn machine_memory() -> Option<u64> {
    crate::files::machine_memory()
}
