"""The GPU checks of issues [2/7], [3/7] and [4/7], in one run on a lent CUDA machine.

Run by `tests/gpu/device_checks.sh` on the device machine (see its header for the whole recipe)
with the `gpu_checks` program (tests/gpu/gpu_checks.rs: the library calls behind the `assay`
commands, timed); a dry run on the CPU checks this script, with small sizes:

    cargo build --release --example gpu_checks
    ~/.cache/refenv/bin/python tests/gpu/gpu_checks.py --program target/release/examples/gpu_checks --device cpu --quick

It needs torch, torchvision, transformers, numpy, Pillow and safetensors (the device image has
them) and makes every input itself, from fixed seeds, so nothing travels but the binary:

1. features: two seeded sets of N x 2048 features; FD (moments on the device), KID and PRDC on
   the CPU and on the device; the values must agree, the times are reported.
2. images: N 299 x 299 PNGs and a full-width FID Inception with random weights (pytorch-fid's
   parameter names, from torchvision's module); pool3 features of the first 200 images on the
   CPU and on the device must agree to 1e-4 relative (and again with TF32 forbidden from
   outside); then `assay image stats` over all N on the device, batch 200 with 16 and 8
   decoding threads and batch 50 with 16: images/s, and whether the rate follows the decoding
   threads (decode-bound) or not. `--only profile` shows what bounds that rate: the network
   alone in FP32 and TF32, decoding alone, the batch upload, single layers against a GEMM.
3. language model: a random GPT-2 of 124M parameters (12 x 768, GPT-2 small's shape) with the
   parity tokenizer; corpus perplexity of 16 texts in f32 on the CPU, on the device, and by
   transformers on the device must agree; then tokens/s in bf16 on the device for T texts of
   1,024 tokens, beside transformers' bf16 forward on the same texts.

Writes `gpu_report.json` and `gpu_report.md` to --out, and prints the Markdown.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
TOKENIZER = ROOT / "tests" / "parity" / "lm" / "gpt2"


def program(args, binary, env=None):
    """Runs the checks program; returns its JSON document. A run that hangs (a stuck GPU)
    ends at 150 s, so that the other checks still report inside the device call."""
    p = subprocess.run([binary, *args], capture_output=True, text=True, timeout=150,
                       env=None if env is None else {**os.environ, **env})
    if p.returncode != 0:
        raise RuntimeError(f"gpu_checks {' '.join(args)}: exit {p.returncode}\n{p.stderr[-4000:]}")
    return json.loads(p.stdout)


def rel(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


# ---- 1. features ------------------------------------------------------------------------------

def check_features(a, work, report):
    out = {"n": a.features_n, "dim": 2048}
    for dev in ("cpu", a.device):
        out[dev] = program(["features", "--n", str(a.features_n), "--device", dev], a.program)
    cpu, gpu = out["cpu"]["values"], out[a.device]["values"]
    out["max_rel_diff"] = {k: rel(cpu[k], gpu[k]) for k in cpu}
    # PRDC counts are exact on both (f64 recheck of borderline pairs): they must be equal.
    out["ok"] = bool(all(cpu[k] == gpu[k] for k in ("precision", "recall", "density", "coverage"))
                     and out["max_rel_diff"]["fd"] < 1e-6 and out["max_rel_diff"]["kid"] < 1e-6)
    report["features"] = out


# ---- 2. images --------------------------------------------------------------------------------

def write_png(args):
    i, folder = args
    rng = np.random.default_rng(1000 + i)
    low = rng.integers(0, 255, size=(12, 12, 3)).astype(np.uint8)
    Image.fromarray(low).resize((299, 299), Image.BICUBIC).save(folder / f"{i:05d}.png")


def inception_weights(path):
    """Full-width FID Inception weights with pytorch-fid's parameter names (torchvision's
    inception_v3 has the same parameters as pytorch-fid's FID variant), He-normal convolutions
    and batch-norm statistics away from the identity, as tests/parity/image_goldens.py draws."""
    import torchvision
    from safetensors.torch import save_file
    net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False,
                                          num_classes=1008)
    g = torch.Generator().manual_seed(0)
    sd = {}
    for k, v in net.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        if k.endswith("conv.weight"):
            sd[k] = torch.randn(v.shape, generator=g) * (2.0 / v[0].numel()) ** 0.5
        elif k.endswith("running_var") or k.endswith("bn.weight"):
            sd[k] = 0.5 + torch.rand(v.shape, generator=g)
        elif k.endswith("running_mean") or k.endswith("bn.bias") or k == "fc.bias":
            sd[k] = 0.1 * torch.randn(v.shape, generator=g)
        elif k == "fc.weight":
            sd[k] = torch.randn(v.shape, generator=g) / v.shape[1] ** 0.5
        else:
            raise KeyError(k)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))


def images_and_weights(a, work):
    """The N PNGs and the random full-width weights (made once per work folder)."""
    folder = work / "images"
    folder.mkdir(exist_ok=True)
    t = time.perf_counter()
    missing = [(i, folder) for i in range(a.images) if not (folder / f"{i:05d}.png").exists()]
    with ProcessPoolExecutor() as pool:
        list(pool.map(write_png, missing, chunksize=64))
    weights = work / "inception.safetensors"
    if not weights.exists():
        inception_weights(weights)
    return folder, weights, time.perf_counter() - t


def check_images(a, work, report):
    from safetensors.numpy import load_file
    folder, weights, made_s = images_and_weights(a, work)
    few = work / "few"
    few.mkdir(exist_ok=True)
    for f in sorted(folder.iterdir())[:a.parity_images]:
        if not (few / f.name).exists():
            (few / f.name).symlink_to(f)
    out = {"images": a.images, "png_write_s": made_s}
    feats = {}
    for dev in ("cpu", a.device):
        saved = work / f"few_{dev}.safetensors"
        out[f"parity_{dev}"] = program(["images", str(few), "--weights", str(weights), "--device", dev,
                                        "--save", str(saved)], a.program)
        feats[dev] = load_file(str(saved))["images"].astype(np.float64)
    diff = np.abs(feats["cpu"] - feats[a.device]).max() / np.abs(feats["cpu"]).max()
    # cuDNN may run FP32 convolutions on TF32 tensor cores unless told not to.
    saved = work / "few_no_tf32.safetensors"
    out["parity_no_tf32"] = program(["images", str(few), "--weights", str(weights), "--device",
                                     a.device, "--save", str(saved)], a.program,
                                    env={"NVIDIA_TF32_OVERRIDE": "0"})
    no_tf32 = load_file(str(saved))["images"].astype(np.float64)
    out["parity_no_tf32_max_rel_diff"] = float(np.abs(feats["cpu"] - no_tf32).max()
                                               / np.abs(feats["cpu"]).max())
    out["parity_images"] = a.parity_images
    out["parity_max_rel_diff"] = float(diff)
    runs = []
    for workers, batch in ((os.cpu_count(), 200), (max(1, os.cpu_count() // 2), 200),
                           (os.cpu_count(), 50)):
        runs.append(program(["images", str(folder), "--weights", str(weights), "--device", a.device,
                             "--workers", str(workers), "--batch-size", str(batch)], a.program))
    out["runs"] = runs
    # Decode-bound: half the decoding threads give (nearly) half the rate.
    out["rate_ratio_full_vs_half_workers"] = runs[0]["images_per_s"] / runs[1]["images_per_s"]
    out["ok"] = bool(diff < 1e-4)
    report["images"] = out


def check_profile(a, work, report):
    """What bounds the images check: network alone (FP32, TF32), decoding alone, upload, layers."""
    folder, weights, _ = images_and_weights(a, work)
    sizes = "50,200" if not a.quick else "2"
    out = program(["profile", str(folder), "--weights", str(weights), "--batch-sizes", sizes,
                   "--device", a.device], a.program)
    out["ok"] = True
    report["profile"] = out


# ---- 3. language model -----------------------------------------------------------------------

def make_gpt2(model_dir, small):
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
    tok = PreTrainedTokenizerFast.from_pretrained(str(TOKENIZER))
    tok.save_pretrained(model_dir)
    shape = dict(n_embd=128, n_layer=2, n_head=4) if small else dict(n_embd=768, n_layer=12, n_head=12)
    config = GPT2Config(vocab_size=50257, n_positions=1024, bos_token_id=tok.bos_token_id,
                        eos_token_id=tok.eos_token_id, **shape)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(config).eval()
    model.save_pretrained(model_dir)
    return tok, model


def texts_of(tok, count, length):
    """`count` texts of exactly `length` tokens with the BOS (one window each), and their ids."""
    words = ["the", "cat", "dog", "sat", "on", "mat", "and", "a", "word", "bird", "fish", "model",
             "reads", "sentence", "again", "quick", "brown", "fox", "lazy", "numbers", "line"]
    texts, seqs = [], []
    for i in range(count):
        ws = [words[(i * 13 + j * 7 + j * j) % len(words)] for j in range(2 * length)]
        ids = tok(" ".join(ws), add_special_tokens=False)["input_ids"]
        ws = ws[: int(len(ws) * (length - 1) / len(ids))]
        while len(ids := tok(" ".join(ws), add_special_tokens=False)["input_ids"]) > length - 1:
            ws.pop()
        texts.append(" ".join(ws))
        seqs.append([tok.bos_token_id] + ids)
    return texts, seqs


def hf_perplexity(model, seqs, device, dtype, batch):
    """Corpus perplexity and seconds of transformers' forward + log-softmax + gather."""
    model = model.to(device=device, dtype=dtype)
    nll, count = 0.0, 0
    if device != "cpu":
        torch.cuda.synchronize()
    t = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(seqs), batch):
            chunk = seqs[i:i + batch]
            width = max(map(len, chunk))
            ids = torch.tensor([s + [0] * (width - len(s)) for s in chunk], device=device)
            mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in chunk], device=device)
            logp = model(input_ids=ids, attention_mask=mask).logits.float().log_softmax(-1)
            got = logp[:, :-1].gather(-1, ids[:, 1:, None])[..., 0]
            keep = mask[:, 1:].bool()
            nll -= got[keep].double().sum().item()
            count += int(keep.sum())
    if device != "cpu":
        torch.cuda.synchronize()
    return float(np.exp(nll / count)), time.perf_counter() - t, count


def check_lm(a, work, report):
    model_dir = work / "gpt2-124m"
    model_dir.mkdir(exist_ok=True)
    tok, model = make_gpt2(model_dir, a.quick)
    params = sum(p.numel() for p in model.parameters())
    out = {"parameters": params}
    texts, seqs = texts_of(tok, a.parity_texts, 1024)
    (work / "parity_texts.txt").write_text("\n".join(texts) + "\n")
    ppl = {}
    for dev in ("cpu", a.device):
        doc = program(["lm", str(model_dir), str(work / "parity_texts.txt"), "--device", dev],
                      a.program)
        ppl[dev] = doc["perplexity"]
        out[f"parity_{dev}_s"] = doc["seconds"]
    torch_dev = "cuda" if a.device.startswith("cuda") else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    ppl["transformers"], _, _ = hf_perplexity(model, seqs, torch_dev, torch.float32, 8)
    out["f32_perplexity"] = ppl
    out["f32_max_rel_diff"] = max(rel(ppl["transformers"], v) for v in ppl.values())

    texts, seqs = texts_of(tok, a.texts, 1024)
    (work / "texts.txt").write_text("\n".join(texts) + "\n")
    doc = program(["lm", str(model_dir), str(work / "texts.txt"), "--dtype", "bf16",
                   "--batch-size", str(a.lm_batch), "--device", a.device], a.program)
    out["bf16"] = {"texts": a.texts, **doc}
    bf16 = torch.bfloat16 if torch_dev == "cuda" else torch.float32
    hf_ppl, hf_s, hf_tokens = hf_perplexity(model, seqs, torch_dev, bf16, a.lm_batch)
    out["transformers_bf16"] = {"perplexity": hf_ppl, "forward_s": hf_s,
                                "tokens_per_s": hf_tokens / hf_s}
    out["ok"] = bool(out["f32_max_rel_diff"] < 1e-4)
    report["lm"] = out


def markdown(r):
    lines = [f"# GPU checks ({r['device_name']})", ""]
    f = r.get("features")
    if f:
        lines += [f"## Features ({f['n']} x {f['dim']}: FD, KID, PRDC)",
                  f"- CPU seconds {f['cpu']['seconds']}",
                  f"- {r['device']} seconds {f[r['device']]['seconds']}",
                  f"- largest relative difference: {max(f['max_rel_diff'].values()):.2e}; ok: {f['ok']}", ""]
    i = r.get("images")
    if i:
        lines += [f"## Images ({i['images']} PNGs, 299 x 299, full-width FID Inception)",
                  f"- pool3 features CPU vs {r['device']}, {i['parity_images']} images: "
                  f"{i['parity_max_rel_diff']:.2e} relative; ok: {i['ok']}",
                  f"- the same with NVIDIA_TF32_OVERRIDE=0: {i['parity_no_tf32_max_rel_diff']:.2e}"]
        lines += [f"- {x['workers']} decoding threads, batch {x['batch_size']}: {x['images_per_s']:.0f} images/s "
                  f"({x['seconds']:.1f} s after the network's load)" for x in i["runs"]]
        lines += [f"- rate with all threads / half: {i['rate_ratio_full_vs_half_workers']:.2f} "
                  "(batch 200; 2 = bound by decoding)", ""]
    m = r.get("lm")
    if m:
        lines += [f"## GPT-2, {m['parameters'] / 1e6:.0f}M parameters",
                  f"- f32 perplexity: {m['f32_perplexity']}; largest relative difference "
                  f"{m['f32_max_rel_diff']:.2e}; ok: {m['ok']}",
                  f"- bf16 on {r['device']}: {m['bf16']['tokens_per_s']:.0f} tokens/s "
                  f"({m['bf16']['tokens']} tokens in {m['bf16']['seconds']:.1f} s after the load); "
                  f"transformers bf16 forward: {m['transformers_bf16']['tokens_per_s']:.0f} tokens/s", ""]
    p = r.get("profile")
    if p:
        lines += ["## What bounds the images check", f"- decoding alone: "
                  f"{p['decode_images_per_s']:.0f} images/s on {p['decode_threads']} threads"]
        lines += [f"- network alone, batch {x['batch_size']}: FP32 {x['fp32_images_per_s']:.0f}, "
                  f"TF32 {x['tf32_images_per_s']:.0f} images/s, FP32 with 1x1 layers as convolutions "
                  f"{x['fp32_conv_1x1_images_per_s']:.0f} (TF32 pool3 differs by "
                  f"{x['tf32_pool3_max_rel_diff']:.1e}); upload {x['upload_images_per_s']:.0f} images/s"
                  for x in p["network"]]
        lines += [f"- conv {l['cin']}->{l['cout']} k{l['k']} s{l['stride']} on {l['h']}x{l['h']}: "
                  f"{l['conv_tflops']:.1f} TFLOP/s ({l['conv_ms']:.1f} ms), plain GEMM of its size "
                  f"{l['gemm_tflops']:.1f}" for l in p["layers"]]
        lines += [f"- average pool 50x288x35x35: {p['avg_pool_50x288x35x35_ms']:.1f} ms", ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--program", required=True, help="the gpu_checks program")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--work", default="/tmp/assay_gpu_checks")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--quick", action="store_true", help="small sizes: a dry run of the script")
    ap.add_argument("--only", default="features,images,lm")
    args = ap.parse_args()
    big = not args.quick
    args.features_n = 10_000 if big else 2_500
    args.images = 10_000 if big else 40
    args.parity_images = 200 if big else 10
    args.texts = 256 if big else 4
    args.parity_texts = 16 if big else 2
    args.lm_batch = 32 if big else 2
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    report = {"device": args.device, "device_name": name, "cpu_count": os.cpu_count(),
              "quick": args.quick}
    checks = {"features": check_features, "images": check_images, "lm": check_lm,
              "profile": check_profile}
    for what in args.only.split(","):
        t = time.perf_counter()
        try:
            checks[what](args, work, report)
        except Exception as e:  # one failed check must not lose the others' figures
            report[what] = {"ok": False, "error": str(e)}
        report.setdefault(what, {})["check_s"] = time.perf_counter() - t
        (out / "gpu_report.json").write_text(json.dumps(report, indent=1))
        print(f"{what}: {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
    md = markdown({k: v for k, v in report.items() if not (isinstance(v, dict) and "error" in v)})
    (out / "gpu_report.md").write_text(md)
    print(md)
    print(json.dumps(report, indent=1))
    return 0 if all(report[w].get("ok") for w in args.only.split(",")) else 1


if __name__ == "__main__":
    sys.exit(main())
