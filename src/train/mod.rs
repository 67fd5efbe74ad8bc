//! Training on Burn: models built from the IR, the training loop, metrics,
//! schedules and logs. The flex CPU backend by default.

pub mod alloc;
pub mod augment;
mod checkpoint;
pub mod data;
pub mod fit;
pub mod init;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod optimizer;
pub mod plot;
pub mod scale;
pub mod schedule;
mod step;
pub mod tensorboard;
