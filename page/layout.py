"""The page's Blocks: which component sits where, and which handler of page/handlers.py each event calls;
`launch` serves it with the queue, limits and route guard that are the same locally and on a Space."""

from __future__ import annotations

import gradio as gr
from starlette.middleware import Middleware

from page import style, translate_tab
from page.api import PublicApiOnly, lean_sessions, queued_by
from page.handlers import DemoApp
from page.limits import (
    CONCURRENCY,
    DECODE_EVENT,
    DECODE_WORKERS,
    MAX_BEAM,
    MAX_CHARS,
    MAX_LEN,
    MAX_UPLOAD,
    PER_VISITOR,
    QUEUE_SIZE,
    SESSIONS,
    WORKED_BEAM,
)
from page.translate_tab import STEP_FIELDS, ResultViews, input_column, picture_block, reference_panel, result_column


def build(app: DemoApp) -> gr.Blocks:
    text, opening = app.opening()  # the worked example, drawn with the page's first paint
    opening = opening or translate_tab.NOTHING_SHOWN
    with gr.Blocks(title="bmm attention explorer", analytics_enabled=False, delete_cache=(1800, 3600)) as demo:
        state = gr.State(opening["state"])  # a key into app.results, never the result itself
        gr.Markdown(style.PAGE_HEADER, elem_id="header")
        pair = gr.Dropdown(list(app.translators), value=app.default, label="Language pair", elem_id="pair")
        with gr.Tab("Translate"):
            picture = picture_block(opening)
            with gr.Row(equal_height=False, elem_id="translate-row"):
                with gr.Column(scale=2, elem_id="input-column"):
                    source, mode, max_len, beam_row, beam, penalty, button, examples = input_column(
                        app.translators[app.default], MAX_CHARS, MAX_LEN, MAX_BEAM, text, WORKED_BEAM if text else 1
                    )
                with gr.Column(scale=3, elem_id="result-column"):
                    result = result_column(opening)
                    prepare, swap = result.pop("prepare"), result.pop("swap")
                    in_batch, measure = picture.pop("in_batch"), picture.pop("measure")
                    result.update(picture)
            with gr.Row(equal_height=False):
                with gr.Column(scale=2):
                    choices, label = opening["alternatives"]
                    alternatives = gr.Radio(label=label, choices=choices, elem_id="alternatives")
                    continue_button = gr.Button("Continue from this alternative", elem_id="continue")
                with gr.Column(scale=3):
                    bmm = gr.Markdown(
                        opening["bmm"],
                        elem_id="bmm-panel",
                        latex_delimiters=[],
                        container=True,
                        padding=True,
                    )
            reference_panel(app.on_reference, state)
        batch_text, batch_load, batch_after_pair = app.batch.build(pair, app.translators[app.default])
        what_if_after_pair = app.what_if.build(pair, app.translators[app.default])
        with gr.Tab("Model card") as card_tab:
            card = gr.Markdown(app.model_card(), latex_delimiters=[], elem_id="model-card")

        shown = dict(state=state, alternatives=alternatives, bmm=bmm, swap=swap, **result)
        steps, status = result["steps"], result["status"]
        result_outputs = [shown[name] for name in ResultViews._fields]
        step_outputs = [shown[name] for name in STEP_FIELDS]
        translate_inputs = [pair, source, mode, beam, penalty, max_len]
        private = dict(api_visibility="private")
        decode = DECODE_EVENT  # every event that runs a model: one pool of workers in front of app.gate
        for trigger in (button.click, source.submit):
            trigger(app.on_translate, translate_inputs, result_outputs, **decode)
        steps.change(
            app.on_select, [state, steps], step_outputs, show_progress="hidden", trigger_mode="always_last", **private
        )  # .change: the page sets the box (see step_input)
        examples.load_input_event.then(app.on_translate, translate_inputs, result_outputs, **decode)  # no stale result
        continue_button.click(app.on_continue, [state, steps, alternatives], result_outputs, **decode).then(
            app.decoding_of, state, mode, **private
        )  # the radio says what the link restores: greedy after the forced tokens
        result["nbest"].select(app.on_hypothesis, state, result_outputs, **decode)
        in_batch.click(app.on_in_batch, [state, steps], [result["picture"], status], **decode)
        measure.click(app.on_measure, [state, steps], [result["picture"], status], **decode)
        prepare.click(app.on_downloads, state, [result["json_file"], result["csv_file"], status], **decode)
        mode.change(lambda m: gr.Row(visible=m == "beam search"), mode, beam_row, **private)
        pair_outputs = [examples.dataset, penalty, batch_text]
        what_if_after_pair(
            batch_after_pair(
                swap.click(
                    app.on_swap,
                    [state, mode, beam, max_len, batch_text],
                    [pair, *pair_outputs, *result_outputs],
                    **decode,
                )
            )
        )
        # .input: only the visitor's choice (the page sets the pair too); on_pair ignores the pair already shown
        what_if_after_pair(
            batch_after_pair(
                pair.input(
                    app.on_pair,
                    [pair, state, source, mode, beam, max_len, batch_text],
                    [*pair_outputs, source, *result_outputs],
                    **decode,
                )
            )
        )
        card_tab.select(app.model_card, None, card, **private)
        demo.load(  # a plain visit: the page already holds the worked example, so this sends nothing back
            app.on_load,
            None,
            [pair, mode, beam, penalty, max_len, source, examples.dataset, *result_outputs],
            show_progress="minimal",  # no fading overlay over the example the page holds
            **decode,
        ).then(None, js="() => { document.body.dataset.loaded = '1'; }")  # the page is settled (tests wait on it)
        batch_load(demo)
        shared = dict(concurrency_id="decode", concurrency_limit=DECODE_WORKERS)  # the API goes through app.gate too
        gr.api(app.api_translate, api_name="translate", **shared)
        gr.api(app.api_explain, api_name="explain", **shared)
        gr.api(app.what_if.api_what_if, api_name="what_if", **shared)
        gr.api(app.what_if.api_compare, api_name="compare", **shared)
    demo.api_door = app.api_door  # launch's route guard asks it before an API call joins the queue
    demo.queued_by = lambda visitor: queued_by(demo._queue, visitor)  # ...and this before any request does
    return demo


def launch(demo: gr.Blocks, host: str, port: int, **kwargs):
    """Queue sized for 2 CPUs; the queue is the only way in (api_open=False: no /run/ shortcut), named calls
    other than /translate, /explain, /what_if and /compare and uploads are refused (PublicApiOnly), no monitoring page, no
    server-side rendering, no analytics; same settings locally and on a Space. Errors always carry their
    message (our handlers turn bad input into one-line messages; show_error covers what Gradio rejects first)."""
    lean_sessions()  # a session's page config is built when first read, not for every API call
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=CONCURRENCY, api_open=False)
    return demo.launch(
        server_name=host,
        server_port=port,
        ssr_mode=False,
        theme=style.THEME,
        css=style.CSS,
        head=style.HEAD,
        footer_links=["api", "settings"],
        enable_monitoring=False,
        max_file_size=MAX_UPLOAD,
        show_error=True,
        state_session_capacity=SESSIONS,
        app_kwargs={
            "middleware": [
                Middleware(
                    PublicApiOnly,
                    door=getattr(demo, "api_door", None),
                    queued=getattr(demo, "queued_by", None),
                    per_visitor=PER_VISITOR,
                )
            ]
        },
        **kwargs,
    )
