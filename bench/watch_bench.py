#!/usr/bin/env python3
"""watch_bench.py [--edits N] [--pipe target/release/pipe]

`pipe watch` figures:
1. save -> diagnostics: a 300-line pipeline (bench/gen_pipeline.py) under
   `pipe watch`; each edit breaks or fixes one line; the time from the write
   to the line with the diagnostic's code (breaking edits) is measured.
   Median, min and max of N breaking edits.
2. After a warm run of the people pipeline on 1,000,000 rows
   (bench/people_1m.pipe), an edit of the training settings only: the data
   items' lines (all `cached`) and the seconds of the data work.
"""
import argparse
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class Watch:
    def __init__(self, pipe, file):
        env = dict(os.environ, NO_COLOR="1", COLUMNS="100")
        self.p = subprocess.Popen([pipe, "watch", file], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stderr:
            self.lines.put((time.perf_counter(), line.rstrip("\n")))

    def until(self, needle, timeout=600):
        end = time.perf_counter() + timeout
        seen = []
        while time.perf_counter() < end:
            try:
                t, line = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            seen.append(line)
            if needle in line:
                return t, seen
        sys.exit(f"timed out waiting for {needle!r}: {seen[-20:]}")

    def stop(self):
        self.p.kill()


def latency(pipe, edits):
    tmp = tempfile.mkdtemp()
    file = os.path.join(tmp, "big.pipe")
    source = os.path.join(ROOT, "data", "people.csv")
    subprocess.run([sys.executable, os.path.join(HERE, "gen_pipeline.py"), "300", file, "--source", source],
                   check=True, stdout=subprocess.DEVNULL)
    good = open(file).read()
    bad = good.replace("|> filter(", "|> filter((", 1)
    w = Watch(pipe, file)
    w.until("watching for changes")
    times = []
    for _ in range(edits):
        start = time.perf_counter()
        with open(file, "w") as f:
            f.write(bad)
        t, _ = w.until("pipe::syntax::")
        times.append((t - start) * 1000)
        w.until("watching for changes")
        with open(file, "w") as f:
            f.write(good)
        w.until("watching for changes")
    w.stop()
    shutil.rmtree(tmp)
    return times


def warm_edit(pipe):
    file = os.path.join(HERE, "people_1m.pipe")
    text = open(file).read()
    w = Watch(pipe, file)
    w.until("watching for changes")  # cold or warm: the first run fills the cache
    with open(file, "w") as f:
        f.write(text.replace("    epochs: 2\n", "    epochs: 1\n"))
    try:
        _, lines = w.until("watching for changes")
    finally:
        with open(file, "w") as f:
            f.write(text)
        w.stop()
    return [l for l in lines if l.startswith("  ") or l.startswith("plan") or l.startswith("ran")]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edits", type=int, default=50)
    ap.add_argument("--pipe", default=os.path.join(ROOT, "target", "release", "pipe"))
    a = ap.parse_args()
    times = latency(a.pipe, a.edits)
    print(f"save -> diagnostics, 300-line pipeline, {len(times)} edits: median {statistics.median(times):.1f} ms "
          f"[{min(times):.1f}-{max(times):.1f}]")
    for line in warm_edit(a.pipe):
        print(line)


if __name__ == "__main__":
    main()
