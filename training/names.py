"""Name substitution: teach the model to copy first names it has never seen (torch-free).

Tatoeba is mostly about Tom and Mary, so a model learns those two names and mangles others
("Anna" -> "ein bisschen"). With `--name-substitution P`, each training pair in which a listed name
(`training/names/replace.txt`: Tom, Mary and the other first names both sides of the training data
share) appears verbatim on both sides gets, with probability P, every occurrence of that name replaced on
both sides by one name drawn from `training/names/pool.txt` (first names of many origins from Faker, plus
blends of them). The pool is disjoint from the names test's list (`evaluate/names/test.txt`), so the
test measures copying, not memory. `python -m training.name_lists` rebuilds all three lists.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from training.corpus import Pair

NAMES_DIR = Path(__file__).resolve().parent / "names"
REPLACE_FILE = NAMES_DIR / "replace.txt"
POOL_FILE = NAMES_DIR / "pool.txt"
WORD = re.compile(r"[^\W\d_]+")


def read_names(path: Path) -> list[str]:
    """One name per line (a tab and anything after it is a note); '#' lines are comments."""
    names = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        name = line.split("\t")[0].strip()
        if name and not name.startswith("#"):
            names.append(name)
    return names


def names_in(text: str, names: set[str]) -> list[str]:
    """The listed names that occur in text as whole words, in order of first appearance."""
    found = []
    for word in WORD.findall(text):
        if word in names and word not in found:
            found.append(word)
    return found


def replace_name(text: str, old: str, new: str) -> str:
    """Every whole-word occurrence of old replaced by new ("Tom's" -> "Anna's", "Tomás" untouched)."""
    return re.sub(rf"(?<![^\W\d_]){re.escape(old)}(?![^\W\d_])", new, text)


def substitute_names(
    pairs: list[Pair], replace: list[str], pool: list[str], probability: float, seed: int
) -> tuple[list[Pair], dict]:
    """The pairs with names swapped as the module docstring says, and counts for the run's report.

    Deterministic for a seed, so `--resume` sees the same sentences.
    """
    rng = random.Random(seed)
    replace_set = set(replace)
    out, changed, candidates, used = [], 0, 0, set()
    for pair in pairs:
        shared = [name for name in names_in(pair.src, replace_set) if name in set(WORD.findall(pair.tgt))]
        if shared:
            candidates += 1
        src, tgt, swapped = pair.src, pair.tgt, False
        for name in shared:
            if rng.random() >= probability:
                continue
            new = rng.choice(pool)
            src, tgt, swapped = replace_name(src, name, new), replace_name(tgt, name, new), True
            used.add(new)
        changed += swapped
        out.append(Pair(src, tgt) if swapped else pair)
    report = {
        "probability": probability,
        "pairs_with_names": candidates,
        "pairs_changed": changed,
        "distinct_new_names": len(used),
        "pool_size": len(pool),
    }
    return out, report
