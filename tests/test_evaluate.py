"""python -m evaluate: metrics equal sacrebleu's, torch and onnxruntime decode alike, evaluation.json per test set."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import sacrebleu
from conftest import ROOT, write_corpus

from evaluate.__main__ import build_parser, main
from evaluate.results import name_of_test_set
from inference import Translator

SENTENCES = ["The dog runs.", "The small cat sleeps in the garden.", "The old man waits in the street."]


def column(folder, split, language):
    return [json.loads(line)[language] for line in open(folder / f"{split}.jsonl", encoding="utf-8")]


def test_bleu_equals_sacrebleu_command_line(tiny_run, tiny_corpus, tmp_path):
    hyps = tmp_path / "not-yet-made" / "hyps"  # --hyps makes its folder
    assert main([str(tiny_run / "best.pt"), "--data-dir", str(tiny_corpus), "--beams", "1", "--hyps", str(hyps)]) == 0
    refs = tmp_path / "refs.txt"
    refs.write_text("\n".join(column(tiny_corpus, "test", "de")) + "\n", encoding="utf-8")
    (hyp_file,) = hyps.parent.glob("hyps.*.greedy.txt")
    from evaluate.metrics import scores

    ours = scores(hyp_file.read_text(encoding="utf-8").splitlines(), refs.read_text(encoding="utf-8").splitlines())
    for flags, key in (([], "sacrebleu"), (["-lc"], "bleu_lowercase_tokenized"), (["-m", "chrf"], "chrf")):
        cli = subprocess.run(
            [sys.executable, "-m", "sacrebleu", str(refs), "-i", str(hyp_file), "-b", "-w", "4", *flags],
            capture_output=True,
            text=True,
            check=True,
        )
        assert float(cli.stdout.strip()) == pytest.approx(ours[key], abs=0.006)
    assert ours["sacrebleu"] > 20  # the tiny model really learned the tiny language


def test_torch_and_onnxruntime_share_the_decoding_code(tiny_bundle):
    from evaluate.torch_model import torch_translator

    onnx = Translator(tiny_bundle, device="cpu")
    torch_side = torch_translator(tiny_bundle / "checkpoint.pt")  # the weights the graphs were exported from
    assert torch_side.providers == ["torch"] and torch_side.bundle is None
    for sentence in SENTENCES:
        for beam in (1, 3):
            ours, theirs = onnx.translate(sentence, beam_size=beam), torch_side.translate(sentence, beam_size=beam)
            assert ours.target_ids == theirs.target_ids
            assert ours.score == pytest.approx(theirs.score, abs=1e-3)
    assert torch_side.translate_batch(SENTENCES, beam_size=3) == onnx.translate_batch(SENTENCES, beam_size=3)


def test_a_bundle_is_scored_without_importing_torch(tiny_bundle, tiny_corpus):
    """Only a checkpoint needs torch (evaluate/torch_model.py); a bundle is read, decoded and scored without it."""
    # Not sys.modules['torch'] = None as in test_inference: `datasets` takes a torch entry there for torch loaded.
    code = (
        "import sys\n"
        "from evaluate.__main__ import main\n"
        f"args = [{str(tiny_bundle)!r}, '--data-dir', {str(tiny_corpus)!r}, '--beams', '1', '--no-write']\n"
        "assert main(args) == 0\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'torch'], 'torch was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "sacreBLEU" in done.stdout and "not stored in evaluation.json (--no-write)" in done.stdout


def test_each_test_set_gets_its_own_metrics_in_evaluation_json(bundle_copy, tiny_corpus, tmp_path):
    other = write_corpus(tmp_path / "toy" / "en-de", sizes=(50, 20, 30), seed=7)  # a second test set
    manifest_before = (bundle_copy / "manifest.json").read_bytes()
    assert main([str(bundle_copy), "--data-dir", str(tiny_corpus), "--data-dir", str(other), "--beams", "1,3"]) == 0
    evaluation = json.loads((bundle_copy / "evaluation.json").read_text(encoding="utf-8"))
    first, second = f"{tiny_corpus.name}/test", "toy/en-de/test"
    assert set(evaluation["test_sets"]) == {first, second}
    assert (bundle_copy / "manifest.json").read_bytes() == manifest_before  # export's file, never edited
    assert sorted(p.name for p in bundle_copy.iterdir() if p.name.startswith(".")) == []  # no temp files left
    translator = Translator(bundle_copy, device="cpu")
    for name, folder in ((first, tiny_corpus), (second, other)):
        entry = evaluation["test_sets"][name]
        assert entry["sentences"] == len(column(folder, "test", "en")) and entry["backend"] == "onnxruntime"
        assert entry["graphs_sha256"]["decoder.onnx"] == translator.bundle.manifest["files"]["decoder.onnx"]["sha256"]
        for key, beam in (("greedy", 1), ("beam3", 3)):
            hyps = translator.translate_batch(column(folder, "test", "en"), beam_size=beam)
            expected = sacrebleu.corpus_bleu(hyps, [column(folder, "test", "de")]).score
            assert entry[key]["sacrebleu"] == pytest.approx(expected, abs=0.006)
            assert entry[key]["signatures"]["sacrebleu"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
            assert entry[key]["refused"] == 0 and entry[key]["beam_size"] == beam
    assert evaluation["test_sets"][first]["beam3"]["length_penalty"] == 0.6  # nothing tuned yet
    # A later run on one test set keeps the other's results, and this set's other decodings (same graphs).
    assert main([str(bundle_copy), "--data-dir", str(other), "--beams", "1"]) == 0
    again = json.loads((bundle_copy / "evaluation.json").read_text(encoding="utf-8"))
    assert again["test_sets"][first] == evaluation["test_sets"][first]
    assert again["test_sets"][second]["beam3"] == evaluation["test_sets"][second]["beam3"]


def test_length_penalty_is_tuned_on_validation_only_and_becomes_the_default(bundle_copy, tiny_corpus, capsys):
    args = [str(bundle_copy), "--data-dir", str(tiny_corpus), "--beams", "3"]
    assert main([*args, "--split", "test", "--tune-length-penalty", "0,1"]) == 2
    assert "--split validation" in capsys.readouterr().err  # never tuned on the test split
    assert main([*args, "--split", "validation", "--tune-length-penalty", "0,1", "--limit", "10"]) == 0
    assert not (bundle_copy / "evaluation.json").exists()  # part of a set is not the set's result
    assert main([*args, "--split", "validation", "--tune-length-penalty", "0,2.5"]) == 0
    tuned = json.loads((bundle_copy / "evaluation.json").read_text(encoding="utf-8"))["length_penalty"]
    assert set(tuned["sweep"]) == {"0", "2.5"} and tuned["value"] in (0.0, 2.5)
    assert tuned["sacrebleu"] == max(tuned["sweep"].values()) and tuned["test_set"] == f"{tiny_corpus.name}/validation"
    translator = Translator(bundle_copy, device="cpu")
    assert translator.length_penalty == tuned["value"] and translator.bundle.evaluation["length_penalty"] == tuned
    assert translator.translate(SENTENCES[1], beam_size=3).decoding["length_penalty"] == tuned["value"]
    assert main([*args, "--split", "test"]) == 0  # the test run then reports with the tuned value
    evaluation = json.loads((bundle_copy / "evaluation.json").read_text(encoding="utf-8"))
    assert evaluation["test_sets"][f"{tiny_corpus.name}/test"]["beam3"]["length_penalty"] == tuned["value"]


def test_length_penalty_tuned_on_several_validation_sets_takes_the_best_mean(
    bundle_copy, tiny_corpus, tmp_path, capsys
):
    other = write_corpus(tmp_path / "everyday", sizes=(10, 25, 5), seed=3)  # another domain's validation set
    assert (
        main(
            [
                str(bundle_copy),
                "--data-dir",
                str(tiny_corpus),
                "--data-dir",
                str(other),
                "--beams",
                "3",
                "--split",
                "validation",
                "--tune-length-penalty",
                "0,1,3",
            ]
        )
        == 0
    )
    tuned = json.loads((bundle_copy / "evaluation.json").read_text(encoding="utf-8"))["length_penalty"]
    names = [f"{tiny_corpus.name}/validation", "everyday/validation"]
    assert tuned["test_set"] == " + ".join(names) and tuned["sentences"] == 60 + 25
    by_set = tuned["sweep_by_test_set"]
    assert set(by_set) == set(names) and all(set(scores) == {"0", "1", "3"} for scores in by_set.values())
    for alpha, mean in tuned["sweep"].items():
        assert mean == round((by_set[names[0]][alpha] + by_set[names[1]][alpha]) / 2, 2)
    assert tuned["sacrebleu"] == tuned["sweep"][f"{tuned['value']:g}"] == max(tuned["sweep"].values())
    assert "the mean" in capsys.readouterr().out


def test_bad_arguments_are_one_line(bundle_copy, tmp_path, capsys):
    assert main([str(bundle_copy), "--beams", "1,x"]) == 2
    assert main([str(tmp_path / "missing.pt")]) == 2
    assert main([str(bundle_copy), "--data-dir", str(tmp_path / "nowhere")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and all(line.startswith("error: ") for line in errors)


def test_test_set_names_and_help_on_every_flag(tmp_path):
    assert name_of_test_set("../shared/data/multi30k", None, "test") == "multi30k/test"
    assert name_of_test_set(str(tmp_path / "tatoeba" / "en-de"), None, "test") == "tatoeba/en-de/test"
    assert name_of_test_set(None, "bentrevett/multi30k", "validation") == "bentrevett/multi30k/validation"
    assert all(action.help for action in build_parser()._actions)
