#!/usr/bin/env python3
"""Whole-process time of `pipe check`, median of many runs.

Cases: a generated 1,000-line valid pipeline whose sources are a small CSV
(the figure: under 20 ms) and the same pipeline over a 1 GB CSV (under
50 ms: only the header, a 100-row sample and at most 4 MB for levels are
read), and the parser's worst inputs: a 1 MB line and 100,000 nested
parentheses (both must stay fast: linear-ish, never a crash).

usage: check_speed.py PIPE_BINARY [--runs N]
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def cpu_ms():
    """User + system CPU of the children that have ended, in ms."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) * 1000


def time_runs(cmd, runs):
    """Wall and CPU milliseconds of each run of `cmd`."""
    times = []
    for _ in range(runs):
        cpu_before = cpu_ms()
        start = time.perf_counter()
        done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(((time.perf_counter() - start) * 1000, cpu_ms() - cpu_before))
        if done.returncode not in (0, 1):
            sys.exit(f"{cmd} exited with {done.returncode}")
    return times


def write_gigabyte_csv(small_csv, out):
    """The small file's rows repeated to 1 GB (the checker reads its head)."""
    with open(small_csv) as f:
        header, *rows = f.read().splitlines(keepends=True)
    block = "".join(rows)
    with open(out, "w") as f:
        f.write(header)
        written = len(header)
        while written < 1 << 30:
            f.write(block)
            written += len(block)


def report(name, times):
    wall = sorted(t[0] for t in times)
    cpu = sorted(t[1] for t in times)
    print(
        f"{name:<34} wall median {statistics.median(wall):7.2f} ms [min {wall[0]:.2f}, max {wall[-1]:.2f}]"
        f"   CPU median {statistics.median(cpu):7.2f} ms [min {cpu[0]:.2f}]  n={len(times)}"
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("pipe")
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    small_csv = os.path.join(HERE, "..", "data", "people.csv")
    with tempfile.TemporaryDirectory() as tmp:
        big = os.path.join(tmp, "thousand.pipe")
        gen = [sys.executable, os.path.join(HERE, "gen_pipeline.py"), "1000"]
        subprocess.run(gen + [big, "--source", os.path.abspath(small_csv)], check=True)
        huge_csv = os.path.join(tmp, "huge.csv")
        write_gigabyte_csv(small_csv, huge_csv)
        big_huge = os.path.join(tmp, "thousand_huge.pipe")
        subprocess.run(gen + [big_huge, "--source", huge_csv], check=True)
        long_line = os.path.join(tmp, "long_line.pipe")
        with open(long_line, "w") as f:
            f.write("let xs = [" + "1234567, " * (1 << 17) + "8]\n")
        nested = os.path.join(tmp, "nested.pipe")
        with open(nested, "w") as f:
            f.write("let x = " + "(" * 100_000 + "1" + ")" * 100_000 + "\n")
        empty = os.path.join(tmp, "empty.pipe")
        with open(empty, "w") as f:
            f.write("let x = 1\n")
        cases = [
            ("1-line file (process start-up)", empty),
            ("1,000-line pipeline, small CSV", big),
            ("1,000-line pipeline, 1 GB CSV", big_huge),
            ("1 MB line (valid list)", long_line),
            ("100,000 nested parentheses", nested),
        ]
        results = {name: [] for name, _ in cases}
        # Alternate the cases so that machine noise hits them alike.
        for _ in range(args.runs):
            for name, path in cases:
                results[name] += time_runs([args.pipe, "check", path], 1)
        for name, _ in cases:
            report(name, results[name])


if __name__ == "__main__":
    main()
