#!/usr/bin/env python3
"""make.py OUT.json

One training step of a text CNN as pipe builds it, in PyTorch: 3 texts of
6 token ids (0 padding) -> nn.Embedding(7, 4) -> Conv1d(4, 5, 3,
padding="same") -> ReLU -> MaxPool1d(2) -> Conv1d(5, 3, 2) -> max over the
length (global max pooling) -> Linear(3, 2) -> cross-entropy, from fixed
weights, for SGD with momentum 0.9 (lr 0.1) and Adam (lr 0.01): logits,
loss, and every weight after the step. PyTorch's Conv1d reads [batch,
channels, length]: the embedding's [batch, length, dim] is transposed, as
pipe does inside its layers. Run with the tests' torch venv (torch 2.9.0);
the output is committed.
"""
import json
import sys

import numpy as np
import torch
from torch import nn

rng = np.random.default_rng(5)
TABLE = rng.normal(0, 1, (7, 4)).astype(np.float32)
C1W = rng.normal(0, 0.4, (5, 4, 3)).astype(np.float32)
C1B = rng.normal(0, 0.1, 5).astype(np.float32)
C2W = rng.normal(0, 0.4, (3, 5, 2)).astype(np.float32)
C2B = rng.normal(0, 0.1, 3).astype(np.float32)
W = rng.normal(0, 0.5, (2, 3)).astype(np.float32)
B = rng.normal(0, 0.1, 2).astype(np.float32)
IDS = np.array([[2, 5, 3, 1, 0, 0], [4, 4, 6, 2, 3, 5], [1, 0, 0, 0, 0, 0]])
Y = np.array([1, 0, 1])


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb, self.c1, self.c2 = nn.Embedding(7, 4), nn.Conv1d(4, 5, 3, padding="same"), nn.Conv1d(5, 3, 2)
        self.out = nn.Linear(3, 2)
        with torch.no_grad():
            for p, v in [(self.emb.weight, TABLE), (self.c1.weight, C1W), (self.c1.bias, C1B),
                         (self.c2.weight, C2W), (self.c2.bias, C2B), (self.out.weight, W), (self.out.bias, B)]:
                p.copy_(torch.from_numpy(v))

    def forward(self, ids):
        x = self.emb(ids).transpose(1, 2)
        x = nn.functional.max_pool1d(torch.relu(self.c1(x)), 2)
        return self.out(self.c2(x).amax(2))


def step(make_optimizer):
    m = Net()
    opt = make_optimizer(m.parameters())
    logits = m(torch.from_numpy(IDS))
    loss = nn.CrossEntropyLoss()(logits, torch.from_numpy(Y))
    opt.zero_grad()
    loss.backward()
    opt.step()
    flat = lambda t: t.detach().numpy().flatten().tolist()  # noqa: E731
    return {"logits": flat(logits), "loss": float(loss.detach()), "table": flat(m.emb.weight),
            "c1w": flat(m.c1.weight), "c1b": flat(m.c1.bias), "c2w": flat(m.c2.weight), "c2b": flat(m.c2.bias),
            "w": m.out.weight.detach().numpy().T.flatten().tolist(), "b": flat(m.out.bias)}


out = {"torch": torch.__version__, "table": TABLE.flatten().tolist(), "c1w": C1W.flatten().tolist(),
       "c1b": C1B.tolist(), "c2w": C2W.flatten().tolist(), "c2b": C2B.tolist(), "w": W.T.flatten().tolist(),
       "b": B.tolist(), "ids": IDS.flatten().tolist(), "y": Y.tolist(),
       "sgd": step(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
       "adam": step(lambda p: torch.optim.Adam(p, lr=0.01))}
json.dump(out, open(sys.argv[1], "w"), indent=1)
