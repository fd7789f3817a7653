"""The Translate tab's views of one result: every output as a named field (ResultViews), for a fresh
result, a message that leaves the result on screen, a cleared page, and the views of one decoding step.

Formatting only; app.py runs the model and keeps results in its cache (`key` is the result's cache key).
"""
from __future__ import annotations

import gradio as gr

import app_explain
import app_views as views
from app_bmm import bmm_markdown
from app_heatmap import heatmap_value
from app_views import ResultViews

DECODER_CHOICE = "decoder's choice"


def render(key: str, state: dict, config: dict, step: int, status: str | None = None,
           words: bool = False) -> ResultViews:
    r = state["result"]
    d = r["decoding"]
    explained = state.get("explain")
    if status is None:
        status = (f"{d['mode']} decoding · {len(r['target_tokens'])} target tokens · "
                  f"{r['timing_ms']['total']:.0f} ms" + ("" if r["finished"] else " · stopped at max length"))
        if explained:
            status += f" · {app_explain.sentence_confidence(explained)}"
    hint = (explained or {}).get("direction") or {}
    if hint.get("swap"):
        status += f"  \n⚠️ {views.md_text(hint['message'])}"
    nbest = [[i + 1, h["text"], round(h["score"], 3), round(h["normalized_score"], 3)] for i, h in enumerate(r["nbest"])]
    heatmap = heatmap_value(state, step, words)
    if explained:
        heatmap["explain"] = app_explain.heatmap_explain(explained)
    swap = gr.Button(f"Swap to {hint['reverse']} and translate", visible=True) if hint.get("swap") else \
        gr.Button(visible=False)
    hidden = gr.DownloadButton(value=None, visible=False)  # written on demand for this result
    return ResultViews(key, r["text"], status, gr.Dataframe(value=nbest, visible=bool(nbest)), str(heatmap["step"]),
                       hidden, hidden, heatmap, *step_views(state, config, heatmap["step"]), swap)


def message(status: str) -> ResultViews:
    """Only the status changes: the previous result stays on screen."""
    return ResultViews(*(gr.skip(),) * len(ResultViews._fields))._replace(status=status)


def cleared(status: str) -> ResultViews:
    off = gr.DownloadButton(value=None, visible=False)
    return ResultViews(None, "", status, gr.Dataframe(value=[], visible=False), "", off, off, None,
                       gr.Radio(choices=[], value=None), "Translate a sentence, then click a target token.",
                       gr.Button(visible=False))


def step_views(state: dict, config: dict, step: int) -> tuple:
    """Values for STEP_FIELDS: the alternatives (none picked: the user chooses which one to continue from; the
    token the translation holds at this step is labelled) and the bmm walkthrough."""
    r = state["result"]
    step = min(max(step, 0), len(r["target_tokens"]) - 1)
    chosen, forced = r["target_tokens"][step], step < state.get("forced", 0)
    alternatives = r["alternatives"][step]
    held = "forced" if forced else DECODER_CHOICE
    choices = [(f"{tok}  {p:.1%}" + (f"  ({held})" if tok == chosen else ""), j) for j, (tok, p) in enumerate(alternatives)]
    return (gr.Radio(choices=choices, value=None,
                     label=f"Top-{len(alternatives)} tokens at step {step}: pick one to continue from"),
            bmm_markdown(config, r, step, state["enc_out"], forced))
