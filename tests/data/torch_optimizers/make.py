#!/usr/bin/env python3
"""make.py OUT.json

The reference for `tests/train.rs`'s optimizer test: three training steps
of Linear(4, 8) - ReLU - Linear(8, 3) with cross-entropy on one batch,
from fixed weights, for each optimizer as `pipe` writes it in
`optimizer:`. Adagrad is PyTorch's `torch.optim.Adagrad`; PyTorch has no
Lion, so Lion is the paper's algorithm (Chen et al. 2023, as in
lucidrains/lion-pytorch) written in PyTorch operations. Writes the
weights before, the batch, and each optimizer's weights after the steps;
and SGD with per-layer L2 penalties (Keras' kernel regularizers).
Run with the tests' torch venv (torch 2.9.0); the output is committed.
"""
import json
import sys

import torch
from torch import nn

torch.manual_seed(0)
W1, B1 = torch.randn(8, 4) * 0.5, torch.randn(8) * 0.1  # torch layout: [out, in]
W2, B2 = torch.randn(3, 8) * 0.5, torch.randn(3) * 0.1
X = torch.randn(6, 4)
Y = torch.tensor([0, 1, 2, 1, 0, 2])
STEPS = 3


class Lion(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
            for p in group["params"]:
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p)
                exp_avg = state["exp_avg"]
                p.mul_(1 - lr * wd)
                update = (exp_avg * beta1 + p.grad * (1 - beta1)).sign()
                p.add_(update, alpha=-lr)
                exp_avg.mul_(beta2).add_(p.grad, alpha=1 - beta2)


OPTIMIZERS = {
    "adagrad(lr: 0.1)": lambda p: torch.optim.Adagrad(p, lr=0.1),
    "adagrad(0.05, weight_decay: 0.01, eps: 1e-6)": lambda p: torch.optim.Adagrad(p, lr=0.05, weight_decay=0.01, eps=1e-6),
    "adagrad": lambda p: torch.optim.Adagrad(p),
    "lion(lr: 0.01)": lambda p: Lion(p, lr=0.01),
    "lion(0.003, beta1: 0.8, beta2: 0.95, weight_decay: 0.5)": lambda p: Lion(p, lr=0.003, betas=(0.8, 0.95), weight_decay=0.5),
}


def run(make, l2=(0.0, 0.0)):
    m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    with torch.no_grad():
        m[0].weight.copy_(W1), m[0].bias.copy_(B1), m[2].weight.copy_(W2), m[2].bias.copy_(B2)
    opt = make(m.parameters())
    for _ in range(STEPS):
        opt.zero_grad()
        # Keras' kernel L2: weight * sum(w^2) over each layer's weights (not biases).
        penalty = l2[0] * (m[0].weight ** 2).sum() + l2[1] * (m[2].weight ** 2).sum()
        (nn.CrossEntropyLoss()(m(X), Y) + penalty).backward()
        opt.step()
    return {"w1": m[0].weight.detach().T.flatten().tolist(), "b1": m[0].bias.detach().tolist(),
            "w2": m[2].weight.detach().T.flatten().tolist(), "b2": m[2].bias.detach().tolist()}


out = {"torch": torch.__version__, "steps": STEPS,
       "w1": W1.T.flatten().tolist(), "b1": B1.tolist(), "w2": W2.T.flatten().tolist(), "b2": B2.tolist(),
       "x": X.flatten().tolist(), "y": Y.tolist(),
       "after": {call: run(make) for call, make in OPTIMIZERS.items()},
       # `dense(8, l2: 0.01)`, `dense(3, l2: 0.1)` with `regularize: l2(0.001)`
       # (the run's and each layer's add up) and `sgd(lr: 0.1)`.
       "regularized": run(lambda p: torch.optim.SGD(p, lr=0.1), l2=(0.011, 0.101))}
json.dump(out, open(sys.argv[1], "w"), indent=1)
