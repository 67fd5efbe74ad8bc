#!/usr/bin/env python3
"""serve_memory.py RUN_DIR CLIENTS SECONDS PIPE [bad]

`pipe serve`'s resident memory under load, sampled every 10 s: CLIENTS
threads send the same one-row iris request (with `bad`: one lacking a
column) for SECONDS. Growth that continues between samples is what a
leak looks like; see bench/README.md.
"""
import http.client
import json
import subprocess
import sys
import threading
import time

run, clients, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
p = subprocess.Popen([sys.argv[4], "serve", run, "--port", "0"], stderr=subprocess.PIPE, text=True)
for line in p.stderr:
    if "http://" in line:
        addr = line.split("http://")[1].split()[0].rstrip(":"); break
threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
host, port = addr.split(":")
row = {"sepal_length_cm": 5.1, "sepal_width_cm": 3.5, "petal_length_cm": 1.4, "petal_width_cm": 0.2}
if len(sys.argv) > 5: del row["petal_width_cm"]
stop = time.time() + seconds
def client():
    c = http.client.HTTPConnection(host, int(port))
    while time.time() < stop:
        c.request("POST", "/predict", json.dumps([row]), {"Content-Type": "application/json"}); c.getresponse().read()
ts = [threading.Thread(target=client) for _ in range(clients)]
[t.start() for t in ts]
rss = []
while time.time() < stop:
    time.sleep(10)
    rss.append(int([l for l in open(f"/proc/{p.pid}/status") if l.startswith("VmRSS")][0].split()[1]) // 1024)
[t.join() for t in ts]
p.terminate(); p.wait()
print(clients, "clients RSS MB every 10 s:", rss)
