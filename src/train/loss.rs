//! Losses and what the model's output means: class scores (cross-entropy),
//! one logit (binary cross-entropy) or a number (mse, mae, huber).

use burn::nn::loss::{BinaryCrossEntropyLossConfig, CrossEntropyLossConfig, HuberLossConfig, MseLoss, Reduction};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Int, Tensor, TensorData};

/// The loss of a run.
#[derive(Clone, Debug, PartialEq)]
pub enum Loss {
    /// Class scores; optional class weights.
    CrossEntropy(Option<Vec<f32>>),
    /// One logit for class 1 of two.
    BinaryCrossEntropy,
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
    /// The loss named in the file (`None`: cross-entropy for classes, mse
    /// for numbers); `weights` are class weights.
    pub fn new(name: Option<&str>, classes: bool, weights: Option<Vec<f32>>) -> Self {
        match name {
            Some("binary_cross_entropy") => Loss::BinaryCrossEntropy,
            Some("mse") => Loss::Mse,
            Some("mae") => Loss::Mae,
            Some("huber") => Loss::Huber,
            Some("cross_entropy") => Loss::CrossEntropy(weights),
            _ if classes => Loss::CrossEntropy(weights),
            _ => Loss::Mse,
        }
    }

    /// How much a row counts in a batch's mean loss: its class's weight for
    /// a weighted cross-entropy (which divides by the batch's total weight),
    /// else 1.
    pub fn row_weight(&self, target: &crate::train::data::Target, row: usize) -> f64 {
        match (self, target) {
            (Loss::CrossEntropy(Some(weights)), crate::train::data::Target::Classes(classes)) => {
                weights.get(classes[row] as usize).copied().unwrap_or(1.0) as f64
            }
            _ => 1.0,
        }
    }

    /// Whether the model predicts classes.
    pub fn is_classification(&self) -> bool {
        matches!(self, Loss::CrossEntropy(_) | Loss::BinaryCrossEntropy)
    }

    /// The mean loss of `output` (`[batch, units]`) against `targets`.
    pub fn forward(&self, output: Tensor<2>, targets: &Targets, device: &Device) -> Tensor<1> {
        let rows = output.dims()[0];
        match (self, targets) {
            (Loss::CrossEntropy(weights), Targets::Classes(y)) => {
                CrossEntropyLossConfig::new().with_weights(weights.clone()).init(device).forward(output, y.clone())
            }
            (Loss::BinaryCrossEntropy, Targets::Classes(y)) if output.dims()[1] == 1 => {
                BinaryCrossEntropyLossConfig::new()
                    .with_logits(true)
                    .init(device)
                    .forward(output.reshape([rows]), y.clone())
            }
            (Loss::BinaryCrossEntropy, Targets::Classes(y)) => {
                CrossEntropyLossConfig::new().init(device).forward(output, y.clone())
            }
            (Loss::Mse, Targets::Numbers(y)) => {
                MseLoss::new().forward(output.reshape([rows]), y.clone(), Reduction::Mean)
            }
            (Loss::Mae, Targets::Numbers(y)) => (output.reshape([rows]) - y.clone()).abs().mean(),
            (Loss::Huber, Targets::Numbers(y)) => {
                HuberLossConfig::new(1.0).init().forward(output.reshape([rows]), y.clone(), Reduction::Mean)
            }
            // The checker pairs losses with targets; a mismatch cannot reach here.
            _ => Tensor::zeros([1], device),
        }
    }

    /// Predicted class indices (classification) or numbers, as f32.
    pub fn predict(&self, output: Tensor<2>) -> Vec<f32> {
        let rows = output.dims()[0];
        let values = match self {
            Loss::BinaryCrossEntropy if output.dims()[1] == 1 => {
                sigmoid(output.reshape([rows])).greater_elem(0.5).float()
            }
            Loss::CrossEntropy(_) | Loss::BinaryCrossEntropy => output.argmax(1).reshape([rows]).float(),
            _ => output.reshape([rows]),
        };
        values.try_into_vec_as::<f32>().unwrap_or_default()
    }
}
