//! Metrics of predictions against targets: accuracy, macro precision,
//! recall and F1, the confusion matrix (classes), MSE and MAE (numbers).
//! Definitions as scikit-learn's (`average="macro"`, a class never
//! predicted has precision 0).

use serde::Serialize;

/// A confusion matrix: `counts[true][predicted]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Confusion {
    /// Row: the true class; column: the predicted one.
    pub counts: Vec<Vec<u64>>,
}

impl Confusion {
    /// Counts pairs of (true, predicted) class indices.
    pub fn new(classes: usize, truth: &[usize], predicted: &[usize]) -> Self {
        let mut counts = vec![vec![0u64; classes]; classes];
        for (&t, &p) in truth.iter().zip(predicted) {
            if t < classes && p < classes {
                counts[t][p] = counts[t][p].saturating_add(1);
            }
        }
        Confusion { counts }
    }

    fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    /// Share of correct predictions.
    pub fn accuracy(&self) -> f64 {
        let correct: u64 = (0..self.counts.len()).map(|i| self.counts[i][i]).sum();
        ratio(correct, self.total())
    }

    /// Per class: (precision, recall, F1).
    fn per_class(&self) -> Vec<(f64, f64, f64)> {
        let n = self.counts.len();
        (0..n)
            .map(|c| {
                let tp = self.counts[c][c];
                let predicted: u64 = (0..n).map(|t| self.counts[t][c]).sum();
                let actual: u64 = self.counts[c].iter().sum();
                let (p, r) = (ratio(tp, predicted), ratio(tp, actual));
                let f1 = if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 };
                (p, r, f1)
            })
            .collect()
    }

    /// Macro averages over the classes that occur (in truth or prediction).
    pub fn macro_scores(&self) -> (f64, f64, f64) {
        let n = self.counts.len();
        let present: Vec<(f64, f64, f64)> = self
            .per_class()
            .into_iter()
            .enumerate()
            .filter(|(c, _)| self.counts[*c].iter().any(|n| *n > 0) || (0..n).any(|t| self.counts[t][*c] > 0))
            .map(|(_, s)| s)
            .collect();
        let k = present.len().max(1) as f64;
        let sum = present.iter().fold((0.0, 0.0, 0.0), |a, s| (a.0 + s.0, a.1 + s.1, a.2 + s.2));
        (sum.0 / k, sum.1 / k, sum.2 / k)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Mean squared and mean absolute error.
pub fn regression(truth: &[f32], predicted: &[f32]) -> (f64, f64) {
    let n = truth.len().max(1) as f64;
    let (mut se, mut ae) = (0.0, 0.0);
    for (t, p) in truth.iter().zip(predicted) {
        let d = f64::from(*p) - f64::from(*t);
        se += d * d;
        ae += d.abs();
    }
    (se / n, ae / n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_scores_match_scikit_learn() {
        // sklearn: y_true = [0, 0, 1, 1, 2, 2], y_pred = [0, 1, 1, 1, 2, 0]
        // precision_score(average="macro") = (1/2 + 2/3 + 1) / 3, recall = (1/2 + 1 + 1/2) / 3
        let c = Confusion::new(3, &[0, 0, 1, 1, 2, 2], &[0, 1, 1, 1, 2, 0]);
        let (p, r, f1) = c.macro_scores();
        assert!((p - (0.5 + 2.0 / 3.0 + 1.0) / 3.0).abs() < 1e-12);
        assert!((r - 2.0 / 3.0).abs() < 1e-12);
        let f = |p: f64, r: f64| 2.0 * p * r / (p + r);
        assert!((f1 - (f(0.5, 0.5) + f(2.0 / 3.0, 1.0) + f(1.0, 0.5)) / 3.0).abs() < 1e-12);
        assert!((c.accuracy() - 4.0 / 6.0).abs() < 1e-12);
    }
}
