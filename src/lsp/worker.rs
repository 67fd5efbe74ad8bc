//! The checks, on a thread of their own: the message loop keeps answering
//! requests (from the last analysis) while a long check runs, and a check
//! of a text the user has changed since is given up.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, Sender};

use super::analysis::Analysis;

/// The checking thread's stack (as the command line's main thread).
const CHECK_STACK_BYTES: usize = 256 << 20;

/// A text to analyse.
struct Job {
    key: String,
    generation: u64,
    text: String,
    path: Option<PathBuf>,
}

/// An analysis done: the document, which of its texts, and the result.
pub struct Done {
    /// The document's key (its URI).
    pub key: String,
    /// The text's generation (see [`Analyst::submit`]).
    pub generation: u64,
    /// What the parser and checker made of it.
    pub analysis: Analysis,
}

/// The analysing thread's inbox and outbox.
pub struct Analyst {
    jobs: Sender<Job>,
    /// Analyses as they finish (only those of each document's newest text).
    pub done: Receiver<Done>,
    /// Each document's newest generation: an older job stops.
    newest: Arc<Mutex<HashMap<String, u64>>>,
}

impl Analyst {
    /// Starts the thread; it ends when the analyst is dropped.
    pub fn start() -> Self {
        let (jobs, inbox) = crossbeam_channel::unbounded::<Job>();
        let (outbox, done) = crossbeam_channel::unbounded();
        let newest: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
        let current = newest.clone();
        // The parser and checker recurse over the program: the stack the
        // command line gives them (`cli::main`), not a thread's default 2 MB.
        let thread = std::thread::Builder::new().name("pipe-lsp-check".into()).stack_size(CHECK_STACK_BYTES);
        let spawned = thread.spawn(move || {
            while let Ok(job) = inbox.recv() {
                let stale = || current.lock().is_ok_and(|n| n.get(&job.key) != Some(&job.generation));
                if stale() {
                    continue;
                }
                // A checker bug costs that text's diagnostics, not the server.
                let analysed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    Analysis::until(&job.text, job.path.as_deref(), &stale)
                }));
                let analysis = match analysed {
                    Ok(Some(analysis)) => analysis,
                    Ok(None) => continue,
                    Err(_) => {
                        eprintln!("pipe lsp: the check of {} failed (a bug: please report it)", job.key);
                        continue;
                    }
                };
                let done = Done { key: job.key, generation: job.generation, analysis };
                if outbox.send(done).is_err() {
                    return;
                }
            }
        });
        // Without the thread nothing is ever checked; the loop sees its
        // outbox closed and ends the session with an error.
        if let Err(e) = spawned {
            eprintln!("pipe lsp: cannot start the checking thread: {e}");
        }
        Analyst { jobs, done, newest }
    }

    /// Queues the analysis of a document's text; `generation` grows with
    /// each text of a document, and a newer one stops the older's check.
    pub fn submit(&self, key: &str, generation: u64, text: String, path: Option<PathBuf>) {
        if let Ok(mut newest) = self.newest.lock() {
            newest.insert(key.to_owned(), generation);
        }
        let _ = self.jobs.send(Job { key: key.to_owned(), generation, text, path });
    }

    /// Forgets a closed document (its queued checks stop).
    pub fn forget(&self, key: &str) {
        if let Ok(mut newest) = self.newest.lock() {
            newest.remove(key);
        }
    }
}
