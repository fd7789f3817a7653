"""The three ways to run one checkpoint, and the sentences to run them on.

From one shipped bundle: `torch` (PyTorch eager on the bundle's checkpoint.pt), `fp32` and `int8`
(onnxruntime; the shipped bundle for its own precision, the other exported from the same checkpoint.pt).
"""
from __future__ import annotations

import json
from pathlib import Path

VARIANTS = ("torch", "fp32", "int8")
DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "multi30k"


def read_sources(src: str, data_dir) -> tuple[list[str], str]:
    """The `src` column of data_dir/test.jsonl, else our own example sentences; and where they came from."""
    path = Path(data_dir) / "test.jsonl" if data_dir else None
    if path is not None and path.is_file():
        with open(path, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
        if any(src not in row for row in rows):
            raise RuntimeError(f"{path} has lines without a '{src}' field (the bundle's source language); "
                               f"pass --data-dir with a test.jsonl in that schema")
        return [row[src] for row in rows], str(path)
    from inference.examples import examples_for

    return list(examples_for(src)), "inference/examples.py"


def prepare_variants(bundle_dir: Path, work_dir: Path, wanted=VARIANTS) -> dict[str, Path]:
    """{variant: path}: checkpoint.pt for torch, the shipped bundle for its own precision, and the other
    precision exported from checkpoint.pt into work_dir (reused when exported from the same checkpoint)."""
    manifest = json.loads((bundle_dir / "manifest.json").read_text(encoding="utf-8"))
    checkpoint = bundle_dir / "checkpoint.pt"
    if not checkpoint.is_file():
        raise FileNotFoundError(f"{checkpoint} is missing: the latency section needs the weights the bundle came from")
    shipped = "int8" if manifest.get("quantization") == "int8" else "fp32"
    sha = manifest["files"]["checkpoint.pt"]["sha256"]
    paths = {}
    for name in wanted:
        target = work_dir / name
        if name == "torch":
            paths[name] = checkpoint
        elif name == shipped:
            paths[name] = bundle_dir
        else:
            exported = target / "manifest.json"
            if not exported.is_file() or json.loads(exported.read_text())["files"]["checkpoint.pt"]["sha256"] != sha:
                from export.bundle import export_bundle  # torch + onnx: imported only when needed

                print(f"exporting the {name} variant of {checkpoint} to {target} ...")
                export_bundle(checkpoint, target, quantize="int8" if name == "int8" else "none",
                              command=f"benchmarks: {name} variant of {checkpoint}")
            paths[name] = target
    return paths


def open_translator(variant: str, path: Path, threads: int):
    if variant == "torch":
        from evaluate.torch_model import torch_translator  # sets torch's (process-wide) thread count

        return torch_translator(path, threads=threads)
    from inference.translator import Translator

    return Translator(path, device="cpu", threads=threads, verify=False)
