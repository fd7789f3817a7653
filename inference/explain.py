"""Is attention an explanation? Occlusion beside attention, coverage, attention entropy, confidence, direction.

    from inference import Translator
    from inference.explain import occlusion, coverage, confidence, direction_hint
    translator = Translator("assets/en-de")
    result = translator.translate("A dog runs on the beach.")
    occ = occlusion(translator, "A dog runs on the beach.", result.target_ids)
    occ.drops[t]           # (S,) how much log p(target token t) falls when each source token is occluded
    occ.spearman[t], occ.top1_agree[t], occ.mean_spearman, occ.top1_rate, occ.cost
    coverage(result.attention, result.source_tokens).dropped     # source positions attention hardly visited

Occlusion method: the occluded source position is removed from the decoder's `src_mask`, so attention gives
it weight 0 and the context vector is renormalised over the others, while the encoder, and so the decoder's
initial state and every other position's enc_out row, still saw the word. This tests exactly the pathway the
attention weights claim to describe ("the decoder read this position"). Replacing the id by <unk> would test
the whole model instead, but the models never saw <unk> in training (none among the 848,339 tokens of
Multi30k's English and German training side under the en-de tokenizer), so that input is out of
distribution and its drops measure surprise at <unk> as much as the missing word. Masking is also
cheaper: the encoder runs once, and the S occluded variants plus the unoccluded row are one decoder batch.

Why the unoccluded row rides in the same batch: drops are then differences within one decoder call.
`batch_noise` reports how far that row is from the single-row forced decoding (`log_probs`, exactly what
score_reference gives), a floor below which a drop means nothing. With the shipped int8 graphs, which
quantize each row on its own (export/quantize.py), it is 0; graphs quantized dynamically (one activation
scale per call for the whole batch) put it near 0.002 nats.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from inference.decoding import greedy_batch
from inference.source_text import InputError
from rules import language_name

# Thresholds chosen on Multi30k validation (1,014 sentences, greedy outputs of the shipped en-de, de-en, en-fr
# and fr-en bundles pooled) by `python -m evaluate.attention --split validation --tune --out tune.json`.
# Coverage of a source token = its attention summed over all target steps (the column sums of the T x S
# matrix add up to T). HIGH: of the thresholds flagging at least 5% of sentences, the one whose flag "a
# token above it" is most precise for the bottom chrF decile of its bundle (precision 0.18, base rate 0.10).
# LOW: no threshold's "a token below it" flag beat chance (the least attended tokens are function words
# such as "is" and "of" that the target language folds into a neighbour), so LOW is the 1st percentile of
# all token coverages (0.102): "almost no attention" in this model's own terms, not proof of a dropped word.
# EOS is never flagged.
COVERAGE_LOW = 0.1
COVERAGE_HIGH = 2.7
# Effective number of attended source tokens, exp(entropy) of one attention row: the tertiles of all target
# steps on validation (1.92 and 3.57, rounded), so "focused" is as sharp as the sharpest third of steps.
FOCUSED_BELOW = 1.9
DIFFUSE_ABOVE = 3.6
# Wrong-direction hint: the reverse model's mean token log-prob on its own greedy output minus the forward
# model's, on the same input; above this margin the input reads like the target language. Chosen on
# validation as the margin that best separates right-way from swapped inputs of all four pairs (8,112
# inputs, 99.6% right, 0.5% of right-way inputs wrongly told to swap).
DIRECTION_MARGIN = -0.05


# ---- ranks and agreement ------------------------------------------------------------------------------
def rankdata(values) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (as scipy.stats.rankdata's default)."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    ranks = np.empty(len(values), dtype=np.float64)
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    return ranks


def spearman(a, b) -> float | None:
    """Spearman rank correlation (Pearson of average ranks); None when either side is constant."""
    ra, rb = rankdata(a), rankdata(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = np.sqrt((ra**2).sum() * (rb**2).sum())
    return None if denominator == 0 else float((ra * rb).sum() / denominator)


def pearson(a, b) -> float | None:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a**2).sum() * (b**2).sum())
    return None if denominator == 0 else float((a * b).sum() / denominator)


def _mean(values) -> float | None:
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else None


# ---- occlusion ----------------------------------------------------------------------------------------
@dataclass
class Occlusion:
    """Occlusion of each source position for every target step of one (source, target) pair."""

    source_tokens: list[str]
    target_tokens: list[str]
    log_probs: list[float]  # (T,) log p(target token t | prefix, full source): single-row forced decoding
    drops: list[list[float]]  # (T, S) unoccluded minus occluded log p(token t), both rows of the same batch
    attention: list[list[float]]  # (T, S) attention of the unoccluded row (the heatmap's numbers)
    spearman: list[float | None]  # (T,) rank correlation of attention[t] and drops[t]; None if one is constant
    top1_agree: list[bool]  # (T,) attention's most attended position is occlusion's most important one
    # (T,) linear correlation: led by the large values, where ranks are led by the many tiny ones
    pearson: list[float | None]
    mean_spearman: float | None  # sentence aggregate: mean over steps where it is defined
    top1_rate: float  # sentence aggregate: share of steps whose top-1 positions agree
    mean_pearson: float | None
    batch_noise: float  # max |unoccluded row in the batch - log_probs|: smaller drops are quantization noise
    cost: dict  # {"forced_decodes", "batch_rows", "decoder_calls", "ms"}
    method: str = "mask"

    def to_dict(self) -> dict:
        return asdict(self)


def occluded_masks(mask: np.ndarray) -> np.ndarray:
    """(1, S) source mask -> (S + 1, S): row 0 unoccluded, row 1 + s with position s removed."""
    width = mask.shape[1]
    masks = np.repeat(mask, width + 1, axis=0)
    masks[np.arange(1, width + 1), np.arange(width)] = False
    return masks


def forced_rows(encoded, step_factory, target: list[int], bos_id: int, eos_id: int):
    """Forced decoding of `target` for every row of an encoded batch at once, through greedy_batch's
    forced-prefix path (the reference scorer's). Returns (R, T) target log-probs and (R, T, S) attention."""
    enc_out, keys, hidden, masks = encoded
    hyps = greedy_batch(
        step_factory(enc_out, keys, masks), hidden, bos_id, eos_id, len(target), 1, [target] * len(masks)
    )
    return np.array([h.token_log_probs for h in hyps], dtype=np.float64), np.stack([h.attention for h in hyps])


def occlusion_scores(encoded, step_factory, target_ids, bos_id: int, eos_id: int):
    """Mask occlusion: the unoccluded row and each single-position occlusion as one batch of S + 1 rows.
    `encoded` is (enc_out, keys, hidden, mask) of one sentence; `step_factory(enc_out, keys, mask)` builds
    the decoder step. Returns the (S + 1, T) log-probs of the target tokens and the (S + 1, T, S) attention."""
    enc_out, keys, hidden, mask = encoded
    masks = occluded_masks(mask)
    rows = len(masks)
    repeated = (np.repeat(enc_out, rows, axis=0), np.repeat(keys, rows, axis=0), np.repeat(hidden, rows, axis=0), masks)
    return forced_rows(repeated, step_factory, [int(i) for i in target_ids], bos_id, eos_id)


def unk_scores(translator, src: list[int], target: list[int]):
    """<unk> occlusion, for comparison: the source and its S copies with one id replaced by <unk>, encoded
    as one batch (the encoder sees the change too) and force-decoded as one batch."""
    variants = [src] + [src[:s] + [translator.unk_id] + src[s + 1 :] for s in range(len(src))]
    return forced_rows(
        translator.encode(variants), translator.step_function, target, translator.bos_id, translator.eos_id
    )


def agreement(attention: np.ndarray, drops: np.ndarray) -> dict:
    """Per step and for the sentence: Spearman and Pearson of attention vs drops, and whether their argmax
    positions are the same."""
    rho = [spearman(a, d) for a, d in zip(attention, drops)]
    linear = [pearson(a, d) for a, d in zip(attention, drops)]
    top1 = [bool(np.argmax(a) == np.argmax(d)) for a, d in zip(attention, drops)]
    return dict(
        spearman=rho,
        top1_agree=top1,
        pearson=linear,
        mean_spearman=_mean(rho),
        top1_rate=float(np.mean(top1)) if top1 else 0.0,
        mean_pearson=_mean(linear),
    )


def occlusion(translator, text: str, target_ids, method: str = "mask") -> Occlusion:
    """Occlusion for every target step of translating `text` into `target_ids` (a Translation's ids).
    method "mask" (the page's; see the module docstring) or "unk" (replace the id, re-encode)."""
    if not len(target_ids):
        raise ValueError("occlusion needs at least one target token")
    if method not in ("mask", "unk"):
        raise ValueError(f"method must be 'mask' or 'unk', not {method!r}")
    target = [int(i) for i in target_ids]
    start = time.perf_counter()
    src = translator.source_ids(text)
    enc_out, keys, hidden, mask = encoded = translator.encode([src])
    single = greedy_batch(
        translator.step_function(enc_out, keys, mask),
        hidden,
        translator.bos_id,
        translator.eos_id,
        len(target),
        1,
        [target],
    )[0]  # what score_reference computes
    log_probs, attention = (
        unk_scores(translator, src, target)
        if method == "unk"
        else occlusion_scores(encoded, translator.step_function, target, translator.bos_id, translator.eos_id)
    )
    elapsed_ms = (time.perf_counter() - start) * 1e3
    drops = (log_probs[0][None, :] - log_probs[1:]).T  # (T, S): positive = the position helped
    weights = attention[0][:, : len(src)].astype(np.float64)  # (T, S)
    return Occlusion(
        source_tokens=translator.source_tokens(src),
        target_tokens=translator.target_tokens(target),
        log_probs=list(single.token_log_probs),
        drops=np.round(drops, 6).tolist(),
        attention=np.round(weights, 6).tolist(),
        **agreement(weights, drops),
        batch_noise=float(np.abs(log_probs[0] - np.asarray(single.token_log_probs)).max()),
        cost={
            "forced_decodes": len(src),
            "batch_rows": len(src) + 1,
            "decoder_calls": 2 * len(target),
            "ms": round(elapsed_ms, 2),
        },
        method=method,
    )


# ---- coverage -----------------------------------------------------------------------------------------
@dataclass
class Coverage:
    values: list[float]  # (S,) attention summed over target steps; they add up to `total`
    total: float  # number of target steps T
    dropped: list[int]  # positions below `low` (probably not translated)
    repeated: list[int]  # positions above `high` (probably translated more than once)
    low: float = COVERAGE_LOW
    high: float = COVERAGE_HIGH

    def to_dict(self) -> dict:
        return asdict(self)


def coverage(
    attention, source_tokens, low: float = COVERAGE_LOW, high: float = COVERAGE_HIGH, eos_token: str = "</s>"
) -> Coverage:
    """Column sums of the (T, S) attention; EOS is never flagged (it collects attention by design)."""
    weights = np.asarray(attention, dtype=np.float64).reshape(-1, len(source_tokens))
    values = weights.sum(axis=0)
    words = [s for s, token in enumerate(source_tokens) if token != eos_token]
    return Coverage(
        values=np.round(values, 6).tolist(),
        total=float(weights.shape[0]),
        dropped=[s for s in words if values[s] < low],
        repeated=[s for s in words if values[s] > high],
        low=low,
        high=high,
    )


# ---- confidence ---------------------------------------------------------------------------------------
def attention_entropy(attention) -> np.ndarray:
    """(T,) entropy in nats of each attention row; exp of it is the effective number of attended tokens."""
    weights = np.asarray(attention, dtype=np.float64)
    weights = weights / np.maximum(weights.sum(axis=-1, keepdims=True), 1e-12)
    return -(weights * np.log(np.where(weights > 0, weights, 1.0))).sum(axis=-1)


def entropy_badge(effective_tokens: float) -> str:
    if effective_tokens < FOCUSED_BELOW:
        return "focused"
    return "diffuse" if effective_tokens > DIFFUSE_ABOVE else "spread"


@dataclass
class Confidence:
    entropy: list[float]  # (T,) nats
    effective_tokens: list[float]  # (T,) exp(entropy)
    badges: list[str]  # (T,) focused / spread / diffuse
    mean_token_prob: float
    perplexity: float  # exp(-mean log p) of the output tokens

    def to_dict(self) -> dict:
        return asdict(self)


def confidence(attention, token_probs) -> Confidence:
    entropy = attention_entropy(attention)
    effective = np.exp(entropy)
    log_probs = np.log(np.maximum(np.asarray(token_probs, dtype=np.float64), 1e-12))
    return Confidence(
        entropy=np.round(entropy, 6).tolist(),
        effective_tokens=np.round(effective, 6).tolist(),
        badges=[entropy_badge(e) for e in effective],
        mean_token_prob=float(np.exp(log_probs).mean()),
        perplexity=float(np.exp(-log_probs.mean())),
    )


# ---- wrong direction ----------------------------------------------------------------------------------
@dataclass
class DirectionHint:
    forward: str  # e.g. "de-en"
    reverse: str  # the pair suggested: the loaded model that reads the input most confidently, e.g. "en-de"
    forward_mean_log_prob: float  # forward model, its own greedy output for the input
    reverse_mean_log_prob: float  # the suggested pair's model, its own greedy output for the same input
    margin: float
    swap: bool  # the input reads like the suggested pair's source language
    message: str
    others: dict = field(default_factory=dict)  # every other source language's model compared: pair -> mean log-prob

    def to_dict(self) -> dict:
        return asdict(self)


def direction_hint(forward, reverse, text: str, margin: float = DIRECTION_MARGIN) -> DirectionHint | None:
    """Does `text` read like another loaded model's source language? `reverse` is one translator or several
    (every loaded model: those with the forward pair's own source language are left out); None when none is left.
    The signal: a model given its own source language is confident in its greedy output; given another language it
    is not. Comparing models on the same input cancels how hard the sentence itself is. The most confident other
    model is the suggestion."""
    models = reverse if isinstance(reverse, (list, tuple)) else [reverse]
    models = [m for m in models if m is not None and m.src_lang != forward.src_lang]
    if not models:
        return None
    forward_lp = _mean_log_prob(forward.translate(text))
    others = {}
    for model in models:
        try:
            others[model.name] = _mean_log_prob(model.translate(text))
        except InputError:  # its own tokenizer refuses the text (too many tokens, unknown characters): not a candidate
            continue
    models = [m for m in models if m.name in others]
    if not models:
        return None
    best = max(models, key=lambda m: others[m.name])
    # of the models reading that language, the reverse pair keeps the visitor's target language: English typed
    # into de-en suggests en-de, not en-fr
    reverse_pair = [m for m in models if m.src_lang == best.src_lang and m.tgt_lang == forward.src_lang]
    best = reverse_pair[0] if reverse_pair else best
    best_lp = others[best.name]
    swap = best_lp - forward_lp > margin
    source, other = language_name(forward.src_lang), language_name(best.src_lang)
    message = (
        (
            f"This looks like {other} text, not {source}: the {best.name} model reads it "
            f"more confidently (mean token log-prob {best_lp:.2f} vs {forward_lp:.2f}). "
            f"Swap the pair to {best.name}?"
        )
        if swap
        else ""
    )
    return DirectionHint(forward.name, best.name, forward_lp, best_lp, margin, swap, message, others)


def _mean_log_prob(result) -> float:
    return result.score / max(1, len(result.target_ids))


# ---- everything the page and the API show -----------------------------------------------------------
def explanation(translator, text: str, result, reverse=None, with_occlusion: bool = True, method: str = "mask") -> dict:
    """Occlusion (optional: it costs one batched forced decode), coverage, confidence and the direction hint
    for a Translation (or one of its n-best hypotheses); the shape the page renders and `/explain` returns."""
    occ = occlusion(translator, text, result.target_ids, method) if with_occlusion else None
    hint = direction_hint(translator, reverse, text)
    return {
        "occlusion": occ.to_dict() if occ else None,
        "coverage": coverage(result.attention, result.source_tokens).to_dict(),
        "confidence": confidence(result.attention, result.token_probs).to_dict(),
        "direction": hint.to_dict() if hint else None,
        "thresholds": {
            "coverage_low": COVERAGE_LOW,
            "coverage_high": COVERAGE_HIGH,
            "focused_below": FOCUSED_BELOW,
            "diffuse_above": DIFFUSE_ABOVE,
            "direction_margin": DIRECTION_MARGIN,
        },
    }
