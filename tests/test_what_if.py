"""Attention what-if: output.onnx against torch, the model's own weights give back its own step, one-hot edits,
argument checks, and bundles exported before output.onnx existed."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from inference import BundleError, Translator
from inference.what_if import check_weights, what_if
from training.checkpoint import load_checkpoint, model_from_checkpoint

SENTENCE = "a red cat sees a small dog"


def _source(translator):
    return translator.source_ids(SENTENCE)


def test_manifest_records_the_output_graph_with_its_hash(tiny_bundle):
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    assert manifest["graphs"]["output"]["file"] == "output.onnx"
    assert [v["name"] for v in manifest["graphs"]["output"]["inputs"]] == ["hidden", "context"]
    assert "output.onnx" in manifest["files"] and len(manifest["files"]["output.onnx"]["sha256"]) == 64
    assert manifest["verification"]["output_layer_fp32"]["max_abs_diff"] <= 1e-5


def test_the_models_own_weights_reproduce_its_log_probs(tiny_bundle):
    translator = Translator(tiny_bundle)
    original = translator.translate(SENTENCE, top_k=5)
    for step in range(len(original.target_ids)):
        own = what_if(translator, SENTENCE, step, original.attention[step])
        assert own["edited_top"][0]["id"] == original.target_ids[step]
        for edited, model in zip(own["edited_top"], own["original_top"]):
            assert edited["id"] == model["id"] and abs(edited["log_prob"] - model["log_prob"]) <= 1e-5
        assert own["continued_ids"] == original.target_ids


@torch.no_grad()
def test_a_one_hot_edit_equals_torchs_output_layer_fed_that_tokens_enc_out(tiny_bundle):
    translator = Translator(tiny_bundle)
    model, _ = model_from_checkpoint(load_checkpoint(tiny_bundle / "checkpoint.pt"))
    model.eval()
    src = _source(translator)
    ids = torch.tensor([src])
    enc_out, keys, hidden = model.encode(ids, torch.ones_like(ids, dtype=torch.bool))
    _, state, _ = model.decoder.step(torch.tensor([translator.bos_id]), hidden, keys, enc_out, ids != -1)
    for j in range(len(src)):
        weights = [0.0] * len(src)
        weights[j] = 1.0
        result = what_if(translator, SENTENCE, 0, weights, top_k=5)
        expected = torch.log_softmax(model.decoder.output_logits(state, enc_out[:, j]), dim=-1)[0].numpy()
        for entry in result["edited_top"]:
            assert abs(entry["log_prob"] - float(expected[entry["id"]])) <= 1e-5
        assert result["edited_top"][0]["id"] == int(np.argmax(expected))


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([1.0, 2.0], "must have 3 numbers"),
        ([1.0, float("nan"), 0.0], "weights[1] must be a finite number"),
        ([1.0, -1.0, 0.0], "weights[1] must be non-negative"),
        ([0.0, 0.0, 0.0], "positive sum"),
        ("abc", "must be a list of 3 numbers"),
    ],
)
def test_bad_weights_are_one_line_errors(weights, message):
    with pytest.raises(ValueError, match=None) as error:
        check_weights(weights, 3)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_weights_are_renormalised():
    assert np.allclose(check_weights([1, 3], 2), [0.25, 0.75])


def test_a_bundle_without_output_graph_still_loads_and_asks_for_a_reexport(bundle_copy):
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    del manifest["graphs"]["output"], manifest["files"]["output.onnx"]
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    (bundle_copy / "output.onnx").unlink()
    translator = Translator(bundle_copy)
    assert translator.translate(SENTENCE).target_ids
    with pytest.raises(BundleError, match="re-export"):
        what_if(translator, SENTENCE, 0, [1.0] * len(_source(translator)))


def test_shipped_bundles_carry_a_small_output_graph():
    from conftest import ROOT

    for pair in ("en-de", "de-en", "en-fr", "fr-en"):
        manifest = json.loads((ROOT / "assets" / pair / "manifest.json").read_text())
        assert manifest["files"]["output.onnx"]["bytes"] < 10 * 1024 * 1024
        assert manifest["verification"]["output_layer_fp32"]["max_abs_diff"] <= 1e-5


def test_compare_with_itself_shows_no_difference_and_a_swap_shows_some(tiny_bundle):
    from inference.compare import compare

    translator = Translator(tiny_bundle)
    same = compare(translator, SENTENCE, SENTENCE)
    assert same["same_translation"] and same["changed_tokens"] == [] and same["changed_rows"] == []
    assert all(step["attention_moved"] == 0 for step in same["steps"])
    swapped = compare(translator, SENTENCE, "a small dog sees a red cat")
    assert swapped["changed_tokens"] or swapped["changed_rows"]
