"""The web page: translate a sentence and see, poke and download what the bmm attention did.

    python app.py                                   # http://127.0.0.1:7860, bundles from assets/
    python app.py --host 0.0.0.0 --port 7860 --device cpu --assets assets
    APP_ASSETS_DIR=/path/to/bundles python app.py    # same as --assets

UI wiring only: every model call goes through `inference` (onnxruntime inside, never torch); the
formatting (heatmap, bmm walkthrough, downloads, model card) lives in app_views.py. On a Hugging Face
Space (env SYSTEM=spaces) it listens on 0.0.0.0 with the same defaults.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import warnings
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

import app_views as views  # noqa: E402
from inference import MAX_CHARS, BundleError, InputError, Translator, find_bundles  # noqa: E402
from inference.examples import examples_for  # noqa: E402

HERE = Path(__file__).resolve().parent
CONCURRENCY = 2  # two requests decode at once on a 2-CPU Space, one onnxruntime thread each
QUEUE_SIZE = 32  # further requests are refused with "queue full" instead of piling up
MAX_BEAM, MAX_LEN, TOP_K = 10, 200, 5
PAIR_FOLDER = re.compile(r"[a-z]{2,3}-[a-z]{2,3}")
THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="orange",
                       font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "sans-serif"],
                       font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"])
CSS = """
.status p { margin: 0.2em 0; }
#bmm-panel table { font-size: 0.88em; display: block; overflow-x: auto; }
#bmm-panel code { font-size: 0.85em; }
#bmm-panel td:first-child, #bmm-panel td:last-child { white-space: nowrap; }
#steps label, #alternatives label { font-family: ui-monospace, Menlo, Consolas, monospace; }
"""
HEADER = """# What does attention look at?
A bi-GRU encoder reads your sentence; at every output token the decoder's attention is **two `torch.bmm` calls**:
one scores every source token against the decoder state, one averages the encoder outputs by those weights.
Translate a sentence, hover the heatmap, then **click a target token** to see that step's weights, its
alternatives and the shapes of the two `bmm` calls, with this sentence's real numbers."""


def load_translators(assets_dir, device: str = "auto", threads: int | None = None) -> dict[str, Translator]:
    """Every bundle under assets_dir, loaded and checked; raises BundleError naming the bad file."""
    root = Path(assets_dir)
    bundles = find_bundles(root)
    for folder in sorted(root.glob("*")) if root.is_dir() else []:
        if folder.is_dir() and PAIR_FOLDER.fullmatch(folder.name) and folder.name not in bundles:
            raise BundleError(f"{folder / 'manifest.json'} is missing; re-export the bundle with `python -m export`")
    if not bundles:
        raise BundleError(f"no model bundles under {root} (expected {root}/<src>-<tgt>/manifest.json); "
                          f"export one with `python -m export CHECKPOINT --out {root}/en-de`")
    translators = {}
    for name, folder in bundles.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # provider warnings are kept in translator.warnings and printed
                translators[name] = Translator(folder, device=device, threads=threads)
        except BundleError:
            raise
        except Exception as error:  # onnxruntime cannot read a graph, a tokenizer file is not a tokenizer, ...
            detail = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
            raise BundleError(f"{folder}: cannot load the model files ({detail}); re-export the bundle") from None
    return translators


class DemoApp:
    """The handlers (plain methods, tested directly) and the Blocks that wires them to components."""

    def __init__(self, translators: dict[str, Translator]):
        self.translators = translators
        self.default = "en-de" if "en-de" in translators else next(iter(translators))

    # ---- model calls ------------------------------------------------------------------------------
    def translator(self, pair: str) -> Translator:
        if pair not in self.translators:
            raise InputError(f"Unknown language pair {pair!r}; choose one of {', '.join(self.translators)}.")
        return self.translators[pair]

    def run(self, pair: str, text: str, beam_size: int = 1, length_penalty: float | None = None, max_len: int = 0,
            prefix: list[int] | None = None) -> dict:
        """Translate and return the session state: pair, text, settings and the Translation as a dict.
        A length_penalty of None is the bundle's own (tuned on validation)."""
        if length_penalty is None:
            length_penalty = self.translator(pair).length_penalty
        try:
            beam_size, max_len, length_penalty = int(beam_size), int(max_len), float(length_penalty)
        except (TypeError, ValueError):
            raise InputError("beam_size and max_len must be whole numbers, length_penalty a number.") from None
        if not 1 <= beam_size <= MAX_BEAM:
            raise InputError(f"beam_size must be between 1 and {MAX_BEAM}.")
        if not 0 <= max_len <= MAX_LEN:
            raise InputError(f"max_len must be between 0 (automatic) and {MAX_LEN}.")
        if not 0.0 <= length_penalty <= 5.0:
            raise InputError("length_penalty must be between 0 and 5.")
        result = self.translator(pair).translate(text, beam_size=beam_size, length_penalty=length_penalty,
                                                 n_best=beam_size, max_len=max_len or None, top_k=TOP_K, prefix=prefix)
        return {"pair": pair, "text": text, "max_len": max_len, "forced": len(prefix or []), "result": result.to_dict()}

    # ---- UI handlers ------------------------------------------------------------------------------
    def on_translate(self, pair, text, mode, beam_size, length_penalty, max_len):
        beam = int(beam_size) if mode == "beam search" else 1
        try:
            state = self.run(pair, text, beam, length_penalty, max_len)
        except InputError as error:
            return self.cleared(f"⚠️ {views.md_text(error)}")
        return self.render(state, 0)

    def on_continue(self, state, step, alternative):
        if not state:
            return self.cleared("Translate a sentence first.")
        result = state["result"]
        if step is None or alternative is None or not (0 <= int(step) < len(result["alternatives"])
                                                       and 0 <= int(alternative) < len(result["alternatives"][int(step)])):
            return self.render(state, 0, "Select a target token and one of its alternatives first.")
        step, alternative = int(step), int(alternative)
        token = result["alternatives"][step][alternative][0]
        token_id = self.translator(state["pair"]).target_tokenizer.token_to_id(token)
        new = self.run(state["pair"], state["text"], max_len=state["max_len"],
                       prefix=result["target_ids"][:step] + [token_id])
        return self.render(new, step, f"Continued from {views.md_token(token)} at step {step}; "
                                      "the steps after it are greedy.")

    def on_select(self, state, step):
        if not state or step is None:
            return (gr.skip(),) * 4
        return self.step_views(state, int(step))

    def on_reference(self, state, reference):
        if not state:
            return "Translate a sentence first, then paste a reference translation of it.", [], None
        try:
            scored = self.translator(state["pair"]).score_reference(state["text"], reference, top_k=TOP_K).to_dict()
        except InputError as error:
            return f"⚠️ {views.md_text(error)}", [], None
        metrics = views.sentence_metrics(state["result"]["text"], reference)
        return (views.reference_markdown(scored, metrics),
                views.reference_rows(scored),
                views.attention_figure(scored["source_tokens"], scored["target_tokens"], scored["attention"]))

    def on_pair(self, pair):
        translator = self.translators[pair]
        return (gr.Dataset(samples=[[s] for s in examples_for(translator.bundle.manifest["pair"]["src"])]),
                gr.Slider(value=translator.length_penalty))

    def model_card(self) -> str:
        return "\n\n---\n\n".join(
            views.model_card_markdown(name, t.bundle.manifest, t.providers, t.warnings, t.last_latency_ms)
            for name, t in self.translators.items())

    # ---- API --------------------------------------------------------------------------------------
    def api_translate(self, text: str, pair: str = "", beam_size: int = 1, length_penalty: float | None = None,
                      max_len: int = 0) -> dict:
        """Translate `text` (pair "" = the default; length_penalty None = the model's tuned one). Returns translation, source/target tokens, attention
        (target × source), top-5 alternatives per step with probabilities, and the n-best list (beam search)."""
        try:
            return views.export_payload(self.run(pair or self.default, text, beam_size, length_penalty, max_len))
        except InputError as error:
            raise gr.Error(str(error), print_exception=False) from None

    # ---- rendering --------------------------------------------------------------------------------
    def render(self, state: dict, step: int, status: str | None = None) -> tuple:
        """Values for build()'s result_outputs: state, translation, status, n-best, target steps, downloads, step views."""
        r = state["result"]
        d = r["decoding"]
        if status is None:
            status = (f"{d['mode']} decoding · {len(r['target_tokens'])} target tokens · "
                      f"{r['timing_ms']['total']:.0f} ms" + ("" if r["finished"] else " · stopped at max length"))
        nbest = [[i + 1, h["text"], round(h["score"], 3), round(h["normalized_score"], 3)] for i, h in enumerate(r["nbest"])]
        json_path, csv_path = views.write_downloads(views.export_payload(state))
        steps = gr.Radio(choices=[(views.step_label(t, tok), t) for t, tok in enumerate(r["target_tokens"])], value=step)
        return (state, r["text"], status, gr.Dataframe(value=nbest, visible=bool(nbest)), steps,
                gr.DownloadButton(value=json_path, interactive=True), gr.DownloadButton(value=csv_path, interactive=True),
                *self.step_views(state, step))

    def cleared(self, status: str) -> tuple:
        empty = gr.Radio(choices=[], value=None)
        off = gr.DownloadButton(value=None, interactive=False)
        return (None, "", status, gr.Dataframe(value=[], visible=False), empty, off, off, None, [], empty,
                "Translate a sentence, then click a target token.")

    def step_views(self, state: dict, step: int) -> tuple:
        """Values for build()'s step_outputs: heatmap (row marked), source colouring, alternatives, bmm walkthrough."""
        r = state["result"]
        translator = self.translator(state["pair"])
        step = min(max(step, 0), len(r["target_tokens"]) - 1)
        weights = r["attention"][step]
        enc_out = translator.encode([translator.source_ids(state["text"])])[0][0]  # (S, 2H), ~1 ms
        chosen, forced = r["target_tokens"][step], step < state.get("forced", 0)
        alternatives = r["alternatives"][step]
        pick = next((j for j, (tok, _) in enumerate(alternatives) if tok != chosen), 0)
        return (views.attention_figure(r["source_tokens"], r["target_tokens"], r["attention"], selected=step),
                views.highlighted(r["source_tokens"], weights),
                gr.Radio(choices=[(f"{tok}  {p:.1%}", j) for j, (tok, p) in enumerate(alternatives)], value=pick,
                         label=f"Top-{len(alternatives)} tokens at step {step} "
                               f"({'forced' if forced else 'the decoder chose'}: {chosen})"),
                views.bmm_markdown(translator.config, r["source_tokens"], r["target_tokens"], step, weights,
                                   enc_out, r["token_probs"][step], forced))

    # ---- layout -----------------------------------------------------------------------------------
    def build(self) -> gr.Blocks:
        src = self.translators[self.default].bundle.manifest["pair"]["src"]
        with gr.Blocks(title="bmm attention explorer", analytics_enabled=False, delete_cache=(1800, 3600)) as demo:
            state = gr.State(None)
            gr.Markdown(HEADER)
            with gr.Tab("Translate"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2):
                        pair = gr.Dropdown(list(self.translators), value=self.default, label="Language pair")
                        source = gr.Textbox(label=f"Sentence to translate (up to {MAX_CHARS} characters)", lines=2,
                                            placeholder="A dog runs on the beach.", elem_id="source")
                        with gr.Row():
                            mode = gr.Radio(["greedy", "beam search"], value="greedy", label="Decoding")
                            max_len = gr.Slider(0, MAX_LEN, value=0, step=1, label="Max target tokens (0 = auto)")
                        with gr.Row(visible=False) as beam_row:
                            beam = gr.Slider(2, MAX_BEAM, value=5, step=1, label="Beam size")
                            penalty = gr.Slider(0.0, 3.0, value=self.translators[self.default].length_penalty,
                                                step=0.1, label="Length penalty α (default: tuned on validation)")
                        button = gr.Button("Translate", variant="primary", elem_id="translate")
                        examples = gr.Examples([[s] for s in examples_for(src)], inputs=[source],
                                               label="Examples (written for this demo)", examples_per_page=6)
                    with gr.Column(scale=3):
                        translation = gr.Textbox(label="Translation", interactive=False, lines=2, elem_id="translation")
                        status = gr.Markdown(elem_classes="status", elem_id="status", latex_delimiters=[])
                        nbest = gr.Dataframe(headers=["rank", "translation", "log-prob", "normalised"], visible=False,
                                             interactive=False, label="n-best (beam search)", datatype="str")
                        with gr.Row():
                            json_file = gr.DownloadButton("Attention + tokens (JSON)", interactive=False, size="sm")
                            csv_file = gr.DownloadButton("Attention + tokens (CSV)", interactive=False, size="sm")
                        heatmap = gr.Plot(label="Attention weights: hover a cell for both tokens and the weight",
                                          elem_id="heatmap")
                steps = gr.Radio(label="Target tokens: click one to inspect that decoding step", choices=[],
                                 elem_id="steps")
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2):
                        source_view = gr.HighlightedText(label="Source tokens, coloured by this step's attention",
                                                         elem_id="source-attention")
                        alternatives = gr.Radio(label="Top tokens at this step", choices=[], elem_id="alternatives")
                        continue_button = gr.Button("Continue from this alternative", elem_id="continue")
                    with gr.Column(scale=3):
                        bmm = gr.Markdown("Translate a sentence, then click a target token.", elem_id="bmm-panel",
                                          latex_delimiters=[], container=True, padding=True)
                with gr.Accordion("Score a reference translation (optional)", open=False):
                    reference = gr.Textbox(label="Reference translation", lines=1, elem_id="reference")
                    reference_button = gr.Button("Score the reference", elem_id="score-reference")
                    reference_summary = gr.Markdown(latex_delimiters=[], elem_id="reference-summary")
                    reference_probs = gr.Dataframe(headers=["step", "reference token", "probability",
                                                             "model's first choice", "its probability"],
                                                   datatype="str", interactive=False, elem_id="reference-tokens",
                                                   label="Each reference token under the model (forced decoding)")
                    reference_heatmap = gr.Plot(label="Attention while reading the reference")
            with gr.Tab("Model card") as card_tab:
                card = gr.Markdown(self.model_card(), latex_delimiters=[], elem_id="model-card")

            step_outputs = [heatmap, source_view, alternatives, bmm]
            result_outputs = [state, translation, status, nbest, steps, json_file, csv_file, *step_outputs]
            translate_inputs = [pair, source, mode, beam, penalty, max_len]
            for trigger in (button.click, source.submit):
                trigger(self.on_translate, translate_inputs, result_outputs, api_visibility="private")
            steps.input(self.on_select, [state, steps], step_outputs, api_visibility="private")
            continue_button.click(self.on_continue, [state, steps, alternatives], result_outputs,
                                  api_visibility="private")
            reference_button.click(self.on_reference, [state, reference],
                                   [reference_summary, reference_probs, reference_heatmap], api_visibility="private")
            mode.change(lambda m: gr.Row(visible=m == "beam search"), mode, beam_row, api_visibility="private")
            pair.change(self.on_pair, pair, [examples.dataset, penalty], api_visibility="private")
            card_tab.select(self.model_card, None, card, api_visibility="private")
            gr.api(self.api_translate, api_name="translate")
        return demo


def launch(demo: gr.Blocks, host: str, port: int, **kwargs):
    """Queue sized for 2 CPUs, no server-side rendering, no analytics; same settings locally and on a Space."""
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=CONCURRENCY)
    return demo.launch(server_name=host, server_port=port, ssr_mode=False, theme=THEME, css=CSS,
                       footer_links=["api", "settings"], **kwargs)


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
