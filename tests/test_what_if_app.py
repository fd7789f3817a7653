"""The What if? tab's handlers and the /what_if and /compare API on the shipped en-de bundle: an edit changes the
step's top 5, the tree's nodes draw their prefix, a comparison with itself shows nothing; over real HTTP the two
endpoints answer with schema-valid documents and every bad argument gets a one-line message."""

from __future__ import annotations

import json

import gradio as gr
import numpy as np
import pytest
from conftest import ROOT
from schema import COMPARE, WHAT_IF, validate, validate_translation
from test_app import assets_with, running_app

from page.api import load_translators
from page.handlers import DemoApp

TEXT, SWAPPED = "The dog bites the man.", "The man bites the dog."
THE = 4  # "▁the" in ['▁The', '▁dog', '▁bit', 'es', '▁the', '▁man.', '</s>']


@pytest.fixture(scope="module")
def en_de(tmp_path_factory):
    return assets_with(ROOT / "assets" / "en-de", tmp_path_factory.mktemp("what_if_assets"))


@pytest.fixture(scope="module")
def app(en_de):
    return DemoApp(load_translators(en_de, "cpu", threads=1))


@pytest.fixture(scope="module")
def tab(app):
    return app.what_if


def test_a_beam_search_download_carries_its_tree_whichever_hypothesis_is_shown(app):
    from pathlib import Path

    out = app.on_translate("en-de", TEXT, "beam search", 4, 0.6, 0)
    second = app.on_hypothesis(out.state, gr.SelectData(None, {"index": [1, 1], "value": ""}))
    for key in (out.state, second.state):
        json_button, _, _ = app.on_downloads(key)
        saved = validate_translation(json.loads(Path(json_button.value["path"]).read_text(encoding="utf-8")))
        assert [d["batch"] for d in saved["beam_tree"]["depths"]] == [c["batch"] for c in saved["step_calls"]]
        ranked = {n["nbest"] for d in saved["beam_tree"]["depths"] for n in d["nodes"]} - {None}
        assert ranked == set(range(len(saved["nbest"])))


def one_hot(j: int, S: int = 7) -> list[float]:
    return [1.0 if i == j else 0.0 for i in range(S)]


def test_an_edit_changes_the_steps_top_5_and_continuing_follows_it(tab):
    key, heatmap, editor, top, go_on, continued, status = tab.on_decode("en-de", TEXT)
    assert editor["step"] == 1 and editor["tokens"][THE] == "▁the" and go_on.visible is False
    assert heatmap["translation"]["target_tokens"][1] == "▁Hund" and "Hund" in top
    editor2, top2, _ = tab.on_step(key, "3")
    assert editor2["step"] == 3 and editor2["model_weights"] == heatmap["translation"]["attention"][3]
    edit = json.dumps({"step": 1, "weights": one_hot(THE)})
    editor3, top3, go_on3, status3 = tab.on_edit(key, edit)
    assert "would choose ▁Mann" in top3 and "instead of ▁Hund" in top3 and go_on3.visible is True
    assert editor3["weights"] == one_hot(THE) and editor3["edited"]
    maps, note = tab.on_continue(key, edit)
    doc = validate_translation(maps["sentences"][0]["translation"])
    assert doc["target_ids"][:2] == heatmap["translation"]["target_ids"][:1] + [doc["target_ids"][1]]
    assert doc["target_tokens"][1] == "▁Mann" and doc["attention"][1] == one_hot(THE)
    assert doc["translation"] == tab.edit("en-de", TEXT, 1, one_hot(THE))["continued_translation"]
    for bad in ("", "{}", json.dumps({"step": 1, "weights": [1, 2]}), json.dumps({"step": 1, "weights": [0] * 7})):
        out = tab.on_edit(key, bad)
        assert out[:3] == (gr.skip(),) * 3 and "\n" not in out[3] and out[3]


def test_the_models_own_weights_give_back_its_choice(tab):
    key, heatmap, *_ = tab.on_decode("en-de", TEXT)
    doc = heatmap["translation"]
    for step in range(len(doc["target_ids"])):
        result = validate(tab.edit("en-de", TEXT, step, doc["attention"][step]), WHAT_IF)
        assert result["edited_top"][0]["id"] == doc["target_ids"][step] == result["model_choice"]["id"]
        assert abs(np.exp(result["edited_top"][0]["log_prob"]) - doc["token_probs"][step]) <= 1e-6


def test_a_tree_node_draws_its_prefix_and_the_tree_has_b_per_call(tab):
    tree, prefix_map, status = tab.on_tree("en-de", TEXT, 5)
    depths = tree["beam_tree"]["depths"]
    assert f"B per call {[d['batch'] for d in depths]}" in status and prefix_map is None
    pruned = next(i for i, node in enumerate(depths[2]["nodes"]) if node["status"] == "pruned")
    maps, note = tab.on_node(json.dumps({"key": tree["key"], "depth": 2, "index": pruned}))
    doc = validate_translation(maps["sentences"][0]["translation"])
    assert len(doc["target_ids"]) == 3 and doc["target_ids"][2] == depths[2]["nodes"][pruned]["id"]
    assert "pruned" in maps["sentences"][0]["title"] and "Greedy from there" in note
    assert np.asarray(doc["attention"]).shape == (3, len(doc["source_tokens"]))
    refused = [json.dumps({"key": "nope", "depth": 0, "index": 0}), json.dumps({"key": tree["key"]})]
    refused += [json.dumps({"key": tree["key"], "depth": d, "index": i}) for d, i in ((-1, 0), (0, -1), (99, 0))]
    for bad in ("", "[]", *refused):
        assert tab.on_node(bad) == (gr.skip(), "Run the beam search, then click one of its nodes.")


def test_compare_marks_the_swap_and_nothing_for_the_same_sentence(tab):
    maps, differences = tab.on_compare("en-de", TEXT, SWAPPED)
    a, b = (s["translation"] for s in maps["sentences"])
    assert (a["source"], b["source"]) == (TEXT, SWAPPED) and a["translation"] != b["translation"]
    assert 1 in maps["sentences"][0]["changed_tokens"] and "**changed**" in differences
    same, differences = tab.on_compare("en-de", TEXT, TEXT)
    assert all(not s["changed_rows"] and not s["changed_tokens"] for s in same["sentences"])
    assert differences.startswith("**No difference**")
    _, message = tab.on_compare("en-de", TEXT, "")
    assert message.startswith("⚠️") and "\n" not in message


def test_a_bundle_without_the_output_graph_says_to_reexport(tmp_path):
    import shutil

    bundle = tmp_path / "en-de"
    shutil.copytree(ROOT / "assets" / "en-de", bundle, ignore=shutil.ignore_patterns("checkpoint.pt"))
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"].pop("checkpoint.pt", None)
    del manifest["graphs"]["output"], manifest["files"]["output.onnx"]
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    (bundle / "output.onnx").unlink()
    tab = DemoApp(load_translators(tmp_path, "cpu", threads=1)).what_if
    key, *_ = tab.on_decode("en-de", TEXT)
    *_, status = tab.on_edit(key, json.dumps({"step": 1, "weights": one_hot(THE)}))
    assert status.startswith("⚠️") and "re&#45;export" in status and "\n" not in status
    with pytest.raises(gr.Error, match="re-export"):
        tab.api_what_if(TEXT, "en-de", 1, one_hot(THE))


def test_what_if_and_compare_over_http(en_de):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    with running_app(en_de) as (url, demo_app, demo):
        client = Client(url, verbose=False)
        named = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        assert list(named) == ["/translate", "/explain", "/what_if", "/compare"]
        edited = client.predict(text=TEXT, pair="en-de", step=1, weights=one_hot(THE), api_name="/what_if")
        validate(edited, WHAT_IF)  # the README's example, keyword for keyword
        assert edited["model_choice"]["token"] == "▁Hund" and edited["edited_top"][0]["token"] == "▁Mann"
        assert edited["continued_translation"].startswith("Der Mann")
        same = validate(client.predict(TEXT, TEXT, "", api_name="/compare"), COMPARE)
        assert same["same_translation"] and same["changed_tokens"] == [] and same["changed_rows"] == []
        swapped = client.predict(text_a=TEXT, text_b=SWAPPED, pair="en-de", api_name="/compare")
        assert validate(swapped, COMPARE)["changed_tokens"] == [1, 6] and swapped["b"]["source"] == SWAPPED
        assert (swapped["a"]["translation"], swapped["b"]["translation"]) == (
            "Der Hund beißt den Mann.",
            "Der Mann beißt den Hund.",
        )
        assert edited["continued_translation"] == "Der Mann beißt den Mann."
        beam = validate_translation(client.predict(TEXT, "en-de", 4, None, 0, api_name="/translate"))
        assert [d["batch"] for d in beam["beam_tree"]["depths"]] == [c["batch"] for c in beam["step_calls"]]
        for args, words in [
            ((TEXT, "en-de", 1, [1.0, 2.0]), "weights must have 7 numbers"),
            ((TEXT, "en-de", 1, [0.0] * 7), "weights must have a positive sum"),
            ((TEXT, "en-de", 1, [1.0, -1.0, 0, 0, 0, 0, 0]), "weights[1] must be non-negative"),
            ((TEXT, "en-de", 99, one_hot(THE)), "step must be a whole number from 0 to"),
            ((TEXT, "en-de", 1.5, one_hot(THE)), "step must be a whole number"),
            ((TEXT, "xx-yy", 1, one_hot(THE)), "Unknown language pair"),
            (("", "en-de", 1, one_hot(THE)), "empty"),
        ]:
            with pytest.raises(AppError) as error:
                client.predict(*args, api_name="/what_if")
            assert words in str(error.value) and "\n" not in str(error.value).strip(), (args, str(error.value))
        with pytest.raises(AppError, match="text_b argument is not text"):
            client.predict(TEXT, 5, "en-de", api_name="/compare")
        import httpx

        refused = httpx.post(f"{url.rstrip('/')}/gradio_api/call/on_edit", json={"data": []}, timeout=30)
        assert refused.status_code == 404 and "/what_if and /compare" in refused.text


def test_a_pair_switch_carries_our_sentences_over_and_keeps_the_visitors(tmp_path):
    assets = assets_with(ROOT / "assets" / "en-de", tmp_path)
    (tmp_path / "de-en").symlink_to((ROOT / "assets" / "de-en").resolve(), target_is_directory=True)
    app = DemoApp(load_translators(assets, "cpu", threads=1))
    tab = app.what_if
    unopened = tab.on_pair("de-en", None, TEXT, TEXT, "A cat sleeps.", 5)
    assert unopened[:3] == ("Der Hund beißt den Mann.", "Der Hund beißt den Mann.", "A cat sleeps.")
    assert unopened[3:] == (gr.skip(),) * 12  # never opened: nothing decoded
    key = tab.on_decode("en-de", TEXT)[0]
    opened = tab.on_pair("de-en", key, TEXT, SWAPPED, TEXT, 5)
    assert opened[1:3] == ("Der Mann beißt den Hund.", "Der Hund beißt den Mann.")
    assert opened[4]["translation"]["pair"] == "de-en" and opened[4]["translation"]["source"] == opened[0]
    compared = opened[13]["sentences"][0]["translation"]  # sentence A, now decoded by de-en (greedy)
    assert compared["source"] == opened[1]
    assert compared["translation"] == app.translators["de-en"].translate(opened[1]).text
