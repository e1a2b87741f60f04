"""Write the distribution-metric goldens that metrics/tests/distribution_parity.rs checks.

Run by hand (never in CI), from the repository root:

    ~/.cache/refenv/bin/python tests/parity/distribution_goldens.py

Feature sets are drawn with numpy from fixed seeds and saved as float32 .npy (both sides then
compute on exactly the same numbers, widened to float64). Reference values come from
pytorch-fid's `calculate_frechet_distance`, torch-fidelity's KID and ISC functions, and
prdc's `compute_prdc`; KID subsets and the ISC permutation are drawn here exactly as
torch-fidelity draws them and saved, so Assay can use the same ones. For the ill-conditioned
Fréchet case the truth is an mpmath computation at 60 digits, and scipy's error is recorded.
"""
import importlib.metadata as md
import json
import platform
from pathlib import Path

import mpmath
import numpy as np
import torch
from pytorch_fid.fid_score import calculate_frechet_distance
from prdc import compute_prdc
from torch_fidelity.metric_isc import isc_features_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric

OUT = Path(__file__).parent / "distribution"


def versions():
    return {k: md.version(k) for k in ["numpy", "scipy", "pytorch-fid", "torch-fidelity", "prdc", "torch", "mpmath"]} | {
        "python": platform.python_version()}


def save(name, x):
    x = np.asarray(x, dtype=np.float32)
    np.save(OUT / f"{name}.npy", x)
    return x.astype(np.float64)


def stats(x):
    return np.mean(x, axis=0), np.cov(x, rowvar=False)


def fd_cases():
    rng = np.random.default_rng(20261129)
    cases = []

    def case(name, a, b, note):
        a, b = save(f"{name}_a", a), save(f"{name}_b", b)
        m1, s1 = stats(a)
        m2, s2 = stats(b)
        cases.append({"name": name, "note": note, "a": f"{name}_a.npy", "b": f"{name}_b.npy",
                      "pytorch_fid": float(calculate_frechet_distance(m1, s1, m2, s2))})

    case("gauss64", rng.normal(size=(1000, 64)), rng.normal(0.1, 1.2, size=(1000, 64)), "Gaussian, well conditioned")
    mix = rng.normal(size=(128, 128)) / 11
    case("correlated128", rng.normal(size=(800, 128)) @ mix, rng.normal(size=(800, 128)) @ (mix + 0.05), "correlated")
    case("heavy128", rng.standard_t(3, size=(600, 128)), rng.standard_t(4, size=(600, 128)) + 0.2, "heavy-tailed")
    case("relu256", np.maximum(rng.normal(size=(1500, 256)), 0), np.maximum(rng.normal(0.05, 1, size=(1500, 256)), 0),
         "non-negative like Inception pool3")
    return cases


def mp_fd(a, b, dps=60):
    """Fréchet distance at high precision through a symmetric eigen-problem."""
    mpmath.mp.dps = dps
    m1, s1 = stats(a)
    m2, s2 = stats(b)
    S1, S2 = mpmath.matrix(s1.tolist()), mpmath.matrix(s2.tolist())
    e, q = mpmath.eigsy(S1)
    root = q * mpmath.diag([mpmath.sqrt(max(v, 0)) for v in e]) * q.T
    m = root * S2 * root
    m = (m + m.T) / 2
    ev, _ = mpmath.eigsy(m)
    tr = sum(mpmath.sqrt(max(v, 0)) for v in ev)
    diff = mpmath.matrix((m1 - m2).tolist())
    val = (diff.T * diff)[0] + sum(S1[i, i] for i in range(S1.rows)) + sum(S2[i, i] for i in range(S2.rows)) - 2 * tr
    return float(val)


def ill_conditioned_cases():
    rng = np.random.default_rng(7)
    out = []
    for name, n, d in [("rankdef_20x32", 20, 32), ("rankdef_12x24", 12, 24)]:
        a = save(f"{name}_a", rng.normal(size=(n, d)))
        b = save(f"{name}_b", rng.normal(0.3, 1, size=(n, d)))
        m1, s1 = stats(a)
        m2, s2 = stats(b)
        out.append({"name": name, "a": f"{name}_a.npy", "b": f"{name}_b.npy",
                    "pytorch_fid": float(calculate_frechet_distance(m1, s1, m2, s2)),
                    "mpmath": mp_fd(a, b)})
    # The same set against itself: the truth is 0.
    a = save("self_a", rng.normal(size=(200, 64)))
    m1, s1 = stats(a)
    out.append({"name": "self", "a": "self_a.npy", "b": "self_a.npy",
                "pytorch_fid": float(calculate_frechet_distance(m1, s1, m1, s1)), "mpmath": 0.0})
    return out


def kid_case():
    rng = np.random.default_rng(11)
    a = save("kid_a", rng.normal(size=(300, 48)))
    b = save("kid_b", rng.normal(0.1, 1.1, size=(280, 48)))
    subsets, size, seed = 10, 100, 2020
    # The indices torch-fidelity draws: one RandomState, a then b, subset after subset.
    r = np.random.RandomState(seed)
    idx = [(r.choice(len(a), size, replace=False).tolist(), r.choice(len(b), size, replace=False).tolist())
           for _ in range(subsets)]
    res = kid_features_to_metric(torch.from_numpy(a), torch.from_numpy(b), kid_subsets=subsets,
                                 kid_subset_size=size, rng_seed=seed, verbose=False)
    return {"a": "kid_a.npy", "b": "kid_b.npy", "subsets": idx, "mean": res["kernel_inception_distance_mean"],
            "std": res["kernel_inception_distance_std"]}


def isc_case():
    rng = np.random.default_rng(12)
    logits = save("isc_logits", rng.normal(0, 3, size=(500, 20)))
    seed = 2020
    perm = np.random.RandomState(seed).permutation(len(logits)).tolist()
    res = isc_features_to_metric(torch.from_numpy(logits), splits=10, shuffle=True, rng_seed=seed)
    return {"logits": "isc_logits.npy", "splits": 10, "permutation": perm,
            "mean": res["inception_score_mean"], "std": res["inception_score_std"]}


def prdc_cases():
    rng = np.random.default_rng(13)
    out = []
    for name, n_r, n_f, d, k in [("prdc32", 400, 350, 32, 5), ("prdc8_k3", 300, 300, 8, 3)]:
        a = save(f"{name}_real", rng.normal(size=(n_r, d)))
        b = save(f"{name}_fake", rng.normal(0.2, 1.1, size=(n_f, d)))
        res = compute_prdc(a, b, k)
        out.append({"name": name, "real": f"{name}_real.npy", "fake": f"{name}_fake.npy", "k": k,
                    **{key: float(v) for key, v in res.items()}})
    return out


def hashed(seed, rows, dim, shape):
    """Features too large to commit, regenerated bit for bit on the Rust side: uniform float32
    values from splitmix64(seed * 2^40 + index), top 24 bits (exact in float32). `shape`
    "fake" maps u to max(1.1 u - 0.05, 0) in float32 arithmetic (exactly rounded on both sides)."""
    idx = np.arange(rows * dim, dtype=np.uint64) + np.uint64(seed) * np.uint64(1 << 40)
    with np.errstate(over="ignore"):
        z = idx + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -24)
    if shape == "fake":
        u = np.maximum(u * np.float32(1.1) - np.float32(0.05), np.float32(0))
    return u.reshape(rows, dim).astype(np.float64)


def large_cases():
    """FD, PRDC and KID at the sizes the product is used at: 2048 dimensions, up to 20,000 rows."""
    out = {"frechet": [], "prdc": [], "kid": []}
    for seed, n, d in [(1, 2600, 2048), (3, 20000, 64)]:
        a, b = hashed(seed, n, d, "real"), hashed(seed + 1, n, d, "fake")
        m1, s1 = stats(a)
        m2, s2 = stats(b)
        out["frechet"].append({"a": [seed, n, d, "real"], "b": [seed + 1, n, d, "fake"],
                               "pytorch_fid": float(calculate_frechet_distance(m1, s1, m2, s2))})
    # In 2048-d the shifted "fake" shape is separated from "real" (all four values 0 or 1), so
    # that case compares two samples of one distribution instead.
    for seed, nr, nf, d, k, shape in [(5, 1500, 1400, 2048, 5, "real"), (7, 6000, 6000, 16, 5, "fake")]:
        a, b = hashed(seed, nr, d, "real"), hashed(seed + 1, nf, d, shape)
        res = compute_prdc(a, b, k)
        out["prdc"].append({"real": [seed, nr, d, "real"], "fake": [seed + 1, nf, d, shape], "k": k,
                            **{key: float(v) for key, v in res.items()}})
    a, b = hashed(9, 1200, 2048, "real"), hashed(10, 1100, 2048, "fake")
    subsets, size, seed = 5, 1000, 2020
    r = np.random.RandomState(seed)
    idx = [(r.choice(len(a), size, replace=False).tolist(), r.choice(len(b), size, replace=False).tolist())
           for _ in range(subsets)]
    res = kid_features_to_metric(torch.from_numpy(a), torch.from_numpy(b), kid_subsets=subsets,
                                 kid_subset_size=size, rng_seed=seed, verbose=False)
    out["kid"].append({"real": [9, 1200, 2048, "real"], "fake": [10, 1100, 2048, "fake"], "subsets": idx,
                       "mean": res["kernel_inception_distance_mean"], "std": res["kernel_inception_distance_std"]})
    return out


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    doc = {"reference": versions(), "frechet": fd_cases(), "frechet_ill_conditioned": ill_conditioned_cases(),
           "kid": kid_case(), "isc": isc_case(), "prdc": prdc_cases(), "large": large_cases()}
    with open(OUT / "goldens.json", "w") as f:
        json.dump(doc, f, indent=1)
    print("wrote", OUT / "goldens.json")


if __name__ == "__main__":
    main()
