"""Write the text parity corpus: tests/parity/text/corpus.jsonl.

Each line is {"hyp": str, "sys2": str, "ref1": str, "ref2": str}: two systems' outputs and
two references per segment. The corpus is generated from a fixed seed and committed; this
script only documents how it was made (re-running it rewrites the same file).

It mixes what breaks tokenizers: punctuation, numbers with separators, URLs, hyphenation,
HTML entities, accents, CJK, emoji, unusual whitespace, empty segments, multi-sentence
segments with newlines (for ROUGE-Lsum) and very long segments.
"""
import json
import random
from pathlib import Path

SEED = 20261129
N = 2400

WORDS = """the a an of to in on for with by from at as is was are were be been has have had
do does did not no yes this that these those it its they them their we our you your he she
his her model models data results system systems evaluation score scores metric metrics
translation summary summaries sentence sentences token tokens quick brown fox jumps over lazy
dog cat sat mat running runs ran generalization generalizations relational happiness happy
studies studied agreed controlling connection connections hopeful hopefulness electrical
formalize adoption irritant replacement communism effective bowdlerize probate rate cease
controll roll dying lying tying skies news innings proceed exceed succeed analogies analogy
conditional rational valence digitizer radically differently vilely analogously vietnamization
predication operator feudalism decisiveness callousness formality sensitivity sensibility
triplicate formative electricity goodness revival allowance inference airliner gyroscopic
adjustable defensible dependent homologous activate angularity generated generative audit
audits watermark watermarks release releases gate gates report reports benchmark quickly
""".split()

ACCENTED = "café naïve Zürich São Paulo über résumé façade coöperate piñata Ærøskøbing Łódź İstanbul straße ΣΊΣΥΦΟΣ".split()
CJK = ["我爱北京天安门", "日本語のテキスト", "한국어 문장입니다", "中文，标点。", "東京は晴れ"]
EMOJI = ["😀", "🎉", "👍🏽", "🇫🇷", "❤️", "→", "€5", "©", "™"]
PUNCT = [",", ".", "!", "?", ";", ":", "...", "--", "'", '"', "(", ")", "[", "]", "{", "}", "/", "\\", "&", "%", "$", "#", "@", "*", "+", "=", "<", ">", "|", "~", "^", "`", "_"]
SPECIAL = [
    "https://example.com/path/to/page?q=1&x=2#frag", "e-mail", "state-of-the-art", "1990-2000",
    "$3,000.50", "12.5%", "3.14159", "1,000,000", "2019.", "v1.2.3", "&quot;quoted&quot;",
    "&amp;", "&lt;tag&gt;", "<skipped>", "don't", "O'Neil", "U.S.A.", "a.m.", "C++", "x86_64",
    "foo@bar.org", "#hashtag", "@mention", "10:30", "50/50", "-5", "+3", "1e-9", "ＡＢＣ全角",
]
SPACES = [" ", " ", " ", " ", "  ", "\t", "\u00a0", "\u3000", "\u2009", "\u200b", "\u001c"]


def sentence(rng, n_words):
    out = []
    for _ in range(n_words):
        r = rng.random()
        if r < 0.70:
            w = rng.choice(WORDS)
            if rng.random() < 0.1:
                w = w.capitalize()
            elif rng.random() < 0.03:
                w = w.upper()
        elif r < 0.78:
            w = rng.choice(SPECIAL)
        elif r < 0.84:
            w = rng.choice(ACCENTED)
        elif r < 0.88:
            w = rng.choice(CJK)
        elif r < 0.91:
            w = rng.choice(EMOJI)
        elif r < 0.96:
            w = str(rng.choice([rng.randint(0, 100), rng.randint(1000, 99999), round(rng.random() * 100, 2)]))
        else:
            w = rng.choice(PUNCT)
        out.append(w)
        if rng.random() < 0.15:
            out.append(rng.choice(PUNCT))
    text = ""
    for i, w in enumerate(out):
        if i:
            text += rng.choice(SPACES) if rng.random() < 0.1 else " "
        text += w
    if rng.random() < 0.7:
        text += rng.choice([".", "!", "?", " .", ""])
    return text


def mutate(rng, text, strength):
    """A system output: the reference with words dropped, swapped, replaced and re-cased."""
    toks = text.split(" ")
    out = []
    for t in toks:
        r = rng.random()
        if r < strength * 0.3:
            continue
        if r < strength * 0.6:
            t = rng.choice(WORDS)
        elif r < strength * 0.7:
            t = t.lower()
        elif r < strength * 0.75:
            t = t + rng.choice(PUNCT)
        out.append(t)
        if rng.random() < strength * 0.1:
            out.append(rng.choice(WORDS))
    if len(out) > 3 and rng.random() < strength:
        i = rng.randrange(len(out) - 1)
        out[i], out[i + 1] = out[i + 1], out[i]
    return " ".join(out)


def segment(rng, i):
    kind = rng.random()
    if kind < 0.03:
        n = rng.randint(300, 900)  # very long
    elif kind < 0.15:
        n = rng.randint(1, 4)  # very short
    else:
        n = rng.randint(5, 40)
    ref1 = sentence(rng, n)
    if rng.random() < 0.2:  # several sentences, newline-separated (ROUGE-Lsum)
        ref1 += "\n" + sentence(rng, rng.randint(3, 20))
    ref2 = mutate(rng, ref1, 0.3)
    hyp = mutate(rng, ref1, rng.choice([0.05, 0.2, 0.4, 0.7]))
    sys2 = mutate(rng, ref1, rng.choice([0.1, 0.3, 0.5, 0.8]))
    e = rng.random()
    if e < 0.01:
        hyp = ""
    elif e < 0.02:
        ref1 = ""
    elif e < 0.025:
        hyp, ref1, ref2 = "", "", ""
    elif e < 0.03:
        ref2 = ""
    elif e < 0.04:
        hyp = hyp + "   \t"  # trailing whitespace
    elif e < 0.05:
        hyp = hyp.replace(" ", "\n", 2)
    return {"hyp": hyp, "sys2": sys2, "ref1": ref1, "ref2": ref2}


def main():
    rng = random.Random(SEED)
    rows = [segment(rng, i) for i in range(N)]
    out = Path(__file__).parent / "text" / "corpus.jsonl"
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} segments to {out}")


if __name__ == "__main__":
    main()
