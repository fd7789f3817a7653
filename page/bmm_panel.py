"""Why attention is a batched matmul: the bmm picture (drawn in the browser by static/bmm_picture.js from the
translation JSON), the "How bmm computes this" panel, and the live bmm timing.

Formatting and numpy; nothing here runs a model. The code lines quoted are those of
training/model.py's `Attention.forward`, character for character (a test compares them).
"""

from __future__ import annotations

import timeit
import uuid

import gradio as gr
import numpy as np
import plotly.graph_objects as go

from page.heatmap import static_head
from page.text import md_text, md_token

# training/model.py, Attention.forward: the lines the page and the README quote (B batch, T queries, S source
# tokens), character for character; CODE is each line without its comment, for inline quotes.
MODEL_LINES = (
    "scores = torch.bmm(query, keys.transpose(1, 2))  # (B, T, S)",
    "scores = scores.float()  # under fp16 autocast the bmm gives fp16, which cannot hold MASKED_SCORE",
    "scores = scores.masked_fill(~src_mask.unsqueeze(1), MASKED_SCORE)  # padding gets ~0 weight",
    "weights = torch.softmax(scores, dim=-1)  # (B, T, S), each query's row sums to 1 over the source",
    "context = torch.bmm(weights, enc_out)  # (B, T, 2H)",
)
CODE = tuple(line.split("  #")[0] for line in MODEL_LINES)
SCORES, _, MASK, SOFTMAX, CONTEXT = CODE
# The PyTorch seq2seq tutorial's decoder, one sentence at a time: a bmm over a batch of one.
TUTORIAL_LINE = "torch.bmm(attn_weights.unsqueeze(0), encoder_outputs.unsqueeze(0))"
TIMING_SIZES = (1, 8, 32, 128)


# ---- the picture: B slabs per tensor, drawn in the browser ------------------------------------------------
def picture_component(value: dict | None = None, elem_id: str = "bmm-picture", **kwargs) -> gr.HTML:
    """The bmm picture. Its value is picture_value(...) or batch_picture_value(...); steps, hovers and the
    loop-vs-bmm animation run in the page."""
    return gr.HTML(
        value,
        html_template='<div class="bmm-pic-root"></div>',
        elem_id=elem_id,
        js_on_load="window.BmmPicture.mount(element, props, watch);",
        head=static_head("bmm_picture.css", "bmm_picture.js"),
        apply_default_css=False,
        **kwargs,
    )


def picture_value(shown, step: int, result: str = "", timing: dict | None = None) -> dict:
    """One result's picture: its translation JSON with the bmm tensors (enc_out, every call's queries and
    scores), the step to open on, and `result` (the cache key) so the heatmap's step selection drives it."""
    return {
        "key": uuid.uuid4().hex,
        "result": result,
        "step": int(step),
        "timing": timing,
        "translation": shown.document(with_explanation=False, tensors=True),
    }


def batch_picture_value(batch_doc: dict, step: int = 0, timing: dict | None = None) -> dict:
    """The Batch tab's picture: its batch JSON (inference.document.batch_json), B = the sentences still decoding."""
    return {"key": uuid.uuid4().hex, "result": "", "step": int(step), "timing": timing, "batch": batch_doc}


def measured_call(B: int, S: int, two_h: int, budget_s: float = 0.3) -> dict:
    """This server's time for one attention step of this B and S: one batched matmul against a loop of B."""
    by = {r["method"]: r["us_per_call"] for r in measure(S, two_h, sizes=(B,), budget_s=budget_s)}
    return {"B": B, "S": S, "bmm_us": by[BATCHED], "loop_us": by[LOOP]}


def model_code_block() -> str:
    return "```python\n# training/model.py, Attention.forward\n" + "\n".join(MODEL_LINES) + "\n```"


def tutorial_markdown(S: int, two_h: int) -> str:
    """The tutorial's line next to ours: the same product, once with a batch of one, once for B at a time."""
    return "\n".join(
        [
            "**The tutorial's line, and ours** (the same product; ours keeps the batch dimension, `batch_first=True`):",
            "",
            "| where | code | shapes for this sentence |",
            "|---|---|---|",
            f"| PyTorch tutorial, one sentence per call | `{TUTORIAL_LINE}` | `attn_weights` (1, S) → (**1**, 1, S), "
            f"`encoder_outputs` (S, H) → (**1**, S, H): a batch of one, (1, 1, {S}) bmm (1, {S}, {two_h}) → (1, 1, {two_h}) |",
            f"| training/model.py, B sentences or B beams per call | `{CONTEXT}` | weights (B, 1, {S}) bmm enc_out "
            f"(B, {S}, {two_h}) → context (B, 1, {two_h}): B products in one call |",
        ]
    )


def _vector(values, n: int = 4) -> str:
    return "[" + ", ".join(f"{v:+.3f}" for v in values[:n]) + (", …]" if len(values) > n else "]")


def _beam_rows(step_call, own_row: int, source_tokens) -> list[str]:
    """One table row per row of the real decoder call (live beams), the shown hypothesis' row marked."""
    lines = ["| row of the call | strongest source token | its weight | weights sum |", "|---:|---|---:|---:|"]
    for r, row in enumerate(step_call.attention):
        row = np.asarray(row)
        s = int(np.argmax(row))
        mark = " ★ (this result)" if r == own_row else ""
        lines.append(f"| {r}{mark} | {md_token(source_tokens[s])} | {row[s]:.3f} | {row.sum():.3f} |")
    return lines


def bmm_markdown(shown, step: int, forced: bool = False, top: int = 5) -> str:
    """Both bmm calls of the decoder call that produced target token `step` of the hypothesis on screen (a
    page.state.Shown), with its real B, S and 2H. The query is the decoder GRU's new state, which decoder.onnx
    returns, so the scores are the real first bmm (query · keys); additive attention has no such product."""
    result, translation = shown.result, shown.translation
    source_tokens, target_tokens = result.source_tokens, result.target_tokens
    weights = np.asarray(result.attention[step], dtype=np.float64)
    enc_out = np.asarray(translation.enc_out, dtype=np.float64)
    S, two_h = enc_out.shape
    call = translation.step_calls[step]
    B, kind = call.batch, shown.model["attention"]
    what = ("live beam" if translation.decoding["mode"] == "beam" else "sentence") + ("s" if B > 1 else "")
    previous = "BOS" if step == 0 else md_token(target_tokens[step - 1])
    context = weights @ enc_out  # (2H,): this row of the second bmm, recomputed from the real numbers
    how = "forced to (you picked it)" if forced else "the decoder chose"
    lines = [
        f"## Step {step}: {how} {md_token(target_tokens[step])} (p = {result.token_probs[step]:.3f})",
        f"This decoder call had **B = {B}** ({B} {what}{'' if B == 1 else ', one row each'}); S = {S} source "
        f"tokens (with `</s>`), 2H = {two_h} numbers per encoder state. Score function: **{md_text(kind)}**.",
        "",
        model_code_block(),
        "",
        "| line | this step's real call |",
        "|---|---|",
    ]
    if kind == "additive":
        lines.append(f"| scores | **not a bmm**: `v · tanh(W_q·query + keys)` ({B}, 1, {S}, A) → ({B}, 1, {S}) |")
    else:
        lines.append(f"| `{SCORES}` | query ({B}, 1, {two_h}) bmm keysᵀ ({B}, {two_h}, {S}) → **({B}, 1, {S})** |")
    lines += [
        f"| `{SOFTMAX}` | ({B}, 1, {S}); this result's row sums to {weights.sum():.3f} |",
        f"| `{CONTEXT}` | ({B}, 1, {S}) bmm ({B}, {S}, {two_h}) → **({B}, 1, {two_h})** |",
        "",
        f"The query is the decoder GRU's state after reading {previous}.",
    ]
    if B > 1:
        lines += ["", f"**The {B} rows of this call** (each live beam attends on its own):", ""] + _beam_rows(
            call, result.call_rows[step], source_tokens
        )
    scores = None if call.scores is None else call.scores[result.call_rows[step]]
    lines += [
        "",
        f"**This result's weights** (top {min(top, S)} of {S}; score = query · key, the first bmm):",
        "",
        f"| source token | position | weight | score | enc_out row (first 4 of {two_h}) |",
        "|---|---:|---:|---:|---|",
    ]
    for s in np.argsort(-weights, kind="stable")[:top]:
        score = "–" if scores is None else f"{scores[s]:+.2f}"
        lines.append(f"| {md_token(source_tokens[s])} | {s} | {weights[s]:.3f} | {score} | `{_vector(enc_out[s])}` |")
    lines += [
        "",
        f"**context = Σₛ weightₛ · enc_outₛ** (this row of the second bmm, recomputed here): "
        f"`{_vector(context, 6)}`, norm {np.linalg.norm(context):.3f}.",
        "",
        tutorial_markdown(S, two_h),
    ]
    return "\n".join(lines)


# ---- measured live: one attention step three ways ----------------------------------------------------
def _softmax(scores):
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def attention_batched(query, enc_out):
    """(B,1,2H) and (B,S,2H): np.matmul broadcasts over B exactly like torch.bmm."""
    weights = _softmax(np.matmul(query, enc_out.transpose(0, 2, 1)))  # (B, 1, S)
    return np.matmul(weights, enc_out)  # (B, 1, 2H)


def attention_loop(query, enc_out):
    """B separate 2-D products, one Python iteration per sentence."""
    out = np.empty_like(query)
    for b in range(query.shape[0]):
        weights = _softmax(query[b] @ enc_out[b].T)  # (1, S)
        out[b] = weights @ enc_out[b]  # (1, 2H)
    return out


def attention_tutorial(query, enc_out):
    """The tutorial's form, once per sentence: every operand unsqueezed to a batch of one."""
    out = np.empty_like(query)
    for b in range(query.shape[0]):
        weights = _softmax(np.matmul(query[b][None], enc_out[b].T[None]))  # (1, 1, S)
        out[b] = np.matmul(weights, enc_out[b][None])[0]  # (1, 1, 2H)
    return out


BATCHED, LOOP = "one batched matmul (= torch.bmm)", "Python loop of B products"
METHODS = {
    BATCHED: attention_batched,
    LOOP: attention_loop,
    "tutorial's B = 1 bmm, once per sentence": attention_tutorial,
}


def measure(S: int, two_h: int, sizes=TIMING_SIZES, budget_s: float = 0.5, progress=None, seed: int = 0) -> list[dict]:
    """Per B and method: µs per call (best of 3 timeit repeats) and max |difference| from the batched result."""
    rng = np.random.default_rng(seed)
    rows = []
    per_size = budget_s / len(sizes) / len(METHODS) / 3
    for i, B in enumerate(sizes):
        if progress is not None:
            progress(i / len(sizes), desc=f"B = {B}")
        query = rng.standard_normal((B, 1, two_h)).astype(np.float32)
        enc_out = rng.standard_normal((B, S, two_h)).astype(np.float32)
        reference = attention_batched(query, enc_out)
        for name, method in METHODS.items():
            once = timeit.timeit(lambda: method(query, enc_out), number=1)
            number = max(1, int(per_size / max(once, 1e-7)))
            best = min(timeit.repeat(lambda: method(query, enc_out), number=number, repeat=3)) / number
            difference = float(np.abs(method(query, enc_out) - reference).max())
            rows.append({"B": B, "method": name, "us_per_call": best * 1e6, "max_abs_difference": difference})
    return rows


def timing_table(rows: list[dict]) -> list[list]:
    return [
        [
            r["B"],
            r["method"],
            f"{r['us_per_call']:.1f}",
            f"{r['us_per_call'] / r['B']:.2f}",
            f"{r['max_abs_difference']:.1e}",
        ]
        for r in rows
    ]


def timing_figure(rows: list[dict], S: int, two_h: int):
    figure = go.Figure()
    for name in METHODS:
        mine = [r for r in rows if r["method"] == name]
        figure.add_trace(
            go.Scatter(x=[r["B"] for r in mine], y=[r["us_per_call"] for r in mine], name=name, mode="lines+markers")
        )
    figure.update_layout(
        title=dict(text=f"One attention step, S = {S}, 2H = {two_h}", font=dict(size=14)),
        xaxis=dict(title="B (sentences in the batch)", type="log", tickvals=[r["B"] for r in rows]),
        yaxis=dict(title="µs per call", type="log"),
        height=380,
        margin=dict(l=10, r=10, t=40, b=10),
        legend=dict(orientation="h", y=-0.25),
    )
    return figure
