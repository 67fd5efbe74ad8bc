#!/usr/bin/env python3
"""remote_bench.py [--runs R] [--epochs E] [--pipe target/release/pipe]

Remote devices against local ones: bench/remote.pipe (an MLP, 2,000 rows,
batch 500) trained on `cpu`, on `[cpu, cpu]` (data parallel in this
process) and on two `pipe device-server`s started here on 127.0.0.1
(`[remote(...), remote(...)]`), alternating, R rounds of E epochs.
Prints the median samples/s over the epochs after the first of each
round, and checks that the remote run's losses equal `[cpu, cpu]`'s.
"""
import argparse
import os
import statistics
import subprocess
import threading

from pipe_json import run_pipeline

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def server(pipe):
    proc = subprocess.Popen([pipe, "device-server", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    address = next(w for w in line.split() if w.startswith("ws://"))
    # Burn's server logs every request on stdout: read it, or the server
    # stops when the pipe is full.
    threading.Thread(target=lambda: proc.stdout.read(), daemon=True).start()
    return proc, address


def epochs(lines):
    return [(line["epoch"]["loss"], line["epoch"]["samples_per_second"]) for line in lines if "epoch" in line]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--pipe", default=os.path.join(ROOT, "target", "release", "pipe"))
    a = ap.parse_args()
    (s1, a1), (s2, a2) = server(a.pipe), server(a.pipe)
    setups = {
        "cpu": "cpu",
        "[cpu, cpu]": "[cpu, cpu]",
        "2 device-servers": f'[remote("{a1}"), remote("{a2}")]',
    }
    rates = {name: [] for name in setups}
    losses = {}
    try:
        for _ in range(a.runs):
            for name, device in setups.items():
                got = epochs(run_pipeline(a.pipe, "remote.pipe", a.epochs, device))
                rates[name] += [rate for _, rate in got[1:]]
                losses[name] = [loss for loss, _ in got]
    finally:
        for s in (s1, s2):
            s.terminate()
    print(f"{a.runs} alternating rounds of {a.epochs} epochs (first epoch of each left out); load {os.getloadavg()[0]:.2f}")
    for name, r in rates.items():
        print(f"{name:18} {statistics.median(r):10,.0f} samples/s  [{min(r):,.0f}-{max(r):,.0f}]")
    same = all(abs(x - y) <= 1e-5 * abs(y) for x, y in zip(losses["2 device-servers"], losses["[cpu, cpu]"]))
    print(f"remote losses equal [cpu, cpu]'s to 1e-5: {same}")


if __name__ == "__main__":
    main()
