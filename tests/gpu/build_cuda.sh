#!/usr/bin/env bash
# Builds the CUDA build of the gpu_checks program (tests/gpu/gpu_checks.rs) that
# tests/gpu/device_checks.sh runs on a lent GPU machine, as .gpu/gpu_checks.xz (ignored by git;
# the device call carries it: that machine has no Rust and no network). Run here, from anywhere
# in the clone; about 25 minutes on 2 cores from empty.
#
# nvcc comes from PyPI at CUDA 13.0, the version of the device machines' driver (580.x):
# candle's kernels ship as PTX that the driver compiles at load time, and PTX from a newer nvcc
# is refused by an older driver. cuBLAS and friends are not linked: cudarc loads them at run
# time from the device's CUDA wheels (see device_checks.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${NVCC_VENV:-$HOME/.cache/assay-nvcc-13.0}
if [ ! -x "$VENV/bin/pip" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q nvidia-cuda-nvcc==13.0.88 'nvidia-cuda-runtime==13.0.*' \
    'nvidia-cuda-cccl==13.0.*' 'nvidia-nvvm==13.0.*' 'nvidia-cuda-crt==13.0.*'
fi
C=$(echo "$VENV"/lib/python3*/site-packages/nvidia/cu13)
# candle links libcuda, cuBLAS, cuRAND, NVRTC and cuDNN; the link needs only their names (see
# link_stubs.py), the real ones are the device's. libcudart is the wheel's own.
CUDARC=$(cargo metadata --format-version 1 --locked --features cuda,cudnn |
  python3 -c 'import json, sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"] == "cudarc").rsplit("/", 1)[0])')
python3 tests/gpu/link_stubs.py "$CUDARC/src" "$C/lib"
ln -sf libcudart.so.13 "$C/lib/libcudart.so"
export CARGO_TARGET_DIR=${CUDA_TARGET_DIR:-$HOME/.cache/assay-cuda-target}
# CUDA_COMPUTE_CAP 90: Hopper (H100, H200).
PATH="$C/bin:$PATH" CUDA_ROOT="$C" CUDA_COMPUTE_CAP=90 CUDARC_CUDA_VERSION=13000 \
  cargo build --release --locked --features "${FEATURES:-cuda,cudnn}" --example gpu_checks
mkdir -p .gpu
strip -o .gpu/gpu_checks "$CARGO_TARGET_DIR/release/examples/gpu_checks"
xz -T2 -6 -f .gpu/gpu_checks
ls -l .gpu/gpu_checks.xz
