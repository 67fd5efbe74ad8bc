#!/usr/bin/env python3
"""A streaming output against the same output held in memory, and against
Python Polars' own streaming sink: read the 1M-row people CSV (and, with
--rows 3, three copies of it), keep the rows with `age > 30`, write Parquet.

Alternates the commands for --runs rounds and prints, per command, the
median wall time and the median peak resident memory (from wait4; it
counts the pages of the CSV the readers map, which the kernel can drop
under pressure).

usage: stream_bench.py PIPE_BINARY [--runs N] [--copies K]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from peak import peak_mib  # noqa: E402  (bench/peak.py)

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = os.path.join(HERE, "..", ".venv-bench", "bin", "python")


def timed(cmd, cwd):
    """Wall seconds and peak resident MB of one run of `cmd`."""
    start = time.perf_counter()
    child = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        sys.exit(f"{cmd} failed: {err.decode(errors='replace')}")
    return seconds, peak_mib(usage.ru_maxrss, err)


def data_file(copies):
    """The 1M-row CSV the data bench generates, or `copies` of its rows."""
    one = os.path.join(HERE, "data", "people-1m.csv")
    if not os.path.exists(one):
        sys.exit("run bench/data_bench.py first: it generates bench/data/people-1m.csv")
    if copies == 1:
        return one
    path = os.path.join(HERE, "data", f"people-{copies}m.csv")
    if not os.path.exists(path):
        with open(one, "rb") as src, open(path, "wb") as out:
            header = src.readline()
            body = src.read()
            out.write(header)
            for _ in range(copies):
                out.write(body)
    return path


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("pipe")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--copies", type=int, default=1)
    args = parser.parse_args()
    csv = data_file(args.copies)
    with tempfile.TemporaryDirectory() as tmp:
        streamed = os.path.join(tmp, "streamed.pipe")
        with open(streamed, "w") as f:
            f.write(f'source p = csv("{csv}")\noutput o = p |> filter(age > 30.0) |> write("o.parquet")\n')
        polars = (
            "import polars as pl, sys\n"
            "pl.scan_csv(sys.argv[1]).filter(pl.col('age') > 30.0).sink_parquet('py.parquet')\n"
        )
        commands = {
            "pipe, streaming": [args.pipe, "run", "--no-cache", streamed],
            "pipe, in memory": [args.pipe, "run", "--no-cache", "--in-memory", streamed],
            "Python Polars sink_parquet": [PYTHON, "-c", polars, csv],
        }
        results = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                results[name].append(timed(cmd, tmp))
        size = os.path.getsize(csv) / 1e6
        print(f"{os.path.basename(csv)} ({size:,.0f} MB), {args.runs} rounds, medians")
        for name, runs in results.items():
            seconds = statistics.median(r[0] for r in runs)
            peak = statistics.median(r[1] for r in runs)
            print(f"  {name:<32} {seconds:6.2f} s   peak {peak:7,.0f} MB")


if __name__ == "__main__":
    main()
