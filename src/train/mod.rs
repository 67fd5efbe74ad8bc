//! Training on Burn: models built from the IR, the training loop, metrics,
//! schedules and logs. The flex CPU backend by default.

// Integer arithmetic here may not overflow or underflow: each operation is
// checked, saturating, or on numbers the checker bounds (check/limits.rs),
// and says so (`clippy.toml` exempts tensors, Polars expressions, arrays).
#![deny(clippy::arithmetic_side_effects)]

pub mod alloc;
pub mod augment;
pub mod augment_device;
mod checkpoint;
pub mod conv;
#[cfg(feature = "tch")]
mod conv_torch;
pub mod data;
pub mod feed;
pub mod fit;
mod flex;
pub mod gpu_memory;
pub mod init;
pub mod loss;
pub mod lr_find;
pub mod metrics;
pub mod model;
pub mod norm;
#[cfg(feature = "tch")]
mod norm_torch;
pub mod optimizer;
pub mod plot;
pub mod scale;
pub mod schedule;
mod step;
pub mod tensorboard;
#[cfg(feature = "tch")]
mod torch_grad;

pub use step::run_penalty as step_penalty;
