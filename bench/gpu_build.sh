#!/usr/bin/env bash
# bench/gpu_build.sh: builds, on the development machine, the `pipe` that
# bench/gpu.sh runs on a GPU machine, and packs it as .gpu/pipe.gz (ignored
# through .git/info/exclude) for the device tool's `carry`.
#
# The GPU machine's image has torch 2.11.0+cu130 and no Rust, so the binary
# links against PyPI's torch==2.11.0 (the same +cu130 build) in a venv of
# its own, with tch's version check bypassed (tch 0.22 expects 2.9.0; its
# wrapper compiles against 2.11's headers). The dev profile with pipe's own
# code at opt-level 3 (dependencies are at 2 already) reuses a copy of the
# CI target folder: about 4 minutes instead of a cold release build's 35.
set -eu
cd "$(dirname "$0")/.."
venv=${PIPE_GPU_VENV:-$HOME/.cache/pipe-gpu-torch}
target=${PIPE_GPU_TARGET:-$HOME/.cache/pipe-gpu-target}
# cuda-toolkit[crt]: the `crt/` headers that CUDA's runtime headers include,
# for build.rs's src/train/gpu_memory.cpp (`gpu_memory: limit(...)`).
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q torch==2.11.0 "cuda-toolkit[crt]==13.0.2" numpy pyarrow pillow
fi
if [ ! -d "$target" ] && [ -d "$HOME/.cache/pipe-ci-target" ]; then
    cp -a "$HOME/.cache/pipe-ci-target" "$target"
fi
VIRTUAL_ENV=$venv PATH="$venv/bin:$PATH" CARGO_TARGET_DIR=$target \
    LIBTORCH_USE_PYTORCH=1 LIBTORCH_BYPASS_VERSION_CHECK=1 CARGO_PROFILE_DEV_OPT_LEVEL=3 \
    cargo build --features tch --bin pipe
mkdir -p .gpu .git/info
grep -qx "/.gpu/" .git/info/exclude 2>/dev/null || echo "/.gpu/" >> .git/info/exclude
cp "$target/debug/pipe" .gpu/pipe
strip .gpu/pipe
gzip -f .gpu/pipe
ls -l .gpu/pipe.gz
