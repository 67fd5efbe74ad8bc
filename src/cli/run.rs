//! `pipe run FILE [ITEM...]`: checks the file, then runs its data items,
//! one line per item; `pipe cache clean`.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::check::load;
use super::report::{Reporter, plural};
use crate::check::explain::thousands;
use crate::run::{self, Event, Finished, Options};

/// `pipe run`'s switches.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flags {
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--resume`.
    pub resume: bool,
    /// `--in-memory`.
    pub in_memory: bool,
    /// `--memory`, in bytes.
    pub memory: Option<u64>,
}

/// Checks and runs one file; returns whether it ran without errors.
pub fn run(path: &Path, only: &[String], flags: Flags, device: Option<&str>, reporter: &mut Reporter) -> bool {
    if let Some(message) = run::stall::timeout_mistake() {
        let error = super::CliError::Usage { message };
        reporter.report(&error, &crate::source::SourceFile { name: String::new(), text: "".into() });
        return false;
    }
    let Some((sources, mut report)) = load(path, reporter) else { return false };
    if let Some(written) = device {
        match parse_device(written) {
            Ok(device) => {
                for key in override_device(&mut report.ir, &device) {
                    reporter.note(&format!(
                        "--device {written}: `{key}` is a setting of `torch.cuda` devices, so this run goes without it"
                    ));
                }
            }
            Err(reason) => {
                let error = super::CliError::Usage { message: format!("--device {written}: {reason}") };
                reporter.report(&error, &crate::source::SourceFile { name: String::new(), text: "".into() });
                return false;
            }
        }
    }
    let control = interruptible();
    let mut options = options(path, &sources, only, flags.no_cache, Some(control.clone()));
    options.resume = flags.resume;
    options.in_memory = flags.in_memory;
    options.memory = flags.memory;
    let ran = execute(&sources, &report.ir, &options, reporter);
    if control.cancel.load(std::sync::atomic::Ordering::Relaxed) {
        reporter.note(
            "interrupted: the items that finished are cached; run again to go on \
             (`pipe run --resume` continues training from its last `checkpoint:`)",
        );
        std::process::exit(130);
    }
    ran
}

/// A control that Ctrl-C and SIGTERM cancel: the first signal stops the
/// run at the next item or training batch (writes are atomic, so nothing
/// is left half-written), a second ends the process at once (exit 130).
fn interruptible() -> std::sync::Arc<run::Control> {
    let control = std::sync::Arc::new(run::Control::default());
    #[cfg(unix)]
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Registered first, the exit sees the flag as it was before this
        // signal: set only by an earlier one.
        let _ = signal_hook::flag::register_conditional_shutdown(signal, 130, control.cancel.clone());
        let _ = signal_hook::flag::register(signal, control.cancel.clone());
    }
    // Past a file-size limit (`ulimit -f`) the default action kills the
    // process mid-write; handled, the write fails with EFBIG like a full
    // disk, and the run cleans up and reports it.
    #[cfg(unix)]
    let _ = signal_hook::flag::register(signal_hook::consts::SIGXFSZ, std::sync::Arc::default());
    control
}

/// A device as written on the command line, if this build can train on it.
pub(super) fn parse_device(written: &str) -> Result<crate::ir::Device, String> {
    if let Some(address) = written.trim().strip_prefix("remote(").and_then(|rest| rest.strip_suffix(')')) {
        let address = address.trim().trim_matches('"');
        if let Some(problem) = crate::ir::remote_address_problem(address) {
            return Err(problem);
        }
        if !crate::backend::has_remote() {
            return Err("this build has no remote devices: build with `--features remote` (see the README)".into());
        }
        return Ok(crate::ir::Device::remote(address));
    }
    let (name, index) = match written.split_once('(') {
        Some((name, rest)) => {
            let index = rest.strip_suffix(')').and_then(|i| i.trim().parse::<u64>().ok());
            (name.trim(), Some(index.ok_or("write the index as in `torch.cuda(1)`")?))
        }
        None => (written.trim(), None),
    };
    use crate::ir::DeviceKind;
    let Some(kind) = DeviceKind::from_name(name) else {
        return Err(format!("unknown device; the devices are {}", DeviceKind::names().join(", ")));
    };
    match kind {
        DeviceKind::TorchCpu | DeviceKind::TorchCuda if !crate::backend::has_libtorch() => {
            Err("this build has no libtorch backend: build with `--features tch` (see the README)".into())
        }
        DeviceKind::Cuda if !crate::backend::has_cubecl_cuda() => {
            Err("this build has no CubeCL CUDA backend: use `torch.cuda` with `--features tch`".into())
        }
        DeviceKind::Cpu | DeviceKind::TorchCpu if index.is_some() => {
            Err(format!("`{name}` takes no index: write `--device {name}`"))
        }
        DeviceKind::Remote => {
            Err("a remote device needs its server's address: `--device 'remote(ws://HOST:PORT)'`".into())
        }
        DeviceKind::Cpu | DeviceKind::Cuda | DeviceKind::TorchCpu | DeviceKind::TorchCuda => {
            Ok(crate::ir::Device::local(kind, index))
        }
    }
}

/// Every training run trains on `device`; the settings it cannot use
/// (`gpu_memory:` and `cudnn_benchmark:` off `torch.cuda`) are
/// left out, and their keys returned for a note.
fn override_device(program: &mut crate::ir::Program, device: &crate::ir::Device) -> BTreeSet<&'static str> {
    use crate::ir::DeviceKind;
    let mut dropped = BTreeSet::new();
    for item in program.items.iter_mut().flatten() {
        if let crate::ir::ItemKind::Train(train) = &mut item.kind {
            let trials = train.sweep.iter_mut().flat_map(|s| &mut s.trials).map(|t| &mut t.settings);
            for settings in std::iter::once(&mut train.settings).chain(trials) {
                settings.devices = vec![device.clone()];
                if device.kind != DeviceKind::TorchCuda && settings.gpu_memory.take().is_some() {
                    dropped.insert("gpu_memory");
                }
                if device.kind != DeviceKind::TorchCuda && settings.cudnn_benchmark.take().is_some() {
                    dropped.insert("cudnn_benchmark");
                }
            }
        }
    }
    dropped
}

/// How to run a checked file.
pub fn options(
    path: &Path,
    sources: &crate::source::SourceMap,
    only: &[String],
    no_cache: bool,
    control: Option<Arc<run::Control>>,
) -> Options {
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let source_text = Some(sources.get(crate::source::FileId(0)).text.to_string());
    Options { dir, cache: !no_cache, only: only.to_vec(), source_text, control, ..Options::default() }
}

/// Runs a checked program, printing each event; returns whether it ran
/// without errors. Shared by `pipe run` and `pipe watch`.
pub fn execute(
    sources: &crate::source::SourceMap,
    program: &crate::ir::Program,
    options: &Options,
    reporter: &mut Reporter,
) -> bool {
    let start = Instant::now();
    // An error another thread ends the run with (a remote device that
    // stopped answering) prints as the others do.
    let (printer, map) = (reporter.printer(), sources.clone());
    run::fatal::set_handler(move |error| {
        let file = error.span().map_or_else(
            || crate::source::SourceFile { name: String::new(), text: String::new().into() },
            |span| map.get(span.file).clone(),
        );
        printer(error, &file);
    });
    let live = !reporter.is_json() && std::io::stderr().is_terminal();
    let progress = live.then(Progress::start);
    let (mut ran, mut cached) = (0, 0);
    let errors = run::run(program, options, &mut |event| {
        if let (Some(p), false) = (&progress, matches!(event, Event::Step { .. })) {
            p.set(None);
        }
        match event {
            Event::Step { name, index, total, operation } => {
                if let Some(p) = &progress {
                    p.set(Some(Current { name, index, total, operation, since: Instant::now() }));
                }
            }
            Event::Finished(finished) => {
                ran += 1;
                cached += usize::from(finished.cached);
                print_finished(&finished, reporter);
            }
            Event::Warning(warning) => report_run_error(&warning, sources, reporter),
            Event::Note(line) => reporter.note(&line),
            Event::Epoch { name, epoch, epochs, console, point } => {
                if console || reporter.is_json() {
                    // A sweep's point by its number: `fit_net[3]`.
                    let name = point.map_or_else(|| name.clone(), |p| format!("{name}[{p}]"));
                    print_epoch(&name, &epoch, epochs, reporter)
                }
            }
            Event::Point { name, number, of, point, cached } => {
                super::swept::print_point(&name, number, of, &point, cached, reporter)
            }
            Event::Swept { name, ranking } => super::swept::print_ranking(&name, &ranking, reporter),
            Event::Folded { name, summary } => super::folded::print_folds(&name, &summary, reporter),
            Event::Evaluated { name, scores, metrics, classes } => {
                print_scores(&name, &scores, &metrics, classes.as_deref(), reporter)
            }
        }
    });
    if let Some(p) = progress {
        p.stop();
    }
    if errors.contains(&run::error::RunError::Cancelled) {
        return false;
    }
    for error in &errors {
        report_run_error(error, sources, reporter);
    }
    let seconds = start.elapsed().as_secs_f64();
    let mut summary = format!("ran {} ({cached} cached) in {seconds:.2} s", plural(ran, "item"));
    // The whole run's peak: a parent's `wait4` sees only the last item's
    // (each item resets the high-water mark to measure its own).
    if let Some(peak) = run::memory::process_peak() {
        summary.push_str(&format!(", peak {}", megabytes(peak)));
        if reporter.is_json() {
            println!("{}", serde_json::json!({ "run_peak_memory_bytes": peak }));
        }
    }
    if reporter.errors + reporter.warnings > 0 {
        summary.push_str(&format!(": {}, {}", plural(reporter.errors, "error"), plural(reporter.warnings, "warning")));
    }
    reporter.note(&summary);
    errors.is_empty()
}

/// The step running now.
struct Current {
    name: String,
    index: usize,
    total: usize,
    operation: &'static str,
    since: Instant,
}

/// A progress bar on the terminal for the step running now, redrawn
/// several times a second by a thread (so a long step shows its time
/// passing) and shown only once a step has run for half a second.
struct Progress {
    state: Arc<Mutex<(Option<Current>, bool)>>,
    thread: std::thread::JoinHandle<()>,
}

impl Progress {
    fn start() -> Self {
        let state: Arc<Mutex<(Option<Current>, bool)>> = Arc::new(Mutex::new((None, false)));
        let shared = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(150));
                let Ok(guard) = shared.lock() else { return };
                if guard.1 {
                    return;
                }
                if let Some(c) = &guard.0
                    && c.since.elapsed() > Duration::from_millis(500)
                {
                    let width = 20;
                    let done = width * c.index / c.total.max(1);
                    let bar = format!("{}{}", "#".repeat(done), "-".repeat(width - done));
                    let seconds = c.since.elapsed().as_secs_f64();
                    let mut line =
                        format!("  {} [{bar}] {}/{} {} {seconds:.1} s", c.name, c.index + 1, c.total, c.operation);
                    if c.operation == "train" && c.index > 0 {
                        // Training steps take about as long as each other.
                        let left = seconds / c.index as f64 * (c.total - c.index) as f64;
                        line.push_str(&format!(", about {left:.0} s left in this epoch"));
                    }
                    let _ = write!(std::io::stderr(), "\r\x1b[2K{line}");
                }
            }
        });
        Progress { state, thread }
    }

    /// Sets the step running now (`None`: between steps), clearing the bar.
    /// Training steps of one epoch keep the epoch's start time (for the
    /// estimate of what is left).
    fn set(&self, current: Option<Current>) {
        if let Ok(mut guard) = self.state.lock() {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
            let continues = |old: &Current, new: &Current| {
                old.name == new.name && old.operation == "train" && new.operation == "train" && new.index > old.index
            };
            guard.0 = match (guard.0.take(), current) {
                (Some(old), Some(mut new)) if continues(&old, &new) => {
                    new.since = old.since;
                    Some(new)
                }
                (_, new) => new,
            };
        }
    }

    fn stop(self) {
        if let Ok(mut guard) = self.state.lock() {
            guard.1 = true;
        }
        let _ = self.thread.join();
        let _ = write!(std::io::stderr(), "\r\x1b[2K");
    }
}

fn report_run_error(error: &run::error::RunError, sources: &crate::source::SourceMap, reporter: &mut Reporter) {
    let file = error.span().map_or_else(
        || crate::source::SourceFile { name: String::new(), text: String::new().into() },
        |span| sources.get(span.file).clone(),
    );
    reporter.report(error, &file);
}

/// `  output     predictions      300 rows   0.01 s`
fn print_finished(f: &Finished, reporter: &Reporter) {
    if reporter.is_json() {
        let line = serde_json::json!({
            "item": f.name, "kind": f.kind, "rows": f.rows, "seconds": f.seconds, "cached": f.cached,
            "peak_memory_bytes": f.peak_bytes,
        });
        println!("{line}");
        return;
    }
    let rows = f.rows.iter().map(|r| thousands(*r as u64)).collect::<Vec<_>>().join(" + ");
    let rows = match f.kind {
        "transform" => format!("fitted on {rows} rows"),
        _ => format!("{rows} rows"),
    };
    let time = if f.cached { "cached".to_owned() } else { format!("{:.2} s", f.seconds) };
    let peak = f.peak_bytes.map(|b| format!("  peak {}", megabytes(b))).unwrap_or_default();
    reporter.note(&format!("  {:<10} {:<20} {rows:>24}  {time}{peak}", f.kind, f.name));
}

/// `1,234 MB`: bytes in whole megabytes (10^6), or `0.4 MB` below one.
fn megabytes(bytes: u64) -> String {
    let mb = bytes as f64 / 1e6;
    if mb < 1.0 { format!("{mb:.1} MB") } else { format!("{} MB", thousands(mb.round() as u64)) }
}

/// `  fit_net    epoch  3/20  loss 0.4123  accuracy 0.8120  val_loss ...`
fn print_epoch(name: &str, e: &crate::train::fit::Epoch, epochs: usize, reporter: &Reporter) {
    if reporter.is_json() {
        println!("{}", serde_json::json!({ "item": name, "epoch": e }));
        return;
    }
    let width = epochs.to_string().len();
    let mut line = format!("  {:<10} {name:<20} epoch {:>width$}/{epochs}  loss {:.4}", "train", e.epoch, e.loss);
    let metric = if e.val.as_ref().is_some_and(|v| v.accuracy.is_none()) { "mae" } else { "accuracy" };
    line.push_str(&format!("  {metric} {:.4}", e.metric));
    if let Some(v) = &e.val {
        line.push_str(&format!("  val_loss {:.4}", v.loss));
        if let Some(a) = v.accuracy {
            line.push_str(&format!("  val_accuracy {a:.4}"));
        }
        if let Some(m) = v.mae {
            line.push_str(&format!("  val_mae {m:.4}"));
        }
    }
    if let Some(peak) = e.gpu_memory {
        let (allocated, reserved) = (megabytes(peak.allocated_bytes), megabytes(peak.reserved_bytes));
        line.push_str(&format!("  gpu {allocated} (reserved {reserved})"));
    }
    if let Some(scale) = e.loss_scale {
        line.push_str(&format!("  loss_scale {scale}"));
    }
    line.push_str(&format!(
        "  lr {:.2e}  {} samples/s  {:.2} s",
        e.lr,
        thousands(e.samples_per_second as u64),
        e.seconds
    ));
    reporter.note(&line);
}

/// An evaluation's metrics (those asked for, or all), and the confusion
/// matrix when asked.
fn print_scores(
    name: &str,
    scores: &crate::train::fit::Scores,
    metrics: &[crate::ir::Metric],
    classes: Option<&[String]>,
    reporter: &Reporter,
) {
    use crate::ir::{Metric, Scalar};
    if reporter.is_json() {
        println!("{}", serde_json::json!({ "item": name, "metrics": scores }));
        return;
    }
    let wanted: Vec<Metric> =
        if metrics.is_empty() { Scalar::ALL.iter().map(|s| Metric::Scalar(*s)).collect() } else { metrics.to_vec() };
    let mut line = format!("  {:<10} {name:<20}", "evaluate");
    for m in &wanted {
        match m {
            Metric::Scalar(scalar) => {
                if let Some(v) = scores.get(*scalar) {
                    line.push_str(&format!("  {} {v:.4}", scalar.name()));
                }
            }
            Metric::TopK(k) => {
                if let Some((_, v)) = scores.top_k.iter().find(|(asked, _)| asked == k) {
                    line.push_str(&format!("  top_{k} {v:.4}"));
                }
            }
            Metric::Confusion => {}
        }
    }
    reporter.note(&line);
    if let (true, Some(matrix), Some(names)) = (wanted.contains(&Metric::Confusion), &scores.confusion, classes) {
        let cell = names
            .iter()
            .map(String::len)
            .chain(matrix.iter().flatten().map(|c| c.to_string().len()))
            .max()
            .unwrap_or(1)
            .max(4);
        reporter.note(&format!("{:>13}confusion (rows: true class, columns: predicted)", ""));
        let header: String = names.iter().map(|n| format!(" {n:>cell$}")).collect();
        reporter.note(&format!("{:>13}{:>cell$}{header}", "", ""));
        for (n, row) in names.iter().zip(matrix) {
            let cells: String = row.iter().map(|c| format!(" {c:>cell$}")).collect();
            reporter.note(&format!("{:>13}{n:>cell$}{cells}", ""));
        }
    }
}

/// `pipe cache clean [PATH]`: empties the cache folder beside a `.pipe`
/// file, or in a folder.
pub fn clean(path: &Path, reporter: &mut Reporter) -> bool {
    let dir = if path.is_dir() { path.to_path_buf() } else { path.parent().map(Path::to_path_buf).unwrap_or_default() };
    let folder = dir.join(run::cache::FOLDER);
    match run::cache::clean(&folder) {
        Ok(0) => {
            reporter.note(&format!("no cache at {}", folder.display()));
            true
        }
        Ok(bytes) => {
            reporter.note(&format!("emptied {} ({:.1} MB freed)", folder.display(), bytes as f64 / 1e6));
            true
        }
        Err(failure) => {
            let path = folder.display().to_string();
            let error = match failure {
                run::cache::CleanError::Busy => super::CliError::CacheBusy { path: path.clone() },
                run::cache::CleanError::Io(e) => super::CliError::Write { path: path.clone(), reason: e.to_string() },
            };
            reporter.report(&error, &crate::source::SourceFile { name: path, text: "".into() });
            false
        }
    }
}
