#!/usr/bin/env python3
"""make.py OUT.json

One training step of pipe's `embedding(3)` layer in PyTorch, the reference
`tests/train.rs` compares with: a batch of 6 rows of 4 features, where
features 1 and 3 are `encode`d ids (5 and 4 ids; 0 and repeated ids
included, so gradients add up in a row of a table), the numeric features
0 and 2 kept first, then each column's nn.Embedding(ids, 3) vector, in
input order -> Linear(8, 3) -> cross-entropy. From fixed weights, for SGD
with momentum 0.9 (lr 0.1) and Adam (lr 0.01): the logits, the loss and
every weight after the step. Run with the bench venv (torch 2.9.0); the
output is committed.
"""
import json
import sys

import numpy as np
import torch
from torch import nn

rng = np.random.default_rng(3)
TABLE_A = rng.normal(0, 1, (5, 3)).astype(np.float32)
TABLE_B = rng.normal(0, 1, (4, 3)).astype(np.float32)
W = rng.normal(0, 0.5, (3, 8)).astype(np.float32)  # torch layout: [out, in]
B = rng.normal(0, 0.1, 3).astype(np.float32)
NUMERIC = rng.normal(0, 1, (6, 2)).astype(np.float32)
IDS_A = np.array([1, 4, 0, 1, 2, 1])
IDS_B = np.array([3, 3, 0, 2, 1, 0])
Y = np.array([0, 1, 2, 1, 0, 2], dtype=np.int64)
# pipe's input row: numeric, id a, numeric, id b (ids as f32 features).
X = np.stack([NUMERIC[:, 0], IDS_A, NUMERIC[:, 1], IDS_B], 1).astype(np.float32)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.out = nn.Embedding(5, 3), nn.Embedding(4, 3), nn.Linear(8, 3)
        with torch.no_grad():
            self.a.weight.copy_(torch.from_numpy(TABLE_A))
            self.b.weight.copy_(torch.from_numpy(TABLE_B))
            self.out.weight.copy_(torch.from_numpy(W))
            self.out.bias.copy_(torch.from_numpy(B))

    def forward(self, numeric, ids_a, ids_b):
        return self.out(torch.cat([numeric, self.a(ids_a), self.b(ids_b)], 1))


def step(make_optimizer):
    m = Net()
    opt = make_optimizer(m.parameters())
    logits = m(torch.from_numpy(NUMERIC), torch.from_numpy(IDS_A), torch.from_numpy(IDS_B))
    loss = nn.CrossEntropyLoss()(logits, torch.from_numpy(Y))
    opt.zero_grad()
    loss.backward()
    opt.step()
    return {
        "logits": logits.detach().numpy().flatten().tolist(),
        "loss": float(loss.detach()),
        "table_a": m.a.weight.detach().numpy().flatten().tolist(),
        "table_b": m.b.weight.detach().numpy().flatten().tolist(),
        "w": m.out.weight.detach().numpy().T.flatten().tolist(),  # Burn layout: [in, out]
        "b": m.out.bias.detach().numpy().tolist(),
    }


out = {
    "torch": torch.__version__,
    "table_a": TABLE_A.flatten().tolist(),
    "table_b": TABLE_B.flatten().tolist(),
    "w": W.T.flatten().tolist(),
    "b": B.tolist(),
    "x": X.flatten().tolist(),
    "y": Y.tolist(),
    "sgd": step(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
    "adam": step(lambda p: torch.optim.Adam(p, lr=0.01)),
}
json.dump(out, open(sys.argv[1], "w"), indent=1)
