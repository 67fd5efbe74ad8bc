#!/usr/bin/env bash
# bench/gpu.sh [PIPE]: the GPU check in one call (issue 20). Runs
# bench/gpu_bench.py -- the MLP, the digits CNN and a widened small_resnet
# on 3x224x224 images, each in f32 and bf16, under `pipe run --device
# torch.cuda` and under PyTorch eager (bench/gpu_peer.py) on the same card,
# alternating -- and prints one table; results.json and the runs' logs go
# to $OUT (the device tool's folder) or bench/out/gpu.
#
# PIPE (default .gpu/pipe, or .gpu/pipe.gz unpacked) is a `pipe` built on
# the development machine against the torch the GPU machine has (torch
# 2.11.0+cu130 there; see bench/README.md, "gpu.sh"); its libtorch comes
# from that machine's python3 torch. Rehearse on a CPU with
#   bench/gpu.sh PIPE --device torch.cpu --quick --threads 2
set -u
cd "$(dirname "$0")/.."
pipe=${1:-.gpu/pipe}
shift || true
if [ ! -x "$pipe" ] && [ -f "$pipe.gz" ]; then
    gzip -dc "$pipe.gz" > "$pipe" && chmod +x "$pipe"
fi
torch_lib=$(python3 -c "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))") || exit 1
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if ldd "$pipe" | grep "not found"; then
    echo "gpu.sh: $pipe lacks the libraries above" >&2
    exit 1
fi
out=${OUT:-bench/out/gpu}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python3 bench/gpu_bench.py --pipe "$pipe" --out "$out" "$@" 2>&1 | tee "$out/bench.log"
status=${PIPESTATUS[0]}
exit "$status"
