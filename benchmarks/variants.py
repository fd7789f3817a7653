"""The three ways to run one checkpoint, and the sentences to run them on.

From one shipped bundle: `torch` (PyTorch eager, the bundle's checkpoint.pt), `fp32` and `int8`
(onnxruntime bundles exported from that same checkpoint.pt into a work folder; the shipped bundle itself
is used for whichever precision it already has). All three decode with the same loop (inference.decoding).
"""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from inference.bundle import load_bundle
from inference.examples import examples_for

VARIANTS = ("torch", "fp32", "int8")
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = ROOT.parent / "shared" / "data" / "multi30k"


@dataclass
class TestSet:
    sources: list[str]
    references: list[str] | None  # None for our built-in sentences (no BLEU then)
    origin: str
    skipped: int = 0  # sentences the translator refuses (InputError), left out


def _checkpoint_sha(bundle_dir: Path) -> str | None:
    try:
        manifest = json.loads((bundle_dir / "manifest.json").read_text(encoding="utf-8"))
        return manifest["files"]["checkpoint.pt"]["sha256"]
    except (OSError, ValueError, KeyError):
        return None


def prepare_variants(bundle_dir, work_dir, wanted=VARIANTS, log=print) -> dict[str, Path]:
    """{variant: path}: checkpoint.pt for torch, bundle folders for fp32/int8 (exported when missing).

    A folder already in `work_dir` is reused when it was exported from the same checkpoint.pt (sha256).
    """
    bundle_dir, work_dir = Path(bundle_dir), Path(work_dir)
    manifest = load_bundle(bundle_dir, verify_hashes=False).manifest
    checkpoint = bundle_dir / "checkpoint.pt"
    if not checkpoint.is_file():
        raise FileNotFoundError(f"{checkpoint} is missing: the benchmarks need the weights the bundle came from")
    shipped = "int8" if manifest.get("quantization") == "int8" else "fp32"
    paths: dict[str, Path] = {}
    for name in wanted:
        if name == "torch":
            paths[name] = checkpoint
        elif name == shipped:
            paths[name] = bundle_dir
        else:
            target = work_dir / name
            wanted_sha = _checkpoint_sha(bundle_dir)
            if wanted_sha is None or _checkpoint_sha(target) != wanted_sha:
                from export.bundle import export_bundle  # torch + onnx: imported only when needed

                log(f"exporting the {name} variant of {checkpoint} to {target} ...")
                export_bundle(checkpoint, target, quantize="int8" if name == "int8" else "none",
                              command=f"benchmarks: {name} variant of {checkpoint}")
            paths[name] = target
    return paths


def open_translator(name: str, path: Path, threads: int):
    """A Translator for `name` with `threads` intra-op threads (torch: set again before every call)."""
    if name == "torch":
        from training.evaluate import TorchTranslator

        return TorchTranslator(path, threads=threads)
    from inference.translator import Translator

    return Translator(path, device="cpu", threads=threads, verify=False)


def load_test_set(translator, src: str, tgt: str, data_dir=None, limit: int | None = None) -> TestSet:
    """The test split of the local Multi30k copy (or `data_dir`), else our own example sentences.

    Sentences the translator refuses (too long, unknown characters) are left out and counted.
    """
    data_dir = Path(data_dir) if data_dir else DEFAULT_DATA_DIR
    sources, references, origin = None, None, "inference/examples.py (built-in, no references)"
    if (data_dir / "test.jsonl").is_file() or (data_dir / "test.parquet").is_file():
        from training.data import load_splits

        splits, _ = load_splits(src, tgt, data_dir=data_dir)
        if "test" in splits:
            pairs = splits["test"]
            sources, references = [p.src for p in pairs], [p.tgt for p in pairs]
            origin = f"{data_dir} test split"
    if sources is None:
        sources = list(examples_for(src))
    keep = []
    for index, text in enumerate(sources):
        try:
            translator.source_ids(text)
            keep.append(index)
        except ValueError:  # InputError
            continue
    skipped = len(sources) - len(keep)
    keep = keep[:limit] if limit else keep
    return TestSet([sources[i] for i in keep], [references[i] for i in keep] if references else None,
                   origin, skipped)


def describe_bundle(bundle_dir) -> dict:
    manifest = load_bundle(bundle_dir, verify_hashes=False).manifest
    history = (manifest.get("training") or {}).get("history") or []
    epoch_minutes = [b["minutes"] - a["minutes"] for a, b in zip([{"minutes": 0.0}] + history, history)]
    return {"path": str(bundle_dir), "pair": f"{manifest['pair']['src']}-{manifest['pair']['tgt']}",
            "model_config": manifest["model_config"], "num_parameters": manifest.get("num_parameters"),
            "precision": manifest.get("precision"), "training_args": (manifest.get("training") or {}).get("args"),
            "recorded_minutes_per_epoch": round(statistics.median(epoch_minutes), 2) if epoch_minutes else None}
