#!/usr/bin/env bash
# The GPU checks of issues [2/7], [3/7] and [4/7] in one device call. Recipe:
#   1. here: tests/gpu/build_cuda.sh            (writes .gpu/gpu_checks.xz: tree + it < 64 MiB)
#   2. run(command="bash tests/gpu/device_checks.sh", carry=[".gpu"], timeout_s=330)
#   3. the figures: gpu_report.md and gpu_report.json among the returned files.
# About 2.5 minutes of device time plus the machine's start (35 s on 2026-11-30); a CPU dry run of the Python part:
#   cargo build --release --example gpu_checks && ~/.cache/refenv/bin/python \
#     tests/gpu/gpu_checks.py --program target/release/examples/gpu_checks --device cpu --quick
set -uo pipefail
OUT=${OUT:-/tmp/gpu_out}
mkdir -p "$OUT"
B=/tmp/gpu_checks
python3 -c "import lzma, shutil; shutil.copyfileobj(lzma.open('.gpu/gpu_checks.xz'), open('$B', 'wb'))" || exit 3
chmod +x "$B"
# The program needs the driver (libcuda.so.1) and cuBLAS/cuRAND (libcublas.so.13, libcurand.so.10):
# the CUDA wheels beside the device's PyTorch hold the latter.
LIBS=$(python3 -c '
import glob, os, nvidia
dirs = {os.path.dirname(p) for r in nvidia.__path__ for p in glob.glob(r + "/**/lib*.so*", recursive=True)}
print(":".join(sorted(dirs)))')
export LD_LIBRARY_PATH="$LIBS:${LD_LIBRARY_PATH:-}"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
# Which CUDA libraries the program resolved, for a run that fails before its first figure.
ldd "$B" > "$OUT/ldd.txt" 2>&1
PYTHONUNBUFFERED=1 python3 tests/gpu/gpu_checks.py --program "$B" --device cuda --out "$OUT" "$@" 2>&1 | tee "$OUT/gpu_checks.log"
