"""inference.explain and what the page makes of it: occlusion against a toy step and the reference scorer,
agreement metrics against hand-computed values, coverage, confidence, the wrong-direction hint on the shipped
pair, and the explanation as the heatmap, the downloads and /explain carry it (the translation JSON)."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest
from conftest import ROOT

from inference import Translator, explain
from inference.document import load_schema
from page.handlers import DemoApp
from page.heatmap import heatmap_value
from page.state import Shown
from page.translate_tab import sentence_confidence

ASSETS = ROOT / "assets"


# ---- a toy decoder step: attention peaked on position 2, and target token 3 needs position 2 ---------
def toy_step_factory(enc_out, keys, mask):
    scores_per_position = np.array([0.0, 0.0, 8.0])

    def step(prev, hidden, rows):
        scores = np.where(mask[rows], scores_per_position[None, :], -1e9)  # (N, S)
        weights = np.exp(scores - scores.max(axis=1, keepdims=True))
        weights /= weights.sum(axis=1, keepdims=True)
        context = np.einsum("ns,nsd->nd", weights, enc_out[rows])  # (N, D): one-hot rows, so context = weights
        logits = np.zeros((len(rows), 4))
        logits[:, 3] = 6.0 * context[:, 2]  # token 3 is likely only while position 2 is in the context
        log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return log_probs, hidden, weights

    return step


def toy_encoded():
    enc_out = np.eye(3)[None]  # (1, S=3, D=3)
    return enc_out, enc_out, np.zeros((1, 3)), np.ones((1, 3), dtype=bool)


def test_occlusion_drops_only_for_the_position_the_step_depends_on():
    log_probs, attention = explain.occlusion_scores(toy_encoded(), toy_step_factory, [3, 3], bos_id=0, eos_id=1)
    assert log_probs.shape == (4, 2) and attention.shape == (4, 2, 3)  # unoccluded row + one per position
    drops = log_probs[0][None, :] - log_probs[1:]  # (S, T)
    assert np.all(np.abs(drops[:2]) < 0.01)  # positions 0 and 1 carry no information for token 3
    # without position 2 the logit of token 3 falls from 6 w to 0, w = e^8 / (e^8 + 2) its attention weight:
    # log p goes from 6 w - log(e^(6 w) + 3) to log(1/4)
    logit = 6.0 * np.exp(8.0) / (np.exp(8.0) + 2.0)
    assert np.allclose(drops[2], logit - np.log(np.exp(logit) + 3.0) + np.log(4.0), atol=1e-9)
    assert np.allclose(attention[3][:, 2], 0.0) and np.allclose(attention[3][:, :2], 0.5)  # renormalised
    agreement = explain.agreement(attention[0], drops.T)
    assert agreement["top1_agree"] == [True, True] and agreement["top1_rate"] == 1.0


def test_occluded_masks_remove_one_position_per_row():
    masks = explain.occluded_masks(np.array([[True, True, True, False]]))
    assert masks.shape == (5, 4)
    assert masks[0].tolist() == [True, True, True, False]
    assert masks[2].tolist() == [True, False, True, False]


# ---- agreement metrics against hand-computed values ---------------------------------------------------
def test_ranks_and_correlations_match_hand_computed_values():
    assert explain.rankdata([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]
    # one swapped pair of 4: 1 - 6 * 2 / (4 * 15) = 0.8
    assert explain.spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert explain.spearman([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
    assert explain.spearman([1, 1, 1], [1, 2, 3]) is None
    # centred x = (-1, 0, 1), centred y = (-2, -1, 3): r = 5 / sqrt(2 * 14)
    assert explain.pearson([1, 2, 3], [1, 2, 6]) == pytest.approx(5 / np.sqrt(28))
    attention = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    drops = np.array([[2.0, 0.5, 0.0], [1.0, 0.0, 0.3]])
    result = explain.agreement(attention, drops)
    assert result["top1_agree"] == [True, False] and result["top1_rate"] == 0.5
    assert result["spearman"][0] == pytest.approx(1.0)
    # step 1: attention ranks (1.5, 1.5, 3), drop ranks (3, 1, 2) -> centred (-.5, -.5, 1), (1, -1, 0)
    assert result["spearman"][1] == pytest.approx(0.0)
    assert result["mean_spearman"] == pytest.approx(0.5)


# ---- coverage and confidence --------------------------------------------------------------------------
def test_coverage_sums_to_the_number_of_target_steps_and_flags_extremes():
    rng = np.random.default_rng(0)
    attention = rng.dirichlet(np.ones(5), size=7)  # (T=7, S=5), rows sum to 1
    cover = explain.coverage(attention, ["a", "b", "c", "d", "</s>"])
    assert sum(cover.values) == pytest.approx(cover.total) and cover.total == 7
    peaked = np.zeros((6, 4))  # "x" and "z" never attended, "y" once, the last token five times
    peaked[:5, 3], peaked[5, 1] = 1.0, 1.0
    cover = explain.coverage(peaked, ["x", "y", "z", "</s>"], low=0.1, high=2.5)
    assert cover.dropped == [0, 2] and cover.repeated == []  # EOS is never flagged
    cover = explain.coverage(peaked, ["x", "y", "z", "w"], low=0.1, high=2.5)
    assert cover.repeated == [3]


def test_entropy_badges_and_sentence_confidence():
    attention = np.array([[1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]])
    result = explain.confidence(attention, [0.5, 0.5])
    assert result.effective_tokens == pytest.approx([1.0, 4.0])
    assert result.entropy[1] == pytest.approx(np.log(4))
    assert result.badges == ["focused", "diffuse"]
    assert result.mean_token_prob == pytest.approx(0.5) and result.perplexity == pytest.approx(2.0)
    middle = (explain.FOCUSED_BELOW + explain.DIFFUSE_ABOVE) / 2
    assert explain.entropy_badge(middle) == "spread"


# ---- the shipped bundles --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def en_de():
    return Translator(ASSETS / "en-de", device="cpu", threads=1)


@pytest.fixture(scope="module")
def de_en():
    return Translator(ASSETS / "de-en", device="cpu", threads=1)


def test_unoccluded_scores_equal_the_reference_scorer_on_a_shipped_bundle(en_de):
    text = "Two children are playing with a red ball in the garden."
    result = en_de.translate(text)
    occ = explain.occlusion(en_de, text, result.target_ids)
    reference = en_de.score_reference(text, result.text)
    assert reference.target_ids == result.target_ids
    assert np.allclose(occ.log_probs, np.log(reference.token_probs), atol=1e-5)
    T, S = len(result.target_ids), len(result.source_tokens)
    assert np.asarray(occ.drops).shape == (T, S) and np.asarray(occ.attention).shape == (T, S)
    assert np.allclose(occ.attention, result.attention, atol=1e-4)
    assert occ.batch_noise < 0.05  # int8 activations share one scale per batch: small, not zero
    assert occ.cost["batch_rows"] == S + 1 and occ.cost["forced_decodes"] == S


def test_in_batch_row_equals_the_reference_scorer_without_quantization(tiny_bundle):
    translator = Translator(tiny_bundle, device="cpu", threads=1)  # fp32: rows of a batch do not interact
    text = "The small dog runs in the park."
    result = translator.translate(text)
    for method in ("mask", "unk"):
        occ = explain.occlusion(translator, text, result.target_ids, method=method)
        assert occ.batch_noise < 1e-5 and occ.method == method
    # <unk> re-encodes, so the encoder state feeding the decoder changes too: drops differ from masking's
    masked = explain.occlusion(translator, text, result.target_ids)
    assert not np.allclose(masked.drops, occ.drops, atol=1e-3)


def test_direction_hint_on_the_shipped_pair(en_de, de_en):
    english = ["Two children are playing with a red ball in the garden.", "An old woman sells fruit at a market."]
    german = ["Zwei Kinder spielen mit einem roten Ball im Garten.", "Eine alte Frau verkauft Obst auf einem Markt."]
    for text in english:
        hint = explain.direction_hint(de_en, en_de, text)
        assert hint.swap and "looks like English text, not German" in hint.message, text
        assert not explain.direction_hint(en_de, de_en, text).swap, text
    for text in german:
        assert not explain.direction_hint(de_en, en_de, text).swap, text
        assert explain.direction_hint(en_de, de_en, text).swap, text
    assert explain.direction_hint(en_de, None, english[0]) is None


def test_direction_hint_looks_at_every_loaded_model(en_de, de_en):
    fr_en, en_fr = (Translator(ASSETS / pair, device="cpu", threads=1) for pair in ("fr-en", "en-fr"))
    others = [de_en, fr_en, en_fr]
    french = "Le chien court sur la plage."  # into en-de: not German either, so the reverse alone would mislead
    hint = explain.direction_hint(en_de, others, french)
    assert hint.swap and hint.reverse == "fr-en" and "looks like French text, not English" in hint.message
    assert set(hint.others) == {"de-en", "fr-en"}  # en-fr reads English, as en-de does: not a candidate
    assert not explain.direction_hint(en_de, others, "A dog runs on the beach.").swap
    assert explain.direction_hint(en_de, [en_fr], french) is None  # no model reading another language


# ---- what the page and the API show ------------------------------------------------------------------
def test_page_and_api_carry_the_same_numbers(en_de):
    text = "A man <b>rides</b> a bike."
    result = en_de.translate(text)
    explained = explain.explanation(en_de, text, result)
    occ, cover, conf = explained["occlusion"], explained["coverage"], explained["confidence"]
    shown = Shown("en-de", text, 0, result, en_de.config, explanation=explained)
    doc = heatmap_value(shown)["translation"]  # what static/heatmap.js draws its coverage and occlusion rows from
    drawn = doc["explanation"]
    assert drawn == explained  # the explanation's dict as is: nothing rounded or renamed on the way to the page
    assert drawn["occlusion"]["drops"] == occ["drops"] and drawn["coverage"]["values"] == cover["values"]
    assert drawn["coverage"]["dropped"] == cover["dropped"] and drawn["coverage"]["repeated"] == cover["repeated"]
    assert drawn["confidence"]["badges"] == conf["badges"] and drawn["occlusion"]["method"] == occ["method"]
    T, S = len(result.target_tokens), len(result.source_tokens)
    assert np.asarray(drawn["occlusion"]["drops"]).shape == (T, S) and len(drawn["confidence"]["effective_tokens"]) == T
    assert len(drawn["coverage"]["values"]) == S
    focused = conf["badges"].count("focused")
    assert f"focused at {focused} of {len(conf['badges'])} steps" in sentence_confidence(explained)
    payload = json.loads(json.dumps(doc, allow_nan=False))  # valid JSON: no NaN or infinity anywhere
    assert payload == doc and payload["explanation"]["occlusion"]["drops"] == occ["drops"]
    assert payload["explanation"]["direction"] is None  # no reverse model given
    jsonschema.Draft202012Validator(load_schema()).validate(payload)
    assert shown.document() == doc  # the downloads write this document too

    demo = DemoApp({"en-de": en_de})  # the page's heatmap and /explain: the same numbers for the same request
    page = demo.on_translate("en-de", text, "greedy", 5, 0.6, 0).heatmap["translation"]["explanation"]
    api = demo.api_explain(text, "en-de")["explanation"]
    for numbers in (page, api):
        assert numbers["occlusion"]["drops"] == occ["drops"] and numbers["coverage"] == cover
        assert numbers["confidence"] == conf and numbers["direction"] is None
    assert {k: v for k, v in page["occlusion"].items() if k != "cost"} == {
        k: v for k, v in api["occlusion"].items() if k != "cost"
    }
