"""The names test: held-out sentences whose first name is swapped for one no training sentence contains.

    python -m evaluate assets/en-de --names ../shared/data/tatoeba/en-de

From the folder's --split (test by default), every pair whose source and reference share a name of
`training/names/replace.txt` (Tom, Mary, ...) gets that name replaced, on both sides, by the next name of
`evaluate/names/test.txt`: first names of 55 locales from Faker (MIT licence, github.com/joke2k/faker),
each found in no training sentence of Multi30k or Tatoeba, in any language, and none in the substitution
pool training draws from. The score is the share of translations that contain the name verbatim, as a
whole word ("copied"), beside the usual BLEU against the substituted references. No sentence is stored in
the repository; only the name list is.
"""

from __future__ import annotations

import re
from pathlib import Path

from training.corpus import Pair
from training.names import REPLACE_FILE, WORD, read_names, replace_name

TEST_NAMES_FILE = Path(__file__).resolve().parent / "names" / "test.txt"
CREDIT = "Names test: first names from Faker (MIT licence, github.com/joke2k/faker), none of them in the training data."


def read_test_names(path: Path = TEST_NAMES_FILE) -> list[tuple[str, str]]:
    """[(name, Faker locale)] in file order."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, locale = line.partition("\t")
            rows.append((name.strip(), locale.strip()))
    return rows


def names_pairs(pairs: list[Pair], names: list[str], limit: int | None = None) -> tuple[list[Pair], list[str]]:
    """(pairs with one training name swapped for a test name on both sides, the name each must keep).

    A pair qualifies when exactly one listed name occurs in both its source and its reference; the test names
    are used in turn, so every one of them appears.
    """
    replace = set(read_names(REPLACE_FILE))
    out, kept = [], []
    for pair in pairs:
        shared = [w for w in dict.fromkeys(WORD.findall(pair.src)) if w in replace and w in WORD.findall(pair.tgt)]
        if len(shared) != 1:
            continue
        new = names[len(out) % len(names)]
        out.append(Pair(replace_name(pair.src, shared[0], new), replace_name(pair.tgt, shared[0], new)))
        kept.append(new)
        if limit is not None and len(out) >= limit:
            break
    return out, kept


def copied(hypothesis: str, name: str) -> bool:
    """The name appears in the translation as a whole word, spelled exactly as in the source."""
    return re.search(rf"(?<![^\W\d_]){re.escape(name)}(?![^\W\d_])", hypothesis) is not None


def copy_rate(hypotheses: list[str], names: list[str]) -> float:
    return round(100.0 * sum(copied(h, n) for h, n in zip(hypotheses, names)) / max(len(names), 1), 1)
