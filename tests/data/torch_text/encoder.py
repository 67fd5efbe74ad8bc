#!/usr/bin/env python3
"""encoder.py OUT.json

One training step of std.models' `transformer_encoder(dim: 4, heads: 2,
ff: 6, dropout: 0)` in PyTorch: 3 texts of 5 token ids -> nn.Embedding(7,
4) -> nn.TransformerEncoderLayer(4, 2, 6, dropout=0, activation="relu",
batch_first=True) (post-norm) -> the mean over the steps -> Linear(4, 2),
cross-entropy, from fixed weights, for SGD with momentum 0.9 (lr 0.1) and
Adam (lr 0.01): logits, loss, and every weight after the step, in Burn's
layout (linear weights `[in, out]`; the packed query/key/value projection
split in three). Run with the tests' torch venv (torch 2.9.0); the output
is committed.
"""
import json
import sys

import numpy as np
import torch
from torch import nn

rng = np.random.default_rng(17)
IDS = np.array([[2, 5, 3, 1, 0], [4, 4, 6, 2, 3], [1, 6, 0, 0, 0]])
Y = np.array([1, 0, 1])
SHAPES = {"emb.weight": (7, 4), "enc.self_attn.in_proj_weight": (12, 4), "enc.self_attn.in_proj_bias": (12,),
          "enc.self_attn.out_proj.weight": (4, 4), "enc.self_attn.out_proj.bias": (4,),
          "enc.linear1.weight": (6, 4), "enc.linear1.bias": (6,), "enc.linear2.weight": (4, 6), "enc.linear2.bias": (4,),
          "enc.norm1.weight": (4,), "enc.norm1.bias": (4,), "enc.norm2.weight": (4,), "enc.norm2.bias": (4,),
          "out.weight": (2, 4), "out.bias": (2,)}
START = {k: (rng.normal(0, 0.5, s) + (1.0 if k.endswith("norm1.weight") or k.endswith("norm2.weight") else 0.0)).astype(np.float32)
         for k, s in SHAPES.items()}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(7, 4)
        self.enc = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, activation="relu", batch_first=True)
        self.out = nn.Linear(4, 2)
        with torch.no_grad():
            for name, p in self.named_parameters():
                p.copy_(torch.from_numpy(START[name]))

    def forward(self, ids):
        return self.out(self.enc(self.emb(ids)).mean(1))


def burn(params):
    """pipe's parameters in Burn's layout, by layer."""
    t = lambda name: params[name].T.flatten().tolist()  # noqa: E731
    v = lambda name: params[name].flatten().tolist()  # noqa: E731
    qkv_w, qkv_b = params["enc.self_attn.in_proj_weight"], params["enc.self_attn.in_proj_bias"]
    attention = []
    for i in range(3):
        attention += [qkv_w[4 * i:4 * i + 4].T.flatten().tolist(), qkv_b[4 * i:4 * i + 4].tolist()]
    attention += [t("enc.self_attn.out_proj.weight"), v("enc.self_attn.out_proj.bias")]
    return {"table": v("emb.weight"), "attention": attention,
            "norm1": [v("enc.norm1.weight"), v("enc.norm1.bias")],
            "ff1": [t("enc.linear1.weight"), v("enc.linear1.bias")],
            "ff2": [t("enc.linear2.weight"), v("enc.linear2.bias")],
            "norm2": [v("enc.norm2.weight"), v("enc.norm2.bias")],
            "out": [t("out.weight"), v("out.bias")]}


def step(make_optimizer):
    m = Net()
    m.train()
    opt = make_optimizer(m.parameters())
    logits = m(torch.from_numpy(IDS))
    loss = nn.CrossEntropyLoss()(logits, torch.from_numpy(Y))
    opt.zero_grad()
    loss.backward()
    opt.step()
    after = {k: p.detach().numpy() for k, p in m.named_parameters()}
    return {"logits": logits.detach().numpy().flatten().tolist(), "loss": float(loss.detach()), "after": burn(after)}


out = {"torch": torch.__version__, "ids": IDS.flatten().tolist(), "y": Y.tolist(), "start": burn(START),
       "sgd": step(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
       "adam": step(lambda p: torch.optim.Adam(p, lr=0.01))}
json.dump(out, open(sys.argv[1], "w"), indent=1)
