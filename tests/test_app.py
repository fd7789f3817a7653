"""The Gradio app: handlers called directly, formatting helpers, startup failures, and a launched server
queried with gradio_client (the `translate` API, an error through the API, the app still serving after it)."""

from __future__ import annotations

import ast
import contextlib
import csv
import gc
import html
import json
import math
import re
import shutil
import socket
import subprocess
import sys
import tracemalloc
from pathlib import Path

import gradio as gr
import numpy as np
import pytest

import app
from inference import BundleError, InputError
from inference.document import load_schema
from page import downloads, handlers, reference
from page.api import load_translators
from page.handlers import DemoApp
from page.layout import build, launch
from page.model_card import model_card_markdown
from page.text import md_text
from page.translate_tab import ResultViews

ROOT = Path(__file__).resolve().parent.parent


# ---- fixtures and helpers (also used by test_browser.py) ---------------------------------------------
def assets_with(bundle_dir: Path, folder: Path) -> Path:
    """An assets folder holding only this bundle (a symlink named like the bundle's folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / bundle_dir.name).symlink_to(bundle_dir.resolve(), target_is_directory=True)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(assets_dir: Path):
    """The real app (same queue and launch settings as `python app.py`) on 127.0.0.1 and a free port."""
    demo_app = DemoApp(load_translators(assets_dir, "cpu", threads=1))
    demo = build(demo_app)
    _, url, _ = launch(demo, "127.0.0.1", free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield url, demo_app, demo
    finally:
        demo.close()


def sentence_for(translator, skip: str = "") -> str:
    """One of our example sentences (not `skip`) that this bundle's tokenizer accepts (the test bundle may be tiny)."""
    from inference.examples import examples_for

    texts = [t for t in examples_for(translator.bundle.manifest["pair"]["src"]) if t != skip]
    for text, ids in zip(texts, translator.check_sources(texts)):
        if isinstance(ids, list):
            return text
    raise AssertionError("the test bundle accepts none of the example sentences")


@pytest.fixture(scope="module")
def app_assets(app_bundle_dir, tmp_path_factory) -> Path:
    return assets_with(app_bundle_dir, tmp_path_factory.mktemp("app_assets"))


@pytest.fixture(scope="module")
def demo_app(app_assets) -> DemoApp:
    return DemoApp(load_translators(app_assets, "cpu", threads=1))


@pytest.fixture(scope="module")
def pair_and_text(demo_app) -> tuple[str, str]:
    return demo_app.default, sentence_for(demo_app.translators[demo_app.default])


# ---- handlers ----------------------------------------------------------------------------------------
def test_translate_fills_every_view(demo_app, pair_and_text):
    pair, text = pair_and_text
    out = demo_app.on_translate(pair, text, "greedy", 5, 0.6, 0)
    assert isinstance(out, ResultViews)
    r = doc_of(demo_app, out.state)
    config = demo_app.translators[pair].config
    S, T, two_h = len(r["source_tokens"]), len(r["target_tokens"]), 2 * config["hidden_dim"]
    assert out.translation == r["translation"] and T >= 1 and r["decoding"]["mode"] == "greedy"
    assert out.heatmap["translation"] == r  # the heatmap draws the translation JSON itself
    assert np.asarray(r["attention"]).shape == (T, S) and out.heatmap["step"] == 0 and out.steps == "0"
    assert out.heatmap["share"] == {"pair": pair, "text": text, "mode": "greedy", "max_len": 0}
    assert len(out.alternatives.choices) == len(r["alternatives"][0]) > 1
    assert out.alternatives.value is None  # nothing picked for the user; the decoder's own choice is labelled
    labels = [label for label, _ in out.alternatives.choices]
    chosen = [label for label in labels if "decoder's choice" in label]
    assert chosen == [f"{r['target_tokens'][0]}  {r['token_probs'][0]:.1%}  (decoder's choice)"]
    first = r["alternatives"][0][0]  # greedy: the most likely alternative is the chosen token
    assert (first["token"], first["id"]) == (r["target_tokens"][0], r["target_ids"][0])
    assert first["prob"] == pytest.approx(r["token_probs"][0], rel=1e-6)
    assert "B = 1" in out.bmm and f"(1, 1, {S}) bmm (1, {S}, {two_h}) → **(1, 1, {two_h})**" in out.bmm
    if config["attention"] == "additive":
        assert "not a bmm" in out.bmm
    else:
        assert f"query (1, 1, {two_h}) bmm keysᵀ (1, {two_h}, {S}) → **(1, 1, {S})**" in out.bmm
    assert out.json_file.visible is False  # downloads are written only when asked for
    json_button, csv_button, message = demo_app.on_downloads(out.state)
    saved = json.loads(Path(json_button.value["path"]).read_text(encoding="utf-8"))
    assert saved == r  # the download is the same document, explanation included
    ex = saved["explanation"]
    assert np.asarray(ex["occlusion"]["drops"]).shape == (T, S) and len(ex["confidence"]["badges"]) == T
    assert "confidence: mean token probability" in out.status and out.swap.visible is False
    with open(csv_button.value["path"], newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert len(rows) == T + 1 and all(len(row) == S + 3 for row in rows)


def test_beam_search_shows_nbest_and_its_real_batch(demo_app, pair_and_text):
    out = demo_app.on_translate(*pair_and_text, "beam search", 3, 0.6, 0)
    r = doc_of(demo_app, out.state)
    assert r["decoding"]["mode"] == "beam"
    assert out.nbest.visible and 1 <= len(out.nbest.value["data"]) <= 3
    batches = [call["batch"] for call in r["step_calls"]]
    assert batches[0] == 1 and max(batches) == 3  # the panel shows the decoder call as it ran
    step = batches.index(3)
    assert out.heatmap["share"]["mode"] == "beam" and out.heatmap["share"]["beam"] == 3
    bmm = demo_app.on_select(out.state, str(step))[1]  # the hidden step box carries text
    assert "**B = 3**" in bmm and "B = 1" not in bmm and "★ (this result)" in bmm
    assert bmm.count("| 0") + bmm.count("| 1") + bmm.count("| 2") >= 3


def test_selecting_a_step_updates_the_step_views(demo_app, pair_and_text):
    out = demo_app.on_translate(*pair_and_text, "greedy", 5, 0.6, 0)
    r = doc_of(demo_app, out.state)
    step = len(r["target_tokens"]) - 1
    alternatives, bmm = demo_app.on_select(out.state, str(step))
    assert f"Step {step}:" in bmm
    assert f"step {step}" in alternatives.label
    assert [j for _, j in alternatives.choices] == list(range(len(r["alternatives"][step])))
    assert demo_app.on_select("no-such-key", "0") == (gr.skip(),) * 2
    assert demo_app.on_select(out.state, "") == (gr.skip(),) * 2  # the box is empty before any result


def test_continue_from_an_alternative_forces_it(demo_app, pair_and_text):
    first = demo_app.on_translate(*pair_and_text, "greedy", 5, 0.6, 0)
    r = doc_of(demo_app, first.state)
    step = 0
    alternative = next(j for j, a in enumerate(r["alternatives"][step]) if a["token"] != r["target_tokens"][step])
    token = r["alternatives"][step][alternative]["token"]
    assert "Pick one" in demo_app.on_continue(first.state, "0", None).status  # nothing picked: nothing forced
    out = demo_app.on_continue(first.state, str(step), alternative)
    new = doc_of(demo_app, out.state)
    assert new["target_ids"][step] == r["alternatives"][step][alternative]["id"]
    assert new["target_tokens"][step] == token and new["decoding"]["mode"] == "prefix+greedy"
    assert (
        out.steps == str(step)
        and out.heatmap["step"] == step
        and new["decoding"]["prefix_ids"] == new["target_ids"][: step + 1]
    )
    assert "Continued from" in out.status and "forced to" in out.bmm
    later = demo_app.on_select(out.state, len(new["target_tokens"]) - 1)[1]
    assert "forced" not in later or len(new["target_tokens"]) == 1


def test_a_share_link_after_continue_restores_the_same_translation(demo_app, pair_and_text):
    pair, text = pair_and_text
    first = demo_app.on_translate(pair, text, "beam search", 3, 0.6, 0)
    r = doc_of(demo_app, first.state)
    alternative = next(j for j, a in enumerate(r["alternatives"][0]) if a["token"] != r["target_tokens"][0])
    out = demo_app.on_continue(first.state, "0", alternative)
    assert demo_app.decoding_of(out.state) == "greedy"  # the Decoding radio follows: no longer beam search
    share = out.heatmap["share"]
    new = doc_of(demo_app, out.state)
    assert share["mode"] == "greedy" and share["prefix"] == ".".join(map(str, new["decoding"]["prefix_ids"]))
    link = {k: str(v) for k, v in share.items()}
    values = demo_app.on_load(FakeRequest(**link, step="99"))
    settings, restored = list(values[:5]), ResultViews(*values[LOAD_FIELDS:])
    assert settings[1] == "greedy" and restored.translation == out.translation
    assert doc_of(demo_app, restored.state)["target_ids"] == new["target_ids"]
    last = len(new["target_tokens"]) - 1
    assert restored.heatmap["step"] == last and "step=99 is past this translation's last step" in restored.status
    assert "forced tokens" in restored.status
    values = demo_app.on_load(FakeRequest(pair=pair, text=text, prefix="1.x"))
    assert "Ignored prefix='1.x'" in views_plain(ResultViews(*values[LOAD_FIELDS:]).status)


def test_the_bmm_panel_uses_the_results_own_encoder_output(demo_app, pair_and_text, monkeypatch):
    out = demo_app.on_translate(*pair_and_text, "greedy", 5, 0.6, 0)
    translator = demo_app.translators[pair_and_text[0]]
    monkeypatch.setattr(translator.tokenizer, "token_to_id", lambda *a: pytest.fail("token mapped to id"))
    assert demo_app.on_continue(out.state, 0, 1).status.startswith("Continued from")  # re-decodes: encodes
    monkeypatch.setattr(translator, "encode", lambda *a: pytest.fail("the encoder ran again behind the result"))
    assert "Step 0:" in demo_app.on_select(out.state, 0)[1]


def test_bad_input_gives_a_message_and_keeps_the_previous_result(demo_app, pair_and_text):
    pair = demo_app.default
    for text, words in [
        ("   ", "empty"),
        ("a" * 400, "limit"),
        ("a\x00b", "control"),
        ("犬が走る", "never seen"),
        (123, "not text"),
    ]:
        out = demo_app.on_translate(pair, text, "greedy", 5, 0.6, 0)
        assert out.status.startswith("⚠️") and words in views_plain(out.status), out.status
        skipped = [name for name, value in out._asdict().items() if value == gr.skip()]
        assert skipped == [name for name in ResultViews._fields if name != "status"]  # nothing else is touched
    for bad, words in [
        (dict(beam_size=0), "from 1 to 10"),
        (dict(beam_size=99), "from 1 to 10"),
        (dict(beam_size=2.7), "got the number 2.7"),
        (dict(beam_size="two"), "got the text"),
        (dict(beam_size=True), "boolean"),
        (dict(max_len=-1), "from 0 to 200"),
        (dict(max_len=math.inf), "got the number inf"),
        (dict(max_len=10_000), "from 0 to 200"),
        (dict(length_penalty="long"), "length_penalty"),
        (dict(length_penalty=9), "from 0 to 3"),
        (dict(length_penalty=math.nan), "nan"),
        (dict(pair=["en-de"]), "pair argument is not text"),
        (dict(pair="xx-yy"), "Unknown language pair"),
        (dict(text=None), "not text"),
    ]:
        kwargs = dict(pair=pair, text="x") | bad
        with pytest.raises(InputError, match=re.escape(words)):
            demo_app.run(**kwargs)


def test_a_pair_switch_keeps_the_visitors_work_and_the_same_pair_changes_nothing(demo_app, pair_and_text):
    pair, text = pair_and_text
    out = demo_app.on_translate(pair, text, "greedy", 5, 0.6, 0)
    unchanged = demo_app.on_pair(pair, out.state, text, "greedy", 5, 0, "my own\nsentences")
    assert all(value == gr.skip() for value in unchanged)  # the list opened and closed, or tabbed past

    dataset, slider, batch_text, source, *views = demo_app.on_pair(pair, None, text, "greedy", 5, 0, "mine\nmine")
    again = ResultViews(*views)  # a switch (here with no result to compare): the sentence is translated again
    assert dataset.samples and slider.value == demo_app.translators[pair].length_penalty
    assert batch_text == "mine\nmine" and source == text and again.translation == out.translation
    assert "greedy decoding" in again.status
    _, _, ours, _, *views = demo_app.on_pair(pair, None, "", "greedy", 5, 0, "")
    cleared = ResultViews(*views)  # nothing typed: our Batch sentences, nothing to translate
    assert ours.count("\n") >= 2 and cleared.state is None and cleared.translation == ""
    assert "translate a sentence" in cleared.status
    assert demo_app.on_continue(cleared.state, 0, 1).status == "Translate a sentence first."


def test_our_example_follows_the_pair_and_the_visitors_own_text_stays():
    from inference.examples import EXAMPLES
    from page.batch_tab import examples_text, our_example_in

    assert our_example_in("de", EXAMPLES["en"][2]) == EXAMPLES["de"][2]
    assert our_example_in("fr", EXAMPLES["de"][0]) == EXAMPLES["fr"][0]
    assert our_example_in("de", "My own sentence.") == "My own sentence."
    from page.batch_tab import BatchTab

    batch = BatchTab(None)
    french = type("T", (), {"src_lang": "fr"})()
    assert batch.examples_for(french, examples_text("en")) == examples_text("fr")
    assert batch.examples_for(french, "mine\nmine") == "mine\nmine"


LOAD_FIELDS = len(handlers.LOAD_FIELDS)  # pair, mode, beam, penalty, max_len, source, examples: then ResultViews


class FakeRequest:
    def __init__(self, **query):
        self.query_params = query


def test_the_page_opens_on_a_worked_example(demo_app):
    # before the page is built, a plain visit computes the worked example: a beam search (its decoder calls batch
    # 5 beams) that changes no other setting
    values = DemoApp(demo_app.translators).on_load(FakeRequest())
    settings, (text, examples), out = list(values[:5]), values[5:LOAD_FIELDS], ResultViews(*values[LOAD_FIELDS:])
    assert settings == [gr.skip(), "beam search", 5, gr.skip(), gr.skip()] and examples == gr.skip()
    assert text and out.translation and "worked example" in out.status and "## Step" in out.bmm
    picture = out.picture["translation"]
    assert picture["decoding"]["mode"] == "beam" and picture["step_calls"][out.picture["step"]]["batch"] > 1


def test_the_built_page_already_holds_the_worked_example(demo_app):
    """The first paint draws the worked example: the components are built holding it, and a plain visit's load
    event sends nothing (no decode, no round trip before the picture)."""
    demo_app = DemoApp(demo_app.translators)
    demo = build(demo_app)
    text, opening = demo_app.opening()
    values = {c.elem_id: c.value for c in demo.blocks.values() if getattr(c, "elem_id", None) and hasattr(c, "value")}
    picture = values["bmm-picture"]
    assert picture == opening["picture"] and picture["translation"]["step_calls"][picture["step"]]["batch"] > 1
    assert picture["translation"]["decoding"]["mode"] == "beam"
    assert values["source"] == text and values["mode"] == "beam search" and values["translation"]
    assert values["heatmap"]["result"] == opening["state"] == picture["result"]
    assert demo_app.results.get(opening["state"]) is not None  # pinned: every fresh session's state points at it
    assert all(v == gr.skip() for v in demo_app.on_load(FakeRequest()))
    for _ in range(demo_app.results.capacity + 1):  # pinned: outlives the cache's capacity
        demo_app.results.put(object())
    assert demo_app.results.get(opening["state"]) is not None


def test_a_share_link_restores_its_translation_and_explains_what_it_ignored(demo_app, pair_and_text):
    pair, text = pair_and_text
    values = demo_app.on_load(
        FakeRequest(pair=pair, text=text, mode="beam", beam="3", step="1", words="1", max_len="abc", view="api")
    )
    settings, out = list(values[:5]), ResultViews(*values[LOAD_FIELDS:])
    translator = demo_app.translators[pair]
    assert settings == [pair, "beam search", 3, translator.length_penalty, gr.skip()]
    assert values[5] == text
    r = doc_of(demo_app, out.state)
    expected = translator.translate(text, beam_size=3, n_best=3, length_penalty=translator.length_penalty)
    assert r["target_tokens"] == expected.target_tokens and r["decoding"]["beam_size"] == 3
    assert out.heatmap["step"] == min(1, len(r["target_tokens"]) - 1) and out.heatmap["words"] is True
    assert "Ignored max_len='abc' from the link" in views_plain(out.status)


def test_reference_scoring(demo_app, pair_and_text):
    out = demo_app.on_translate(*pair_and_text, "greedy", 5, 0.6, 0)
    summary, rows, figure = demo_app.on_reference(out.state, out.translation or "x")
    assert "log-probability" in summary
    pytest.importorskip("sacrebleu")
    assert "BLEU" in summary and "chrF" in summary
    assert len(rows) == len(figure.data[0].z) and float(rows[0][2]) > 0
    summary, rows, figure = demo_app.on_reference(out.state, "  ")
    assert summary.startswith("⚠️") and rows == [] and figure is None


def test_model_card(demo_app):
    card = demo_app.model_card()
    assert "non-commercial research and education" in card and "Elliott" in card and "2016" in card
    assert "CPUExecutionProvider" in card and "Precision" in card
    manifest = demo_app.translators[demo_app.default].bundle.manifest
    signature = "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"
    evaluation = {
        "test_sets": {
            "multi30k/test": {
                "sentences": 1000,
                "greedy": {
                    "sacrebleu": 33.3,
                    "chrf": 60.1,
                    "bleu_lowercase_tokenized": 35.0,
                    "signatures": {"sacrebleu": signature},
                },
            },
            "tatoeba/en-de/test": {
                "sentences": 2000,
                "beam5": {"sacrebleu": 4.2, "chrf": 22.4, "length_penalty": 1.5, "bleu_lowercase_tokenized": 4.3},
            },
        }
    }
    card = model_card_markdown("en-de", manifest, evaluation, ["CPUExecutionProvider"], [], 12.5)
    assert "33.30" in card and signature in card and "12.5 ms" in card
    assert f"{md_text('multi30k/test')} (image captions)" in card
    assert f"{md_text('tatoeba/en-de/test')} (everyday sentences)" in card
    assert "α 1.5" in card
    assert "Tatoeba Project (tatoeba.org, CC BY 2.0 FR)" in card
    assert "not evaluated" in model_card_markdown("en-de", manifest, {}, ["CPUExecutionProvider"], [], None)


def test_model_card_names_every_training_set_with_its_share_and_licence(demo_app):
    manifest = json.loads(json.dumps(demo_app.translators[demo_app.default].bundle.manifest))
    manifest["training"]["data"] = {
        "src": "en",
        "tgt": "de",
        "mix_weights": [0.35, 0.65],
        "sizes": {"train": 248229},
        "datasets": [{"dataset": "../shared/data/multi30k"}, {"dataset": "../shared/data/tatoeba/en-de"}],
    }
    card = model_card_markdown("en-de", manifest, {}, ["CPUExecutionProvider"], [], None)
    assert "Multi30k task 1, image captions (multi30k, 35% of the training pairs)" in card
    assert "Tatoeba, everyday sentences (en&#45;de, 65% of the training pairs)" in card
    assert (
        "non-commercial research and education only" in card and "Tatoeba Project (tatoeba.org, CC BY 2.0 FR)" in card
    )
    assert "the mean over its validation sets" in card and "train 248,229" in card
    manifest["training"].update(epochs=2, started_from={"epochs": 11, "device": "cuda"})
    card = model_card_markdown("en-fr", manifest, {}, ["CPUExecutionProvider"], [], None)
    assert "epochs trained: 11 + 2 (fine-tuned from a checkpoint)" in card


def test_the_result_cache_is_bounded_by_bytes_when_filled_with_the_costliest_results(demo_app):
    """The costliest valid request (the longest input at the widest beam, with its explanation), again and again:
    the cache keeps only what fits its byte budget, and what it holds in memory stays within the stated
    factor of that budget (page/limits.py: at most 2.5 times the pickled size)."""
    from page.limits import MAX_BEAM, MAX_CHARS
    from page.state import ResultCache, held_bytes

    pair = demo_app.default
    words = "a dog man runs red blue the on water ball street".split()
    text = " ".join(words[i % len(words)] for i in range(200))[:MAX_CHARS].rsplit(" ", 1)[0]
    while True:  # the longest input this model accepts: MAX_CHARS characters or its token limit
        try:
            demo_app.translator(pair).source_ids(text)
            break
        except InputError:
            text = text.rsplit(" ", 1)[0]
    probe = demo_app.results.get(demo_app.on_translate(pair, text, "beam search", MAX_BEAM, 1.0, 0).state)
    assert probe is not None and probe.explanation is not None, "the longest input was refused"
    costliest = held_bytes(probe)
    budget = 4 * costliest + costliest // 2
    small = DemoApp(demo_app.translators)
    small.results = ResultCache(capacity=200, max_bytes=budget)
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.take_snapshot()
        keys = [small.on_translate(pair, text, "beam search", MAX_BEAM, 1.0, 0).state for _ in range(12)]
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    held = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert len(small.results) == 4 and small.results.bytes <= budget  # 4 fit, not 12 (nor the 200 of its count)
    assert small.results.get(keys[-1]) is not None and small.results.get(keys[0]) is None  # the oldest went first
    assert held <= 2.5 * budget, f"{held / 2**20:.1f} MiB held for a {budget / 2**20:.1f} MiB budget"
    one = ResultCache(capacity=10, max_bytes=1)  # the newest value is always kept, whatever its size
    assert one.get(one.put(probe)) is probe and len(one) == 1


def test_memory_per_session_stays_bounded(demo_app, pair_and_text):
    """A few hundred sessions: results live in one bounded cache, a session holds a 16-character key, and
    once the cache is full memory stops growing with the number of sessions (tracemalloc, same run: the
    warm-up sessions are the baseline, so machine noise cannot fail it)."""
    pair, text = pair_and_text
    small = DemoApp(demo_app.translators, cache_size=20)

    def sessions(n):
        for _ in range(n):
            key = small.on_translate(pair, text, "greedy", 5, 0.6, 0).state
            small.on_select(key, 0)
        gc.collect()
        return key

    tracemalloc.start()
    try:
        first = small.on_translate(pair, text, "greedy", 5, 0.6, 0).state
        empty = tracemalloc.take_snapshot()
        sessions(40)  # fills the cache with traced results and replaces the first
        full = tracemalloc.take_snapshot()
        key = sessions(200)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    filling = sum(stat.size_diff for stat in full.compare_to(empty, "filename"))
    growth = sum(stat.size_diff for stat in after.compare_to(full, "filename"))
    assert len(small.results) == 20 and small.results.get(first) is None and isinstance(key, str) and len(key) == 16
    assert filling / 20 > 2_000  # what one cached result costs (so the bound below means something)
    assert growth / 200 < 1_000, f"{growth / 200:.0f} bytes per session after the cache is full"


# ---- rendering never turns tokens into markup --------------------------------------------------------
def test_tokens_are_escaped_everywhere():
    tokens = ["<script>", "<img", "onerror=x>", "${7*7}", "&amp;", "**b**", "$$x$$", "[a](javascript:x)"]
    markdown = md_text("".join(tokens))
    assert html.unescape(markdown) == "".join(tokens) and not any(c in markdown for c in "<>$*[]()`")
    figure = reference.attention_figure(tokens, tokens[:3], np.full((3, len(tokens)), 1 / len(tokens)), selected=1)
    ticks = list(figure.layout.xaxis.ticktext) + list(figure.layout.yaxis.ticktext)
    assert "&lt;script&gt;" in ticks and not any("<" in t or ">" in t for t in ticks)
    assert not any("<" in str(item) for row in figure.data[0].customdata for cell in row for item in cell)
    assert downloads._csv_cell("=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0" and downloads._csv_cell("▁dog") == "▁dog"


# ---- startup -----------------------------------------------------------------------------------------
def test_missing_or_corrupt_assets_refuse_to_start(app_bundle_dir, tmp_path):
    with pytest.raises(BundleError, match="no model bundles"):
        load_translators(tmp_path / "empty")
    broken = tmp_path / "assets" / app_bundle_dir.name
    shutil.copytree(app_bundle_dir, broken)
    (broken / "decoder.onnx").unlink()
    with pytest.raises(BundleError, match="decoder.onnx"):
        load_translators(tmp_path / "assets")
    done = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--assets", str(tmp_path / "assets")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "decoder.onnx" in done.stderr, done.stderr
    (broken / "manifest.json").unlink()
    with pytest.raises(BundleError, match="manifest.json is missing"):
        load_translators(tmp_path / "assets")


def test_host_and_port_defaults(monkeypatch):
    for name in ("SYSTEM", "GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT", "APP_ASSETS_DIR"):
        monkeypatch.delenv(name, raising=False)
    args = app.parse_args([])
    assert (args.host, args.port, args.device) == ("127.0.0.1", 7860, "auto")
    assert Path(args.assets) == ROOT / "assets"
    monkeypatch.setenv("SYSTEM", "spaces")
    assert app.parse_args([]).host == "0.0.0.0"
    monkeypatch.setenv("GRADIO_SERVER_NAME", "10.0.0.1")
    monkeypatch.setenv("APP_ASSETS_DIR", "/somewhere")
    assert (app.parse_args([]).host, app.parse_args([]).assets) == ("10.0.0.1", "/somewhere")
    assert app.parse_args(["--host", "::1", "--port", "9"]).port == 9


def test_the_app_needs_neither_torch_nor_onnxruntime_directly():
    for path in [ROOT / "app.py", *sorted((ROOT / "page").glob("**/*.py"))]:
        name = path.name
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {
            alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        }
        imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not imported & {"torch", "onnxruntime", "training", "export"}, (name, imported)
    code = "import sys, app; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.stdout.strip() == "False", done.stderr


# ---- helpers ---------------------------------------------------------------------------------------------
def doc_of(demo_app, key) -> dict:
    """The translation JSON of the result cached under `key`, checked against the one schema."""
    import jsonschema

    doc = demo_app.results.get(key).document()
    jsonschema.Draft202012Validator(load_schema()).validate(doc)
    return doc


def views_plain(markdown: str) -> str:
    """Markdown made by md_text back to plain text (numeric entities decoded)."""
    return html.unescape(markdown)


def test_selecting_an_nbest_row_shows_that_hypothesis(demo_app, pair_and_text):
    out = demo_app.on_translate(*pair_and_text, "beam search", 4, 0.6, 0)
    best = doc_of(demo_app, out.state)
    assert len(best["nbest"]) >= 2
    second = best["nbest"][1]
    picked = demo_app.on_hypothesis(out.state, gr.SelectData(None, {"index": [1, 1], "value": second["text"]}))
    assert picked.translation == second["text"] and "hypothesis 2 of" in picked.status
    shown = picked.heatmap["translation"]  # the document of the hypothesis on screen
    assert shown["target_tokens"] == second["target_tokens"] != best["target_tokens"]
    np.testing.assert_allclose(shown["attention"], second["attention"], atol=1e-6)
    assert shown["alternatives"] == second["alternatives"] and shown["nbest"] == best["nbest"]
    step = len(second["target_ids"]) - 1  # the bmm panel marks this hypothesis' own row of the real call
    row = shown["call_rows"][step]
    assert row == second["call_rows"][step] and shown["step_calls"] == best["step_calls"]
    bmm = demo_app.on_select(picked.state, str(step))[1]
    assert f"| {row} ★ (this result)" in bmm and f"{second['token_probs'][step]:.3f}" in bmm
    back = demo_app.on_hypothesis(picked.state, gr.SelectData(None, {"index": [0, 2], "value": 0}))
    assert (
        back.translation == best["translation"]
        and back.heatmap["translation"]["target_tokens"] == best["target_tokens"]
    )
    assert "best hypothesis" in back.status
    greedy = demo_app.on_translate(*pair_and_text, "greedy", 4, 0.6, 0)
    refused = demo_app.on_hypothesis(greedy.state, gr.SelectData(None, {"index": [1, 0], "value": ""}))
    assert "beam search" in refused.status and refused.heatmap == gr.skip()  # the greedy result stays shown


def test_a_session_builds_block_configs_only_when_used(demo_app):
    """page/api.py LeanSessionState: an API call's session builds no page config up front, yet iterating it gives
    exactly Gradio's own (what restoring a page reads), and it keeps every attribute Gradio's SessionState has."""
    from gradio.state_holder import SessionState

    from page.api import LeanSessionState

    demo = build(DemoApp(demo_app.translators))
    gradios, lean = SessionState(demo), LeanSessionState(demo)
    assert set(vars(gradios)) <= set(vars(lean)) and len(lean.config_values) == 0
    key = next(iter(gradios.config_values))
    lean._update_value_in_config(key, "x")  # what Gradio does for an event's inputs: that block alone is built
    assert len(lean.config_values) == 1
    assert dict(lean.config_values.items()).keys() == gradios.config_values.keys()
    assert [c for c in lean.components if c["id"] != key] == [c for c in gradios.components if c["id"] != key]
