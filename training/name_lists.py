"""Rebuild the name lists of name substitution and the names test from Faker and the training data.

    python -m training.name_lists --data-dir ../shared/data/multi30k \
        --data-dir ../shared/data/tatoeba/en-de --data-dir ../shared/data/tatoeba/en-fr

First names come from Faker's person providers (MIT licence, https://github.com/joke2k/faker), every
locale whose names are written in the Latin letters our tokenizers cover. Each name goes by a hash of
itself to the test side or the training side. The test list (`evaluate/names/test.txt`, name and locale)
keeps only names that occur in no training sentence of any folder given, in any language column, and takes
a few per locale so many origins are covered. The substitution pool (`training/names/pool.txt`) is every
other name plus blends of two pool names, minus anything on the test list. `training/names/replace.txt`
lists the names that training pairs share on both sides (Tom, Mary, ...), found in the data. Needs faker.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
from collections import Counter
from pathlib import Path

from training.data import LATIN_ALPHABET
from training.names import POOL_FILE, REPLACE_FILE, WORD

TEST_FILE = Path(__file__).resolve().parent.parent / "evaluate" / "names" / "test.txt"
LETTERS = {c for c in LATIN_ALPHABET if c.isalpha()}
NAME = re.compile(r"^[^\W\d_]{3,12}$")
PER_LOCALE = 6
BLENDS = 4000
# Faker lists these as first names, but in the training sentences they are places, months or surnames.
NOT_FIRST_NAMES = {
    "April",
    "Atlanta",
    "August",
    "Bali",
    "Darwin",
    "Edison",
    "Elmo",
    "France",
    "Georgia",
    "Israel",
    "Jackson",
    "Jefferson",
    "Jesus",
    "Kennedy",
    "Kobe",
    "Lincoln",
    "Madison",
    "Milton",
    "Paris",
    "Phoenix",
    "Reagan",
    "Saddam",
    "Smith",
    "Sydney",
    "Washington",
    "Wilson",
}


def faker_first_names() -> dict[str, str]:
    """{name: the first locale that lists it}, Latin-letter single words only."""
    from faker import Faker
    from faker.config import AVAILABLE_LOCALES

    names: dict[str, str] = {}
    for locale in sorted(AVAILABLE_LOCALES):
        try:
            fake = Faker(locale)
        except AttributeError:
            continue
        for provider in fake.providers:
            if "person" not in type(provider).__module__:
                continue
            for attribute in ("first_names", "first_names_female", "first_names_male"):
                for name in getattr(provider, attribute, ()) or ():
                    name = str(name).strip()
                    if NAME.match(name) and name[0].isupper() and name[1:].islower() and set(name) <= LETTERS:
                        names.setdefault(name, locale)
    return names


def corpus_words(folders: list[str]) -> tuple[set[str], Counter, Counter]:
    """Every word of every training sentence (lowercased), and per word: pairs sharing it capitalised, and
    its lowercase count."""
    seen, shared, lower = set(), Counter(), Counter()
    for folder in folders:
        for line in (Path(folder) / "train.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            sides = [set(WORD.findall(text)) for text in row.values() if isinstance(text, str)]
            for words in sides:
                seen.update(w.lower() for w in words)
                lower.update(w for w in words if w.islower())
            if len(sides) >= 2:
                common = set.intersection(*sides[:2])
                shared.update(w for w in common if w[:1].isupper() and w[1:].islower())
    return seen, shared, lower


def test_side(name: str) -> bool:
    return int(hashlib.sha256(name.lower().encode()).hexdigest(), 16) % 4 == 0


def build(folders: list[str], seed: int = 0) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    names = faker_first_names()
    seen, shared, lower = corpus_words(folders)
    by_locale: dict[str, list[str]] = {}
    for name, locale in sorted(names.items()):
        if test_side(name) and name.lower() not in seen:
            by_locale.setdefault(locale, []).append(name)
    rng = random.Random(seed)
    test = []
    for locale, candidates in sorted(by_locale.items()):
        rng.shuffle(candidates)
        test += [(name, locale) for name in sorted(candidates[:PER_LOCALE])]
    test_names = {name.lower() for name, _ in test}
    banned = test_names | {n.lower() for n in names if test_side(n)}
    pool = sorted(n for n in names if n.lower() not in banned)
    blends = set()
    while len(blends) < BLENDS:
        a, b = rng.sample(pool, 2)
        blend = (a[: max(2, len(a) // 2)] + b[len(b) // 2 :]).capitalize()
        if NAME.match(blend) and blend.lower() not in banned and blend not in pool:
            blends.add(blend)
    pool = sorted(set(pool) | blends)
    known = set(names) | {"Tom", "Mary", "John", "Alice", "Ken", "Jack", "Jim", "Mike", "Tony", "Lucy", "Taro"}
    replace = sorted(
        n
        for n in known
        if n not in NOT_FIRST_NAMES
        and shared[n] >= 3
        and lower[n.lower()] * 20 <= shared[n]
        and n.lower() not in test_names
    )
    return test, pool, replace


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.name_lists", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data-dir",
        dest="data_dirs",
        action="append",
        required=True,
        help="a training data folder (train.jsonl); repeat for every training set",
    )
    args = parser.parse_args(argv)
    test, pool, replace = build(args.data_dirs)
    source = "# first names from Faker (MIT licence, github.com/joke2k/faker); made by python -m training.name_lists\n"
    TEST_FILE.parent.mkdir(parents=True, exist_ok=True)
    TEST_FILE.write_text(source + "".join(f"{n}\t{loc}\n" for n, loc in test), encoding="utf-8")
    POOL_FILE.write_text(source + "".join(f"{n}\n" for n in pool), encoding="utf-8")
    REPLACE_FILE.write_text(
        "# names training pairs share on both sides; made by python -m training.name_lists\n"
        + "".join(f"{n}\n" for n in replace),
        encoding="utf-8",
    )
    print(
        f"test {len(test)} names from {len({loc for _, loc in test})} locales, pool {len(pool)}, replace {len(replace)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
