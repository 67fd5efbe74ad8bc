#!/usr/bin/env python3
"""gpu_bench.py --pipe PIPE [--device torch.cuda] [--rounds 2] [--epochs 3]
                [--budget 400] [--quick] [--out DIR]

`pipe` against PyTorch eager on one device (bench/gpu.sh runs it on a GPU
machine; `--quick --device torch.cpu` rehearses it here). Three rows, each
in f32 and bf16 (autocast-style mixed precision on both sides):

  mlp     bench/gpu/mlp.pipe: 200,000 x 89 synthetic rows, 256-256 BN
          dropout, batch 512
  digits  bench/gpu/digits.pipe: the digits CNN with flip/rotate/shift
          augmentation, batch 64 (pipe augments on the host, the peer on
          the device)
  large   bench/gpu/large.pipe: small_resnet widened to 64 channels on
          2,048 synthetic 3x224x224 images, batch 128

Each round runs every (row, precision) under `pipe run` and under
bench/gpu_peer.py, alternating which goes first. A row's figure is the
median samples/s over every epoch but the first of each run. The GPU
memory each side used is the peak of nvidia-smi's reading (sampled every
0.2 s) above what was in use before it started, the same for both sides.
A round starts only if the budget's seconds are not half spent. Prints one
table; with --out, writes results.json and the runs' logs there. The
table also holds the most memory each side's tensors took (pipe's epoch
log, PyTorch's max_memory_allocated).

Then `gpu_memory:` on the large row (f32, one epoch): with `limit(0.02)`
the run must stop with pipe::run::gpu_memory (out of memory, not a
crash); with `[growth, limit(0.5)]` it must train, print the settings as
libtorch reads them back, log each epoch's peak, and stay under half the
card (nvidia-smi, with 1 GiB for the CUDA context).
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GPU = os.path.join(HERE, "gpu")
DATA = os.path.join(GPU, "data")
ROWS = ["mlp", "digits", "large"]
PRECISIONS = ["f32", "bf16"]
TRAIN_ROWS = 200_000
LARGE_IMAGES = 2048


def log(*args):
    print(*args, flush=True)


def make_mlp_data(rows):
    """89 standard-normal features and a label that a linear rule with
    noise decides, so accuracy says whether training learned."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = os.path.join(DATA, "mlp.parquet")
    if os.path.exists(path) and pq.read_metadata(path).num_rows == rows:
        return
    rng = np.random.default_rng(42)
    x = rng.standard_normal((rows, 89), dtype=np.float32)
    w = rng.standard_normal(89).astype(np.float32)
    label = ((x @ w + rng.standard_normal(rows).astype(np.float32)) > 0).astype(np.int64)
    cols = {f"f{i}": x[:, i] for i in range(89)}
    cols["label"] = label
    pq.write_table(pa.table(cols), path)


def write_image(args):
    import numpy as np
    from PIL import Image

    path, label, seed, size = args
    rng = np.random.default_rng(seed)
    # A smooth class-coloured gradient with mild noise: PNGs that compress
    # like photographs rather than like static.
    ramp = np.linspace(0, 1, size, dtype=np.float32)
    base = np.stack([np.add.outer(ramp * ((label + c) % 3), ramp * ((label * 7 + c) % 5) / 4) for c in range(3)], 2)
    img = (base / base.max() * 200 + rng.normal(0, 8, (size, size, 3))).clip(0, 255).astype(np.uint8)
    Image.fromarray(img).save(path)


def make_large_data(count, size):
    from multiprocessing import Pool

    root = os.path.join(DATA, "large")
    stamp = os.path.join(DATA, "large.json")
    want = {"count": count, "size": size}
    if os.path.exists(stamp) and json.load(open(stamp)) == want:
        return
    shutil.rmtree(root, ignore_errors=True)
    jobs = []
    for i in range(count):
        folder = os.path.join(root, str(i % 10))
        os.makedirs(folder, exist_ok=True)
        jobs.append((os.path.join(folder, f"{i:05d}.png"), i % 10, i, size))
    with Pool(min(16, os.cpu_count() or 1)) as pool:
        pool.map(write_image, jobs, chunksize=32)
    json.dump(want, open(stamp, "w"))


class GpuMemory:
    """The peak of nvidia-smi's used memory while a run lasts, above what
    was used when it started (None without nvidia-smi)."""

    def __init__(self):
        self.base = self.read()
        self.peak = self.base
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.poll, daemon=True)

    @staticmethod
    def read(field="memory.used"):
        """nvidia-smi's `field` of the first GPU, in MiB (None without it)."""
        try:
            out = subprocess.run(["nvidia-smi", f"--query-gpu={field}", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, timeout=5)
            return int(out.stdout.split()[0])
        except (OSError, ValueError, IndexError, subprocess.SubprocessError):
            return None

    def poll(self):
        while not self.done.wait(0.2):
            used = self.read()
            if used is not None and self.peak is not None:
                self.peak = max(self.peak, used)

    def __enter__(self):
        if self.base is not None:
            self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        if self.thread.is_alive():
            self.thread.join()

    def mib(self):
        return None if self.base is None else self.peak - self.base


def pipe_file(row, precision, epochs, size, gpu_memory=None):
    """bench/gpu/ROW.pipe with the round's epochs, precision and image
    size (and a `gpu_memory:` setting), beside the original so its paths
    resolve."""
    text = open(os.path.join(GPU, f"{row}.pipe")).read()
    text = re.sub(r"epochs: \d+", f"epochs: {epochs}", text)
    text = re.sub(r"precision: \w+", f"precision: {precision}", text)
    text = text.replace("size: [224, 224]", f"size: [{size}, {size}]")
    if gpu_memory:
        # The checker holds `gpu_memory` to the file's device (`--device`
        # then overrides it; off CUDA, leaving the setting out).
        text = re.sub(r"(\n    precision: \w+)", f"\\1\n    device: torch.cuda\n    gpu_memory: {gpu_memory}", text)
    path = os.path.join(GPU, f"_{row}_{precision}.pipe")
    open(path, "w").write(text)
    return path


def run_pipe(a, row, precision, size, logs):
    path = pipe_file(row, precision, a.epochs, size)
    cmd = [a.pipe, "run", "--no-cache", "--format", "json", "--device", a.device, path]
    with GpuMemory() as mem:
        start = time.perf_counter()
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=a.run_timeout)
            rc, stdout, stderr = out.returncode, out.stdout, out.stderr
        except subprocess.TimeoutExpired as e:
            rc, stdout, stderr = "timeout", e.stdout or "", e.stderr or ""
            stdout = stdout.decode() if isinstance(stdout, bytes) else stdout
            stderr = stderr.decode() if isinstance(stderr, bytes) else stderr
        wall = time.perf_counter() - start
    os.remove(path)
    logs.append({"side": "pipe", "row": row, "precision": precision, "rc": rc, "stdout": stdout, "stderr": stderr})
    lines = [json.loads(x) for x in stdout.splitlines() if x.startswith("{")]
    epochs = [x["epoch"] for x in lines if "epoch" in x]
    acc = next((x["metrics"].get("accuracy") for x in lines if "metrics" in x), None)
    peaks = [e["gpu_memory"]["allocated_bytes"] / 2**20 for e in epochs if e.get("gpu_memory")]
    if rc != 0:
        log(f"  pipe {row} {precision}: failed ({rc}) after {wall:.1f} s: {stderr.strip()[-600:]}")
    return {"rate": [e["samples_per_second"] for e in epochs[1:]], "loss": [e.get("loss") for e in epochs],
            "accuracy": acc, "gpu_mib": mem.mib(), "wall": wall, "ok": rc == 0,
            "peak_mib": max(peaks, default=None)}


def run_peer(a, row, precision, size, logs):
    cmd = [sys.executable, os.path.join(HERE, "gpu_peer.py"), row, "--device", a.torch_device,
           "--precision", precision, "--epochs", str(a.epochs), "--size", str(size)]
    if a.threads:
        cmd += ["--threads", str(a.threads)]
    with GpuMemory() as mem:
        start = time.perf_counter()
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=a.run_timeout)
            rc, stdout, stderr = out.returncode, out.stdout, out.stderr
        except subprocess.TimeoutExpired:
            rc, stdout, stderr = "timeout", "", ""
        wall = time.perf_counter() - start
    logs.append({"side": "torch", "row": row, "precision": precision, "rc": rc, "stdout": stdout, "stderr": stderr})
    if rc != 0:
        log(f"  torch {row} {precision}: failed ({rc}) after {wall:.1f} s: {stderr.strip()[-600:]}")
        return {"rate": [], "loss": [], "accuracy": None, "gpu_mib": mem.mib(), "wall": wall, "ok": False}
    r = json.loads(stdout.strip().splitlines()[-1])
    rate = [r["samples"] / s for s in r["epoch_s"][1:]]
    return {"rate": rate, "loss": r["loss"], "accuracy": r["accuracy"], "gpu_mib": mem.mib(), "wall": wall,
            "ok": True, "peak_mib": r["peak_bytes"] and r["peak_bytes"] / 2**20}


def gpu_memory_checks(a, size, logs):
    """`gpu_memory:` on the large row, f32, one epoch: a limit too small
    for it stops the run with pipe::run::gpu_memory, and [growth,
    limit(0.5)] trains within half the card. Off CUDA (the rehearsal),
    `--device` leaves the setting out with a note."""
    checks = []
    for setting, expect_ok in [("limit(0.02)", False), ("[growth, limit(0.5)]", True)]:
        path = pipe_file("large", "f32", 1, size, gpu_memory=setting)
        # As a user sees it: notes are left out of `--format json`.
        cmd = [a.pipe, "run", "--no-cache", "--device", a.device, path]
        with GpuMemory() as mem:
            try:
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=a.run_timeout)
                rc, stdout, stderr = out.returncode, out.stdout, out.stderr
            except subprocess.TimeoutExpired:
                rc, stdout, stderr = "timeout", "", ""
        os.remove(path)
        logs.append({"side": "gpu_memory", "setting": setting, "rc": rc, "stdout": stdout, "stderr": stderr})
        said = [l.strip() for l in (stdout + stderr).splitlines() if "gpu_memory" in l or "GPU memory" in l]
        peaks = [l.strip().split("  gpu ")[-1] for l in stderr.splitlines() if "  gpu " in l and "(reserved" in l]
        crashed = "panicked" in stderr
        if a.device != "torch.cuda":
            ok = rc == 0 and any("so this run goes without it" in l for l in said)
        elif expect_ok:
            # The fraction bounds what the allocator reserves; nvidia-smi
            # also counts the CUDA context (about 0.5 GiB, 1 GiB allowed).
            total = GpuMemory.read("memory.total")
            within = mem.mib() is not None and total is not None and mem.mib() < 0.5 * total + 1024
            ok = rc == 0 and any("may reserve 50% of its memory" in l for l in said) and bool(peaks) and within
        else:
            ok = rc == 1 and "pipe::run::gpu_memory" in stderr and "ran out of GPU memory" in stderr and not crashed
        checks.append(f"gpu_memory: {setting}: rc {rc}, {'as expected' if ok else 'NOT as expected'}, "
                      f"nvidia-smi {fmt(mem.mib())} MiB, epoch peaks {peaks[-1:]}, said {said[:3]}")
    return checks


def environment(a):
    info = {}
    for name, cmd in [("gpu", ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]),
                      ("pipe", [a.pipe, "--version"])]:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            info[name] = (out.stdout or out.stderr).strip()
        except OSError as e:
            info[name] = f"unavailable: {e}"
    import torch

    info["torch"] = f"{torch.__version__}, cuda available: {torch.cuda.is_available()}"
    info["cpus"] = os.cpu_count()
    return info


def fmt(x, spec=",.0f"):
    return "-" if x is None else format(x, spec)


def table(results, a):
    lines = [f"| row | precision | pipe samples/s | PyTorch samples/s | pipe / PyTorch | pipe GPU MiB | PyTorch GPU MiB"
             " | tensors' peak MiB pipe / PyTorch | accuracy pipe / PyTorch |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    medians = {}
    for row in a.rows:
        for precision in PRECISIONS:
            runs = results.get((row, precision), {"pipe": [], "torch": []})
            med = {}
            for side in ("pipe", "torch"):
                rates = [r for run in runs[side] for r in run["rate"]]
                med[side] = statistics.median(rates) if rates else None
            medians[row, precision] = med
            ratio = med["pipe"] / med["torch"] if med["pipe"] and med["torch"] else None
            mem = {s: max((r["gpu_mib"] for r in runs[s] if r["gpu_mib"] is not None), default=None) for s in med}
            acc = {s: next((r["accuracy"] for r in reversed(runs[s]) if r["accuracy"] is not None), None) for s in med}
            peak = {s: max((r["peak_mib"] for r in runs[s] if r.get("peak_mib") is not None), default=None) for s in med}
            lines.append(f"| {row} | {precision} | {fmt(med['pipe'])} | {fmt(med['torch'])} | {fmt(ratio, '.2f')} | "
                         f"{fmt(mem['pipe'])} | {fmt(mem['torch'])} | {fmt(peak['pipe'])} / {fmt(peak['torch'])} | "
                         f"{fmt(acc['pipe'], '.3f')} / {fmt(acc['torch'], '.3f')} |")
    lines.append("")
    for row in a.rows:
        f32, bf16 = medians[row, "f32"], medians[row, "bf16"]
        speedup = {s: bf16[s] / f32[s] if bf16[s] and f32[s] else None for s in ("pipe", "torch")}
        lines.append(f"bf16 / f32 {row}: pipe {fmt(speedup['pipe'], '.2f')}, PyTorch {fmt(speedup['torch'], '.2f')}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pipe", required=True)
    ap.add_argument("--device", default="torch.cuda", help="pipe's device")
    ap.add_argument("--torch-device", default=None, help="PyTorch's device (default: cuda, or cpu for torch.cpu)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--budget", type=float, default=400, help="seconds; no round starts past half of it")
    ap.add_argument("--run-timeout", type=float, default=100)
    ap.add_argument("--rows", default=",".join(ROWS))
    ap.add_argument("--quick", action="store_true", help="small data for a CPU rehearsal")
    ap.add_argument("--threads", type=int, default=0, help="the peer's torch threads (0: default)")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    a.rows = a.rows.split(",")
    a.torch_device = a.torch_device or ("cpu" if a.device == "torch.cpu" else "cuda")
    begun = time.perf_counter()
    info = environment(a)
    log(json.dumps(info))
    os.makedirs(DATA, exist_ok=True)
    size = 32 if a.quick else 224
    make_mlp_data(20_000 if a.quick else TRAIN_ROWS)
    make_large_data(128 if a.quick else LARGE_IMAGES, size)
    log(f"data ready in {time.perf_counter() - begun:.1f} s")
    results, logs = {}, []
    failures, successes = {"pipe": 0, "torch": 0}, {"pipe": 0, "torch": 0}
    for round_ in range(a.rounds):
        if round_ and time.perf_counter() - begun > a.budget / 2:
            log(f"round {round_ + 1} skipped: {time.perf_counter() - begun:.0f} s of the {a.budget:.0f} s budget spent")
            break
        for row in a.rows:
            for precision in PRECISIONS:
                runs = results.setdefault((row, precision), {"pipe": [], "torch": []})
                order = [("pipe", run_pipe), ("torch", run_peer)]
                for side, fn in order if round_ % 2 == 0 else order[::-1]:
                    if failures[side] >= 2 and not successes[side]:
                        continue  # broken on this machine: the log has why; keep the time for the other side
                    r = fn(a, row, precision, size, logs)
                    failures[side] += not r["ok"]
                    successes[side] += r["ok"]
                    runs[side].append(r)
                    log(f"round {round_ + 1} {row} {precision} {side}: {fmt(statistics.median(r['rate']) if r['rate'] else None)}"
                        f" samples/s, {r['wall']:.1f} s, GPU {fmt(r['gpu_mib'])} MiB, loss {r['loss'][-1:]} acc {r['accuracy']}")
    text = table(results, a) + "\n\n" + "\n".join(gpu_memory_checks(a, size, logs))
    log(f"\n{a.rounds} rounds asked, {a.epochs} epochs a run (the first left out), {time.perf_counter() - begun:.0f} s in all\n")
    log(text)
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        serial = {f"{row}/{p}": v for (row, p), v in results.items()}
        json.dump({"environment": info, "results": serial, "table": text}, open(os.path.join(a.out, "results.json"), "w"), indent=1)
        json.dump(logs, open(os.path.join(a.out, "logs.json"), "w"))


if __name__ == "__main__":
    main()
