#!/usr/bin/env python3
"""augment_bench.py [--rounds R]

Augmentation throughput, images/s, batch 128 of 64x64x3 floats in [0, 1]
with every step on: pipe's CPU path (`cargo bench --bench augment`, run
here and timed by itself) against torchvision.transforms.v2 with 2
threads, each image drawn its own parameters (as a Dataset's
__getitem__ does; v2 on a whole batch tensor would draw one set for the
batch). Alternates the two, R rounds each; prints medians and the ratio.

torchvision's steps: RandomHorizontalFlip, RandomAffine (degrees 20,
translate 0.1, scale 0.9-1.1, shear 10, bilinear), ColorJitter (0.2, 0.2,
0.2, 0.05), GaussianNoise (0.05), RandomErasing (a quarter of the side).
pipe's: the same ranges, reflect fill, one bilinear resample for all the
geometric steps.
"""
import argparse
import json
import os
import statistics
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BATCH, BATCHES = 128, 20


def torch_round(transform, images):
    import torch
    start = time.perf_counter()
    for _ in range(BATCHES):
        out = torch.stack([transform(image) for image in images])
    seconds = time.perf_counter() - start
    assert out.shape == images.shape
    return BATCH * BATCHES / seconds


def pipe_round(binary):
    out = subprocess.run([binary, "1"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["images_per_second"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import torch
    from torchvision.transforms import v2
    torch.set_num_threads(2)
    torch.manual_seed(0)
    transform = v2.Compose([
        v2.RandomHorizontalFlip(p=0.5),
        v2.RandomAffine(degrees=20, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=10,
                        interpolation=v2.InterpolationMode.BILINEAR),
        v2.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.05),
        v2.GaussianNoise(sigma=0.05),
        v2.RandomErasing(p=1.0, scale=(0.0625, 0.0625), ratio=(1.0, 1.0)),
    ])
    images = torch.rand(BATCH, 3, 64, 64)
    build = subprocess.run(["cargo", "bench", "--bench", "augment", "--no-run", "--message-format", "json"],
                           cwd=ROOT, capture_output=True, text=True, check=True)
    binary = next(json.loads(l)["executable"] for l in build.stdout.splitlines()
                  if '"executable"' in l and json.loads(l).get("executable") and "augment" in json.loads(l)["executable"])
    pipe_rates, torch_rates = [], []
    torch_round(transform, images[:8])  # warm-up
    for _ in range(args.rounds):
        pipe_rates.append(pipe_round(binary))
        torch_rates.append(torch_round(transform, images))
    p, t = statistics.median(pipe_rates), statistics.median(torch_rates)
    print(f"{args.rounds} alternating rounds of {BATCHES} batches of {BATCH} (64x64x3), medians")
    print(f"pipe (CPU)                 {p:9,.0f} images/s  [{min(pipe_rates):,.0f}-{max(pipe_rates):,.0f}]")
    print(f"torchvision v2, 2 threads  {t:9,.0f} images/s  [{min(torch_rates):,.0f}-{max(torch_rates):,.0f}]")
    print(f"pipe / torchvision         {p / t:.2f}")


if __name__ == "__main__":
    main()
