"""The bundles shipped in assets/: valid, small, good, and reproducible from their own checkpoint."""
from __future__ import annotations

import json

import pytest

from conftest import ROOT
from inference import Translator, find_bundles
from inference.bundle import sha256_of
from inference.examples import examples_for

ASSETS = ROOT / "assets"
SHIPPED = find_bundles(ASSETS)
# One sentence per source language with a word any decent model must get right.
PROBES = {"en-de": ("A dog runs on the beach.", "Hund"), "de-en": ("Ein Hund rennt am Strand.", "dog"),
          "en-fr": ("A dog runs on the beach.", "chien")}


def test_the_default_pair_is_shipped():
    assert "en-de" in SHIPPED, "assets/en-de is the app's default model"


@pytest.mark.parametrize("pair", sorted(SHIPPED))
def test_bundle_is_valid_small_and_evaluated(pair):
    translator = Translator(SHIPPED[pair], device="cpu")  # checks every file's sha256
    manifest, evaluation = translator.bundle.manifest, translator.bundle.evaluation
    assert translator.name == pair
    assert "metrics" not in manifest and "decoding" not in manifest  # manifest.json: export's facts only
    assert manifest["export_command"] == f"python -m export assets/{pair}/checkpoint.pt --out assets/{pair} --quantize int8"
    for name, facts in manifest["files"].items():
        assert (SHIPPED[pair] / name).stat().st_size == facts["bytes"] < 10 * 1024 * 1024, name
    tuned = evaluation["length_penalty"]  # chosen on validation; the test runs used it
    assert tuned["test_set"] == "multi30k/validation" and tuned["sacrebleu"] == max(tuned["sweep"].values())
    assert translator.length_penalty == tuned["value"]
    tatoeba = f"tatoeba/{pair if pair != 'de-en' else 'en-de'}/test"
    assert set(evaluation["test_sets"]) == {"multi30k/test", tatoeba}
    for name, result in evaluation["test_sets"].items():
        assert result["backend"] == "onnxruntime" and result["split"] == "test"
        assert (result["source"], result["target"]) == tuple(pair.split("-"))
        assert result["sentences"] == (1000 if name == "multi30k/test" else 2000)
        for decoding in ("greedy", "beam5"):
            assert result[decoding]["signatures"]["sacrebleu"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
            assert result[decoding]["chrf"] > 0 and result[decoding]["bleu_lowercase_tokenized"] > 0
        assert result["beam5"]["length_penalty"] == tuned["value"]
        # the measured graphs are the shipped ones
        assert result["graphs_sha256"] == {f: manifest["files"][f]["sha256"] for f in ("encoder.onnx", "decoder.onnx")}
    assert evaluation["test_sets"]["multi30k/test"]["beam5"]["sacrebleu"] > 25
    assert "non-commercial" in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("pair", sorted(SHIPPED))
def test_bundle_translates_our_sentences(pair):
    translator = Translator(SHIPPED[pair], device="cpu")
    for sentence in examples_for(pair.split("-")[0])[:4]:
        greedy = translator.translate(sentence)
        beam = translator.translate(sentence, beam_size=5, n_best=3)
        assert greedy.finished and beam.finished and greedy.text and beam.text
        assert len(beam.nbest) == 3
    if pair in PROBES:
        sentence, word = PROBES[pair]
        assert word in translator.translate(sentence, beam_size=5).text


@pytest.fixture(scope="module")
def fp32_en_de(tmp_path_factory):
    """The shipped en-de weights exported without int8: dynamic int8 quantization scales activations per
    decoder call, so with it a sentence's output may depend on which rows share the call; fp32 does not."""
    from export.bundle import export_bundle

    out = tmp_path_factory.mktemp("fp32") / "en-de"
    export_bundle(SHIPPED["en-de"] / "checkpoint.pt", out, quantize="none")
    return Translator(out, device="cpu")


def test_batched_beam_search_gives_the_one_at_a_time_translations(fp32_en_de):
    sentences = examples_for("en")
    for alpha in (1.5, 0.6, 0.0):
        alone = fp32_en_de.translate_batch(sentences, beam_size=5, length_penalty=alpha, batch_size=1)
        assert fp32_en_de.translate_batch(sentences, beam_size=5, length_penalty=alpha, batch_size=32) == alone
        assert alone == [fp32_en_de.translate(s, beam_size=5, length_penalty=alpha).text for s in sentences]


@pytest.mark.parametrize("pair", sorted(SHIPPED))
def test_reexport_from_shipped_checkpoint_matches_shipped_hashes(pair, tmp_path):
    from export.bundle import export_bundle

    shipped = json.loads((SHIPPED[pair] / "manifest.json").read_text(encoding="utf-8"))
    manifest = export_bundle(SHIPPED[pair] / "checkpoint.pt", tmp_path / pair, quantize=shipped["quantization"] or "none")
    assert manifest["files"] == shipped["files"] and manifest["tokenizers"] == shipped["tokenizers"]
    assert all(sha256_of(tmp_path / pair / n) == f["sha256"] for n, f in shipped["files"].items())


def test_readme_model_table_is_the_one_the_manifests_give():
    from export.table import markdown

    assert markdown(ASSETS) in (ROOT / "README.md").read_text(encoding="utf-8"), \
        "README's model table is stale: paste the output of `python -m export.table assets`"
    assert "| en-de | multi30k/test | beam 5" in markdown(ASSETS)
