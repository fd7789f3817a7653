"""sacreBLEU (cased, detokenised), chrF and the lowercased, tokenised BLEU papers report, per decoding."""

from __future__ import annotations

import time
from pathlib import Path

import sacrebleu
from tqdm import tqdm

from inference.decoding import decoding_name
from inference.source_text import InputError
from inference.translator import DEFAULT_LENGTH_PENALTY, Translator


def scores(hypotheses: list[str], references: list[str]) -> dict:
    """Corpus scores of `hypotheses` against one reference each, with sacreBLEU's signatures."""
    metrics = {
        "sacrebleu": sacrebleu.metrics.BLEU(),
        "chrf": sacrebleu.metrics.CHRF(),
        "bleu_lowercase_tokenized": sacrebleu.metrics.BLEU(lowercase=True, tokenize="13a"),
    }
    out = {name: round(metric.corpus_score(hypotheses, [references]).score, 2) for name, metric in metrics.items()}
    out["signatures"] = {name: str(metric.get_signature()) for name, metric in metrics.items()}
    return out


def translate_all(
    translator: Translator, sources: list[str], beam_size: int, length_penalty: float
) -> tuple[list[str], int]:
    """Translations of every source, in order; sentences the model refuses (another script, over its token
    limit) count as empty translations. Returns (hypotheses, how many were refused)."""
    checked = translator.check_sources(sources, max_chars=None)
    readable = [i for i, ids in enumerate(checked) if not isinstance(ids, InputError)]
    hypotheses = [""] * len(sources)
    bar = lambda items: tqdm(items, desc=decoding_name(beam_size), leave=False)  # noqa: E731
    outputs = translator.translate_batch(
        [sources[i] for i in readable], beam_size=beam_size, length_penalty=length_penalty, progress=bar, max_chars=None
    )
    for index, text in zip(readable, outputs):
        hypotheses[index] = text
    return hypotheses, len(sources) - len(readable)


def evaluate_translator(
    translator: Translator,
    sources: list[str],
    references: list[str],
    beams=(1, 5),
    length_penalty: float | None = None,
    hyps_prefix: str | None = None,
    hypotheses_out: dict | None = None,
) -> dict:
    """{"greedy": {...}, "beam5": {...}}: scores, seconds, refused sentences, beam size and length penalty."""
    length_penalty = translator.length_penalty if length_penalty is None else length_penalty
    results = {}
    for beam in beams:
        start = time.perf_counter()
        hypotheses, refused = translate_all(translator, sources, beam, length_penalty)
        key = decoding_name(beam)
        results[key] = {
            **scores(hypotheses, references),
            "seconds": round(time.perf_counter() - start, 1),
            "refused": refused,
            "beam_size": beam,
            "length_penalty": length_penalty if beam > 1 else None,
        }
        if hypotheses_out is not None:
            hypotheses_out[key] = hypotheses
        if hyps_prefix:
            path = Path(f"{hyps_prefix}.{key}.txt")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(hypotheses) + "\n", encoding="utf-8")
    return results


def tune_length_penalty(
    translator: Translator, sets: dict[str, tuple[list[str], list[str]]], alphas, beam: int
) -> dict:
    """Beam search at each alpha on every {name: (sources, references)} set; the best mean sacreBLEU over the
    sets wins (the rule training picks best.pt by), ties going to the alpha nearest the default."""
    by_set = {name: {} for name in sets}
    for alpha in alphas:
        for name, (sources, references) in sets.items():
            hypotheses, _ = translate_all(translator, sources, beam, alpha)
            by_set[name][f"{alpha:g}"] = scores(hypotheses, references)["sacrebleu"]
        line = ", ".join(f"{name} {by_set[name][f'{alpha:g}']:.2f}" for name in sets)
        print(f"length penalty {alpha:g}: beam {beam} sacreBLEU {line}", flush=True)
    sweep = {f"{a:g}": round(sum(by_set[name][f"{a:g}"] for name in sets) / len(sets), 2) for a in alphas}
    best = max(alphas, key=lambda a: (sweep[f"{a:g}"], -abs(a - DEFAULT_LENGTH_PENALTY)))
    return {
        "value": best,
        "beam_size": beam,
        "sacrebleu": sweep[f"{best:g}"],
        "sweep": sweep,
        **({"sweep_by_test_set": by_set} if len(sets) > 1 else {}),
    }
