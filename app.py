"""The web page: translate a sentence and see, poke and download what the bmm attention did.

    python app.py                                   # http://127.0.0.1:7860, bundles from assets/
    python app.py --host 0.0.0.0 --port 7860 --device cpu --assets assets
    APP_ASSETS_DIR=/path/to/bundles python app.py    # same as --assets

UI wiring only: every model call goes through `inference` (onnxruntime inside, never torch). Formatting
lives in the view modules: app_heatmap.py (+ static/: the attention heatmap, drawn and explored in the
browser, share links), app_explain.py (coverage, occlusion and confidence for it), app_results.py (the
Translate tab's layout and outputs), app_views.py (downloads, model card, page style), app_bmm.py (the bmm
panel), app_batch.py (the Batch tab); app_api.py loads the bundles, checks API arguments, caches results
and closes every route but /translate and /explain. On a Hugging Face Space (env SYSTEM=spaces) it listens
on 0.0.0.0 with the same defaults.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

import app_explain  # noqa: E402
import app_results as results_view  # noqa: E402
import app_views as views  # noqa: E402
from app_api import (PublicApiOnly, ResultCache, load_translators, real_number, step_number,  # noqa: E402, F401
                     text_value, whole_number)
from app_batch import BatchTab  # noqa: E402
from app_heatmap import state_from_query  # noqa: E402
from app_views import STEP_FIELDS, ResultViews  # noqa: E402
from inference import MAX_CHARS, BundleError, InputError, Translator  # noqa: E402
from inference.examples import examples_for  # noqa: E402
from inference.explain import explanation  # noqa: E402

HERE = Path(__file__).resolve().parent
CONCURRENCY = 2  # two requests decode at once on a 2-CPU Space, one onnxruntime thread each
QUEUE_SIZE = 32  # further requests are refused with "queue full" instead of piling up
MAX_BEAM, MAX_LEN, TOP_K = 10, 200, 5
MAX_UPLOAD = "4kb"  # no component takes files; uploads are refused, and capped should that ever change
CACHED_RESULTS = 200  # results kept server-side for all sessions together (each a few tens of kB)
# Gradio keeps each session's copy of the page config (110-180 kB for this page, measured); every API call
# over plain HTTP is a new session, so the default 10,000 would let memory grow by 1-2 GB. Sessions older
# than the last 1,000 only lose result keys that CACHED_RESULTS has already dropped.
SESSIONS = 1000


class DemoApp:
    """The handlers (plain methods, tested directly) and the Blocks that wires them to components."""

    def __init__(self, translators: dict[str, Translator], cache_size: int = CACHED_RESULTS):
        self.translators = translators
        self.default = "en-de" if "en-de" in translators else next(iter(translators))
        self.results = ResultCache(cache_size)
        self.batch = BatchTab(self.translator)

    # ---- model calls ------------------------------------------------------------------------------
    def translator(self, pair) -> Translator:
        pair = text_value("pair", pair, 'a language pair such as "en-de"')
        if pair not in self.translators:
            raise InputError(f"Unknown language pair {pair!r}; choose one of {', '.join(self.translators)}.")
        return self.translators[pair]

    def run(self, pair, text, beam_size=1, length_penalty=None, max_len=0, prefix: list[int] | None = None) -> dict:
        """Checks every argument (InputError says which and why), translates, and returns the result state:
        pair, text, settings, the Translation as a dict and its encoder output. length_penalty None = the
        bundle's own (tuned on validation)."""
        translator = self.translator(pair)
        text = text_value("text", text)
        beam_size = whole_number("beam_size", beam_size, 1, MAX_BEAM, "1 = greedy")
        max_len = whole_number("max_len", max_len, 0, MAX_LEN, "0 = automatic")
        length_penalty = translator.length_penalty if length_penalty is None else \
            real_number("length_penalty", length_penalty, 0.0, 5.0)
        result = translator.translate(text, beam_size=beam_size, length_penalty=length_penalty, n_best=beam_size,
                                      max_len=max_len or None, top_k=TOP_K, prefix=prefix)
        return {"pair": pair, "text": text, "max_len": max_len, "forced": len(prefix or []),
                "result": result.to_dict(), "enc_out": result.enc_out}

    def reverse(self, pair: str) -> Translator | None:
        t = self.translators[pair]
        return self.translators.get(f"{t.tgt_lang}-{t.src_lang}")

    def explained(self, state: dict) -> dict:
        """Occlusion, coverage, confidence and the direction hint, computed once per result and kept in it, so the
        page, its downloads and /explain give the same numbers and a step change costs nothing."""
        if "explain" not in state:
            state["explain"] = explanation(self.translator(state["pair"]), state["text"], state["result"],
                                           reverse=self.reverse(state["pair"]))
        return state["explain"]

    def full_payload(self, state: dict) -> dict:
        return {**views.export_payload(state), "explanation": app_explain.explanation_payload(self.explained(state))}

    # ---- UI handlers ------------------------------------------------------------------------------
    def on_translate(self, pair, text, mode, beam_size, length_penalty, max_len) -> ResultViews:
        beam = beam_size if mode == "beam search" else 1
        try:
            state = self.run(pair, text, beam, length_penalty, max_len)
        except InputError as error:
            return self.message(f"⚠️ {views.md_text(error)}")
        return self.render(state, 0)

    def on_load(self, request: gr.Request | None = None):
        """A share link (?pair=…&text=…&step=…) restores its translation; without one the page opens on a worked
        example (the first of ours the model can read). What the link does not set is left alone (gr.skip()),
        so a value typed while the page loads is not overwritten. Returns LOAD_FIELDS then ResultViews."""
        query = state_from_query(dict(request.query_params) if request else {}, self.translators)
        notes = views.md_text(" ".join(query.pop("messages"))) or None
        pair = query.get("pair", self.default)
        translator = self.translators[pair]
        shown = [query.get(k, gr.skip()) for k in ("pair", "mode", "beam_size")]
        shown += [query.get("length_penalty", translator.length_penalty if "pair" in query else gr.skip()),
                  query.get("max_len", gr.skip())]
        examples = gr.Dataset(samples=[[s] for s in examples_for(translator.src_lang)]) if "pair" in query else gr.skip()
        if "text" in query:
            beam = query.get("beam_size", 5) if query.get("mode") == "beam search" else 1
            try:
                state = self.run(pair, query["text"], beam, query.get("length_penalty"), query.get("max_len", 0))
            except InputError as error:
                return (*shown, query["text"], examples, *self.message(f"⚠️ {views.md_text(error)}"))
            return (*shown, query["text"], examples,
                    *self.render(state, query.get("step", 0), notes, query.get("words", False)))
        for text in examples_for(translator.src_lang):
            try:
                state = self.run(pair, text)
            except InputError:
                continue
            return (*shown, text, examples, *self.render(state, min(1, len(state["result"]["target_tokens"]) - 1),
                    notes or "A worked example: click any target token below, or type your own sentence."))
        return (*shown, "", examples, *self.message(notes or "Type a sentence and press Enter."))

    def on_continue(self, key, step, alternative) -> ResultViews:
        state = self.results.get(key)
        if state is None:
            return self.message("Translate a sentence first.")
        result = state["result"]
        ids = result["alternative_ids"]
        step = step_number(step)
        if step is None or alternative is None or not (0 <= step < len(ids) and 0 <= int(alternative) < len(ids[step])):
            return self.message("Pick one of this step's alternatives first, then continue from it.")
        alternative = int(alternative)
        token = result["alternatives"][step][alternative][0]
        token_id = result["alternative_ids"][step][alternative]
        new = self.run(state["pair"], state["text"], max_len=state["max_len"],
                       prefix=result["target_ids"][:step] + [token_id])
        return self.render(new, step, f"Continued from {views.md_token(token)} at step {step}; "
                                      "the steps after it are greedy.")

    def on_select(self, key, step):
        state, step = self.results.get(key), step_number(step)
        if state is None or step is None:
            return (gr.skip(),) * len(STEP_FIELDS)
        return self.step_views(state, step)

    def on_hypothesis(self, key, event: gr.SelectData) -> ResultViews:
        """A row of the n-best table: that hypothesis' own heatmap, steps and bmm rows (row 1: the best)."""
        shown = results_view.hypothesis_state(self.results.get(key), event.index)
        return self.message("Translate with beam search first.") if shown is None else self.render(shown[0], 0, shown[1])

    def on_downloads(self, key):
        """JSON and CSV of the shown result, written only when asked for."""
        state = self.results.get(key)
        if state is None:
            return gr.skip(), gr.skip(), "Translate a sentence first."
        json_path, csv_path = views.write_downloads(self.full_payload(state))
        return (gr.DownloadButton(value=json_path, visible=True), gr.DownloadButton(value=csv_path, visible=True),
                "Ready: click a file to download it.")

    def on_reference(self, key, reference):
        state = self.results.get(key)
        if state is None:
            return "Translate a sentence first, then paste a reference translation of it.", [], None
        try:
            scored = self.translator(state["pair"]).score_reference(state["text"], reference, top_k=TOP_K).to_dict()
        except InputError as error:
            return f"⚠️ {views.md_text(error)}", [], None
        metrics = views.sentence_metrics(state["result"]["text"], reference)
        return (views.reference_markdown(scored, metrics),
                views.reference_rows(scored),
                views.attention_figure(scored["source_tokens"], scored["target_tokens"], scored["attention"]))

    def on_swap(self, pair, text, mode, beam_size, length_penalty, max_len):
        """The sentence reads like the other language: switch to the reverse pair and translate it there."""
        reverse = self.reverse(pair) if pair in self.translators else None
        if reverse is None:
            return (gr.skip(),) * 4 + tuple(self.message("No model for the reverse direction is loaded."))
        name = next(n for n, t in self.translators.items() if t is reverse)
        return (name, *self.on_pair(name)[:3],
                *self.on_translate(name, text, mode, beam_size, reverse.length_penalty, max_len))

    def on_pair(self, pair):
        """New pair: its examples and tuned α, and the old result cleared so nothing runs on the old pair."""
        translator = self.translator(pair)
        return (gr.Dataset(samples=[[s] for s in examples_for(translator.src_lang)]),
                gr.Slider(value=translator.length_penalty), self.batch.examples_for(translator),
                *self.cleared(f"Language pair is now {views.md_text(pair)}: translate a sentence."))

    def model_card(self) -> str:
        return "\n\n---\n\n".join(
            views.model_card_markdown(name, t.bundle.manifest, t.bundle.evaluation, t.providers, t.warnings,
                                      t.last_latency_ms)
            for name, t in self.translators.items())

    # ---- API --------------------------------------------------------------------------------------
    def api_translate(self, text: str, pair: str = "", beam_size: int = 1, length_penalty: float | None = None,
                      max_len: int = 0) -> dict:
        """Translate `text` (pair "" = the default; length_penalty None = the model's tuned one). Returns translation, source/target tokens, attention
        (target × source), top-5 alternatives per step with probabilities, and the n-best list (beam search)."""
        return self.api_call(views.export_payload, text, pair, beam_size, length_penalty, max_len)

    def api_explain(self, text: str, pair: str = "", beam_size: int = 1, length_penalty: float | None = None,
                    max_len: int = 0) -> dict:
        """Everything /translate returns plus "explanation": occlusion (per step and source token, the drop in the
        chosen token's log-probability when that token is hidden from attention), coverage with its flags,
        attention entropy and sentence confidence, and the wrong-direction hint: the numbers the page shows."""
        return self.api_call(self.full_payload, text, pair, beam_size, length_penalty, max_len)

    def api_call(self, payload, text, pair, beam_size, length_penalty, max_len) -> dict:
        """Runs one API request; bad input → one-line gr.Error, a bug → logged here and a one-line gr.Error."""
        try:
            return payload(self.run(self.default if pair in ("", None) else pair, text, beam_size,
                                    length_penalty, max_len))
        except InputError as error:
            raise gr.Error(str(error), print_exception=False) from None
        except Exception as error:  # a bug, not bad input: logged here, a one-line message for the caller
            traceback.print_exc()
            raise gr.Error(f"The translation failed on the server ({type(error).__name__}); try again or "
                           "report the input that caused it.", print_exception=False) from None

    # ---- rendering (app_results.py formats, this adds the cache key) ---------------------------------
    def render(self, state: dict, step: int, status: str | None = None, words: bool = False) -> ResultViews:
        self.explained(state)
        return results_view.render(self.results.put(state), state, self.translator(state["pair"]).config, step,
                                   status, words)

    def step_views(self, state: dict, step: int) -> tuple:
        return results_view.step_views(state, self.translator(state["pair"]).config, step)

    message, cleared = staticmethod(results_view.message), staticmethod(results_view.cleared)

    # ---- layout -----------------------------------------------------------------------------------
    def build(self) -> gr.Blocks:
        with gr.Blocks(title="bmm attention explorer", analytics_enabled=False, delete_cache=(1800, 3600)) as demo:
            state = gr.State(None)  # a key into self.results, never the result itself
            gr.Markdown(views.PAGE_HEADER, elem_id="header")
            pair = gr.Dropdown(list(self.translators), value=self.default, label="Language pair", elem_id="pair")
            with gr.Tab("Translate"):
                with gr.Row(equal_height=False, elem_id="translate-row"):
                    with gr.Column(scale=2, elem_id="input-column"):
                        source, mode, max_len, beam_row, beam, penalty, button, examples = results_view.input_column(
                            self.translators[self.default], MAX_CHARS, MAX_LEN, MAX_BEAM)
                    with gr.Column(scale=3, elem_id="result-column"):
                        result = results_view.result_column()
                        prepare, swap = result.pop("prepare"), result.pop("swap")
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2):
                        alternatives = gr.Radio(label="Top tokens at this step", choices=[], elem_id="alternatives")
                        continue_button = gr.Button("Continue from this alternative", elem_id="continue")
                    with gr.Column(scale=3):
                        bmm = gr.Markdown("Translate a sentence, then click a target token.", elem_id="bmm-panel",
                                          latex_delimiters=[], container=True, padding=True)
                results_view.reference_panel(self.on_reference, state)
            batch_text, batch_load = self.batch.build(pair, self.translators[self.default])
            with gr.Tab("Model card") as card_tab:
                card = gr.Markdown(self.model_card(), latex_delimiters=[], elem_id="model-card")

            shown = dict(state=state, alternatives=alternatives, bmm=bmm, swap=swap, **result)
            steps, status = result["steps"], result["status"]
            result_outputs = [shown[name] for name in ResultViews._fields]
            step_outputs = [shown[name] for name in STEP_FIELDS]
            translate_inputs = [pair, source, mode, beam, penalty, max_len]
            private = dict(api_visibility="private")
            for trigger in (button.click, source.submit):
                trigger(self.on_translate, translate_inputs, result_outputs, **private)
            steps.change(self.on_select, [state, steps], step_outputs, show_progress="hidden",
                         trigger_mode="always_last", **private)  # .change: the page sets the box (see step_input)
            continue_button.click(self.on_continue, [state, steps, alternatives], result_outputs, **private)
            result["nbest"].select(self.on_hypothesis, state, result_outputs, **private)
            prepare.click(self.on_downloads, state, [result["json_file"], result["csv_file"], status], **private)
            mode.change(lambda m: gr.Row(visible=m == "beam search"), mode, beam_row, **private)
            swap.click(self.on_swap, translate_inputs, [pair, examples.dataset, penalty, batch_text, *result_outputs],
                       **private)
            pair.input(self.on_pair, pair, [examples.dataset, penalty, batch_text, *result_outputs], **private)
            card_tab.select(self.model_card, None, card, **private)
            demo.load(self.on_load, None, [pair, mode, beam, penalty, max_len, source, examples.dataset,
                                           *result_outputs], **private)
            batch_load(demo)
            gr.api(self.api_translate, api_name="translate")
            gr.api(self.api_explain, api_name="explain")
        return demo


def launch(demo: gr.Blocks, host: str, port: int, **kwargs):
    """Queue sized for 2 CPUs; the queue is the only way in (api_open=False: no /run/ shortcut), named calls
    other than /translate and uploads are refused (PublicApiOnly), no monitoring page, no server-side
    rendering, no analytics; same settings locally and on a Space. Errors always carry their message (our
    own handlers turn bad input into one-line messages; show_error covers what Gradio rejects first)."""
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=CONCURRENCY, api_open=False)
    return demo.launch(server_name=host, server_port=port, ssr_mode=False, theme=views.THEME, css=views.CSS, head=views.HEAD,
                       footer_links=["api", "settings"], enable_monitoring=False, max_file_size=MAX_UPLOAD,
                       show_error=True,  # a request Gradio itself rejects (e.g. too few values) says why
                       state_session_capacity=SESSIONS,
                       app_kwargs={"middleware": [Middleware(PublicApiOnly)]}, **kwargs)


def parse_args(argv=None) -> argparse.Namespace:
    on_space = os.environ.get("SYSTEM") == "spaces"
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME") or ("0.0.0.0" if on_space else "127.0.0.1"),
                   help="address to listen on (default: %(default)s; 0.0.0.0 on a Space or $GRADIO_SERVER_NAME)")
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)),
                   help="port (default: %(default)s, or $GRADIO_SERVER_PORT)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="onnxruntime device: auto = CUDA when onnxruntime-gpu has it, else CPU (default: %(default)s)")
    p.add_argument("--assets", default=os.environ.get("APP_ASSETS_DIR", str(HERE / "assets")),
                   help="folder holding one bundle per language pair, e.g. assets/en-de/ "
                        "(default: $APP_ASSETS_DIR or %(default)s)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    threads = max(1, (os.cpu_count() or 1) // CONCURRENCY)
    try:
        translators = load_translators(args.assets, args.device, threads)
    except BundleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for name, translator in translators.items():
        print(f"[{name}] onnxruntime providers: {', '.join(translator.providers)}", file=sys.stderr)
        for warning in translator.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    launch(DemoApp(translators).build(), args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
