"""The bmm explanations: the Batch tab's padded batch against each sentence alone, the live timing's three
methods against each other, the bmm panel's numbers, and the quoted code against training/model.py."""

from __future__ import annotations

import inspect
import math
import re

import numpy as np
import pytest
from schema import validate_batch
from test_app import app_assets, demo_app, sentence_for  # noqa: F401  (fixtures)

import page.batch_tab as batch_tab
import page.bmm_panel as bmm_panel
from inference import InputError
from inference.batch_trace import split_sentences, trace_batch
from inference.document import batch_json
from inference.translator import StepCall, Translation
from page.state import Shown
from page.text import md_text


def batch_sentences(translator) -> list[str]:
    """Three sentences of different lengths that the (possibly tiny) test bundle can read."""
    first = sentence_for(translator)
    candidates = [first, "The dog runs.", "The small black cat sleeps in the old house.", "A man waits."]
    usable = [
        (text, ids) for text, ids in zip(candidates, translator.check_sources(candidates)) if isinstance(ids, list)
    ]
    assert len({len(ids) for _, ids in usable}) >= 2, "need sentences of different lengths"
    return [text for text, _ in usable[:3]]


@pytest.fixture(scope="module")
def translator(demo_app):  # noqa: F811
    return demo_app.translators[demo_app.default]


def test_batch_equals_each_sentence_alone(translator):
    texts = batch_sentences(translator)
    trace = trace_batch(translator, texts)
    B, S = trace.src_ids.shape
    assert (
        B == len(texts)
        and S == max(trace.lengths)
        and trace.enc_out.shape == (B, S, 2 * translator.config["hidden_dim"])
    )
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
    shapes = batch_tab.shapes_markdown(trace, two_h)
    pads = int((~trace.mask).sum())
    assert f"**src_ids** ({B}, {S})" in shapes and f"**enc_out** ({B}, {S}, {two_h})" in shapes
    assert shapes.count(f"*{batch_tab.PAD}*") == pads and shapes.count("| **0**") + shapes.count(" **0** ") >= pads
    assert "step 0: " + str(B) in shapes
    doc = validate_batch(batch_json(trace, translator.name, translator.config))  # what the picture draws
    assert np.asarray(doc["src_ids"]).shape == (B, S) and np.asarray(doc["enc_out"]).shape == (B, S, two_h)
    assert [call["batch"] for call in doc["calls"]] == [call.batch for call in trace.calls]
    for call, traced in zip(doc["calls"], trace.calls):
        assert call["rows"] == traced.rows.tolist()
        np.testing.assert_allclose(call["attention"], traced.attention, atol=1e-6)
        # the first bmm's scores are the real query · keys of each row's sentence, and softmax gives the weights
        keys = np.asarray(doc["enc_out"])[call["rows"]]
        np.testing.assert_allclose(call["scores"], np.einsum("nd,nsd->ns", np.asarray(call["query"]), keys), atol=2e-3)
        scores = np.where(np.asarray(doc["mask"])[call["rows"]] == 1, np.asarray(call["scores"]), -np.inf)
        weights = np.exp(scores - scores.max(1, keepdims=True))
        np.testing.assert_allclose(weights / weights.sum(1, keepdims=True), call["attention"], atol=2e-5)
    for sentence, text in zip(doc["sentences"], texts):
        assert sentence["source"] == text and sentence["translation"] == translator.translate(text).text


def test_the_batch_tab_handlers(demo_app):  # noqa: F811
    translator = demo_app.translators[demo_app.default]
    texts = batch_sentences(translator)
    key, shapes, picture, heatmaps, translations, status = demo_app.batch.on_run(demo_app.default, "\n".join(texts))
    assert "One encoder call" in status and picture["step"] == 0 and len(picture["batch"]["sentences"]) == len(texts)
    assert [h["translation"] for h in heatmaps["sentences"]] == picture["batch"]["sentences"]  # same documents
    assert all(md_text(text) in translations for text in texts)
    rows, plot, summary, timed = demo_app.batch.on_timing(key, demo_app.default)
    assert timed["timing"]["B"] == len(texts) and timed["timing"]["loop_us"] > 0 and "same context" in summary
    for bad, words in [
        ("one line only", "2 to 8"),
        ("\n".join(["a dog."] * 9), "got 9"),
        (texts[0] + "\n犬", "Line 2"),
    ]:
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
    reference = np.stack(
        [
            (np.exp(q @ e.T - (q @ e.T).max()) / np.exp(q @ e.T - (q @ e.T).max()).sum()) @ e
            for q, e in zip(query.astype(np.float64), enc_out.astype(np.float64))
        ]
    )
    for method in bmm_panel.METHODS.values():
        np.testing.assert_allclose(method(query, enc_out), reference, atol=1e-5)
    rows = bmm_panel.measure(7, 16, sizes=(1, 4), budget_s=0.05)
    assert len(rows) == 2 * len(bmm_panel.METHODS)
    assert all(r["max_abs_difference"] < 1e-5 and r["us_per_call"] > 0 for r in rows)
    assert len(bmm_panel.timing_table(rows)) == len(rows) and len(bmm_panel.timing_figure(rows, 7, 16).data) == 3


def _shown(config, enc_out, source_tokens, target_tokens, token_probs, attention, mode, calls, call_rows) -> Shown:
    """A Shown of a made-up result whose decoder calls are `calls` [(batch, (batch, S) weights)]."""
    steps = len(target_tokens)
    result = Translation(
        text="x",
        source_tokens=source_tokens,
        source_ids=list(range(4, 4 + len(source_tokens))),
        target_tokens=target_tokens,
        target_ids=list(range(10, 10 + steps)),
        attention=attention,
        token_probs=token_probs,
        alternatives=[[(t, p)] for t, p in zip(target_tokens, token_probs)],
        alternative_ids=[[10 + t] for t in range(steps)],
        score=-1.0,
        normalized_score=-1.0,
        finished=True,
        call_rows=call_rows,
        step_calls=[
            StepCall(batch, np.asarray(rows, dtype=np.float32), None, np.log(np.asarray(rows, dtype=np.float32)) + 3.0)
            for batch, rows in calls
        ],
        decoding={"mode": mode, "beam_size": 1, "length_penalty": 0.0, "max_len": 9, "prefix_ids": []},
        enc_out=np.asarray(enc_out, dtype=np.float32),
    )
    return Shown("en-de", "a c", 0, result, config)


def test_bmm_panel_numbers():
    rng = np.random.default_rng(0)
    enc_out = rng.normal(size=(4, 6)).astype(np.float32).astype(np.float64)  # exactly what the float32 result holds
    weights = [0.1, 0.6, 0.25, 0.05]
    calls = [(1, [weights]), (2, [[0.7, 0.1, 0.1, 0.1], weights])]
    for kind in ("dot", "general", "additive"):
        config = {"hidden_dim": 3, "embed_dim": 5, "vocab_size": 50, "attention": kind, "attention_dim": 7}
        shown = _shown(
            config,
            enc_out,
            ["▁a", "<b>", "▁c", "</s>"],
            ["▁x", "</s>"],
            [0.9, 0.42],
            [weights, weights],
            "beam",
            calls,
            [0, 1],
        )
        text = bmm_panel.bmm_markdown(shown, 1)
        assert "**B = 2**" in text and "(2, 1, 4) bmm (2, 4, 6) → **(2, 1, 6)**" in text and "p = 0.420" in text
        assert ("not a bmm" in text) == (kind == "additive")
        assert bmm_panel._vector(np.asarray(weights) @ enc_out, 6) in text  # the context really is weights @ enc_out
        assert f"| {math.log(0.25) + 3.0:+.2f} |" in text  # the call's own score of that position
        assert "| 1 ★ (this result) |" in text and "<b>" not in text
        assert "the decoder chose" in text and "forced to" not in bmm_panel.bmm_markdown(shown, 0)
        assert "forced to (you picked it)" in bmm_panel.bmm_markdown(shown, 0, forced=True)
    assert "B = 1" in bmm_panel.bmm_markdown(shown, 0)


def test_quoted_code_is_the_models_code():
    """Every line of training code the page quotes is in Attention.forward, character for character; the
    only other bmm line shown is the tutorial's, labelled as such."""
    pytest.importorskip("torch")
    from training.model import Attention

    source = inspect.getsource(Attention.forward)
    for line in bmm_panel.MODEL_LINES:
        assert line in source, line
    rng = np.random.default_rng(0)
    result = _shown(
        {"hidden_dim": 2, "attention": "dot"},
        rng.normal(size=(2, 4)),
        ["▁a", "</s>"],
        ["▁x"],
        [0.5],
        [[0.5, 0.5]],
        "greedy",
        [(1, [[0.5, 0.5]])],
        [0],
    )
    panel = bmm_panel.bmm_markdown(result, 0)
    shown = {line.strip() for line in re.findall(r"`([^`\n]*torch\.[^`\n]*)`", panel)}
    shown |= {
        line.strip()
        for block in re.findall(r"```python\n(.*?)```", panel, re.S)
        for line in block.splitlines()
        if line.strip() and not line.startswith("#")
    }
    quoted = set(bmm_panel.MODEL_LINES) | set(bmm_panel.CODE) | {bmm_panel.TUTORIAL_LINE}
    assert shown and shown <= quoted, shown - quoted
    assert set(bmm_panel.MODEL_LINES) <= shown  # the code block quotes every line
    assert bmm_panel.TUTORIAL_LINE in panel and "tutorial" in panel
