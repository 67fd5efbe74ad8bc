#!/usr/bin/env python3
"""gpu_peer.py ROW [--device cuda] [--precision f32|bf16] [--epochs E] [--size S]

The PyTorch eager peer of bench/gpu/ROW.pipe, for bench/gpu_bench.py: the
same network, optimizer, batch and data files (written by gpu_bench.py
into bench/gpu/data/), trained the way a careful PyTorch user would on one
GPU: data held on the host, each batch copied to the device, the digits'
augmentation (flip, rotation, shift: one affine_grid + grid_sample) on the
device, `bf16` as autocast mixed precision, the epoch's loss summed on the
device and read once per epoch.

ROW is `mlp` (200,000 x 89, 256-256 BN dropout, batch 512, 80% trained
on), `digits` (the 16x16 digits CNN, batch 64, stratified 80%) or `large`
(small_resnet widened to 64 channels on 3xSxS images, batch 128).
Prints one JSON line: seconds of each epoch, samples per epoch, peak device
memory (torch.cuda.max_memory_allocated) and held-out accuracy.
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpu", "data")
DIGITS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "digits")
SEED = 42


def images(folder, size, mode):
    """Every image under folder/<label>/, as float32 NCHW in [0, 1], with
    the folder names as integer labels."""
    xs, ys = [], []
    for label in sorted(os.listdir(folder), key=int):
        for name in sorted(os.listdir(os.path.join(folder, label))):
            img = Image.open(os.path.join(folder, label, name)).convert(mode)
            if img.size != (size, size):
                img = img.resize((size, size), Image.BILINEAR)
            a = np.asarray(img, dtype=np.uint8)
            xs.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
            ys.append(int(label))
    x = torch.from_numpy(np.stack(xs)).float().div_(255.0)
    return x, torch.tensor(ys, dtype=torch.long)


def stratified(y, share, seed):
    """Indices of a seeded stratified `share` of y, and of the rest."""
    rng = np.random.default_rng(seed)
    train, rest = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        cut = int(round(len(idx) * share))
        train += list(idx[:cut])
        rest += list(idx[cut:])
    return np.array(train), np.array(rest)


def load(row, size):
    if row == "mlp":
        import pyarrow.parquet as pq

        table = pq.read_table(os.path.join(DATA, "mlp.parquet"))
        y = torch.from_numpy(table.column("label").to_numpy().astype(np.int64))
        x = torch.from_numpy(np.stack([table.column(c).to_numpy() for c in table.column_names if c != "label"], 1))
        perm = np.random.default_rng(SEED).permutation(len(y))
        cut = int(len(y) * 0.8)
        return x[perm[:cut]], y[perm[:cut]], x[perm[cut:]], y[perm[cut:]]
    if row == "digits":
        x, y = images(DIGITS, 16, "L")
        train, rest = stratified(y.numpy(), 0.8, SEED)
        return x[train], y[train], x[rest], y[rest]
    x, y = images(os.path.join(DATA, "large"), size, "RGB")
    return x, y, None, None


class Residual(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.BatchNorm2d(width),
        )

    def forward(self, x):
        return F.relu(x + self.body(x))


def build(row, n_in):
    if row == "mlp":
        return nn.Sequential(
            nn.Linear(n_in, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(256, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, 2),
        )
    if row == "digits":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 8 * 8, 10),
        )
    width = 64
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        Residual(width), Residual(width),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10),
    )


def augment(xb, gen):
    """bench/cnn.pipe's augmentation on the batch's device: flip p=0.5,
    rotation in +-15 degrees, shift in +-1/8 of the side, zero fill."""
    b, dev = xb.shape[0], xb.device
    r = lambda: torch.rand(b, generator=gen, device=dev)  # noqa: E731
    ang = (r() * 2 - 1) * math.radians(15.0)
    tx, ty = (r() * 2 - 1) * 0.25, (r() * 2 - 1) * 0.25
    flip = torch.where(r() < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(ang), torch.sin(ang)
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(xb.shape), align_corners=False)
    return F.grid_sample(xb, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


@torch.no_grad()
def accuracy(model, x, y, dev, autocast):
    if x is None:
        return None
    model.eval()
    right = 0
    for i in range(0, len(y), 4096):
        with autocast():
            right += (model(x[i:i + 4096].to(dev)).argmax(1).cpu() == y[i:i + 4096]).sum().item()
    return right / len(y)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("row", choices=["mlp", "digits", "large"])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--precision", default="f32", choices=["f32", "bf16"])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--size", type=int, default=224, help="the large CNN's image side")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: PyTorch's default)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(SEED)
    dev = torch.device(a.device)
    batch = {"mlp": 512, "digits": 64, "large": 128}[a.row]
    x, y, xt, yt = load(a.row, a.size)
    model = build(a.row, x.shape[1]).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(SEED)
    dev_gen = torch.Generator(device=dev).manual_seed(SEED)

    def autocast():
        return torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.precision == "bf16")

    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    epoch_s, losses = [], []
    for _ in range(a.epochs):
        model.train()
        sync(dev)
        start = time.perf_counter()
        perm = torch.randperm(len(y), generator=gen)
        total = torch.zeros((), device=dev)
        for i in range(0, len(y), batch):
            idx = perm[i:i + batch]
            if len(idx) < 2:
                continue  # batch norm needs two rows
            xb, yb = x[idx].to(dev), y[idx].to(dev)
            if a.row == "digits":
                xb = augment(xb, dev_gen)
            opt.zero_grad(set_to_none=True)
            with autocast():
                loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.detach().float() * len(idx)
        losses.append(total.item() / len(y))
        sync(dev)
        epoch_s.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" else None
    print(json.dumps({
        "epoch_s": epoch_s, "samples": len(y), "loss": losses, "peak_bytes": peak,
        "accuracy": accuracy(model, xt, yt, dev, autocast), "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
