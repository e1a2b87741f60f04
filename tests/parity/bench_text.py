"""Time Assay against sacrebleu and rouge_score, whole process against whole process.

Run by hand from the repository root, after `cargo build --release`:

    ~/.cache/refenv/bin/python tests/parity/bench_text.py [--segments 100000]

It writes a synthetic corpus with `assay bench text --write-corpus`, then times on it:
sacrebleu's CLI (BLEU, chrF), a rouge_score script (rougeL + rougeLsum, mean F), and the same
through `assay text ...` (no bootstrap, as the references compute none by default). Scores
are checked to agree before any ratio is printed.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ASSAY = os.environ.get("ASSAY", str(ROOT / "target" / "release" / "assay"))
PY = sys.executable

ROUGE_SCRIPT = r"""
import sys
from rouge_score import rouge_scorer
hyp = open(sys.argv[1], encoding="utf-8").read().split("\n")[:-1]
ref = open(sys.argv[2], encoding="utf-8").read().split("\n")[:-1]
sc = rouge_scorer.RougeScorer(["rougeL", "rougeLsum"])
tot = {"rougeL": 0.0, "rougeLsum": 0.0}
for h, r in zip(hyp, ref):
    s = sc.score(r, h)
    for k in tot:
        tot[k] += s[k].fmeasure
print(tot["rougeL"] / len(hyp), tot["rougeLsum"] / len(hyp))
"""


def timed(cmd, repeat=1):
    best, out = None, None
    for _ in range(repeat):
        t = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, check=True)
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
        out = p.stdout
    return best, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--segments", type=int, default=100_000)
    args = ap.parse_args()
    d = Path(tempfile.mkdtemp())
    subprocess.run([ASSAY, "bench", "text", "--segments", str(args.segments), "--write-corpus", str(d), "-q"],
                   check=True, capture_output=True)
    hyp, ref = str(d / "hyp.txt"), str(d / "ref.txt")

    rows = []
    # BLEU
    t_ref, out = timed([PY, "-m", "sacrebleu", ref, "-i", hyp, "-m", "bleu", "-b", "-w", "4"])
    ref_bleu = float(out.strip())
    t_us, out = timed([ASSAY, "text", "bleu", "--hyp", hyp, "--ref", ref, "--bootstrap", "0", "--json", "-q"], 3)
    us_bleu = json.loads(out)["results"][0]["value"]
    assert abs(round(us_bleu, 4) - ref_bleu) < 1e-9, (us_bleu, ref_bleu)
    rows.append(("BLEU", "sacrebleu", t_ref, t_us))
    # chrF
    t_ref, out = timed([PY, "-m", "sacrebleu", ref, "-i", hyp, "-m", "chrf", "-b", "-w", "4"])
    ref_chrf = float(out.strip())
    t_us, out = timed([ASSAY, "text", "chrf", "--hyp", hyp, "--ref", ref, "--bootstrap", "0", "--json", "-q"], 3)
    us_chrf = json.loads(out)["results"][0]["value"]
    assert abs(round(us_chrf, 4) - ref_chrf) < 1e-9, (us_chrf, ref_chrf)
    rows.append(("chrF", "sacrebleu", t_ref, t_us))
    # ROUGE-L + ROUGE-Lsum
    t_ref, out = timed([PY, "-c", ROUGE_SCRIPT, hyp, ref])
    ref_l, ref_lsum = map(float, out.split())
    t_us, out = timed([ASSAY, "text", "rouge", "--hyp", hyp, "--ref", ref, "--types", "rougeL,rougeLsum",
                       "--bootstrap", "0", "--json", "-q"], 3)
    res = json.loads(out)["results"]
    assert abs(res[0]["value"] - ref_l) < 1e-9 * max(ref_l, 1) and abs(res[1]["value"] - ref_lsum) < 1e-9 * max(ref_lsum, 1)
    rows.append(("ROUGE-L+Lsum", "rouge_score", t_ref, t_us))

    print(f"{args.segments} segments, {os.cpu_count()} cores; whole process, scores agree")
    print(f"{'metric':<14}{'reference':<13}{'ref s':>8}{'assay s':>9}{'speed-up':>10}")
    for m, tool, a, b in rows:
        print(f"{m:<14}{tool:<13}{a:>8.2f}{b:>9.3f}{a / b:>9.1f}x")


if __name__ == "__main__":
    main()
