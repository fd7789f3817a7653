"""The page's handlers: plain methods on DemoApp (tested directly), which page/layout.py wires to components.

Every model call goes through `inference` (onnxruntime inside, never torch); every result becomes a Shown
(page/state.py) kept in a bounded cache, and every view formats a Shown.
"""

from __future__ import annotations

import traceback

import gradio as gr

from inference import InputError, Translator
from inference.batch_trace import trace_batch
from inference.document import batch_json
from inference.examples import examples_for
from inference.explain import explanation
from page import downloads, reference, translate_tab
from page.batch_tab import EXAMPLES, BatchTab, our_example_in
from page.bmm_panel import batch_picture_value, measured_call, picture_value
from page.gate import BUSY, DecodeGate, work_of
from page.limits import (
    CACHED_RESULT_BYTES,
    CACHED_RESULTS,
    CONCURRENCY,
    HEAVY_WAITING,
    HEAVY_WORK,
    TOP_K,
    WORKED_BEAM,
    check_pair,
    settings,
    step_number,
)
from page.model_card import model_card_markdown
from page.share import state_from_query
from page.state import ResultCache, Shown
from page.text import md_text, md_token
from page.translate_tab import STEP_FIELDS, ResultViews
from page.what_if_tab import WhatIfTab

LOAD_FIELDS = ("pair", "mode", "beam_size", "length_penalty", "max_len", "source", "examples")  # then ResultViews


class DemoApp:
    """The handlers of the page and its API, over the loaded translators (one per language pair)."""

    def __init__(self, translators: dict[str, Translator], cache_size: int = CACHED_RESULTS):
        self.translators = translators
        self.default = "en-de" if "en-de" in translators else next(iter(translators))
        self.results = ResultCache(cache_size, CACHED_RESULT_BYTES)
        self.gate = DecodeGate(CONCURRENCY, heavy_waiting=HEAVY_WAITING, heavy_work=HEAVY_WORK)  # server-wide
        self.batch = BatchTab(self.translator, gate=self.gate)
        self.what_if = WhatIfTab(self.translator, self.default, gate=self.gate)
        self._opening: tuple[str, dict | None] | None = None  # opening(): the worked example the page is built with

    # ---- model calls ------------------------------------------------------------------------------
    def translator(self, pair) -> Translator:
        return self.translators[check_pair(pair, self.translators)]

    def run(self, pair, text, beam_size=1, length_penalty=None, max_len=0, prefix: list[int] | None = None) -> Shown:
        """Checks every argument (InputError says which and why) and translates. length_penalty None = the
        bundle's own (tuned on validation)."""
        translator = self.translator(pair)
        asked = settings(text, beam_size, length_penalty, max_len)
        with self.gate.decoding(work_of(len(translator.source_ids(asked.text)), asked.beam_size)):
            result = translator.translate(
                asked.text,
                beam_size=asked.beam_size,
                length_penalty=asked.length_penalty,
                n_best=asked.beam_size,
                max_len=asked.max_len or None,
                top_k=TOP_K,
                prefix=prefix,
            )
        return Shown(translator.name, asked.text, asked.max_len, result, translator.config)

    def others(self, pair: str) -> list[Translator]:
        """Every other loaded model, for the direction hint (it leaves out those reading the same language)."""
        return [t for name, t in self.translators.items() if name != pair]

    def explained(self, shown: Shown) -> dict:
        """Occlusion, coverage, confidence and the direction hint, computed once per result and kept in it, so the
        page, its downloads and /explain give the same numbers and a step change costs nothing."""
        if shown.explanation is None:
            others = self.others(shown.pair)
            S = len(shown.translation.source_tokens)
            with self.gate.decoding(work_of(S, S + 1 + len(others))):  # occlusion: S + 1 rows; one per other model
                shown.explanation = explanation(self.translator(shown.pair), shown.text, shown.result, reverse=others)
        return shown.explanation

    # ---- UI handlers ------------------------------------------------------------------------------
    def on_translate(self, pair, text, mode, beam_size, length_penalty, max_len) -> ResultViews:
        beam = beam_size if mode == "beam search" else 1
        try:
            return self.render(self.run(pair, text, beam, length_penalty, max_len), 0)
        except InputError as error:  # bad input, or costly work while the costly lane is full (page/gate.py)
            return self.refused(f"⚠️ {md_text(error)}")

    def on_load(self, request: gr.Request | None = None):
        """A share link (?pair=…&text=…&step=…) restores its translation; without one the page already holds the
        worked example (opening()) and nothing is sent; a link naming only a pair opens on that pair's worked
        example. What the link does not set is left alone (gr.skip()), so a value typed while the page loads is not
        overwritten. Returns LOAD_FIELDS then ResultViews."""
        query = state_from_query(dict(request.query_params) if request else {}, self.translators)
        notes = md_text(" ".join(query.pop("messages"))) or None
        pair = query.get("pair", self.default)
        translator = self.translators[pair]
        shown = [query.get(k, gr.skip()) for k in ("pair", "mode", "beam_size")]
        shown += [
            query.get("length_penalty", translator.length_penalty if "pair" in query else gr.skip()),
            query.get("max_len", gr.skip()),
        ]
        examples = (
            gr.Dataset(samples=[[s] for s in examples_for(translator.src_lang)]) if "pair" in query else gr.skip()
        )
        if "text" in query:
            beam = query.get("beam_size", 5) if query.get("mode") == "beam search" else 1
            prefix = query.get("prefix")
            if prefix:
                beam, shown[1:3] = 1, ["greedy", gr.skip()]  # a continued translation: the forced tokens, then greedy
            try:
                result = self.run(
                    pair, query["text"], beam, query.get("length_penalty"), query.get("max_len", 0), prefix=prefix
                )
            except InputError as error:
                return (*shown, query["text"], examples, *self.message(f"⚠️ {md_text(error)}"))
            step, last = query.get("step", 0), len(result.result.target_tokens) - 1
            lines = [notes] if notes else []
            if prefix:
                lines.append(f"Continued from the link's {len(prefix)} forced tokens; the steps after them are greedy.")
            if step > last:
                lines.append(f"The link's step={step} is past this translation's last step; showing step {last}.")
            return (
                *shown,
                query["text"],
                examples,
                *self.render(result, min(step, last), "  \n".join(lines) or None, query.get("words", False)),
            )
        if not query and not notes and self._opening and self._opening[1]:  # the page holds it already (opening)
            return (gr.skip(),) * (len(LOAD_FIELDS) + len(ResultViews._fields))
        worked = self.worked_example(pair)
        if worked is None:
            return (*shown, "", examples, *self.message(notes or "Type a sentence and press Enter."))
        text, result, step, status = worked
        shown[1:3] = ["beam search", WORKED_BEAM]
        return (*shown, text, examples, *self.render(result, step, notes or status))

    def worked_example(self, pair: str) -> tuple[str, Shown, int, str] | None:
        """The first of our examples `pair`'s model can read, as a beam search (its decoder calls really batch B
        beams), opened at its first step with B > 1, and its status line; None when none can be read."""
        for text in examples_for(self.translators[pair].src_lang):
            try:
                result = self.run(pair, text, WORKED_BEAM)
            except InputError:
                continue
            first_batched = next((t for t, call in enumerate(result.translation.step_calls) if call.batch > 1), 0)
            step = min(first_batched, len(result.result.target_tokens) - 1)
            status = (
                f"A worked example (beam search, {WORKED_BEAM} beams): click any target token below, or type your "
                "own sentence."
            )
            return text, result, step, status
        return None

    def opening(self) -> tuple[str, dict | None]:
        """The default pair's worked example as plain values (translate_tab.shown_values), computed once:
        page/layout.py builds the page holding them, so a visitor's first paint shows it with no server round
        trip. Its cache entry is pinned, since every fresh session's state points at it."""
        if self._opening is None:
            worked = self.worked_example(self.default)
            if worked is None:
                self._opening = "", None
            else:
                text, result, step, status = worked
                self.explained(result)
                values = translate_tab.shown_values(self.results.pin(result), result, step, status)
                values["heatmap"]["opening"] = True  # no share link in the address bar until the visitor acts
                self._opening = text, values
        return self._opening

    def on_continue(self, key, step, alternative) -> ResultViews:
        shown = self.results.get(key)
        if shown is None:
            return self.message("Translate a sentence first.")
        result = shown.result
        step = step_number(step)
        ids = result.alternative_ids
        if step is None or alternative is None or not (0 <= step < len(ids) and 0 <= int(alternative) < len(ids[step])):
            return self.message("Pick one of this step's alternatives first, then continue from it.")
        alternative = int(alternative)
        token, token_id = result.alternatives[step][alternative][0], ids[step][alternative]
        new = self.run(shown.pair, shown.text, max_len=shown.max_len, prefix=result.target_ids[:step] + [token_id])
        return self.render(
            new, step, f"Continued from {md_token(token)} at step {step}; the steps after it are greedy."
        )

    def decoding_of(self, key):
        """The Decoding radio for the shown result: a continued translation is greedy after its forced tokens."""
        shown = self.results.get(key)
        if shown is None:
            return gr.skip()
        return "beam search" if shown.translation.decoding["mode"] == "beam" else "greedy"

    def on_select(self, key, step):
        shown, step = self.results.get(key), step_number(step)
        if shown is None or step is None:
            return (gr.skip(),) * len(STEP_FIELDS)
        return translate_tab.step_views(shown, step)

    def on_hypothesis(self, key, event: gr.SelectData) -> ResultViews:
        """A row of the n-best table: that hypothesis' own heatmap, steps and bmm rows (row 1: the best)."""
        shown = self.results.get(key)
        index = event.index[0] if isinstance(event.index, (list, tuple)) and event.index else event.index
        if shown is None or not isinstance(index, int) or not 0 <= index < len(shown.translation.nbest):
            return self.message("Translate with beam search first.")
        hyp = shown.translation.nbest[index]
        note = (
            f"Showing the best hypothesis (rank 1 of {len(shown.translation.nbest)})."
            if index == 0
            else f"Showing hypothesis {index + 1} of {len(shown.translation.nbest)} (log-prob {hyp.score:.3f}, "
            f"normalised {hyp.normalized_score:.3f}); click row 1 for the best."
        )
        return self.render(shown.showing(index), 0, note)

    def on_in_batch(self, key, step):
        """The same step with the shown sentence in a small batch (itself and three of ours): B > 1 for greedy."""
        shown, step = self.results.get(key), step_number(step)
        if shown is None:
            return gr.skip(), "Translate a sentence first."
        translator = self.translator(shown.pair)
        others = [t for t in EXAMPLES.get(translator.src_lang, EXAMPLES["en"]) if t != shown.text][:3]
        texts = [shown.text, *others]
        with self.gate.decoding(work_of(max(len(translator.source_ids(t)) for t in texts), len(texts))):
            trace = trace_batch(translator, texts)
        step = min(step or 0, len(trace.calls) - 1)
        return (
            batch_picture_value(batch_json(trace, shown.pair, translator.config), step),
            f"Step {step} with this sentence as row 0 of a batch of {len(trace.texts)}: the picture shows "
            f"B = {trace.calls[step].batch}. Translate again to return to the sentence alone.",
        )

    def on_measure(self, key, step):
        """This server's time for one attention step of the picture's B and S: one batched call against a loop."""
        shown, step = self.results.get(key), step_number(step)
        if shown is None:
            return gr.skip(), "Translate a sentence first."
        calls = shown.translation.step_calls
        step = min(max(step or 0, 0), len(calls) - 1)
        B, S = calls[step].batch, len(shown.translation.source_tokens)
        with self.gate.decoding(work_of(S, B)):
            timing = measured_call(B, S, 2 * shown.model["hidden_dim"])
        return (
            picture_value(shown, step, key, timing),
            f"Measured on this server for B = {B}, S = {S}: one batched matmul {timing['bmm_us']:.1f} µs, "
            f"a Python loop of {B} products {timing['loop_us']:.1f} µs.",
        )

    def on_downloads(self, key):
        """JSON and CSV of the shown result, written only when asked for."""
        shown = self.results.get(key)
        if shown is None:
            return gr.skip(), gr.skip(), "Translate a sentence first."
        self.explained(shown)
        json_path, csv_path = downloads.write_downloads(shown.document())
        return (
            gr.DownloadButton(value=json_path, visible=True),
            gr.DownloadButton(value=csv_path, visible=True),
            "Ready: click a file to download it.",
        )

    def on_reference(self, key, reference_text):
        shown = self.results.get(key)
        if shown is None:
            return "Translate a sentence first, then paste a reference translation of it.", [], None
        try:
            with self.gate.decoding(work_of(len(shown.translation.source_tokens))):
                scored = self.translator(shown.pair).score_reference(shown.text, reference_text, top_k=TOP_K)
        except InputError as error:
            return f"⚠️ {md_text(error)}", [], None
        metrics = reference.sentence_metrics(shown.result.text, reference_text)
        return (
            reference.reference_markdown(scored, metrics),
            reference.reference_rows(scored),
            reference.attention_figure(scored.source_tokens, scored.target_tokens, scored.attention),
        )

    def on_swap(self, key, mode, beam_size, max_len, batch_text=None):
        """The sentence reads like another loaded model's source language: switch to that pair and translate it
        there. Returns the pair, its examples, α, Batch sentences, then ResultViews."""
        shown = self.results.get(key)
        hint = ((shown.explanation or {}).get("direction") or {}) if shown else {}
        name = hint.get("reverse") if hint.get("swap") else None
        if name not in self.translators:
            return (gr.skip(),) * 4 + tuple(self.message("No model for another direction is loaded."))
        return (
            name,
            *self.pair_views(name, batch_text),
            *self.on_translate(name, shown.text, mode, beam_size, self.translators[name].length_penalty, max_len),
        )

    def pair_views(self, pair, batch_text=None) -> tuple:
        """The new pair's examples, tuned α and Batch sentences: the visitor's own sentences stay, ours are
        replaced by ours in the new source language."""
        translator = self.translator(pair)
        return (
            gr.Dataset(samples=[[s] for s in examples_for(translator.src_lang)]),
            gr.Slider(value=translator.length_penalty),
            self.batch.examples_for(translator, batch_text),
        )

    def on_pair(self, pair, key=None, text="", mode="greedy", beam_size=5, max_len=0, batch_text=None):
        """A pair really chosen: its examples and tuned α, the visitor's sentence (ours become ours in the new
        language) translated again on it. Choosing the pair already shown (opening and closing the list, tabbing
        past it) changes nothing. Returns the examples, α, Batch sentences, sentence box, then ResultViews."""
        shown = self.results.get(key)
        if shown is not None and shown.pair == pair:
            return (gr.skip(),) * (4 + len(ResultViews._fields))
        translator = self.translator(pair)
        views = self.pair_views(pair, batch_text)
        text = our_example_in(translator.src_lang, text if isinstance(text, str) else "")
        if not text.strip():
            return (*views, text, *self.cleared(f"Language pair is now {md_text(pair)}: translate a sentence."))
        result = self.on_translate(pair, text, mode, beam_size, translator.length_penalty, max_len)
        if not isinstance(result.state, str):  # refused: nothing of the old pair's result stays
            result = self.cleared(result.status)
        return (*views, text, *result)

    def model_card(self) -> str:
        return "\n\n---\n\n".join(
            model_card_markdown(
                name, t.bundle.manifest, t.bundle.evaluation, t.providers, t.warnings, t.last_latency_ms
            )
            for name, t in self.translators.items()
        )

    # ---- API --------------------------------------------------------------------------------------
    def api_translate(
        self, text: str, pair: str = "", beam_size: int = 1, length_penalty: float | None = None, max_len: int = 0
    ) -> dict:
        """Translate `text` (pair "" = the default; length_penalty None = the model's tuned one). Returns the
        translation JSON (inference/translation.schema.json): translation, source/target tokens, attention
        (target × source), top-5 alternatives per step, the n-best list (beam search) and every decoder call."""
        return self.api_call(False, text, pair, beam_size, length_penalty, max_len)

    def api_explain(
        self, text: str, pair: str = "", beam_size: int = 1, length_penalty: float | None = None, max_len: int = 0
    ) -> dict:
        """Everything /translate returns plus "explanation": occlusion (per step and source token, the drop in the
        chosen token's log-probability when that token is hidden from attention), coverage with its flags,
        attention entropy and sentence confidence, and the wrong-direction hint: the numbers the page shows."""
        return self.api_call(True, text, pair, beam_size, length_penalty, max_len)

    def api_door(self, api: str, data) -> str | None:
        """Before a /translate or /explain call joins the queue: the gate's one-line refusal when the call is
        costly and the costly lane is full, else None (every other check is the handler's, with its message)."""
        try:
            text, pair, beam = (list(data) + ["", "", 1])[:3]
            translator = self.translator(self.default if pair in ("", None) else pair)
            S, beam = len(translator.source_ids(text)), settings(text, beam).beam_size
        except (InputError, TypeError, ValueError):
            return None
        work = work_of(S, beam)
        if api == "explain":
            work = max(work, work_of(S, S + 1 + len(self.others(translator.name))))
        if self.gate.refuses(work):
            self.gate.refused += 1
            return BUSY
        return None

    def api_call(self, explain: bool, text, pair, beam_size, length_penalty, max_len) -> dict:
        """Runs one API request; bad input → one-line gr.Error, a bug → logged here and a one-line gr.Error."""
        try:
            shown = self.run(self.default if pair in ("", None) else pair, text, beam_size, length_penalty, max_len)
            if explain:
                self.explained(shown)
            return shown.document()
        except InputError as error:
            raise gr.Error(str(error), print_exception=False) from None
        except Exception as error:  # a bug, not bad input: logged here, a one-line message for the caller
            traceback.print_exc()
            raise gr.Error(
                f"The translation failed on the server ({type(error).__name__}); try again or "
                "report the input that caused it.",
                print_exception=False,
            ) from None

    # ---- rendering (translate_tab formats, this adds the cache key) ---------------------------------
    def render(self, shown: Shown, step: int, status: str | None = None, words: bool = False) -> ResultViews:
        self.explained(shown)
        return translate_tab.render(self.results.put(shown), shown, step, status, words)

    message, cleared = staticmethod(translate_tab.message), staticmethod(translate_tab.cleared)
    refused = staticmethod(translate_tab.refused)
