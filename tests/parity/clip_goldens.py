"""Goldens for Assay's CLIP (issue [3/7]): preprocessing, tokenizer, embeddings, CLIPScore.

Run by hand from the repository root (never in CI), with the path of CLIP's BPE merges file
(`bpe_simple_vocab_16e6.txt.gz`, shipped inside the `open_clip_torch` wheel on PyPI:
`pip download --no-deps open_clip_torch` and unzip `open_clip/bpe_simple_vocab_16e6.txt.gz`):

    ~/.cache/refenv/bin/python tests/parity/clip_goldens.py PATH/bpe_simple_vocab_16e6.txt.gz

Writes tests/parity/clip/:
- model/: a Hugging Face CLIP folder. The tokenizer is CLIP's own, built the way OpenAI's
  `simple_tokenizer` builds it (256 byte symbols, the same with `</w>`, the merges, then the two
  special tokens) but from the first N_MERGES merges only, so the repository stays small; saved
  by transformers as tokenizer.json and as vocab.json + merges.txt. The network is transformers'
  `CLIPModel` with a small config (ViT-B/32 geometry: 224 px, patch 32; narrow and 2 layers deep)
  and random weights from seed 0, saved as model.safetensors; preprocessor_config.json is
  CLIP's (shortest edge 224, bicubic, centre crop 224, OpenAI mean/std).
- captions.jsonl, references.jsonl: captions and references for the photographs and odd images
  of tests/parity/images/ (JPEG left out: decoders round differently).
- goldens.json: for each image, the sha256 of the 224x224 RGB crop that transformers'
  PIL-backend processor (`CLIPImageProcessorPil`: PIL bicubic on uint8, floor-centred crop)
  feeds the network, and the image embedding; for each text, the token ids of transformers'
  CLIPTokenizer (truncated to 77) and the text embedding; CLIP-S (Hessel et al.: 2.5 max(cos, 0)
  with the prefix "A photo depicts ") and RefCLIP-S per image, computed from those embeddings as
  Hessel's clipscore.py computes them; torchmetrics' `clip_score` (100 cos, mean clamped at 0,
  no prefix) through the same model and the PIL-backend processor; and, to measure how far
  transformers' default torchvision-backend processor is from the PIL one, its embeddings too.
"""
import gzip
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import PIL
import tokenizers
import torch
import torchmetrics
import transformers
from PIL import Image
from safetensors.torch import save_file
from torchmetrics.functional.multimodal import clip_score
from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "clip"
IMAGES = ROOT / "images"
N_MERGES = 3000
ALIGN = 0.5
PREFIX = "A photo depicts "
torch.set_num_threads(2)

CAPTIONS = {
    "china_400x300.png": "A pagoda-like temple roof among green trees, under a pale sky.",
    "china_299.png": "CLOSE-UP of an old Chinese building's roof",
    "flower_131x97.png": "a pink flower with a yellow centre",
    "grey_90x70.png": "a black and white photo of a roof",
    "grey_alpha_60x50.png": "petals   in  grey,\twith transparency",
    "palette_64x64.png": "a café's naïve façade — 50 colours only",
    "rgb16_64x48.png": "sixteen-bit colour gradient #2 (64x48)",
    "grey16_40x30.png": "a grey ramp, 16 bits per pixel",
    "rgba_80x60.png": "a flower petal with an alpha channel",
    "tiny_17x20.png": "tiny!!! 17 by 20 pixels??",
    # Longer than CLIP's 77-token context: the tokenizer truncates and keeps the end token.
    "china_299.png#long": None,
}
LONG = (
    "an extremely long caption that keeps going and going, describing every tile and every "
    "branch and every cloud in the picture in great detail, far beyond the seventy-seven "
    "tokens that the CLIP text encoder can read, so that truncation has to happen somewhere "
    "near the end of this sentence, which repeats itself: tiles, branches, clouds, tiles, "
    "branches, clouds, tiles, branches, clouds, tiles, branches, clouds and more clouds"
)
REFERENCES = {
    "china_400x300.png": ["a temple in a park", "the roof of a Chinese temple"],
    "china_299.png": ["a roof"],
    "flower_131x97.png": ["a flower", "a pink blossom", "petals"],
    "grey_90x70.png": ["a grey photograph"],
    "grey_alpha_60x50.png": ["grey petals"],
    "palette_64x64.png": ["a building"],
    "rgb16_64x48.png": ["a colour gradient"],
    "grey16_40x30.png": ["a gradient"],
    "rgba_80x60.png": ["a petal"],
    "tiny_17x20.png": ["a tiny picture", "very few pixels"],
}


def bytes_to_unicode():
    """GPT-2/CLIP's reversible map from bytes to printable characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def build_tokenizer(bpe_gz, model_dir):
    lines = gzip.open(bpe_gz).read().decode("utf-8").split("\n")
    merges = [tuple(m.split()) for m in lines[1 : 1 + N_MERGES]]
    symbols = bytes_to_unicode()
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    (model_dir / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}, ensure_ascii=False))
    (model_dir / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    tok = CLIPTokenizer(vocab=str(model_dir / "vocab.json"), merges=str(model_dir / "merges.txt"))
    tok.model_max_length = 77
    tok.save_pretrained(model_dir)
    return CLIPTokenizer.from_pretrained(model_dir), len(vocab)


def build_model(vocab_size, tok, model_dir):
    config = CLIPConfig(
        text_config=dict(
            vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu",
            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        ),
        vision_config=dict(
            hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            image_size=224, patch_size=32, hidden_act="quick_gelu",
        ),
        projection_dim=24,
    )
    torch.manual_seed(0)
    model = CLIPModel(config).eval()
    # transformers' initialisation leaves layer norms at exactly 1 and 0, and embeddings tiny:
    # perturb every parameter so that no term of the network is trivial.
    with torch.no_grad():
        g = torch.Generator().manual_seed(0)
        for name, p in sorted(model.named_parameters()):
            p.add_(torch.randn(p.shape, generator=g) * (0.1 if p.ndim <= 1 else p.std().item() * 0.5 + 0.02))
        # A random vision tower's class token barely looks at the patches, so every image gets
        # nearly the same embedding; shrink the class embedding and strengthen attention so
        # that the embedding depends on the pixels (a preprocessing error must show).
        model.vision_model.embeddings.class_embedding.mul_(0.1)
        for layer in model.vision_model.encoder.layers:
            layer.self_attn.v_proj.weight.mul_(3.0)
            layer.self_attn.out_proj.weight.mul_(3.0)
        # Random towers give cosines around 0, where CLIP-S clamps half the scores to 0. Give
        # both projections a common direction along their layer norms' bias, as trained CLIP
        # models have (their image-text cosines sit around 0.2-0.35).
        u = torch.randn(config.projection_dim, generator=g)
        u /= u.norm()
        for proj, ln in [
            (model.visual_projection, model.vision_model.post_layernorm),
            (model.text_projection, model.text_model.final_layer_norm),
        ]:
            beta = ln.bias
            proj.weight.add_(torch.outer(u, beta) * (ALIGN * proj.weight.norm(dim=1).mean() / beta.norm() ** 2 * beta.numel() ** 0.5))
    model.save_pretrained(model_dir)
    sd = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(sd, model_dir / "model.safetensors", metadata={"format": "pt"})
    return model


def main():
    bpe_gz = sys.argv[1]
    model_dir = OUT / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    tok, vocab_size = build_tokenizer(bpe_gz, model_dir)
    model = build_model(vocab_size, tok, model_dir)
    pil_proc = CLIPImageProcessorPil()
    pil_proc.save_pretrained(model_dir)
    tv_proc = CLIPImageProcessor()

    names = [n for n in CAPTIONS if "#" not in n]
    captions = {n: CAPTIONS[n] for n in names}
    with open(OUT / "captions.jsonl", "w") as f:
        for n in names:
            f.write(json.dumps({"image": n, "caption": captions[n]}, ensure_ascii=False) + "\n")
    with open(OUT / "references.jsonl", "w") as f:
        for n in names:
            for r in REFERENCES[n]:
                f.write(json.dumps({"image": n, "reference": r}, ensure_ascii=False) + "\n")

    images = {n: Image.open(IMAGES / n).convert("RGB") for n in names}
    goldens = {
        "versions": {
            "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
            "torch": torch.__version__, "torchmetrics": torchmetrics.__version__, "Pillow": PIL.__version__,
        },
        "n_merges": N_MERGES, "prefix": PREFIX, "images": {}, "texts": [],
    }

    with torch.no_grad():
        pil_px = pil_proc(images=[images[n] for n in names], return_tensors="pt")["pixel_values"]
        tv_px = tv_proc(images=[images[n] for n in names], return_tensors="pt")["pixel_values"]
        img_emb = model.get_image_features(pixel_values=pil_px)
        img_emb = getattr(img_emb, "pooler_output", img_emb)
        tv_emb = model.get_image_features(pixel_values=tv_px)
        tv_emb = getattr(tv_emb, "pooler_output", tv_emb)
        mean = np.array(pil_proc.image_mean, dtype=np.float32)[:, None, None]
        std = np.array(pil_proc.image_std, dtype=np.float32)[:, None, None]
        for i, n in enumerate(names):
            # Undo the normalisation to recover the uint8 crop the network saw.
            crop = np.rint((pil_px[i].numpy() * std + mean) * 255).clip(0, 255).astype(np.uint8)
            crop_hwc = np.ascontiguousarray(crop.transpose(1, 2, 0))
            goldens["images"][n] = {
                "crop_sha256": hashlib.sha256(crop_hwc.tobytes()).hexdigest(),
                "crop_channel_sums": [int(crop_hwc[..., c].sum()) for c in range(3)],
                "embedding": img_emb[i].tolist(),
                "torchvision_backend_embedding": tv_emb[i].tolist(),
            }

        def embed_texts(texts):
            enc = tok(texts, padding=True, truncation=True, max_length=77, return_tensors="pt")
            out = model.get_text_features(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
            out = getattr(out, "pooler_output", out)
            ids = [tok(t, truncation=True, max_length=77)["input_ids"] for t in texts]
            return out, ids

        texts = [PREFIX + captions[n] for n in names] + [PREFIX + LONG, LONG]
        texts += [captions[n] for n in names]
        texts += [PREFIX + r for n in names for r in REFERENCES[n]]
        text_emb, text_ids = embed_texts(texts)
        for t, e, ids in zip(texts, text_emb, text_ids):
            goldens["texts"].append({"text": t, "ids": ids, "embedding": e.tolist()})
        by_text = {t["text"]: np.array(t["embedding"], dtype=np.float32) for t in goldens["texts"]}

        def unit(v):
            return v / np.linalg.norm(v)

        # Hessel et al.'s clipscore.py: w * clip(cos, 0); RefCLIP-S = harmonic mean with the
        # best cosine between the candidate and its references (all texts with the prefix).
        per, ref_per = {}, {}
        for n in names:
            iv = unit(img_emb[names.index(n)].numpy())
            cv = unit(by_text[PREFIX + captions[n]])
            s = 2.5 * max(float(np.dot(iv, cv)), 0.0)
            r = max(float(np.dot(cv, unit(by_text[PREFIX + ref]))) for ref in REFERENCES[n])
            per[n] = s
            ref_per[n] = 2 * s * r / (s + r)
        goldens["clip_s"] = {"per_image": per, "mean": float(np.mean(list(per.values())))}
        goldens["ref_clip_s"] = {"per_image": ref_per, "mean": float(np.mean(list(ref_per.values())))}

        def model_and_processor():
            proc = CLIPProcessor(image_processor=pil_proc, tokenizer=tok)

            class Truncating:
                # torchmetrics pads but does not truncate; captions here fit, but be explicit.
                def __call__(self, *a, **kw):
                    if "text" in kw:
                        kw.update(truncation=True, max_length=77)
                    return proc(*a, **kw)

            class Pooled(torch.nn.Module):
                # torchmetrics 1.9 expects tensors from get_*_features; transformers 5 returns
                # output objects whose pooler_output is that tensor.
                def __init__(self):
                    super().__init__()
                    self.inner, self.config = model, model.config

                def get_image_features(self, *a, **kw):
                    return self.inner.get_image_features(*a, **kw).pooler_output

                def get_text_features(self, *a, **kw):
                    return self.inner.get_text_features(*a, **kw).pooler_output

            return Pooled(), Truncating()

        tensors = [torch.from_numpy(np.array(images[n])).permute(2, 0, 1) for n in names]
        tm = clip_score(tensors, [captions[n] for n in names], model_name_or_path=model_and_processor)
        goldens["torchmetrics_clip_score"] = float(tm)

    (OUT / "goldens.json").write_text(json.dumps(goldens, indent=1, ensure_ascii=False) + "\n")
    cos = [float(np.dot(unit(np.array(goldens["images"][n]["embedding"])), unit(np.array(goldens["images"][n]["torchvision_backend_embedding"])))) for n in names]
    print("CLIP-S per image:", {k: round(v, 4) for k, v in per.items()})
    print("torchmetrics:", goldens["torchmetrics_clip_score"])
    print("PIL vs torchvision backend, embedding cosine: min", min(cos))


if __name__ == "__main__":
    main()
