//! `pipe serve RUN_DIR [--host H] [--port P]`: a trained run behind HTTP.
//!
//! - `POST /predict`: rows as JSON (`[{"age": 42, ...}]` or `{"rows":
//!   [...]}`) or CSV (`Content-Type: text/csv`, with a header) ->
//!   `{"predictions": [...], "warnings": [...]}`; `?probabilities=true`
//!   adds each class's probability per row. Bad rows get 400 with the
//!   diagnostic `pipe predict` gives, as JSON.
//! - `GET /health`, `GET /schema` (the input columns and their types, the
//!   target, the classes).
//!
//! Connections run on tokio (hyper's HTTP/1.1); request bodies are read
//! on tokio's blocking threads; one thread owns the model and predicts the
//! requests waiting together as one batch. SIGTERM or Ctrl-C stops taking
//! connections and lets every request already taken finish.

// See src/run/mod.rs: run errors are rare and cold.
#![allow(clippy::result_large_err)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use super::report::Reporter;
use super::serve_rows::{Job, Scratch, answer, predict_jobs, read_body};
use crate::diagnostic::{Style, render};
use crate::run::error::RunError;
use crate::run::predict::{Predictor, Reader};
use crate::source::SourceFile;

/// The largest request body taken (larger: 413).
const MAX_BODY: usize = 64 << 20;

/// Seconds a request's headers, and then its body, get to arrive.
const BODY_SECONDS: u64 = 30;

/// Milliseconds a connection accepted just before SIGTERM gets to send its
/// request's headers.
const GRACE_MS: u64 = 300;

/// Seconds the requests taken get to finish after SIGTERM.
const DRAIN_SECONDS: u64 = 30;

/// What every request handler shares.
struct State {
    reader: Reader,
    scratch: Scratch,
    jobs: mpsc::Sender<Job>,
    classes: Vec<String>,
    schema: Value,
}

/// Serves a run folder until SIGTERM or Ctrl-C; returns whether it
/// started and stopped cleanly.
/// `device`: where to predict (`--device`, as written).
pub fn serve(run_dir: &Path, host: &str, port: u16, device: Option<&str>, reporter: &mut Reporter) -> bool {
    let no_file = || SourceFile { name: run_dir.display().to_string(), text: "".into() };
    let Some((saved, program, _)) = super::predict::checked_run(run_dir, device, reporter) else { return false };
    // The model lives on one thread: loaded there, predicting there.
    let (jobs, queue) = mpsc::channel::<Job>();
    let (ready, loaded) = mpsc::channel();
    let model = std::thread::spawn(move || {
        let predictor = match Predictor::open(saved, program) {
            Ok(p) if p.reads_images() => {
                let _ = ready.send(Err(RunError::Predict {
                    message: "this run reads images, which `pipe serve` does not take".into(),
                    help: "predict for a folder of images with `pipe predict RUN_DIR FOLDER`".into(),
                }));
                return;
            }
            Ok(p) => p,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let _ = ready.send(Ok((predictor.reader(), described(&predictor))));
        predict_jobs(&predictor, &queue);
    });
    let (reader, (schema, classes)) = match loaded.recv() {
        Ok(Ok(loaded)) => loaded,
        Ok(Err(error)) => {
            reporter.report(&error, &no_file());
            return false;
        }
        Err(_) => return false,
    };
    let scratch = match Scratch::create() {
        Ok(s) => s,
        Err(e) => {
            let error = super::CliError::Usage { message: format!("no temporary folder for requests: {e}") };
            reporter.report(&error, &no_file());
            return false;
        }
    };
    let state = Arc::new(State { reader, scratch, jobs, classes, schema });
    let served = run_server(run_dir, host, port, state, reporter);
    // Every sender is gone: the model's thread ends.
    let _ = model.join();
    served
}

/// The run's input columns, target and classes (`GET /schema`), and the
/// classes.
fn described(predictor: &Predictor) -> (Value, Vec<String>) {
    let columns: Vec<Value> =
        predictor.input_columns().iter().map(|c| json!({ "name": c.name, "type": c.dtype.to_string() })).collect();
    let classes = predictor.classes().map(<[String]>::to_vec).unwrap_or_default();
    let schema = json!({ "columns": columns, "target": predictor.target(), "classes": predictor.classes() });
    (schema, classes)
}

fn run_server(run_dir: &Path, host: &str, port: u16, state: Arc<State>, reporter: &mut Reporter) -> bool {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            report_usage(format!("could not start the server's runtime: {e}"), reporter);
            return false;
        }
    };
    let stop = Arc::new(tokio::sync::Notify::new());
    let signalled = Arc::clone(&stop);
    let signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT]);
    match signals {
        Ok(mut signals) => {
            std::thread::spawn(move || {
                let mut received = signals.forever();
                if received.next().is_some() {
                    signalled.notify_one();
                }
                // A second signal does not wait for the requests taken.
                if received.next().is_some() {
                    std::process::exit(130);
                }
            });
        }
        Err(e) => {
            report_usage(format!("could not watch for SIGTERM: {e}"), reporter);
            return false;
        }
    }
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind((host, port)).await {
            Ok(l) => l,
            Err(e) => {
                let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
                    ": another process listens there; pick another port with --port, or --port 0 for any free one"
                } else {
                    ""
                };
                report_usage(format!("cannot listen on {host}:{port}: {e}{hint}"), reporter);
                return false;
            }
        };
        let address = listener.local_addr().map_or_else(|_| format!("{host}:{port}"), |a: SocketAddr| a.to_string());
        reporter.note(&format!(
            "serving {} on http://{address}: POST /predict, GET /schema, GET /health (Ctrl-C stops)",
            run_dir.display()
        ));
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        loop {
            tokio::select! {
                // A connection that arrived before the signal is taken.
                biased;
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let state = Arc::clone(&state);
                    let service = hyper::service::service_fn(move |request| handle(request, Arc::clone(&state)));
                    let connection = hyper::server::conn::http1::Builder::new()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(std::time::Duration::from_secs(BODY_SECONDS))
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                    let watched = graceful.watch(connection);
                    tokio::spawn(async move {
                        let _ = watched.await;
                    });
                }
                () = stop.notified() => break,
            }
        }
        // No new connections; the requests taken finish. A connection
        // accepted just before the signal has not had its request read yet,
        // and graceful shutdown closes such idle connections: it gets a
        // moment to send its headers first.
        drop(listener);
        tokio::time::sleep(std::time::Duration::from_millis(GRACE_MS)).await;
        let drained = tokio::time::timeout(std::time::Duration::from_secs(DRAIN_SECONDS), graceful.shutdown()).await;
        reporter.note(if drained.is_ok() {
            "stopped: every request taken was answered"
        } else {
            "stopped after 30 s with requests still open"
        });
        true
    })
}

fn report_usage(message: String, reporter: &mut Reporter) {
    reporter.report(&super::CliError::Usage { message }, &SourceFile { name: String::new(), text: "".into() });
}

/// One request.
async fn handle(request: Request<Incoming>, state: Arc<State>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let response = match (request.method(), path.as_str()) {
        (&Method::GET, "/health") => reply(StatusCode::OK, &json!({ "status": "ok" })),
        (&Method::GET, "/schema") => reply(StatusCode::OK, &state.schema),
        (&Method::POST, "/predict") => predict(request, &state).await,
        (_, "/health" | "/schema" | "/predict") => {
            let allowed = if path == "/predict" { "POST" } else { "GET" };
            let mut response = refusal(
                StatusCode::METHOD_NOT_ALLOWED,
                "method",
                format!("{path} takes {allowed}"),
                "the paths are POST /predict, GET /schema, GET /health",
            );
            response.headers_mut().insert(hyper::header::ALLOW, hyper::header::HeaderValue::from_static(allowed));
            response
        }
        _ => refusal(
            StatusCode::NOT_FOUND,
            "path",
            format!("no path {path}"),
            "the paths are POST /predict, GET /schema, GET /health",
        ),
    };
    Ok(response)
}

/// `POST /predict`.
async fn predict(request: Request<Incoming>, state: &Arc<State>) -> Response<Full<Bytes>> {
    let probabilities = match asked_probabilities(request.uri().query()) {
        Ok(asked) => asked,
        Err(message) => {
            let help = "the one query is `?probabilities=true` (or false)";
            return refusal(StatusCode::BAD_REQUEST, "query", message, help);
        }
    };
    let csv = request
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/csv"));
    let reading = Limited::new(request.into_body(), MAX_BODY).collect();
    let body = match tokio::time::timeout(std::time::Duration::from_secs(BODY_SECONDS), reading).await {
        Ok(Ok(body)) => body.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            let message = format!("the request's body is over {} MB", MAX_BODY >> 20);
            return refusal(StatusCode::PAYLOAD_TOO_LARGE, "body", message, "send the rows in several requests");
        }
        Ok(Err(_)) => {
            let help = "send the whole body, as long as its Content-Length says";
            return refusal(StatusCode::BAD_REQUEST, "body", "the request's body was cut off".into(), help);
        }
        Err(_) => {
            let message = format!("the request's body took over {BODY_SECONDS} s to arrive");
            return refusal(StatusCode::REQUEST_TIMEOUT, "body", message, "send the body at once");
        }
    };
    if probabilities && state.classes.is_empty() {
        let error = RunError::Predict {
            message: "probabilities=true: this run predicts numbers, not classes".into(),
            help: "drop probabilities=true: a regression run's prediction is the number itself".into(),
        };
        return diagnostic(StatusCode::BAD_REQUEST, &error);
    }
    // JSON rows are read here (a few microseconds a row); a CSV body goes
    // through a file and the CSV reader, on a thread that may block.
    let read = if csv {
        let shared = Arc::clone(state);
        tokio::task::spawn_blocking(move || read_body(&shared.reader, &shared.scratch, &body, csv)).await
    } else {
        Ok(read_body(&state.reader, &state.scratch, &body, csv))
    };
    let rows = match read {
        Ok(Ok(rows)) => rows,
        Ok(Err(error)) => return diagnostic(StatusCode::BAD_REQUEST, &error),
        Err(_) => return internal("reading the request failed"),
    };
    let (reply_to, answered) = tokio::sync::oneshot::channel();
    if state.jobs.send(Job { rows, probabilities, reply: reply_to }).is_err() {
        return internal("the model's thread stopped");
    }
    match answered.await {
        Ok(Ok((rows, warnings))) => {
            let warnings = warnings.iter().map(diagnostic_json).collect();
            let classes: &[String] = if probabilities { &state.classes } else { &[] };
            match answer(&rows, classes, warnings) {
                Ok(value) => reply(StatusCode::OK, &value),
                Err(error) => diagnostic(StatusCode::INTERNAL_SERVER_ERROR, &error),
            }
        }
        Ok(Err(error)) => diagnostic(StatusCode::BAD_REQUEST, &error),
        Err(_) => internal("the model's thread stopped"),
    }
}

/// A diagnostic as `pipe predict --format json` prints it.
fn diagnostic_json(error: &RunError) -> Value {
    let text = render(error, &SourceFile { name: "request".into(), text: "".into() }, Style::Json);
    // The file a body went through on its way to the reader is the
    // request, to its sender.
    static SCRATCH: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"`?[^\s`\\\x22]*pipe-serve-\d+/request-\d+\.csv`?").expect("a valid pattern")
    });
    let text = SCRATCH.replace_all(&text, "the request");
    serde_json::from_str(&text).unwrap_or_else(|_| json!({ "message": error.to_string() }))
}

fn diagnostic(status: StatusCode, error: &RunError) -> Response<Full<Bytes>> {
    reply(status, &json!({ "error": diagnostic_json(error) }))
}

fn internal(message: &str) -> Response<Full<Bytes>> {
    refusal(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        message.to_owned(),
        "this is a bug in pipe: please report it",
    )
}

/// A request refused by the server itself (not by the rows it sent), in
/// the shape of a diagnostic: `pipe::serve::<what>`.
fn refusal(status: StatusCode, what: &str, message: String, help: &str) -> Response<Full<Bytes>> {
    reply(status, &json!({ "error": { "code": format!("pipe::serve::{what}"), "message": message, "help": help } }))
}

/// `?probabilities=true`: whether each class's probability is asked for
/// (`true`, `1`, `yes`; `false`, `0`, `no`); any other key or value is a
/// mistake, said.
fn asked_probabilities(query: Option<&str>) -> Result<bool, String> {
    let mut asked = false;
    for pair in query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, "true"));
        if key != "probabilities" {
            return Err(format!("unknown query `{key}`"));
        }
        asked = match value.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            other => return Err(format!("`probabilities={other}` is not true or false")),
        };
    }
    Ok(asked)
}

fn reply(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    response
}
