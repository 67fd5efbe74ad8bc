#!/usr/bin/env python3
"""The prep pipeline (bench/prep.pipe: cut, qcut, standard, minmax, one-hot,
PCA 8, written as Parquet) at 1M and 10M rows, streamed under a memory
budget (`pipe run --memory 1GB`: the transform learns in two passes over
the CSV, the output applies it in a third), and at 1M rows held in memory
(the default when the file fits). Alternates the commands for --runs rounds
and prints median wall time and median peak resident memory (wait4), and
the 10M/1M time ratio measured in the same run. Then compares the streamed
1M output with pandas' (../shared/peers/compare_outputs.py) when
--compare is given.

usage: scale_bench.py PIPE_BINARY [--runs N] [--rows-big N] [--compare]

The 10M-row file is made by ../shared/peers/gen_data.py (about 3.1 GB) into
bench/data/ (git-ignored) when it is not there.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

from peak import peak_mib  # noqa: E402  (bench/peak.py)

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = os.path.join(HERE, "..", ".venv-bench", "bin", "python")
PEERS = os.path.join(HERE, "..", "..", "shared", "peers")

PIPELINE = """source people = csv("{csv}")

transform prep = fit(people) {{
    cut(age, [0, 18, 65, inf], labels: [teen, adult, senior]) as age_bucket
    qcut(income, 4) as income_q
    standard(f0..f15)
    minmax(f16..f31)
    onehot(city)
    pca(f0..f31, 8, keep: true)
}}

output prepared = prep(people) |> write("{out}")
"""


def timed(cmd):
    """Wall seconds and peak resident MB of one run of `cmd`."""
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        sys.exit(f"{cmd} failed: {err.decode(errors='replace')}")
    return seconds, peak_mib(usage.ru_maxrss, err)


def data(rows):
    """The generated CSV of `rows` rows."""
    name = "people-1m.csv" if rows == 1_000_000 else f"people-{rows // 1_000_000}m.csv"
    path = os.path.join(HERE, "data", name)
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        subprocess.run([PYTHON, os.path.join(PEERS, "gen_data.py"), str(rows), path], check=True)
    return path


def pipeline(name, csv):
    """A copy of prep.pipe reading `csv`, in bench/out/."""
    out_dir = os.path.join(HERE, "out")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{name}.pipe")
    with open(path, "w") as f:
        f.write(PIPELINE.format(csv=os.path.relpath(csv, out_dir), out=f"{name}.parquet"))
    return path, os.path.join(out_dir, f"{name}.parquet")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pipe")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rows-big", type=int, default=10_000_000)
    ap.add_argument("--budget", default="1GB")
    ap.add_argument("--compare", action="store_true")
    a = ap.parse_args()
    small, big = data(1_000_000), data(a.rows_big)
    small_pipe, small_out = pipeline("scale-1m", small)
    big_pipe, _ = pipeline("scale-big", big)
    commands = {
        "1M streamed": [a.pipe, "run", "--no-cache", "--memory", a.budget, small_pipe],
        "1M in memory": [a.pipe, "run", "--no-cache", small_pipe],
        "big streamed": [a.pipe, "run", "--no-cache", "--memory", a.budget, big_pipe],
    }
    results = {name: [] for name in commands}
    for round_ in range(a.runs):
        for name, cmd in commands.items():
            seconds, peak = timed(cmd)
            results[name].append((seconds, peak))
            print(f"round {round_ + 1}: {name:13} {seconds:7.2f} s  {peak:7.0f} MB", flush=True)
    print(f"\nbig = {a.rows_big:,} rows ({os.path.getsize(big) / 1e9:.2f} GB CSV); budget {a.budget}; medians of {a.runs}")
    medians = {}
    for name, values in results.items():
        seconds = statistics.median(v[0] for v in values)
        peak = statistics.median(v[1] for v in values)
        medians[name] = seconds
        print(f"  {name:13} {seconds:7.2f} s  peak {peak:6.0f} MB")
    print(f"  big / 1M streamed: {medians['big streamed'] / medians['1M streamed']:.2f}x the time")
    print(f"  big streamed / 1M in memory: {medians['big streamed'] / medians['1M in memory']:.2f}x the time")
    if a.compare:
        subprocess.run([a.pipe, "run", "--no-cache", "--memory", a.budget, small_pipe], check=True, capture_output=True)
        reference = os.path.join(HERE, "out", "pandas-1m.parquet")
        subprocess.run([PYTHON, os.path.join(PEERS, "peer_pandas.py"), small, reference], check=True, capture_output=True)
        compared = subprocess.run(
            [PYTHON, os.path.join(PEERS, "compare_outputs.py"), reference, small_out], capture_output=True, text=True
        )
        print(compared.stdout.strip() or compared.stderr.strip())


if __name__ == "__main__":
    main()
