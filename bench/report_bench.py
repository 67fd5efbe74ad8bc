#!/usr/bin/env python3
"""report_bench.py [--pipe PATH] [--chromium PATH] [--repeats R]

`pipe report` over 100 runs: a 100-point random sweep of
pipelines/iris.pipe's MLP (20 epochs each, its best point evaluated with
ROC/PR curves) makes them; then R times each: `pipe report` (wall time),
and headless Chromium opening the page (`--dump-dom`): the page's own
render time (`data-render-ms`, from navigation start to the end of its
script) and Chromium's whole wall time, start-up included. Prints the
file's size and the medians. The issue asks for < 2 MB and < 2 s.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pipe", default=os.path.join(ROOT, "target", "release", "pipe"))
    ap.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="report_bench_")
    text = open(os.path.join(ROOT, "pipelines", "iris.pipe")).read().replace('"../data/', f'"{ROOT}/data/')
    text = text.replace("optimizer: adam(lr: 1e-2)", "optimizer: adam(lr: log_uniform(1e-4, 1e-1))")
    text = text.replace("epochs: 100", "epochs: 20\n    search: random(n: 100, seed: 1)\n    parallel: 2")
    text = re.sub(r"(evaluate \w+ = \w+ on [^{]*\{)", r'\1\n    curves: "curves"', text)
    open(os.path.join(work, "main.pipe"), "w").write(text)
    subprocess.run([args.pipe, "run", "main.pipe"], cwd=work, check=True, capture_output=True)
    page = os.path.join(work, "report.html")
    made, rendered, opened = [], [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        subprocess.run([args.pipe, "report", "main.pipe", "-o", page], cwd=work, check=True, capture_output=True)
        made.append(time.perf_counter() - start)
        start = time.perf_counter()
        dom = subprocess.run([args.chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                              "file://" + page], check=True, capture_output=True, text=True).stdout
        opened.append(time.perf_counter() - start)
        rendered.append(float(re.search(r'data-render-ms="([0-9.]+)"', dom).group(1)))
    runs = len(re.findall(r'<tr class="run', dom))
    print(f"runs on the page: {runs}; file: {os.path.getsize(page) / 1e6:.2f} MB")
    print(f"pipe report: median {1000 * statistics.median(made):.0f} ms")
    print(f"Chromium render (navigation start to the script's end): median {statistics.median(rendered):.0f} ms")
    print(f"Chromium whole (start-up, render, DOM dump): median {1000 * statistics.median(opened):.0f} ms")


if __name__ == "__main__":
    main()
