#!/usr/bin/env python3
"""runs_bench.py [--pipe PATH] [--repeats R]

`pipe runs` over 100 run folders: a 100-point random sweep of
pipelines/iris.pipe's MLP (one epoch each) makes them, then `pipe runs`
(and `--only-changed`, `--format json`) is timed R times each; prints the
medians. The issue asks for under 200 ms.
"""
import argparse
import os
import statistics
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pipe", default=os.path.join(ROOT, "target", "release", "pipe"))
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="runs_bench_")
    text = open(os.path.join(ROOT, "pipelines", "iris.pipe")).read().replace('"../data/', f'"{ROOT}/data/')
    text = text.replace("optimizer: adam(lr: 1e-2)", "optimizer: adam(lr: log_uniform(1e-4, 1e-1))")
    text = text.replace("epochs: 100", "epochs: 1\n    search: random(n: 100, seed: 1)\n    parallel: 2")
    open(os.path.join(work, "main.pipe"), "w").write(text)
    subprocess.run([args.pipe, "run", "main.pipe"], cwd=work, check=True, capture_output=True)
    folders = len([d for d in os.listdir(os.path.join(work, "runs", "species"))
                   if os.path.isdir(os.path.join(work, "runs", "species", d))])
    for extra in ([], ["--only-changed"], ["--format", "json"]):
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            subprocess.run([args.pipe, "runs", "main.pipe"] + extra, cwd=work, check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        print(f"pipe runs {' '.join(extra)} over {folders} run folders: median {1000 * statistics.median(times):.1f} ms")


if __name__ == "__main__":
    main()
