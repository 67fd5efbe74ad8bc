#!/usr/bin/env python3
"""100 million rows through a streaming pipeline (select, filter, cut,
standard, onehot, write Parquet) on this machine: a folder of ten hard links
to the 10M-row CSV (so 31 GB of rows take no new disk), read as one source.
`standard` and `onehot` learn in one pass, the output writes in a second.
Prints the wall time, the peak resident memory (wait4), the rows written,
and removes the output.

usage: hundred_bench.py PIPE_BINARY [--copies 10] [--budget 1GB]

Needs bench/data/people-10m.csv (bench/scale_bench.py makes it).
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

PIPELINE = """source people = csv("hundred")

output prepared = people
    |> select(age, income, city, f0..f3)
    |> filter(income > 20000.0)
    |> cut(age, [0, 18, 65, inf], labels: [teen, adult, senior])
    |> standard(income, f0..f3)
    |> onehot(city)
    |> write("hundred.parquet")
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pipe")
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--budget", default="1GB")
    a = ap.parse_args()
    data = os.path.join(HERE, "data", "people-10m.csv")
    if not os.path.exists(data):
        sys.exit("run bench/scale_bench.py first: it makes bench/data/people-10m.csv")
    out = os.path.join(HERE, "out")
    folder = os.path.join(out, "hundred")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for i in range(a.copies):
        os.link(data, os.path.join(folder, f"part-{i:02}.csv"))
    pipe_file = os.path.join(out, "hundred.pipe")
    with open(pipe_file, "w") as f:
        f.write(PIPELINE)
    cmd = [a.pipe, "--format", "json", "run", "--no-cache", "--memory", a.budget, pipe_file]
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout = child.stdout.read()
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        sys.exit(f"failed: {stderr.decode(errors='replace')}")
    print(stdout.decode().strip())
    written = os.path.join(out, "hundred.parquet")
    print(
        f"{a.copies * 10}M rows ({a.copies} x {os.path.getsize(data) / 1e9:.2f} GB CSV): "
        f"{seconds:.1f} s, peak {usage.ru_maxrss / 1024:.0f} MB, output {os.path.getsize(written) / 1e9:.2f} GB"
    )
    os.remove(written)
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
