//! The command line: `pipe check`, `pipe run`, `pipe watch`, `pipe fmt`, `pipe cache`.

mod check;
mod device_server;
mod error;
mod export;
mod fmt;
mod folded;
mod lr_find;
mod predict;
mod preview;
mod report;
mod report_page;
mod run;
mod runs;
mod serve;
mod serve_rows;
mod swept;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use error::CliError;
pub use report::{ColorChoice, Reporter};

/// Declarative, checked machine-learning pipelines.
///
/// A `.pipe` file declares data sources, data stages, fitted transforms,
/// models and training runs. `pipe check` finds mistakes before anything
/// runs; `pipe fmt` lays files out canonically.
#[derive(Debug, Parser)]
#[command(name = "pipe", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,

    /// When to use colour in diagnostics (`auto` honours NO_COLOR).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,

    /// How to print diagnostics: for people, or one JSON object per line.
    #[arg(long, global = true, value_enum, default_value_t = Format::Human)]
    format: Format,
}

/// Output format of diagnostics (and of `pipe runs`' table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Reports with the source excerpt, on stderr.
    Human,
    /// JSON lines on stdout, for editors and tools.
    Json,
    /// CSV (`pipe runs` only).
    Csv,
    /// A Markdown table (`pipe runs` only).
    Markdown,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check files for mistakes without running anything.
    ///
    /// Exits with 0 when there are no errors (warnings allowed), 1 when there
    /// are errors, 2 on a usage error.
    Check {
        /// The `.pipe` files to check.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Print each item with its inferred schema (on stdout).
        #[arg(long)]
        explain: bool,
    },
    /// Check a file, then run its data items: every `output` (or the items
    /// named), and what they need.
    ///
    /// Prints one line per item: its rows, its seconds, or `cached` when the
    /// stage cache (`.pipe-cache` beside the file) already had it. Exits with
    /// 0 when all ran, 1 on errors.
    Run {
        /// The `.pipe` file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Run only these items (and what they read).
        #[arg(value_name = "ITEM")]
        items: Vec<String>,
        /// Recompute everything, and leave the cache as it is.
        #[arg(long)]
        no_cache: bool,
        /// Continue each training run from its last checkpoint (the newest
        /// run folder with the same settings and model), if it has one.
        #[arg(long)]
        resume: bool,
        /// Train on this device instead of the ones the file names: `cpu`,
        /// `torch.cpu`, `torch.cuda`, `torch.cuda(1)` (libtorch needs a build
        /// with `--features tch`), `remote(ws://HOST:PORT)` (a `pipe
        /// device-server`).
        #[arg(long, value_name = "DEVICE")]
        device: Option<String>,
        /// Hold every item's rows in memory instead of streaming the items
        /// that can stream (`pipe check --explain` says which): faster when
        /// the data fits in memory with room to spare.
        #[arg(long)]
        in_memory: bool,
        /// The memory budget: `2GB`, `512MB`. Items that can stream (`pipe
        /// check --explain`) stream when their source would not fit in it;
        /// an item that must hold a larger source stops the run before it
        /// starts. Default: half of this machine's memory, without the stop.
        #[arg(long, value_name = "SIZE")]
        memory: Option<String>,
    },
    /// Check and run a file on every save: diagnostics as you type, and only
    /// what changed re-runs (the stage cache keeps the rest).
    ///
    /// Watches the file, the files it imports and the data its sources read.
    /// A training in progress takes edits to its epochs, schedule, learning
    /// rate and early stopping at its next epoch; other edits stop it and run
    /// the new pipeline. A file with errors keeps the last good results.
    Watch {
        /// The `.pipe` file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Recompute everything on each change.
        #[arg(long)]
        no_cache: bool,
        /// Rewrite this `pipe report` page over the file's runs after each
        /// run; the page reloads itself every few seconds in a browser.
        #[arg(long, value_name = "HTML")]
        report: Option<PathBuf>,
    },
    /// Predict for new data with a trained run: the transforms the training
    /// data went through (with the numbers saved in the run folder), then
    /// the model. Writes the rows with a `prediction` column.
    Predict {
        /// A run folder, `runs/<train item>/<time>/`.
        #[arg(value_name = "RUN_DIR")]
        run: PathBuf,
        /// The new data (CSV or Parquet), with the columns the training data
        /// had before its transforms; the target may be missing.
        #[arg(value_name = "DATA")]
        data: PathBuf,
        /// Where to write (CSV or Parquet by extension; default
        /// `<DATA>_predictions.parquet`).
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
        /// Also write `probability`, the predicted class's probability, and
        /// `probability_<class>` for each class (classification runs).
        #[arg(long)]
        probabilities: bool,
        /// A two-class run predicts its second class when that class's
        /// probability passes this (0.5 unless given).
        #[arg(long, value_name = "P")]
        threshold: Option<f64>,
        /// Predict on this device instead of the first one the run trained
        /// on: `cpu`, `torch.cpu`, `torch.cuda`, `torch.cuda(1)` (a run
        /// trained on a GPU predicts on a machine without one with `cpu`).
        #[arg(long, value_name = "DEVICE")]
        device: Option<String>,
    },
    /// Write a PNG grid of a training run's images: each sample, then the
    /// versions its augmentation draws in epochs 1, 2, ... (as training
    /// draws them).
    AugmentPreview {
        /// The `.pipe` file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The `train` item whose `augment:` is shown.
        #[arg(value_name = "TRAIN")]
        train: String,
        /// Where to write the PNG.
        #[arg(short, long, value_name = "OUT", default_value = "augment-preview.png")]
        output: PathBuf,
        /// How many samples (rows of the grid).
        #[arg(long, default_value_t = 8)]
        samples: usize,
        /// How many augmented versions of each (columns after the original).
        #[arg(long, default_value_t = 6)]
        versions: usize,
    },
    /// The learning-rate range test of a training run: a fresh model
    /// trained for some steps while the rate grows from tiny to large; the
    /// loss at each rate as a PNG and a CSV, and the rates it suggests
    /// (fastai's `lr_find`).
    LrFind {
        /// The `.pipe` file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The `train` item to test.
        #[arg(value_name = "TRAIN")]
        train: String,
        /// Where to write the PNG (the CSV goes beside it).
        #[arg(short, long, value_name = "OUT", default_value = "lr-find.png")]
        output: PathBuf,
        /// The first step's learning rate.
        #[arg(long, default_value_t = 1e-7)]
        start: f64,
        /// The last step's learning rate.
        #[arg(long, default_value_t = 10.0)]
        end: f64,
        /// How many steps.
        #[arg(long, default_value_t = 100)]
        steps: usize,
    },
    /// Export a trained run: `-o model.onnx` writes its whole prediction
    /// (the fitted steps from the raw columns, the model, the class and
    /// probabilities) as one ONNX graph; `-o model.safetensors` its weights
    /// under PyTorch's `nn.Sequential` names, with the fitted transforms'
    /// numbers beside them (`model.transforms.json`).
    Export {
        /// A run folder, `runs/<train item>/<time>/`.
        #[arg(value_name = "RUN_DIR")]
        run: PathBuf,
        /// Where to write (`.onnx` or `.safetensors`).
        #[arg(short, long, value_name = "OUT")]
        output: PathBuf,
    },
    /// Write one self-contained HTML page over training runs: the runs'
    /// table, learning curves per metric (a run toggled by its row), a
    /// sweep's parallel coordinates and value-vs-metric scatters, and each
    /// evaluation's scores, confusion matrix and ROC/PR curves. It loads
    /// nothing from the network.
    Report {
        /// Run folders, `.pipe` files (their `runs/`), folders holding
        /// `runs/`, or `runs/` folders (default: the current folder).
        #[arg(value_name = "RUNS")]
        runs: Vec<PathBuf>,
        /// The HTML file to write.
        #[arg(short, long, value_name = "OUT", default_value = "report.html")]
        output: PathBuf,
    },
    /// Serve a trained run over HTTP: `POST /predict` (JSON rows or CSV ->
    /// predictions; `?probabilities=true`), `GET /schema`, `GET /health`.
    /// Bad rows get 400 with `pipe predict`'s diagnostic as JSON; SIGTERM
    /// or Ctrl-C stops after answering the requests taken.
    Serve {
        /// A run folder, `runs/<train item>/<time>/`.
        #[arg(value_name = "RUN_DIR")]
        run: PathBuf,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// The port (0: any free one, printed when listening).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Predict on this device instead of the first one the run trained
        /// on (as `pipe predict --device`).
        #[arg(long, value_name = "DEVICE")]
        device: Option<String>,
    },
    /// Serve this machine's flex device to other `pipe` processes, for
    /// `device: remote("ws://HOST:PORT")` (the `remote` feature); Ctrl-C
    /// or SIGTERM stops it.
    DeviceServer {
        /// The address to listen on (`0.0.0.0`: every interface).
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// The port (0: any free one, printed when listening).
        #[arg(long, default_value_t = 7070)]
        port: u16,
        /// The device served: `cpu` (flex), the one Burn can serve.
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// List the training runs in a `runs/` folder: status, start, duration,
    /// settings and final and best metrics (`--format csv|json|markdown`);
    /// `pipe runs diff A B` shows what differs between two runs.
    #[command(args_conflicts_with_subcommands = true)]
    Runs {
        #[command(subcommand)]
        command: Option<RunsCommand>,
        /// A `.pipe` file (its `runs/` folder), a folder holding `runs/`,
        /// or a `runs/` folder.
        #[arg(value_name = "PATH", default_value = ".")]
        path: PathBuf,
        /// Only this `train` item's runs.
        #[arg(value_name = "ITEM")]
        item: Option<String>,
        /// Only the settings whose values differ between the runs listed.
        #[arg(long)]
        only_changed: bool,
        /// Sort by this column (`-column` for descending), as `--sort val_loss`.
        #[arg(long, value_name = "COLUMN", allow_hyphen_values = true)]
        sort: Option<String>,
    },
    /// Serve the language server protocol on stdin/stdout, for editors:
    /// diagnostics as you type, hover, completion of columns and names, go
    /// to definition, the outline and formatting.
    Lsp,
    /// Manage the stage cache.
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
    /// Format files in place, in the canonical layout.
    ///
    /// Comments and single blank lines are kept. A file with syntax errors is
    /// left untouched. `-` formats standard input to standard output.
    Fmt {
        /// The `.pipe` files to format, or `-` for standard input.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Change nothing; exit with 1 if any file is not formatted.
        #[arg(long)]
        check: bool,
    },
}

/// `pipe runs` subcommands.
#[derive(Debug, Subcommand)]
enum RunsCommand {
    /// What differs between two runs: settings, and metrics with deltas.
    Diff {
        /// A run folder (`runs/<item>/<time>`, or `<item>/<time>` under `./runs`).
        #[arg(value_name = "A")]
        a: PathBuf,
        /// The run to compare with it.
        #[arg(value_name = "B")]
        b: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum CacheCommand {
    /// Empty the cache folder beside a `.pipe` file (or in a folder); refused while a run uses it.
    Clean {
        /// A `.pipe` file or a folder (default: the current folder).
        #[arg(value_name = "PATH", default_value = ".")]
        path: PathBuf,
    },
}

/// Runs the command line and returns the process's exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    // The parser, checker and formatter recurse over the program; a large
    // stack (only touched pages are used) gives deep but valid programs
    // room beyond the limits the parser enforces.
    let worker = std::thread::Builder::new().stack_size(STACK_BYTES).spawn(move || run(cli));
    match worker.map(std::thread::JoinHandle::join) {
        Ok(Ok(true)) => ExitCode::SUCCESS,
        Ok(Ok(false)) => ExitCode::FAILURE,
        _ => {
            eprintln!("pipe: internal error (please report it with the file that caused it)");
            ExitCode::from(70)
        }
    }
}

/// Output into a pipe its reader closed (`pipe run ... | head`) ends the
/// process quietly, as other command-line tools do, instead of Rust's
/// panic on a failed print. Not for `pipe serve`, whose sockets must
/// survive a client that goes away.
fn quiet_on_closed_pipe() {
    // SAFETY: setting a signal's disposition to the default has no
    // preconditions; no handler of this process is replaced.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Stack of the thread that does the work.
const STACK_BYTES: usize = 256 << 20;

fn run(cli: Cli) -> bool {
    // The servers log for as long as they run: a reader that went away
    // must not end them.
    if !matches!(cli.command, Command::Serve { .. } | Command::DeviceServer { .. }) {
        quiet_on_closed_pipe();
    }
    let mut reporter = Reporter::new(cli.format == Format::Json, cli.color);
    if matches!(cli.format, Format::Csv | Format::Markdown) && !matches!(cli.command, Command::Runs { .. }) {
        let error = CliError::Usage { message: "--format csv and markdown are for `pipe runs`".into() };
        reporter.report(&error, &crate::source::SourceFile { name: String::new(), text: "".into() });
        return false;
    }
    match cli.command {
        Command::Export { run, output } => export::export(&run, &output, &mut reporter),
        Command::Report { runs, output } => report_page::report(&runs, &output, None, &mut reporter),
        Command::Serve { run, host, port, device } => serve::serve(&run, &host, port, device.as_deref(), &mut reporter),
        Command::DeviceServer { host, port, device } => {
            device_server::device_server(&host, port, &device, &mut reporter)
        }
        Command::Runs { command: Some(RunsCommand::Diff { a, b }), .. } => {
            runs::diff(&a, &b, cli.format, &mut reporter)
        }
        Command::Runs { command: None, path, item, only_changed, sort } => {
            let listing = runs::Listing {
                path: &path,
                item: item.as_deref(),
                only_changed,
                sort: sort.as_deref(),
                format: cli.format,
            };
            runs::runs(&listing, &mut reporter)
        }
        Command::Check { files, explain } => check::run(&files, explain, &mut reporter),
        Command::Fmt { files, check } => fmt::run(&files, check, &mut reporter),
        Command::Run { file, items, no_cache, resume, device, in_memory, memory } => {
            let memory = match memory.as_deref().map(crate::run::budget::parse_size).transpose() {
                Ok(memory) => memory,
                Err(reason) => {
                    let error = CliError::Usage { message: format!("--memory: {reason}") };
                    reporter.report(&error, &crate::source::SourceFile { name: String::new(), text: "".into() });
                    return false;
                }
            };
            let flags = run::Flags { no_cache, resume, in_memory, memory };
            run::run(&file, &items, flags, device.as_deref(), &mut reporter)
        }
        Command::Predict { run, data, output, probabilities, threshold, device } => {
            let asked = predict::Asked { probabilities, threshold, device };
            predict::predict(&run, &data, output.as_deref(), asked, &mut reporter)
        }
        Command::Watch { file, no_cache, report } => {
            watch::watch(&file, no_cache, report.as_deref(), cli.format == Format::Json, cli.color)
        }
        Command::Cache { command: CacheCommand::Clean { path } } => run::clean(&path, &mut reporter),
        Command::AugmentPreview { file, train, output, samples, versions } => {
            let what = preview::Preview { file: &file, train: &train, output: &output, samples, versions };
            preview::preview(&what, &mut reporter)
        }
        Command::LrFind { file, train, output, start, end, steps } => {
            let test = crate::train::lr_find::RangeTest { start, end, steps };
            lr_find::lr_find(&lr_find::LrFind { file: &file, train: &train, output: &output, test }, &mut reporter)
        }
        Command::Lsp => match crate::lsp::serve() {
            Ok(()) => true,
            Err(e) => {
                // The reason may quote a whole message (a 5 MB document): its head is enough.
                let mut reason = e.to_string();
                if reason.len() > 400 {
                    reason.truncate(crate::source::floor_char_boundary(&reason, 400));
                    reason.push_str(" …");
                }
                let error = CliError::Connection { reason };
                reporter.report(&error, &crate::source::SourceFile { name: String::new(), text: "".into() });
                false
            }
        },
    }
}

/// Reads a file as bytes, reporting failure as a diagnostic.
fn read(path: &std::path::Path, reporter: &mut Reporter) -> Option<Vec<u8>> {
    match crate::files::regular_file(path).map_err(std::io::Error::other).and_then(|()| std::fs::read(path)) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            let error = CliError::Read { path: path.display().to_string(), reason: e.to_string() };
            reporter.report(&error, &crate::source::SourceFile { name: path.display().to_string(), text: "".into() });
            None
        }
    }
}
