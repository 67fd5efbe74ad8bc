//! A watchdog for training on remote devices: Burn Remote waits forever
//! for a server that accepts connections and never answers (a frozen or
//! cut-off `pipe device-server`: TCP keepalive does not notice a stopped
//! process, whose kernel still answers). Each finished training step,
//! evaluation batch and checkpoint is a beat (`train::fit::beats`); when
//! none comes for the timeout, the run's error is printed and the process
//! ends ([`crate::run::fatal::stop`]): the blocked thread cannot
//! be unwound, and the checkpoints saved so far resume.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::run::error::RunError;
use crate::train::fit::beats;

/// Seconds a remote training may go without finishing a step, unless
/// `PIPE_REMOTE_TIMEOUT` says otherwise.
pub const DEFAULT_SECONDS: u64 = 120;

/// The timeout: `PIPE_REMOTE_TIMEOUT` (whole seconds, at least 1), else
/// [`DEFAULT_SECONDS`] (`pipe run` refuses a value that is not one:
/// [`timeout_mistake`]).
pub fn timeout() -> Duration {
    let seconds = std::env::var("PIPE_REMOTE_TIMEOUT").ok().and_then(|s| s.trim().parse::<u64>().ok());
    Duration::from_secs(seconds.filter(|s| *s > 0).unwrap_or(DEFAULT_SECONDS))
}

/// What is wrong with `PIPE_REMOTE_TIMEOUT`, when it is set and is not a
/// whole number of seconds from 1.
pub fn timeout_mistake() -> Option<String> {
    let written = std::env::var("PIPE_REMOTE_TIMEOUT").ok()?;
    match written.trim().parse::<u64>() {
        Ok(seconds) if seconds > 0 => None,
        _ => Some(format!(
            "PIPE_REMOTE_TIMEOUT={written}: write whole seconds, 1 or more (the default is {DEFAULT_SECONDS})"
        )),
    }
}

/// A watchdog running while it lives; dropped, it stops.
pub struct Watchdog {
    done: Arc<AtomicBool>,
}

impl Watchdog {
    /// Starts watching: after `timeout` without a beat, `stalled` gives the
    /// error to print (it may also record the run's stop) and the process
    /// ends.
    pub fn start(timeout: Duration, stalled: impl FnOnce(Duration) -> RunError + Send + 'static) -> Watchdog {
        let done = Arc::new(AtomicBool::new(false));
        let finished = done.clone();
        std::thread::spawn(move || {
            let (mut last, mut since) = (beats(), Instant::now());
            while !finished.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let now = beats();
                if now != last {
                    (last, since) = (now, Instant::now());
                } else if since.elapsed() >= timeout && !finished.load(Ordering::Relaxed) {
                    crate::run::fatal::stop(&stalled(timeout));
                }
            }
        });
        Watchdog { done }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}
