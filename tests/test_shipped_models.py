"""The bundles shipped in assets/: valid, small, good, and reproducible from their own checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from inference import Translator, find_bundles
from inference.bundle import sha256_of
from inference.examples import examples_for

ASSETS = ROOT / "assets"
SHIPPED = find_bundles(ASSETS)
# One sentence per source language with a word any decent model must get right.
# One caption and one everyday sentence per pair, each with a word any decent model must get right.
PROBES = {
    "en-de": [("A dog runs on the beach.", "Hund"), ("My sister is learning to play the piano.", "Schwester")],
    "de-en": [
        ("Ein brauner Hund rennt am Strand entlang.", "dog"),
        ("Meine Schwester lernt Klavier spielen.", "sister"),
    ],
    "en-fr": [("A dog runs on the beach.", "chien"), ("My sister is learning to play the piano.", "sœur")],
    "fr-en": [("Un chien noir court sur la plage.", "dog"), ("Ma sœur apprend à jouer du piano.", "sister")],
}


def tatoeba_folder(pair: str) -> str:
    """The Tatoeba folder a pair reads (either direction): en-de or en-fr."""
    src, tgt = pair.split("-")
    return f"en-{tgt if src == 'en' else src}"


def test_the_default_pair_is_shipped():
    assert "en-de" in SHIPPED, "assets/en-de is the app's default model"


@pytest.mark.parametrize("pair", sorted(SHIPPED))
def test_bundle_is_valid_small_and_evaluated(pair):
    translator = Translator(SHIPPED[pair], device="cpu")  # checks every file's sha256
    manifest, evaluation = translator.bundle.manifest, translator.bundle.evaluation
    assert translator.name == pair
    assert "metrics" not in manifest and "decoding" not in manifest  # manifest.json: export's facts only
    assert (
        manifest["export_command"]
        == f"python -m export assets/{pair}/checkpoint.pt --out assets/{pair} --quantize int8"
    )
    for name, facts in manifest["files"].items():
        assert (SHIPPED[pair] / name).stat().st_size == facts["bytes"] < 10 * 1024 * 1024, name
    tuned = evaluation["length_penalty"]  # chosen on validation; the test runs used it
    # tuned on both validation sets at once (their mean), as best.pt was chosen
    assert tuned["test_set"] == f"multi30k/validation + tatoeba/{tatoeba_folder(pair)}/validation"
    assert tuned["sacrebleu"] == max(tuned["sweep"].values()) and len(tuned["sweep_by_test_set"]) == 2
    assert translator.length_penalty == tuned["value"]
    tatoeba = f"tatoeba/{tatoeba_folder(pair)}/test"
    assert {"multi30k/test", tatoeba} <= set(evaluation["test_sets"])
    assert set(evaluation["test_sets"]) <= {"multi30k/test", tatoeba, f"names/{tatoeba}", "everyday"}
    for name, result in evaluation["test_sets"].items():
        if name not in ("multi30k/test", tatoeba):
            continue
        assert result["backend"] == "onnxruntime" and result["split"] == "test"
        assert (result["source"], result["target"]) == tuple(pair.split("-"))
        assert result["sentences"] == (1000 if name == "multi30k/test" else 2000)
        for decoding in ("greedy", "beam5"):
            assert result[decoding]["signatures"]["sacrebleu"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
            assert result[decoding]["chrf"] > 0 and result[decoding]["bleu_lowercase_tokenized"] > 0
        assert result["beam5"]["length_penalty"] == tuned["value"]
        # the measured graphs are the shipped ones
        assert result["graphs_sha256"] == {f: manifest["files"][f]["sha256"] for f in ("encoder.onnx", "decoder.onnx")}
    # the models know both kinds of text (floors well under the measured scores, so only a broken bundle fails)
    assert evaluation["test_sets"]["multi30k/test"]["beam5"]["sacrebleu"] > 30
    assert evaluation["test_sets"][tatoeba]["beam5"]["sacrebleu"] > 30
    trained_on = [d["dataset"] for d in manifest["training"]["data"]["datasets"]]
    assert [Path(d).name for d in trained_on] == ["multi30k", tatoeba_folder(pair)] and "tatoeba" in trained_on[1]
    assert "non-commercial" in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("pair", sorted(SHIPPED))
def test_bundle_translates_our_sentences(pair):
    translator = Translator(SHIPPED[pair], device="cpu")
    for sentence in examples_for(pair.split("-")[0])[:4]:
        greedy = translator.translate(sentence)
        beam = translator.translate(sentence, beam_size=5, n_best=3)
        assert greedy.finished and beam.finished and greedy.text and beam.text
        assert len(beam.nbest) == 3
    for sentence, word in PROBES.get(pair, []):
        assert word in translator.translate(sentence, beam_size=5).text, sentence


@pytest.mark.parametrize("pair", sorted(SHIPPED))
def test_shipped_int8_bundles_translate_a_sentence_the_same_alone_or_in_a_batch(pair):
    """The shipped int8 graphs compute every row on its own (export/quantize.py): batched beam search gives
    the one-at-a-time translations, and a padded batch's attention equals each sentence's alone."""
    from inference.batch_trace import trace_batch

    translator = Translator(SHIPPED[pair], device="cpu")
    sentences = examples_for(pair.split("-")[0])
    for alpha in (1.5, 0.0):
        alone = translator.translate_batch(sentences, beam_size=5, length_penalty=alpha, batch_size=1)
        assert translator.translate_batch(sentences, beam_size=5, length_penalty=alpha, batch_size=32) == alone
    trace = trace_batch(translator, sentences[:8])
    for b, text in enumerate(sentences[:8]):
        single = translator.translate(text)
        L = trace.lengths[b]
        assert trace.target_tokens[b] == single.target_tokens
        np.testing.assert_allclose(trace.attention[b][:, :L], np.asarray(single.attention), atol=1e-5)
        np.testing.assert_allclose(trace.enc_out[b, :L], single.enc_out, atol=1e-5)


@pytest.mark.parametrize("pair", sorted(SHIPPED))
def test_reexport_from_shipped_checkpoint_matches_shipped_hashes(pair, tmp_path):
    from export.bundle import export_bundle

    shipped = json.loads((SHIPPED[pair] / "manifest.json").read_text(encoding="utf-8"))
    manifest = export_bundle(
        SHIPPED[pair] / "checkpoint.pt", tmp_path / pair, quantize=shipped["quantization"] or "none"
    )
    assert manifest["files"] == shipped["files"] and manifest["tokenizers"] == shipped["tokenizers"]
    assert all(sha256_of(tmp_path / pair / n) == f["sha256"] for n, f in shipped["files"].items())


def test_readme_model_table_is_the_one_the_manifests_give():
    from export.table import markdown

    assert markdown(ASSETS) in (ROOT / "README.md").read_text(encoding="utf-8"), (
        "README's model table is stale: paste the output of `python -m export.table assets`"
    )
    assert "| en-de | multi30k/test | beam 5" in markdown(ASSETS)
