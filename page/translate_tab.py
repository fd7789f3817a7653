"""The Translate tab's views of one result: every output as a named field (ResultViews), for a fresh
result, a message that leaves the result on screen, a cleared page, and the views of one decoding step;
and the tab's input column and reference panel.

Formatting only; page/handlers.py runs the model and keeps results in its cache (`key` is the result's cache key).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import gradio as gr

from inference.examples import examples_for
from page.bmm_panel import bmm_markdown, picture_component, picture_value
from page.heatmap import heatmap_component, heatmap_value, step_input
from page.limits import DECODE_EVENT, MAX_PENALTY
from page.state import Shown
from page.text import md_text

DECODER_CHOICE = "decoder's choice"
TRANSLATION_LABEL = "Translation"
STALE_NOTE = "**Still shown: the previous sentence's translation and attention**, not this one's."


class ResultViews(NamedTuple):
    """Everything the Translate tab shows for one result, in the order page/layout.py wires the components.
    A field set to gr.skip() leaves that component as it is (an error keeps the previous result)."""

    state: Any  # the result's key in the server-side cache (the browser holds only this)
    translation: Any
    status: Any
    nbest: Any
    steps: Any  # the hidden box holding the selected step (the heatmap writes it when the user picks one)
    json_file: Any
    csv_file: Any
    heatmap: Any  # page/heatmap.py heatmap_value: drawn and explored in the browser
    alternatives: Any
    bmm: Any
    swap: Any  # "swap the pair and translate", shown when the sentence reads like the other language
    picture: Any  # page/bmm_panel.py picture_value: the step's B slabs, drawn in the browser


# shown_values with no result: what the page holds when no example can be read
NOTHING_SHOWN = dict(
    state=None,
    translation="",
    status="Type a sentence and press Enter.",
    nbest=[],
    steps="",
    json_file=None,
    csv_file=None,
    heatmap=None,
    alternatives=([], "Top tokens at this step"),
    bmm="Translate a sentence, then click a target token.",
    swap=None,
    picture=None,
)
STEP_FIELDS = ("alternatives", "bmm")  # what the server redraws when the selected step changes


def shown_values(key: str, shown: Shown, step: int, status: str | None = None, words: bool = False) -> dict:
    """The plain values of every ResultViews field for one result (the files: none yet). render() wraps them as
    updates; page/layout.py builds the components with the opening result's values, so the page's first paint
    already holds the worked example (no round trip)."""
    result, translation = shown.result, shown.translation
    explained = shown.explanation
    if status is None:
        status = (
            f"{translation.decoding['mode']} decoding · {len(result.target_tokens)} target tokens · "
            f"{translation.timing_ms['total']:.0f} ms" + ("" if result.finished else " · stopped at max length")
        )
        if explained:
            status += f" · {sentence_confidence(explained)}"
    hint = (explained or {}).get("direction") or {}
    if hint.get("swap"):
        status += f"  \n⚠️ {md_text(hint['message'])}"
    nbest = [[i + 1, h.text, round(h.score, 3), round(h.normalized_score, 3)] for i, h in enumerate(translation.nbest)]
    heatmap = heatmap_value(shown, step, words, key)
    step = heatmap["step"]
    return dict(
        state=key,
        translation=result.text,
        status=status,
        nbest=nbest,
        steps=str(step),
        json_file=None,
        csv_file=None,
        heatmap=heatmap,
        alternatives=alternatives_of(shown, step),
        bmm=bmm_markdown(shown, step, step < shown.forced),
        swap=f"Swap to {hint['reverse']} and translate" if hint.get("swap") else None,
        picture=picture_value(shown, step, key),
    )


def render(key: str, shown: Shown, step: int, status: str | None = None, words: bool = False) -> ResultViews:
    values = shown_values(key, shown, step, status, words)
    hidden = gr.DownloadButton(value=None, visible=False)  # written on demand for this result
    choices, label = values["alternatives"]
    return ResultViews(
        **values
        | dict(
            nbest=gr.Dataframe(value=values["nbest"], visible=bool(values["nbest"])),
            json_file=hidden,
            csv_file=hidden,
            alternatives=gr.Radio(choices=choices, value=None, label=label),
            swap=gr.Button(values["swap"], visible=True) if values["swap"] else gr.Button(visible=False),
        )
    )


def sentence_confidence(explained: dict) -> str:
    """One status line: the sentence's confidence and how many steps attended narrowly (Markdown)."""
    confidence = explained["confidence"]
    focused = confidence["badges"].count("focused")
    return (
        f"confidence: mean token probability {confidence['mean_token_prob']:.2f}, perplexity "
        f"{confidence['perplexity']:.2f}; attention focused at {focused} of {len(confidence['badges'])} steps"
    )


def message(status: str) -> ResultViews:
    """Only the status changes: the previous result stays on screen."""
    return ResultViews(*(gr.skip(),) * len(ResultViews._fields))._replace(status=status)


def refused(status: str) -> ResultViews:
    """A refused input: the previous result stays, and the status says it belongs to the previous sentence."""
    return message(f"{status}  \n{STALE_NOTE}")


def cleared(status: str) -> ResultViews:
    off = gr.DownloadButton(value=None, visible=False)
    return ResultViews(
        None,
        "",
        status,
        gr.Dataframe(value=[], visible=False),
        "",
        off,
        off,
        None,
        gr.Radio(choices=[], value=None),
        "Translate a sentence, then click a target token.",
        gr.Button(visible=False),
        None,
    )


def alternatives_of(shown: Shown, step: int) -> tuple[list, str]:
    """The alternatives radio's choices and label at `step` (none picked: the user chooses which one to continue
    from; the token the translation holds at this step is labelled)."""
    result = shown.result
    chosen, forced = result.target_tokens[step], step < shown.forced
    alternatives = result.alternatives[step]
    held = "forced" if forced else DECODER_CHOICE
    choices = [
        (f"{tok}  {p:.1%}" + (f"  ({held})" if tok == chosen else ""), j) for j, (tok, p) in enumerate(alternatives)
    ]
    return choices, f"Top-{len(alternatives)} tokens at step {step}: pick one to continue from"


def step_views(shown: Shown, step: int) -> tuple:
    """Values for STEP_FIELDS: the alternatives and the bmm walkthrough."""
    step = min(max(step, 0), len(shown.result.target_tokens) - 1)
    choices, label = alternatives_of(shown, step)
    return gr.Radio(choices=choices, value=None, label=label), bmm_markdown(shown, step, step < shown.forced)


# ---- layout pieces ------------------------------------------------------------------------------------
def input_column(translator, max_chars: int, max_len: int, max_beam: int, text: str = "", beam: int = 1):
    """The sentence box (holding `text`), decoding settings (beam search when `beam` > 1), Translate button and
    our examples (for `translator`'s language)."""
    source = gr.Textbox(
        text,
        label=f"Sentence to translate (up to {max_chars} characters)",
        lines=1,
        max_lines=4,
        info="Enter translates; Shift+Enter starts a new line.",
        placeholder="A dog runs on the beach.",
        elem_id="source",
    )
    with gr.Row():
        mode = gr.Radio(
            ["greedy", "beam search"], value="beam search" if beam > 1 else "greedy", label="Decoding", elem_id="mode"
        )
        max_len = gr.Slider(0, max_len, value=0, step=1, label="Max target tokens (0 = auto)")
    with gr.Row(visible=beam > 1) as beam_row:
        beam = gr.Slider(2, max_beam, value=beam if beam > 1 else 5, step=1, label="Beam size", elem_id="beam")
        penalty = gr.Slider(
            0.0,
            MAX_PENALTY,
            value=translator.length_penalty,
            step=0.1,
            label="Length penalty α (default: tuned on validation)",
        )
    button = gr.Button("Translate", variant="primary", elem_id="translate")
    examples = gr.Examples(
        [[s] for s in examples_for(translator.src_lang)],
        inputs=[source],
        label="Examples (written for this demo)",
        examples_per_page=6,
        elem_id="examples",
    )
    return source, mode, max_len, beam_row, beam, penalty, button, examples


def reference_panel(on_reference, state):
    """Forced decoding of a reference translation the user pastes, under the shown result."""
    with gr.Accordion("Score a reference translation (optional)", open=False):
        reference = gr.Textbox(label="Reference translation", lines=1, elem_id="reference")
        reference_button = gr.Button("Score the reference", elem_id="score-reference")
        summary = gr.Markdown(latex_delimiters=[], elem_id="reference-summary")
        probs = gr.Dataframe(
            headers=["step", "reference token", "probability", "model's first choice", "its probability"],
            datatype="str",
            interactive=False,
            elem_id="reference-tokens",
            label="Each reference token under the model (forced decoding)",
        )
        heatmap = gr.Plot(label="Attention while reading the reference")
    reference_button.click(on_reference, [state, reference], [summary, probs, heatmap], **DECODE_EVENT)


def result_column(opening: dict) -> dict:
    """The translation, status, n-best, downloads, swap button and heatmap (with its hidden step box), by name,
    holding `opening` (shown_values of the result the page opens on)."""
    translation = gr.Textbox(
        opening["translation"], label=TRANSLATION_LABEL, interactive=False, lines=2, elem_id="translation"
    )
    status = gr.Markdown(opening["status"], elem_classes="status", elem_id="status", latex_delimiters=[])
    nbest = gr.Dataframe(
        opening["nbest"],
        headers=["#", "translation", "log-prob", "normalised"],
        visible=bool(opening["nbest"]),
        interactive=False,
        label="n-best (beam search)",
        datatype="str",
        wrap=True,
        elem_id="nbest",
        column_widths=["9%", "43%", "24%", "24%"],
    )
    with gr.Row():
        prepare = gr.Button("Download attention + tokens", size="sm", elem_id="prepare-downloads")
        json_file = gr.DownloadButton("JSON", visible=False, size="sm", elem_id="json-file")
        csv_file = gr.DownloadButton("CSV", visible=False, size="sm", elem_id="csv-file")
    swap = gr.Button(opening["swap"], visible=bool(opening["swap"]), size="sm", variant="primary", elem_id="swap-pair")
    heatmap = heatmap_component(opening["heatmap"])
    steps = step_input(value=opening["steps"])
    return dict(
        translation=translation,
        status=status,
        nbest=nbest,
        prepare=prepare,
        json_file=json_file,
        csv_file=csv_file,
        swap=swap,
        heatmap=heatmap,
        steps=steps,
    )


def picture_block(opening: dict) -> dict:
    """The bmm picture of the shown step (at first: `opening`'s), with its two server actions (a batch of 4, a
    timing), by name."""
    with gr.Column(elem_id="picture-block"):
        picture = picture_component(value=opening["picture"])
        with gr.Row():
            in_batch = gr.Button("See this step in a batch of 4", size="sm", elem_id="picture-in-batch")
            measure = gr.Button("Measure loop vs bmm on this server", size="sm", elem_id="picture-measure")
    return dict(picture=picture, in_batch=in_batch, measure=measure)
