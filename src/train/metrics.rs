//! Metrics of predictions against targets: accuracy, macro precision,
//! recall and F1, the confusion matrix, ROC AUC, average precision and log
//! loss (classes); MSE, MAE, RMSE, R² and MAPE (numbers). Definitions as
//! scikit-learn's (`average="macro"`, a class never predicted has
//! precision 0; AUC and average precision one class against the rest,
//! macro-averaged over the classes that occur, the positive class's alone
//! for two).

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

/// RMSE, R² and MAPE (scikit-learn's `root_mean_squared_error`,
/// `r2_score`, `mean_absolute_percentage_error`): R² is 1 for a perfect fit
/// of constant targets and 0 for an imperfect one (`force_finite`); MAPE
/// divides by `max(|y|, machine epsilon)` and is a fraction, not percent.
pub fn regression_more(truth: &[f32], predicted: &[f32]) -> (f64, f64, f64) {
    let n = truth.len().max(1) as f64;
    let mean = truth.iter().map(|t| f64::from(*t)).sum::<f64>() / n;
    let (mut residual, mut total, mut relative) = (0.0, 0.0, 0.0);
    for (t, p) in truth.iter().zip(predicted) {
        let (t, p) = (f64::from(*t), f64::from(*p));
        residual += (t - p) * (t - p);
        total += (t - mean) * (t - mean);
        relative += (t - p).abs() / t.abs().max(f64::EPSILON);
    }
    let r2 = if total > 0.0 {
        1.0 - residual / total
    } else if residual == 0.0 {
        1.0
    } else {
        0.0
    };
    ((residual / n).sqrt(), r2, relative / n)
}

/// The log loss of class probabilities (`probabilities`: `classes` a row),
/// each clipped to `[eps, 1 - eps]` (scikit-learn's `log_loss` on float64).
pub fn log_loss(truth: &[usize], probabilities: &[f64], classes: usize) -> f64 {
    let n = truth.len().max(1) as f64;
    let eps = f64::EPSILON;
    let sum: f64 = truth
        .iter()
        .zip(probabilities.chunks(classes.max(1)))
        .map(|(&t, row)| -row.get(t).copied().unwrap_or(0.0).clamp(eps, 1.0 - eps).ln())
        .sum();
    sum / n
}

/// The fraction of rows whose class is among the `k` most probable
/// (scikit-learn's `top_k_accuracy_score`): for two classes, with `k` 1,
/// the second class's probability above 0.5 (its binary rule), else always;
/// for more, the rank after the classes of higher probability and, among
/// equal ones, those of a higher index (its stable sort, reversed).
pub fn top_k(truth: &[usize], probabilities: &[f64], classes: usize, k: usize) -> f64 {
    let n = truth.len().max(1) as f64;
    let rows = probabilities.chunks(classes.max(1));
    let hits = truth
        .iter()
        .zip(rows)
        .filter(|(t, row)| {
            let t = **t;
            if classes == 2 {
                return k >= 2 || (row[1] > 0.5) == (t == 1);
            }
            let score = row.get(t).copied().unwrap_or(f64::NEG_INFINITY);
            let ahead = row.iter().enumerate().filter(|(c, s)| **s > score || (**s == score && *c > t)).count();
            ahead < k
        })
        .count();
    hits as f64 / n
}

/// Each class's scores against whether the row is of that class: the
/// positive class's alone for two classes, else every class that occurs
/// with rows of other classes too (one against the rest).
fn one_against_rest(truth: &[usize], probabilities: &[f64], classes: usize) -> Vec<(Vec<f64>, Vec<bool>)> {
    classes_against_rest(truth, probabilities, classes).into_iter().map(|(_, s, p)| (s, p)).collect()
}

/// [`one_against_rest`] with each pair's class.
fn classes_against_rest(truth: &[usize], probabilities: &[f64], classes: usize) -> Vec<(usize, Vec<f64>, Vec<bool>)> {
    let column = |c: usize| -> Vec<f64> { probabilities.chunks(classes.max(1)).map(|row| row[c]).collect() };
    let wanted: Vec<usize> = if classes == 2 { vec![1] } else { (0..classes).collect() };
    wanted
        .into_iter()
        .map(|c| (c, column(c), truth.iter().map(|&t| t == c).collect::<Vec<bool>>()))
        .filter(|(_, _, positive)| positive.iter().any(|p| *p) && positive.iter().any(|p| !*p))
        .collect()
}

/// One class's ROC and precision-recall points (the positive class's for
/// two classes, each class against the rest for more).
#[derive(Clone, Debug, PartialEq)]
pub struct ClassCurve {
    /// The class.
    pub class: usize,
    /// `[threshold, false positive rate, true positive rate]`: first
    /// `[inf, 0, 0]`, then one point per distinct score, descending
    /// (scikit-learn's `roc_curve(drop_intermediate=False)`).
    pub roc: Vec<[f64; 3]>,
    /// `[threshold, precision, recall]` per distinct score, descending
    /// (scikit-learn 1.9's `precision_recall_curve`, without its final
    /// `[1, 0]`).
    pub pr: Vec<[f64; 3]>,
}

/// Each class's curves (see [`ClassCurve`]).
pub fn curves(truth: &[usize], probabilities: &[f64], classes: usize) -> Vec<ClassCurve> {
    classes_against_rest(truth, probabilities, classes)
        .into_iter()
        .map(|(class, scores, positive)| {
            let points = curve_points(&scores, &positive);
            let (p, n) = points.last().map_or((0.0, 0.0), |(tp, fp, _)| (*tp, *fp));
            let mut roc = vec![[f64::INFINITY, 0.0, 0.0]];
            roc.extend(points.iter().map(|(tp, fp, threshold)| [*threshold, fp / n, tp / p]));
            let pr = points.iter().map(|(tp, fp, threshold)| [*threshold, tp / (tp + fp), tp / p]).collect();
            ClassCurve { class, roc, pr }
        })
        .collect()
}

/// The mean of `score` over [`one_against_rest`]'s pairs (`None` when no
/// class has both positive and negative rows).
fn averaged(truth: &[usize], probabilities: &[f64], classes: usize, score: fn(&[f64], &[bool]) -> f64) -> Option<f64> {
    let pairs = one_against_rest(truth, probabilities, classes);
    let values: Vec<f64> = pairs.iter().map(|(s, p)| score(s, p)).collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// ROC AUC (scikit-learn's `roc_auc_score`, `multi_class="ovr"`,
/// `average="macro"`).
pub fn roc_auc(truth: &[usize], probabilities: &[f64], classes: usize) -> Option<f64> {
    averaged(truth, probabilities, classes, binary_roc_auc)
}

/// Average precision (scikit-learn's `average_precision_score`, macro over
/// the classes one against the rest).
pub fn average_precision(truth: &[usize], probabilities: &[f64], classes: usize) -> Option<f64> {
    averaged(truth, probabilities, classes, binary_average_precision)
}

/// The true and false positives counted down the scores, at the end of
/// each run of equal scores (the points of the ROC and PR curves).
fn curve(scores: &[f64], positive: &[bool]) -> Vec<(f64, f64)> {
    curve_points(scores, positive).into_iter().map(|(tp, fp, _)| (tp, fp)).collect()
}

/// [`curve`]'s points with their thresholds (the run's score).
fn curve_points(scores: &[f64], positive: &[bool]) -> Vec<(f64, f64, f64)> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut points = Vec::new();
    for (i, &row) in order.iter().enumerate() {
        if positive[row] {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let last_of_run = order.get(i.saturating_add(1)).is_none_or(|next| scores[*next] != scores[row]);
        if last_of_run {
            points.push((tp, fp, scores[row]));
        }
    }
    points
}

/// The area under the ROC curve by trapezoids (ties give half).
fn binary_roc_auc(scores: &[f64], positive: &[bool]) -> f64 {
    let points = curve(scores, positive);
    let (p, n) = points.last().copied().unwrap_or((0.0, 0.0));
    let mut area = 0.0;
    let (mut tp_before, mut fp_before) = (0.0, 0.0);
    for (tp, fp) in points {
        area += (fp - fp_before) * (tp + tp_before) / 2.0;
        (tp_before, fp_before) = (tp, fp);
    }
    area / (p * n)
}

/// The sum of precisions weighted by each threshold's gain in recall.
fn binary_average_precision(scores: &[f64], positive: &[bool]) -> f64 {
    let points = curve(scores, positive);
    let p = points.last().map_or(0.0, |(tp, _)| *tp);
    let mut ap = 0.0;
    let mut recall_before = 0.0;
    for (tp, fp) in points {
        let recall = tp / p;
        ap += (recall - recall_before) * tp / (tp + fp);
        recall_before = recall;
    }
    ap
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

    /// `tests/data/sklearn_metrics/metrics.json`: scikit-learn's values on
    /// fixed cases (made by the `make.py` beside it).
    fn reference() -> serde_json::Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sklearn_metrics/metrics.json");
        serde_json::from_slice(&std::fs::read(path).expect("the reference")).expect("JSON")
    }

    fn floats(v: &serde_json::Value) -> Vec<f64> {
        v.as_array().expect("a list").iter().map(|x| x.as_f64().expect("a number")).collect()
    }

    fn close(got: f64, want: &serde_json::Value, what: &str) {
        let want = want.as_f64().expect("a number");
        assert!((got - want).abs() <= 1e-9 * want.abs().max(1.0), "{what}: {got} != {want}");
    }

    #[test]
    fn probability_metrics_match_scikit_learn() {
        let cases = reference()["classes"].as_array().expect("cases").clone();
        assert_eq!(cases.len(), 4);
        for case in cases {
            let classes = case["classes"].as_u64().expect("classes") as usize;
            let truth: Vec<usize> = floats(&case["truth"]).iter().map(|t| *t as usize).collect();
            let probabilities = floats(&case["probabilities"]);
            let what = format!("{classes} classes, {} rows", truth.len());
            close(roc_auc(&truth, &probabilities, classes).expect("defined"), &case["auc"], &format!("auc, {what}"));
            let ap = average_precision(&truth, &probabilities, classes).expect("defined");
            close(ap, &case["pr_auc"], &format!("pr_auc, {what}"));
            close(log_loss(&truth, &probabilities, classes), &case["log_loss"], &format!("log_loss, {what}"));
            for (k, want) in case["top_k"].as_array().expect("top_k").iter().enumerate() {
                let k = k.saturating_add(1);
                close(top_k(&truth, &probabilities, classes, k), want, &format!("top_k({k}), {what}"));
            }
        }
    }

    #[test]
    fn regression_metrics_match_scikit_learn() {
        for case in reference()["numbers"].as_array().expect("cases") {
            let as_f32 = |v: &serde_json::Value| floats(v).into_iter().map(|x| x as f32).collect::<Vec<f32>>();
            let (truth, predicted) = (as_f32(&case["truth"]), as_f32(&case["predicted"]));
            let (rmse, r2, mape) = regression_more(&truth, &predicted);
            close(rmse, &case["rmse"], "rmse");
            close(r2, &case["r2"], "r2");
            close(mape, &case["mape"], "mape");
        }
    }

    #[test]
    fn undefined_scores_are_none_and_constant_targets_follow_scikit_learn() {
        // One class only: no AUC (scikit-learn raises).
        assert_eq!(roc_auc(&[1, 1, 1], &[0.2, 0.8, 0.5, 0.5, 0.1, 0.9], 2), None);
        assert_eq!(average_precision(&[0, 0], &[0.5, 0.5, 0.7, 0.3], 2), None);
        // Perfect ranking, and every score tied.
        assert_eq!(roc_auc(&[0, 1, 0, 1], &[0.9, 0.1, 0.4, 0.6, 0.8, 0.2, 0.3, 0.7], 2), Some(1.0));
        assert_eq!(roc_auc(&[0, 1, 0, 1], &[0.5; 8], 2), Some(0.5));
        // r2_score's force_finite: constant targets.
        assert_eq!(regression_more(&[2.0, 2.0], &[2.0, 2.0]).1, 1.0);
        assert_eq!(regression_more(&[2.0, 2.0], &[2.0, 3.0]).1, 0.0);
    }
}
