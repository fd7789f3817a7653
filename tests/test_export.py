"""Export: ONNX vs torch parity, structure checks, determinism, atomic writes and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
from conftest import ROOT

from export.__main__ import main as export_main
from inference import BundleError, Translator
from inference.bundle import sha256_of
from inference.examples import examples_for
from training.checkpoint import load_checkpoint, model_from_checkpoint


def test_bundle_contents_and_manifest(tiny_bundle):
    manifest = json.loads((tiny_bundle / "manifest.json").read_text(encoding="utf-8"))
    # source and target share one vocabulary, so one tokenizer file
    assert sorted(manifest["files"]) == [
        "checkpoint.pt",
        "decoder.onnx",
        "encoder.onnx",
        "output.onnx",
        "tokenizer.json",
    ]
    assert manifest["tokenizers"] == {"source": "tokenizer.json", "target": "tokenizer.json", "shared": True}
    folder = tiny_bundle.as_posix()
    assert manifest["export_command"] == f"python -m export {folder}/checkpoint.pt --out {folder}"
    assert "metrics" not in manifest and "decoding" not in manifest  # measurements live in evaluation.json
    assert not list(tiny_bundle.glob("*.data"))  # weights live inside the .onnx files
    assert tiny_bundle.stat().st_mode & 0o777 == 0o755
    assert {p.name: p.stat().st_mode & 0o777 for p in tiny_bundle.iterdir()} == {
        name: 0o644 for name in [*manifest["files"], "manifest.json"]
    }
    for name, facts in manifest["files"].items():
        assert facts["sha256"] == sha256_of(tiny_bundle / name)
        assert facts["bytes"] < 10_000_000
    decoder = manifest["graphs"]["decoder"]
    assert [i["name"] for i in decoder["inputs"]] == ["prev_token", "hidden", "keys", "enc_out", "src_mask"]
    assert [o["name"] for o in decoder["outputs"]] == ["log_probs", "new_hidden", "attention"]
    assert decoder["inputs"][3]["shape"][:2] == ["batch", "src_len"]
    assert manifest["pair"] == {"src": "en", "tgt": "de"}
    assert manifest["training"]["epochs"] == 6 and manifest["model_config"]["attention"] == "dot"
    greedy = manifest["verification"]["greedy_fp32_vs_torch"]
    assert greedy["identical"] == greedy["sentences"]


@pytest.mark.parametrize("attention", ["dot", "general", "additive"])
def test_every_score_function_exports_with_parity(attention, tmp_path):
    """Each score function's graphs match torch at unseen shapes (the shipped models use dot and general)."""
    from export.graphs import export_graphs
    from export.verify import check_parity, check_structure
    from training.config import ModelConfig
    from training.model import Seq2Seq

    torch.manual_seed(0)
    model = Seq2Seq(ModelConfig(vocab_size=60, embed_dim=8, hidden_dim=6, attention=attention, attention_dim=5)).eval()
    graphs = export_graphs(model, tmp_path)
    for name in ("encoder.onnx", "decoder.onnx", "output.onnx"):
        check_structure(tmp_path / name)
    report = check_parity(model, tmp_path)
    assert max(report["max_abs_diff"].values()) <= 1e-4
    assert [o["name"] for o in graphs["decoder"]["outputs"]] == ["log_probs", "new_hidden", "attention"]


def test_every_gru_node_uses_linear_before_reset(tiny_bundle):
    for name in ("encoder.onnx", "decoder.onnx", "output.onnx"):
        model = onnx.load(str(tiny_bundle / name))
        grus = [n for n in model.graph.node if n.op_type == "GRU"]
        # encoder: two one-way GRUs; decoder: the one-step GRU is written as matmuls (model.gru_cell)
        assert len(grus) == (2 if name == "encoder.onnx" else 0)
        for node in grus:
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            assert attrs["linear_before_reset"] == 1


def test_onnx_matches_torch_at_new_shapes(tiny_bundle):
    """Values within 1e-4 at batch sizes and lengths unlike the export example (2, 7)."""
    model, _ = model_from_checkpoint(load_checkpoint(tiny_bundle / "checkpoint.pt"))
    translator = Translator(tiny_bundle, device="cpu")
    rng = np.random.default_rng(0)
    for batch, length in ((1, 2), (4, 13), (6, 31)):
        rows = [list(rng.integers(4, model.config.vocab_size, rng.integers(1, length))) + [3] for _ in range(batch)]
        enc_out, keys, hidden, mask = translator.encode(rows)
        src = torch.zeros(mask.shape, dtype=torch.long)
        for i, r in enumerate(rows):
            src[i, : len(r)] = torch.tensor(r)
        with torch.no_grad():
            t_enc, t_keys, t_hidden = model.encode(src, torch.from_numpy(mask))
            prev = torch.from_numpy(rng.integers(4, model.config.vocab_size, batch))
            t_step = model.decoder.step(prev, t_hidden, t_keys, t_enc, torch.from_numpy(mask))
        o_step = translator.step_function(enc_out, keys, mask)(prev.numpy(), hidden, np.arange(batch))
        for ours, theirs in zip((enc_out, keys, hidden, *o_step), (t_enc, t_keys, t_hidden, *t_step)):
            np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-4)


def test_export_is_deterministic_and_reexport_from_bundle_checkpoint_matches(tiny_bundle, tmp_path):
    again = tmp_path / "again" / "en-de"
    assert export_main([str(tiny_bundle / "checkpoint.pt"), "--out", str(again)]) == 0
    first = json.loads((tiny_bundle / "manifest.json").read_text())["files"]
    second = json.loads((again / "manifest.json").read_text())["files"]
    assert first == second  # same sha256 for every file, checkpoint.pt included


def test_int8_export_reports_agreement_and_size(tiny_run, tmp_path):
    out = tmp_path / "int8" / "en-de"
    assert export_main([str(tiny_run / "best.pt"), "--out", str(out), "--quantize", "int8"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    report = manifest["verification"]["int8_vs_fp32"]
    assert manifest["quantization"] == "int8"
    assert report["sentences"] == len(examples_for("en"))
    assert report["identical_greedy"] >= report["sentences"] / 2  # export refuses below half
    assert 0 <= report["max_abs_token_log_prob_diff"] < 1.0
    assert report["graph_bytes"]["int8"] < report["graph_bytes"]["fp32"]
    decoder = onnx.load(str(out / "decoder.onnx")).graph
    # every weight matrix of a step is int8: GRU gates (2), pre-output, tied output projection
    assert sum(n.op_type == "MatMulInteger" for n in decoder.node) == 4
    assert not any(
        n.op_type in ("Gemm", "GRU", "MatMul")
        for n in decoder.node
        if n.input[1:2] and n.input[1] in {i.name for i in decoder.initializer}
    )
    # no activation scale is shared between rows (DynamicQuantizeLinear takes one per tensor)
    assert not any(n.op_type in ("DynamicQuantizeLinear", "DynamicQuantizeMatMul") for n in decoder.node)
    translator = Translator(out, device="cpu")
    assert translator.translate("The dog runs.").text


def test_rowwise_int8_matmul_is_exact_per_row_and_close_to_fp32():
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from export.quantize import rowwise_int8_matmuls

    rng = np.random.default_rng(0)
    # columns of unequal size
    weight = (rng.standard_normal((96, 300)) * rng.uniform(0.01, 1.0, 300)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 96])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 300])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = rowwise_int8_matmuls(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]))
    assert [n.op_type for n in model.graph.node].count("MatMulInteger") == 1
    assert not any(n.op_type == "MatMul" for n in model.graph.node)
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = rng.standard_normal((64, 96)).astype(np.float32) * rng.uniform(0.001, 100, (64, 1)).astype(np.float32)
    x[5] = 0.0  # an all-zero row: scale guarded, result 0, no NaN
    batch = session.run(None, {"x": x})[0]
    alone = np.concatenate([session.run(None, {"x": x[i : i + 1]})[0] for i in range(len(x))])
    assert np.array_equal(batch, alone)  # bit for bit, whatever else is in the batch
    assert np.all(batch[5] == 0)
    exact = x.astype(np.float64) @ weight
    relative = np.abs(batch - exact).max(axis=1) / np.abs(exact).max(axis=1).clip(1e-30)
    assert relative[np.arange(len(x)) != 5].max() < 0.05  # 7-bit weights, 8-bit activations


def test_rowwise_int8_quantizes_a_shared_weight_once():
    from onnx import TensorProto, helper, numpy_helper

    from export.quantize import rowwise_int8_matmuls

    weight = np.random.default_rng(1).standard_normal((8, 4)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["a", "w"], ["y"], name="one"),
            helper.make_node("MatMul", ["b", "w"], ["z"], name="two"),
        ],
        "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 8]) for n in "ab"],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 4]) for n in "yz"],
        [numpy_helper.from_array(weight, "w")],
    )
    model = rowwise_int8_matmuls(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]))
    onnx.checker.check_model(model)  # fails on duplicate initializer names
    names = [init.name for init in model.graph.initializer]
    assert len(names) == len(set(names)) and names.count("w_q") == 1
    assert [n.input[1] for n in model.graph.node if n.op_type == "MatMulInteger"] == ["w_q", "w_q"]


def test_int8_rows_do_not_depend_on_the_batch(tiny_run, tmp_path):
    from inference.batch_trace import trace_batch

    out = tmp_path / "int8" / "en-de"
    assert export_main([str(tiny_run / "best.pt"), "--out", str(out), "--quantize", "int8"]) == 0
    translator = Translator(out, device="cpu")
    texts = ["The dog runs.", "A man with a red hat waits near the old house.", "Two cats sleep."]
    trace = trace_batch(translator, texts)
    for b, text in enumerate(texts):
        alone = translator.translate(text)
        L = trace.lengths[b]
        assert trace.target_tokens[b] == alone.target_tokens
        np.testing.assert_allclose(trace.attention[b][:, :L], np.asarray(alone.attention), atol=1e-5)
        np.testing.assert_allclose(trace.enc_out[b, :L], alone.enc_out, atol=1e-5)
    assert translator.translate_batch(texts * 3, beam_size=4, batch_size=9) == translator.translate_batch(
        texts * 3, beam_size=4, batch_size=1
    )


def test_failed_export_leaves_previous_bundle_untouched(tiny_bundle, tmp_path, monkeypatch):
    import shutil

    import export.bundle as bundle_module
    from export.verify import ExportError

    out = tmp_path / "assets" / "en-de"
    shutil.copytree(tiny_bundle, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(*args, **kwargs):
        raise ExportError("simulated parity failure")

    monkeypatch.setattr(bundle_module, "check_parity", broken)
    assert export_main([str(tiny_bundle / "checkpoint.pt"), "--out", str(out)]) == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in out.parent.iterdir()] == ["en-de"]  # no temp folders left behind


@pytest.mark.parametrize("case", ["missing", "corrupt", "out_is_file"])
def test_bad_export_input_is_one_clear_line(case, tiny_bundle, tmp_path):
    checkpoint, out = tiny_bundle / "checkpoint.pt", tmp_path / "out"
    if case == "missing":
        checkpoint = tmp_path / "nope.pt"
    elif case == "corrupt":
        checkpoint = tmp_path / "bad.pt"
        checkpoint.write_bytes(b"not a checkpoint")
    else:
        out.write_text("I am a file")
    done = subprocess.run(
        [sys.executable, "-m", "export", str(checkpoint), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    expected = {"missing": "does not exist", "corrupt": "cannot be read", "out_is_file": "is a file"}[case]
    assert expected in lines[0]


def test_a_large_file_is_named_with_the_int8_advice(tiny_bundle, tmp_path, monkeypatch, capsys):
    import export.__main__ as export_cli

    monkeypatch.setattr(export_cli, "LARGE_FILE_BYTES", 1000)
    assert export_main([str(tiny_bundle / "checkpoint.pt"), "--out", str(tmp_path / "en-de")]) == 0
    out = capsys.readouterr().out
    assert "note: decoder.onnx is" in out and "over 10 MiB" in out and "--quantize int8" in out


def _export_once_more(tiny_bundle, out):
    assert export_main([str(tiny_bundle / "checkpoint.pt"), "--out", str(out)]) == 0


def test_a_swap_killed_midway_leaves_a_loadable_bundle_and_the_next_export_repairs_it(
    tiny_bundle, tmp_path, monkeypatch
):
    import shutil

    import export.swap as swap
    from inference import find_bundles

    out = tmp_path / "assets" / "en-de"
    shutil.copytree(tiny_bundle, out)
    (out / "evaluation.json").write_text('{"length_penalty": {"value": 1.25}}', encoding="utf-8")
    real_rename, calls = swap.rename, []

    def dies_after_the_first_rename(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # out is already .en-de.previous; the new bundle is not in place yet
            raise KeyboardInterrupt
        real_rename(src, dst)

    monkeypatch.setattr(swap, "rename", dies_after_the_first_rename)
    with pytest.raises(KeyboardInterrupt):
        _export_once_more(tiny_bundle, out)
    assert not out.exists() and (out.parent / ".en-de.previous").is_dir()
    translator = Translator(out, device="cpu")  # the old bundle, from where the swap left it
    assert translator.translate("The dog runs.").text and translator.length_penalty == 1.25
    assert list(find_bundles(out.parent)) == ["en-de"]
    monkeypatch.setattr(swap, "rename", real_rename)
    _export_once_more(tiny_bundle, out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["en-de"]  # restored, replaced, nothing left over
    assert Translator(out, device="cpu").length_penalty == 1.25  # evaluation.json travels with the bundle


def test_stale_export_folders_of_dead_runs_are_removed(tiny_bundle, tmp_path):
    import os

    out = tmp_path / "en-de"
    dead = tmp_path / ".en-de.export-999999999-abc"  # no such process
    running = tmp_path / f".en-de.export-{os.getpid()}-xyz"  # a live export: not ours to remove
    for folder in (dead, running):
        folder.mkdir()
        (folder / "decoder.onnx").write_bytes(b"half written")
    _export_once_more(tiny_bundle, out)
    assert not dead.exists() and running.exists()


def test_manifests_name_the_one_shared_tokenizer(bundle_copy):
    """Every bundle's manifest names tokenizer.json for source and target; one without the "shared" flag loads
    too, and one naming two different files is refused in one line (the model shares one vocabulary)."""
    before = Translator(bundle_copy, device="cpu").translate("The small cat sleeps.").text
    manifest = json.loads((bundle_copy / "manifest.json").read_text(encoding="utf-8"))
    manifest["tokenizers"] = {"source": "tokenizer.json", "target": "tokenizer.json"}
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    translator = Translator(bundle_copy, device="cpu")
    assert translator.tokenizer is translator.backend.tokenizer
    assert translator.translate("The small cat sleeps.").text == before
    tokenizer = bundle_copy / "tokenizer.json"
    (bundle_copy / "target.json").write_bytes(tokenizer.read_bytes())
    manifest["files"]["target.json"] = {"sha256": sha256_of(tokenizer), "bytes": tokenizer.stat().st_size}
    manifest["tokenizers"] = {"source": "tokenizer.json", "target": "target.json"}
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(BundleError, match="names two tokenizers .*re-export the bundle") as caught:
        Translator(bundle_copy, device="cpu")
    assert "\n" not in str(caught.value)


def test_model_table_tells_every_training_stage_of_a_fine_tuned_model():
    from export.table import epochs_and_minutes, trained_on

    gpu_only = {"training": {"args": {"device": "cuda"}, "epochs": 11, "minutes": 10.4}}
    assert trained_on(gpu_only) == "GPU" and epochs_and_minutes(gpu_only) == ("11", "10")
    tuned = {
        "training": {
            "args": {"device": "cpu"},
            "epochs": 2,
            "minutes": 31.2,
            "started_from": {"epochs": 11, "minutes": 10.4, "device": "cuda"},
        }
    }
    assert trained_on(tuned) == "GPU + CPU" and epochs_and_minutes(tuned) == ("11 + 2", "10 + 31")
