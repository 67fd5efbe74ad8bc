//! Losses and what the model's output means: class scores (cross-entropy),
//! one logit (binary cross-entropy) or a number (mse, mae, huber).

use burn::nn::loss::{BinaryCrossEntropyLossConfig, CrossEntropyLossConfig, HuberLossConfig, MseLoss, Reduction};
use burn::tensor::activation::{log_softmax, sigmoid};
use burn::tensor::{Device, Int, Tensor, TensorData};

/// The loss of a run: which one, its parameters, and its class weights
/// (`class_weight: balanced`).
#[derive(Clone, Debug, PartialEq)]
pub struct Loss {
    /// Which loss.
    pub kind: crate::ir::Loss,
    /// Its parameters (label smoothing, pos_weight, gamma, delta).
    pub options: crate::ir::LossOptions,
    /// One weight per class (classification losses only).
    pub weights: Option<Vec<f32>>,
    /// How the numeric target was scaled for training (`scale:`): the
    /// loss compares the outputs with the scaled target, and predictions
    /// are scaled back.
    pub target: Option<Affine>,
    /// `threshold:` of a two-class run: the second class is predicted when
    /// its probability passes this (0.5 unless given).
    pub threshold: Option<f64>,
}

/// `(y - shift) / scale`: a numeric target as the model learns it.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Affine {
    /// Subtracted first (the mean, or the minimum).
    pub shift: f64,
    /// Then divided by (the standard deviation, or the range; 1 when that
    /// is 0, as scikit-learn's scalers).
    pub scale: f64,
}

impl Affine {
    /// The scaling of `values` (the training target) that `scaling` asks
    /// for: population mean and std, or min and range.
    pub fn fit(scaling: crate::ir::TargetScaling, values: &[f64]) -> Self {
        let n = values.len().max(1) as f64;
        let (shift, spread) = match scaling {
            crate::ir::TargetScaling::Standard => {
                let mean = values.iter().sum::<f64>() / n;
                let squares: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
                (mean, (squares / n).sqrt())
            }
            crate::ir::TargetScaling::MinMax => {
                let (min, max) =
                    values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
                if min.is_finite() { (min, max - min) } else { (0.0, 1.0) }
            }
        };
        Affine { shift, scale: if spread > 0.0 && spread.is_finite() { spread } else { 1.0 } }
    }
}

/// Targets of a batch, on a device.
pub enum Targets {
    /// Class indices.
    Classes(Tensor<1, Int>),
    /// Numbers.
    Numbers(Tensor<1>),
}

impl Targets {
    /// Class indices as a tensor.
    pub fn classes(values: Vec<i64>, device: &Device) -> Self {
        let n = values.len();
        Targets::Classes(Tensor::from_data(TensorData::new(values, [n]), device))
    }

    /// Numbers as a tensor.
    pub fn numbers(values: Vec<f32>, device: &Device) -> Self {
        let n = values.len();
        Targets::Numbers(Tensor::from_data(TensorData::new(values, [n]), device))
    }
}

impl Loss {
    /// The run's loss; `weights` are class weights (the checker allows
    /// them with the classification losses only).
    pub fn new(kind: crate::ir::Loss, options: crate::ir::LossOptions, weights: Option<Vec<f32>>) -> Self {
        Loss { kind, options, weights, target: None, threshold: None }
    }

    /// The loss predicting a two-class run's second class above
    /// `threshold` (the checker allows it for two classes only).
    pub fn with_threshold(self, threshold: Option<f64>) -> Self {
        Loss { threshold, ..self }
    }

    /// The loss for a target scaled by `target` for training.
    pub fn with_target_scale(self, target: Option<Affine>) -> Self {
        Loss { target, ..self }
    }

    /// A loss with its default parameters and no class weights.
    pub fn plain(kind: crate::ir::Loss) -> Self {
        Loss::new(kind, crate::ir::LossOptions::default(), None)
    }

    /// How much a row counts in a batch's mean loss: its class's weight for
    /// a weighted classification loss (which divides by the batch's total
    /// weight), times its own weight (`weights:`), else 1.
    pub fn row_weight(&self, batch: &crate::train::data::Dataset, row: usize) -> f64 {
        let class = match (&self.weights, &batch.target) {
            (Some(weights), crate::train::data::Target::Classes(classes)) if self.is_classification() => {
                weights.get(classes[row] as usize).copied().unwrap_or(1.0) as f64
            }
            _ => 1.0,
        };
        let own = batch.weights.as_ref().and_then(|w| w.get(row)).map_or(1.0, |w| f64::from(*w));
        class * own
    }

    /// The loss of `output` against `targets` with each row weighted by
    /// `sample` (`weights:`): `sum(s_i l_i) / sum(s_i c_i)`, where `l_i` is
    /// row i's loss with its class weight `c_i` in it (PyTorch's
    /// `reduction="none"`) and `c_i` is 1 without class weights; with all
    /// `s_i` equal, the weighted mean [`Loss::forward`] gives. A batch
    /// whose weights are all 0 has loss 0.
    pub fn forward_weighted(
        &self,
        output: Tensor<2>,
        targets: &Targets,
        sample: Option<Tensor<1>>,
        device: &Device,
    ) -> Tensor<1> {
        let Some(sample) = sample else { return self.forward(output, targets, device) };
        let (terms, classes) = self.row_terms(output, targets, device);
        let total = (classes * sample.clone()).sum();
        // All-zero weights weigh nothing: 0 / 1 rather than 0 / 0.
        let safe = total.clone().equal_elem(0.0).float() + total;
        (terms * sample).sum() / safe
    }

    /// Each row's loss with its class weight in it, and each row's class
    /// weight (ones without class weights): what PyTorch's losses give with
    /// `reduction="none"`, and what their weighted mean divides by.
    fn row_terms(&self, output: Tensor<2>, targets: &Targets, device: &Device) -> (Tensor<1>, Tensor<1>) {
        use crate::ir::Loss as Kind;
        let [rows, classes] = output.dims();
        let weights = self.weights.as_deref();
        let options = &self.options;
        let scaled = self.scaled(targets);
        let targets = scaled.as_ref().unwrap_or(targets);
        match (self.kind, targets) {
            (Kind::BinaryCrossEntropy, Targets::Classes(y)) if classes == 1 => {
                let logits = output.reshape([rows]);
                let labels = y.clone().float();
                let tail = logits.clone().abs().neg().exp().log1p();
                let softplus = logits.clone().clamp_min(0.0) + tail.clone();
                let softplus_neg = logits.neg().clamp_min(0.0) + tail;
                let pos_weight = options.pos_weight as f32;
                let terms = softplus_neg * labels.clone() * pos_weight + softplus * labels.neg().add_scalar(1.0);
                let class = class_weights_of(y, weights, device);
                (terms * class.clone(), class)
            }
            (Kind::CrossEntropy | Kind::BinaryCrossEntropy, Targets::Classes(y)) => {
                let log_p = log_softmax(output, 1);
                let class = class_weights_of(y, weights, device);
                let nll = log_p.clone().gather(1, y.clone().reshape([rows, 1])).reshape([rows]).neg();
                let e = if self.kind == Kind::CrossEntropy { options.label_smoothing as f32 } else { 0.0 };
                let mut terms = nll * class.clone() * (1.0 - e);
                if e > 0.0 {
                    let table = match weights {
                        Some(w) => Tensor::<1>::from_data(TensorData::new(w.to_vec(), [classes]), device),
                        None => Tensor::ones([classes], device),
                    };
                    let spread = (log_p * table.reshape([1, classes])).sum_dim(1).reshape([rows]).neg();
                    terms = terms + spread * (e / classes as f32);
                }
                (terms, class)
            }
            (Kind::Focal, Targets::Classes(y)) => {
                let class = class_weights_of(y, weights, device);
                let true_log_p = log_softmax(output, 1).gather(1, y.clone().reshape([rows, 1])).reshape([rows]);
                let nll = true_log_p.clone().neg();
                let terms = if options.gamma == 0.0 {
                    nll
                } else {
                    let focus = true_log_p.exp().neg().add_scalar(1.0).clamp_min(FOCAL_FLOOR);
                    focus.powf_scalar(options.gamma as f32) * nll
                };
                (terms * class.clone(), class)
            }
            (Kind::Mse, Targets::Numbers(y)) => {
                ((output.reshape([rows]) - y.clone()).square(), Tensor::ones([rows], device))
            }
            (Kind::Mae, Targets::Numbers(y)) => {
                ((output.reshape([rows]) - y.clone()).abs(), Tensor::ones([rows], device))
            }
            (Kind::Huber, Targets::Numbers(y)) => {
                let delta = options.delta as f32;
                let a = (output.reshape([rows]) - y.clone()).abs();
                let quadratic = a.clone().square().mul_scalar(0.5);
                let linear = a.clone().sub_scalar(0.5 * delta).mul_scalar(delta);
                (linear.mask_where(a.lower_equal_elem(delta), quadratic), Tensor::ones([rows], device))
            }
            (Kind::CrossEntropy | Kind::BinaryCrossEntropy | Kind::Focal, Targets::Numbers(_))
            | (Kind::Mse | Kind::Mae | Kind::Huber, Targets::Classes(_)) => {
                unreachable!("the IR pairs every loss with its kind of target")
            }
        }
    }

    /// The numeric targets as the model learns them (`scale:`), when they
    /// are scaled.
    fn scaled(&self, targets: &Targets) -> Option<Targets> {
        match (self.target, targets) {
            (Some(affine), Targets::Numbers(y)) => {
                Some(Targets::Numbers(y.clone().sub_scalar(affine.shift).div_scalar(affine.scale)))
            }
            _ => None,
        }
    }

    /// Whether the model predicts classes.
    pub fn is_classification(&self) -> bool {
        self.kind.task() == crate::ir::Task::Classification
    }

    /// The mean loss of `output` (`[batch, units]`) against `targets`
    /// (with class weights: the weighted mean, as PyTorch's).
    pub fn forward(&self, output: Tensor<2>, targets: &Targets, device: &Device) -> Tensor<1> {
        use crate::ir::Loss as Kind;
        let rows = output.dims()[0];
        let weights = self.weights.clone();
        let options = &self.options;
        let scaled = self.scaled(targets);
        let targets = scaled.as_ref().unwrap_or(targets);
        match (self.kind, targets) {
            (Kind::CrossEntropy, Targets::Classes(y)) if options.label_smoothing > 0.0 => {
                smoothed_cross_entropy(output, y.clone(), options.label_smoothing, weights.as_deref(), device)
            }
            (Kind::CrossEntropy, Targets::Classes(y)) => {
                CrossEntropyLossConfig::new().with_weights(weights).init(device).forward(output, y.clone())
            }
            (Kind::BinaryCrossEntropy, Targets::Classes(y)) if output.dims()[1] == 1 => {
                let pos_weight = options.pos_weight as f32;
                binary_cross_entropy(output.reshape([rows]), y.clone(), weights.as_deref(), pos_weight, device)
            }
            (Kind::BinaryCrossEntropy, Targets::Classes(y)) => {
                CrossEntropyLossConfig::new().with_weights(weights).init(device).forward(output, y.clone())
            }
            (Kind::Focal, Targets::Classes(y)) => focal(output, y.clone(), options.gamma, weights.as_deref(), device),
            (Kind::Mse, Targets::Numbers(y)) => {
                MseLoss::new().forward(output.reshape([rows]), y.clone(), Reduction::Mean)
            }
            (Kind::Mae, Targets::Numbers(y)) => (output.reshape([rows]) - y.clone()).abs().mean(),
            (Kind::Huber, Targets::Numbers(y)) => HuberLossConfig::new(options.delta as f32).init().forward(
                output.reshape([rows]),
                y.clone(),
                Reduction::Mean,
            ),
            // The lowering pairs each loss with its targets (classes for
            // the classification losses, numbers for the rest).
            (Kind::CrossEntropy | Kind::BinaryCrossEntropy | Kind::Focal, Targets::Numbers(_))
            | (Kind::Mse | Kind::Mae | Kind::Huber, Targets::Classes(_)) => {
                unreachable!("the IR pairs every loss with its kind of target")
            }
        }
    }

    /// Each row's class probabilities, row after row (`None` for numbers):
    /// the softmax of the scores, or `1 - p, p` of one sigmoid logit.
    pub fn probabilities(&self, output: Tensor<2>) -> Option<Vec<f32>> {
        let rows = output.dims()[0];
        if !self.is_classification() {
            return None;
        }
        let values = if self.kind == crate::ir::Loss::BinaryCrossEntropy && output.dims()[1] == 1 {
            let p = sigmoid(output.reshape([rows, 1]));
            Tensor::cat(vec![p.clone().neg().add_scalar(1.0), p], 1)
        } else {
            burn::tensor::activation::softmax(output, 1)
        };
        values.try_into_vec_as::<f32>().ok()
    }

    /// Predicted class indices (classification) or numbers, as f32.
    pub fn predict(&self, output: Tensor<2>) -> Vec<f32> {
        let rows = output.dims()[0];
        let values = if !self.is_classification() {
            match self.target {
                Some(affine) => output.reshape([rows]).mul_scalar(affine.scale).add_scalar(affine.shift),
                None => output.reshape([rows]),
            }
        } else if self.kind == crate::ir::Loss::BinaryCrossEntropy && output.dims()[1] == 1 {
            sigmoid(output.reshape([rows])).greater_elem(self.threshold.unwrap_or(0.5)).float()
        } else if let (Some(threshold), 2) = (self.threshold, output.dims()[1]) {
            // The second class's probability, as a softmax of two scores.
            let second = burn::tensor::activation::softmax(output, 1).narrow(1, 1, 1).reshape([rows]);
            second.greater_elem(threshold).float()
        } else {
            output.argmax(1).reshape([rows]).float()
        };
        values.try_into_vec_as::<f32>().unwrap_or_default()
    }
}

/// Sigmoid cross-entropy of logits against 0/1 labels, each row's term
/// `pos_weight y softplus(-x) + (1 - y) softplus(x)` (PyTorch's
/// `BCEWithLogitsLoss` with `pos_weight`; softplus in the stable form
/// `max(x, 0) + ln(1 + e^-|x|)`); with class weights, each row's term is
/// weighted by its class's weight and the sum divided by the weights' sum
/// (PyTorch's weighted mean).
fn binary_cross_entropy(
    logits: Tensor<1>,
    labels: Tensor<1, Int>,
    weights: Option<&[f32]>,
    pos_weight: f32,
    device: &Device,
) -> Tensor<1> {
    if weights.is_none() && pos_weight == 1.0 {
        return BinaryCrossEntropyLossConfig::new().with_logits(true).init(device).forward(logits, labels);
    }
    let y = labels.clone().float();
    let tail = logits.clone().abs().neg().exp().log1p();
    let softplus = logits.clone().clamp_min(0.0) + tail.clone();
    let softplus_neg = logits.neg().clamp_min(0.0) + tail;
    let terms = softplus_neg * y.clone() * pos_weight + softplus * (y.neg().add_scalar(1.0));
    let Some(weights) = weights else { return terms.mean() };
    let (w0, w1) = (weights.first().copied().unwrap_or(1.0), weights.get(1).copied().unwrap_or(1.0));
    // w0 + (w1 - w0) * y: each row's class weight.
    let row_weights = labels.float() * (w1 - w0) + w0;
    (terms * row_weights.clone()).sum() / row_weights.sum()
}

/// Each row's class weight (`weights[y]`), or ones.
fn class_weights_of(labels: &Tensor<1, Int>, weights: Option<&[f32]>, device: &Device) -> Tensor<1> {
    let rows = labels.dims()[0];
    match weights {
        Some(weights) => {
            let table = Tensor::<1>::from_data(TensorData::new(weights.to_vec(), [weights.len()]), device);
            table.select(0, labels.clone())
        }
        None => Tensor::ones([rows], device),
    }
}

/// Cross-entropy against targets smoothed toward the uniform distribution,
/// PyTorch's `label_smoothing`: `(1 - e)` times the (weighted) negative
/// log-likelihood plus `e / K` times the sum over classes of each class's
/// (weighted) `-ln p`, both divided by the rows' class weights' sum.
fn smoothed_cross_entropy(
    output: Tensor<2>,
    labels: Tensor<1, Int>,
    smoothing: f64,
    weights: Option<&[f32]>,
    device: &Device,
) -> Tensor<1> {
    let [rows, classes] = output.dims();
    let log_p = log_softmax(output, 1);
    let row_weights = class_weights_of(&labels, weights, device);
    let true_log_p = log_p.clone().gather(1, labels.reshape([rows, 1])).reshape([rows]);
    let nll = (true_log_p.neg() * row_weights.clone()).sum();
    let spread = match weights {
        Some(weights) => {
            let table = Tensor::<1>::from_data(TensorData::new(weights.to_vec(), [classes]), device);
            (log_p * table.reshape([1, classes])).sum().neg()
        }
        None => log_p.sum().neg(),
    };
    let e = smoothing as f32;
    (nll * (1.0 - e) + spread * (e / classes as f32)) / row_weights.sum()
}

/// The least `1 - p` the focal loss raises to gamma.
const FOCAL_FLOOR: f32 = 1e-30;

/// Softmax focal loss (Lin et al.): each row's `-(1 - p)^gamma ln p` of
/// its true class's probability, weighted by its class's weight, summed
/// and divided by the weights' sum (gamma 0 is the cross-entropy).
fn focal(output: Tensor<2>, labels: Tensor<1, Int>, gamma: f64, weights: Option<&[f32]>, device: &Device) -> Tensor<1> {
    let rows = output.dims()[0];
    let row_weights = class_weights_of(&labels, weights, device);
    let true_log_p = log_softmax(output, 1).gather(1, labels.reshape([rows, 1])).reshape([rows]);
    let nll = true_log_p.clone().neg();
    let terms = if gamma == 0.0 {
        nll
    } else {
        // (1 - p)^gamma. A row classified right beyond f32's resolution
        // has 1 - p = 0, where the power's derivative is infinite for
        // gamma < 1: the floor keeps the gradient finite (the clamp passes
        // none there) and changes no value f32 can tell from 0.
        let focus = true_log_p.exp().neg().add_scalar(1.0).clamp_min(FOCAL_FLOOR).powf_scalar(gamma as f32);
        focus * nll
    };
    (terms * row_weights.clone()).sum() / row_weights.sum()
}
