"""Attention what-if: move one step's attention and see that step's choice change.

The decoder has no input feeding, so step t's attention enters only step t's output layer (pre_output on
[GRU state; context], then the tied projection). `output.onnx` is that layer alone; feeding it the context of
edited weights, `context = weights @ enc_out` (the second bmm, one row), gives the step's distribution had
attention looked elsewhere. The chosen token then feeds the next step as usual (continue greedily).

    what_if(translator, "The dog bites the man.", step=1, weights=[0, 0, 1, 0, 0, 0, 0])
"""

from __future__ import annotations

import math

import numpy as np

from inference.bundle import BundleError
from inference.runtime import CPU, make_session

SAME_WEIGHTS = 2e-6  # weights this close to the model's own (6-decimal JSON rounding, renormalised) are its own
REEXPORT = (
    "this bundle has no output.onnx (exported before the attention what-if); re-export it with `python -m export`"
)


def output_session(translator):
    """The bundle's output-layer session, opened once; BundleError for bundles exported without one."""
    cached = getattr(translator, "_output_session", None)
    if cached is not None:
        return cached
    bundle = translator.bundle
    graph = (bundle.manifest.get("graphs") or {}).get("output") if bundle else None
    if not graph or graph.get("file") not in bundle.manifest.get("files", {}):
        raise BundleError(REEXPORT)
    translator._output_session = make_session(bundle.file(graph["file"]), [CPU])
    return translator._output_session


def check_weights(weights, source_len: int) -> np.ndarray:
    """S finite non-negative numbers with a positive sum, renormalised to sum 1; ValueError says which rule."""
    if isinstance(weights, (str, bytes)) or not hasattr(weights, "__len__"):
        raise ValueError(f"weights must be a list of {source_len} numbers, one per source token")
    if len(weights) != source_len:
        raise ValueError(f"weights must have {source_len} numbers (one per source token), got {len(weights)}")
    values = []
    for index, value in enumerate(weights):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"weights[{index}] must be a finite number, got {value!r}")
        if value < 0:
            raise ValueError(f"weights[{index}] must be non-negative, got {value!r}")
        values.append(float(value))
    total = sum(values)
    if not total > 0:
        raise ValueError("weights must have a positive sum")
    return np.asarray(values, dtype=np.float32) / np.float32(total)


def _top(log_probs: np.ndarray, translator, k: int) -> list[dict]:
    ids = np.argsort(-log_probs, kind="stable")[:k]
    return [
        {"id": int(i), "token": translator.target_tokens([i])[0], "log_prob": round(float(log_probs[i]), 6)}
        for i in ids
    ]


def what_if(translator, text: str, step: int, weights, top_k: int = 5, max_len_ratio: float = 2.0) -> dict:
    """Greedy-decodes `text`, replaces step `step`'s attention with `weights` (renormalised) and returns that
    step's edited and original distributions and the translation continued greedily from the edited step."""
    session = output_session(translator)
    original = translator.translate(text, top_k=top_k, max_len_ratio=max_len_ratio)
    src = translator.source_ids(text)
    steps = len(original.target_ids)
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step < steps:
        raise ValueError(f"step must be a whole number from 0 to {steps - 1} (the greedy translation's steps)")
    edited_weights = check_weights(weights, len(src))
    enc_out, keys, hidden, mask = translator.encode([src])
    decoder = translator.step_function(enc_out, keys, mask)
    rows = np.zeros(1, dtype=np.int64)
    prev = np.array([translator.bos_id], dtype=np.int64)
    for t in range(step + 1):  # the original prefix up to and including the GRU update of `step`
        log_probs, hidden, attention = decoder(prev, hidden, rows)
        prev = np.array([original.target_ids[t]], dtype=np.int64)
    own_log_probs, state = log_probs[0], hidden  # the unedited step: what the model itself chose
    own_weights = np.asarray(attention[0, : len(src)], dtype=np.float32)
    if np.abs(edited_weights - own_weights).max() <= SAME_WEIGHTS:
        # the model's own row as the translation JSON rounds it: use it exactly, since int8 rounds each row's
        # input to 127 levels and a 1e-6 change can move one of them (measured: up to 0.03 in a log-prob)
        edited_weights = own_weights
    source = np.asarray(enc_out[0, : len(src)], dtype=np.float32)  # (S, 2H)
    context = (edited_weights @ source)[None, :]  # (1, 2H): the second bmm for one row
    edited = session.run(None, {"hidden": state, "context": context.astype(np.float32)})[0][0]
    chosen = int(np.argmax(edited))
    ids = list(original.target_ids[:step]) + [chosen]
    limit = max(len(ids), int(max_len_ratio * len(src)) + 10)
    prev = np.array([chosen], dtype=np.int64)
    while ids[-1] != translator.eos_id and len(ids) < limit:
        log_probs, hidden, _ = decoder(prev, hidden, rows)
        ids.append(int(np.argmax(log_probs[0])))
        prev = np.array([ids[-1]], dtype=np.int64)
    return {
        "step": step,
        "source_tokens": translator.source_tokens(src),
        "weights": [round(float(w), 6) for w in edited_weights],
        "model_weights": [round(float(w), 6) for w in own_weights],
        "model_choice": _top(own_log_probs, translator, 1)[0],
        "original_top": _top(own_log_probs, translator, top_k),
        "edited_top": _top(edited, translator, top_k),
        "original_translation": original.text,
        "continued_ids": ids,
        "continued_tokens": translator.target_tokens(ids),
        "continued_translation": translator.detokenize(ids),
    }
