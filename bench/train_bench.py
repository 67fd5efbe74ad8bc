#!/usr/bin/env python3
"""train_bench.py [--runs R] [--epochs E] [--pipe target/release/pipe]

The training benchmark: bench/train.pipe (the peers' MLP: 89 features,
256-256 with batchnorm and dropout 0.5, Adam 1e-3, batch 512, 200,000 rows,
80% trained on) under `pipe run` on the flex backend, against
../shared/peers/peer_torch_mlp.py (PyTorch eager, 2 threads) on the same
people data, prepared by peer_pandas.py. Alternates pipe / PyTorch, R
rounds of E epochs each; compares training samples per second (the median
over all epochs after the first of each round), and prints the ratio.

Needs the data bench's files (run bench/data_bench.py once) and torch==2.9.0
in the bench venv (see bench/README.md).
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
    lines = run_pipeline(pipe, "train.pipe", epochs, device)
    return [line["epoch"]["samples_per_second"] for line in lines if "epoch" in line]


def torch_round(py, parquet, epochs):
    out = subprocess.run(
        [py, os.path.join(PEERS, "peer_torch_mlp.py"), parquet, "200000", str(epochs)], capture_output=True, text=True
    )
    if out.returncode != 0:
        sys.exit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])["samples_per_s"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--pipe", default=os.path.join(ROOT, "target", "release", "pipe"))
    ap.add_argument("--device", default=None, help="e.g. torch.cpu (a build with --features tch)")
    a = ap.parse_args()
    parquet = os.path.join(HERE, "out", "pandas.parquet")
    if not os.path.exists(parquet):
        sys.exit("run bench/data_bench.py first: it writes bench/out/pandas.parquet")
    pipe_rates, torch_rates = [], []
    for _ in range(a.runs):
        pipe_rates += pipe_round(a.pipe, a.epochs, a.device)[1:]
        torch_rates += torch_round(sys.executable, parquet, a.epochs)[1:]
    p, t = statistics.median(pipe_rates), statistics.median(torch_rates)
    print(f"{a.runs} alternating rounds of {a.epochs} epochs (first epoch of each left out); load {os.getloadavg()[0]:.2f}")
    print(f"pipe ({a.device or 'flex'})   {p:10,.0f} samples/s  [{min(pipe_rates):,.0f}-{max(pipe_rates):,.0f}]")
    print(f"PyTorch 2 threads   {t:10,.0f} samples/s  [{min(torch_rates):,.0f}-{max(torch_rates):,.0f}]")
    print(f"pipe / PyTorch      {p / t:.3f}")
    print(json.dumps({"pipe": pipe_rates, "torch": torch_rates, "ratio": p / t}))


if __name__ == "__main__":
    main()
