"""Writes the fixture of tests/train.rs's weight-import test: a small CNN's
PyTorch weights as safetensors (written by hand here: the format is a JSON
header and raw little-endian data, no package needed), and its eval-mode
logits for the first ten rows of the digits table (pixels / 16).

Run with the torch venv: python make.py [OUT_DIR [DIGITS_CSV]] (defaults:
this folder and ../images/digits.csv); tests/train.rs also runs it into a
scratch folder when the suite runs with the `tch` feature (CI's torch venv).
"""
import csv
import json
import os
import struct
import sys

import torch
from torch import nn

torch.manual_seed(3)
model = nn.Sequential(
    nn.Conv2d(1, 4, 3, padding=1),
    nn.BatchNorm2d(4),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Flatten(),
    nn.Linear(4 * 4 * 4, 10),
)
here = os.path.dirname(os.path.abspath(__file__))
out = sys.argv[1] if len(sys.argv) > 1 else here
table = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "..", "images", "digits.csv")
rows = list(csv.reader(open(table)))[1:]
x = torch.tensor([[float(v) / 16.0 for v in r[:64]] for r in rows[:200]]).reshape(-1, 1, 8, 8)
# Batch statistics that are not the initial ones.
model.train()
with torch.no_grad():
    for i in range(0, 200, 50):
        model(x[i:i + 50])
model.eval()
with torch.no_grad():
    logits = model(x[:10])

# The whole state dict, as safetensors.torch.save_file writes it: batch
# norms' num_batches_tracked is an I64 tensor.
tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
header, blobs, offset = {}, [], 0
for name, t in tensors.items():
    if t.dtype == torch.float32:
        dtype, data = "F32", struct.pack(f"<{t.numel()}f", *t.flatten().tolist())
    else:
        dtype, data = "I64", struct.pack(f"<{t.numel()}q", *t.flatten().tolist())
    header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
    blobs.append(data)
    offset += len(data)
meta = json.dumps(header).encode()
meta += b" " * (-len(meta) % 8)
with open(os.path.join(out, "cnn.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(meta)))
    f.write(meta)
    for b in blobs:
        f.write(b)
json.dump({"rows": 10, "logits": logits.tolist()}, open(os.path.join(out, "expected.json"), "w"))
print(sorted(tensors), logits[0])
