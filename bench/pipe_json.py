"""Runs a bench pipeline under `pipe run --format json`: the shared part of
train_bench.py and cnn_bench.py."""
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run_pipeline(pipe, name, epochs, device=None):
    """bench/NAME with `epochs: E` (and `device: D` after `seed:`), run
    without the cache from bench/; returns the JSON objects it printed."""
    text = re.sub(r"epochs: \d+", f"epochs: {epochs}", open(os.path.join(HERE, name)).read())
    if device:
        text = re.sub(r"(    seed: \d+\n)", rf"\1    device: {device}\n", text, count=1)
    path = os.path.join(HERE, name.replace(".pipe", "_bench.pipe"))
    with open(path, "w") as f:
        f.write(text)
    out = subprocess.run([pipe, "run", "--no-cache", "--format", "json", path], capture_output=True, text=True)
    os.remove(path)
    if out.returncode != 0:
        sys.exit(out.stderr)
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
