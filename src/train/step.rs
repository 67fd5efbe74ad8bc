//! One training step's arithmetic: a batch as tensors, its loss (plus the
//! L1/L2 terms) and gradients, on one device or cut into shards across
//! several (data parallel).

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};

use crate::train::data::{Dataset, Target};
use crate::train::loss::{Loss, Targets};
use crate::train::model::{Net, X};

/// L1 and L2 terms over the weights of dense and conv layers (not biases
/// or normalisation), as Keras' kernel regularizers: the run's
/// `regularize:` on every such layer, plus each layer's own `l2:`.
fn penalty(net: &Net, r: &Regularize) -> Option<Tensor<1>> {
    if r.l1.is_none() && r.l2.is_none() && r.per_layer.iter().all(Option::is_none) {
        return None;
    }
    let mut total: Option<Tensor<1>> = None;
    for (i, w) in net.weights().into_iter().enumerate() {
        let mut term: Option<Tensor<1>> = None;
        if let Some(a) = r.l1 {
            term = Some(w.clone().abs().sum() * a);
        }
        let own = r.per_layer.get(i).copied().flatten();
        let l2 = match (r.l2, own) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        };
        if let Some(b) = l2 {
            let t = w.square().sum() * b;
            term = Some(match term {
                Some(x) => x + t,
                None => t,
            });
        }
        total = match (total, term) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }
    total
}

/// The L1 and L2 weights of a run's `regularize:`, and each dense or conv
/// layer's own `l2:` (in the order of [`Net::weights`]).
#[derive(Clone)]
pub(super) struct Regularize {
    /// The L1 weight.
    pub(super) l1: Option<f64>,
    /// The L2 weight.
    pub(super) l2: Option<f64>,
    /// Each layer's own L2 weight.
    pub(super) per_layer: Vec<Option<f64>>,
}

impl Regularize {
    /// A run's penalties: its `regularize:` and its layers' own `l2:`.
    pub(super) fn of(train: &crate::ir::Train) -> Self {
        Regularize { l1: train.settings.l1, l2: train.settings.l2, per_layer: train.model.kernel_l2() }
    }
}

/// The L1/L2 terms a step of `train` adds to the loss of `net` (`None`
/// when it has no penalties), as training adds them.
pub fn run_penalty(net: &Net, train: &crate::ir::Train) -> Option<Tensor<1>> {
    penalty(net, &Regularize::of(train))
}

/// What one shard of a batch gives: its mean loss, the gradients of its
/// share of the batch's objective, and its targets and predictions.
struct Shard {
    value: f64,
    grads: GradientsParams,
    truth: Vec<f32>,
    predicted: Vec<f32>,
}

/// The gathered batch's mean loss, the gradients of its objective (times `scale`,
/// for f16), and its targets and predictions. With replicas (data
/// parallel), the rows are cut into one shard per device, each device's
/// copy of the network computes its shard's loss weighted by the shard's
/// share of the rows, in its own thread, and the gradients are summed on
/// the first device: the mean loss of the whole batch, so one step on
/// several devices is one step on one device. Batch normalization sees
/// each device's shard (as in PyTorch's DDP without SyncBatchNorm); the
/// running statistics kept are the first device's.
pub(super) fn batch_gradients(
    net: &Net,
    replicas: &[Device],
    batch: Dataset,
    loss: &Loss,
    device: &Device,
    regularize: &Regularize,
    scale: Option<f64>,
) -> (f64, GradientsParams, Vec<f32>, Vec<f32>) {
    if replicas.is_empty() {
        let shard = shard_gradients(net, batch, loss, device, 1.0, Some(regularize), scale);
        return (shard.value, shard.grads, shard.truth, shard.predicted);
    }
    let parts = replicas.len().saturating_add(1);
    let rows: Vec<usize> = (0..batch.rows).collect();
    let shards = shards(&rows, parts, net.has_batch_norm());
    // Each shard's mean loss counts by its share of the batch's weight (its
    // rows, or with class weights the weights of its rows' classes), so the
    // shards' sum is the batch's mean on one device.
    let weight = |shard: &[usize]| shard.iter().map(|&r| loss.row_weight(&batch, r)).sum::<f64>();
    let total = weight(&rows).max(f64::MIN_POSITIVE);
    let share = |shard: &[usize]| weight(shard) / total;
    // Each copy draws its own dropout masks, from streams fixed before any
    // thread starts (so runs repeat exactly).
    let copies: Vec<Net> = (1..shards.len())
        .map(|i| net.clone().own_running_stats().fork(&replicas[i.saturating_sub(1)]).reseed_dropout(i as u64))
        .collect();
    let (first, others) = std::thread::scope(|scope| {
        let handles: Vec<_> = copies
            .into_iter()
            .zip(&shards[1..])
            .zip(replicas)
            .map(|((copy, shard), replica)| {
                let (weight, part) = (share(shard), batch.select(shard));
                scope.spawn(move || shard_gradients(&copy, part, loss, replica, weight, None, scale))
            })
            .collect();
        let part = batch.select(shards[0]);
        let first = shard_gradients(net, part, loss, device, share(shards[0]), Some(regularize), scale);
        let others: Vec<Shard> =
            handles.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect();
        (first, others)
    });
    let mut value = first.value * share(shards[0]);
    let (mut truth, mut predicted) = (first.truth, first.predicted);
    let mut sum = GradientsAccumulator::<Net>::new();
    sum.accumulate(net, first.grads);
    for (shard, rows) in others.into_iter().zip(&shards[1..]) {
        value += shard.value * share(rows);
        truth.extend(shard.truth);
        predicted.extend(shard.predicted);
        sum.accumulate(net, shard.grads.to_device(device, net));
    }
    (value, sum.grads(), truth, predicted)
}

/// A batch's rows cut into at most `parts` shards, one per device, in
/// order. With batch normalization no shard has a single row (its
/// statistics would be that row: every output 0, no gradient for the
/// layer's scale): fewer devices take part, the rows spread evenly.
fn shards(rows: &[usize], parts: usize, batch_norm: bool) -> Vec<&[usize]> {
    if !batch_norm {
        return rows.chunks(rows.len().div_ceil(parts).max(1)).collect();
    }
    let parts = parts.min(rows.len().checked_div(2).unwrap_or(0)).max(1);
    let (base, extra) = (rows.len().checked_div(parts).unwrap_or(0), rows.len().checked_rem(parts).unwrap_or(0));
    let mut out = Vec::with_capacity(parts);
    let mut rest = rows;
    for i in 0..parts {
        let (shard, after) = rest.split_at(base.saturating_add(usize::from(i < extra)).min(rest.len()));
        out.push(shard);
        rest = after;
    }
    out
}

/// One shard on one device: the gradients of `weight` times its mean loss
/// (plus the L1/L2 terms, counted once, on the first device), times
/// `scale`.
fn shard_gradients(
    net: &Net,
    shard: Dataset,
    loss: &Loss,
    device: &Device,
    weight: f64,
    regularize: Option<&Regularize>,
    scale: Option<f64>,
) -> Shard {
    let sample = sample_weights(&shard, device);
    let (x, y, truth) = batch_tensors(shard, device);
    let output = net.forward(x).flat();
    let mut objective = loss.forward_weighted(output.clone(), &y, sample, device);
    let value = objective.clone().into_scalar::<f64>();
    if weight != 1.0 {
        objective = objective * weight;
    }
    if let Some(penalty) = regularize.and_then(|r| penalty(net, r)) {
        objective = objective + penalty;
    }
    if let Some(scale) = scale {
        objective = objective * scale;
    }
    let predicted = loss.predict(output.detach());
    // Every layer frozen: nothing to differentiate (the checker reports it).
    let grads = if objective.is_tracked() {
        GradientsParams::from_grads(objective.backward(), net)
    } else {
        GradientsParams::new()
    };
    Shard { value, grads, truth, predicted }
}

/// A batch's row weights (`weights:`) as a tensor, when it has them.
pub(super) fn sample_weights(batch: &Dataset, device: &Device) -> Option<Tensor<1>> {
    let weights = batch.weights.as_ref()?;
    Some(Tensor::from_data(TensorData::new(weights.clone(), [weights.len()]), device))
}

/// A batch's rows as tensors (images when it has an image shape), and its
/// targets as f32 on the host.
pub(super) fn batch_tensors(batch: Dataset, device: &Device) -> (X, Targets, Vec<f32>) {
    let rows = batch.rows;
    let x = match batch.image {
        Some([c, h, w]) => {
            let images = Tensor::from_data(TensorData::new(batch.features, [rows, c, h, w]), device);
            X::Image(match &batch.to_augment {
                Some(a) => crate::train::augment_device::augment_batch(images, &a.drawn, a.fill),
                None => images,
            })
        }
        None => X::Flat(Tensor::from_data(TensorData::new(batch.features, [rows, batch.width]), device)),
    };
    match batch.target {
        Target::Classes(y) => {
            let host = y.iter().map(|v| *v as f32).collect();
            (x, Targets::classes(y, device), host)
        }
        Target::Numbers(y) => (x, Targets::numbers(y.clone(), device), y),
    }
}

#[cfg(test)]
mod tests {
    use super::shards;

    fn sizes(rows: usize, parts: usize, batch_norm: bool) -> Vec<usize> {
        let all: Vec<usize> = (0..rows).collect();
        let cut = shards(&all, parts, batch_norm);
        assert_eq!(cut.concat(), all, "every row once, in order");
        cut.iter().map(|s| s.len()).collect()
    }

    /// Without batch norm, shards as before; with it, never one row.
    #[test]
    fn no_shard_has_one_row_under_batch_norm() {
        assert_eq!(sizes(5, 3, false), [2, 2, 1]);
        assert_eq!(sizes(2, 3, false), [1, 1]);
        assert_eq!(sizes(5, 3, true), [3, 2]);
        assert_eq!(sizes(2, 3, true), [2]);
        assert_eq!(sizes(3, 3, true), [3]);
        assert_eq!(sizes(7, 3, true), [3, 2, 2]);
        assert_eq!(sizes(512, 2, true), [256, 256]);
        assert_eq!(sizes(1, 2, true), [1]);
    }
}
