#!/usr/bin/env python3
"""prefetch_bench.py [--runs R] [--epochs E] [--ahead N] [--pipe target/release/pipe] [PIPELINE ...]

Training with batches built on the training thread (`prefetch: 0`) against
batches built ahead on another thread (`prefetch: N`), alternating, R
rounds of E epochs of each bench pipeline (default: cnn.pipe, whose
batches are augmented, and train.pipe, the MLP). Prints the median seconds
per epoch (every epoch after each round's first) and samples per second,
and checks that both train the same model: every epoch's loss and metric
equal.
"""
import argparse
import os
import re
import statistics
import sys

from pipe_json import run_pipeline

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def with_prefetch(name, ahead):
    """A copy of bench/NAME whose train block says `prefetch: AHEAD`."""
    text = open(os.path.join(HERE, name)).read()
    text, n = re.subn(r"(    seed: \d+\n)", rf"\1    prefetch: {ahead}\n", text, count=1)
    if n != 1:
        sys.exit(f"{name}: no `seed:` line to put `prefetch:` after")
    copy = name.replace(".pipe", f"_prefetch{ahead}.pipe")
    with open(os.path.join(HERE, copy), "w") as f:
        f.write(text)
    return copy


def epochs_of(pipe, name, epochs):
    lines = run_pipeline(pipe, name, epochs)
    return [line["epoch"] for line in lines if "epoch" in line]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--ahead", type=int, default=2)
    ap.add_argument("--pipe", default=os.path.join(ROOT, "target", "release", "pipe"))
    ap.add_argument("pipelines", nargs="*", default=["cnn.pipe", "train.pipe"])
    a = ap.parse_args()
    for name in a.pipelines:
        copies = {ahead: with_prefetch(name, ahead) for ahead in (0, a.ahead)}
        seconds = {ahead: [] for ahead in copies}
        rates = {ahead: [] for ahead in copies}
        histories = {ahead: [] for ahead in copies}
        try:
            for _ in range(a.runs):
                for ahead, copy in copies.items():
                    epochs = epochs_of(a.pipe, copy, a.epochs)
                    seconds[ahead] += [e["seconds"] for e in epochs[1:]]
                    rates[ahead] += [e["samples_per_second"] for e in epochs[1:]]
                    histories[ahead].append([(e["loss"], e["metric"]) for e in epochs])
        finally:
            for copy in copies.values():
                os.remove(os.path.join(HERE, copy))
        same = all(h == histories[0][0] for hs in histories.values() for h in hs)
        print(f"{name}: {a.runs} alternating rounds of {a.epochs} epochs (first of each left out); load {os.getloadavg()[0]:.2f}")
        for ahead in copies:
            s, r = statistics.median(seconds[ahead]), statistics.median(rates[ahead])
            print(f"  prefetch: {ahead:<3} {s:7.3f} s/epoch [{min(seconds[ahead]):.3f}-{max(seconds[ahead]):.3f}]  {r:9.0f} samples/s")
        ratio = statistics.median(rates[a.ahead]) / statistics.median(rates[0])
        print(f"  samples/s ahead / in place: {ratio:.3f}; same losses and metrics every epoch: {same}")
        if not same:
            sys.exit("prefetching changed what was trained")


if __name__ == "__main__":
    main()
