"""The Batch tab: a few sentences decoded as ONE padded batch, shown with that batch's real numbers.

Formatting of an `inference.batch_trace.BatchTrace` (pure functions), then the tab's handlers and layout
(BatchTab), which page/layout.py builds inside its Blocks. Models run only through `inference`.
"""

from __future__ import annotations

import uuid

import gradio as gr
import numpy as np

from inference import InputError
from inference.batch_trace import source_ids_by_line, split_sentences, trace_batch
from inference.document import batch_json
from inference.examples import EXAMPLES as SENTENCES
from inference.examples import examples_for
from page.bmm_panel import batch_picture_value, measure, measured_call, picture_component, timing_figure, timing_table
from page.gate import DecodeGate, work_of
from page.heatmap import RULE_TEXT, static_head
from page.limits import CACHED_BATCH_BYTES, CACHED_BATCHES, DECODE_EVENT
from page.state import ResultCache
from page.text import md_text

PAD = "·pad·"
# Written for this page: different lengths, so the batch needs padding.
EXAMPLES = {
    "en": [
        "A cat sleeps.",
        "Two boys are playing football on a wet field.",
        "An old woman feeds the birds.",
        "A man in a yellow jacket is fixing a bicycle next to the road.",
    ],
    "de": [
        "Eine Katze schläft.",
        "Zwei Jungen spielen auf einem nassen Feld Fußball.",
        "Eine alte Frau füttert die Vögel.",
        "Ein Mann in einer gelben Jacke repariert ein Fahrrad neben der Straße.",
    ],
    "fr": [
        "Un chat dort.",
        "Deux garçons jouent au football sur un terrain mouillé.",
        "Une vieille femme nourrit les oiseaux.",
        "Un homme en veste jaune répare un vélo au bord de la route.",
    ],
}


def examples_text(language: str) -> str:
    return "\n".join(EXAMPLES.get(language, EXAMPLES["en"]))


def our_example_in(language: str, text: str) -> str:
    """`text` when the visitor wrote it; when it is one of our example sentences (any language), the same
    example in `language` (the lists are parallel), so a pair switch never drops what the visitor typed."""
    wanted = examples_for(language)
    for sentences in SENTENCES.values():
        if text in sentences and sentences.index(text) < len(wanted):
            return wanted[sentences.index(text)]
    return text


def _token_cell(token: str, real: bool) -> str:
    return md_text(token) if real else f"*{PAD}*"


def shapes_markdown(trace, two_h: int) -> str:
    """src_ids with padding marked, the mask, enc_out's shape and its rows' norms, and B at every step."""
    B, S = trace.src_ids.shape
    header = "| sentence | " + " | ".join(str(s) for s in range(S)) + " |"
    rule = "|---|" + "---:|" * S
    ids = [header, rule] + [
        f"| {b} | "
        + " | ".join(
            f"{trace.src_ids[b, s]}<br>{_token_cell(trace.source_tokens[b][s], True)}"
            if trace.mask[b, s]
            else f"**{trace.src_ids[b, s]}**<br>*{PAD}*"
            for s in range(S)
        )
        + " |"
        for b in range(B)
    ]
    mask = [header, rule] + [
        f"| {b} | " + " | ".join("1" if trace.mask[b, s] else "**0**" for s in range(S)) + " |" for b in range(B)
    ]
    norms = np.linalg.norm(trace.enc_out, axis=-1)  # (B, S)
    enc = [header, rule] + [
        f"| {b} | "
        + " | ".join(f"{norms[b, s]:.2f}" if trace.mask[b, s] else f"**{norms[b, s]:.0f}**" for s in range(S))
        + " |"
        for b in range(B)
    ]
    sizes = [call.batch for call in trace.calls]
    return "\n".join(
        [
            f"**B = {B} sentences, padded to S = {S}** (the longest has {max(trace.lengths)} tokens with `</s>`; "
            f"the others get pad id {trace.pad_id} on the right).",
            "",
            f"**src_ids** ({B}, {S}), padding in bold:",
            "",
            *ids,
            "",
            f"**src_mask** ({B}, {S}) = `src_ids != {trace.pad_id}`, True (1) for real tokens:",
            "",
            *mask,
            "",
            f"**enc_out** ({B}, {S}, {two_h}): the length of each {two_h}-number row (the encoder zeroes padded "
            "rows, and the mask keeps them out of attention):",
            "",
            *enc,
            "",
            "**B at each decoding step** (a sentence leaves the batch when it writes `</s>`): "
            + ", ".join(f"step {t}: {b}" for t, b in enumerate(sizes))
            + ".",
        ]
    )


def sentence_heatmaps(doc: dict) -> dict:
    """The per-sentence heatmaps' value: each sentence's translation JSON, drawn by the page's heatmap code."""
    return {
        "key": uuid.uuid4().hex,
        "sentences": [
            {"key": uuid.uuid4().hex, "step": 0, "words": False, "share": None, "translation": sentence}
            for sentence in doc["sentences"]
        ],
    }


def translations_markdown(trace, differences: list[float]) -> str:
    """Each sentence's translation from the batch, and how far its attention is from translating it alone."""
    lines = [
        "| sentence | source | translation (from the batch) | max abs difference from translating it alone |",
        "|---:|---|---|---:|",
    ]
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

    def __init__(self, translator_for, cache_size: int = CACHED_BATCHES, gate=None):
        self.translator_for = translator_for
        self.gate = gate or DecodeGate()  # the server-wide decoding gate (page/gate.py)
        self.traces = ResultCache(cache_size, CACHED_BATCH_BYTES)

    def examples_for(self, translator, text: str | None = None) -> str:
        """The Batch sentences for `translator`'s source language: the visitor's own `text` is kept, ours (or
        none) become ours in that language."""
        ours = {examples_text(language) for language in EXAMPLES}
        return (
            text if isinstance(text, str) and text.strip() and text not in ours else examples_text(translator.src_lang)
        )

    def on_pair(self, key, pair, text):
        """After a pair switch: the batch again on the new pair, unless the shown batch already is this one."""
        saved = self.traces.get(key)
        if saved is not None and saved.get("pair") == pair and saved.get("text") == text:
            return (gr.skip(),) * 6
        return self.on_run(pair, text)

    def on_run(self, pair, text):
        try:
            translator = self.translator_for(pair)
            texts = split_sentences(text)
            longest = max(len(ids) for ids in source_ids_by_line(translator, texts))
            with self.gate.decoding(work_of(longest, 2 * len(texts))):  # the batch, then each sentence alone
                trace = trace_batch(translator, texts)
                differences = alone_differences(translator, trace)
        except InputError as error:
            return (gr.skip(),) * 5 + (f"⚠️ {md_text(error)}",)
        two_h = 2 * translator.config["hidden_dim"]
        precision = str(translator.bundle.manifest.get("precision", "fp32"))
        note = (
            "int8: each row of a batch is quantised with its own scale and multiplied in exact integers, so "
            "the other sentences change nothing but float rounding."
            if "int8" in precision
            else "fp32: the batch gives each sentence the weights it gets alone, up to float rounding."
        )
        doc = batch_json(trace, translator.name, translator.config)
        key = self.traces.put({"trace": trace, "doc": doc, "pair": translator.name, "text": text})
        return (
            key,
            shapes_markdown(trace, two_h),
            batch_picture_value(doc),
            sentence_heatmaps(doc),
            translations_markdown(trace, differences) + "\n\n" + md_text(note),
            f"One encoder call and {len(trace.calls)} decoder calls for {len(trace.texts)} sentences.",
        )

    def on_timing(self, key, pair, progress=None):
        saved = self.traces.get(key)
        translator = self.translator_for(pair)
        two_h = 2 * translator.config["hidden_dim"]
        S = saved["trace"].src_ids.shape[1] if saved else 16
        with self.gate.decoding(work_of(S)):  # numpy products, not a decode, but the same CPUs
            rows = measure(S, two_h, progress=progress)
        picture = gr.skip()
        if saved is not None:  # the picture's lanes get this batch's own B and S, at its first step
            picture = batch_picture_value(saved["doc"], 0, measured_call(saved["trace"].calls[0].batch, S, two_h))
        worst = max(r["max_abs_difference"] for r in rows)
        by = {(r["B"], r["method"]): r["us_per_call"] for r in rows}
        batched, loop = list(by)[-3], list(by)[-2]
        summary = (
            f"All three give the same context vectors (largest absolute difference {worst:.1e}). "
            f"At B = {batched[0]} the batched call takes {by[batched]:.0f} µs, the loop {by[loop]:.0f} µs "
            f"({by[loop] / by[batched]:.1f}×): one call instead of {batched[0]} is what bmm buys."
        )
        return timing_table(rows), timing_figure(rows, S, two_h), summary, picture

    def build(self, pair, translator):
        """The tab's components and events; returns the sentences box and two functions that add the load event
        and the batch's rerun after a pair switch."""
        private = DECODE_EVENT  # every event here decodes or times: the server-wide gate's workers
        with gr.Tab("Batch", elem_id="batch-tab"):
            gr.Markdown(
                "Several sentences go through the encoder and decoder as **one padded batch**: here is "
                "everything bmm multiplies for them, with this batch's real numbers. Edit the sentences "
                "(2 to 8, one per line) and run again.",
                latex_delimiters=[],
            )
            key = gr.State(None)
            with gr.Row(equal_height=False):
                with gr.Column(scale=2):
                    text = gr.Textbox(
                        examples_text(translator.src_lang),
                        lines=5,
                        max_lines=8,
                        label="Sentences, one per line",
                        elem_id="batch-text",
                    )
                    run = gr.Button("Run as one batch", variant="primary", elem_id="batch-run")
                    status = gr.Markdown(elem_id="batch-status", latex_delimiters=[])
                with gr.Column(scale=3):
                    translations = gr.Markdown(elem_id="batch-translations", latex_delimiters=[])
            picture = picture_component(elem_id="batch-picture")
            figure = gr.HTML(
                None,
                html_template='<div class="bmm-hm-many"></div>',
                elem_id="batch-heatmaps",
                js_on_load="window.BmmHeatmap.mountMany(element, props, watch);",
                head=static_head("heatmap.css", "heatmap_rule.js", "heatmap.js"),
                apply_default_css=False,
                rule_text=RULE_TEXT,
            )
            with gr.Accordion("The numbers: src_ids, mask, enc_out, B per step", open=False):
                shapes = gr.Markdown(elem_id="batch-shapes", latex_delimiters=[])
            with gr.Accordion("Measured on this server: bmm vs a loop vs the tutorial's B = 1 form", open=False):
                time_button = gr.Button("Measure (under a second)", elem_id="batch-measure")
                timing_summary = gr.Markdown(elem_id="batch-timing-summary", latex_delimiters=[])
                timing_plot = gr.Plot(label="µs per call, measured on this server", elem_id="batch-timing-plot")
                timing = gr.Dataframe(
                    headers=["B", "method", "µs per call", "µs per sentence", "max |diff|"],
                    datatype="str",
                    interactive=False,
                    elem_id="batch-timing",
                )
        outputs = [key, shapes, picture, figure, translations, status]
        run.click(self.on_run, [pair, text], outputs, **private)

        def timed(key_value, pair_value, progress=gr.Progress()):
            return self.on_timing(key_value, pair_value, progress)

        time_button.click(timed, [key, pair], [timing, timing_plot, timing_summary, picture], **private)

        def on_load(demo):
            return demo.load(self.on_run, [pair, text], outputs, **private)

        def after_pair_switch(event):
            return event.then(self.on_pair, [key, pair, text], outputs, **private)

        return text, on_load, after_pair_switch
