"""Time Assay's distribution metrics against the reference implementations, side by side.

Run by hand from the repository root, after `cargo build --release`:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ~/.cache/refenv/bin/python tests/parity/bench_features.py

(The two OPENBLAS variables slow NumPy on these machines; they are unset for this script only.)
Writes 2048-dimensional stats with `assay features stats`, then times the Fréchet distance
from those stats: pytorch-fid (scipy sqrtm), the best NumPy route (Cholesky of sigma1, then
eigvalsh of L^T sigma2 L), and `assay features fd`; and PRDC on N x N features: the prdc
package against `assay features prdc`. Values are checked to agree before ratios print.
"""
import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
ASSAY = os.environ.get("ASSAY", str(ROOT / "target" / "release" / "assay"))


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def assay(*args):
    p = subprocess.run([ASSAY, *args, "--json", "-q"], capture_output=True, text=True, check=True)
    return json.loads(p.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--prdc-rows", type=int, default=2000)
    args = ap.parse_args()
    d = Path(tempfile.mkdtemp())
    rng = np.random.default_rng(0)
    n = args.dim + 500
    a = np.maximum(rng.normal(size=(n, args.dim)), 0).astype(np.float32)
    b = np.maximum(rng.normal(0.05, 1, size=(n, args.dim)), 0).astype(np.float32)
    np.save(d / "a.npy", a)
    np.save(d / "b.npy", b)
    assay("features", "stats", str(d / "a.npy"), "-o", str(d / "a.npz"))
    assay("features", "stats", str(d / "b.npy"), "-o", str(d / "b.npz"))
    za, zb = np.load(d / "a.npz"), np.load(d / "b.npz")
    m1, s1, m2, s2 = za["mu"], za["sigma"], zb["mu"], zb["sigma"]

    from pytorch_fid.fid_score import calculate_frechet_distance
    t_sqrtm, v_sqrtm = timed(lambda: calculate_frechet_distance(m1, s1, m2, s2))

    def numpy_route():
        L = np.linalg.cholesky(s1)
        ev = np.linalg.eigvalsh(L.T @ s2 @ L)
        return float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(ev, 0, None)).sum())

    t_np, v_np = timed(numpy_route)
    t_us, doc = timed(lambda: assay("features", "fd", "--real", str(d / "a.npz"), "--fake", str(d / "b.npz"), "--bootstrap", "0"))
    v_us = doc["results"][0]["value"]
    assert abs(v_us - v_np) < 1e-6 * abs(v_np), (v_us, v_np, v_sqrtm)
    print(f"FD from {args.dim}-d stats (whole process for assay): pytorch-fid sqrtm {t_sqrtm:.2f} s, "
          f"NumPy Cholesky+eigvalsh {t_np:.2f} s, assay {t_us:.2f} s "
          f"-> {t_sqrtm / t_us:.1f}x vs sqrtm, {t_np / t_us:.2f}x vs NumPy")

    from prdc import compute_prdc
    k = args.prdc_rows
    ra, rb = a[:k], b[:k]
    np.save(d / "ra.npy", ra)
    np.save(d / "rb.npy", rb)
    t_ref, ref = timed(lambda: compute_prdc(ra, rb, 5))
    t_us, doc = timed(lambda: assay("features", "prdc", "--real", str(d / "ra.npy"), "--fake", str(d / "rb.npy")))
    got = {r["metric"]: r["value"] for r in doc["results"]}
    print("prdc:", {k2: float(v) for k2, v in ref.items()}, "assay:", got)
    print(f"PRDC {k} x {k} x {args.dim}: prdc {t_ref:.2f} s, assay {t_us:.2f} s -> {t_ref / t_us:.2f}x")


if __name__ == "__main__":
    main()
