"""The What if? tab and its API (/what_if, /compare): test attention instead of only looking at it.

1. Move one step's attention (a click puts all weight on one source token; sliders edit the row, renormalised)
   and see that step's new top 5 beside the model's own choice (inference.what_if: the step's output layer fed
   the edited context), then continue greedily from the edited step.
2. The beam search's tree (the translation JSON's beam_tree), B per depth; a node shows its prefix's heatmap
   (the prefix forced through the decoder, as "Continue from this alternative" does).
3. Two sentences side by side (inference.compare): both heatmaps, the translations, what changed.

Formatting and handlers; models run only through `inference`, every decode inside the server-wide gate.
"""

from __future__ import annotations

import json
import math
import traceback
import uuid

import gradio as gr

from inference import BundleError, InputError
from inference.compare import compare
from inference.document import SCHEMA_VERSION, translation_json
from inference.source_text import text_value, whole_number
from inference.what_if import check_weights, what_if
from page.gate import DecodeGate, work_of
from page.heatmap import RULE_TEXT, heatmap_component, heatmap_value, static_head, step_input
from page.limits import CACHED_WHAT_IF, CACHED_WHAT_IF_BYTES, DECODE_EVENT, MAX_BEAM, TOP_K, settings
from page.state import ResultCache, Shown
from page.text import md_text, md_token
from page.what_if_views import (
    compare_json,
    compare_markdown,
    cut,
    editor_value,
    model_top_markdown,
    one_heatmap,
    one_line,
    ours_in,
    prefix_of,
    sentences_for,
    what_if_markdown,
)

HEATMAP_HEAD = ("heatmap.css", "heatmap_rule.js", "heatmap.js")
TREE_BEAM = 5


# ---- handlers and layout --------------------------------------------------------------------------------
class WhatIfTab:
    """The tab's handlers and the /what_if and /compare API, over `translator_for(pair)` and the shared gate."""

    def __init__(self, translator_for, default: str, gate: DecodeGate | None = None):
        self.translator_for, self.default = translator_for, default
        self.gate = gate or DecodeGate()
        self.results = ResultCache(CACHED_WHAT_IF, CACHED_WHAT_IF_BYTES)

    def _pair(self, pair) -> str:
        return self.default if pair in ("", None) else pair

    # ---- the models ---------------------------------------------------------------------------------
    def edit(self, pair, text, step, weights) -> dict:
        """inference.what_if with every argument checked; the schema's $defs/what_if document."""
        translator = self.translator_for(self._pair(pair))
        text = settings(text).text
        step = whole_number("step", step, 0)
        S = len(translator.source_ids(text))
        check_weights(weights, S)  # the one-line message before any decoding
        with self.gate.decoding(work_of(S)):
            result = what_if(translator, text, step, weights, top_k=TOP_K)
        return {"schema_version": SCHEMA_VERSION, "pair": translator.name, "source": text, **result}

    def compared(self, pair, text_a, text_b) -> tuple[dict, dict]:
        translator = self.translator_for(self._pair(pair))
        text_a, text_b = text_value("text_a", text_a), text_value("text_b", text_b)
        S = max(len(translator.source_ids(text_a)), len(translator.source_ids(text_b)))
        with self.gate.decoding(work_of(S, 2)):
            result = compare(translator, text_a, text_b, top_k=TOP_K)
        return result, compare_json(result, translator.name, translator.config, text_a, text_b)

    # ---- API ----------------------------------------------------------------------------------------
    def api_what_if(self, text: str, pair: str = "", step: int = 0, weights: list[float] | None = None) -> dict:
        """Greedy-decode `text`, replace step `step`'s attention by `weights` (S non-negative numbers, one per source
        token with </s>, renormalised) and return that step's edited and original top 5 and the translation
        continued greedily from the edited step."""
        return self._api(lambda: self.edit(pair, text, step, weights))

    def api_compare(self, text_a: str, text_b: str, pair: str = "") -> dict:
        """Both sentences' translation JSON (greedy) and, per target position, whether the token changed and how
        far its attention row moved."""
        return self._api(lambda: self.compared(pair, text_a, text_b)[1])

    @staticmethod
    def _api(work):
        try:
            return work()
        except ValueError as error:  # bad input (InputError), bad weights, or a bundle without output.onnx
            raise gr.Error(one_line(error), print_exception=False) from None
        except Exception as error:
            traceback.print_exc()
            raise gr.Error(
                f"The request failed on the server ({type(error).__name__}); try again or report the input.",
                print_exception=False,
            ) from None

    # ---- page handlers ------------------------------------------------------------------------------
    def on_decode(self, pair, text):
        """The greedy translation whose steps the editor edits. Returns key, heatmap, editor, top, continue
        button, continued map, status."""
        try:
            translator = self.translator_for(pair)
            asked = settings(text)
            with self.gate.decoding(work_of(len(translator.source_ids(asked.text)))):
                result = translator.translate(asked.text, top_k=TOP_K)
        except InputError as error:
            return (gr.skip(),) * 6 + (f"⚠️ {md_text(error)}",)
        shown = Shown(translator.name, asked.text, 0, result, translator.config)
        doc = shown.document(with_explanation=False)
        step = min(1, len(doc["target_tokens"]) - 1)
        key = self.results.put({"shown": shown, "doc": doc})
        return (
            key,
            heatmap_value(shown, step, False, key),
            editor_value(doc, step),
            model_top_markdown(doc, step),
            gr.Button(visible=False),
            None,
            f"Greedy translation: “{md_text(doc['translation'])}”. Click a target token in the map to choose the "
            "step to edit.",
        )

    def on_step(self, key, step):
        saved, step = self.results.get(key), _number(step)
        if saved is None or step is None or not 0 <= step < len(saved["doc"]["target_tokens"]):
            return gr.skip(), gr.skip(), gr.skip()
        return editor_value(saved["doc"], step), model_top_markdown(saved["doc"], step), gr.Button(visible=False)

    def on_edit(self, key, edit):
        """The editor's weights for its step: the step's new top 5. Returns editor, top, continue button, status."""
        saved, asked = self.results.get(key), _edit(edit)
        if saved is None or asked is None:
            return gr.skip(), gr.skip(), gr.skip(), "Decode a sentence first."
        shown, (step, weights) = saved["shown"], asked
        try:
            result = self.edit(shown.pair, shown.text, step, weights)
        except (InputError, BundleError, ValueError) as error:
            return gr.skip(), gr.skip(), gr.skip(), f"⚠️ {md_text(one_line(error))}"
        return (
            editor_value(saved["doc"], step, result["weights"]),
            what_if_markdown(result),
            gr.Button(visible=True),
            f"Step {step} edited: only its output layer ran again (context = weights @ enc_out, the second bmm).",
        )

    def on_continue(self, key, edit):
        """Greedy decoding from the edited step: its heatmap (the edited row is your weights). Returns the map, status."""
        saved, asked = self.results.get(key), _edit(edit)
        if saved is None or asked is None:
            return gr.skip(), "Edit a step's attention first."
        shown, (step, weights) = saved["shown"], asked
        translator = self.translator_for(shown.pair)
        try:
            result = self.edit(shown.pair, shown.text, step, weights)
            with self.gate.decoding(work_of(len(shown.translation.source_ids))):
                forced = translator.translate(shown.text, prefix=result["continued_ids"][: step + 1], top_k=TOP_K)
        except (InputError, BundleError, ValueError) as error:
            return gr.skip(), f"⚠️ {md_text(one_line(error))}"
        doc = translation_json(forced, shown.pair, shown.text, translator.config)
        chosen = result["edited_top"][0]
        doc["attention"][step] = result["weights"]  # the step really ran on your weights
        doc["token_probs"][step] = math.exp(chosen["log_prob"])
        doc["alternatives"][step] = [
            {"token": a["token"], "id": a["id"], "prob": math.exp(a["log_prob"])} for a in result["edited_top"]
        ]
        title = f"Continued greedily from your edit at step {step}: {doc['translation']}"
        return (
            one_heatmap(doc, title, [step], step),
            f"Continued from step {step} ({md_token(chosen['token'])}, underlined row: your weights); "
            f"the model alone wrote: {md_text(shown.result.text)}",
        )

    def on_tree(self, pair, text, beam_size):
        """A beam search's tree. Returns the tree, the prefix map (cleared), status."""
        try:
            translator = self.translator_for(pair)
            asked = settings(text, beam_size)
            beam = max(asked.beam_size, 2)
            with self.gate.decoding(work_of(len(translator.source_ids(asked.text)), beam)):
                result = translator.translate(asked.text, beam_size=beam, n_best=beam, top_k=TOP_K)
        except InputError as error:
            return gr.skip(), gr.skip(), f"⚠️ {md_text(error)}"
        doc = translation_json(result, translator.name, asked.text, translator.config)
        key = self.results.put({"pair": translator.name, "text": asked.text, "doc": doc})
        batches = [depth["batch"] for depth in doc["beam_tree"]["depths"]]
        nodes = sum(len(depth["nodes"]) for depth in doc["beam_tree"]["depths"])
        return (
            {"key": key, "beam_tree": doc["beam_tree"]},
            None,
            f"Beam {beam}: {len(batches)} decoder calls, B per call {batches}, {nodes} candidates ranked; "
            f"best: {md_text(doc['translation'])}",
        )

    def on_node(self, node):
        """A tree node: its prefix forced through the decoder, drawn. Returns the map, status."""
        try:
            asked = json.loads(node) if isinstance(node, str) else None
            saved = self.results.get(asked.get("key")) if isinstance(asked, dict) else None
            tree = saved["doc"]["beam_tree"] if saved else None
            depth, index = int(asked["depth"]), int(asked["index"])
            if min(depth, index) < 0:
                raise IndexError(depth, index)
            picked = tree["depths"][depth]["nodes"][index]
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            return gr.skip(), "Run the beam search, then click one of its nodes."
        ids = prefix_of(tree, depth, index)
        translator = self.translator_for(saved["pair"])
        try:
            with self.gate.decoding(work_of(len(saved["doc"]["source_ids"]))):
                forced = translator.translate(saved["text"], prefix=ids, top_k=TOP_K)
        except InputError as error:  # the server is busy with costly work (page/gate.py)
            return gr.skip(), f"⚠️ {md_text(error)}"
        doc = translation_json(forced, saved["pair"], saved["text"], translator.config)
        prefix = translator.detokenize(ids)
        title = f"Prefix at t = {depth} ({picked['status']}, score {picked['score']:.2f}): {prefix}"
        return (
            one_heatmap(cut(doc, len(ids), prefix), title, (), len(ids) - 1),
            f"The prefix of node {index} at t = {depth}: {len(ids)} token{'s' if len(ids) > 1 else ''} forced through "
            "the decoder (the attention "
            f"beam search computed for them). Greedy from there: {md_text(doc['translation'])}",
        )

    def on_compare(self, pair, text_a, text_b):
        """Returns the two maps, the differences."""
        try:
            result, doc = self.compared(pair, text_a, text_b)
        except InputError as error:
            return gr.skip(), f"⚠️ {md_text(error)}"
        a, b = doc["a"], doc["b"]
        sentences = []
        for name, side in (("A", a), ("B", b)):
            T = len(side["target_tokens"])
            rows, tokens = ([r for r in result[k] if r < T] for k in ("changed_rows", "changed_tokens"))
            title = f"{name}: {side['source']} → {side['translation']}"
            sentences += one_heatmap(side, title, rows, 0, tokens)["sentences"]
        return {"key": uuid.uuid4().hex, "sentences": sentences}, compare_markdown(result, a, b)

    def on_open(self, key, pair, text, beam, text_a, text_b):
        """The tab opened: fill what is still empty (once per visitor), so the three views show an example."""
        if key is not None:
            return (gr.skip(),) * 12
        return (*self.on_decode(pair, text), *self.on_tree(pair, text, beam), *self.on_compare(pair, text_a, text_b))

    def on_pair(self, pair, key, text, text_a, text_b, beam):
        """A new pair: our sentences follow its source language (the visitor's own stay), and the views are drawn
        again when the tab has been opened. Returns the three sentence boxes, then what on_open returns."""
        language = self.translator_for(pair).src_lang
        text, text_a, text_b = (ours_in(language, t) for t in (text, text_a, text_b))
        if key is None:
            return (text, text_a, text_b, *(gr.skip(),) * 12)
        return (text, text_a, text_b, *self.on_open(None, pair, text, beam, text_a, text_b))

    def build(self, pair, translator):
        """The tab's components and events; returns a function that hooks the tab to a pair switch."""
        first, second = sentences_for(translator.src_lang)
        with gr.Tab("What if?", elem_id="whatif-tab") as tab:
            gr.Markdown(
                "Test attention instead of only looking at it. The decoder has no input feeding, so step t's "
                "attention enters only step t's output layer: move it and that step's choice can change.",
                latex_delimiters=[],
            )
            key = gr.State(None)
            with gr.Row(equal_height=False):
                text = gr.Textbox(first, label="Sentence", lines=1, max_lines=3, scale=4, elem_id="whatif-text")
                run = gr.Button("Decode (greedy)", variant="primary", scale=1, elem_id="whatif-run")
            status = gr.Markdown(elem_id="whatif-status", latex_delimiters=[])
            gr.Markdown("## 1. Move the attention of one step", elem_classes="whatif-heading")
            heatmap = heatmap_component(elem_id="whatif-heatmap", step_elem_id="whatif-step", local=True)
            step = step_input("whatif-step")
            with gr.Row(equal_height=False):
                with gr.Column(scale=3):
                    editor = _drawn("whatif-editor", "bmm-wi-root", "mountEditor", "whatif-weights")
                with gr.Column(scale=2):
                    top = gr.Markdown(elem_id="whatif-top", latex_delimiters=[])
                    go_on = gr.Button(
                        "Continue greedily from the edited step", visible=False, elem_id="whatif-continue"
                    )
            weights = gr.Textbox(value="", visible="hidden", elem_id="whatif-weights", label="Edited weights")
            continued = _many("whatif-continued")
            gr.Markdown("## 2. The beam-search tree", elem_classes="whatif-heading")
            with gr.Row(equal_height=False):
                beam = gr.Slider(2, MAX_BEAM, value=TREE_BEAM, step=1, label="Beam size", scale=3, elem_id="tree-beam")
                tree_run = gr.Button("Draw the tree of this sentence", scale=1, elem_id="tree-run")
            tree_status = gr.Markdown(elem_id="tree-status", latex_delimiters=[])
            tree = _drawn("whatif-tree", "bmm-tree-root", "mountTree", "tree-node")
            node = gr.Textbox(value="", visible="hidden", elem_id="tree-node", label="Tree node")
            prefix_map = _many("tree-prefix")
            gr.Markdown("## 3. Compare two sentences", elem_classes="whatif-heading")
            with gr.Row(equal_height=False):
                text_a = gr.Textbox(first, label="Sentence A", lines=1, max_lines=3, elem_id="compare-a")
                text_b = gr.Textbox(second, label="Sentence B", lines=1, max_lines=3, elem_id="compare-b")
            compare_run = gr.Button("Compare", elem_id="compare-run")
            differences = gr.Markdown(elem_id="compare-diff", latex_delimiters=[])
            maps = _many("compare-maps")

        decode = DECODE_EVENT
        private = dict(api_visibility="private")
        decoded = [key, heatmap, editor, top, go_on, continued, status]
        run.click(self.on_decode, [pair, text], decoded, **decode)
        text.submit(self.on_decode, [pair, text], decoded, **decode)
        step.change(self.on_step, [key, step], [editor, top, go_on], trigger_mode="always_last", **private)
        weights.change(self.on_edit, [key, weights], [editor, top, go_on, status], trigger_mode="always_last", **decode)
        go_on.click(self.on_continue, [key, weights], [continued, status], **decode)
        tree_run.click(self.on_tree, [pair, text, beam], [tree, prefix_map, tree_status], **decode)
        node.change(self.on_node, node, [prefix_map, tree_status], trigger_mode="always_last", **decode)
        compare_run.click(self.on_compare, [pair, text_a, text_b], [maps, differences], **decode)
        opened = [*decoded, tree, prefix_map, tree_status, maps, differences]
        tab.select(self.on_open, [key, pair, text, beam, text_a, text_b], opened, **decode)

        def after_pair_switch(event):
            inputs = [pair, key, text, text_a, text_b, beam]
            return event.then(self.on_pair, inputs, [text, text_a, text_b, *opened], **decode)

        return after_pair_switch


def _drawn(elem_id: str, root: str, mount: str, box_id: str) -> gr.HTML:
    """A view drawn by static/what_if.js that writes what the visitor did into the hidden box #box_id."""
    return gr.HTML(
        None,
        html_template=f'<div class="{root}"></div>',
        elem_id=elem_id,
        js_on_load=f"window.BmmWhatIf.{mount}(element, props, watch);",
        head=static_head("what_if.css", "heatmap_rule.js", "heatmap.js", "what_if.js"),
        apply_default_css=False,
        box_id=box_id,
    )


def _many(elem_id: str) -> gr.HTML:
    return gr.HTML(
        None,
        html_template='<div class="bmm-hm-many"></div>',
        elem_id=elem_id,
        js_on_load="window.BmmHeatmap.mountMany(element, props, watch);",
        head=static_head(*HEATMAP_HEAD),
        apply_default_css=False,
        rule_text=RULE_TEXT,
    )


def _number(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _edit(edit) -> tuple[int, list] | None:
    """The editor's hidden box, {"step": k, "weights": [...]}, as (step, weights); None when it is not that."""
    try:
        asked = json.loads(edit)
        return int(asked["step"]), list(asked["weights"])
    except (TypeError, ValueError, KeyError):
        return None
