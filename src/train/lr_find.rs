//! The learning-rate range test (Smith 2017, fastai's `lr_find`): train a
//! fresh network for a number of steps while the rate grows exponentially
//! from tiny to large, record the loss at each step, and suggest a rate
//! in the valley where the smoothed loss falls (fastai's suggestions).

use burn::optim::GradientsParams;
use burn::tensor::Device;

use crate::ir::Train;
use crate::random::Rng;
use crate::train::data::Dataset;
use crate::train::loss::Loss;
use crate::train::model::Net;
use crate::train::step::{batch_tensors, sample_weights};

/// How the rate grows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RangeTest {
    /// The first step's rate.
    pub start: f64,
    /// The last step's rate.
    pub end: f64,
    /// Steps (at least 2).
    pub steps: usize,
}

impl RangeTest {
    /// The most steps a test takes (fastai's default is 100; each step
    /// trains a batch, so more is a typo, and its points are held).
    pub const MAX_STEPS: usize = 100_000;

    /// What is wrong with the test as asked, if anything: a rate range
    /// that is empty or whose ratio is past what an `f64` holds (every
    /// step after the first would train at an infinite rate), or steps
    /// outside 2..=[`Self::MAX_STEPS`].
    pub fn mistake(&self) -> Option<String> {
        if !(self.start > 0.0 && self.start < self.end && self.end.is_finite()) {
            return Some("--start must be positive and below --end".into());
        }
        if !(self.end / self.start).is_finite() {
            return Some(format!(
                "--end / --start ({:e} / {:e}) is past what a number holds: narrow the range",
                self.end, self.start
            ));
        }
        if !(2..=Self::MAX_STEPS).contains(&self.steps) {
            return Some(format!("--steps must be from 2 to {}", Self::MAX_STEPS));
        }
        None
    }
}

impl Default for RangeTest {
    /// fastai's: 1e-7 to 10 over 100 steps.
    fn default() -> Self {
        RangeTest { start: 1e-7, end: 10.0, steps: 100 }
    }
}

/// One step's rate and loss.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// The rate the step trained at.
    pub lr: f64,
    /// The batch's loss before the step.
    pub loss: f64,
    /// The exponential moving average of the losses so far (weight 0.98,
    /// bias-corrected), fastai's.
    pub smoothed: f64,
}

/// The recorded steps and the suggestion.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    /// Each step, until the smoothed loss passed 4 times its lowest or
    /// stopped being finite.
    pub points: Vec<Point>,
    /// fastai's "valley" suggestion (see [`suggestions`]); `None` when the
    /// loss never falls.
    pub valley: Option<f64>,
    /// A tenth of the rate of the lowest smoothed loss (fastai's
    /// "minimum" suggestion).
    pub minimum_tenth: Option<f64>,
}

/// The smoothing weight of the moving average.
const BETA: f64 = 0.98;
/// The test stops once the smoothed loss passes this many times its lowest.
const DIVERGED: f64 = 4.0;

/// The rate at `step` of `test`: `start * (end / start)^(step / (steps - 1))`.
pub fn rate(test: &RangeTest, step: usize) -> f64 {
    let last = test.steps.saturating_sub(1).max(1) as f64;
    test.start * (test.end / test.start).powf(step as f64 / last)
}

/// Runs the test on `set` with the run's model, optimizer, loss, batch
/// size and seed (batches drawn from a seeded shuffle, again after each
/// pass), on `device`, from fresh weights.
pub fn range_test(train: &Train, set: &Dataset, batch: usize, loss: &Loss, device: &Device, test: &RangeTest) -> Curve {
    let device = device.clone().autodiff();
    let mut net = Net::new(&train.model, &device, train.settings.seed);
    let (mut optim, _) = crate::train::optimizer::build(&train.settings);
    let mut rng = Rng::new(train.settings.seed);
    let mut order: Vec<usize> = (0..set.rows).collect();
    let batch = batch.clamp(1, set.rows.max(1));
    let (mut at, mut average, mut best) = (order.len(), 0.0, f64::INFINITY);
    let mut points = Vec::with_capacity(test.steps);
    for step in 0..test.steps {
        if at.saturating_add(batch) > order.len() {
            rng.shuffle(&mut order);
            at = 0;
        }
        let rows = &order[at..at.saturating_add(batch).min(order.len())];
        at = at.saturating_add(batch);
        let chosen = set.select(rows);
        let sample = sample_weights(&chosen, &device);
        let (x, y, _) = batch_tensors(chosen, &device);
        let value = loss.forward_weighted(net.forward(x).flat(), &y, sample, &device);
        let current = value.clone().into_scalar::<f64>();
        average = BETA * average + (1.0 - BETA) * current;
        let smoothed = average / (1.0 - BETA.powi(i32::try_from(step).unwrap_or(i32::MAX).saturating_add(1)));
        if !smoothed.is_finite() || smoothed > DIVERGED * best {
            break;
        }
        best = best.min(smoothed);
        let lr = rate(test, step);
        points.push(Point { lr, loss: current, smoothed });
        let grads = GradientsParams::from_grads(value.backward(), &net);
        net = optim.step(lr, net, grads);
    }
    let (valley, minimum_tenth) = suggestions(&points);
    Curve { points, valley, minimum_tenth }
}

/// fastai's two suggestions from the smoothed losses: "valley" (its
/// default since 2.5): in the longest run of steps whose losses keep
/// falling (the longest decreasing subsequence), the step halfway between
/// its first and second third; and "minimum": a tenth of the rate at the
/// lowest loss.
pub fn suggestions(points: &[Point]) -> (Option<f64>, Option<f64>) {
    let n = points.len();
    if n == 0 {
        return (None, None);
    }
    // fastai's `valley`, step for step.
    // Its start is one before the run's first step (`-1` for a run from
    // the first), as fastai computes it.
    let mut longest = vec![1i64; n];
    let (mut start, mut end) = (0i64, 0usize);
    for i in 1..n {
        for j in 0..i {
            if points[i].smoothed < points[j].smoothed && longest[i] < longest[j].saturating_add(1) {
                longest[i] = longest[j].saturating_add(1);
            }
            if longest[end] < longest[i] {
                end = i;
                start = (end as i64).saturating_sub(longest[end]);
            }
        }
    }
    let valley = (end > 0).then(|| {
        let sections = ((end as i64).saturating_sub(start)) as f64 / 3.0;
        let at = start.saturating_add(sections as i64).saturating_add((sections / 2.0) as i64);
        points[usize::try_from(at).unwrap_or(0).min(n.saturating_sub(1))].lr
    });
    let lowest = points.iter().min_by(|a, b| a.smoothed.total_cmp(&b.smoothed)).map(|p| p.lr / 10.0);
    (valley, lowest)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ranges whose ratio overflows (every rate after the first would be
    /// infinite) and step counts that would not fit in memory are
    /// refused; fastai's default is not.
    #[test]
    fn mistakes_are_named_before_training() {
        assert_eq!(RangeTest::default().mistake(), None);
        let wide = RangeTest { start: 1e-300, end: 1e300, steps: 100 };
        assert!(wide.mistake().is_some_and(|m| m.contains("past what a number holds")));
        assert!(rate(&RangeTest { start: 1e-300, end: 1e300, steps: 3 }, 1).is_infinite());
        let many = RangeTest { steps: 100_000_000_000_000_000, ..RangeTest::default() };
        assert!(many.mistake().is_some_and(|m| m.contains("--steps")));
        assert!(RangeTest { steps: 1, ..RangeTest::default() }.mistake().is_some());
        assert!(RangeTest { start: 0.0, ..RangeTest::default() }.mistake().is_some());
        assert_eq!(RangeTest { steps: RangeTest::MAX_STEPS, ..RangeTest::default() }.mistake(), None);
    }

    #[test]
    fn rates_grow_exponentially_from_start_to_end() {
        let test = RangeTest { start: 1e-6, end: 1.0, steps: 7 };
        let rates: Vec<f64> = (0..7).map(|s| rate(&test, s)).collect();
        for (got, want) in rates.iter().zip([1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0]) {
            assert!((got - want).abs() <= 1e-12 * want, "{got} != {want}");
        }
    }

    #[test]
    fn the_valley_and_a_tenth_of_the_minimum_are_suggested() {
        // Smoothed losses by hand: the longest falling run is steps 0 to 7
        // (2.1 ... 0.8, 8 steps); fastai's valley: start 7 - 8 = -1,
        // sections 8 / 3 = 2.67, step -1 + 2 + 1 = 2, rate 1e-4; the lowest
        // loss (0.8) is at 1e1, a tenth of it 1.0.
        let losses = [2.1, 2.0, 1.9, 1.7, 1.4, 1.1, 0.9, 0.8, 3.0];
        let points: Vec<Point> = losses
            .iter()
            .enumerate()
            .map(|(i, &smoothed)| Point { lr: 10f64.powi(i as i32 - 6), loss: smoothed, smoothed })
            .collect();
        let (valley, tenth) = suggestions(&points);
        assert!((valley.unwrap() - 1e-4).abs() < 1e-16, "{valley:?}");
        assert!((tenth.unwrap() - 1.0).abs() < 1e-12, "{tenth:?}");
        let rising = [Point { lr: 1e-3, loss: 1.0, smoothed: 1.0 }, Point { lr: 1e-2, loss: 2.0, smoothed: 2.0 }];
        assert_eq!(suggestions(&rising).0, None, "a loss that never falls");
    }
}
