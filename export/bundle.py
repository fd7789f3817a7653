"""Checkpoint -> verified bundle folder, written next to the target and swapped in only when complete.

export_bundle(Path("runs/en-de/best.pt"), Path("assets/en-de"), quantize="int8")
"""

from __future__ import annotations

import platform
import shutil
from pathlib import Path

import onnx
import onnxruntime
import torch

from export.graphs import OPSET, export_graphs
from export.quantize import quantize_graph
from export.swap import clean_stale, make_work_folder, normalise_modes, swap_in
from export.verify import (
    ExportError,
    check_greedy,
    check_output_layer,
    check_parity,
    check_structure,
    compare_translators,
)
from inference.backend import onnx_backend_from_files, special_tokens_of
from inference.bundle import (
    BUNDLE_FORMAT,
    EVALUATION_FILE,
    SHARED_TOKENIZER,
    TOKENIZER_FILE,
    sha256_of,
    write_json_atomic,
)
from inference.examples import examples_for
from inference.translator import Translator
from training.checkpoint import atomic_save, load_checkpoint, model_from_checkpoint, strip_for_release, tokenizer_json

GRAPHS = ("encoder.onnx", "decoder.onnx", "output.onnx")


def quantize_int8(folder: Path) -> None:
    """int8 weights, rows computed independently (export/quantize.py); GRU weights stay fp32 (no int8 GRU in ORT)."""
    for name in GRAPHS:
        quantize_graph(folder / name)


def _manifest(state: dict, folder: Path, graphs: dict, quantize: str, command: str, verification: dict) -> dict:
    args = state.get("args", {})
    progress = state.get("progress", {})
    config = state["config"]
    files = {}
    for name in sorted(p.name for p in folder.iterdir() if p.name not in ("manifest.json", EVALUATION_FILE)):
        files[name] = {"sha256": sha256_of(folder / name), "bytes": (folder / name).stat().st_size}
    history = progress.get("history", [])
    best = progress.get("best") or {}  # None until an epoch has been validated
    return {
        "format": BUNDLE_FORMAT,
        "format_version": 2,
        "pair": {"src": args.get("src", "src"), "tgt": args.get("tgt", "tgt")},
        "model_config": config,
        "num_parameters": state.get("num_parameters"),
        "special_tokens": special_tokens_of(config),
        "tokenizers": dict(SHARED_TOKENIZER),
        "graphs": graphs,
        "files": files,
        "opset": OPSET,
        "precision": (
            "int8 weights (7-bit per column, MatMulInteger on activations quantised per row; int8 embedding "
            "tables), fp32 GRU"
        )
        if quantize == "int8"
        else "fp32",
        "quantization": None if quantize == "none" else quantize,
        "checkpoint_dtype": state["weights_dtype"],  # strip_for_release sets it
        "versions": {
            "torch": torch.__version__.split("+")[0],
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
            "python": platform.python_version(),
        },
        "training": {
            "data": state.get("data"),
            "args": args,
            "epochs": progress.get("epoch"),
            "minutes": round(progress.get("minutes", 0.0), 1),
            "best_epoch": best.get("epoch"),
            "best_val_bleu": best.get("val_bleu"),
            "averaged_epochs": best.get("averaged_epochs"),
            "history": history,
            "started_from": progress.get("started_from"),
        },
        "verification": verification,
        "export_command": command,
    }


def _translator(state: dict, folder: Path) -> Translator:
    """The graphs in `folder` served as the app will serve them, before any manifest exists."""
    args = state.get("args", {})
    backend = onnx_backend_from_files(
        folder / "encoder.onnx",
        folder / "decoder.onnx",
        folder / TOKENIZER_FILE,
        args.get("src", "src"),
        args.get("tgt", "tgt"),
        dict(state["config"]),
        special_tokens_of(state["config"]),
        device="cpu",
    )
    return Translator(backend=backend)


def reexport_command(out: Path, quantize: str, checkpoint_dtype: str) -> str:
    """The command that rebuilds this bundle from its own checkpoint.pt (same bytes: export is deterministic)."""
    flags = ([] if quantize == "none" else [f"--quantize {quantize}"]) + (
        [] if checkpoint_dtype == "float16" else [f"--checkpoint-dtype {checkpoint_dtype}"]
    )
    return " ".join([f"python -m export {out.as_posix()}/checkpoint.pt --out {out.as_posix()}", *flags])


def export_bundle(
    checkpoint: Path, out: Path, quantize: str = "none", checkpoint_dtype: str = "float16", command: str | None = None
) -> dict:
    """Writes, verifies and swaps in a bundle; manifest.json is written once, last, after every check passed.
    The old bundle's evaluation.json is kept (it records the graphs it measured). `command` (recorded in the
    manifest) defaults to the re-export command."""
    command = command or reexport_command(out, quantize, checkpoint_dtype)
    state = strip_for_release(load_checkpoint(checkpoint), half=checkpoint_dtype == "float16")
    clean_stale(out)
    work = make_work_folder(out)
    try:
        atomic_save(state, work / "checkpoint.pt")
        model, _ = model_from_checkpoint(state)  # fp32 model with exactly the shipped weights
        (work / TOKENIZER_FILE).write_text(tokenizer_json(state), encoding="utf-8")
        graphs = export_graphs(model, work)
        for name in GRAPHS:
            check_structure(work / name)
        verification = {"parity_fp32": check_parity(model, work), "output_layer_fp32": check_output_layer(model, work)}
        fp32 = _translator(state, work)
        sentences = examples_for(state.get("args", {}).get("src", "en"))
        verification["greedy_fp32_vs_torch"] = check_greedy(model, fp32, sentences)
        if quantize == "int8":
            # `fp32` keeps its sessions in memory, so quantizing the files on disk leaves it comparing fp32.
            fp32_bytes = sum((work / n).stat().st_size for n in GRAPHS)
            quantize_int8(work)
            for name in GRAPHS:
                check_structure(work / name)
            verification["output_layer_int8"] = check_output_layer(model, work, atol=None)
            verification["int8_vs_fp32"] = compare_translators(fp32, _translator(state, work), sentences)
            verification["int8_vs_fp32"]["graph_bytes"] = {
                "fp32": fp32_bytes,
                "int8": sum((work / n).stat().st_size for n in GRAPHS),
            }
        normalise_modes(work)
        manifest = _manifest(state, work, graphs, quantize, command, verification)
        write_json_atomic(work / "manifest.json", manifest)
        if (out / EVALUATION_FILE).is_file():
            shutil.copy2(out / EVALUATION_FILE, work / EVALUATION_FILE)
        normalise_modes(work)
        swap_in(work, out)
        return manifest
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


__all__ = ["export_bundle", "ExportError"]
