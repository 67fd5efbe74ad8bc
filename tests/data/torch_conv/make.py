#!/usr/bin/env python3
"""make.py OUT.json

The reference for `tests/conv.rs`: PyTorch's 2-D convolution, forward and
backward, on the shapes `pipe`'s own flex convolution (src/train/conv.rs)
must handle: one and several channels, kernels 1, 2 (even: padding
`same` is uneven, F.pad adds the extra row and column at the end, as Burn
and TensorFlow do), 3 and 5, strides 1 and 2, padding valid, same and
explicit. For each: x, weight, bias, r (fixed), the output, and the
gradients of sum(output * r) with respect to x, the weight and the bias.
Run with the tests' torch venv (torch 2.9.0); the output is committed.
"""
import json
import sys

import torch
import torch.nn.functional as F

torch.manual_seed(0)

# name, (batch, channels, height, width), filters, kernel, stride,
# (top, bottom, left, right)
CASES = [
    ("one_channel_same", (3, 1, 8, 8), 4, 3, 1, (1, 1, 1, 1)),
    ("channels_valid", (2, 3, 7, 9), 5, 3, 1, (0, 0, 0, 0)),
    ("stride_two_same", (2, 2, 9, 8), 3, 3, 2, (1, 1, 0, 1)),
    ("even_kernel_same", (2, 2, 6, 6), 3, 2, 1, (0, 1, 0, 1)),
    ("five_kernel_padded", (2, 3, 6, 7), 2, 5, 1, (2, 2, 2, 2)),
    ("pointwise", (2, 4, 5, 5), 3, 1, 1, (0, 0, 0, 0)),
    ("stride_two_valid", (2, 2, 9, 9), 4, 3, 2, (0, 0, 0, 0)),
    ("batch_of_eleven", (11, 2, 5, 6), 3, 3, 1, (1, 1, 1, 1)),
]


def flat(t):
    return [round(float(v), 9) for v in t.detach().reshape(-1)]


out = {}
for name, shape, filters, kernel, stride, (top, bottom, left, right) in CASES:
    x = torch.randn(*shape, requires_grad=True)
    w = torch.randn(filters, shape[1], kernel, kernel, requires_grad=True)
    b = torch.randn(filters, requires_grad=True)
    y = F.conv2d(F.pad(x, (left, right, top, bottom)), w, b, stride=stride)
    r = torch.randn(*y.shape)
    (y * r).sum().backward()
    out[name] = {
        "shape": list(shape), "filters": filters, "kernel": kernel, "stride": stride,
        "padding": [top, bottom, left, right], "out_shape": list(y.shape),
        "x": flat(x), "w": flat(w), "b": flat(b), "r": flat(r),
        "y": flat(y), "dx": flat(x.grad), "dw": flat(w.grad), "db": flat(b.grad),
    }

with open(sys.argv[1], "w") as f:
    json.dump(out, f)
