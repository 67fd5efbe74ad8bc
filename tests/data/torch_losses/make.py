#!/usr/bin/env python3
"""make.py OUT.json

The reference for `tests/train.rs`'s loss test: each loss as `pipe`
writes it in `loss:`, computed by PyTorch on fixed outputs and targets,
with and without class weights: the mean loss and its gradient with
respect to the outputs. Cross-entropy (label smoothing), binary
cross-entropy (pos_weight) and Huber (delta) are PyTorch's own functions;
PyTorch has no softmax focal loss, so focal is written here in PyTorch
operations (torchvision's is the sigmoid one), class-weighted as
cross-entropy is (sum of weighted terms over the weights' sum). Each case
also has its per-row-weighted form (`weights:` in a train block, Keras'
sample_weight): PyTorch's `reduction="none"` row losses `l_i` (class
weights in them) weighted by SAMPLE, `sum(s_i l_i) / sum(s_i c_i)` with
`c_i` row i's class weight (1 without). Run with the tests' torch venv
(torch 2.9.0); the output is committed.
"""
import json
import sys

import torch
import torch.nn.functional as F

torch.manual_seed(0)
ROWS, CLASSES = 8, 3
scores = torch.randn(ROWS, CLASSES) * 3
scores[0] = torch.tensor([30.0, -30.0, 0.0])  # one row beyond f32's resolution
classes = torch.tensor([0, 1, 2, 2, 1, 0, 1, 2])
logit = (torch.randn(ROWS, 1) * 4)
labels = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1])
numbers = torch.randn(ROWS, 1) * 2
truth = torch.randn(ROWS) * 2
CLASS_WEIGHTS = [0.5, 2.0, 1.25]
SAMPLE = torch.tensor([1.0, 0.5, 2.0, 0.0, 3.0, 1.0, 0.25, 1.5])
BINARY_WEIGHTS = [0.7, 1.8]


def focal_rows(x, y, gamma, weight):
    log_p = F.log_softmax(x, 1).gather(1, y[:, None])[:, 0]
    terms = -((1 - log_p.exp()).clamp_min(1e-30) ** gamma) * log_p
    w = weight[y] if weight is not None else torch.ones(len(y))
    return terms * w


def row_losses(call, kind, x, w):
    """Each row's loss with its class weight in it (reduction="none"), and
    each row's class weight."""
    name = call.split("(")[0]
    arg = float(call.split(":")[1].strip(" )")) if ":" in call else None
    if kind == "classes":
        cw = w[classes] if w is not None else torch.ones(ROWS)
        if name == "cross_entropy":
            rows = F.cross_entropy(x, classes, weight=w, label_smoothing=arg or 0.0, reduction="none")
        else:
            rows = focal_rows(x, classes, 2.0 if arg is None else arg, w)
        return rows, cw
    if kind == "binary":
        cw = w[labels] if w is not None else torch.ones(ROWS)
        pw = torch.tensor(arg if arg is not None else 1.0)
        rows = F.binary_cross_entropy_with_logits(x[:, 0], labels.float(), weight=cw, pos_weight=pw, reduction="none")
        return rows, cw
    if name == "huber":
        return F.huber_loss(x[:, 0], truth, delta=arg if arg is not None else 1.0, reduction="none"), torch.ones(ROWS)
    if name == "mse":
        return F.mse_loss(x[:, 0], truth, reduction="none"), torch.ones(ROWS)
    return F.l1_loss(x[:, 0], truth, reduction="none"), torch.ones(ROWS)


def weighted_mean(terms, rows_weights):
    return (terms * rows_weights).sum() / rows_weights.sum()


def focal(x, y, gamma, weight):
    log_p = F.log_softmax(x, 1).gather(1, y[:, None])[:, 0]
    # The floor pipe applies: 1 - p is 0 for a row right beyond f32's
    # resolution, where the power's derivative is infinite for gamma < 1
    # (PyTorch's gradient is NaN there without it).
    terms = -((1 - log_p.exp()).clamp_min(1e-30) ** gamma) * log_p
    w = weight[y] if weight is not None else torch.ones(len(y))
    return weighted_mean(terms, w)


def bce(x, y, pos_weight, weight):
    pw = torch.tensor(pos_weight)
    if weight is None:
        return F.binary_cross_entropy_with_logits(x[:, 0], y.float(), pos_weight=pw)
    w = weight[y]
    return F.binary_cross_entropy_with_logits(x[:, 0], y.float(), weight=w, pos_weight=pw, reduction="sum") / w.sum()


CASES = [
    ("cross_entropy", "classes", None, lambda x, w: F.cross_entropy(x, classes, weight=w)),
    ("cross_entropy", "classes", CLASS_WEIGHTS, lambda x, w: F.cross_entropy(x, classes, weight=w)),
    ("cross_entropy(label_smoothing: 0.1)", "classes", None,
     lambda x, w: F.cross_entropy(x, classes, weight=w, label_smoothing=0.1)),
    ("cross_entropy(label_smoothing: 0.1)", "classes", CLASS_WEIGHTS,
     lambda x, w: F.cross_entropy(x, classes, weight=w, label_smoothing=0.1)),
    ("cross_entropy(label_smoothing: 0.5)", "classes", None,
     lambda x, w: F.cross_entropy(x, classes, weight=w, label_smoothing=0.5)),
    ("focal", "classes", None, lambda x, w: focal(x, classes, 2.0, w)),
    ("focal(gamma: 2)", "classes", CLASS_WEIGHTS, lambda x, w: focal(x, classes, 2.0, w)),
    ("focal(gamma: 0.5)", "classes", None, lambda x, w: focal(x, classes, 0.5, w)),
    ("focal(gamma: 0)", "classes", CLASS_WEIGHTS, lambda x, w: focal(x, classes, 0.0, w)),
    ("focal(gamma: 5)", "classes", None, lambda x, w: focal(x, classes, 5.0, w)),
    ("binary_cross_entropy", "binary", None, lambda x, w: bce(x, labels, 1.0, w)),
    ("binary_cross_entropy(pos_weight: 3)", "binary", None, lambda x, w: bce(x, labels, 3.0, w)),
    ("binary_cross_entropy(pos_weight: 0.25)", "binary", BINARY_WEIGHTS, lambda x, w: bce(x, labels, 0.25, w)),
    ("huber", "numbers", None, lambda x, w: F.huber_loss(x[:, 0], truth, delta=1.0)),
    ("huber(delta: 0.5)", "numbers", None, lambda x, w: F.huber_loss(x[:, 0], truth, delta=0.5)),
    ("huber(delta: 2.5)", "numbers", None, lambda x, w: F.huber_loss(x[:, 0], truth, delta=2.5)),
    ("mse", "numbers", None, lambda x, w: F.mse_loss(x[:, 0], truth)),
    ("mae", "numbers", None, lambda x, w: F.l1_loss(x[:, 0], truth)),
]

INPUTS = {"classes": (scores, classes), "binary": (logit, labels), "numbers": (numbers, truth)}
out = {"torch": torch.__version__, "rows": ROWS, "sample": SAMPLE.tolist(),
       "inputs": {k: {"outputs": x.flatten().tolist(), "width": x.shape[1], "targets": t.tolist()}
                  for k, (x, t) in INPUTS.items()},
       "cases": []}
for call, kind, weights, f in CASES:
    x = INPUTS[kind][0].clone().requires_grad_(True)
    w = torch.tensor(weights) if weights is not None else None
    loss = f(x, w)
    loss.backward()
    case = {"call": call, "kind": kind, "weights": weights, "loss": loss.item(), "grad": x.grad.flatten().tolist()}
    x = INPUTS[kind][0].clone().requires_grad_(True)
    rows, cw = row_losses(call, kind, x, w)
    weighted = (SAMPLE * rows).sum() / (SAMPLE * cw).sum()
    weighted.backward()
    case.update({"sample_loss": weighted.item(), "sample_grad": x.grad.flatten().tolist()})
    out["cases"].append(case)
json.dump(out, open(sys.argv[1], "w"), indent=1)
