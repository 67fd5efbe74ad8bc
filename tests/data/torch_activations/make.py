#!/usr/bin/env python3
"""make.py OUT.json

The reference for `tests/train.rs`'s activation test: each activation
PyTorch has under the name `pipe` uses, on fixed inputs from -30 to 30
(both tails, and around 0), its output and the gradient of
sum(output * w) with respect to the input (w fixed, so every gradient
counts), and for PReLU the gradient of its slopes. Run with the tests' torch venv (torch 2.9.0); the output is
committed.
"""
import json
import sys

import torch
from torch import nn

torch.manual_seed(0)
x = torch.cat([
    torch.tensor([-30.0, -20.0, -10.0, -5.0, -3.0, -1.0, -0.5, -1e-3, 0.0, 1e-3, 0.5, 1.0, 3.0, 5.0, 10.0, 15.0, 25.0, 30.0]),
    torch.randn(22) * 4,
]).reshape(4, 10)
w = torch.randn(4, 10)

ACTIVATIONS = {
    "silu()": nn.SiLU(),
    "swish()": nn.SiLU(),
    "selu()": nn.SELU(),
    "softplus()": nn.Softplus(),
    "softplus(2.5)": nn.Softplus(beta=2.5),
    "mish()": nn.Mish(),
    "hard_sigmoid()": nn.Hardsigmoid(),
    "gelu()": nn.GELU(),
    "elu(0.7)": nn.ELU(alpha=0.7),
    "leaky_relu(0.2)": nn.LeakyReLU(0.2),
    "relu()": nn.ReLU(),
    "sigmoid()": nn.Sigmoid(),
    "tanh()": nn.Tanh(),
    "prelu()": nn.PReLU(),
    "prelu(0.1, shared: false)": nn.PReLU(num_parameters=10, init=0.1),
}

out = {"torch": torch.__version__, "shape": list(x.shape), "x": x.flatten().tolist(), "w": w.flatten().tolist()}
cases = {}
for name, f in ACTIVATIONS.items():
    xi = x.clone().requires_grad_(True)
    y = f(xi)
    (y * w).sum().backward()
    cases[name] = {"y": y.detach().flatten().tolist(), "grad": xi.grad.flatten().tolist()}
    if isinstance(f, nn.PReLU):
        # The learned slopes' gradient too.
        cases[name]["alpha_grad"] = f.weight.grad.flatten().tolist()
out["activations"] = cases
json.dump(out, open(sys.argv[1], "w"), indent=1)
