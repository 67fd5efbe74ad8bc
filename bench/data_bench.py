#!/usr/bin/env python3
"""data_bench.py [--rows N] [--runs R] [--pipe target/release/pipe]

The data-stage benchmark: bench/prep.pipe (read CSV, cut, qcut, standard,
minmax, one-hot, PCA 8, write Parquet) as a whole `pipe run` process,
against the peers ../shared/peers/peer_pandas.py and peer_polars.py on the
same generated file, alternating pipe / pandas / polars in each round.
`pipe` runs cold (cache cleaned first) and then warm (cache kept). Prints
median [min-max] wall seconds and peak memory per command, the ratios of
medians, and whether the outputs agree (compare_outputs.py).

Python: the bench's own venv (see bench/README.md), never the tests'.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

from peak import peak_mib  # noqa: E402  (bench/peak.py)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS = os.path.join(ROOT, "..", "shared", "peers")


def timed(cmd):
    """Wall seconds and peak RSS (MB) of one process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{err.decode(errors='replace')}")
    return wall, peak_mib(usage.ru_maxrss, err)


def summary(values):
    return f"{statistics.median(values):7.2f} [{min(values):.2f}-{max(values):.2f}]"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pipe", default=os.path.join(ROOT, "target", "release", "pipe"))
    a = ap.parse_args()
    py = sys.executable
    csv = os.path.join(HERE, "data", "people-1m.csv")
    if a.rows != 1_000_000 or not os.path.exists(csv):
        os.makedirs(os.path.dirname(csv), exist_ok=True)
        subprocess.run([py, os.path.join(PEERS, "gen_data.py"), str(a.rows), csv], check=True, stdout=subprocess.DEVNULL)
    pipe_file = os.path.join(HERE, "prep.pipe")
    cache = os.path.join(HERE, ".pipe-cache")
    out_dir = os.path.join(HERE, "out")
    commands = {
        "pipe (cold)": [a.pipe, "run", pipe_file],
        # Every tool writes the same codec: snappy, pandas' default (prep.pipe
        # says `compression: snappy`; Polars' default is zstd).
        "pandas": [py, os.path.join(PEERS, "peer_pandas.py"), csv, os.path.join(out_dir, "pandas.parquet"),
                   "--compression", "snappy"],
        "polars": [py, os.path.join(PEERS, "peer_polars.py"), csv, os.path.join(out_dir, "polars.parquet"),
                   "--compression", "snappy"],
    }
    wall = {name: [] for name in commands}
    memory = {name: [] for name in commands}
    os.makedirs(out_dir, exist_ok=True)
    for _ in range(a.runs):
        for name, cmd in commands.items():
            if name == "pipe (cold)":
                shutil.rmtree(cache, ignore_errors=True)
            w, m = timed(cmd)
            wall[name].append(w)
            memory[name].append(m)
    warm = [timed([a.pipe, "run", pipe_file])[0] for _ in range(a.runs)]
    print(f"{a.rows:,} rows, {a.runs} runs each, alternating; load average {os.getloadavg()[0]:.2f}")
    print(f"{'command':<14} {'wall s: median [min-max]':>26} {'peak MB (median)':>18}")
    for name in commands:
        print(f"{name:<14} {summary(wall[name]):>26} {statistics.median(memory[name]):>18.0f}")
    print(f"{'pipe (warm)':<14} {summary(warm):>26}")
    med = {name: statistics.median(v) for name, v in wall.items()}
    ratios = {
        "pipe / pandas": med["pipe (cold)"] / med["pandas"],
        "pipe / polars": med["pipe (cold)"] / med["polars"],
        "warm / cold": statistics.median(warm) / med["pipe (cold)"],
        "peak memory pipe / pandas": statistics.median(memory["pipe (cold)"]) / statistics.median(memory["pandas"]),
    }
    for name, value in ratios.items():
        print(f"{name:<26} {value:.3f}")
    compare = subprocess.run(
        [py, os.path.join(PEERS, "compare_outputs.py"), os.path.join(out_dir, "prepared.parquet"), os.path.join(out_dir, "pandas.parquet")],
        capture_output=True, text=True,
    )
    print("pipe vs pandas output:", compare.stdout.strip())
    print(json.dumps({"wall": wall, "peak_mb": memory, "warm": warm, "ratios": ratios}))


if __name__ == "__main__":
    main()
