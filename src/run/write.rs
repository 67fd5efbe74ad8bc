//! Writing frames (CSV, Parquet) through the atomic writes of
//! [`crate::files::write`], so a failure leaves nothing half-written.

use std::path::Path;

use polars::prelude::*;

pub use crate::files::write::{atomically, atomically_at, buffered, bytes};
use crate::ir::Codec;
use crate::run::error::{RunError, RunResult};
use crate::source::Span;

/// Writes a frame as CSV (`.csv`) or Parquet (anything else), creating the
/// folder when needed.
pub fn frame(mut df: DataFrame, path: &Path, codec: Codec, span: Span) -> RunResult<()> {
    let failed = |reason: String| RunError::Write { path: path.display().to_string(), reason, span };
    let csv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    atomically(path, |file| {
        if csv {
            CsvWriter::new(file).finish(&mut df).map_err(|e| e.to_string())
        } else {
            let writer = ParquetWriter::new(buffered(file)).with_compression(compression(codec));
            writer.finish(&mut df).map(|_| ()).map_err(|e| e.to_string())
        }
    })
    .map_err(failed)
}

/// Polars' setting for a codec (each at its library's default level:
/// zstd 3, as Polars writes by default).
pub fn compression(codec: Codec) -> ParquetCompression {
    match codec {
        Codec::Uncompressed => ParquetCompression::Uncompressed,
        Codec::Snappy => ParquetCompression::Snappy,
        Codec::Lz4 => ParquetCompression::Lz4Raw,
        Codec::Zstd => ParquetCompression::Zstd(None),
        Codec::Gzip => ParquetCompression::Gzip(None),
        Codec::Brotli => ParquetCompression::Brotli(None),
    }
}
