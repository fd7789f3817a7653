"""The attention heatmap as one self-contained gr.HTML component: steps chosen in the browser, no round trip.

    python -m app_heatmap --assets assets           # a minimal page with just this heatmap, on :7861
    python -m app_heatmap --assets assets --port 0  # any free port

Python builds a plain-data payload from a translation (tokens, the T × S attention, probabilities,
alternatives); static/heatmap.js (with the word rule and palette in
static/heatmap_rule.js) draws it as an HTML grid and does everything after that in the page:
selecting a step (click, arrow keys, Play), merging subword pieces into words, the source strip, the
share link. The selected decoding step is written into a hidden textbox, so server handlers can follow it.

Word rule (the same in heatmap_rule.js): a piece starts a new word when it begins with "▁", is punctuation
only, is a special token like "</s>", or follows one of those last two; any other piece joins the word
before it. A source word's column is the SUM of its pieces' columns (the weight the word received);
a target word's row is the MEAN of its pieces' rows (so each row still sums to 1).
"""
from __future__ import annotations

import argparse
import math
import re
import sys
import unicodedata
import uuid
from pathlib import Path

import gradio as gr
import numpy as np

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
WORD_START = "▁"
MAX_TEXT = 300  # inference.MAX_CHARS; repeated here so validating a link needs no model
MAX_BEAM, MAX_LEN, MAX_PENALTY, MAX_STEP = 10, 200, 3.0, 400
MAX_VALUE_CHARS = 1000  # longer query values are refused before any parsing
STEP_ELEM_ID = "selected-step"
# Gradio's default theme draws slider limits, the footer and white-on-orange buttons below WCAG AA contrast.
DEMO_CSS = """
#translate { background: #9a3412; border-color: #9a3412; color: #fff; }
[data-testid="min-value"], [data-testid="max-value"], footer, footer a, footer button { color: #374151 !important; }
"""
RULE_TEXT = ("Words: a source word's column is the sum of its pieces' columns; a target word's row is the mean "
             "of its pieces' rows. Punctuation the tokenizer split off stays its own token.")


# ---- the word rule ------------------------------------------------------------------------------------
def _is_special(token: str) -> bool:
    return len(token) > 2 and token.startswith("<") and token.endswith(">")


def _is_punctuation(token: str) -> bool:
    text = token.lstrip(WORD_START)
    return bool(text) and all(unicodedata.category(c).startswith("P") or unicodedata.category(c).startswith("S")
                              for c in text)


def word_groups(tokens: list[str]) -> list[list[int]]:
    """Token positions grouped into words by the rule in the module docstring."""
    groups: list[list[int]] = []
    previous_alone = True
    for i, token in enumerate(tokens):
        alone = _is_special(token) or _is_punctuation(token)
        if not groups or alone or previous_alone or token.startswith(WORD_START):
            groups.append([i])
        else:
            groups[-1].append(i)
        previous_alone = alone
    return groups


def word_labels(tokens: list[str], groups: list[list[int]]) -> list[str]:
    """Each word as one label: its pieces joined, the word-start marks dropped (special tokens kept as is;
    a word of bare marks keeps them, so no label is empty)."""
    labels = ["".join(tokens[i] if _is_special(tokens[i]) else tokens[i].replace(WORD_START, "") for i in group)
              for group in groups]
    return [label or "".join(tokens[i] for i in group) for label, group in zip(labels, groups)]  # a bare "▁" stays


def merge_attention(attention, source_groups: list[list[int]], target_groups: list[list[int]]) -> np.ndarray:
    """(T, S) weights → (words_T, words_S): columns of a source word summed, rows of a target word averaged."""
    weights = np.asarray(attention, dtype=np.float64)
    columns = np.stack([weights[:, g].sum(axis=1) for g in source_groups], axis=1)  # (T, words_S)
    return np.stack([columns[g].mean(axis=0) for g in target_groups], axis=0)  # (words_T, words_S)


# ---- the payload --------------------------------------------------------------------------------------
def heatmap_value(state: dict | None, step: int = 0, words: bool = False) -> dict | None:
    """The gr.HTML value for one translation; `state` as app.DemoApp.run returns it (pair, text, max_len, result).

    None (no translation) draws the empty placeholder. The share block holds what a link must restore.
    """
    if not state:
        return None
    r = state["result"]
    decoding = r.get("decoding", {})
    beam = decoding.get("mode") == "beam"
    share = {"pair": state["pair"], "text": state["text"], "mode": "beam" if beam else "greedy",
             "max_len": int(state.get("max_len", 0))}
    if beam:
        share.update(beam=int(decoding["beam_size"]), penalty=round(float(decoding["length_penalty"]), 3))
    last = max(len(r["target_tokens"]) - 1, 0)
    return {"key": uuid.uuid4().hex, "source_tokens": r["source_tokens"], "target_tokens": r["target_tokens"],
            "attention": [[round(float(w), 6) for w in row] for row in r["attention"]],
            "token_probs": [round(float(p), 6) for p in r["token_probs"]],
            "alternatives": [[[tok, round(float(p), 6)] for tok, p in step_alts] for step_alts in r["alternatives"]],
            "forced": int(state.get("forced", 0)), "step": min(max(int(step), 0), last), "words": bool(words),
            "share": share}


def _read_static(name: str) -> str:
    text = (STATIC / name).read_text(encoding="utf-8")
    if "</script" in text.lower() or "</style" in text.lower():
        raise ValueError(f"static/{name} must not contain a closing script/style tag")
    return text


def heatmap_head() -> str:
    """The component's script and style, injected into <head> by gr.HTML before js_on_load runs."""
    scripts = "".join(f"<script>{_read_static(name)}</script>" for name in ("heatmap_rule.js", "heatmap.js"))
    return f"<style>{_read_static('heatmap.css')}</style>{scripts}"


def heatmap_component(value: dict | None = None, elem_id: str = "heatmap", step_elem_id: str = STEP_ELEM_ID,
                      **kwargs) -> gr.HTML:
    """The heatmap block. Its value is heatmap_value(...); the selected step goes to #<step_elem_id>."""
    return gr.HTML(value, html_template='<div class="bmm-hm-root"></div>', elem_id=elem_id,
                   js_on_load="window.BmmHeatmap.mount(element, props, watch);", head=heatmap_head(),
                   apply_default_css=False, step_elem_id=step_elem_id, rule_text=RULE_TEXT, **kwargs)


def step_input(elem_id: str = STEP_ELEM_ID) -> gr.Textbox:
    """The hidden textbox that carries the selected decoding step to the server: listen with `.change`
    (Gradio 6 fires a Textbox's `.input` only for typed keys; the page sets the value and `.change` follows)."""
    return gr.Textbox(value="", visible="hidden", elem_id=elem_id, label="Selected decoding step")


# ---- share links --------------------------------------------------------------------------------------
def _control_characters(text: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") and c not in "\t\n" for c in text)


def _whole(value: str, low: int, high: int) -> int | None:
    return int(value) if re.fullmatch(r"[0-9]{1,4}", value) and low <= int(value) <= high else None


def _number(value: str, low: float, high: float) -> float | None:
    if not re.fullmatch(r"[0-9]{1,2}(\.[0-9]{1,4})?", value):
        return None
    number = float(value)
    return number if math.isfinite(number) and low <= number <= high else None


def state_from_query(params, pairs) -> dict:
    """Validated settings from a share link's query (e.g. dict(gr.Request.query_params)); `pairs` = known pairs.

    Returns only the keys whose values passed (pair, text, mode, beam_size, length_penalty, max_len, step,
    words) and "messages": one line per ignored value saying why. Unknown keys (Gradio's own) are left alone.
    """
    state: dict = {"messages": []}
    pairs = list(pairs)
    checks = {
        "pair": ("pair", lambda v: v if v in pairs else None, f"not one of {', '.join(pairs)}"),
        "text": ("text", lambda v: v if v.strip() and len(v) <= MAX_TEXT and not _control_characters(v) else None,
                 f"must be 1 to {MAX_TEXT} characters without control characters"),
        "mode": ("mode", lambda v: {"greedy": "greedy", "beam": "beam search"}.get(v), "must be greedy or beam"),
        "beam": ("beam_size", lambda v: _whole(v, 2, MAX_BEAM), f"must be a whole number from 2 to {MAX_BEAM}"),
        "penalty": ("length_penalty", lambda v: _number(v, 0.0, MAX_PENALTY), f"must be a number from 0 to {MAX_PENALTY:g}"),
        "max_len": ("max_len", lambda v: _whole(v, 0, MAX_LEN), f"must be a whole number from 0 to {MAX_LEN}"),
        "step": ("step", lambda v: _whole(v, 0, MAX_STEP), f"must be a whole number from 0 to {MAX_STEP}"),
        "words": ("words", lambda v: {"0": False, "1": True}.get(v), "must be 0 or 1"),
    }
    for name, (key, parse, rule) in checks.items():
        if name not in params:
            continue
        raw = params[name]
        value = parse(raw) if isinstance(raw, str) and len(raw) <= MAX_VALUE_CHARS else None
        if value is None:
            shown = repr(raw[:40] + "…" if isinstance(raw, str) and len(raw) > 40 else raw)
            state["messages"].append(f"Ignored {name}={shown} from the link: it {rule}.")
        else:
            state[key] = value
    return state


# ---- a minimal page with just this component (used by tests/test_heatmap_browser.py) -------------------
def _translate(translators: dict, pair: str, text: str, mode: str, beam: float, penalty: float, max_len: float) -> dict:
    """The state dict app.DemoApp.run returns, from inference.Translator directly."""
    beam_size = int(beam) if mode == "beam search" else 1
    result = translators[pair].translate(text, beam_size=beam_size, length_penalty=float(penalty), n_best=beam_size,
                                         max_len=int(max_len) or None, top_k=5)
    return {"pair": pair, "text": text, "max_len": int(max_len), "forced": 0, "result": result.to_dict()}


def demo_blocks(translators: dict) -> gr.Blocks:
    """Pair, text, decoding settings, Translate; the heatmap; a server echo of the selected step; share links."""
    from inference import InputError

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
                state = _translate(translators, *values)
            except InputError as error:
                return None, "", f"⚠️ {error}"
            value = heatmap_value(state, step_index, words)
            note = " ".join(messages)
            return value, str(value["step"]), (note + " " if note else "") + f"{len(value['target_tokens'])} target tokens"

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
            return *shown, *on_translate(*settings, step_index=query.get("step", 0), words=query.get("words", False),
                                         messages=query["messages"])

        for trigger in (button.click, source.submit):
            trigger(on_translate, inputs, [heatmap, step, status])
        step.change(lambda value: f"Server received step {value}", step, server_step)
        demo.load(on_load, None, [*inputs, heatmap, step, status])
    return demo


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", default=str(HERE / "assets"), help="folder of bundles, one per pair (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=7861, help="port; 0 picks a free one (default: %(default)s)")
    args = parser.parse_args(argv)
    from inference import BundleError, Translator, find_bundles

    try:
        translators = {name: Translator(folder, device="cpu", threads=1) for name, folder in find_bundles(args.assets).items()}
    except BundleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not translators:
        print(f"error: no bundles under {args.assets}; export one with `python -m export`", file=sys.stderr)
        return 2
    demo_blocks(translators).launch(server_name=args.host, server_port=args.port or None, ssr_mode=False, css=DEMO_CSS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
