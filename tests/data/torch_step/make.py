#!/usr/bin/env python3
"""make.py OUT.json

One training step of a small MLP in PyTorch (the reference `tests/train.rs`
compares pipe's step on Burn with): Linear(4, 8) - ReLU - BatchNorm1d(8) -
Linear(8, 3) (batch norm after the activation: a bias right before batch
norm has no gradient, and Adam would amplify rounding noise there), cross-entropy, from fixed weights and one batch, for SGD with
momentum 0.9 (lr 0.1) and Adam (lr 0.01). Writes the weights before, the
batch, and for each optimizer the logits, the loss and the weights after.
Run with the bench venv (torch 2.9.0); the output is committed.
"""
import json
import sys

import numpy as np
import torch
from torch import nn

rng = np.random.default_rng(0)
W1 = rng.normal(0, 0.5, (8, 4)).astype(np.float32)   # torch layout: [out, in]
B1 = rng.normal(0, 0.1, 8).astype(np.float32)
W2 = rng.normal(0, 0.5, (3, 8)).astype(np.float32)
B2 = rng.normal(0, 0.1, 3).astype(np.float32)
X = rng.normal(0, 1, (6, 4)).astype(np.float32)
Y = np.array([0, 1, 2, 1, 0, 2], dtype=np.int64)


def model():
    m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.BatchNorm1d(8), nn.Linear(8, 3))
    with torch.no_grad():
        m[0].weight.copy_(torch.from_numpy(W1))
        m[0].bias.copy_(torch.from_numpy(B1))
        m[3].weight.copy_(torch.from_numpy(W2))
        m[3].bias.copy_(torch.from_numpy(B2))
    m.train()
    return m


def step(make_optimizer):
    m = model()
    opt = make_optimizer(m.parameters())
    logits = m(torch.from_numpy(X))
    loss = nn.CrossEntropyLoss()(logits, torch.from_numpy(Y))
    opt.zero_grad()
    loss.backward()
    opt.step()
    after = {
        "w1": m[0].weight.detach().numpy().T.flatten().tolist(),  # Burn layout: [in, out]
        "b1": m[0].bias.detach().numpy().tolist(),
        "gamma": m[2].weight.detach().numpy().tolist(),
        "beta": m[2].bias.detach().numpy().tolist(),
        "w2": m[3].weight.detach().numpy().T.flatten().tolist(),
        "b2": m[3].bias.detach().numpy().tolist(),
    }
    return {"logits": logits.detach().numpy().flatten().tolist(), "loss": float(loss.detach()), "after": after}


out = {
    "torch": torch.__version__,
    "w1": W1.T.flatten().tolist(),
    "b1": B1.tolist(),
    "w2": W2.T.flatten().tolist(),
    "b2": B2.tolist(),
    "x": X.flatten().tolist(),
    "y": Y.tolist(),
    "sgd": step(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
    "adam": step(lambda p: torch.optim.Adam(p, lr=0.01)),
}
json.dump(out, open(sys.argv[1], "w"), indent=1)
