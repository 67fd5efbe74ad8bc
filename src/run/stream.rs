//! Outputs that never hold their rows. An output whose source (local files)
//! no other item reads, whose steps each look at one row at a time (filter, select, drop,
//! rename, with, drop_nulls, cast, log1p) and which ends in `write(...)`
//! runs as one Polars query on its streaming engine: batches are read,
//! transformed and written as they come, so a file larger than memory can
//! be filtered into Parquet. The steps are the in-memory path's own lazy
//! queries ([`ops::lazy`]) and the writers are the same, so the file
//! written holds the same rows.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use polars::prelude::*;

use crate::ir::{FrameInput, ItemId, ItemKind, Op, Source};
use crate::run::error::{RunError, RunResult};
use crate::run::{Session, ops, read, write};

/// Rows per batch handed to the writer (a Parquet row group each).
const BATCH_ROWS: usize = 1 << 17;

/// What a streaming output runs: its source, the steps before its `write`,
/// and the file written.
pub(super) struct Streaming<'p> {
    source: &'p Source,
    source_id: ItemId,
    steps: &'p [Op],
    path: PathBuf,
    /// The `write(...)` step, where a failed write points.
    write_span: crate::source::Span,
}

/// Why one streaming attempt failed.
enum Failure {
    /// Reading or computing (a value that does not parse, say).
    Query,
    /// Writing the output.
    Write(String),
}

impl<'a> Session<'a> {
    /// The streaming plan of output `id`, when its rows need not be held
    /// (see the module's documentation); `None` otherwise.
    pub(super) fn streaming_plan(&self, id: ItemId) -> Option<Streaming<'a>> {
        let program = self.program;
        let item = program.items.get(id)?.as_ref()?;
        let ItemKind::Output(frame) = &item.kind else { return None };
        let FrameInput::Item(source_id) = frame.input else { return None };
        let uses = self.uses.as_ref()?;
        // Another item reads the output's rows, or the source's: they are
        // held in memory for it, so this output reads them from there.
        if uses.contains_key(&id) || uses.get(&source_id) != Some(&1) || self.frames.contains_key(&source_id) {
            return None;
        }
        if program.memory(id) != Some(crate::ir::Memory::Streams) {
            return None;
        }
        let ItemKind::Source(source) = &program.items.get(source_id)?.as_ref()?.kind else { return None };
        let (Op::Write(path), steps) = frame.ops.split_last()? else { return None };
        let write_span = *frame.spans.last()?;
        Some(Streaming { source, source_id, steps, path: self.dir.join(path), write_span })
    }

    /// Runs a streaming output; its rows. `None` when the query failed for
    /// a reason other than a value that does not parse (a cast, a Polars
    /// limit): nothing was written, and the output runs in memory instead,
    /// where the failing step reports it at its own span.
    pub(super) fn stream(&mut self, id: ItemId, plan: &Streaming) -> RunResult<Option<usize>> {
        let name = self.item(id).name.clone();
        self.step_event(&name, 0, 1, "stream");
        let attempts: &[bool] = match plan.source {
            // Only empty fields as null first (fast), then every null string
            // matched, as a source read into memory is.
            Source::Csv { .. } => &[true, false],
            Source::Parquet { .. } | Source::Images { .. } => &[true],
        };
        for &fast in attempts {
            let scan = match plan.source {
                Source::Csv { .. } => read::scan_csv(plan.source, fast),
                Source::Parquet { .. } | Source::Images { .. } => read::scan_parquet(plan.source),
            };
            let Some(scan) = scan else { break };
            let query = scan.and_then(|l| plan.steps.iter().try_fold(l, |l, op| ops::lazy(op, l).map_err(to_polars)));
            let result = match query {
                Ok(query) => sink(query, &plan.path),
                Err(_) => Err(Failure::Query),
            };
            match result {
                Ok(rows) => return Ok(Some(rows)),
                Err(Failure::Write(reason)) => {
                    let span = plan.write_span;
                    return Err(RunError::Write { path: plan.path.display().to_string(), reason, span });
                }
                Err(Failure::Query) => {}
            }
        }
        // A value that does not parse: the error a read into memory gives.
        let source_span = self.item(plan.source_id).span;
        match read::bad_csv_value(plan.source, source_span) {
            Some(error) => Err(error),
            None => Ok(None),
        }
    }
}

/// A [`RunError`] inside a Polars query's error (the step that cannot
/// stream is a bug, reported with its message).
fn to_polars(e: RunError) -> PolarsError {
    polars_err!(ComputeError: "{e}")
}

/// Runs `query` on the streaming engine into `path` (atomically: a failure
/// leaves the previous file); the rows written. Parquet goes through
/// Polars' own sink (its column encoding runs in parallel: writing batch by
/// batch from a callback took 2.5x as long), CSV through [`sink_batches`].
fn sink(query: LazyFrame, path: &Path) -> Result<usize, Failure> {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
        return sink_batches(query, path);
    }
    let mut query_error = None;
    let mut rows = 0;
    let written = write::atomically_at(path, |temporary| {
        let target = SinkTarget::Path(PlRefPath::new(temporary.to_string_lossy().into_owned()));
        let format = FileWriteFormat::Parquet(Arc::new(ParquetWriteOptions::default()));
        let run = query
            .clone()
            .sink(SinkDestination::File { target }, format, UnifiedSinkArgs::default())
            .and_then(|sink| sink.collect_with_engine(Engine::Streaming));
        if let Err(e) = run {
            let reason = e.to_string();
            query_error = Some(());
            return Err(reason);
        }
        let count = crate::files::parquet::rows(temporary)?;
        rows = usize::try_from(count).map_err(|e| e.to_string())?;
        Ok(())
    });
    match (written, query_error) {
        (Ok(()), _) => Ok(rows),
        (Err(_), Some(())) => Err(Failure::Query),
        (Err(reason), None) => Err(Failure::Write(reason)),
    }
}

/// [`sink`] for CSV: a callback writes each batch with the writer
/// `write(...)` uses (the same text for the same rows).
fn sink_batches(mut query: LazyFrame, path: &Path) -> Result<usize, Failure> {
    let schema = query.collect_schema().map_err(|_| Failure::Query)?;
    let rows = Arc::new(AtomicUsize::new(0));
    let write_error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let mut query_error = None;
    let written = write::atomically(path, |file| {
        let out = file.try_clone().map_err(|e| e.to_string())?;
        let writer = CsvWriter::new(out).batched(&schema).map_err(|e| e.to_string())?;
        let writer = Arc::new(Mutex::new(Some(writer)));
        let (batch_writer, batch_rows, batch_error) =
            (Arc::clone(&writer), Arc::clone(&rows), Arc::clone(&write_error));
        let callback = PlanCallback::new(move |df: DataFrame| {
            let mut slot = batch_writer.lock().map_err(|_| polars_err!(ComputeError: "a writer failed"))?;
            let Some(writer) = slot.as_mut() else { return Ok(true) };
            if let Err(e) = writer.write_batch(&df) {
                if let Ok(mut first) = batch_error.lock() {
                    first.get_or_insert_with(|| e.to_string());
                }
                return Err(e);
            }
            batch_rows.fetch_add(df.height(), Ordering::Relaxed);
            // Go on.
            Ok(false)
        });
        let run = query
            .clone()
            .sink_batches(callback, true, NonZeroUsize::new(BATCH_ROWS))
            .and_then(|sink| sink.collect_with_engine(Engine::Streaming));
        if let Err(e) = run {
            let reason = e.to_string();
            query_error = Some(());
            return Err(reason);
        }
        let mut writer = writer.lock().ok().and_then(|mut w| w.take()).ok_or("the writer was lost")?;
        writer.finish().map_err(|e| e.to_string())
    });
    match written {
        Ok(()) => Ok(rows.load(Ordering::Relaxed)),
        Err(reason) => match (write_error.lock().ok().and_then(|mut e| e.take()), query_error) {
            (Some(reason), _) => Err(Failure::Write(reason)),
            (None, Some(())) => Err(Failure::Query),
            (None, None) => Err(Failure::Write(reason)),
        },
    }
}
