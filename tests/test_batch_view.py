"""The bmm explanations: the Batch tab's padded batch against each sentence alone, the live timing's three
methods against each other, the bmm panel's numbers, and the quoted code against training/model.py."""
from __future__ import annotations

import inspect
import math
import re

import numpy as np
import pytest

import app_batch
import app_bmm
from app_views import md_text
from inference import InputError
from inference.batch_trace import split_sentences, trace_batch
from test_app import demo_app, app_assets, sentence_for  # noqa: F401  (fixtures)


def batch_sentences(translator) -> list[str]:
    """Three sentences of different lengths that the (possibly tiny) test bundle can read."""
    first = sentence_for(translator)
    candidates = [first, "The dog runs.", "The small black cat sleeps in the old house.", "A man waits."]
    usable = [(text, ids) for text, ids in zip(candidates, translator.check_sources(candidates)) if isinstance(ids, list)]
    assert len({len(ids) for _, ids in usable}) >= 2, "need sentences of different lengths"
    return [text for text, _ in usable[:3]]


@pytest.fixture(scope="module")
def translator(demo_app):  # noqa: F811
    return demo_app.translators[demo_app.default]


def test_batch_equals_each_sentence_alone(translator):
    texts = batch_sentences(translator)
    trace = trace_batch(translator, texts)
    B, S = trace.src_ids.shape
    assert B == len(texts) and S == max(trace.lengths) and trace.enc_out.shape == (B, S, 2 * translator.config["hidden_dim"])
    assert (trace.mask == (trace.src_ids != translator.pad_id)).all() and (~trace.mask).any()  # padding exists
    for b, text in enumerate(texts):
        alone = translator.translate(text)
        L = trace.lengths[b]
        assert trace.target_tokens[b] == alone.target_tokens and trace.translations[b] == alone.text
        np.testing.assert_allclose(trace.attention[b][:, :L], np.asarray(alone.attention), atol=1e-5)
        np.testing.assert_allclose(trace.enc_out[b, :L], alone.enc_out, atol=1e-5)
        assert trace.attention[b][:, L:].max(initial=0.0) < 1e-9  # padded positions get no weight
    # B per step is the number of sentences still decoding; finished sentences leave the call
    for t, call in enumerate(trace.calls):
        assert list(call.rows) == [b for b in range(B) if len(trace.target_tokens[b]) > t]
        assert call.attention.shape == (call.batch, S)


def test_batch_view_shows_shapes_padding_mask_and_every_row(translator):
    texts = batch_sentences(translator)
    trace = trace_batch(translator, texts)
    B, S = trace.src_ids.shape
    two_h = 2 * translator.config["hidden_dim"]
    shapes = app_batch.shapes_markdown(trace, two_h)
    pads = int((~trace.mask).sum())
    assert f"**src_ids** ({B}, {S})" in shapes and f"**enc_out** ({B}, {S}, {two_h})" in shapes
    assert shapes.count(f"*{app_batch.PAD}*") == pads and shapes.count("| **0**") + shapes.count(" **0** ") >= pads
    assert "step 0: " + str(B) in shapes
    last = len(trace.calls) - 1
    step = app_batch.step_markdown(trace, last, two_h)
    N = trace.calls[last].batch
    assert f"B = {N}" in step and f"({N}, 1, {S}) bmm ({N}, {S}, {two_h}) → **({N}, 1, {two_h})**" in step
    rows = [line for line in step.splitlines() if re.match(r"\| \d+ \| \d+ \|", line)]
    assert len(rows) == N and all(line.count("|") == S + 4 for line in rows)
    figure = app_batch.heatmaps(trace, 0)
    assert len(figure.data) == B and all(np.asarray(d.z).shape[1] == S for d in figure.data)


def test_the_batch_tab_handlers(demo_app):  # noqa: F811
    translator = demo_app.translators[demo_app.default]
    texts = batch_sentences(translator)
    key, shapes, slider, step_view, figure, translations, status = demo_app.batch.on_run(demo_app.default, "\n".join(texts))
    assert "One encoder call" in status and slider.maximum >= 1 and "## Step 0" in step_view
    assert all(md_text(text) in translations for text in texts)
    view, _ = demo_app.batch.on_step(key, 1)
    assert "## Step 1" in view
    for bad, words in [("one line only", "2 to 8"), ("\n".join(["a dog."] * 9), "got 9"), (texts[0] + "\n犬", "Line 2")]:
        assert words in md_text_plain(demo_app.batch.on_run(demo_app.default, bad)[-1])


def md_text_plain(markdown: str) -> str:
    import html

    return html.unescape(markdown)


def test_split_sentences():
    assert split_sentences(" a \n\n b \n") == ["a", "b"]
    for bad in ("a", "\n".join("abcdefghi"), 7):
        with pytest.raises(InputError):
            split_sentences(bad)


def test_the_three_timed_methods_agree():
    rng = np.random.default_rng(1)
    query = rng.standard_normal((5, 1, 16)).astype(np.float32)
    enc_out = rng.standard_normal((5, 7, 16)).astype(np.float32)
    reference = np.stack([(np.exp(q @ e.T - (q @ e.T).max()) / np.exp(q @ e.T - (q @ e.T).max()).sum()) @ e
                          for q, e in zip(query.astype(np.float64), enc_out.astype(np.float64))])
    for method in app_bmm.METHODS.values():
        np.testing.assert_allclose(method(query, enc_out), reference, atol=1e-5)
    rows = app_bmm.measure(7, 16, sizes=(1, 4), budget_s=0.05)
    assert len(rows) == 2 * len(app_bmm.METHODS)
    assert all(r["max_abs_difference"] < 1e-5 and r["us_per_call"] > 0 for r in rows)
    assert len(app_bmm.timing_table(rows)) == len(rows) and len(app_bmm.timing_figure(rows, 7, 16).data) == 3


def test_bmm_panel_numbers():
    rng = np.random.default_rng(0)
    enc_out = rng.normal(size=(4, 6))
    weights = [0.1, 0.6, 0.25, 0.05]
    result = {"source_tokens": ["▁a", "<b>", "▁c", "</s>"], "target_tokens": ["▁x", "</s>"], "token_probs": [0.9, 0.42],
              "attention": [weights, weights], "decoding": {"mode": "beam"},
              "step_calls": [{"batch": 1, "row": 0, "attention": [weights]},
                             {"batch": 2, "row": 1, "attention": [[0.7, 0.1, 0.1, 0.1], weights]}]}
    for kind in ("dot", "general", "additive"):
        config = {"hidden_dim": 3, "embed_dim": 5, "vocab_size": 50, "attention": kind, "attention_dim": 7}
        text = app_bmm.bmm_markdown(config, result, 1, enc_out)
        assert "**B = 2**" in text and "(2, 1, 4) bmm (2, 4, 6) → **(2, 1, 6)**" in text and "p = 0.420" in text
        assert ("not a bmm" in text) == (kind == "additive")
        assert app_bmm._vector(np.asarray(weights) @ enc_out, 6) in text  # the context really is weights @ enc_out
        assert f"{math.log(0.25 / 0.6):+.2f}" in text  # score − best = ln(w / w_max)
        assert "| 1 ★ (this result) |" in text and "<b>" not in text
    assert "B = 1" in app_bmm.bmm_markdown(config, result, 0, enc_out)


def test_quoted_code_is_the_models_code():
    """Every line of training code the page quotes is in Attention.forward, character for character; the
    only other bmm line shown is the tutorial's, labelled as such."""
    pytest.importorskip("torch")
    from training.model import Attention

    source = inspect.getsource(Attention.forward)
    for line in app_bmm.MODEL_LINES:
        assert line in source, line
    rng = np.random.default_rng(0)
    result = {"source_tokens": ["▁a", "</s>"], "target_tokens": ["▁x"], "token_probs": [0.5], "attention": [[0.5, 0.5]],
              "decoding": {"mode": "greedy"}, "step_calls": [{"batch": 1, "row": 0, "attention": [[0.5, 0.5]]}]}
    panel = app_bmm.bmm_markdown({"hidden_dim": 2, "attention": "dot"}, result, 0, rng.normal(size=(2, 4)))
    shown = {line.strip() for line in re.findall(r"`([^`\n]*torch\.[^`\n]*)`", panel)}
    shown |= {line.strip() for block in re.findall(r"```python\n(.*?)```", panel, re.S) for line in block.splitlines()
              if line.strip() and not line.startswith("#")}
    assert shown and shown <= set(app_bmm.MODEL_LINES) | {app_bmm.TUTORIAL_LINE}, shown - set(app_bmm.MODEL_LINES)
    assert app_bmm.TUTORIAL_LINE in panel and "tutorial" in panel
