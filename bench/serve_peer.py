#!/usr/bin/env python3
"""serve_peer.py RUN_DIR WEIGHTS.safetensors PORT

The minimal Python peer of `pipe serve` for bench/serve_bench.py: the same
trained MLP (pipe export's safetensors, read by hand with numpy; the layers
from the run folder's model.json; the standard scaling from its
transforms.json) in PyTorch eager, behind the standard library's
ThreadingHTTPServer. POST /predict takes JSON rows and answers
{"predictions": [...]}; rows lacking a column get 400. Dense, batch norm,
ReLU and dropout layers only (the bench's iris MLP).
"""
import json
import os
import struct
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import torch

torch.set_num_threads(1)


def read_safetensors(path):
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        array = np.frombuffer(data[start:end], dtype=np.float32).reshape(info["shape"])
        out[name] = torch.from_numpy(array.copy())
    return out


def build(run_dir, weights):
    model = json.load(open(os.path.join(run_dir, "model.json")))
    layers = []
    for layer in model["layers"]:
        kind = layer["kind"]
        if isinstance(kind, dict) and "Dense" in kind:
            layers.append(torch.nn.Linear(layer["input"]["Flat"], kind["Dense"]["units"]))
        elif kind == "BatchNorm":
            layers.append(torch.nn.BatchNorm1d(layer["input"]["Flat"]))
        elif kind == {"Activation": "Relu"}:
            layers.append(torch.nn.ReLU())
        elif isinstance(kind, dict) and "Dropout" in kind:
            layers.append(torch.nn.Dropout(kind["Dropout"]))
        else:
            sys.exit(f"the peer has no layer {kind}")
    net = torch.nn.Sequential(*layers)
    net.load_state_dict(read_safetensors(weights), strict=False)
    return net.eval()


def main():
    run_dir, weights, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    trained = json.load(open(os.path.join(run_dir, "trained.json")))
    features, classes = trained["features"], trained["classes"]
    scale = json.load(open(os.path.join(run_dir, "transforms.json")))[0][1][0]
    center = np.array([scale["center"][scale["columns"].index(f)] for f in features], dtype=np.float32)
    spread = np.array([scale["scale"][scale["columns"].index(f)] for f in features], dtype=np.float32)
    net = build(run_dir, weights)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without this, Nagle's
        # algorithm and delayed ACKs add 40 ms to every keep-alive request.
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                rows = json.loads(body)
                x = np.array([[float(row[f]) for f in features] for row in rows], dtype=np.float32)
            except (ValueError, KeyError, TypeError) as e:
                return self.reply(400, {"error": str(e)})
            with torch.no_grad():
                logits = net(torch.from_numpy((x - center) / spread))
            self.reply(200, {"predictions": [classes[i] for i in logits.argmax(1).tolist()]})

    # The standard library's backlog of 5 resets connections under 32 clients.
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"serving on http://127.0.0.1:{server.server_address[1]}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
