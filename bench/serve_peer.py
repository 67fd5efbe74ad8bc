#!/usr/bin/env python3
"""serve_peer.py torch RUN_DIR WEIGHTS.safetensors PORT
serve_peer.py onnx MODEL.onnx PORT

The minimal Python peers of `pipe serve` for bench/serve_bench.py, behind
the standard library's ThreadingHTTPServer; POST /predict takes JSON rows
and answers {"predictions": [...]}; rows lacking a column get 400.

- torch: the same trained MLP (pipe export's safetensors, read by hand
  with numpy; the layers from the run folder's model.json; the standard
  scaling from its transforms.json) in PyTorch eager. Dense, batch norm,
  ReLU and dropout layers only (the bench's iris MLP).
- onnx: `pipe export -o model.onnx` in onnxruntime (its scaling inside the
  graph), one thread.
"""
import json
import os
import struct
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np


def read_safetensors(path):
    import torch

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
    import torch

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


def torch_predictor(run_dir, weights):
    """rows -> class names, with the MLP in PyTorch eager."""
    import torch

    torch.set_num_threads(1)
    trained = json.load(open(os.path.join(run_dir, "trained.json")))
    features, classes = trained["features"], trained["classes"]
    scale = json.load(open(os.path.join(run_dir, "transforms.json")))[0][1][0]
    center = np.array([scale["center"][scale["columns"].index(f)] for f in features], dtype=np.float32)
    spread = np.array([scale["scale"][scale["columns"].index(f)] for f in features], dtype=np.float32)
    net = build(run_dir, weights)

    def predict(rows):
        x = np.array([[float(row[f]) for f in features] for row in rows], dtype=np.float32)
        with torch.no_grad():
            logits = net(torch.from_numpy((x - center) / spread))
        return [classes[i] for i in logits.argmax(1).tolist()]

    return predict


def onnx_predictor(model):
    """rows -> class names, with the exported graph in onnxruntime."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    inputs = [(i.name, i.type) for i in session.get_inputs()]

    def predict(rows):
        feeds = {}
        for name, kind in inputs:
            if kind == "tensor(string)":
                feeds[name] = np.array([str(row[name]) for row in rows], dtype=object).reshape(-1, 1)
            else:
                feeds[name] = np.array([float(row[name]) for row in rows], dtype=np.float64).reshape(-1, 1)
        return session.run(["prediction"], feeds)[0].tolist()

    return predict


def main():
    if sys.argv[1] == "torch":
        predict, port = torch_predictor(sys.argv[2], sys.argv[3]), int(sys.argv[4])
    else:
        predict, port = onnx_predictor(sys.argv[2]), int(sys.argv[3])

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
                predictions = predict(json.loads(body))
            except (ValueError, KeyError, TypeError) as e:
                return self.reply(400, {"error": str(e)})
            self.reply(200, {"predictions": predictions})

    # The standard library's backlog of 5 resets connections under 32 clients.
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"serving on http://127.0.0.1:{server.server_address[1]}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
