//! `pipe serve`'s rows: a request's body (JSON rows, or CSV) read in the
//! run's types through the same reader as `pipe predict` (so a missing
//! column or a wrong type is the same coded diagnostic), the predictions
//! as JSON, and the thread that owns the model and predicts the requests
//! that arrive together as one batch.

// See src/run/mod.rs: run errors are rare and cold.
#![allow(clippy::result_large_err)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};

use polars::prelude::{AnyValue, DataFrame};
use serde_json::{Map, Value};

use crate::run::error::{RunError, RunResult};
use crate::run::predict::{Predictor, Reader};

/// Rows predicted together at most: requests that wait while a batch runs
/// join the next one up to this many rows.
const MAX_BATCH_ROWS: usize = 8192;

/// A request's rows to predict, and where the answer goes.
pub struct Job {
    /// The rows, read.
    pub rows: DataFrame,
    /// Whether each class's probability is asked for.
    pub probabilities: bool,
    /// The answer: the rows with their predictions, and warnings.
    pub reply: tokio::sync::oneshot::Sender<RunResult<(DataFrame, Vec<RunError>)>>,
}

fn request_error(message: impl Into<String>, help: &str) -> RunError {
    RunError::Predict { message: message.into(), help: help.into() }
}

/// A private folder for request bodies on their way through the reader.
pub struct Scratch {
    dir: PathBuf,
    next: AtomicU64,
}

impl Scratch {
    /// A new folder under the system's temporary folder, made by this
    /// call (never one that was there: its name could be guessed and
    /// prepared by another user), readable by this user only.
    pub fn create() -> std::io::Result<Self> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let stamp = format!("{}-{}", std::process::id(), nanos.as_nanos());
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        let mut attempt = 0u32;
        loop {
            let dir = std::env::temp_dir().join(format!("pipe-serve-{stamp}-{attempt}"));
            match builder.create(&dir) {
                Ok(()) => return Ok(Scratch { dir, next: AtomicU64::new(0) }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {
                    attempt = attempt.saturating_add(1);
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn file(&self, extension: &str) -> PathBuf {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!("request-{n}.{extension}"))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A request body's rows in the run's types: `csv` for a CSV body (with a
/// header, read by `pipe predict`'s reader), else JSON (a list of
/// objects, or `{"rows": [...]}`), taken value by value.
pub fn read_body(reader: &Reader, scratch: &Scratch, body: &[u8], csv: bool) -> RunResult<DataFrame> {
    if !csv {
        return reader.json_rows(&json_rows(body)?);
    }
    let path = scratch.file("csv");
    // A new file only: nothing in the folder is followed or replaced.
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut file| std::io::Write::write_all(&mut file, body));
    written.map_err(|e| RunError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
        span: crate::source::Span::default(),
    })?;
    let read = reader.read(&path);
    let _ = std::fs::remove_file(&path);
    read
}

/// The rows of a JSON body: a list of objects, or `{"rows": [...]}`.
fn json_rows(body: &[u8]) -> RunResult<Vec<Map<String, Value>>> {
    let shape = "send a JSON list of rows, each an object of column values: [{\"age\": 42, \"city\": \"Paris\"}]";
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| request_error(format!("the request's body is not JSON: {e}"), shape))?;
    let rows = match value {
        Value::Array(rows) => rows,
        Value::Object(mut o) if matches!(o.get("rows"), Some(Value::Array(_))) => match o.remove("rows") {
            Some(Value::Array(rows)) => rows,
            _ => Vec::new(),
        },
        _ => return Err(request_error("the request's JSON is not a list of rows", shape)),
    };
    if rows.is_empty() {
        return Err(request_error("the request has no rows", shape));
    }
    rows.into_iter()
        .enumerate()
        .map(|(i, row)| match row {
            Value::Object(object) => Ok(object),
            _ => Err(request_error(format!("row {} of the request is not an object", i.saturating_add(1)), shape)),
        })
        .collect()
}

/// The answer to a prediction request: `predictions`, with `probability`
/// (the predicted class's) and `probabilities` (each class's, per row)
/// when asked, and `warnings`.
pub fn answer(rows: &DataFrame, classes: &[String], warnings: Vec<Value>) -> RunResult<Value> {
    let column = |name: &str| rows.column(name).map_err(|e| request_error(e.to_string(), ""));
    let predictions = column(crate::ir::PREDICTION)?;
    let mut answer = Map::new();
    let values: Vec<Value> = (0..rows.height()).map(|i| json_of(predictions.get(i).ok())).collect();
    answer.insert("predictions".into(), Value::Array(values));
    if !classes.is_empty() {
        let columns: Vec<_> =
            classes.iter().map(|c| column(&crate::ir::class_probability(c))).collect::<RunResult<_>>()?;
        let per_row = (0..rows.height())
            .map(|i| {
                let probabilities: Map<String, Value> =
                    classes.iter().zip(&columns).map(|(c, col)| (c.clone(), json_of(col.get(i).ok()))).collect();
                Value::Object(probabilities)
            })
            .collect();
        answer.insert("probabilities".into(), Value::Array(per_row));
        let chosen = column(crate::ir::PROBABILITY)?;
        let values = (0..rows.height()).map(|i| json_of(chosen.get(i).ok())).collect();
        answer.insert("probability".into(), Value::Array(values));
    }
    answer.insert("warnings".into(), Value::Array(warnings));
    Ok(Value::Object(answer))
}

/// A cell as JSON: numbers, text, booleans; missing as null.
fn json_of(value: Option<AnyValue>) -> Value {
    match value {
        None | Some(AnyValue::Null) => Value::Null,
        Some(AnyValue::Boolean(b)) => Value::Bool(b),
        Some(AnyValue::String(s)) => Value::String(s.to_owned()),
        Some(AnyValue::StringOwned(s)) => Value::String(s.to_string()),
        Some(v) => match v.extract::<f64>() {
            Some(f) if v.is_integer() => serde_json::json!(f as i64),
            Some(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
            None => Value::String(v.to_string()),
        },
    }
}

/// The model's thread: takes the jobs in order, predicting the ones that
/// are waiting together as one batch, until every sender is gone.
pub fn predict_jobs(predictor: &Predictor, jobs: &Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        let mut rows = batch[0].rows.height();
        while rows < MAX_BATCH_ROWS {
            match jobs.try_recv() {
                Ok(job) => {
                    rows = rows.saturating_add(job.rows.height());
                    batch.push(job);
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let (with, without): (Vec<Job>, Vec<Job>) = batch.into_iter().partition(|j| j.probabilities);
        for group in [with, without] {
            predict_together(predictor, group);
        }
    }
}

/// Predicts a group of jobs (all asking, or none, for probabilities) as
/// one frame when their rows stack, and each alone when they do not, or
/// when the batch fails or warns (so each request gets its own).
fn predict_together(predictor: &Predictor, group: Vec<Job>) {
    let Some(first) = group.first() else { return };
    let probabilities = first.probabilities;
    if group.len() > 1 {
        let heights: Vec<usize> = group.iter().map(|j| j.rows.height()).collect();
        let mut stacked = first.rows.clone();
        let stacks = group[1..].iter().all(|j| stacked.vstack_mut(&j.rows).is_ok());
        if stacks
            && let Ok(Ok((rows, warnings))) = guarded(predictor, stacked, probabilities)
            && warnings.is_empty()
            && rows.height() == heights.iter().sum::<usize>()
        {
            let mut offset = 0i64;
            for (job, height) in group.into_iter().zip(heights) {
                let part = rows.slice(offset, height);
                offset = offset.saturating_add(height as i64);
                let _ = job.reply.send(Ok((part, Vec::new())));
            }
            return;
        }
    }
    for job in group {
        let answer = guarded(predictor, job.rows, job.probabilities)
            .unwrap_or_else(|reason| Err(request_error(format!("the prediction failed: {reason}"), "")));
        let _ = job.reply.send(answer);
    }
}

/// A prediction whose panic (a bug) fails its request, not the server.
fn guarded(
    predictor: &Predictor,
    rows: DataFrame,
    probabilities: bool,
) -> Result<RunResult<(DataFrame, Vec<RunError>)>, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| predictor.predict(rows, probabilities, None)))
        .map_err(|_| "an internal error in pipe (please report it)".to_owned())
}
