#!/usr/bin/env python3
"""make.py OUT.json

The reference for `tests/conv.rs`'s batch norm test: PyTorch's batch
normalization in training (`F.batch_norm(training=True)`), forward and
backward, on images [N, C, H, W] and rows [N, C]: x, gamma, beta, r
(fixed), the output, the gradients of sum(output * r) with respect to x,
gamma and beta, and the batch's mean and biased variance (what Burn's
running averages take). Run with the tests' torch venv (torch 2.9.0); the
output is committed.
"""
import json
import sys

import torch
import torch.nn.functional as F

torch.manual_seed(0)

CASES = [("images", (5, 3, 6, 7)), ("rows", (9, 4)), ("offset_images", (4, 2, 5, 5))]


def flat(t):
    return [round(float(v), 9) for v in t.detach().reshape(-1)]


out = {}
for name, shape in CASES:
    x = torch.randn(*shape) * 2.0 + (50.0 if name == "offset_images" else 0.5)
    x.requires_grad_(True)
    gamma = (torch.rand(shape[1]) + 0.5).requires_grad_(True)
    beta = torch.randn(shape[1]).requires_grad_(True)
    y = F.batch_norm(x, None, None, gamma, beta, training=True, eps=1e-5)
    r = torch.randn(*y.shape)
    (y * r).sum().backward()
    dims = [0] + list(range(2, len(shape)))
    out[name] = {
        "shape": list(shape), "x": flat(x), "gamma": flat(gamma), "beta": flat(beta), "r": flat(r),
        "y": flat(y), "dx": flat(x.grad), "dgamma": flat(gamma.grad), "dbeta": flat(beta.grad),
        "mean": flat(x.mean(dim=dims)), "variance": flat(x.var(dim=dims, unbiased=False)),
    }

with open(sys.argv[1], "w") as f:
    json.dump(out, f)
