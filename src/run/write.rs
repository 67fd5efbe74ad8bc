//! Writing frames (CSV, Parquet) through the atomic writes of
//! [`crate::files::write`], so a failure leaves nothing half-written.

use std::path::Path;

use polars::io::parquet::write::{BatchedWriter, get_encodings};
use polars::prelude::*;
use polars_core::frame::chunk_df_for_writing;
use polars_parquet::read::ParquetError;
use polars_parquet::write::{
    CompressedPage, Compressor, Encoding, ParquetType, StatisticsOptions, Version, WriteOptions, array_to_columns,
};
use rayon::prelude::*;

pub use crate::files::write::{atomically, atomically_at, buffered, bytes};
use crate::ir::Codec;
use crate::run::error::{RunError, RunResult};
use crate::run::threads::on_pool;
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
            parquet(&mut df, buffered(file), compression(codec)).map_err(|e| e.to_string())
        }
    })
    .map_err(failed)
}

/// Rows per row group: Polars' writer's (`512 * 512`).
const ROW_GROUP: usize = 512 * 512;

/// Writes `df` as Parquet to `out` in row groups of [`ROW_GROUP`] rows:
/// the bytes Polars' `ParquetWriter` writes, through [`RowGroups`].
pub fn parquet<W: std::io::Write + Send>(df: &mut DataFrame, out: W, codec: ParquetCompression) -> PolarsResult<()> {
    let mut writer = RowGroups::open(out, df.schema(), codec)?;
    let groups = chunk_df_for_writing(df, ROW_GROUP)?;
    writer.write(&groups)?;
    writer.finish()
}

/// A Parquet file written a row group at a time, each row group's columns
/// encoded and compressed on all cores before it is written: the bytes
/// Polars' `BatchedWriter` writes (the same encodings, statistics and
/// codec), in less time. Polars' writer only sets up each column's pages
/// in parallel, and encodes and compresses them one after another as it
/// writes (a 1M-row, 93-column frame kept one of two cores idle for 0.35 s).
pub struct RowGroups<W: std::io::Write + Send> {
    writer: BatchedWriter<W>,
    fields: Vec<ParquetType>,
    encodings: Vec<Vec<Encoding>>,
    options: WriteOptions,
}

impl<W: std::io::Write + Send> RowGroups<W> {
    /// A writer of frames of `schema` to `out`.
    pub fn open(out: W, schema: &Schema, codec: ParquetCompression) -> PolarsResult<RowGroups<W>> {
        let mut writer = ParquetWriter::new(out).with_compression(codec).batched(schema)?;
        let fields = writer.parquet_schema().fields().to_vec();
        let encodings = get_encodings(&schema.to_arrow(CompatLevel::newest())).to_vec();
        let options = WriteOptions {
            statistics: StatisticsOptions::default(),
            version: Version::V1,
            compression: codec.into(),
            data_page_size: None,
        };
        Ok(RowGroups { writer, fields, encodings, options })
    }

    /// Writes each chunk of `df` as a row group (its columns' chunks must
    /// line up, as Polars' writer also requires). A thread of its own writes
    /// each encoded row group while the next one is encoded: copying the
    /// bytes into the system's file cache keeps a core busy (0.1-0.8 s for
    /// a 330 MB file on this project's machine), the other one idle.
    pub fn write(&mut self, df: &DataFrame) -> PolarsResult<()> {
        let RowGroups { writer, fields, encodings, options } = self;
        let (fields, encodings, options) = (&*fields, &*encodings, *options);
        std::thread::scope(|scope| {
            let (encoded, to_write) = std::sync::mpsc::sync_channel::<(u64, Vec<Vec<CompressedPage>>)>(1);
            let written = scope.spawn(move || {
                for (rows, leaves) in to_write {
                    writer.write_row_group(rows, &leaves)?;
                }
                PolarsResult::Ok(())
            });
            let mut encoding = Ok(());
            for batch in df.iter_chunks(CompatLevel::newest(), false).filter(|b| !b.is_empty()) {
                match on_pool(|| encode(batch.columns(), fields, encodings, options)) {
                    Ok(leaves) => {
                        // A writer that stopped (it failed) says why when joined.
                        if encoded.send((batch.len() as u64, leaves)).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        encoding = Err(e);
                        break;
                    }
                }
            }
            drop(encoded);
            let written =
                written.join().unwrap_or_else(|_| Err(polars_err!(ComputeError: "the Parquet writer failed")));
            encoding.and(written)
        })
    }

    /// Writes the footer.
    pub fn finish(self) -> PolarsResult<()> {
        self.writer.finish().map(|_| ())
    }
}

/// A row group's pages, encoded and compressed on all cores: one list
/// per Parquet leaf column, in order.
fn encode(
    columns: &[ArrayRef],
    fields: &[ParquetType],
    encodings: &[Vec<Encoding>],
    options: WriteOptions,
) -> PolarsResult<Vec<Vec<CompressedPage>>> {
    let columns: Vec<Vec<Vec<CompressedPage>>> = columns
        .par_iter()
        .zip(fields.par_iter())
        .zip(encodings.par_iter())
        .map(|((array, field), encoding)| column_pages(array, field, encoding, options))
        .collect::<PolarsResult<_>>()?;
    Ok(columns.into_iter().flatten().collect())
}

/// One column's pages, encoded and compressed: one list per Parquet leaf
/// column it makes (one for a flat column).
fn column_pages(
    array: &ArrayRef,
    field: &ParquetType,
    encoding: &[Encoding],
    options: WriteOptions,
) -> PolarsResult<Vec<Vec<CompressedPage>>> {
    let leaves = array_to_columns(array, field.clone(), options, encoding)?;
    leaves
        .into_iter()
        .map(|pages| {
            let pages = pages.map(|page| page.map_err(|e| ParquetError::FeatureNotSupported(e.to_string())));
            Compressor::new_from_vec(pages, options.compression, vec![])
                .collect::<Result<Vec<_>, ParquetError>>()
                .map_err(PolarsError::from)
        })
        .collect()
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

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    /// A frame of every type pipe writes (numbers, booleans, text, lists of
    /// token ids; nulls in each), over two row groups, in chunks that do
    /// not line up.
    fn frame() -> DataFrame {
        let rows = ROW_GROUP + 1_234;
        let every = |k: usize| (0..rows).map(move |i| (i % k != 0).then_some(i));
        let floats: Vec<Option<f64>> = every(7).map(|v| v.map(|i| (i as f64).sin() * 1e3)).collect();
        let ints: Vec<Option<i64>> = every(11).map(|v| v.map(|i| (i % 1_000) as i64 - 500)).collect();
        let flags: Vec<Option<bool>> = every(13).map(|v| v.map(|i| i % 3 == 0)).collect();
        let texts: Vec<Option<String>> = every(17).map(|v| v.map(|i| format!("city{}", i % 40))).collect();
        let tokens: Vec<Option<Series>> =
            every(19).map(|v| v.map(|i| Series::new("".into(), [(i % 5) as i64, (i % 9) as i64, 3]))).collect();
        let mut late = Series::new("late".into(), &floats[..1_000]);
        late.append(&Series::new("late".into(), &floats[1_000..])).unwrap();
        DataFrame::new(
            rows,
            vec![
                Column::new("f".into(), floats),
                Column::new("i".into(), ints),
                Column::new("b".into(), flags),
                Column::new("s".into(), texts),
                Column::new("t".into(), tokens),
                late.into_column(),
            ],
        )
        .unwrap()
    }

    #[test]
    fn the_parallel_writer_writes_the_bytes_polars_writes() {
        for codec in [Codec::Snappy, Codec::Zstd, Codec::Uncompressed, Codec::Lz4, Codec::Gzip, Codec::Brotli] {
            let mut expected = Vec::new();
            ParquetWriter::new(&mut expected).with_compression(compression(codec)).finish(&mut frame()).unwrap();
            let mut found = Vec::new();
            parquet(&mut frame(), &mut found, compression(codec)).unwrap();
            assert!(found == expected, "{codec:?}: {} bytes against Polars' {}", found.len(), expected.len());
            let back = ParquetReader::new(std::io::Cursor::new(found)).finish().unwrap();
            assert!(back.equals_missing(&frame()), "{codec:?}: the rows read back");
        }
    }
}
