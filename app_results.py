"""The Translate tab's views of one result: every output as a named field (ResultViews), for a fresh
result, a message that leaves the result on screen, a cleared page, and the views of one decoding step.

Formatting only; app.py runs the model and keeps results in its cache (`key` is the result's cache key).
"""
from __future__ import annotations

import gradio as gr

import app_views as views
from app_bmm import bmm_markdown
from app_views import ResultViews


def render(key: str, state: dict, config: dict, step: int, status: str | None = None) -> ResultViews:
    r = state["result"]
    d = r["decoding"]
    if status is None:
        status = (f"{d['mode']} decoding · {len(r['target_tokens'])} target tokens · "
                  f"{r['timing_ms']['total']:.0f} ms" + ("" if r["finished"] else " · stopped at max length"))
    nbest = [[i + 1, h["text"], round(h["score"], 3), round(h["normalized_score"], 3)] for i, h in enumerate(r["nbest"])]
    steps = gr.Radio(choices=[(views.step_label(t, tok), t) for t, tok in enumerate(r["target_tokens"])], value=step)
    hidden = gr.DownloadButton(value=None, visible=False)  # written on demand for this result
    return ResultViews(key, r["text"], status, gr.Dataframe(value=nbest, visible=bool(nbest)), steps, hidden, hidden,
                       *step_views(state, config, step))


def message(status: str) -> ResultViews:
    """Only the status changes: the previous result stays on screen."""
    return ResultViews(*(gr.skip(),) * len(ResultViews._fields))._replace(status=status)


def cleared(status: str) -> ResultViews:
    empty = gr.Radio(choices=[], value=None)
    off = gr.DownloadButton(value=None, visible=False)
    return ResultViews(None, "", status, gr.Dataframe(value=[], visible=False), empty, off, off, None, [], empty,
                       "Translate a sentence, then click a target token.")


def step_views(state: dict, config: dict, step: int) -> tuple:
    """Values for STEP_FIELDS: heatmap (row marked), source colouring, alternatives, bmm walkthrough."""
    r = state["result"]
    step = min(max(step, 0), len(r["target_tokens"]) - 1)
    chosen, forced = r["target_tokens"][step], step < state.get("forced", 0)
    alternatives = r["alternatives"][step]
    pick = next((j for j, (tok, _) in enumerate(alternatives) if tok != chosen), 0)
    return (views.attention_figure(r["source_tokens"], r["target_tokens"], r["attention"], selected=step),
            views.highlighted(r["source_tokens"], r["attention"][step]),
            gr.Radio(choices=[(f"{tok}  {p:.1%}", j) for j, (tok, p) in enumerate(alternatives)], value=pick,
                     label=f"Top-{len(alternatives)} tokens at step {step} "
                           f"({'forced' if forced else 'the decoder chose'}: {chosen})"),
            bmm_markdown(config, r, step, state["enc_out"], forced))
