"""The names test, the everyday check and name substitution: lists disjoint, files well-formed, both sides swapped."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from evaluate.everyday import TOPICS, everyday_pairs, read_everyday
from evaluate.names import copied, copy_rate, names_pairs, read_test_names
from training.corpus import Pair
from training.names import POOL_FILE, REPLACE_FILE, read_names, substitute_names

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_test_names_disjoint_from_substitution_lists():
    test = {name.lower() for name, _ in read_test_names()}
    assert len(test) >= 200 and len({loc for _, loc in read_test_names()}) >= 30
    assert not test & {n.lower() for n in read_names(POOL_FILE)}
    assert not test & {n.lower() for n in read_names(REPLACE_FILE)}


def test_test_names_absent_from_training_data():
    folders = [DATA / "multi30k", DATA / "tatoeba" / "en-de", DATA / "tatoeba" / "en-fr"]
    if not all((f / "train.jsonl").is_file() for f in folders):
        import pytest

        pytest.skip("shared training data not here")
    from training.names import WORD

    test = {name.lower() for name, _ in read_test_names()}
    for folder in folders:
        for line in (folder / "train.jsonl").read_text(encoding="utf-8").splitlines():
            for text in json.loads(line).values():
                assert not test & {w.lower() for w in WORD.findall(text)}, text


def test_everyday_file_well_formed():
    rows = read_everyday()
    assert 95 <= len(rows) <= 120
    assert {row["topic"] for row in rows} == set(TOPICS)
    for src, tgt in (("en", "de"), ("de", "en"), ("en", "fr"), ("fr", "en")):
        pairs = everyday_pairs(src, tgt)
        assert len(pairs) == len(rows) and all(p.src.strip() and p.tgt.strip() for p in pairs)
        assert len({p.src for p in pairs}) == len(pairs)  # one reference per source


def test_substitution_replaces_both_sides_consistently():
    pairs = [Pair("Tom met Mary. Tom's dog", "Tom traf Mary. Toms Hund"), Pair("A cat.", "Eine Katze.")]
    out, report = substitute_names(pairs, ["Tom", "Mary"], ["Zelda"], 1.0, seed=0)
    assert out[0] == Pair("Zelda met Zelda. Zelda's dog", "Zelda traf Zelda. Toms Hund")
    assert out[1] == pairs[1] and report["pairs_changed"] == 1
    unchanged, _ = substitute_names(pairs, ["Tom"], ["Zelda"], 0.0, seed=0)
    assert unchanged == pairs


def test_bpe_dropout_splits_training_words_and_leaves_the_tokenizer_alone():
    from tokenizers import Tokenizer

    from training.errors import DataError
    from training.sources import with_bpe_dropout

    tokenizer = Tokenizer.from_file(str(Path(__file__).resolve().parents[1] / "assets" / "en-de" / "tokenizer.json"))
    text = "Elisabeth and Stanisław went to the market yesterday with their grandmother."
    full = tokenizer.encode(text, add_special_tokens=False)
    assert with_bpe_dropout(tokenizer, 0.0) is tokenizer
    dropped = with_bpe_dropout(tokenizer, 0.5)
    pieces = [dropped.encode(text, add_special_tokens=False) for _ in range(20)]
    assert all(p.ids != full.ids for p in pieces) and len({tuple(p.ids) for p in pieces}) > 1
    # every split still spells the same text, and the original keeps every merge
    assert all(dropped.decode(p.ids) == tokenizer.decode(full.ids) for p in pieces)
    assert tokenizer.encode(text, add_special_tokens=False).ids == full.ids
    for bad in (1.0, -0.1):
        with pytest.raises(DataError, match="between 0 and 1"):
            with_bpe_dropout(tokenizer, bad)


def test_names_pairs_and_copy_rate():
    pairs = [Pair("Tom is here.", "Tom ist hier."), Pair("No one.", "Niemand."), Pair("Tom and Mary.", "Tom und Mary.")]
    out, kept = names_pairs(pairs, ["Nomcebo"])
    assert out == [Pair("Nomcebo is here.", "Nomcebo ist hier.")] and kept == ["Nomcebo"]
    assert copied("Nomcebo ist da.", "Nomcebo") and not copied("Nomcebos Hund", "Nomcebo")
    assert copy_rate(["Nomcebo ist da.", "Er ist da."], ["Nomcebo", "Nomcebo"]) == 50.0


def test_evaluate_names_and_everyday_fields(tmp_path):
    bundle = Path(__file__).resolve().parents[1] / "assets" / "de-en"
    folder = tmp_path / "set"
    folder.mkdir()
    rows = [{"en": "Tom is tired.", "de": "Tom ist müde."}, {"en": "Tom sleeps.", "de": "Tom schläft."}]
    for split in ("train", "validation", "test"):
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    work = tmp_path / "de-en"
    subprocess.run(["cp", "-r", str(bundle), str(work)], check=True)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "evaluate",
            str(work),
            "--data-dir",
            str(folder),
            "--names",
            str(folder),
            "--everyday",
            "--beams",
            "1",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "names copied" in done.stdout
    test_sets = json.loads((work / "evaluation.json").read_text())["test_sets"]
    names = test_sets["names/set/test"]
    assert names["sentences"] == 2 and 0 <= names["greedy"]["names_copied"] <= 100
    assert test_sets["everyday"]["sentences"] == len(read_everyday()) and "sacrebleu" in test_sets["everyday"]["greedy"]
