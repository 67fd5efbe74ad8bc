//! Reading and writing files, below every layer that needs it: what a data
//! file's head says (CSV sample, Parquet footer, image folders), PyTorch's
//! safetensors, what a `save:` folder may replace, and writes that never
//! leave half a file. No Polars or Burn
//! here: the checker probes files with these, and the executors write
//! through them.

pub mod parquet;
pub mod probe;
pub mod safetensors;
pub mod saved;
pub mod write;
