"""Goldens for the green-list text watermark (Kirchenbauer et al. 2023).

Writes tests/parity/watermark/green_list.json: torch.randperm outputs for several seeds and
sizes (the green lists of the reference code, jwkirchenbauer/lm-watermarking,
`watermark_processor.py`, seeding scheme simple_1: generator seeded with hash_key * prev_token,
green list = randperm(V)[:int(gamma * V)]), and the reference detector's counts and z-scores on
a few token sequences, computed here with torch exactly as that code does.

Run by hand: ~/.cache/refenv/bin/python tests/parity/watermark_text_goldens.py
"""
import json
import math
import os

import torch

HASH_KEY = 15485863
OUT = os.path.join(os.path.dirname(__file__), "watermark", "green_list.json")


def greenlist(prev, vocab, gamma, key):
    g = torch.Generator(device="cpu")
    g.manual_seed(key * prev)
    perm = torch.randperm(vocab, device="cpu", generator=g)
    return perm[: int(vocab * gamma)].tolist()


def score(ids, vocab, gamma, key):
    # WatermarkDetector._score_sequence without ignore_repeated_bigrams: every token after the
    # first (min_prefix_len 1) judged by its predecessor.
    green = sum(1 for i in range(1, len(ids)) if ids[i] in greenlist(ids[i - 1], vocab, gamma, key))
    t = len(ids) - 1
    z = (green - gamma * t) / math.sqrt(t * gamma * (1 - gamma))
    return {"green": green, "scored": t, "z": z}


def main():
    perms = []
    for seed, n in [(HASH_KEY * 7, 10), (HASH_KEY * 50000, 217), (HASH_KEY * 3, 50257), (1, 2), (2**40 + 5, 1000)]:
        g = torch.Generator(device="cpu")
        g.manual_seed(seed)
        perm = torch.randperm(n, generator=g).tolist()
        # Large permutations: their ends only (the file stays small; any slip shows in both).
        entry = {"seed": seed, "n": n}
        if n > 1000:
            entry.update(head=perm[:300], tail=perm[-300:])
        else:
            entry["perm"] = perm
        perms.append(entry)
    scores = []
    gen = torch.Generator().manual_seed(0)
    for vocab, gamma, key, length in [(217, 0.25, HASH_KEY, 60), (50257, 0.5, HASH_KEY, 40), (1000, 0.25, 12345, 80)]:
        ids = torch.randint(0, vocab, (length,), generator=gen).tolist()
        scores.append({"vocab": vocab, "gamma": gamma, "key": key, "ids": ids,
                       "green_after_first": greenlist(ids[0], vocab, gamma, key)[:20],
                       **score(ids, vocab, gamma, key)})
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"torch_version": torch.__version__, "reference": "jwkirchenbauer/lm-watermarking simple_1",
                   "randperm": perms, "scores": scores}, f)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
