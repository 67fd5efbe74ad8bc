#!/usr/bin/env python3
"""cnn_bench.py [--runs R] [--epochs E] [--pipe target/release/pipe] [--device torch.cpu]

The digits CNN: bench/cnn.pipe under `pipe run` (flex) against
../shared/peers/peer_torch_cnn.py (PyTorch eager, 2 threads): the same
network, optimizer, batch, split and on-the-fly augmentation (flip,
rotation, shift). Alternates pipe / PyTorch, R rounds of E epochs;
compares seconds per epoch (the median over all epochs after the first of
each round) and prints each side's test accuracy. `--device torch.cpu`
runs `pipe` on libtorch's CPU device (a build with `--features tch`).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

from pipe_json import run_pipeline

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS = os.path.join(ROOT, "..", "shared", "peers")


def pipe_round(pipe, epochs, device=None):
    lines = run_pipeline(pipe, "cnn.pipe", epochs, device)
    seconds = [line["epoch"]["seconds"] for line in lines if "epoch" in line]
    accuracy = next((line["metrics"]["accuracy"] for line in lines if "metrics" in line), None)
    return seconds, accuracy


def torch_round(py, epochs):
    out = subprocess.run([py, os.path.join(PEERS, "peer_torch_cnn.py"), str(epochs)], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(out.stderr)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["epoch_s"], result.get("test_acc")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--pipe", default=os.path.join(ROOT, "target", "release", "pipe"))
    ap.add_argument("--device", default=None, help="e.g. torch.cpu (a build with --features tch)")
    a = ap.parse_args()
    pipe_s, torch_s, accuracies = [], [], {"pipe": [], "torch": []}
    for _ in range(a.runs):
        seconds, acc = pipe_round(a.pipe, a.epochs, a.device)
        pipe_s += seconds[1:]
        accuracies["pipe"].append(acc)
        seconds, acc = torch_round(sys.executable, a.epochs)
        torch_s += seconds[1:]
        accuracies["torch"].append(acc)
    p, t = statistics.median(pipe_s), statistics.median(torch_s)
    print(f"{a.runs} alternating rounds of {a.epochs} epochs (first epoch of each left out); load {os.getloadavg()[0]:.2f}")
    print(f"pipe ({a.device or 'flex'}){' ' * (13 - len(a.device or 'flex'))}{p:6.3f} s/epoch  [{min(pipe_s):.3f}-{max(pipe_s):.3f}]  test accuracy {accuracies['pipe']}")
    print(f"PyTorch 2 threads   {t:6.3f} s/epoch  [{min(torch_s):.3f}-{max(torch_s):.3f}]  test accuracy {accuracies['torch']}")
    print(f"pipe / PyTorch time {p / t:.2f}")


if __name__ == "__main__":
    main()
