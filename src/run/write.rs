//! Writing frames (CSV, Parquet) through the atomic writes of
//! [`crate::files::write`], so a failure leaves nothing half-written.

use std::path::Path;

use polars::prelude::*;

pub use crate::files::write::{atomically, atomically_at, buffered, bytes};
use crate::run::error::{RunError, RunResult};
use crate::source::Span;

/// Writes a frame as CSV (`.csv`) or Parquet (anything else), creating the
/// folder when needed.
pub fn frame(mut df: DataFrame, path: &Path, span: Span) -> RunResult<()> {
    let failed = |reason: String| RunError::Write { path: path.display().to_string(), reason, span };
    let csv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    atomically(path, |file| {
        if csv {
            CsvWriter::new(file).finish(&mut df).map_err(|e| e.to_string())
        } else {
            ParquetWriter::new(buffered(file)).finish(&mut df).map(|_| ()).map_err(|e| e.to_string())
        }
    })
    .map_err(failed)
}
