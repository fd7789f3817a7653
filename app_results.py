"""The Translate tab's views of one result: every output as a named field (ResultViews), for a fresh
result, a message that leaves the result on screen, a cleared page, and the views of one decoding step;
and the tab's input column and reference panel.

Formatting only; app.py runs the model and keeps results in its cache (`key` is the result's cache key).
"""
from __future__ import annotations

import gradio as gr

import app_explain
import app_views as views
from app_bmm import bmm_markdown
from app_heatmap import heatmap_component, heatmap_value, step_input
from app_views import ResultViews
from inference.examples import examples_for

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


HYPOTHESIS_FIELDS = ("text", "target_tokens", "target_ids", "attention", "token_probs", "alternatives",
                     "alternative_ids", "score", "normalized_score", "finished")


def hypothesis_state(state: dict | None, index) -> tuple[dict, str] | None:
    """The state of n-best hypothesis `index` (0 = the best, whose own state comes back, explanation kept;
    a table's [row, column] picks its row): the beam result with that hypothesis' tokens, attention,
    probabilities and alternatives, and its row of each real decoder call, so every view (heatmap,
    alternatives, bmm panel, downloads) shows it. None when there is no result or no such hypothesis."""
    if state is None:
        return None
    index = index[0] if isinstance(index, (list, tuple)) and index else index
    best_state = state.get("best_state", state)
    best = best_state["result"]
    nbest = best.get("nbest") or []
    if not isinstance(index, int) or not 0 <= index < len(nbest):
        return None
    if index == 0:
        return best_state, f"Showing the best hypothesis (rank 1 of {len(nbest)})."
    hyp = nbest[index]
    calls = [{**call, "attention": call.get("attention") or best["step_calls"][t]["attention"]}
             for t, call in enumerate(hyp["step_calls"])]
    result = {**best, **{name: hyp[name] for name in HYPOTHESIS_FIELDS}, "step_calls": calls}
    shown = {k: v for k, v in best_state.items() if k != "explain"} | {"result": result, "best_state": best_state}
    return shown, (f"Showing hypothesis {index + 1} of {len(nbest)} (log-prob {hyp['score']:.3f}, normalised "
                   f"{hyp['normalized_score']:.3f}); click row 1 for the best.")


# ---- layout pieces ------------------------------------------------------------------------------------
def input_column(translator, max_chars: int, max_len: int, max_beam: int):
    """The sentence box, decoding settings, Translate button and our examples (for `translator`'s language)."""
    source = gr.Textbox(label=f"Sentence to translate (up to {max_chars} characters)", lines=1, max_lines=4,
                        info="Enter translates; Shift+Enter starts a new line.",
                        placeholder="A dog runs on the beach.", elem_id="source")
    with gr.Row():
        mode = gr.Radio(["greedy", "beam search"], value="greedy", label="Decoding", elem_id="mode")
        max_len = gr.Slider(0, max_len, value=0, step=1, label="Max target tokens (0 = auto)")
    with gr.Row(visible=False) as beam_row:
        beam = gr.Slider(2, max_beam, value=5, step=1, label="Beam size", elem_id="beam")
        penalty = gr.Slider(0.0, 3.0, value=translator.length_penalty, step=0.1,
                            label="Length penalty α (default: tuned on validation)")
    button = gr.Button("Translate", variant="primary", elem_id="translate")
    examples = gr.Examples([[s] for s in examples_for(translator.src_lang)], inputs=[source],
                           label="Examples (written for this demo)", examples_per_page=6,
                           elem_id="examples")
    return source, mode, max_len, beam_row, beam, penalty, button, examples

def reference_panel(on_reference, state):
    """Forced decoding of a reference translation the user pastes, under the shown result."""
    with gr.Accordion("Score a reference translation (optional)", open=False):
        reference = gr.Textbox(label="Reference translation", lines=1, elem_id="reference")
        reference_button = gr.Button("Score the reference", elem_id="score-reference")
        summary = gr.Markdown(latex_delimiters=[], elem_id="reference-summary")
        probs = gr.Dataframe(headers=["step", "reference token", "probability", "model's first choice",
                                      "its probability"], datatype="str", interactive=False,
                             elem_id="reference-tokens",
                             label="Each reference token under the model (forced decoding)")
        heatmap = gr.Plot(label="Attention while reading the reference")
    reference_button.click(on_reference, [state, reference], [summary, probs, heatmap],
                           api_visibility="private")


def result_column() -> dict:
    """The translation, status, n-best, downloads, swap button and heatmap (with its hidden step box), by name."""
    translation = gr.Textbox(label="Translation", interactive=False, lines=2, elem_id="translation")
    status = gr.Markdown(elem_classes="status", elem_id="status", latex_delimiters=[])
    nbest = gr.Dataframe(headers=["#", "translation", "log-prob", "normalised"], visible=False,
                         interactive=False, label="n-best (beam search)", datatype="str",
                         wrap=True, elem_id="nbest", column_widths=["9%", "43%", "24%", "24%"])
    with gr.Row():
        prepare = gr.Button("Download attention + tokens", size="sm", elem_id="prepare-downloads")
        json_file = gr.DownloadButton("JSON", visible=False, size="sm", elem_id="json-file")
        csv_file = gr.DownloadButton("CSV", visible=False, size="sm", elem_id="csv-file")
    swap = gr.Button(visible=False, size="sm", variant="primary", elem_id="swap-pair")
    heatmap = heatmap_component()
    steps = step_input()
    return dict(translation=translation, status=status, nbest=nbest, prepare=prepare, json_file=json_file,
                csv_file=csv_file, swap=swap, heatmap=heatmap, steps=steps)
