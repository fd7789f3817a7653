"""The everyday check: 100 short sentences a visitor types first, with references written for this project.

    python -m evaluate assets/en-de --everyday

`evaluate/everyday/everyday.jsonl` has one object per line: `topic` (greeting, introduction, directions,
shopping, time, food, smalltalk) and the same sentence in `en`, `de` and `fr`, all written by us (none
copied from a dataset; MIT like the code). Every direction (en-de, de-en, en-fr, fr-en) reads its source
and its one reference from the two columns, and is scored like a test set ("everyday" in evaluation.json).
"""

from __future__ import annotations

import json
from pathlib import Path

from training.corpus import Pair

EVERYDAY_FILE = Path(__file__).resolve().parent / "everyday" / "everyday.jsonl"
TOPICS = ("greeting", "introduction", "directions", "shopping", "time", "food", "smalltalk")


def read_everyday(path: Path = EVERYDAY_FILE) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def everyday_pairs(src: str, tgt: str, path: Path = EVERYDAY_FILE) -> list[Pair]:
    """The sentences as (source, reference) pairs of one direction."""
    rows = read_everyday(path)
    if rows and (src not in rows[0] or tgt not in rows[0]):
        raise KeyError(f"the everyday check has no {src!r} or {tgt!r} column; it has {', '.join(rows[0])}")
    return [Pair(row[src], row[tgt]) for row in rows]
