#!/usr/bin/env python3
"""serve_bench.py [--pipe PATH] [--python PY] [--onnx-python PY] [--seconds S] [--clients C] [--rounds R]

`pipe serve` against minimal Python peers (bench/serve_peer.py, behind
ThreadingHTTPServer: the exported ONNX graph in onnxruntime, and the same
MLP's safetensors in PyTorch), on loopback only. Trains
pipelines/iris.pipe once, exports it (`pipe export -o iris.onnx` and
`-o iris.safetensors`), then alternates the servers, R rounds: C client
threads with keep-alive connections send one-row JSON requests for S
seconds, one in 20 without a column (must get 400), the rest checked
against the class `pipe predict` gives that row. Prints requests/s, p50 and
p99 latency, unexpected answers, 400s, and the server's resident memory
after a warm-up and at the end.
"""
import argparse
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd):
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if "http://" in line:
            address = line.split("http://")[1].split()[0].rstrip(":")
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, address
    sys.exit(f"{cmd[0]} did not start")


def load(address, rows, expected, seconds, clients):
    host, port = address.split(":")
    latencies, unexpected, refused = [], [0], [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(seed):
        rng = random.Random(seed)
        conn = http.client.HTTPConnection(host, int(port))
        mine, wrong, bad = [], 0, 0
        while time.perf_counter() < deadline:
            try:
                done = one(conn, rng, mine)
            except (ConnectionError, http.client.HTTPException):
                # A connection the server dropped: an error, and a new one.
                wrong += 1
                conn.close()
                conn = http.client.HTTPConnection(host, int(port))
                continue
            wrong += done[0]
            bad += done[1]
        with lock:
            latencies.extend(mine)
            unexpected[0] += wrong
            refused[0] += bad

    def one(conn, rng, mine):
        """One request: (unexpected answers, 400s) of it."""
        wrong, bad = 0, 0
        i = rng.randrange(len(rows))
        row = dict(rows[i])
        broken = rng.random() < 0.05
        if broken:
            del row["petal_width_cm"]
        body = json.dumps([row])
        t = time.perf_counter()
        conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        answer = response.read()
        mine.append(time.perf_counter() - t)
        if broken:
            bad += response.status == 400
            wrong += response.status != 400
        elif response.status != 200 or json.loads(answer)["predictions"] != [expected[i]]:
            wrong += 1
        return wrong, bad

    threads = [threading.Thread(target=client, args=(s,)) for s in range(clients)]
    start_time = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start_time
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
        "requests": len(latencies),
        "unexpected": unexpected[0],
        "refused_400": refused[0],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pipe", default=os.path.join(ROOT, "target", "release", "pipe"))
    ap.add_argument("--python", default=sys.executable, help="a Python with torch and numpy")
    ap.add_argument("--onnx-python", default=sys.executable, help="a Python with onnxruntime and numpy")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="serve_bench_")
    text = open(os.path.join(ROOT, "pipelines", "iris.pipe")).read().replace('"../data/', f'"{ROOT}/data/')
    open(os.path.join(work, "iris.pipe"), "w").write(text)
    subprocess.run([args.pipe, "run", "--no-cache", "iris.pipe"], cwd=work, check=True, capture_output=True)
    runs = os.path.join(work, "runs", "species")
    run = os.path.join(runs, sorted(os.listdir(runs))[-1])
    weights = os.path.join(work, "iris.safetensors")
    subprocess.run([args.pipe, "export", run, "-o", weights], check=True, capture_output=True)
    graph = os.path.join(work, "iris.onnx")
    subprocess.run([args.pipe, "export", run, "-o", graph], check=True, capture_output=True)
    lines = open(os.path.join(ROOT, "data", "iris.csv")).read().split()
    header = lines[0].split(",")[:4]
    rows = [dict(zip(header, map(float, l.split(",")[:4]))) for l in lines[1:]]
    csv = os.path.join(work, "rows.csv")
    open(csv, "w").write("\n".join([",".join(header)] + [",".join(l.split(",")[:4]) for l in lines[1:]]) + "\n")
    out = os.path.join(work, "predicted.csv")
    subprocess.run([args.pipe, "predict", run, csv, "-o", out], check=True, capture_output=True)
    expected = [l.split(",")[-1] for l in open(out).read().split()[1:]]
    servers = {
        "pipe serve": lambda: start([args.pipe, "serve", run, "--port", "0"]),
        "onnxruntime peer": lambda: start(
            [args.onnx_python, os.path.join(HERE, "serve_peer.py"), "onnx", graph, str(free_port())]),
        "torch peer": lambda: start(
            [args.python, os.path.join(HERE, "serve_peer.py"), "torch", run, weights, str(free_port())]),
    }
    results = {name: [] for name in servers}
    for r in range(args.rounds):
        for name, launch in servers.items():
            proc, address = launch()
            load(address, rows, expected, 1.0, 4)  # warm-up
            samples = []
            sampling = threading.Event()

            def sample():
                while not sampling.wait(1.0):
                    samples.append(rss_mb(proc.pid))

            sampler = threading.Thread(target=sample)
            sampler.start()
            figures = load(address, rows, expected, args.seconds, args.clients)
            sampling.set()
            sampler.join()
            # Resident memory after the first second under load, at half
            # time and at the end: growth would show between the last two.
            figures["rss_1s_mb"], figures["rss_half_mb"], figures["rss_end_mb"] = (
                samples[0], samples[len(samples) // 2], samples[-1])
            proc.send_signal(signal.SIGTERM)
            figures["exit"] = proc.wait(timeout=60)
            results[name].append(figures)
            print(f"round {r + 1} {name}: " + json.dumps({k: round(v, 2) for k, v in figures.items()}), flush=True)
    for name, rounds in results.items():
        med = lambda key: statistics.median(f[key] for f in rounds)
        print(f"{name}: {med('rps'):.0f} requests/s, p50 {med('p50_ms'):.2f} ms, p99 {med('p99_ms'):.2f} ms, "
              f"unexpected {sum(f['unexpected'] for f in rounds)}, 400s {sum(f['refused_400'] for f in rounds)}, "
              f"memory at 1 s / half time / end {rounds[-1]['rss_1s_mb']:.0f} / {rounds[-1]['rss_half_mb']:.0f} / "
              f"{rounds[-1]['rss_end_mb']:.0f} MB")
    for peer in ("onnxruntime peer", "torch peer"):
        ratio = statistics.median(f["rps"] for f in results["pipe serve"]) / statistics.median(
            f["rps"] for f in results[peer])
        print(f"pipe serve / {peer} requests per second: {ratio:.2f}x")


if __name__ == "__main__":
    main()
