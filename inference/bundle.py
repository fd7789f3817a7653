"""A model bundle on disk, checked before use: manifest.json (written by export only), two ONNX graphs, the
tokenizer source and target share, checkpoint.pt, and evaluation.json (written by `python -m evaluate`,
absent until a bundle is evaluated)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

BUNDLE_FORMAT = "bmm-seq2seq-onnx"
EVALUATION_FILE = "evaluation.json"
REQUIRED_KEYS = ("format", "pair", "model_config", "special_tokens", "files", "graphs", "tokenizers")
TOKENIZER_FILE = "tokenizer.json"
# The manifest's "tokenizers" entry, as every bundle has it: both roles name the one shared file (the model
# ties one embedding to source and target).
SHARED_TOKENIZER = {"source": TOKENIZER_FILE, "target": TOKENIZER_FILE, "shared": True}


class BundleError(ValueError):
    """A bundle that cannot be used; the message names the file and what to do."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Bundle:
    path: Path
    manifest: dict
    evaluation: dict = field(default_factory=dict)  # evaluation.json: tuned length penalty, metrics per test set

    @property
    def name(self) -> str:
        return f"{self.manifest['pair']['src']}-{self.manifest['pair']['tgt']}"

    def file(self, name: str) -> Path:
        return self.path / name


def previous_of(path) -> Path:
    """Where an export keeps the old bundle for the instant between its two renames (see export/swap.py)."""
    path = Path(path)
    return path.parent / f".{path.name}.previous"


def load_bundle(path, verify_hashes: bool = True) -> Bundle:
    """Reads and validates a bundle folder: manifest keys, every listed file present with its sha256."""
    path = Path(path)
    if not path.is_dir() and (previous_of(path) / "manifest.json").is_file():
        path = previous_of(path)  # an export is swapping this bundle right now (or was killed doing it)
    manifest_path = path / "manifest.json"
    if not path.is_dir():
        raise BundleError(
            f"model folder {path} does not exist; export one with `python -m export CHECKPOINT --out {path}`"
        )
    if not manifest_path.is_file():
        raise BundleError(f"{manifest_path} is missing; re-export the bundle with `python -m export`")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BundleError(f"{manifest_path} is not valid JSON ({error}); re-export the bundle") from None
    if not isinstance(manifest, dict):
        raise BundleError(f"{manifest_path} does not hold a JSON object; re-export the bundle")
    missing = [key for key in REQUIRED_KEYS if key not in manifest]
    if missing or manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(
            f"{manifest_path} is not a {BUNDLE_FORMAT} manifest (missing: {', '.join(missing) or 'format'})"
        )
    for name, facts in manifest["files"].items():
        file = path / name
        if not (
            isinstance(facts, dict) and isinstance(facts.get("sha256"), str) and isinstance(facts.get("bytes"), int)
        ):
            raise BundleError(
                f"{manifest_path}: the entry for {name} has no sha256 and size; re-export the bundle "
                "with `python -m export`"
            )
        if not file.is_file():
            raise BundleError(f"{file} is missing (listed in manifest.json); restore it or re-export the bundle")
        if file.stat().st_size != facts["bytes"] or (verify_hashes and sha256_of(file) != facts["sha256"]):
            raise BundleError(
                f"{file} does not match the sha256 in manifest.json (changed or corrupt); "
                "restore it or re-export the bundle"
            )
    for role in ("encoder", "decoder"):
        if manifest["graphs"].get(role, {}).get("file") not in manifest["files"]:
            raise BundleError(f"{manifest_path} lists no {role} graph file")
    tokenizer_file(manifest, manifest_path)
    return Bundle(path, manifest, read_evaluation(path))


def tokenizer_file(manifest: dict, manifest_path) -> str:
    """The name of the one tokenizer file the manifest lists for source and target."""
    names = manifest["tokenizers"] if isinstance(manifest["tokenizers"], dict) else {}
    name = names.get("source")
    if name not in manifest["files"]:
        raise BundleError(f"{manifest_path} lists no tokenizer file")
    if names.get("target", name) != name:
        raise BundleError(
            f"{manifest_path} names two tokenizers ({name}, {names['target']}); the model shares "
            "one between source and target: re-export the bundle with `python -m export`"
        )
    return name


def read_evaluation(path) -> dict:
    """The bundle's evaluation.json as a dict; {} when the bundle was never evaluated."""
    file = Path(path) / EVALUATION_FILE
    if not file.is_file():
        return {}
    try:
        evaluation = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise BundleError(
            f"{file} is not valid JSON ({error}); delete it or re-run `python -m evaluate {path}`"
        ) from None
    if not isinstance(evaluation, dict):
        raise BundleError(f"{file} does not hold a JSON object; delete it or re-run `python -m evaluate {path}`")
    return evaluation


def find_bundles(root) -> dict[str, Path]:
    """{"en-de": Path(...), ...} for every folder under root that has a manifest.json, sorted by name."""
    root = Path(root)
    if not root.is_dir():
        return {}
    found = {}
    for manifest in sorted(root.glob("*/manifest.json")):
        if not manifest.parent.name.startswith("."):  # .en-de.export-*: an export in progress or abandoned
            found[manifest.parent.name] = manifest.parent
    for manifest in sorted(root.glob(".*.previous/manifest.json")):  # mid-swap: the old bundle, for now
        name = manifest.parent.name[1 : -len(".previous")]
        if name not in found:
            found[name] = root / name
    return dict(sorted(found.items()))


def training_stages(training: dict) -> list[dict]:
    """A manifest's `training` record as stages, first to last, each {"epochs", "minutes", "device"}: a fine-tuned
    run (`--init-from`) comes after the stages of the checkpoint it started from (`started_from`)."""
    earlier = training.get("started_from")
    stage = {
        "epochs": training.get("epochs"),
        "minutes": training.get("minutes"),
        "device": training.get("device") or (training.get("args") or {}).get("device"),
    }
    return (training_stages(earlier) if earlier else []) + [stage]


def write_json_atomic(path, data) -> None:
    """JSON to a temp file beside `path`, then rename: readers never see half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
