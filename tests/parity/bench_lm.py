"""Tokens per second scored by a causal LM on the CPU, Assay against transformers, side by side.

Run by hand from the repository root, after `cargo build --release`:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ~/.cache/refenv/bin/python tests/parity/bench_lm.py [-n 32]

Builds a random GPT-2 (6 layers, width 512, 8 heads, 8,000-token vocabulary, context 1024; the
size issue [4/7] names) with the byte-level tokenizer of tests/parity/lm/gpt2, writes N texts of
exactly 512 tokens (BOS included), then times transformers (PyTorch CPU, batches of 8 x 512:
forward, log-softmax, gather of each token's log-prob) and `assay text perplexity`
(whole process: load, tokenize, score, --batch-size 8 --max-length 512) on the same texts, and
compares their perplexities.
"""
import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import torch
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

ROOT = Path(__file__).resolve().parents[2]
ASSAY = os.environ.get("ASSAY", str(ROOT / "target" / "release" / "assay"))
TOKENIZER = ROOT / "tests" / "parity" / "lm" / "gpt2"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=32)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--keep", action="store_true", help="keep the model and texts (printed)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp())
    model_dir = tmp / "gpt2-6x512"
    model_dir.mkdir()
    tok = PreTrainedTokenizerFast.from_pretrained(TOKENIZER)
    tok.save_pretrained(model_dir)
    config = GPT2Config(vocab_size=8000, n_positions=1024, n_embd=512, n_layer=6, n_head=8,
                        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(config).eval()
    model.save_pretrained(model_dir)

    words = ["the", "cat", "dog", "sat", "on", "mat", "and", "a", "word", "bird", "fish", "model",
             "reads", "sentence", "again", "quick", "brown", "fox", "lazy", "numbers", "line"]
    texts, seqs = [], []
    for i in range(args.n):
        ws = [words[(i * 13 + j * 7 + j * j) % len(words)] for j in range(600)]
        while len(tok(" ".join(ws), add_special_tokens=False)["input_ids"]) > 511:
            ws.pop()
        text = " ".join(ws)
        ids = [tok.bos_token_id] + tok(text, add_special_tokens=False)["input_ids"]
        texts.append(text)
        seqs.append(ids)
    (tmp / "texts.txt").write_text("\n".join(texts) + "\n")
    scored = sum(len(s) - 1 for s in seqs)

    # transformers: batches of 8, right-padded to the longest, masked.
    t0 = time.perf_counter()
    nll, count = 0.0, 0
    with torch.no_grad():
        for b in range(0, len(seqs), 8):
            batch = seqs[b:b + 8]
            L = max(len(s) for s in batch)
            ids = torch.tensor([s + [0] * (L - len(s)) for s in batch])
            mask = torch.tensor([[1] * len(s) + [0] * (L - len(s)) for s in batch])
            logp = torch.log_softmax(model(ids, attention_mask=mask).logits.float(), dim=-1)
            for r, s in enumerate(batch):
                lp = logp[r, torch.arange(len(s) - 1), torch.tensor(s[1:])]
                nll -= float(lp.double().sum())
                count += len(s) - 1
    t_hf = time.perf_counter() - t0
    ppl_hf = float(torch.exp(torch.tensor(nll / count, dtype=torch.float64)))

    cmd = [ASSAY, "text", "perplexity", "--model", str(model_dir), "--input", str(tmp / "texts.txt"),
           "--max-length", "512", "--stride", "512", "--batch-size", "8", "--bootstrap", "0",
           "--json", "-q"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    t_assay = time.perf_counter() - t0
    doc = json.loads(out.stdout)
    row = next(r for r in doc["results"] if r["metric"] == "perplexity")
    print(f"texts {args.n}, tokens scored {scored} (assay {row['n']}), threads {args.threads}")
    print(f"transformers {transformers_version()}: {t_hf:.2f} s, {scored / t_hf:.0f} tokens/s, perplexity {ppl_hf:.6f}")
    print(f"assay (whole process): {t_assay:.2f} s, {row['n'] / t_assay:.0f} tokens/s, perplexity {row['value']:.6f}")
    print(f"speed-up {t_hf / t_assay * row['n'] / scored:.2f}x, relative difference {abs(row['value'] - ppl_hf) / ppl_hf:.2e}")
    if args.keep:
        print("kept:", " ".join(cmd))
    else:
        shutil.rmtree(tmp)


def transformers_version():
    import transformers
    return transformers.__version__


if __name__ == "__main__":
    main()
