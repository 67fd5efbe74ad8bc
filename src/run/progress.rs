//! Training progress as run events.

use crate::run::{Control, Event};

/// Whether a run's epochs go to the console: `log:` absent, or naming it.
pub(super) fn to_console(train: &crate::ir::Train) -> bool {
    train.settings.logs.is_empty() || train.settings.logs.iter().any(|l| matches!(l, crate::ir::LogSink::Console))
}

/// Training progress as run events.
pub(super) struct TrainProgress<'e, 'a> {
    /// The run's name.
    pub(super) name: &'e str,
    /// Whether the epochs go to the console (`log:` absent, or naming it).
    pub(super) console: bool,
    /// Where events go.
    pub(super) events: &'e mut (dyn FnMut(Event) + 'a),
    /// `pipe watch`'s handle: cancellation and new settings.
    pub(super) control: Option<std::sync::Arc<Control>>,
    /// A sweep's pruning, for a point of a sweep that prunes.
    pub(super) pruner: Option<&'e mut crate::run::sweep::Pruner>,
    /// The point of a sweep training (its number, from 1).
    pub(super) point: Option<usize>,
}

impl crate::train::fit::Progress for TrainProgress<'_, '_> {
    fn epoch(&mut self, epoch: &crate::train::fit::Epoch, epochs: usize) {
        let console = self.console;
        let (name, point) = (self.name.to_owned(), self.point);
        (self.events)(Event::Epoch { name, epoch: Box::new(epoch.clone()), epochs, console, point });
    }

    fn step(&mut self, _epoch: usize, step: usize, steps: usize) {
        // A bar update every few steps is plenty.
        if step.is_multiple_of(16) || step == steps {
            (self.events)(Event::Step {
                name: self.name.to_owned(),
                index: step.saturating_sub(1),
                total: steps,
                operation: "train",
            });
        }
    }

    fn new_settings(&mut self) -> Option<crate::ir::TrainSettings> {
        let control = self.control.as_ref()?;
        let settings = control.settings.lock().ok()?.remove(self.name)?;
        let (lr, epochs) = (settings.optimizer.lr, settings.epochs);
        (self.events)(Event::Note(format!(
            "  {:<10} {:<20} new settings applied from this epoch on (lr {lr:.2e}, {epochs} epochs), without a restart",
            "train", self.name
        )));
        Some(settings)
    }

    fn cancelled(&mut self) -> bool {
        self.control.as_ref().is_some_and(|c| c.cancelled())
    }

    fn prune(&mut self, epoch: &crate::train::fit::Epoch) -> bool {
        self.pruner.as_mut().is_some_and(|p| p.prunes(epoch))
    }

    fn note(&mut self, line: &str) {
        (self.events)(Event::Note(format!("  {:<10} {:<20} {line}", "train", self.name)));
    }
}
