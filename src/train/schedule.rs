//! Learning rates, step by step: `warmup(...) then cosine(...)` and the other
//! phases of a `schedule:` setting, as a pure function of the step, so the
//! rate is the same whether a run is resumed or not.

use crate::ir::{Decay, WarmupLength};

/// A schedule over a known number of steps.
#[derive(Clone, Debug)]
pub struct Schedule {
    base: f64,
    schedule: crate::ir::Schedule,
    steps_per_epoch: usize,
    total_steps: usize,
    /// Factor applied by `on_plateau` so far.
    plateau_factor: f64,
}

impl Schedule {
    /// `schedule` for a base rate over `epochs` epochs.
    pub fn new(base: f64, schedule: &crate::ir::Schedule, steps_per_epoch: usize, epochs: usize) -> Self {
        Schedule {
            base,
            schedule: schedule.clone(),
            steps_per_epoch: steps_per_epoch.max(1),
            total_steps: steps_per_epoch.max(1).saturating_mul(epochs.max(1)),
            plateau_factor: 1.0,
        }
    }

    /// Steps of warm-up at the start (0 without `warmup`).
    fn warmup_steps(&self) -> usize {
        match self.schedule.warmup {
            None => 0,
            Some(WarmupLength::Steps(s)) => s as usize,
            Some(WarmupLength::Epochs(e)) => (e as usize).saturating_mul(self.steps_per_epoch),
        }
    }

    /// The rate for `step` (counted from 0 over the whole run).
    pub fn rate(&self, step: usize) -> f64 {
        let warmup = self.warmup_steps();
        if step < warmup {
            // Linear from base/warmup up to base at the last warm-up step.
            return self.base * step.saturating_add(1) as f64 / warmup as f64 * self.plateau_factor;
        }
        let after = step.saturating_sub(warmup);
        let decay_steps = self.total_steps.saturating_sub(warmup).max(1);
        let epoch = after.checked_div(self.steps_per_epoch).unwrap_or(0);
        let rate = match self.schedule.decay {
            Decay::Step { every, gamma } => {
                self.base
                    * gamma.powi(epoch.checked_div((every as usize).max(1)).unwrap_or(0).min(i32::MAX as usize) as i32)
            }
            Decay::Exponential { gamma } => self.base * gamma.powi(epoch.min(i32::MAX as usize) as i32),
            Decay::Cosine { min_lr } => {
                let progress = (after as f64 / decay_steps as f64).min(1.0);
                min_lr + (self.base - min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
            // On a plateau the factor below does the work.
            Decay::Constant | Decay::OnPlateau { .. } => self.base,
        };
        rate * self.plateau_factor
    }

    /// `on_plateau(patience:, factor:)`: the phase, if the schedule has one.
    pub fn plateau(&self) -> Option<(u64, f64)> {
        match self.schedule.decay {
            Decay::OnPlateau { patience, factor } => Some((patience, factor)),
            Decay::Constant | Decay::Step { .. } | Decay::Exponential { .. } | Decay::Cosine { .. } => None,
        }
    }

    /// The factor `on_plateau` has applied so far.
    pub fn factor(&self) -> f64 {
        self.plateau_factor
    }

    /// Multiplies every later rate by `factor` (a plateau was reached).
    pub fn reduce(&mut self, factor: f64) {
        self.plateau_factor *= factor;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine_ramps_up_then_decays_to_the_floor() {
        let schedule =
            crate::ir::Schedule { warmup: Some(WarmupLength::Epochs(2)), decay: Decay::Cosine { min_lr: 0.0 } };
        let s = Schedule::new(1.0, &schedule, 10, 12);
        assert!((s.rate(0) - 0.05).abs() < 1e-12);
        assert!((s.rate(19) - 1.0).abs() < 1e-12);
        assert!((s.rate(20) - 1.0).abs() < 1e-12);
        assert!((s.rate(70) - 0.5).abs() < 1e-12, "half way through the decay: {}", s.rate(70));
        assert!(s.rate(119) < 1e-3);
    }

    #[test]
    fn step_and_exponential_decay_by_epoch() {
        let decay = |decay| crate::ir::Schedule { warmup: None, decay };
        let s = Schedule::new(1.0, &decay(Decay::Step { every: 2, gamma: 0.5 }), 5, 10);
        assert_eq!((s.rate(0), s.rate(9), s.rate(10), s.rate(20)), (1.0, 1.0, 0.5, 0.25));
        let e = Schedule::new(1.0, &decay(Decay::Exponential { gamma: 0.9 }), 5, 10);
        assert!((e.rate(10) - 0.81).abs() < 1e-12);
    }
}
