//! An error that ends the process from a thread other than the run's: a
//! remote device that stops answering leaves the training thread blocked
//! inside Burn Remote, which has no timeout, so a watchdog says why and
//! exits (`stall.rs`). The CLI installs how it prints diagnostics.

use std::sync::Mutex;

use crate::run::error::RunError;

/// Prints an error as the command prints its diagnostics.
type Handler = Box<dyn Fn(&RunError) + Send + Sync>;

static HANDLER: Mutex<Option<Handler>> = Mutex::new(None);

/// How [`stop`] prints the error from now on (`pipe watch` sets it again
/// for each version of the file it runs).
pub fn set_handler(handler: impl Fn(&RunError) + Send + Sync + 'static) {
    *HANDLER.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Box::new(handler));
}

/// Prints `error` and ends the process with status 1, as a run that
/// failed does. What the run wrote is whole (writes are atomic) and a
/// checkpoint saved before resumes.
pub fn stop(error: &RunError) -> ! {
    match HANDLER.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).as_ref() {
        Some(handler) => handler(error),
        None => eprintln!("{error}"),
    }
    std::process::exit(1)
}
