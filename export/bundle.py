"""Checkpoint -> verified bundle folder, written next to the target and swapped in only when complete."""
from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from pathlib import Path

import onnx
import onnxruntime
import torch

from export.graphs import OPSET, export_graphs
from export.verify import ExportError, check_greedy, check_parity, check_structure, compare_translators
from inference.bundle import BUNDLE_FORMAT, sha256_of, write_json_atomic
from inference.examples import examples_for
from training.checkpoint import atomic_save, load_checkpoint, model_from_checkpoint, strip_for_release

GRAPHS = ("encoder.onnx", "decoder.onnx")


def quantize_int8(folder: Path) -> None:
    """Dynamic int8 weights for MatMul and Gather (embeddings); GRU weights stay fp32 (no int8 GRU in ORT)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    for name in GRAPHS:
        source = folder / name
        target = folder / f"{name}.int8"
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul", "Gather"])
        os.replace(target, source)


def _manifest(state: dict, folder: Path, graphs: dict, quantize: str, command: str, verification: dict) -> dict:
    args = state.get("args", {})
    progress = state.get("progress", {})
    config = state["config"]
    files = {}
    for name in sorted(p.name for p in folder.iterdir() if p.name != "manifest.json"):
        files[name] = {"sha256": sha256_of(folder / name), "bytes": (folder / name).stat().st_size}
    history = progress.get("history", [])
    best = progress.get("best") or (max(history, key=lambda r: r["val_bleu"]) if history else {})
    return {
        "format": BUNDLE_FORMAT,
        "format_version": 1,
        "pair": {"src": args.get("src", "src"), "tgt": args.get("tgt", "tgt")},
        "model_config": config,
        "num_parameters": state.get("num_parameters"),
        "special_tokens": {"pad": config["pad_id"], "unk": config["unk_id"], "bos": config["bos_id"], "eos": config["eos_id"]},
        "tokenizers": {"source": "source.json", "target": "target.json"},
        "graphs": graphs,
        "files": files,
        "opset": OPSET,
        "precision": "int8 weights (dynamic quantization of MatMul/Gather), fp32 GRU" if quantize == "int8" else "fp32",
        "quantization": None if quantize == "none" else quantize,
        "checkpoint_dtype": state.get("weights_dtype", "float32"),
        "versions": {"torch": torch.__version__.split("+")[0], "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
                     "python": platform.python_version()},
        "training": {"data": state.get("data"), "args": args, "epochs": progress.get("epoch"),
                     "minutes": round(progress.get("minutes", 0.0), 1), "best_epoch": best.get("epoch"),
                     "best_val_bleu": best.get("val_bleu"), "averaged_epochs": best.get("averaged_epochs"),
                     "history": history},
        "verification": verification,
        "metrics": None,
        "export_command": command,
    }


def export_bundle(checkpoint: Path, out: Path, quantize: str = "none", checkpoint_dtype: str = "float16",
                  command: str = "") -> dict:
    state = strip_for_release(load_checkpoint(checkpoint), half=checkpoint_dtype == "float16")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=out.parent))
    work.chmod(0o755)  # mkdtemp makes it private; the bundle is meant to be read by anyone
    try:
        atomic_save(state, work / "checkpoint.pt")
        model, _, _ = model_from_checkpoint(state)  # fp32 model with exactly the shipped weights
        (work / "source.json").write_text(state["src_tokenizer"], encoding="utf-8")
        (work / "target.json").write_text(state["tgt_tokenizer"], encoding="utf-8")
        graphs = export_graphs(model, work)
        for name in GRAPHS:
            check_structure(work / name)
        verification = {"parity_fp32": check_parity(model, work)}
        write_json_atomic(work / "manifest.json", _manifest(state, work, graphs, "none", command, verification))

        from inference.translator import Translator
        fp32 = Translator(work, device="cpu")
        sentences = examples_for(state.get("args", {}).get("src", "en"))
        verification["greedy_fp32_vs_torch"] = check_greedy(model, fp32, sentences)
        if quantize == "int8":
            # `fp32` keeps its sessions in memory, so quantizing the files on disk leaves it comparing fp32.
            fp32_bytes = sum((work / n).stat().st_size for n in GRAPHS)
            quantize_int8(work)
            for name in GRAPHS:
                check_structure(work / name)
            write_json_atomic(work / "manifest.json", _manifest(state, work, graphs, quantize, command, verification))
            int8 = Translator(work, device="cpu")
            verification["int8_vs_fp32"] = compare_translators(fp32, int8, sentences)
            verification["int8_vs_fp32"]["graph_bytes"] = {"fp32": fp32_bytes,
                                                           "int8": sum((work / n).stat().st_size for n in GRAPHS)}
        manifest = _manifest(state, work, graphs, quantize, command, verification)
        manifest.update(_kept_measurements(out, manifest))
        write_json_atomic(work / "manifest.json", manifest)
        _swap_in(work, out)
        return manifest
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _kept_measurements(out: Path, manifest: dict) -> dict:
    """Test metrics and the tuned length penalty of the bundle being replaced, when the new files are the
    same files (re-exporting a shipped bundle must not lose them); otherwise none."""
    try:
        old = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = {}
    if old.get("files") != manifest["files"]:
        return {"metrics": None}
    return {"metrics": old.get("metrics"), **({"decoding": old["decoding"]} if old.get("decoding") else {})}


def _swap_in(work: Path, out: Path) -> None:
    """Replace `out` by `work` with two renames; the old bundle is removed only after the new one is in place."""
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
        os.replace(work, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(work, out)


__all__ = ["export_bundle", "ExportError"]
