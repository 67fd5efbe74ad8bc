#!/usr/bin/env python3
"""disk_train_bench.py [--runs R] [--rows N] [--budget SIZE] [--pipe target/release/pipe] [--big CSV]

bench/train_disk.pipe (bench/train.pipe's MLP on every row of the people
data, fitted on all of them and split 80/20) trained twice, alternating, R rounds:
its rows held in memory (`pipe run`), and streamed to disk and read back a
window at a time (`pipe run --memory SIZE`, a budget below the data). The
data is the peers' generated CSV of N rows (made when missing). Prints the
median samples per second of the epochs (the MLP's steps fed from memory
against fed from disk), the whole run's time and peak RSS, and both runs'
validation loss.

--big CSV also trains from disk on that file (the 10M-row CSV), once: its
peak RSS and samples per second.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

from peak import peak_mib  # noqa: E402  (bench/peak.py)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS = os.path.join(ROOT, "..", "shared", "peers")


def ensure_data(rows):
    path = os.path.join(HERE, "data", f"people-{rows // 1_000_000}m.csv" if rows % 1_000_000 == 0 else f"people-{rows}.csv")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        subprocess.run([sys.executable, os.path.join(PEERS, "gen_data.py"), str(rows), path], check=True)
    return path


def pipeline(csv):
    """bench/train_disk.pipe reading CSV, written beside it."""
    text = open(os.path.join(HERE, "train_disk.pipe")).read()
    text = re.sub(r'csv\("[^"]*"\)', f'csv("{csv}")', text, count=1)
    path = os.path.join(HERE, "train_disk_bench.pipe")
    with open(path, "w") as f:
        f.write(text)
    return path


def run(pipe, path, flags):
    """One `pipe run`: (wall seconds, peak RSS MB, the epochs' JSON)."""
    start = time.perf_counter()
    out = subprocess.run(
        ["/usr/bin/time", "-f", "RSS %M", pipe, "run", "--no-cache", "--format", "json", *flags, path],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(out.stderr[-3000:])
    rss = peak_mib(int(re.search(r"RSS (\d+)", out.stderr).group(1)), out.stdout + out.stderr)
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    epochs = [line["epoch"] for line in lines if "epoch" in line]
    return wall, rss, epochs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--budget", default="100MB")
    ap.add_argument("--pipe", default=os.path.join(ROOT, "target", "release", "pipe"))
    ap.add_argument("--big", help="a larger CSV to train from disk once")
    a = ap.parse_args()
    path = pipeline(ensure_data(a.rows))
    sides = {"memory": [], "disk": ["--memory", a.budget]}
    results = {side: [] for side in sides}
    try:
        for _ in range(a.runs):
            for side, flags in sides.items():
                results[side].append(run(a.pipe, path, flags))
        print(f"{a.rows:,} rows, {a.runs} alternating rounds; load {os.getloadavg()[0]:.2f}")
        rates = {}
        for side, rounds in results.items():
            rate = statistics.median(e["samples_per_second"] for _, _, epochs in rounds for e in epochs)
            rates[side] = rate
            wall = statistics.median(r[0] for r in rounds)
            rss = statistics.median(r[1] for r in rounds)
            val = [round(epochs[-1]["val"]["loss"], 4) for _, _, epochs in rounds]
            print(f"  {side:<7} {rate:9.0f} samples/s  run {wall:6.2f} s  peak {rss:6.0f} MB  val loss {val}")
        print(f"  samples/s from disk / held: {rates['disk'] / rates['memory']:.3f}")
        if a.big:
            big = pipeline(os.path.abspath(a.big))
            wall, rss, epochs = run(a.pipe, big, sides["disk"])
            rate = statistics.median(e["samples_per_second"] for e in epochs)
            print(f"  {a.big}: from disk {rate:.0f} samples/s  run {wall:.1f} s  peak {rss:.0f} MB  rows {epochs and 'trained'}")
    finally:
        os.remove(path)


if __name__ == "__main__":
    main()
