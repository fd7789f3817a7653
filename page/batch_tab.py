"""The Batch tab: a few sentences decoded as ONE padded batch, shown with that batch's real numbers.

Formatting of an `inference.batch_trace.BatchTrace` (pure functions), then the tab's handlers and layout
(BatchTab), which page/layout.py builds inside its Blocks. Models run only through `inference`.
"""
from __future__ import annotations

import gradio as gr
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from inference import InputError
from inference.batch_trace import split_sentences, trace_batch
from page.bmm_panel import MODEL_LINES, measure, timing_figure, timing_table
from page.limits import CACHED_BATCHES
from page.state import ResultCache
from page.text import md_text, plot_text

PAD = "·pad·"
# Written for this page: different lengths, so the batch needs padding.
EXAMPLES = {
    "en": ["A cat sleeps.", "Two boys are playing football on a wet field.", "An old woman feeds the birds.",
           "A man in a yellow jacket is fixing a bicycle next to the road."],
    "de": ["Eine Katze schläft.", "Zwei Jungen spielen auf einem nassen Feld Fußball.",
           "Eine alte Frau füttert die Vögel.", "Ein Mann in einer gelben Jacke repariert ein Fahrrad neben der Straße."],
    "fr": ["Un chat dort.", "Deux garçons jouent au football sur un terrain mouillé.", "Une vieille femme nourrit les oiseaux.",
           "Un homme en veste jaune répare un vélo au bord de la route."],
}


def examples_text(language: str) -> str:
    return "\n".join(EXAMPLES.get(language, EXAMPLES["en"]))


def _token_cell(token: str, real: bool) -> str:
    return md_text(token) if real else f"*{PAD}*"


def shapes_markdown(trace, two_h: int) -> str:
    """src_ids with padding marked, the mask, enc_out's shape and its rows' norms, and B at every step."""
    B, S = trace.src_ids.shape
    header = "| sentence | " + " | ".join(str(s) for s in range(S)) + " |"
    rule = "|---|" + "---:|" * S
    ids = [header, rule] + [f"| {b} | " + " | ".join(
        f"{trace.src_ids[b, s]}<br>{_token_cell(trace.source_tokens[b][s], True)}" if trace.mask[b, s] else
        f"**{trace.src_ids[b, s]}**<br>*{PAD}*" for s in range(S)) + " |" for b in range(B)]
    mask = [header, rule] + [f"| {b} | " + " | ".join("1" if trace.mask[b, s] else "**0**" for s in range(S)) + " |"
                             for b in range(B)]
    norms = np.linalg.norm(trace.enc_out, axis=-1)  # (B, S)
    enc = [header, rule] + [f"| {b} | " + " | ".join(f"{norms[b, s]:.2f}" if trace.mask[b, s] else f"**{norms[b, s]:.0f}**"
                                                     for s in range(S)) + " |" for b in range(B)]
    sizes = [call.batch for call in trace.calls]
    return "\n".join([
        f"**B = {B} sentences, padded to S = {S}** (the longest has {max(trace.lengths)} tokens with `</s>`; "
        f"the others get pad id {trace.pad_id} on the right).", "",
        f"**src_ids** ({B}, {S}), padding in bold:", "", *ids, "",
        f"**src_mask** ({B}, {S}) = `src_ids != {trace.pad_id}`, True (1) for real tokens:", "", *mask, "",
        f"**enc_out** ({B}, {S}, {two_h}): the length of each {two_h}-number row (the encoder zeroes padded "
        "rows, and the mask keeps them out of attention):", "", *enc, "",
        "**B at each decoding step** (a sentence leaves the batch when it writes `</s>`): "
        + ", ".join(f"step {t}: {b}" for t, b in enumerate(sizes)) + "."])


def step_markdown(trace, step: int, two_h: int) -> str:
    """The two bmm calls of decoder call `step` with its shapes, and every row's attention over the padded source."""
    call = trace.calls[step]
    B, S = call.batch, trace.src_ids.shape[1]
    live = ", ".join(str(int(r)) for r in call.rows)
    gone = [b for b in range(len(trace.texts)) if b not in set(call.rows.tolist())]
    lines = [f"## Step {step}: B = {B} (sentences {live} still decoding"
             + (f"; {', '.join(map(str, gone))} finished and left the batch)" if gone else ")"), "",
             "| code (training/model.py) | this batch's call |", "|---|---|",
             f"| `{MODEL_LINES[0]}` | query ({B}, 1, {two_h}) bmm keysᵀ ({B}, {two_h}, {S}) → **({B}, 1, {S})** |",
             f"| `{MODEL_LINES[1]}` | src_mask rows of these {B} sentences ({B}, 1, {S}) |",
             f"| `{MODEL_LINES[2]}` | ({B}, 1, {S}); every row sums to 1 |",
             f"| `{MODEL_LINES[3]}` | ({B}, 1, {S}) bmm ({B}, {S}, {two_h}) → **({B}, 1, {two_h})** |", "",
             "**Each row's attention** (weights over all S positions; padded positions in bold are exactly what "
             "softmax gives them):", "",
             "| row | sentence | " + " | ".join(str(s) for s in range(S)) + " | sum |", "|---:|---|" + "---:|" * (S + 1)]
    for r, (sentence, row) in enumerate(zip(call.rows, call.attention)):
        sentence = int(sentence)
        cells = [f"{w:.2f}" if trace.mask[sentence, s] else f"**{w:g}**" for s, w in enumerate(row)]
        lines.append(f"| {r} | {sentence} | " + " | ".join(cells) + f" | {row.sum():.3f} |")
    return "\n".join(lines)


def heatmaps(trace, step: int):
    """One small target × source heatmap per sentence, side by side; the rows of `step` framed."""
    B = len(trace.texts)
    columns = min(B, 2)  # two per row stay readable on a phone as well as on a desktop
    rows = (B + columns - 1) // columns
    figure = make_subplots(rows=rows, cols=columns, subplot_titles=[f"sentence {b}" for b in range(B)],
                           horizontal_spacing=0.1, vertical_spacing=0.22)
    S = trace.src_ids.shape[1]
    for b in range(B):
        r, c = b // columns + 1, b % columns + 1
        weights = trace.attention[b]
        src = [plot_text(t) for t in trace.source_tokens[b]] + [PAD] * (S - trace.lengths[b])
        tgt = [plot_text(t) for t in trace.target_tokens[b]]
        figure.add_trace(go.Heatmap(
            z=weights, x=list(range(S)), y=list(range(len(tgt))), zmin=0, zmax=1, colorscale="Blues",
            showscale=False, customdata=[[[tgt[t], src[s]] for s in range(S)] for t in range(len(tgt))],
            hovertemplate="%{customdata[0]} → %{customdata[1]}: %{z:.3f}<extra></extra>"), row=r, col=c)
        figure.update_xaxes(tickvals=list(range(S)), ticktext=src, tickangle=-60, tickfont=dict(size=9), row=r, col=c)
        figure.update_yaxes(tickvals=list(range(len(tgt))), ticktext=tgt, autorange="reversed", tickfont=dict(size=9),
                            row=r, col=c)
        if step < len(tgt):
            figure.add_shape(type="rect", x0=-0.5, x1=S - 0.5, y0=step - 0.5, y1=step + 0.5,
                             line=dict(color="#f97316", width=2), row=r, col=c)
    figure.update_layout(height=300 * rows + 80, margin=dict(l=10, r=10, t=70, b=10), plot_bgcolor="white")
    return figure


def translations_markdown(trace, differences: list[float]) -> str:
    """Each sentence's translation from the batch, and how far its attention is from translating it alone."""
    lines = ["| sentence | source | translation (from the batch) | max abs difference from translating it alone |",
             "|---:|---|---|---:|"]
    for b, (text, translation, difference) in enumerate(zip(trace.texts, trace.translations, differences)):
        lines.append(f"| {b} | {md_text(text)} | {md_text(translation)} | {difference:.1e} |")
    return "\n".join(lines)


def alone_differences(translator, trace) -> list[float]:
    """Max |weight difference| between each sentence's rows in the batch and the same sentence translated
    alone (over the steps both have, real positions only)."""
    out = []
    for b, text in enumerate(trace.texts):
        alone = np.asarray(translator.translate(text).attention)
        steps = min(len(alone), len(trace.attention[b]))
        out.append(float(np.abs(trace.attention[b][:steps, : trace.lengths[b]] - alone[:steps]).max()))
    return out


class BatchTab:
    """The Batch tab's handlers and layout; traces are kept server-side by key like translations."""

    def __init__(self, translator_for, cache_size: int = CACHED_BATCHES):
        self.translator_for = translator_for
        self.traces = ResultCache(cache_size)

    def examples_for(self, translator) -> str:
        return examples_text(translator.src_lang)

    def on_run(self, pair, text):
        try:
            translator = self.translator_for(pair)
            trace = trace_batch(translator, split_sentences(text))
        except InputError as error:
            return (gr.skip(),) * 6 + (f"⚠️ {md_text(error)}",)
        two_h = 2 * translator.config["hidden_dim"]
        differences = alone_differences(translator, trace)
        precision = str(translator.bundle.manifest.get("precision", "fp32"))
        note = ("int8: each row of a batch is quantised with its own scale and multiplied in exact integers, so "
                "the other sentences change nothing but float rounding." if "int8" in precision else
                "fp32: the batch gives each sentence the weights it gets alone, up to float rounding.")
        key = self.traces.put({"trace": trace, "two_h": two_h})
        last = len(trace.calls) - 1
        return (key, shapes_markdown(trace, two_h), gr.Slider(minimum=0, maximum=max(last, 1), value=0, step=1,
                                                              interactive=last > 0),
                step_markdown(trace, 0, two_h), heatmaps(trace, 0),
                translations_markdown(trace, differences) + "\n\n" + md_text(note),
                f"One encoder call and {len(trace.calls)} decoder calls for {len(trace.texts)} sentences.")

    def on_step(self, key, step):
        saved = self.traces.get(key)
        if saved is None or step is None:
            return gr.skip(), gr.skip()
        trace = saved["trace"]
        step = min(max(int(step), 0), len(trace.calls) - 1)
        return step_markdown(trace, step, saved["two_h"]), heatmaps(trace, step)

    def on_timing(self, key, pair, progress=None):
        saved = self.traces.get(key)
        translator = self.translator_for(pair)
        two_h = 2 * translator.config["hidden_dim"]
        S = saved["trace"].src_ids.shape[1] if saved else 16
        rows = measure(S, two_h, progress=progress)
        worst = max(r["max_abs_difference"] for r in rows)
        by = {(r["B"], r["method"]): r["us_per_call"] for r in rows}
        batched, loop = list(by)[-3], list(by)[-2]
        summary = (f"All three give the same context vectors (largest absolute difference {worst:.1e}). "
                   f"At B = {batched[0]} the batched call takes {by[batched]:.0f} µs, the loop {by[loop]:.0f} µs "
                   f"({by[loop] / by[batched]:.1f}×): one call instead of {batched[0]} is what bmm buys.")
        return timing_table(rows), timing_figure(rows, S, two_h), summary

    def build(self, pair, translator):
        """The tab's components and events; returns the sentences box and a function that adds the load event."""
        private = dict(api_visibility="private")
        with gr.Tab("Batch", elem_id="batch-tab"):
            gr.Markdown("Several sentences go through the encoder and decoder as **one padded batch**: here is "
                        "everything bmm multiplies for them, with this batch's real numbers. Edit the sentences "
                        "(2 to 8, one per line) and run again.", latex_delimiters=[])
            key = gr.State(None)
            with gr.Row(equal_height=False):
                with gr.Column(scale=2):
                    text = gr.Textbox(examples_text(translator.src_lang), lines=5, max_lines=8,
                                      label="Sentences, one per line", elem_id="batch-text")
                    run = gr.Button("Run as one batch", variant="primary", elem_id="batch-run")
                    status = gr.Markdown(elem_id="batch-status", latex_delimiters=[])
                with gr.Column(scale=3):
                    translations = gr.Markdown(elem_id="batch-translations", latex_delimiters=[])
            with gr.Accordion("The batch: src_ids, mask, enc_out, B per step", open=True):
                shapes = gr.Markdown(elem_id="batch-shapes", latex_delimiters=[])
            step = gr.Slider(0, 1, value=0, step=1, label="Decoding step (moves every sentence together)",
                             elem_id="batch-step")
            step_view = gr.Markdown(elem_id="batch-step-view", latex_delimiters=[], container=True, padding=True)
            figure = gr.Plot(label="Attention per sentence (padding columns marked ·pad·)", elem_id="batch-heatmaps")
            with gr.Accordion("Measured on this server: bmm vs a loop vs the tutorial's B = 1 form", open=False):
                time_button = gr.Button("Measure (under a second)", elem_id="batch-measure")
                timing_summary = gr.Markdown(elem_id="batch-timing-summary", latex_delimiters=[])
                timing_plot = gr.Plot(label="µs per call, measured on this server", elem_id="batch-timing-plot")
                timing = gr.Dataframe(headers=["B", "method", "µs per call", "µs per sentence", "max |diff|"],
                                      datatype="str", interactive=False, elem_id="batch-timing")
        outputs = [key, shapes, step, step_view, figure, translations, status]
        run.click(self.on_run, [pair, text], outputs, **private)
        step.input(self.on_step, [key, step], [step_view, figure], **private)

        def timed(key_value, pair_value, progress=gr.Progress()):
            return self.on_timing(key_value, pair_value, progress)

        time_button.click(timed, [key, pair], [timing, timing_plot, timing_summary], **private)
        return text, lambda demo: demo.load(self.on_run, [pair, text], outputs, **private)
