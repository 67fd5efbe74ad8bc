#!/usr/bin/env python3
"""sweep_bench.py [--runs R] [--pipe PATH]

A 12-point sweep of pipelines/people.pipe's MLP (pipelines/people_sweep.pipe:
hidden x dropout x lr) in one `pipe run --no-cache`, against the 12 points
written out as 12 files, each run with `pipe run --no-cache` (what a user
without sweeps would do). Alternates the two, R rounds; prints each
round's wall time, the medians and their ratio, and checks that both
ways trained the same 12 points to the same validation accuracy.
"""
import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SWEEP = os.path.join(ROOT, "pipelines", "people_sweep.pipe")

HIDDEN = ["[64]", "[256, 256]"]
DROPOUT = ["0.2", "0.5"]
# sweep(3e-4..3e-3, steps: 3, log: true), four significant digits
LR = ["0.0003", "0.0009487", "0.003"]


def written_out(text, hidden, dropout, lr):
    """The sweep file with one point's values written in."""
    text = text.replace("hidden: sweep([[64], [256, 256]])", f"hidden: {hidden}")
    text = text.replace("dropout: sweep([0.2, 0.5])", f"dropout: {dropout}")
    text = text.replace("lr: sweep(3e-4..3e-3, steps: 3, log: true)", f"lr: {lr}")
    text = re.sub(r"\n    objective: [^\n]*", "", text)
    assert "sweep(" not in text
    return text


def timed(cmd, cwd):
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    return time.perf_counter() - start, out.stderr


def newest_run(work):
    runs = os.path.join(work, "runs", "fit_net")
    folders = [os.path.join(runs, d) for d in os.listdir(runs) if os.path.isdir(os.path.join(runs, d))]
    return max(folders, key=os.path.getmtime)


def kept_accuracy(folder):
    with open(os.path.join(folder, "trained.json")) as f:
        trained = json.load(f)
    return trained["history"][trained["kept_epoch"] - 1]["val"]["accuracy"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pipe", default=os.path.join(ROOT, "target", "release", "pipe"))
    args = ap.parse_args()
    text = open(SWEEP).read().replace('"../data/', f'"{ROOT}/data/')
    work = tempfile.mkdtemp(prefix="sweep_bench_")
    with open(os.path.join(work, "sweep.pipe"), "w") as f:
        f.write(text)
    points = [(h, d, l) for h in HIDDEN for d in DROPOUT for l in LR]
    for i, (h, d, l) in enumerate(points):
        with open(os.path.join(work, f"point{i + 1:02}.pipe"), "w") as f:
            f.write(written_out(text, h, d, l))
    sweeps, separate = [], []
    for r in range(args.runs):
        t, _ = timed([args.pipe, "run", "--no-cache", "sweep.pipe"], work)
        sweeps.append(t)
        with open(os.path.join(work, "runs", "fit_net", "sweep.csv")) as f:
            swept = {int(row["point"]): float(row["val.accuracy"]) for row in csv.DictReader(f)}
        total = 0.0
        for i in range(len(points)):
            t, _ = timed([args.pipe, "run", "--no-cache", f"point{i + 1:02}.pipe"], work)
            total += t
            alone = kept_accuracy(newest_run(work))
            if alone != swept[i + 1]:
                sys.exit(f"point {i + 1}: the sweep's val.accuracy {swept[i + 1]} != written out {alone}")
        separate.append(total)
        print(f"round {r + 1}: sweep {sweeps[-1]:.2f} s, 12 separate runs {total:.2f} s", flush=True)
    ms, mp = statistics.median(sweeps), statistics.median(separate)
    print(f"median: one sweep {ms:.2f} s, 12 separate runs {mp:.2f} s, ratio {ms / mp:.2f}x")
    print(f"each of the {len(swept)} points' validation accuracy equal in both ways")


if __name__ == "__main__":
    main()
