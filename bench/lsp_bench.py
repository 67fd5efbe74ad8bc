#!/usr/bin/env python3
"""lsp_bench.py [--edits N] [--pipe target/release/pipe]

`pipe lsp` figures on a 300-line pipeline (bench/gen_pipeline.py) over
stdio, as an editor drives it:
1. didChange -> publishDiagnostics: each edit alternately puts a typo in a
   column name (`agee`, a check error) and takes it out; the time from
   sending the change to receiving its diagnostics. Median, min, max.
2. completion: a request inside `filter(` of the last stage (the columns
   of the frame there) to its answer. Median, min, max.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class Client:
    def __init__(self, pipe):
        self.p = subprocess.Popen([pipe, "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.id = 0

    def send(self, message):
        body = json.dumps(message).encode()
        self.p.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.p.stdin.flush()

    def receive(self):
        length = None
        while True:
            line = self.p.stdout.readline()
            if line in (b"\r\n", b""):
                break
            if line.lower().startswith(b"content-length"):
                length = int(line.split(b":")[1])
        return json.loads(self.p.stdout.read(length))

    def request(self, method, params):
        self.id += 1
        self.send({"jsonrpc": "2.0", "id": self.id, "method": method, "params": params})
        while True:
            message = self.receive()
            if message.get("id") == self.id:
                return message["result"]

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def diagnostics(self):
        while True:
            message = self.receive()
            if message.get("method") == "textDocument/publishDiagnostics":
                return message["params"]["diagnostics"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--edits", type=int, default=40)
    parser.add_argument("--pipe", default=os.path.join(ROOT, "target", "release", "pipe"))
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="pipe-lsp-bench-")
    file = os.path.join(work, "big.pipe")
    source = os.path.join(ROOT, "data", "people.csv")
    subprocess.run([sys.executable, os.path.join(HERE, "gen_pipeline.py"), "300", file, "--source", source],
                   check=True)
    good = open(file).read()
    at = good.rindex("|> filter(age") + len("|> filter(")
    bad = good[:at] + "agee" + good[at + 3:]
    uri = "file://" + file
    client = Client(args.pipe)
    client.request("initialize", {"capabilities": {}})
    client.notify("initialized", {})
    client.notify("textDocument/didOpen",
                  {"textDocument": {"uri": uri, "languageId": "pipe", "version": 1, "text": good}})
    assert client.diagnostics() == [], "the generated file checks clean"

    change_ms = []
    for i in range(args.edits):
        text = bad if i % 2 == 0 else good
        start = time.perf_counter()
        client.notify("textDocument/didChange",
                      {"textDocument": {"uri": uri, "version": i + 2}, "contentChanges": [{"text": text}]})
        found = client.diagnostics()
        change_ms.append((time.perf_counter() - start) * 1000)
        if text is bad:
            assert found and found[0]["code"] == "pipe::check::unknown_column", found

    line = good[:at].count("\n")
    character = at - good[:at].rindex("\n") - 1
    completion_ms = []
    for _ in range(args.edits):
        start = time.perf_counter()
        items = client.request("textDocument/completion",
                               {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}})
        completion_ms.append((time.perf_counter() - start) * 1000)
        assert items[0]["label"] == "age", items[:3]
    client.request("shutdown", None)
    client.notify("exit", None)
    client.p.wait()

    lines = good.count("\n")
    for name, ms in [("didChange -> diagnostics", change_ms), ("completion", completion_ms)]:
        print(f"{name} ({lines}-line file, {len(ms)} times): median {statistics.median(ms):.1f} ms "
              f"[{min(ms):.1f}-{max(ms):.1f}]")


if __name__ == "__main__":
    main()
