"""Write the text-metric goldens that metrics/tests/text_parity.rs checks.

Run by hand (never in CI), from the repository root:

    ../shared/tools/refenv.sh ~/.cache/refenv
    ~/.cache/refenv/bin/python tests/parity/text_goldens.py

Reads tests/parity/text/corpus.jsonl and writes tests/parity/text/goldens/*.json with the
scores of sacrebleu (BLEU, chrF) and rouge_score (ROUGE) on it, plus NLTK's Porter stems of
every word the corpus and a suffix list produce. Floats are written with Python's repr, which
round-trips exactly.
"""
import importlib.metadata as md
import logging
import json
import platform
from pathlib import Path

from nltk.stem import porter
from rouge_score import rouge_scorer, tokenize as rouge_tokenize
from sacrebleu.metrics import BLEU, CHRF

logging.getLogger("sacrebleu").setLevel(logging.ERROR)  # its per-call warnings drown the output

HERE = Path(__file__).parent / "text"
OUT = HERE / "goldens"


def versions():
    return {
        "python": platform.python_version(),
        "sacrebleu": md.version("sacrebleu"),
        "rouge-score": md.version("rouge-score"),
        "nltk": md.version("nltk"),
    }


def load():
    rows = [json.loads(l) for l in open(HERE / "corpus.jsonl", encoding="utf-8")]
    return rows


def write(name, doc):
    doc = {"reference": versions(), **doc}
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / name, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=0)
    print("wrote", OUT / name)


BLEU_CORPUS_CONFIGS = [
    {"tokenize": t} for t in ["13a", "intl", "zh", "char", "none"]
] + [
    {"smooth_method": "floor"},
    {"smooth_method": "floor", "smooth_value": 0.5},
    {"smooth_method": "add-k"},
    {"smooth_method": "none"},
    {"lowercase": True},
    {"effective_order": True},
    {"max_ngram_order": 2},
]
BLEU_SENT_CONFIGS = [
    {"tokenize": t, "effective_order": True} for t in ["13a", "intl", "zh", "char", "none"]
] + [
    {"smooth_method": "floor", "effective_order": True},
    {"smooth_method": "add-k", "effective_order": True},
    {"smooth_method": "exp", "effective_order": False},
    {"lowercase": True, "effective_order": True},
]
CHRF_CONFIGS = [
    {},
    {"word_order": 2},
    {"lowercase": True},
    {"whitespace": True},
    {"eps_smoothing": True},
    {"word_order": 2, "eps_smoothing": True},
    {"char_order": 4, "word_order": 1, "beta": 3},
]


def bleu_goldens(rows):
    hyps = [r["hyp"] for r in rows]
    ref_sets = {"1ref": [[r["ref1"] for r in rows]], "2ref": [[r["ref1"] for r in rows], [r["ref2"] for r in rows]]}
    corpus = []
    for refs_name, refs in ref_sets.items():
        for cfg in BLEU_CORPUS_CONFIGS:
            m = BLEU(**cfg)
            s = m.corpus_score(hyps, refs)
            corpus.append({
                "config": cfg, "refs": refs_name, "score": s.score, "counts": s.counts,
                "totals": s.totals, "precisions": s.precisions, "bp": s.bp, "sys_len": s.sys_len,
                "ref_len": s.ref_len, "signature": str(m.get_signature()),
            })
    sentence = []
    for cfg in BLEU_SENT_CONFIGS:
        m = BLEU(**cfg)
        scores = [m.sentence_score(r["hyp"], [r["ref1"], r["ref2"]]).score for r in rows]
        sentence.append({"config": cfg, "refs": "2ref", "scores": scores})
    write("bleu.json", {"corpus": corpus, "sentence": sentence})


def chrf_goldens(rows):
    hyps = [r["hyp"] for r in rows]
    ref_sets = {"1ref": [[r["ref1"] for r in rows]], "2ref": [[r["ref1"] for r in rows], [r["ref2"] for r in rows]]}
    corpus, sentence = [], []
    for cfg in CHRF_CONFIGS:
        for refs_name, refs in ref_sets.items():
            m = CHRF(**cfg)
            corpus.append({"config": cfg, "refs": refs_name, "score": m.corpus_score(hyps, refs).score,
                           "signature": str(m.get_signature())})
        m = CHRF(**cfg)
        sentence.append({"config": cfg, "refs": "2ref",
                         "scores": [m.sentence_score(r["hyp"], [r["ref1"], r["ref2"]]).score for r in rows]})
    write("chrf.json", {"corpus": corpus, "sentence": sentence})


ROUGE_TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]


def rouge_goldens(rows):
    out = []
    for stem in [False, True]:
        scorer = rouge_scorer.RougeScorer(ROUGE_TYPES, use_stemmer=stem)
        for refs_name in ["1ref", "2ref"]:
            per = {t: {"precision": [], "recall": [], "fmeasure": []} for t in ROUGE_TYPES}
            for r in rows:
                if refs_name == "1ref":
                    s = scorer.score(r["ref1"], r["hyp"])
                else:
                    s = scorer.score_multi([r["ref1"], r["ref2"]], r["hyp"])
                for t in ROUGE_TYPES:
                    per[t]["precision"].append(s[t].precision)
                    per[t]["recall"].append(s[t].recall)
                    per[t]["fmeasure"].append(s[t].fmeasure)
            mean = {t: {k: sum(v) / len(v) for k, v in per[t].items()} for t in ROUGE_TYPES}
            out.append({"use_stemmer": stem, "refs": refs_name, "segments": per, "mean": mean})
    write("rouge.json", {"types": ROUGE_TYPES, "runs": out})


SUFFIXES = ["", "s", "es", "ies", "ied", "ed", "eed", "ing", "ly", "ness", "ful", "fulness", "ation",
            "ational", "tional", "ization", "izer", "ize", "ise", "ism", "ist", "ity", "iti", "ive", "ible",
            "able", "ably", "ement", "ment", "ent", "ence", "ance", "ical", "ic", "ous", "ously", "alli",
            "bli", "logi", "ogies", "y", "er", "ers", "ll", "e", "al", "ally", "ator", "iveness", "ousness"]
ROOTS = ["connect", "general", "relat", "hope", "happ", "stud", "control", "adopt", "effect", "sens", "form",
         "analog", "electr", "digit", "radic", "differ", "vietnam", "predic", "operat", "feud", "decis",
         "call", "triplic", "good", "reviv", "allow", "infer", "airlin", "gyroscop", "adjust", "defens",
         "depend", "homolog", "activ", "angular", "bowdler", "prob", "cea", "sky", "fly", "spy", "tr", "di",
         "agre", "plaster", "motor", "hopp", "fall", "fil", "tann", "fizz", "hiss", "conflat", "troubl",
         "siz", "fail", "enjoy", "toy", "syzyg", "ivy", "oat", "tree", "by", "yy", "ay", "yay", "aa", "abc1"]


def stem_goldens(rows):
    words = set()
    for r in rows:
        for f in ("hyp", "sys2", "ref1", "ref2"):
            words.update(rouge_tokenize.tokenize(r[f], None))
    for root in ROOTS:
        for suf in SUFFIXES:
            words.add(root + suf)
    words = sorted(w for w in words if len(w) > 3)
    st = porter.PorterStemmer()
    write("porter.json", {"mode": st.mode, "stems": {w: st.stem(w) for w in words}})


def main():
    rows = load()
    bleu_goldens(rows)
    chrf_goldens(rows)
    rouge_goldens(rows)
    stem_goldens(rows)


if __name__ == "__main__":
    main()
