//! A watchdog for training on remote devices: Burn Remote waits forever
//! for a server that accepts connections and never answers (a frozen or
//! cut-off `pipe device-server`: TCP keepalive does not notice a stopped
//! process, whose kernel still answers). Each finished step is a beat;
//! when none comes for the timeout, the run's error is printed and the
//! process ends ([`crate::run::fatal::stop`]): the blocked thread cannot
//! be unwound, and the checkpoints saved so far resume.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::run::error::RunError;
use crate::train::fit::{Epoch, Progress};

/// Seconds a remote training may go without finishing a step, unless
/// `PIPE_REMOTE_TIMEOUT` says otherwise.
pub const DEFAULT_SECONDS: u64 = 120;

/// The timeout: `PIPE_REMOTE_TIMEOUT` (whole seconds, at least 1), else
/// [`DEFAULT_SECONDS`].
pub fn timeout() -> Duration {
    let seconds = std::env::var("PIPE_REMOTE_TIMEOUT").ok().and_then(|s| s.trim().parse::<u64>().ok());
    Duration::from_secs(seconds.filter(|s| *s > 0).unwrap_or(DEFAULT_SECONDS))
}

/// A watchdog running while it lives; dropped, it stops.
pub struct Watchdog {
    beats: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
}

impl Watchdog {
    /// Starts watching: after `timeout` without a beat, `stalled` gives the
    /// error to print (it may also record the run's stop) and the process
    /// ends.
    pub fn start(timeout: Duration, stalled: impl FnOnce(Duration) -> RunError + Send + 'static) -> Watchdog {
        let (beats, done) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
        let (seen, finished) = (beats.clone(), done.clone());
        std::thread::spawn(move || {
            let (mut last, mut since) = (0, Instant::now());
            while !finished.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let now = seen.load(Ordering::Relaxed);
                if now != last {
                    (last, since) = (now, Instant::now());
                } else if since.elapsed() >= timeout && !finished.load(Ordering::Relaxed) {
                    crate::run::fatal::stop(&stalled(timeout));
                }
            }
        });
        Watchdog { beats, done }
    }

    /// `progress`, with each step and epoch a beat.
    pub fn beating<'a>(&self, progress: &'a mut dyn Progress) -> Beating<'a> {
        Beating { inner: progress, beats: self.beats.clone() }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

/// A [`Progress`] that beats the watchdog and passes everything on.
pub struct Beating<'a> {
    inner: &'a mut dyn Progress,
    beats: Arc<AtomicU64>,
}

impl Beating<'_> {
    fn beat(&self) {
        self.beats.fetch_add(1, Ordering::Relaxed);
    }
}

impl Progress for Beating<'_> {
    fn epoch(&mut self, epoch: &Epoch, epochs: usize) {
        self.beat();
        self.inner.epoch(epoch, epochs);
    }

    fn step(&mut self, epoch: usize, step: usize, steps: usize) {
        self.beat();
        self.inner.step(epoch, step, steps);
    }

    fn new_settings(&mut self) -> Option<crate::ir::TrainSettings> {
        self.inner.new_settings()
    }

    fn cancelled(&mut self) -> bool {
        self.inner.cancelled()
    }

    fn prune(&mut self, epoch: &Epoch) -> bool {
        self.inner.prune(epoch)
    }

    fn note(&mut self, line: &str) {
        self.inner.note(line);
    }
}
