"""The attention heatmap as one self-contained gr.HTML component: steps chosen in the browser, no round trip.

Python hands over the translation JSON (inference/translation.schema.json); static/heatmap.js (with the word
rule and palette in static/heatmap_rule.js) draws it as an HTML grid and does everything after that in the page:
selecting a step (click, arrow keys, Play), merging subword pieces into words, the source strip, the
share link. The selected decoding step is written into a hidden textbox, so server handlers can follow it.

Word rule (the same in heatmap_rule.js): a piece starts a new word when it begins with "▁", is punctuation
only, is a special token like "</s>", or follows one of those last two; any other piece joins the word
before it. A source word's column is the SUM of its pieces' columns (the weight the word received);
a target word's row is the MEAN of its pieces' rows (so each row still sums to 1).
"""

from __future__ import annotations

import unicodedata
import uuid
from pathlib import Path

import gradio as gr
import numpy as np

from page.state import Shown

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
WORD_START = "▁"
STEP_ELEM_ID = "selected-step"
RULE_TEXT = (
    "Words: a source word's column is the sum of its pieces' columns; a target word's row is the mean "
    "of its pieces' rows. Punctuation the tokenizer split off stays its own token."
)


# ---- the word rule ------------------------------------------------------------------------------------
def _is_special(token: str) -> bool:
    return len(token) > 2 and token.startswith("<") and token.endswith(">")


def _is_punctuation(token: str) -> bool:
    text = token.lstrip(WORD_START)
    return bool(text) and all(
        unicodedata.category(c).startswith("P") or unicodedata.category(c).startswith("S") for c in text
    )


def word_groups(tokens: list[str]) -> list[list[int]]:
    """Token positions grouped into words by the rule in the module docstring."""
    groups: list[list[int]] = []
    previous_alone = True
    for i, token in enumerate(tokens):
        alone = _is_special(token) or _is_punctuation(token)
        if not groups or alone or previous_alone or token.startswith(WORD_START):
            groups.append([i])
        else:
            groups[-1].append(i)
        previous_alone = alone
    return groups


def word_labels(tokens: list[str], groups: list[list[int]]) -> list[str]:
    """Each word as one label: its pieces joined, the word-start marks dropped (special tokens kept as is;
    a word of bare marks keeps them, so no label is empty)."""
    labels = [
        "".join(tokens[i] if _is_special(tokens[i]) else tokens[i].replace(WORD_START, "") for i in group)
        for group in groups
    ]
    return [label or "".join(tokens[i] for i in group) for label, group in zip(labels, groups)]  # a bare "▁" stays


def merge_attention(attention, source_groups: list[list[int]], target_groups: list[list[int]]) -> np.ndarray:
    """(T, S) weights → (words_T, words_S): columns of a source word summed, rows of a target word averaged."""
    weights = np.asarray(attention, dtype=np.float64)
    columns = np.stack([weights[:, g].sum(axis=1) for g in source_groups], axis=1)  # (T, words_S)
    return np.stack([columns[g].mean(axis=0) for g in target_groups], axis=0)  # (words_T, words_S)


# ---- the payload --------------------------------------------------------------------------------------
def heatmap_value(shown: Shown | None, step: int = 0, words: bool = False, result: str = "") -> dict | None:
    """The gr.HTML value for one shown result: its translation JSON (inference/translation.schema.json, the
    hypothesis on screen), the step and word view to open on, and what a share link must restore. None (no
    translation) draws the empty placeholder. `result` (the cache key) lets the bmm picture of the same result
    follow the selected step."""
    if shown is None:
        return None
    doc = shown.document()
    decoding = doc["decoding"]
    share = {
        "pair": shown.pair,
        "text": shown.text,
        "mode": "beam" if decoding["mode"] == "beam" else "greedy",
        "max_len": int(shown.max_len),
    }
    if decoding["mode"] == "beam":
        share.update(beam=decoding["beam_size"], penalty=round(decoding["length_penalty"], 3))
    if decoding.get("prefix_ids"):  # continued from an alternative: the link forces the same tokens first
        share["prefix"] = ".".join(str(i) for i in decoding["prefix_ids"])
    last = max(len(doc["target_tokens"]) - 1, 0)
    return {
        "key": uuid.uuid4().hex,
        "result": result,
        "step": min(max(int(step), 0), last),
        "words": bool(words),
        "share": share,
        "translation": doc,
    }


def _read_static(name: str) -> str:
    text = (STATIC / name).read_text(encoding="utf-8")
    if "</script" in text.lower() or "</style" in text.lower():
        raise ValueError(f"static/{name} must not contain a closing script/style tag")
    return text


def static_head(style: str, *scripts: str) -> str:
    """A component's style and scripts from page/static/, injected into <head> by gr.HTML before js_on_load runs."""
    return f"<style>{_read_static(style)}</style>" + "".join(
        f"<script>{_read_static(name)}</script>" for name in scripts
    )


def heatmap_component(
    value: dict | None = None, elem_id: str = "heatmap", step_elem_id: str = STEP_ELEM_ID, **kwargs
) -> gr.HTML:
    """The heatmap block. Its value is heatmap_value(...); the selected step goes to #<step_elem_id>."""
    return gr.HTML(
        value,
        html_template='<div class="bmm-hm-root"></div>',
        elem_id=elem_id,
        js_on_load="window.BmmHeatmap.mount(element, props, watch);",
        head=static_head("heatmap.css", "heatmap_rule.js", "heatmap.js"),
        apply_default_css=False,
        step_elem_id=step_elem_id,
        rule_text=RULE_TEXT,
        **kwargs,
    )


def step_input(elem_id: str = STEP_ELEM_ID, value: str = "") -> gr.Textbox:
    """The hidden textbox that carries the selected decoding step to the server: listen with `.change`
    (Gradio 6 fires a Textbox's `.input` only for typed keys; the page sets the value and `.change` follows)."""
    return gr.Textbox(value=value, visible="hidden", elem_id=elem_id, label="Selected decoding step")
