//! Losses and what the model's output means: class scores (cross-entropy),
//! one logit (binary cross-entropy) or a number (mse, mae, huber).

use burn::nn::loss::{BinaryCrossEntropyLossConfig, CrossEntropyLossConfig, HuberLossConfig, MseLoss, Reduction};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Int, Tensor, TensorData};

/// The loss of a run, with its class weights (`class_weight: balanced`).
#[derive(Clone, Debug, PartialEq)]
pub enum Loss {
    /// Class scores; optional class weights.
    CrossEntropy(Option<Vec<f32>>),
    /// One logit for class 1 of two (or two scores, as cross-entropy);
    /// optional class weights.
    BinaryCrossEntropy(Option<Vec<f32>>),
    /// Squared error.
    Mse,
    /// Absolute error.
    Mae,
    /// Huber (delta 1).
    Huber,
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
    pub fn new(loss: crate::ir::Loss, weights: Option<Vec<f32>>) -> Self {
        match loss {
            crate::ir::Loss::CrossEntropy => Loss::CrossEntropy(weights),
            crate::ir::Loss::BinaryCrossEntropy => Loss::BinaryCrossEntropy(weights),
            crate::ir::Loss::Mse => Loss::Mse,
            crate::ir::Loss::Mae => Loss::Mae,
            crate::ir::Loss::Huber => Loss::Huber,
        }
    }

    /// How much a row counts in a batch's mean loss: its class's weight for
    /// a weighted classification loss (which divides by the batch's total
    /// weight), else 1.
    pub fn row_weight(&self, target: &crate::train::data::Target, row: usize) -> f64 {
        match (self, target) {
            (
                Loss::CrossEntropy(Some(weights)) | Loss::BinaryCrossEntropy(Some(weights)),
                crate::train::data::Target::Classes(classes),
            ) => weights.get(classes[row] as usize).copied().unwrap_or(1.0) as f64,
            _ => 1.0,
        }
    }

    /// Whether the model predicts classes.
    pub fn is_classification(&self) -> bool {
        matches!(self, Loss::CrossEntropy(_) | Loss::BinaryCrossEntropy(_))
    }

    /// The mean loss of `output` (`[batch, units]`) against `targets`
    /// (with class weights: the weighted mean, as PyTorch's).
    pub fn forward(&self, output: Tensor<2>, targets: &Targets, device: &Device) -> Tensor<1> {
        let rows = output.dims()[0];
        match (self, targets) {
            (Loss::CrossEntropy(weights), Targets::Classes(y)) => {
                CrossEntropyLossConfig::new().with_weights(weights.clone()).init(device).forward(output, y.clone())
            }
            (Loss::BinaryCrossEntropy(weights), Targets::Classes(y)) if output.dims()[1] == 1 => {
                binary_cross_entropy(output.reshape([rows]), y.clone(), weights.as_deref(), device)
            }
            (Loss::BinaryCrossEntropy(weights), Targets::Classes(y)) => {
                CrossEntropyLossConfig::new().with_weights(weights.clone()).init(device).forward(output, y.clone())
            }
            (Loss::Mse, Targets::Numbers(y)) => {
                MseLoss::new().forward(output.reshape([rows]), y.clone(), Reduction::Mean)
            }
            (Loss::Mae, Targets::Numbers(y)) => (output.reshape([rows]) - y.clone()).abs().mean(),
            (Loss::Huber, Targets::Numbers(y)) => {
                HuberLossConfig::new(1.0).init().forward(output.reshape([rows]), y.clone(), Reduction::Mean)
            }
            // The lowering pairs each loss with its targets (classes for
            // the classification losses, numbers for the rest).
            (Loss::CrossEntropy(_) | Loss::BinaryCrossEntropy(_), Targets::Numbers(_))
            | (Loss::Mse | Loss::Mae | Loss::Huber, Targets::Classes(_)) => {
                unreachable!("the IR pairs every loss with its kind of target")
            }
        }
    }

    /// Each row's class probabilities, row after row (`None` for numbers):
    /// the softmax of the scores, or `1 - p, p` of one sigmoid logit.
    pub fn probabilities(&self, output: Tensor<2>) -> Option<Vec<f32>> {
        let rows = output.dims()[0];
        let values = match self {
            Loss::BinaryCrossEntropy(_) if output.dims()[1] == 1 => {
                let p = sigmoid(output.reshape([rows, 1]));
                Tensor::cat(vec![p.clone().neg().add_scalar(1.0), p], 1)
            }
            Loss::CrossEntropy(_) | Loss::BinaryCrossEntropy(_) => burn::tensor::activation::softmax(output, 1),
            Loss::Mse | Loss::Mae | Loss::Huber => return None,
        };
        values.try_into_vec_as::<f32>().ok()
    }

    /// Predicted class indices (classification) or numbers, as f32.
    pub fn predict(&self, output: Tensor<2>) -> Vec<f32> {
        let rows = output.dims()[0];
        let values = match self {
            Loss::BinaryCrossEntropy(_) if output.dims()[1] == 1 => {
                sigmoid(output.reshape([rows])).greater_elem(0.5).float()
            }
            Loss::CrossEntropy(_) | Loss::BinaryCrossEntropy(_) => output.argmax(1).reshape([rows]).float(),
            Loss::Mse | Loss::Mae | Loss::Huber => output.reshape([rows]),
        };
        values.try_into_vec_as::<f32>().unwrap_or_default()
    }
}

/// Sigmoid cross-entropy of logits against 0/1 labels, in the stable form
/// `max(x, 0) - x y + ln(1 + e^-|x|)`; with class weights, each row's term
/// is weighted by its class's weight and the sum divided by the weights'
/// sum (PyTorch's weighted mean).
fn binary_cross_entropy(
    logits: Tensor<1>,
    labels: Tensor<1, Int>,
    weights: Option<&[f32]>,
    device: &Device,
) -> Tensor<1> {
    let Some(weights) = weights else {
        return BinaryCrossEntropyLossConfig::new().with_logits(true).init(device).forward(logits, labels);
    };
    let y = labels.clone().float();
    let terms = logits.clone().clamp_min(0.0) - logits.clone() * y + logits.abs().neg().exp().log1p();
    let (w0, w1) = (weights.first().copied().unwrap_or(1.0), weights.get(1).copied().unwrap_or(1.0));
    // w0 + (w1 - w0) * y: each row's class weight.
    let row_weights = labels.float() * (w1 - w0) + w0;
    (terms * row_weights.clone()).sum() / row_weights.sum()
}
