"""Time Assay's distribution metrics against the reference implementations, side by side.

Run by hand from the repository root, after `cargo build --release` (with `--features lapack`
for the FD backend the README recommends for large covariances):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ~/.cache/refenv/bin/python tests/parity/bench_features.py

(The two OPENBLAS variables slow NumPy on these machines; they are unset for this script only.)
Writes 2048-dimensional stats with `assay features stats`, then times the Fréchet distance
from those stats: pytorch-fid (scipy sqrtm), the best NumPy route (Cholesky of sigma1, then
eigvalsh of L^T sigma2 L), and `assay features fd`; PRDC on N x N features (default 10,000 x
10,000 x 2048): the prdc package against `assay features prdc`, each in its own process so that
its peak memory (max RSS) is its own; and stats accumulation throughput from `assay bench
features`. Values are checked to agree before ratios print.
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

ROOT = Path(__file__).resolve().parents[2]
ASSAY = os.environ.get("ASSAY", str(ROOT / "target" / "release" / "assay"))


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def assay(*args):
    p = subprocess.run([ASSAY, *args, "--json", "-q"], capture_output=True, text=True, check=True)
    return json.loads(p.stdout)


def measured(cmd):
    """Run cmd; return (seconds, peak RSS in MiB of that process alone, stdout). GNU time reports
    the peak: a child forked from this Python would count this process's pages until its exec."""
    with tempfile.NamedTemporaryFile() as rss:
        t = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name, *cmd], capture_output=True, text=True,
                           check=True)
        secs = time.perf_counter() - t
        return secs, int(Path(rss.name).read_text().split()[-1]) / 1024, p.stdout


PRDC_SCRIPT = """
import json, sys, numpy as np
from prdc import compute_prdc
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
print(json.dumps({k: float(v) for k, v in compute_prdc(a, b, 5).items()}))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--prdc-rows", type=int, default=10000)
    ap.add_argument("--stats-rows", type=int, default=100000)
    ap.add_argument("--fd-only", action="store_true", help="time only the FD part (one minute, not several)")
    ap.add_argument("--fd-repeat", type=int, default=3, help="runs of each FD route; the best and worst are printed")
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

    def numpy_route(m1, s1, m2, s2):
        L = np.linalg.cholesky(s1)
        ev = np.linalg.eigvalsh(L.T @ s2 @ L)
        return float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(ev, 0, None)).sum())

    def from_files(route):
        """The job `assay features fd` does: FD from the two stats files (Assay also hashes them)."""
        za, zb = np.load(d / "a.npz"), np.load(d / "b.npz")
        return route(za["mu"], za["sigma"], zb["mu"], zb["sigma"])

    def assay_fd():
        return assay("features", "fd", "--real", str(d / "a.npz"), "--fake", str(d / "b.npz"), "--bootstrap", "0")

    # Interleaved repeats: the machine's speed drifts, and each route should see the same drift.
    runs = {"sqrtm": [], "numpy": [], "assay": []}
    for _ in range(args.fd_repeat):
        t, _ = timed(lambda: from_files(calculate_frechet_distance))
        runs["sqrtm"].append(t)
        t, v_np = timed(lambda: from_files(numpy_route))
        runs["numpy"].append(t)
        t, doc = timed(assay_fd)
        runs["assay"].append(t)
    t_mem, _ = timed(lambda: numpy_route(m1, s1, m2, s2))
    v_us = doc["results"][0]["value"]
    assert abs(v_us - v_np) < 1e-6 * abs(v_np), (v_us, v_np)
    span = lambda k: f"{min(runs[k]):.2f}-{max(runs[k]):.2f} s"
    best = lambda k: min(runs[k])
    print(f"FD from two {args.dim}-d stats files, {args.fd_repeat} interleaved runs each "
          f"(assay: the whole process, which also hashes both files; its backend: "
          f"{doc['results'][0]['details'].get('backend')}):\n"
          f"  pytorch-fid sqrtm {span('sqrtm')}, NumPy Cholesky+eigvalsh {span('numpy')} "
          f"(in memory, without reading the files: {t_mem:.2f} s), assay {span('assay')}\n"
          f"  best against best: {best('sqrtm') / best('assay'):.1f}x vs sqrtm, "
          f"{best('numpy') / best('assay'):.2f}x vs NumPy")
    if args.fd_only:
        return

    k = args.prdc_rows
    ra = np.maximum(rng.normal(size=(k, args.dim)), 0).astype(np.float32)
    rb = np.maximum(rng.normal(0.05, 1, size=(k, args.dim)), 0).astype(np.float32)
    np.save(d / "ra.npy", ra)
    np.save(d / "rb.npy", rb)
    del ra, rb
    t_ref, mem_ref, out = measured([sys.executable, "-c", PRDC_SCRIPT, str(d / "ra.npy"), str(d / "rb.npy")])
    ref = json.loads(out.strip().splitlines()[-1])  # prdc prints its set sizes first
    t_us, mem_us, out = measured([ASSAY, "features", "prdc", "--real", str(d / "ra.npy"), "--fake", str(d / "rb.npy"),
                                  "--json", "-q"])
    got = {r["metric"]: r["value"] for r in json.loads(out)["results"]}
    # prdc on float32 input (as users call it) rounds distances to float32 (sklearn), Assay keeps
    # them in float64 (the goldens check exact agreement on float64 input); near-ties may differ.
    assert all(abs(got[m] - ref[m]) < 1e-3 for m in ref), (got, ref)
    print(f"PRDC {k} x {k} x {args.dim} (prdc {ref}, assay {got}): prdc {t_ref:.2f} s / {mem_ref:.0f} MiB peak, "
          f"assay {t_us:.2f} s / {mem_us:.0f} MiB peak -> {t_ref / t_us:.2f}x")

    doc = assay("bench", "features", "--dim", str(args.dim), "--stats-rows", str(args.stats_rows),
                "--prdc-rows", "200")
    st = next(r for r in doc["results"] if r["metric"] == "bench.stats.seconds")
    print(f"stats accumulation {st['n']} x {args.dim} f32: {st['value']:.2f} s, {st['details']['note']}")


if __name__ == "__main__":
    main()
