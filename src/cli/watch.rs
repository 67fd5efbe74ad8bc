//! `pipe watch FILE`: re-check on every save, show the diagnostics, and run
//! what changed (the stage cache skips the rest). A training in progress
//! takes edits to its epochs, schedule, learning rate and early stopping at
//! its next epoch; any other edit stops it and starts the new pipeline.

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread::JoinHandle;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use super::check::load;
use super::report::{ColorChoice, Reporter};
use super::run::{execute, options};
use crate::ir::{ItemKind, Program, Source, TrainSettings};
use crate::run::Control;

/// Quiet time after a change before acting (editors write in several steps).
const DEBOUNCE: Duration = Duration::from_millis(40);

/// How often a page `pipe watch --report` writes reloads itself.
const REPORT_RELOAD_SECONDS: u32 = 5;

/// A run in progress.
struct Worker {
    handle: JoinHandle<()>,
    control: Arc<Control>,
    program: Program,
}

/// Watches and re-runs until interrupted; returns false only when the
/// watcher cannot start.
/// With `page_file`, the `pipe report` page over the file's runs is
/// rewritten after each run (reloading itself in a browser).
pub fn watch(path: &Path, no_cache: bool, page_file: Option<&Path>, json: bool, color: ColorChoice) -> bool {
    if let Some(message) = crate::run::stall::timeout_mistake() {
        let error = super::CliError::Usage { message };
        let mut reporter = Reporter::new(json, color);
        reporter.report(&error, &crate::source::SourceFile { name: String::new(), text: "".into() });
        return false;
    }
    let (tx, rx) = channel();
    let mut watcher = match notify::recommended_watcher(move |event| {
        let _ = tx.send(event);
    }) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("pipe watch: cannot watch files: {e}");
            return false;
        }
    };
    let mut watched: HashSet<PathBuf> = HashSet::new();
    let mut worker: Option<Worker> = None;
    // The last program that checked clean, to say what changed.
    let mut previous: Option<Program> = None;
    loop {
        let mut reporter = Reporter::new(json, color);
        if !json && std::io::stderr().is_terminal() {
            // Clear the screen: each save shows the file as it is now.
            let _ = write!(std::io::stderr(), "\x1b[2J\x1b[H");
        }
        reporter.note(&format!("checking {}", path.display()));
        let loaded = load(path, &mut reporter);
        let files = files_of(path, loaded.as_ref().map(|(s, r)| (s, &r.ir)));
        let folders = loaded.as_ref().map(|(_, r)| image_folders(&r.ir)).unwrap_or_default();
        let dirs = files.iter().filter_map(|f| f.parent().map(Path::to_path_buf)).chain(folders.iter().cloned());
        for dir in dirs.collect::<HashSet<_>>() {
            if watched.insert(dir.clone()) {
                let _ = watcher
                    .watch(if dir.as_os_str().is_empty() { Path::new(".") } else { &dir }, RecursiveMode::NonRecursive);
            }
        }
        if let Some((sources, report)) = loaded {
            let soft =
                worker.as_ref().filter(|w| !w.handle.is_finished()).and_then(|w| soft_changes(&w.program, &report.ir));
            match (soft, &worker) {
                (Some(changes), Some(w)) => {
                    for (name, settings) in changes {
                        reporter
                            .note(&format!("  {name}: training continues; the new settings apply at its next epoch"));
                        if let Ok(mut pending) = w.control.settings.lock() {
                            pending.insert(name, settings);
                        }
                    }
                    if let Some(w) = worker.as_mut() {
                        w.program = report.ir.clone();
                    }
                }
                _ => {
                    stop(worker.take(), &reporter);
                    let plan_options = options(path, &sources, &[], no_cache, None);
                    reporter.note(&plan(previous.as_ref(), &report.ir, &plan_options));
                    previous = Some(report.ir.clone());
                    let control = Arc::new(Control::default());
                    let options = options(path, &sources, &[], no_cache, Some(control.clone()));
                    let program = report.ir.clone();
                    let ir = report.ir;
                    let page = page_file.map(|page| (page.to_path_buf(), path.to_path_buf()));
                    let handle = std::thread::spawn(move || {
                        let mut reporter = Reporter::new(json, color);
                        execute(&sources, &ir, &options, &mut reporter);
                        if options.control.as_ref().is_some_and(|c| c.cancel.load(std::sync::atomic::Ordering::Relaxed))
                        {
                            reporter.note("stopped: the pipeline changed");
                        }
                        if let Some((page, file)) = &page {
                            crate::cli::report_page::report(
                                std::slice::from_ref(file),
                                page,
                                Some(REPORT_RELOAD_SECONDS),
                                &mut reporter,
                            );
                        }
                        reporter.note("watching for changes (Ctrl-C to stop)");
                    });
                    worker = Some(Worker { handle, control, program });
                }
            }
        } else {
            reporter.note("watching for changes (Ctrl-C to stop); the last good results are kept");
        }
        wait_for_change(&rx, &files, &folders, &mut worker);
    }
}

/// `plan: prep cached · net changed · report re-run`: for each item, whether
/// the cache has it, it changed since the last good version, or it runs again
/// because something it reads changed.
fn plan(previous: Option<&Program>, program: &Program, options: &crate::run::Options) -> String {
    let cached = crate::run::cached_items(program, options);
    let before = |name: &str| {
        previous?
            .items
            .iter()
            .flatten()
            .find(|i| i.name == name)
            .map(|i| crate::ir::fingerprint(&i.kind, Default::default()))
    };
    let parts: Vec<String> = program
        .items
        .iter()
        .flatten()
        .filter(|i| !matches!(i.kind, ItemKind::Source(_)))
        .map(|item| {
            let status = if cached.contains(&item.name) {
                "cached"
            } else if before(&item.name).is_some_and(|f| f != crate::ir::fingerprint(&item.kind, Default::default())) {
                "changed"
            } else if previous.is_some() {
                "re-run"
            } else {
                "run"
            };
            format!("{} {status}", item.name)
        })
        .collect();
    format!("plan: {}", parts.join(" · "))
}

/// Stops a run in progress (at its next item or epoch) and waits for it.
fn stop(worker: Option<Worker>, reporter: &Reporter) {
    let Some(w) = worker else { return };
    if !w.handle.is_finished() {
        reporter.note("the pipeline changed: stopping the run in progress");
        w.control.cancel.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let _ = w.handle.join();
}

/// Blocks until one of `files`, or anything in one of `folders`, changes
/// (or a run ends with settings it never applied, which needs a new run).
fn wait_for_change(
    rx: &Receiver<notify::Result<notify::Event>>,
    files: &HashSet<PathBuf>,
    folders: &HashSet<PathBuf>,
    worker: &mut Option<Worker>,
) {
    let names: HashSet<(PathBuf, std::ffi::OsString)> =
        files.iter().filter_map(|f| Some((canonical_dir(f)?, f.file_name()?.to_owned()))).collect();
    let folders: HashSet<PathBuf> = folders.iter().filter_map(|f| f.canonicalize().ok()).collect();
    let relevant = |event: &notify::Event| {
        use notify::EventKind::{Create, Modify, Remove};
        use notify::event::ModifyKind;
        // Reads (the run's own) and metadata changes are not edits.
        let edit = matches!(
            event.kind,
            Create(_) | Remove(_) | Modify(ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any)
        );
        edit && event.paths.iter().any(|p| {
            let key = p.file_name().and_then(|n| Some((canonical_dir(p)?, n.to_owned())));
            key.is_some_and(|k| names.contains(&k)) || canonical_dir(p).is_some_and(|d| folders.contains(&d))
        })
    };
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(Ok(event)) if relevant(&event) => break,
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => {
                let unapplied = worker
                    .as_ref()
                    .is_some_and(|w| w.handle.is_finished() && w.control.settings.lock().is_ok_and(|s| !s.is_empty()));
                if unapplied {
                    return;
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
    // Let the editor finish writing; drain what followed.
    std::thread::sleep(DEBOUNCE);
    while rx.try_recv().is_ok() {}
}

fn canonical_dir(path: &Path) -> Option<PathBuf> {
    let dir = path.parent()?;
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    dir.canonicalize().ok()
}

/// The files a change of which matters: the pipeline, the files it imports,
/// the data its sources read.
fn files_of(path: &Path, checked: Option<(&crate::source::SourceMap, &Program)>) -> HashSet<PathBuf> {
    let mut files = HashSet::from([path.to_path_buf()]);
    let Some((sources, program)) = checked else { return files };
    for file in sources.names() {
        let p = PathBuf::from(file);
        if p.is_file() {
            files.insert(p);
        }
    }
    for item in program.items.iter().flatten() {
        if let ItemKind::Source(Source::Csv { files: found, .. } | Source::Parquet { files: found }) = &item.kind {
            // A URL cannot be watched: its source reruns with the file.
            if !found.is_url() {
                files.extend(found.files.iter().map(|f| f.path.clone()));
            }
        }
    }
    files
}

/// The folders of image sources and their class sub-folders, and those a
/// glob or folder source found its files in: an image or data file added,
/// removed or rewritten in any of them matters.
fn image_folders(program: &Program) -> HashSet<PathBuf> {
    let mut folders = HashSet::new();
    for item in program.items.iter().flatten() {
        match &item.kind {
            ItemKind::Source(Source::Images { dir, classes, .. }) => {
                folders.insert(dir.clone());
                folders.extend(classes.iter().map(|c| dir.join(c)));
            }
            ItemKind::Source(Source::Csv { files, .. } | Source::Parquet { files }) if files.many => {
                folders.extend(files.folders.iter().cloned());
            }
            _ => {}
        }
    }
    folders
}

/// When the new program differs from the running one only in settings a
/// training takes mid-run (epochs, early stopping, schedule, learning
/// rate: what the training loop re-reads each epoch): those settings, by
/// training item. Any other change restarts the run.
fn soft_changes(old: &Program, new: &Program) -> Option<Vec<(String, TrainSettings)>> {
    let same = |a: &ItemKind, b: &ItemKind| {
        crate::ir::fingerprint(a, Default::default()) == crate::ir::fingerprint(b, Default::default())
    };
    if old.items.len() != new.items.len() {
        return None;
    }
    let mut changes = Vec::new();
    for (a, b) in old.items.iter().zip(&new.items) {
        match (a, b) {
            (None, None) => {}
            (Some(a), Some(b)) if a.name == b.name && same(&a.kind, &b.kind) => {}
            (Some(a), Some(b)) if a.name == b.name => {
                let (ItemKind::Train(old_train), ItemKind::Train(new_train)) = (&a.kind, &b.kind) else { return None };
                let mut adjusted = old_train.clone();
                let (s, n) = (&mut adjusted.settings, &new_train.settings);
                s.epochs = n.epochs;
                s.early_stop = n.early_stop.clone();
                s.schedule = n.schedule.clone();
                s.optimizer.lr = n.optimizer.lr;
                if !same(&ItemKind::Train(adjusted), &b.kind) {
                    return None;
                }
                changes.push((b.name.clone(), n.clone()));
            }
            _ => return None,
        }
    }
    (!changes.is_empty()).then_some(changes)
}
