"""The beam-search tree: its finished leaves are the n-best list, its B per depth is the decoder call's batch,
and recording it changes nothing the search returns."""

from __future__ import annotations

import numpy as np
import pytest
from schema import validate_translation
from test_decoding import toy_step

from inference import Translator
from inference.decoding import BeamTree, beam_search_batch
from inference.document import translation_json


def _prefix(tree: BeamTree, node: tuple[int, int]) -> list[int]:
    depth, index = node
    ids = []
    while depth >= 0:
        ids.append(int(tree.token[depth][index]))
        index = int(tree.parent[depth][index])
        depth -= 1
    return ids[::-1]


@pytest.mark.parametrize(("seed", "beam_size", "max_len", "alpha"), [(0, 3, 6, 0.6), (1, 4, 3, 0.0), (2, 2, 8, 1.0)])
def test_the_trees_ranked_leaves_are_the_nbest_and_recording_changes_nothing(seed, beam_size, max_len, alpha):
    vocab, bos, eos = 7, 0, 1
    step = toy_step(vocab, seed)
    hidden = np.zeros((1, vocab))
    plain = beam_search_batch(step, hidden, bos, eos, max_len, beam_size, alpha, n_best=beam_size)[0]
    trees: list[BeamTree] = []
    recorded = beam_search_batch(step, hidden, bos, eos, max_len, beam_size, alpha, n_best=beam_size, trees=trees)[0]
    assert [(h.ids, h.score, h.normalized_score) for h in recorded] == [
        (h.ids, h.score, h.normalized_score) for h in plain
    ]
    (tree,) = trees
    assert len(tree.nbest) == len(recorded)
    for node, hyp in zip(tree.nbest, recorded):
        depth, index = node
        assert _prefix(tree, node) == hyp.ids
        assert abs(tree.score[depth][index] - hyp.score) <= 1e-9
        assert tree.status[depth][index] == (BeamTree.ENDED if hyp.finished else BeamTree.KEPT)
    for depth in range(1, len(tree.batch)):  # B of a call = the prefixes kept at the depth before it
        assert tree.batch[depth] == int(np.sum(tree.status[depth - 1] == BeamTree.KEPT))
        assert np.all((tree.parent[depth] >= 0) & (tree.status[depth - 1][tree.parent[depth]] == BeamTree.KEPT))
    assert tree.batch[0] == 1 and np.all(tree.parent[0] == -1)


def test_a_search_hitting_max_len_ends_its_live_prefixes_in_the_tree():
    vocab, eos = 7, 1
    trees: list[BeamTree] = []
    hyps = beam_search_batch(toy_step(vocab, 1), np.zeros((1, vocab)), 0, eos, 2, 3, 0.0, n_best=3, trees=trees)[0]
    assert trees[0].unfinished and any(not h.finished for h in hyps)


@pytest.fixture(scope="module")
def shipped():
    from conftest import ROOT

    return Translator(ROOT / "assets" / "en-de")


@pytest.mark.parametrize("beam_size", [2, 5])
def test_the_translation_jsons_beam_tree_matches_nbest_and_step_calls(shipped, beam_size):
    text = "The dog bites the man."
    result = shipped.translate(text, beam_size=beam_size, n_best=beam_size)
    doc = validate_translation(translation_json(result, "en-de", text, shipped.config))
    tree = doc["beam_tree"]
    assert [depth["batch"] for depth in tree["depths"]] == [call["batch"] for call in doc["step_calls"]]
    leaves = {}
    for d, depth in enumerate(tree["depths"]):
        for i, node in enumerate(depth["nodes"]):
            if node["nbest"] is not None:
                assert node["status"] in ("ended", "max_len")
                leaves[node["nbest"]] = (d, i)
    assert sorted(leaves) == list(range(len(doc["nbest"])))
    for rank, hyp in enumerate(doc["nbest"]):
        d, i = leaves[rank]
        node, ids = tree["depths"][d]["nodes"][i], []
        for depth in range(d, -1, -1):
            ids.append(tree["depths"][depth]["nodes"][i]["id"])
            i = tree["depths"][depth]["nodes"][i]["parent"]
        assert ids[::-1] == hyp["target_ids"]
        assert abs(node["score"] - hyp["score"]) <= 1e-5
        assert abs(node["normalized_score"] - hyp["normalized_score"]) <= 1e-5


def test_greedy_has_no_tree(shipped):
    result = shipped.translate("The dog bites the man.")
    assert result.beam_tree is None and "beam_tree" not in translation_json(result, "en-de", "x", shipped.config)


def test_a_search_cut_at_max_len_ranks_its_live_prefixes_as_max_len_leaves(shipped):
    text = "Two children are playing football in the park."
    result = shipped.translate(text, beam_size=3, n_best=3, max_len=3)
    doc = validate_translation(translation_json(result, "en-de", text, shipped.config))
    last = doc["beam_tree"]["depths"][-1]["nodes"]
    ranked = sorted((node["nbest"], node) for node in last if node["nbest"] is not None)
    assert len(doc["beam_tree"]["depths"]) == 3 and not any(h["finished"] for h in doc["nbest"])
    assert [node["status"] for _, node in ranked] == ["max_len"] * 3
    assert [node["score"] for _, node in ranked] == pytest.approx([h["score"] for h in doc["nbest"]], abs=1e-5)
