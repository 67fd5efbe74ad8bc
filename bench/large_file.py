#!/usr/bin/env python3
"""`pipe check`, `pipe fmt` and `pipe lsp` on large files: time and peak
memory for 0.25, 1 and 5 MB of pipeline (source, stage and output items
over data/people.csv), and how long the language server takes to answer a
hover while it checks a 5 MB document after an edit.

usage: large_file.py PIPE_BINARY [--runs N]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import queue
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.abspath(os.path.join(HERE, "..", "data", "people.csv"))


def pipeline(size):
    """About `size` bytes of valid pipeline."""
    parts, n, total = [], 0, 0
    while total < size:
        part = (
            f'source people{n} = csv("{DATA}")\n'
            f"stage clean{n} = people{n} |> drop_nulls(income) |> filter(age >= {n % 90})\n"
            f'output out{n} = clean{n} |> select(age, income) |> write("out/o{n}.csv")\n\n'
        )
        parts.append(part)
        total += len(part)
        n += 1
    return "".join(parts)


def timed(cmd):
    """Wall seconds and the peak memory (MB) of one run of `cmd`."""
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        sys.exit(f"{cmd} exited with {code}")
    return seconds, usage.ru_maxrss / 1024


class Lsp:
    """A minimal client over stdio."""

    def __init__(self, binary):
        self.proc = subprocess.Popen([binary, "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.messages = queue.Queue()
        threading.Thread(target=self.read, daemon=True).start()
        self.next_id = 0
        first = self.request("initialize", {"capabilities": {}})
        self.wait(lambda m: m.get("id") == first)
        self.notify("initialized", {})

    def read(self):
        out = self.proc.stdout
        while True:
            header = b""
            while not header.endswith(b"\r\n\r\n"):
                byte = out.read(1)
                if not byte:
                    return
                header += byte
            length = int(header.split(b"Content-Length:")[1].split(b"\r\n")[0])
            self.messages.put((time.perf_counter(), json.loads(out.read(length))))

    def send(self, message):
        body = json.dumps(message).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method, params):
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        return self.next_id

    def wait(self, predicate):
        while True:
            at, message = self.messages.get(timeout=600)
            if predicate(message):
                return at, message


def lsp_round(binary, path, text):
    """Seconds from a didChange of the whole document to the hover's answer
    and to its diagnostics."""
    client = Lsp(binary)
    uri = "file://" + path
    doc = {"uri": uri, "languageId": "pipe", "version": 1, "text": text}
    client.notify("textDocument/didOpen", {"textDocument": doc})
    client.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics")
    edited = text.replace("filter(age >= 1)", "filter(age >= 2)", 1)
    start = time.perf_counter()
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": edited}]})
    hover = client.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 1, "character": 7}})
    answered, _ = client.wait(lambda m: m.get("id") == hover)
    published, _ = client.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics")
    client.request("shutdown", None)
    client.notify("exit", None)
    client.proc.wait()
    return answered - start, published - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("pipe")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for label, size in [("0.25 MB", 1 << 18), ("1 MB", 1 << 20), ("5 MB", 5 << 20)]:
            path = os.path.join(tmp, f"large-{size}.pipe")
            text = pipeline(size)
            with open(path, "w") as f:
                f.write(text)
            checks = [timed([args.pipe, "check", path]) for _ in range(args.runs)]
            formats = []
            for _ in range(args.runs):
                shutil.copy(path, path + ".fmt.pipe")
                formats.append(timed([args.pipe, "fmt", path + ".fmt.pipe"]))
            print(
                f"{label:>8}: check {statistics.median(c[0] for c in checks):6.2f} s, peak {max(c[1] for c in checks):6.0f} MB;"
                f"  fmt {statistics.median(f[0] for f in formats):6.2f} s, peak {max(f[1] for f in formats):6.0f} MB"
            )
            if size == 5 << 20:
                rounds = [lsp_round(args.pipe, path, text) for _ in range(args.runs)]
                print(
                    f"{label:>8}: lsp hover after an edit {statistics.median(r[0] for r in rounds):.2f} s,"
                    f" diagnostics {statistics.median(r[1] for r in rounds):.2f} s (medians of {args.runs})"
                )


if __name__ == "__main__":
    main()
