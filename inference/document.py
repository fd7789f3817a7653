"""The one JSON of a translation, written by one function: `translation_json`.

    doc = translation_json(translator.translate("A dog runs.", beam_size=5), "en-de", "A dog runs.", model)

/translate, /explain, the page's JSON download, `python -m inference --json` and the browser views
(page/static/*.js) all read exactly this; the in-browser page writes the same shape. Its JSON Schema is
inference/translation.schema.json (with `schema_version`); the README describes it field by field.
"""

from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from pathlib import Path

import numpy as np

from inference.decoding import BeamTree, length_penalty

SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).with_name("translation.schema.json")
MAX_TENSOR_NUMBERS = 200_000  # query vectors are sent while all of them together stay under this (about 1.6 MB)
HYPOTHESIS_FIELDS = (
    "target_tokens",
    "target_ids",
    "attention",
    "token_probs",
    "score",
    "normalized_score",
    "finished",
    "call_rows",
)


def load_schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def plain(value):
    """Deep copy as JSON values: dataclasses as dicts, tuples as lists, numpy arrays and scalars as Python."""
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _alternatives(translation) -> list[list[dict]]:
    return [
        [{"token": token, "id": int(token_id), "prob": float(prob)} for (token, prob), token_id in zip(step, ids)]
        for step, ids in zip(translation.alternatives, translation.alternative_ids)
    ]


def hypothesis_json(translation) -> dict:
    """One hypothesis: text, tokens, attention (T × S), probabilities, alternatives, scores, its call rows."""
    out = {"text": translation.text, **{name: plain(getattr(translation, name)) for name in HYPOTHESIS_FIELDS}}
    out["alternatives"] = _alternatives(translation)
    return out


def _rounded(array, decimals: int = 5) -> list:
    return np.round(np.asarray(array, dtype=np.float64), decimals).tolist()


def _call_json(call, with_query: bool) -> dict:
    out = {"batch": call.batch, "attention": plain(call.attention)}
    if call.scores is not None:
        out["scores"] = _rounded(call.scores)
    if with_query and call.query is not None:
        out["query"] = _rounded(call.query)
    return out


def translation_json(
    translation, pair: str, source: str, model: dict, explanation: dict | None = None, tensors: bool = False
) -> dict:
    """`translation` (an inference.Translation) as the schema's document. `model` is the bundle's model_config
    (its "attention" and "hidden_dim" are kept); `explanation` is inference.explain.explanation's dict.
    `tensors` adds the first bmm's numbers the bmm picture draws: `tensors` (enc_out, and keys when they are
    not enc_out) and each decoder call's `scores` and `query` rows (queries only while they fit
    MAX_TENSOR_NUMBERS)."""
    best = hypothesis_json(translation)
    decoding = translation.decoding
    doc = {
        "schema_version": SCHEMA_VERSION,
        "pair": pair,
        "source": source,
        "model": {"attention": model["attention"], "hidden_dim": int(model["hidden_dim"])},
        "decoding": {
            "mode": decoding["mode"],
            "beam_size": int(decoding["beam_size"]),
            "length_penalty": float(decoding["length_penalty"]),
            "max_len": int(decoding["max_len"]),
            "prefix_ids": [int(i) for i in decoding.get("prefix_ids", [])],
        },
        "source_tokens": list(translation.source_tokens),
        "source_ids": [int(i) for i in translation.source_ids],
        "translation": best.pop("text"),
        **best,
        "nbest": [hypothesis_json(hyp) for hyp in translation.nbest],
        "step_calls": [{"batch": call.batch, "attention": plain(call.attention)} for call in translation.step_calls],
        "timing_ms": {key: float(translation.timing_ms.get(key, 0.0)) for key in ("encode", "decode", "total")},
    }
    if translation.beam_tree is not None:
        doc["beam_tree"] = translation.beam_tree
    if explanation is not None:
        doc["explanation"] = plain(explanation)
    if tensors and translation.enc_out is not None:
        rows = sum(call.batch for call in translation.step_calls)
        with_query = rows * translation.enc_out.shape[1] <= MAX_TENSOR_NUMBERS
        doc["step_calls"] = [_call_json(call, with_query) for call in translation.step_calls]
        doc["tensors"] = {"enc_out": _rounded(translation.enc_out), "queries": with_query}
        if model["attention"] == "general":
            doc["tensors"]["keys"] = _rounded(translation.keys)
    return doc


def beam_tree_json(tree: BeamTree, token_of, beam_size: int, alpha: float) -> dict:
    """An inference.decoding.BeamTree as the translation JSON's `beam_tree`: per depth its B and every ranked
    candidate (`token_of(id)` names its token; alpha is the length penalty the search ranked with)."""
    statuses = {BeamTree.KEPT: "kept", BeamTree.ENDED: "ended", BeamTree.PRUNED: "pruned"}
    rank = {node: r for r, node in enumerate(tree.nbest)}
    parts = (tree.parent, tree.token, tree.log_prob, tree.score, tree.status)
    depths = []
    for depth, batch in enumerate(tree.batch):
        last = tree.unfinished and depth == len(tree.batch) - 1
        nodes = []
        for i, (parent, token, lp, score, status) in enumerate(zip(*(part[depth].tolist() for part in parts))):
            name = "max_len" if last and status == BeamTree.KEPT else statuses[status]
            node = {
                "parent": parent,
                "id": token,
                "token": token_of(token),
                "log_prob": round(lp, 6),
                "score": round(score, 6),
                "status": name,
                "nbest": rank.get((depth, i)),
            }
            if name in ("ended", "max_len"):
                node["normalized_score"] = round(score / length_penalty(depth + 1, alpha), 6)
            nodes.append(node)
        depths.append({"batch": batch, "nodes": nodes})
    return {"beam_size": beam_size, "depths": depths}


def batch_json(trace, pair: str, model: dict) -> dict:
    """An inference.batch_trace.BatchTrace as the Batch tab's JSON ($defs/batch of the schema): each sentence's
    translation JSON, the padded batch (src_ids, mask, enc_out and keys) and every decoder call with its rows."""
    out = {
        "schema_version": SCHEMA_VERSION,
        "pair": pair,
        "model": {"attention": model["attention"], "hidden_dim": int(model["hidden_dim"])},
        "sentences": [
            translation_json(sentence, pair, text, model) for sentence, text in zip(trace.sentences, trace.texts)
        ],
        "src_ids": plain(trace.src_ids),
        "mask": plain(trace.mask.astype(int)),
        "enc_out": _rounded(trace.enc_out),
        "calls": [
            {
                "batch": call.batch,
                "rows": plain(call.rows),
                "attention": plain(np.round(call.attention, 6)),
                "query": _rounded(call.query),
                **({} if call.scores is None else {"scores": _rounded(call.scores)}),
            }
            for call in trace.calls
        ],
    }
    if model["attention"] == "general":
        out["keys"] = _rounded(trace.keys)
    return out
