"""The example sentences are our own writing: none is copied from a dataset the models were trained or tested on."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT

from inference.examples import EXAMPLES
from page.batch_tab import EXAMPLES as BATCH_EXAMPLES

DATA = ROOT.parent / "shared" / "data"


def dataset_sentences() -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for path in DATA.rglob("*.jsonl"):
        with open(path, encoding="utf-8") as f:
            for line in f:
                for language, text in json.loads(line).items():
                    seen.setdefault(language, set()).add(text.strip().casefold())
    return seen


@pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data (Multi30k and Tatoeba)")
def test_examples_are_not_taken_from_any_dataset():
    seen = dataset_sentences()
    assert {"en", "de", "fr"} <= set(seen)
    for examples in (EXAMPLES, BATCH_EXAMPLES):
        for language, sentences in examples.items():
            copied = [s for s in sentences if s.strip().casefold() in seen[language]]
            assert not copied, f"{language} examples found in a dataset: {copied}"


def test_every_source_language_has_captions_and_everyday_sentences():
    everyday = {"en": "museum", "de": "Museum", "fr": "musée"}  # one everyday sentence each, as a marker
    for language, word in everyday.items():
        assert any(word in s for s in EXAMPLES[language]) and len(EXAMPLES[language]) >= 10
        assert language in BATCH_EXAMPLES and 2 <= len(BATCH_EXAMPLES[language]) <= 8
