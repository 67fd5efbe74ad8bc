//! The model of an ONNX export: its layers (dense, batch and layer
//! normalization, activations; dropout is the identity at inference) as
//! nodes, with the trained weights in PyTorch's layout.

use std::collections::HashMap;

use super::proto::Attr;
use super::{Builder, refuse};
use crate::ir::{Activation, LayerKind, Model, Shape, TorchEntry, TorchParam};
use crate::run::error::RunResult;

/// What the export lowers of a model, for its refusals.
pub(super) const LOWERED: &str = "the export lowers dense, conv (valid, or same with stride 1 and an odd kernel), maxpool, avgpool, global_avgpool, global_maxpool, normalize, batchnorm, layernorm, dropout and flatten layers and the activations relu, leaky_relu, elu, gelu, silu, sigmoid, tanh and softmax; predict with `pipe predict` or `pipe serve` instead";

/// Refuses a model with a layer or activation the export has no form for
/// (before any weights are read), naming it as written.
pub(super) fn supported(model: &Model) -> RunResult<()> {
    for layer in &model.layers {
        let fits = match &layer.kind {
            LayerKind::Dense { .. }
            | LayerKind::BatchNorm
            | LayerKind::LayerNorm
            | LayerKind::Dropout(_)
            | LayerKind::Embedding { .. } => true,
            LayerKind::Flatten => !matches!(layer.input, Shape::Seq(_)),
            LayerKind::Conv { kernel, stride, same, .. } => !*same || (*stride == 1 && kernel % 2 == 1),
            LayerKind::MaxPool { .. }
            | LayerKind::AvgPool { .. }
            | LayerKind::GlobalAvgPool
            | LayerKind::GlobalMaxPool
            | LayerKind::Normalize { .. } => matches!(layer.input, Shape::Image(_)),
            LayerKind::Activation(a) => {
                !matches!(a, Activation::Selu | Activation::Softplus(_) | Activation::Mish | Activation::HardSigmoid)
            }
            _ => false,
        };
        if !fits {
            let written = crate::ir::layer_call(&layer.kind);
            let shown = if written.is_empty() { "a residual block".to_owned() } else { format!("`{written}`") };
            return Err(refuse(format!("the layer {shown} has no ONNX form yet"), LOWERED));
        }
    }
    Ok(())
}

/// Burn's batch and layer normalization epsilon (their configs' default).
const EPSILON: f32 = 1e-5;

/// Lowers the layers on `input` (`[N, F]` floats); the logits' value.
/// `tables`: each `embedding` layer's tables (`[ids, dim]`, row-major),
/// by layer index.
pub(super) fn model(
    b: &mut Builder,
    model: &Model,
    values: Vec<(TorchEntry, Vec<f32>)>,
    tables: &HashMap<usize, Vec<Vec<f32>>>,
    input: String,
) -> RunResult<String> {
    let mut params: HashMap<(usize, TorchParam), (Vec<f32>, Vec<i64>)> = HashMap::new();
    for (entry, data) in values {
        let shape = entry.shape.iter().map(|&d| d as i64).collect();
        params.insert((entry.layer, entry.param), (data, shape));
    }
    let mut take = |b: &mut Builder, layer: usize, param: TorchParam| -> RunResult<String> {
        let (data, shape) = params
            .remove(&(layer, param))
            .ok_or_else(|| refuse(format!("layer {layer} has no {param:?} to export"), ""))?;
        Ok(b.constant_f32(&data, &shape))
    };
    let mut x = input;
    for (i, layer) in model.layers.iter().enumerate() {
        x = match &layer.kind {
            LayerKind::Dense { .. } => {
                let (w, bias) = (take(b, i, TorchParam::Weight)?, take(b, i, TorchParam::Bias)?);
                b.node("Gemm", vec![x, w, bias], vec![Attr::Int("transB", 1)])
            }
            LayerKind::BatchNorm => {
                let scale = take(b, i, TorchParam::Weight)?;
                let shift = take(b, i, TorchParam::Bias)?;
                let mean = take(b, i, TorchParam::RunningMean)?;
                let var = take(b, i, TorchParam::RunningVar)?;
                b.node("BatchNormalization", vec![x, scale, shift, mean, var], vec![Attr::Float("epsilon", EPSILON)])
            }
            LayerKind::LayerNorm => {
                let (scale, shift) = (take(b, i, TorchParam::Weight)?, take(b, i, TorchParam::Bias)?);
                let attrs = vec![Attr::Int("axis", -1), Attr::Float("epsilon", EPSILON)];
                b.node("LayerNormalization", vec![x, scale, shift], attrs)
            }
            LayerKind::Dropout(_) => x,
            LayerKind::Embedding { dim, tables: coded } => {
                // The other features, then each encoded column's vector.
                let Shape::Flat(width) = layer.input else { return Err(refuse("an embedding of no features", "")) };
                let numeric: Vec<i64> =
                    (0..width).filter(|p| !coded.iter().any(|t| t.position == *p)).map(|p| p as i64).collect();
                let mut parts = Vec::new();
                if !numeric.is_empty() {
                    let at = b.constant_i64(&numeric, &[numeric.len() as i64]);
                    parts.push(b.node("Gather", vec![x.clone(), at], vec![Attr::Int("axis", 1)]));
                }
                let weights = tables.get(&i).ok_or_else(|| refuse("the embedding's tables were not read", ""))?;
                for (table, values) in coded.iter().zip(weights) {
                    let at = b.constant_i64(&[table.position as i64], &[1]);
                    let id = b.node("Gather", vec![x.clone(), at], vec![Attr::Int("axis", 1)]);
                    let id = b.node("Cast", vec![id], vec![Attr::Int("to", crate::run::onnx::proto::Elem::I64 as i64)]);
                    let w = b.constant_f32(values, &[table.ids as i64, *dim as i64]);
                    let vector = b.node("Gather", vec![w, id], vec![Attr::Int("axis", 0)]);
                    parts.push(b.node("Flatten", vec![vector], vec![Attr::Int("axis", 1)]));
                }
                b.node("Concat", parts, vec![Attr::Int("axis", 1)])
            }
            LayerKind::Flatten => match layer.input {
                Shape::Image(_) => b.node("Flatten", vec![x], vec![Attr::Int("axis", 1)]),
                _ => x,
            },
            LayerKind::Conv { kernel, stride, same, .. } => {
                let (w, bias) = (take(b, i, TorchParam::Weight)?, take(b, i, TorchParam::Bias)?);
                // `same` (stride 1, odd kernels): (k - 1) / 2 on each side.
                let pad = if *same { (*kernel as i64).saturating_sub(1) / 2 } else { 0 };
                let (k, s) = (*kernel as i64, *stride as i64);
                let attrs = vec![
                    Attr::Ints("kernel_shape", vec![k, k]),
                    Attr::Ints("strides", vec![s, s]),
                    Attr::Ints("pads", vec![pad; 4]),
                ];
                b.node("Conv", vec![x, w, bias], attrs)
            }
            LayerKind::MaxPool { size, stride } | LayerKind::AvgPool { size, stride } => {
                let op = if matches!(layer.kind, LayerKind::MaxPool { .. }) { "MaxPool" } else { "AveragePool" };
                let (k, s) = (*size as i64, *stride as i64);
                b.node(op, vec![x], vec![Attr::Ints("kernel_shape", vec![k, k]), Attr::Ints("strides", vec![s, s])])
            }
            LayerKind::GlobalAvgPool | LayerKind::GlobalMaxPool => {
                let op = if layer.kind == LayerKind::GlobalAvgPool { "GlobalAveragePool" } else { "GlobalMaxPool" };
                let pooled = b.node(op, vec![x], vec![]);
                b.node("Flatten", vec![pooled], vec![Attr::Int("axis", 1)])
            }
            LayerKind::Normalize { mean, std } => {
                // Per channel, the last value repeated for channels past
                // the lists' (as the model does).
                let channels = layer.input.channels();
                let spread = |v: &[f64]| -> Vec<f32> {
                    (0..channels).map(|c| v[c.min(v.len().saturating_sub(1))] as f32).collect()
                };
                let dims = [1, channels as i64, 1, 1];
                let (m, s) = (b.constant_f32(&spread(mean), &dims), b.constant_f32(&spread(std), &dims));
                let centred = b.node("Sub", vec![x, m], vec![]);
                b.node("Div", vec![centred, s], vec![])
            }
            LayerKind::Activation(activation) => activate(b, *activation, x)?,
            other => {
                let written = crate::ir::layer_call(other);
                return Err(refuse(format!("the layer `{written}` has no ONNX form yet"), LOWERED));
            }
        };
    }
    Ok(x)
}

/// An activation as the model computes it.
fn activate(b: &mut Builder, activation: Activation, x: String) -> RunResult<String> {
    Ok(match activation {
        Activation::Relu => b.node("Relu", vec![x], vec![]),
        Activation::Sigmoid => b.node("Sigmoid", vec![x], vec![]),
        Activation::Tanh => b.node("Tanh", vec![x], vec![]),
        Activation::Softmax => b.node("Softmax", vec![x], vec![Attr::Int("axis", -1)]),
        Activation::LeakyRelu(alpha) => b.node("LeakyRelu", vec![x], vec![Attr::Float("alpha", alpha as f32)]),
        Activation::Elu(alpha) => b.node("Elu", vec![x], vec![Attr::Float("alpha", alpha as f32)]),
        Activation::Silu => {
            let s = b.node("Sigmoid", vec![x.clone()], vec![]);
            b.node("Mul", vec![x, s], vec![])
        }
        Activation::Gelu => {
            // The exact GELU: x * (1 + erf(x / sqrt(2))) / 2.
            let root2 = b.constant_f32(&[std::f32::consts::SQRT_2], &[1]);
            let scaled = b.node("Div", vec![x.clone(), root2], vec![]);
            let erf = b.node("Erf", vec![scaled], vec![]);
            let one = b.constant_f32(&[1.0], &[1]);
            let plus = b.node("Add", vec![erf, one], vec![]);
            let times = b.node("Mul", vec![x, plus], vec![]);
            let half = b.constant_f32(&[0.5], &[1]);
            b.node("Mul", vec![times, half], vec![])
        }
        other => {
            let written = crate::ir::layer_call(&LayerKind::Activation(other));
            return Err(refuse(format!("the layer `{written}` has no ONNX form yet"), LOWERED));
        }
    })
}
