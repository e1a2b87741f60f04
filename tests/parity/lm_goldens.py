"""Goldens for Assay's language-model scoring (issue [4/7]): per-token log-probabilities and
perplexity of a small random GPT-2, as transformers computes them.

Run by hand from the repository root (never in CI):

    ~/.cache/refenv/bin/python tests/parity/lm_goldens.py

Writes tests/parity/lm/ (and the same for a small random Qwen2, of the Llama family, in
qwen2/ with goldens_qwen2.json):
- gpt2/: a Hugging Face GPT-2 folder: a byte-level BPE tokenizer.json trained here (tokenizers,
  512 tokens, `<|endoftext|>` as BOS/EOS) on a generated corpus, and `GPT2LMHeadModel` with a
  small config (2 layers, width 64, 4 heads, context 64 so that sliding windows happen) and
  random weights from seed 0 (layer norms and biases perturbed so that no term is trivial).
- texts.txt: the texts scored (one per line), with an empty line and a one-token text.
- goldens.json:
  - per text, with and without a BOS token in front: the token ids, transformers'
    log-probability of each token after the first given its prefix, and the text's perplexity
    exactly as HF evaluate's `perplexity` metric computes it (add_start_token; cross-entropy
    averaged over the text's tokens), for texts that fit the context;
  - sliding windows, for several (max_length, stride): each long text's per-token
    log-probabilities when scored window by window (the HF guide "Perplexity of fixed-length
    models": a window ends max_length tokens after it begins, begins stride tokens after the
    last, and scores only the tokens past the previous window's end), and the guide's own
    loop's perplexity on the texts joined by "\\n\\n" (its accounting included: each window's
    mean loss weighted by its valid labels minus one).
"""
import json
import math
from pathlib import Path

import tokenizers
import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

OUT = Path(__file__).resolve().parent / "lm"
torch.set_num_threads(2)

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "A second, shorter line.",
    "",
    "x",
    "Numbers 12345 and 3.14159, symbols #@!, and an emoji 🙂 in one line.",
    "Unicode: café, naïve, Straße, 日本語のテキスト, Ελληνικά.",
    "  leading and trailing spaces  ",
    # Longer than the 64-token context: scored in windows.
    " ".join(f"word{i % 17} and the {['cat', 'dog', 'bird', 'fish'][i % 4]} sat" for i in range(40)),
    "Short again.",
    " ".join(["the model reads this sentence again"] * 12),
]
WINDOWS = [(64, 64), (64, 32), (32, 8), (16, 16)]


def corpus():
    words = ["the", "cat", "dog", "sat", "on", "mat", "and", "a", "word", "bird", "fish", "model",
             "reads", "sentence", "again", "quick", "brown", "fox", "lazy", "numbers", "line"]
    lines = []
    for i in range(2000):
        lines.append(" ".join(words[(i * 7 + j * 3) % len(words)] for j in range(3 + i % 9)))
    return lines + TEXTS


def build_tokenizer(model_dir):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512, special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(corpus(), trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    fast.model_max_length = 64
    fast.save_pretrained(model_dir)
    return fast


def build_model(tok, model_dir, family="gpt2"):
    if family == "gpt2":
        config = GPT2Config(
            vocab_size=len(tok), n_positions=64, n_embd=64, n_layer=2, n_head=4,
            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        )
        cls = GPT2LMHeadModel
    else:
        # Qwen2 (the Llama family with q/k/v biases): grouped-query attention (4 heads, 2 KV
        # heads), RoPE, RMSNorm, SwiGLU, an untied LM head.
        config = Qwen2Config(
            vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
            tie_word_embeddings=False, rms_norm_eps=1e-6,
            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        )
        cls = Qwen2ForCausalLM
    torch.manual_seed(0)
    model = cls(config).eval()
    with torch.no_grad():
        g = torch.Generator().manual_seed(0)
        for name, p in sorted(model.named_parameters()):
            if p.ndim == 1:
                p.add_(torch.randn(p.shape, generator=g) * 0.1)
            else:
                p.mul_(3.0)  # sharper predictions than the 0.02 init gives
    model.save_pretrained(model_dir)
    return model


@torch.no_grad()
def token_logprobs(model, ids):
    """log p(ids[i] | ids[:i]) for i >= 1, one forward pass."""
    x = torch.tensor([ids])
    logp = torch.log_softmax(model(x).logits[0].double(), dim=-1)
    return [float(logp[i - 1, ids[i]]) for i in range(1, len(ids))]


@torch.no_grad()
def window_logprobs(model, ids, max_length, stride):
    """{position: log-probability} of each token a window scores (the guide's windows). A
    window's first token has no context in it, so when stride == max_length the first token of
    every window after the first is not scored, as in the guide."""
    out = {}
    prev_end = 0
    for begin in range(0, len(ids), stride):
        end = min(begin + max_length, len(ids))
        x = torch.tensor([ids[begin:end]])
        logp = torch.log_softmax(model(x).logits[0].double(), dim=-1)
        for pos in range(max(prev_end, begin + 1), end):
            out[pos] = float(logp[pos - begin - 1, ids[pos]])
        prev_end = end
        if end == len(ids):
            break
    return out


@torch.no_grad()
def guide_perplexity(model, ids, max_length, stride):
    """The loop of the HF guide "Perplexity of fixed-length models", as written there."""
    encodings = torch.tensor([ids])
    seq_len = encodings.size(1)
    nll_sum, n_tokens, prev_end_loc = 0.0, 0, 0
    for begin_loc in range(0, seq_len, stride):
        end_loc = min(begin_loc + max_length, seq_len)
        trg_len = end_loc - prev_end_loc
        input_ids = encodings[:, begin_loc:end_loc]
        target_ids = input_ids.clone()
        target_ids[:, :-trg_len] = -100
        outputs = model(input_ids, labels=target_ids)
        neg_log_likelihood = outputs.loss
        num_valid_tokens = (target_ids != -100).sum().item()
        batch_size = target_ids.size(0)
        num_loss_tokens = num_valid_tokens - batch_size
        nll_sum += neg_log_likelihood * num_loss_tokens
        n_tokens += num_loss_tokens
        prev_end_loc = end_loc
        if end_loc == seq_len:
            break
    return float(torch.exp(nll_sum / n_tokens))


@torch.no_grad()
def evaluate_perplexity(model, ids):
    """HF evaluate's perplexity of one text: exp of the mean cross-entropy of tokens 1.."""
    x = torch.tensor([ids])
    logits = model(x).logits[0, :-1]
    loss = torch.nn.functional.cross_entropy(logits, x[0, 1:], reduction="none")
    return float(torch.exp(loss.mean()))


def goldens_for(model, tok, windows):
    g = {
        "versions": {"transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                     "torch": torch.__version__},
        "n_positions": 64, "bos_token_id": tok.bos_token_id, "texts": [], "windows": [],
    }
    for t in TEXTS:
        ids = tok(t, add_special_tokens=False)["input_ids"]
        entry = {"text": t, "ids": ids, "tokens": tok.convert_ids_to_tokens(ids)}
        for bos in (True, False):
            full = ([tok.bos_token_id] if bos else []) + ids
            key = "bos" if bos else "no_bos"
            if 2 <= len(full) <= 64:
                entry[key] = {"logprobs": token_logprobs(model, full),
                              "evaluate_perplexity": evaluate_perplexity(model, full)}
        g["texts"].append(entry)
    joined = tok("\n\n".join(TEXTS), add_special_tokens=False)["input_ids"]
    for max_length, stride in windows:
        w = {"max_length": max_length, "stride": stride, "texts": {}}
        for i, t in enumerate(TEXTS):
            full = [tok.bos_token_id] + tok(t, add_special_tokens=False)["input_ids"]
            if len(full) > max_length:
                w["texts"][str(i)] = sorted(window_logprobs(model, full, max_length, stride).items())
        w["joined_ids"] = joined
        guide = guide_perplexity(model, joined, max_length, stride)
        # The guide's loop gives NaN when its last window holds a single token: recorded as null.
        w["joined_guide_perplexity"] = guide if math.isfinite(guide) else None
        lp = list(window_logprobs(model, joined, max_length, stride).values())
        w["joined_token_perplexity"] = math.exp(-sum(lp) / len(lp))
        g["windows"].append(w)
    return g


def main():
    (OUT / "gpt2").mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(OUT / "gpt2")
    (OUT / "texts.txt").write_text("\n".join(TEXTS) + "\n")
    for family, name, windows in [("gpt2", "goldens.json", WINDOWS), ("qwen2", "goldens_qwen2.json", WINDOWS[1:3])]:
        model_dir = OUT / family
        model_dir.mkdir(parents=True, exist_ok=True)
        tok.save_pretrained(model_dir)
        model = build_model(tok, model_dir, family)
        g = goldens_for(model, tok, windows)
        g["model"] = family
        (OUT / name).write_text(json.dumps(g, indent=1, ensure_ascii=False) + "\n")
        for w in g["windows"]:
            print(family, w["max_length"], w["stride"], "guide", w["joined_guide_perplexity"], "per-token", w["joined_token_perplexity"])


if __name__ == "__main__":
    main()
