"""Images per second for pool3 features, Assay against pytorch-fid, side by side; and the
full-width network's parity (the tests use a narrowed one).

Run by hand from the repository root, after `cargo build --release`:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ~/.cache/refenv/bin/python tests/parity/bench_images.py [-n 200]

Builds pytorch-fid's network at full width with random weights (seed 0, as the goldens'), writes
N generated 299 x 299 PNGs, then times pytorch-fid's `get_activations` (PyTorch CPU, batch 50)
and `assay image stats` (whole process: decode, resize, network) on the same files, and
compares their pool3 features; then checks that the same weights saved in torch's legacy
(non-zip) format, as pytorch-fid's published file is, load to identical features.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
import image_goldens  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ASSAY = os.environ.get("ASSAY", str(ROOT / "target" / "release" / "assay"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp())
    imgs = tmp / "imgs"
    imgs.mkdir()
    rng = np.random.default_rng(3)
    for i in range(args.n):
        low = rng.integers(0, 255, size=(12, 12, 3)).astype(np.uint8)
        Image.fromarray(low).resize((299, 299), Image.BICUBIC).save(imgs / f"{i:05d}.png")
    files = sorted(imgs.glob("*.png"))

    image_goldens.DIV = 1
    model, sd = image_goldens.build_pytorch_fid_net()
    weights = tmp / "full.safetensors"
    save_file({k: v.contiguous() for k, v in sd.items() if v.is_floating_point()}, weights)

    from pytorch_fid.fid_score import get_activations

    class Last(torch.nn.Module):
        """pytorch-fid's model with only the pool3 output, as its get_activations expects."""
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return [self.m(x)[-1]]

    net = Last(model).eval()
    t = time.perf_counter()
    ref = get_activations([str(f) for f in files], net, batch_size=50, dims=2048, device="cpu", num_workers=0)
    t_ref = time.perf_counter() - t

    saved = tmp / "f.safetensors"
    t = time.perf_counter()
    subprocess.run([ASSAY, "image", "stats", str(imgs), "-o", str(tmp / "s.npz"), "--weights", str(weights),
                    "--save-features", str(saved), "--json", "-q"], check=True, capture_output=True)
    t_us = time.perf_counter() - t
    from safetensors.numpy import load_file
    ours = load_file(saved)["images"].astype(np.float64)
    rel = np.abs(ours - ref).max() / np.abs(ref).max()
    # The same network saved in torch's legacy format (as pytorch-fid's file is) gives the same features.
    legacy = tmp / "full_legacy.pth"
    torch.save(sd, legacy, _use_new_zipfile_serialization=False)
    few = tmp / "few"
    few.mkdir()
    for f in files[:5]:
        (few / f.name).write_bytes(f.read_bytes())
    got = {}
    for name, w in (("safetensors", weights), ("legacy", legacy)):
        out = tmp / f"few_{name}.safetensors"
        subprocess.run([ASSAY, "image", "stats", str(few), "-o", str(tmp / f"few_{name}.npz"), "--weights", str(w),
                        "--save-features", str(out), "--json", "-q"], check=True, capture_output=True)
        got[name] = load_file(out)["images"]
    assert np.array_equal(got["safetensors"], got["legacy"]), "legacy .pth features differ"
    print(f"pool3 of {args.n} images 299x299, {args.threads} threads: pytorch-fid {args.n / t_ref:.2f} images/s "
          f"({t_ref:.1f} s), assay {args.n / t_us:.2f} images/s ({t_us:.1f} s) -> {t_ref / t_us:.2f}x; "
          f"full-width features: max |diff| / max |ref| = {rel:.2e}")


if __name__ == "__main__":
    main()
