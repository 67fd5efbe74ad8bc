#!/usr/bin/env python3
"""recurrent.py OUT.json

One training step of pipe's `lstm` and `gru` layers in PyTorch: 3 texts
of 5 token ids (0 padding) -> nn.Embedding(7, 4) -> nn.LSTM(4, 3,
batch_first=True) -> the last step's output -> Linear(3, 2); and the same
with nn.GRU(4, 3) keeping every step's output (return_sequences) -> max
over the steps -> Linear(3, 2). Cross-entropy, from fixed weights, for SGD
with momentum 0.9 (lr 0.1) and Adam (lr 0.01): logits, loss, and every
weight after the step (PyTorch's layout: weight_ih_l0 [gates * 3, 4],
weight_hh_l0 [gates * 3, 3], bias_ih_l0, bias_hh_l0). Run with the
tests' torch venv (torch 2.9.0); the output is committed.
"""
import json
import sys

import numpy as np
import torch
from torch import nn

rng = np.random.default_rng(11)
TABLE = rng.normal(0, 1, (7, 4)).astype(np.float32)
IDS = np.array([[2, 5, 3, 1, 0], [4, 4, 6, 2, 3], [1, 6, 0, 0, 0]])
Y = np.array([1, 0, 1])
W = rng.normal(0, 0.5, (2, 3)).astype(np.float32)
B = rng.normal(0, 0.1, 2).astype(np.float32)


def recurrent_weights(gates):
    return [rng.normal(0, 0.4, shape).astype(np.float32) for shape in [(gates * 3, 4), (gates * 3, 3), (gates * 3,), (gates * 3,)]]


LSTM = recurrent_weights(4)
GRU = recurrent_weights(3)


class Net(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.emb = nn.Embedding(7, 4)
        self.rnn = nn.LSTM(4, 3, batch_first=True) if kind == "lstm" else nn.GRU(4, 3, batch_first=True)
        self.out = nn.Linear(3, 2)
        weights = LSTM if kind == "lstm" else GRU
        with torch.no_grad():
            self.emb.weight.copy_(torch.from_numpy(TABLE))
            for p, v in zip([self.rnn.weight_ih_l0, self.rnn.weight_hh_l0, self.rnn.bias_ih_l0, self.rnn.bias_hh_l0], weights):
                p.copy_(torch.from_numpy(v))
            self.out.weight.copy_(torch.from_numpy(W))
            self.out.bias.copy_(torch.from_numpy(B))

    def forward(self, ids):
        steps, _ = self.rnn(self.emb(ids))
        pooled = steps[:, -1, :] if self.kind == "lstm" else steps.amax(1)
        return self.out(pooled)


def step(kind, make_optimizer):
    m = Net(kind)
    opt = make_optimizer(m.parameters())
    logits = m(torch.from_numpy(IDS))
    loss = nn.CrossEntropyLoss()(logits, torch.from_numpy(Y))
    opt.zero_grad()
    loss.backward()
    opt.step()
    flat = lambda t: t.detach().numpy().flatten().tolist()  # noqa: E731
    r = m.rnn
    return {"logits": flat(logits), "loss": float(loss.detach()), "table": flat(m.emb.weight),
            "rnn": [flat(r.weight_ih_l0), flat(r.weight_hh_l0), flat(r.bias_ih_l0), flat(r.bias_hh_l0)],
            "w": m.out.weight.detach().numpy().T.flatten().tolist(), "b": flat(m.out.bias)}


out = {"torch": torch.__version__, "table": TABLE.flatten().tolist(), "ids": IDS.flatten().tolist(), "y": Y.tolist(),
       "w": W.T.flatten().tolist(), "b": B.tolist()}
for kind, weights in [("lstm", LSTM), ("gru", GRU)]:
    out[kind] = {"rnn": [w.flatten().tolist() for w in weights],
                 "sgd": step(kind, lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
                 "adam": step(kind, lambda p: torch.optim.Adam(p, lr=0.01))}
json.dump(out, open(sys.argv[1], "w"), indent=1)
