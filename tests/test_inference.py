"""inference/ on the tiny bundle: results against references, input checks, bundle validation, providers, no torch."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import jsonschema
import numpy as np
import pytest
from conftest import ROOT

from inference import BundleError, InputError, ProviderWarning, Translator, select_providers
from inference.decoding import beam_search_batch
from inference.document import load_schema, translation_json

SENTENCES = [
    "The dog runs.",
    "The small cat sleeps in the garden.",
    "The old man waits in the street.",
    "The happy child jumps.",
]


@pytest.fixture(scope="module")
def translator(tiny_bundle):
    return Translator(tiny_bundle, device="cpu")


# ---- the real (tiny) bundle -------------------------------------------------------------------------
def test_beam_one_equals_greedy(translator):
    for sentence in SENTENCES:
        greedy = translator.translate(sentence)
        enc_out, keys, hidden, mask = translator.encode([translator.source_ids(sentence)])
        beam = beam_search_batch(
            translator.step_function(enc_out, keys, mask),
            hidden,
            translator.bos_id,
            translator.eos_id,
            greedy.decoding["max_len"],
            beam_size=1,
            alpha=0.0,
        )[0][0]
        assert beam.ids == greedy.target_ids and beam.score == pytest.approx(greedy.score, abs=1e-5)


def test_forced_decoding_of_greedy_output_reproduces_its_score(translator):
    for sentence in SENTENCES:
        greedy = translator.translate(sentence)
        forced = translator.score_reference(sentence, greedy.text)
        assert forced.target_ids == greedy.target_ids
        assert forced.score == pytest.approx(greedy.score, abs=1e-4)
        np.testing.assert_allclose(forced.attention, greedy.attention, atol=1e-5)


def test_beam_search_nbest_is_sorted_and_batched_translation_matches_single(translator):
    result = translator.translate(SENTENCES[1], beam_size=4, n_best=3)
    scores = [h.normalized_score for h in result.nbest]
    assert len(result.nbest) == 3 and scores == sorted(scores, reverse=True)
    assert result.text == result.nbest[0].text and result.hypothesis(0) is result.nbest[0]
    singles = [translator.translate(s).text for s in SENTENCES]
    assert translator.translate_batch(SENTENCES, batch_size=3) == singles
    for alpha in (0.0, 1.0):
        beams = [translator.translate(s, beam_size=4, length_penalty=alpha).text for s in SENTENCES]
        assert translator.translate_batch(SENTENCES, beam_size=4, length_penalty=alpha, batch_size=3) == beams
        assert translator.translate_batch(SENTENCES, beam_size=4, length_penalty=alpha, batch_size=1) == beams


def test_prefix_forces_the_start_then_continues(translator):
    base = translator.translate(SENTENCES[0])
    step = 1
    alternative = next(tok for tok, _ in base.alternatives[step] if tok != base.target_tokens[step])
    alt_id = translator.tokenizer.token_to_id(alternative)
    result = translator.translate(SENTENCES[0], prefix=base.target_ids[:step] + [alt_id])
    assert result.target_ids[: step + 1] == base.target_ids[:step] + [alt_id]
    assert result.decoding["mode"] == "prefix+greedy"


def test_result_shapes_alternatives_and_json(translator):
    result = translator.translate(SENTENCES[2], top_k=4)
    T, S = len(result.target_tokens), len(result.source_tokens)
    assert result.source_tokens[-1] == "</s>" and result.target_tokens[-1] == "</s>"
    assert np.asarray(result.attention).shape == (T, S)
    np.testing.assert_allclose(np.asarray(result.attention).sum(1), 1.0, atol=1e-4)
    assert len(result.alternatives) == T and all(len(a) == 4 for a in result.alternatives)
    for chosen, alternatives, prob in zip(result.target_tokens, result.alternatives, result.token_probs):
        assert alternatives[0][0] == chosen and alternatives[0][1] == pytest.approx(prob, rel=1e-5)
    assert result.timing_ms["total"] > 0
    assert [translator.target_tokens(ids) for ids in result.alternative_ids] == [
        [token for token, _ in alternatives] for alternatives in result.alternatives
    ]
    assert result.enc_out.dtype == np.float32 and result.enc_out.shape == (S, 2 * translator.config["hidden_dim"])
    src = translator.source_ids(SENTENCES[2])
    np.testing.assert_allclose(result.enc_out, translator.encode([src])[0][0], rtol=1e-6)
    data = json.loads(json.dumps(translation_json(result, translator.name, SENTENCES[2], translator.config)))
    jsonschema.Draft202012Validator(load_schema()).validate(data)
    assert "enc_out" not in data and data["source_ids"] == src
    assert [[a["id"] for a in step] for step in data["alternatives"]] == result.alternative_ids
    assert [call["batch"] for call in data["step_calls"]] == [call.batch for call in result.step_calls]
    assert data["step_calls"][0]["attention"] == result.step_calls[0].attention.tolist()


@pytest.mark.parametrize("beam_size", [1, 4])
def test_step_calls_show_every_decoder_call_and_the_best_row(translator, beam_size):
    """One entry per decoder call run (greedy: one per target token): the rows it really ran, and the best
    hypothesis' row among them."""
    result = translator.translate(SENTENCES[1], beam_size=beam_size)
    S, T = len(result.source_tokens), len(result.target_tokens)
    assert len(result.step_calls) == T if beam_size == 1 else len(result.step_calls) >= T
    assert len(result.call_rows) == T
    for t, row in enumerate(result.call_rows):
        call = result.step_calls[t]
        assert 0 <= row < call.batch <= beam_size
        assert call.attention.shape == (call.batch, S)
        assert call.attention[row].tolist() == result.attention[t]
    assert result.step_calls[0].batch == 1  # every beam starts from the same BOS row
    if beam_size > 1:
        assert max(call.batch for call in result.step_calls) == beam_size


@pytest.mark.parametrize(
    "text, message",
    [
        ("   ", "empty"),
        ("x" * 400, "limit is 300"),
        ("The dog\x00 runs.", "control characters"),
        ("Собака бежит.", "never seen 'С', 'а', 'б': it reads English written"),
        (123, "not text \\(got int 123\\)"),
        (None, "not text"),
        (b"The dog runs.", "not text"),
    ],
)
def test_bad_input_is_a_clear_error(translator, text, message):
    with pytest.raises(InputError, match=message):
        translator.translate(text)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"beam_size": 2.7}, "beam_size must be a whole number of at least 1; got the number 2.7"),
        ({"beam_size": 0}, "beam_size must be a whole number of at least 1"),
        ({"beam_size": True}, "beam_size must be a whole number"),
        ({"n_best": "3"}, "n_best must be a whole number"),
        ({"max_len": float("inf")}, "max_len must be a whole number from 1 to 1000; got the number inf"),
        ({"max_len": 10**6}, "max_len must be a whole number from 1"),
        ({"max_len_ratio": float("inf")}, "max_len_ratio must be a finite number"),
        ({"length_penalty": float("nan")}, "length_penalty must be a finite number"),
        ({"top_k": -1}, "top_k must be a whole number of at least 1"),
        ({"prefix": [1.5]}, "prefix id must be a whole number"),
        ({"prefix": [10**9]}, "prefix id must be a whole number from 0"),
    ],
)
def test_api_arguments_of_the_wrong_type_are_refused_not_coerced(translator, options, message):
    with pytest.raises(InputError, match=message):
        translator.translate(SENTENCES[0], **options)


def test_numpy_integers_are_whole_numbers(translator):
    assert translator.translate(SENTENCES[0], beam_size=np.int64(2)).decoding["beam_size"] == 2


@pytest.mark.parametrize(
    "reference, message",
    [("", "reference is empty"), ("Собака.", "never seen"), ("Der hund\x07.", "control characters")],
)
def test_bad_reference_is_a_clear_error(translator, reference, message):
    with pytest.raises(InputError, match=message):
        translator.score_reference("The dog runs.", reference)


def test_typed_special_tokens_are_plain_text(translator):
    ids = translator.source_ids("The dog </s> runs <pad> <s>.")
    assert ids[-1] == translator.eos_id
    assert not {translator.pad_id, translator.bos_id, translator.eos_id} & set(ids[:-1])


# ---- bundle validation and providers ----------------------------------------------------------------
def test_tampered_file_is_named(bundle_copy):
    data = bytearray((bundle_copy / "decoder.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bundle_copy / "decoder.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"decoder\.onnx does not match the sha256"):
        Translator(bundle_copy)


def test_missing_file_and_bad_manifest_are_named(bundle_copy):
    (bundle_copy / "tokenizer.json").unlink()
    with pytest.raises(BundleError, match=r"tokenizer\.json is missing"):
        Translator(bundle_copy)
    (bundle_copy / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match=r"manifest\.json is not valid JSON"):
        Translator(bundle_copy)


def test_provider_selection():
    cpu, cuda = "CPUExecutionProvider", "CUDAExecutionProvider"
    assert select_providers("auto", [cpu]) == ([cpu], [])
    assert select_providers("auto", [cuda, cpu]) == ([cuda, cpu], [])
    assert select_providers("cpu", [cuda, cpu]) == ([cpu], [])
    assert select_providers("cuda", [cuda, cpu]) == ([cuda, cpu], [])
    providers, notes = select_providers("cuda", [cpu])
    assert providers == [cpu] and "onnxruntime-gpu" in notes[0]
    with pytest.raises(ValueError, match="device must be one of"):
        select_providers("tpu", [cpu])


def test_sessions_use_the_asked_threads_and_idle_threads_sleep(tiny_bundle):
    encoder, decoder = Translator(tiny_bundle, device="cpu", threads=2, verify=False).backend.sessions
    for session in (encoder, decoder):
        options = session.get_session_options()
        assert options.intra_op_num_threads == 2
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_cuda_requested_without_onnxruntime_gpu_warns_and_runs_on_cpu(tiny_bundle):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has onnxruntime-gpu; the fallback path is what is tested here")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        translator = Translator(tiny_bundle, device="cuda")
    assert translator.providers == ["CPUExecutionProvider"]
    assert any(issubclass(w.category, ProviderWarning) and "CUDA was requested" in str(w.message) for w in caught)
    assert translator.warnings and translator.translate("The dog runs.").text


def test_inference_never_imports_torch(tiny_bundle):
    code = (
        "import sys; sys.modules['torch'] = None\n"  # any torch import now raises ImportError
        "import inference\n"
        f"t = inference.Translator({str(tiny_bundle)!r}, device='cpu')\n"
        "print(t.translate('The dog runs.', beam_size=3).text)\n"
        "assert 'torch' not in [m.split('.')[0] for m in sys.modules if sys.modules[m] is not None]\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_cli_translates_json_and_stdin(tiny_bundle):
    def run(*args, **kw):
        return subprocess.run(
            [sys.executable, "-m", "inference", "--model", str(tiny_bundle), *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            **kw,
        )

    single = run("The dog runs.")
    assert single.returncode == 0 and single.stdout.strip()
    line = json.loads(run("--json", "--beam", "3", "--n-best", "2", "The dog runs.").stdout)
    assert line["line"] == 1 and line["error"] is None
    as_json = line["result"]
    jsonschema.Draft202012Validator(load_schema()).validate(as_json)
    assert len(as_json["nbest"]) == 2 and len(as_json["attention"]) == len(as_json["target_tokens"])
    batch = run(input="The dog runs.\nThe cat sleeps.\n")
    assert batch.returncode == 0 and len(batch.stdout.strip().splitlines()) == 2
    assert batch.stdout.splitlines()[0] == single.stdout.strip()
    bad = run("   ")
    assert bad.returncode == 1 and "argument 1: The input is empty: type a sentence to translate." in bad.stderr
    assert bad.stdout == "\n"  # still one output line per input


def test_find_bundles_ignores_exports_in_progress(tiny_bundle, tmp_path):
    import shutil

    from inference import find_bundles

    shutil.copytree(tiny_bundle, tmp_path / "en-de")
    shutil.copytree(tiny_bundle, tmp_path / ".en-de.export-abc123")  # what a killed export leaves behind
    assert list(find_bundles(tmp_path)) == ["en-de"]


def test_each_nbest_hypothesis_carries_its_own_steps_as_forced_decoding_finds_them(translator):
    """nbest[i] holds hypothesis i's own tokens, attention and probabilities: forced decoding of its text
    (teacher forcing, one row per step) reproduces them, and its decoder-call rows lead to that attention."""
    result = translator.translate(SENTENCES[1], beam_size=4, n_best=4)
    as_json = json.loads(json.dumps(translation_json(result, translator.name, SENTENCES[1], translator.config)))
    best = as_json["nbest"][0]
    assert best["target_ids"] == result.target_ids and best["attention"] == as_json["attention"]
    others = [h for h in as_json["nbest"][1:] if h["finished"]]
    assert others, "beam search of 4 should finish more than one hypothesis on this sentence"
    for hyp in others:
        forced = translator.translate(SENTENCES[1], reference=hyp["text"])
        assert hyp["target_ids"] == forced.target_ids != result.target_ids
        assert hyp["target_tokens"] == forced.target_tokens
        np.testing.assert_allclose(hyp["attention"], forced.attention, atol=1e-5)
        np.testing.assert_allclose(hyp["token_probs"], forced.token_probs, atol=1e-5)
        assert [[a["id"] for a in step] for step in hyp["alternatives"]] == forced.alternative_ids
        assert len(hyp["call_rows"]) == len(hyp["target_ids"])
        for t, row in enumerate(hyp["call_rows"]):  # its row of each real call is its own attention
            rows = as_json["step_calls"][t]["attention"]
            assert len(rows) == as_json["step_calls"][t]["batch"]
            np.testing.assert_allclose(rows[row], hyp["attention"][t], atol=1e-5)
