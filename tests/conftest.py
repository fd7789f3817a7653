"""Shared fixtures: a tiny synthetic parallel corpus made here, a model trained on it for a few seconds,
and the bundle exported from that model. Hermetic: no network, HF_HOME in a temp folder."""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# A made-up "language pair": each source word has one target word; target keeps the source order,
# with an article that depends on the noun. Nothing here comes from Multi30k.
NOUNS = {
    "dog": "hund",
    "cat": "katze",
    "man": "mann",
    "woman": "frau",
    "child": "kind",
    "bird": "vogel",
    "horse": "pferd",
    "boy": "junge",
}
VERBS = {"runs": "rennt", "sleeps": "schläft", "jumps": "springt", "sings": "singt", "eats": "isst", "waits": "wartet"}
PLACES = {"beach": "strand", "park": "park", "street": "straße", "garden": "garten", "house": "haus"}
ADJECTIVES = {"red": "rote", "small": "kleine", "old": "alte", "happy": "fröhliche", "black": "schwarze"}
ARTICLE = {
    "hund": "der",
    "mann": "der",
    "vogel": "der",
    "junge": "der",
    "katze": "die",
    "frau": "die",
    "kind": "das",
    "pferd": "das",
}
PLACE_ARTICLE = {"strand": "dem", "park": "dem", "garten": "dem", "haus": "dem", "straße": "der"}


def make_pair(rng: random.Random) -> dict:
    noun, verb, place = rng.choice(list(NOUNS)), rng.choice(list(VERBS)), rng.choice(list(PLACES))
    src = ["the"]
    tgt_noun = NOUNS[noun]
    tgt = [ARTICLE[tgt_noun]]
    if rng.random() < 0.5:
        adjective = rng.choice(list(ADJECTIVES))
        src.append(adjective)
        tgt.append(ADJECTIVES[adjective])
    src += [noun, verb]
    tgt += [tgt_noun, VERBS[verb]]
    if rng.random() < 0.7:
        src += ["in", "the", place]
        tgt += ["in", PLACE_ARTICLE[PLACES[place]], PLACES[place]]
    return {"en": " ".join(src).capitalize() + ".", "de": " ".join(tgt).capitalize() + "."}


def write_corpus(folder: Path, sizes=(600, 60, 60), seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    for split, size in zip(("train", "validation", "test"), sizes):
        with open(folder / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for _ in range(size):
                f.write(json.dumps(make_pair(rng), ensure_ascii=False) + "\n")
    return folder


TINY_MODEL_FLAGS = [
    "--embed-dim",
    "32",
    "--hidden-dim",
    "32",
    "--attention-dim",
    "32",
    "--vocab-size",
    "400",
    "--batch-size",
    "32",
    "--threads",
    "1",
    "--quiet",
    "--lr",
    "0.01",
    "--dropout",
    "0.1",
]


def train_tiny(data_dir: Path, out: Path, *extra: str) -> Path:
    from training.__main__ import main

    code = main(
        ["--data-dir", str(data_dir), "--src", "en", "--tgt", "de", "--out", str(out), *TINY_MODEL_FLAGS, *extra]
    )
    assert code == 0
    return out


@pytest.fixture(autouse=True, scope="session")
def _hermetic_hf(tmp_path_factory):
    """No Hub access and no writes to the user's Hugging Face cache."""
    home = tmp_path_factory.mktemp("hf_home")
    saved = {k: os.environ.get(k) for k in ("HF_HOME", "HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")}
    os.environ.update(HF_HOME=str(home), HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1")
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def tiny_run(tiny_corpus, tmp_path_factory) -> Path:
    """A run folder trained for 6 epochs on the tiny corpus (a few seconds): best.pt and last.pt."""
    return train_tiny(tiny_corpus, tmp_path_factory.mktemp("runs") / "tiny", "--epochs", "6")


@pytest.fixture(scope="session")
def tiny_bundle(tiny_run, tmp_path_factory) -> Path:
    """The tiny model exported (fp32) to assets/en-de inside a temp folder."""
    from export.__main__ import main

    out = tmp_path_factory.mktemp("assets") / "en-de"
    assert main([str(tiny_run / "best.pt"), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def app_bundle_dir(tiny_bundle) -> Path:
    """A folder holding one bundle (its name is the pair) for app tests; TEST_BUNDLE overrides it."""
    override = os.environ.get("TEST_BUNDLE")
    return Path(override) if override else tiny_bundle


@pytest.fixture
def bundle_copy(tiny_bundle, tmp_path) -> Path:
    """A private copy of the tiny bundle that a test may damage."""
    target = tmp_path / "en-de"
    shutil.copytree(tiny_bundle, target)
    return target


# Whole modules that start browsers, several processes, or re-export the shipped bundles. CI runs them all;
# `python -m pytest -m "not slow"` leaves them out for a quick run while editing.
SLOW_MODULES = {"test_browser.py", "test_heatmap_browser.py", "test_distributed.py", "test_shipped_models.py"}


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.name in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
