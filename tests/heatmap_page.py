"""A minimal page with just the heatmap component, for the browser tests (tests/test_heatmap_browser.py).

python -m tests.heatmap_page --assets assets    # this page alone, on :7861 (from the repository root)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import gradio as gr

from inference import InputError, Translator, find_bundles
from page.heatmap import heatmap_component, heatmap_value, step_input
from page.limits import MAX_BEAM, MAX_LEN, MAX_PENALTY
from page.share import state_from_query
from page.state import Shown

# Gradio's default theme draws slider limits, the footer and white-on-orange buttons below WCAG AA contrast.
DEMO_CSS = """
#translate { background: #9a3412; border-color: #9a3412; color: #fff; }
[data-testid="min-value"], [data-testid="max-value"], footer, footer a, footer button { color: #374151 !important; }
"""


def _translate(
    translators: dict, pair: str, text: str, mode: str, beam: float, penalty: float, max_len: float
) -> Shown:
    """The Shown page.handlers.DemoApp.run returns, built from inference.Translator directly."""
    translator = translators[pair]
    beam_size = int(beam) if mode == "beam search" else 1
    result = translator.translate(
        text,
        beam_size=beam_size,
        length_penalty=float(penalty),
        n_best=beam_size,
        max_len=int(max_len) or None,
        top_k=5,
    )
    return Shown(pair, text, int(max_len), result, translator.config)


def demo_blocks(translators: dict) -> gr.Blocks:
    """Pair, text, decoding settings, Translate; the heatmap; a server echo of the selected step; share links."""
    default = "en-de" if "en-de" in translators else next(iter(translators))
    with gr.Blocks(title="Attention heatmap", analytics_enabled=False) as demo:
        gr.Markdown("# Attention heatmap")
        with gr.Row():
            pair = gr.Dropdown(list(translators), value=default, label="Language pair", elem_id="pair")
            mode = gr.Radio(["greedy", "beam search"], value="greedy", label="Decoding", elem_id="mode")
            beam = gr.Slider(2, MAX_BEAM, value=5, step=1, label="Beam size", elem_id="beam")
            penalty = gr.Slider(0.0, MAX_PENALTY, value=1.0, step=0.1, label="Length penalty", elem_id="penalty")
            max_len = gr.Slider(0, MAX_LEN, value=0, step=1, label="Max target tokens (0 = auto)", elem_id="max-len")
        source = gr.Textbox(label="Sentence to translate", lines=2, elem_id="source")
        button = gr.Button("Translate", variant="primary", elem_id="translate")
        status = gr.Textbox(label="Status", interactive=False, elem_id="status")  # text: messages quote link values
        heatmap = heatmap_component()
        step = step_input()
        server_step = gr.Textbox(label="What the server received", interactive=False, elem_id="server-step")
        inputs = [pair, source, mode, beam, penalty, max_len]

        def on_translate(*values, step_index=0, words=False, messages=()):
            try:
                shown = _translate(translators, *values)
            except InputError as error:
                return None, "", f"⚠️ {error}"
            value = heatmap_value(shown, step_index, words)
            note = " ".join(messages)
            tokens = len(value["translation"]["target_tokens"])
            return value, str(value["step"]), (note + " " if note else "") + f"{tokens} target tokens"

        def on_load(request: gr.Request):
            """Only what the link sets is changed: skipping the rest keeps what a fast user typed meanwhile."""
            query = state_from_query(dict(request.query_params), translators)
            keys = ["pair", "text", "mode", "beam_size", "length_penalty", "max_len"]
            shown = [query.get(k, gr.skip()) for k in keys]
            note = " ".join(query["messages"]) or gr.skip()
            if "text" not in query:
                return *shown, gr.skip(), gr.skip(), note
            defaults = {"pair": default, "mode": "greedy", "beam_size": 5, "length_penalty": 1.0, "max_len": 0}
            settings = [query.get(k, defaults.get(k)) for k in keys]
            return *shown, *on_translate(
                *settings, step_index=query.get("step", 0), words=query.get("words", False), messages=query["messages"]
            )

        for trigger in (button.click, source.submit):
            trigger(on_translate, inputs, [heatmap, step, status])
        step.change(lambda value: f"Server received step {value}", step, server_step)
        demo.load(on_load, None, [*inputs, heatmap, step, status])
    return demo


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=Path, default=Path(__file__).resolve().parent.parent / "assets")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7861, help="0 = any free port")
    args = parser.parse_args(argv)
    translators = {pair: Translator(path, device="cpu", threads=1) for pair, path in find_bundles(args.assets).items()}
    if not translators:
        print(f"no model bundles in {args.assets}", file=sys.stderr)
        return 2
    demo_blocks(translators).launch(server_name=args.host, server_port=args.port or None, css=DEMO_CSS, ssr_mode=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
