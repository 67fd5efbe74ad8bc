#!/usr/bin/env python3
"""conv_bench.py --bench PATH [--rounds R]

The digits CNN's convolutions, flex against PyTorch (issue 20, item 1):
alternates one round of `bench/conv.rs` (PATH: the binary `cargo bench
--bench conv --no-run` prints) with one round of the same operations in
PyTorch eager on 2 threads, R rounds, and prints the medians side by side
in milliseconds. `matmul` is 16,384 x 288 by 288 x 64 (the second layer's
im2col product); `convN_fwd` a forward pass, `convN_step` the forward and
the backward training takes (the weight's gradient, and the input's for
the second layer); `conv2_ops_step` is flex with the convolution written
as tensor operations (no PyTorch counterpart); `conv2_wgrad` and
`conv2_xgrad` the second layer's weight and input gradients alone, and
`conv2_wgrad_product` flex's weight gradient as one matrix product over
the batch (no PyTorch counterpart).
"""
import argparse
import json
import statistics
import subprocess
import time

import torch

BATCH, SIDE, CALLS = 64, 16, 9


def millis(f):
    f()
    f()
    times = []
    for _ in range(CALLS):
        start = time.perf_counter()
        f()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def torch_round():
    left, right = torch.randn(BATCH * SIDE * SIDE, 288), torch.randn(288, 64)
    line = {"matmul": millis(lambda: left @ right)}
    for name, channels, out, input_grad in [("conv1", 1, 32, False), ("conv2", 32, 64, True)]:
        x = torch.randn(BATCH, channels, SIDE, SIDE, requires_grad=input_grad)
        weight = torch.randn(out, channels, 3, 3, requires_grad=True)
        upstream = torch.randn(BATCH, out, SIDE, SIDE)
        with torch.no_grad():
            line[f"{name}_fwd"] = millis(lambda: torch.nn.functional.conv2d(x, weight, padding=1))

        def step():
            weight.grad, x.grad = None, None
            (torch.nn.functional.conv2d(x, weight, padding=1) * upstream).sum().backward()

        line[f"{name}_step"] = millis(step)
    x, weight = torch.randn(BATCH, 32, SIDE, SIDE), torch.randn(64, 32, 3, 3)
    upstream = torch.randn(BATCH, 64, SIDE, SIDE)
    line["conv2_wgrad"] = millis(lambda: torch.nn.grad.conv2d_weight(x, weight.shape, upstream, padding=1))
    line["conv2_xgrad"] = millis(lambda: torch.nn.grad.conv2d_input(x.shape, weight, upstream, padding=1))
    norm = torch.nn.BatchNorm2d(64)
    x = torch.randn(BATCH, 64, SIDE, SIDE, requires_grad=True)
    upstream = torch.randn(BATCH, 64, SIDE, SIDE)
    line["bn2_fwd"] = millis(lambda: norm(x))

    def bn_step():
        x.grad = None
        (norm(x) * upstream).sum().backward()

    line["bn2_step"] = millis(bn_step)
    return line


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(2)
    torch.set_num_interop_threads(1)
    flex, peer = [], []
    for _ in range(a.rounds):
        out = subprocess.run([a.bench, "1"], capture_output=True, text=True, check=True)
        flex.append(json.loads(out.stdout.strip().splitlines()[-1]))
        peer.append(torch_round())
    print(f"{a.rounds} alternating rounds, medians in ms")
    print(f"{'':16}{'flex':>10}{'PyTorch':>10}{'ratio':>8}")
    for key in flex[0]:
        f = statistics.median(r[key] for r in flex)
        same = key.replace("_pipe", "")  # pipe's convolution against the same PyTorch figure
        if same in peer[0]:
            t = statistics.median(r[same] for r in peer)
            print(f"{key:16}{f:10.2f}{t:10.2f}{f / t:8.2f}")
        else:
            print(f"{key:16}{f:10.2f}")


if __name__ == "__main__":
    main()
