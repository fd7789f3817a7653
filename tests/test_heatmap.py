"""app_heatmap: the word rule against hand-computed numbers, the payload, and share-link validation."""
from __future__ import annotations

import numpy as np
import pytest

import app_heatmap as hm

SOURCE = ["▁A", "▁dog", "'s", "▁o", "w", "ner", "▁runs", ",", "▁does", "n", "'", "t", "?", "</s>"]


def test_word_groups_join_pieces_and_keep_split_punctuation_alone():
    assert hm.word_groups(SOURCE) == [[0], [1, 2], [3, 4, 5], [6], [7], [8, 9], [10], [11], [12], [13]]
    assert hm.word_labels(SOURCE, hm.word_groups(SOURCE)) == ["A", "dog's", "owner", "runs", ",", "doesn", "'", "t",
                                                                "?", "</s>"]
    # A first piece without the mark still starts a word; a special token never joins one.
    assert hm.word_groups(["ab", "c", "</s>", "d"]) == [[0, 1], [2], [3]]
    assert hm.word_groups(["▁a", "▁.", "b"]) == [[0], [1], [2]]
    assert hm.word_groups([]) == []
    bare = ["▁", "<", "b", ">", "▁dog"]  # how the tokenizer splits "<b>dog": the bare mark keeps its label
    assert hm.word_groups(bare) == [[0], [1], [2], [3], [4]]
    assert hm.word_labels(bare, hm.word_groups(bare)) == ["▁", "<", "b", ">", "dog"]


def test_merge_sums_source_columns_and_averages_target_rows():
    source = ["▁Ho", "use", ".", "</s>"]  # words: "House" = cols 0+1, "." = col 2, "</s>" = col 3
    target = ["▁Ha", "us", ".", "</s>"]  # words: "Haus" = rows 0,1 averaged
    attention = [[0.5, 0.3, 0.1, 0.1],
                 [0.1, 0.7, 0.2, 0.0],
                 [0.0, 0.2, 0.6, 0.2],
                 [0.1, 0.1, 0.1, 0.7]]
    merged = hm.merge_attention(attention, hm.word_groups(source), hm.word_groups(target))
    # Row "Haus": columns summed per row -> [0.8, 0.1, 0.1] and [0.8, 0.2, 0.0]; their mean -> [0.8, 0.15, 0.05].
    expected = [[0.8, 0.15, 0.05],
                [0.2, 0.6, 0.2],
                [0.2, 0.1, 0.7]]
    np.testing.assert_allclose(merged, expected, atol=1e-12)
    np.testing.assert_allclose(merged.sum(axis=1), 1.0)  # rows of a softmax stay distributions
    assert hm.word_labels(target, hm.word_groups(target)) == ["Haus", ".", "</s>"]


def _state(mode="greedy", steps=3):
    attention = np.full((steps, 4), 0.25).tolist()
    result = {"source_tokens": ["▁a", "b", ".", "</s>"], "target_tokens": [f"▁t{i}" for i in range(steps)],
              "attention": attention, "token_probs": [0.5] * steps,
              "alternatives": [[("▁x", 0.5), ("▁y", 0.25)] for _ in range(steps)],
              "decoding": {"mode": mode, "beam_size": 4 if mode == "beam" else 1,
                           "length_penalty": 1.2 if mode == "beam" else 0.0}}
    return {"pair": "en-de", "text": "a b.", "max_len": 7, "forced": 1, "result": result}


def test_heatmap_value_carries_the_data_the_page_needs():
    value = hm.heatmap_value(_state(), step=9, words=True)
    assert value["step"] == 2 and value["words"] is True and value["forced"] == 1  # step clamped to the last one
    assert value["source_tokens"] == ["▁a", "b", ".", "</s>"] and len(value["attention"]) == 3
    assert value["alternatives"][0] == [["▁x", 0.5], ["▁y", 0.25]]
    assert value["share"] == {"pair": "en-de", "text": "a b.", "mode": "greedy", "max_len": 7}
    beam = hm.heatmap_value(_state("beam"))["share"]
    assert beam["mode"] == "beam" and beam["beam"] == 4 and beam["penalty"] == 1.2
    assert hm.heatmap_value(None) is None
    assert hm.heatmap_value(_state())["key"] != hm.heatmap_value(_state())["key"]  # each render is new to the page


def test_component_brings_its_script_and_style():
    head = hm.heatmap_head()
    assert head.startswith("<style>") and head.count("</script>") == 2
    assert head.index("window.BmmHeatmapRule =") < head.index("window.BmmHeatmap =")  # the rule loads first
    component = hm.heatmap_component(step_elem_id="my-step")
    assert component.js_on_load.startswith("window.BmmHeatmap.mount") and component.props["step_elem_id"] == "my-step"
    assert component.props["rule_text"] == hm.RULE_TEXT and "sum" in hm.RULE_TEXT and "mean" in hm.RULE_TEXT


PAIRS = ["en-de", "de-en"]
GOOD = {"pair": "de-en", "text": "Ein Hund rennt.", "mode": "beam", "beam": "4", "penalty": "1.5", "max_len": "40",
        "step": "3", "words": "1"}


def test_state_from_query_accepts_a_full_link():
    assert hm.state_from_query(GOOD, PAIRS) == {
        "pair": "de-en", "text": "Ein Hund rennt.", "mode": "beam search", "beam_size": 4, "length_penalty": 1.5,
        "max_len": 40, "step": 3, "words": True, "messages": []}
    assert hm.state_from_query({}, PAIRS) == {"messages": []}
    assert hm.state_from_query({"view": "api", "__theme": "dark"}, PAIRS) == {"messages": []}  # not ours: left alone


@pytest.mark.parametrize("key, value, why", [
    ("pair", "xx-yy", "not one of en-de, de-en"),
    ("pair", "", "not one of"),
    ("text", "x" * 301, "1 to 300 characters"),
    ("text", "   ", "1 to 300 characters"),
    ("text", "A dog\x00 runs", "control characters"),
    ("text", "A dog\u202e runs", "control characters"),
    ("mode", "sampling", "greedy or beam"),
    ("beam", "1", "from 2 to 10"),
    ("beam", "11", "from 2 to 10"),
    ("beam", "4.5", "whole number"),
    ("beam", "-3", "whole number"),
    ("beam", "٣", "whole number"),  # an Arabic-Indic digit is a digit to int(), not to a link
    ("penalty", "nan", "from 0 to 3"),
    ("penalty", "inf", "from 0 to 3"),
    ("penalty", "3.5", "from 0 to 3"),
    ("penalty", "1e0", "from 0 to 3"),
    ("max_len", "201", "from 0 to 200"),
    ("max_len", "99999999999999999999", "from 0 to 200"),
    ("step", "-1", "from 0 to 400"),
    ("step", "abc", "from 0 to 400"),
    ("words", "yes", "0 or 1"),
    ("text", ["a", "b"], "1 to 300"),
    ("step", "1" * 5000, "from 0 to 400"),
])
def test_state_from_query_ignores_a_bad_value_with_one_line_saying_why(key, value, why):
    state = hm.state_from_query({**GOOD, key: value}, PAIRS)
    field = {"beam": "beam_size", "penalty": "length_penalty"}.get(key, key)
    assert field not in state  # the bad value is dropped ...
    assert len(state["messages"]) == 1 and state["messages"][0].startswith(f"Ignored {key}=")
    assert why in state["messages"][0] and "\n" not in state["messages"][0] and len(state["messages"][0]) < 200
    kept = {k: v for k, v in hm.state_from_query(GOOD, PAIRS).items() if k not in (field, "messages")}
    assert {k: v for k, v in state.items() if k not in ("messages",)} == kept  # ... and only that one


@pytest.mark.parametrize("value, expected", [("0", 0.0), ("3", 3.0), ("0.75", 0.75), ("1.5", 1.5)])
def test_state_from_query_penalty_bounds_are_inclusive(value, expected):
    assert hm.state_from_query({"penalty": value}, PAIRS)["length_penalty"] == expected


NODE_SCRIPT = """
globalThis.window = globalThis;
require(process.argv[1]);
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const R = window.BmmHeatmapRule;
console.log(JSON.stringify(cases.map(([src, tgt, att]) => {
  const sg = R.wordGroups(src), tg = R.wordGroups(tgt);
  return [sg, R.wordLabels(src, sg), R.wordLabels(tgt, tg), R.mergeAttention(att, sg, tg)];
})));
"""


def test_the_page_applies_the_same_word_rule(tmp_path):
    """static/heatmap_rule.js under Node against the Python rule, on random pieces of every kind."""
    import json
    import os
    import random
    import shutil
    import subprocess

    node = shutil.which("node")
    if not node:
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail("node is not installed (apt-get install -y nodejs); it runs the page's word rule")
        pytest.skip("node is not installed")
    rng = random.Random(0)
    kinds = ["▁dog", "s", "'s", ",", "▁.", "?!", "▁", "</s>", "<unk>", "▁Über", "ß", "€", "▁$", "{", "n", "ab"]
    cases = []
    for _ in range(40):
        src = [rng.choice(kinds) for _ in range(rng.randint(1, 9))]
        tgt = [rng.choice(kinds) for _ in range(rng.randint(1, 7))]
        att = np.random.default_rng(rng.randint(0, 99)).dirichlet(np.ones(len(src)), size=len(tgt)).tolist()
        cases.append([src, tgt, att])
    done = subprocess.run([node, "-e", NODE_SCRIPT, str(hm.STATIC / "heatmap_rule.js")], input=json.dumps(cases),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for (src, tgt, att), (groups, src_labels, tgt_labels, merged) in zip(cases, json.loads(done.stdout)):
        assert groups == hm.word_groups(src), src
        assert src_labels == hm.word_labels(src, hm.word_groups(src))
        assert tgt_labels == hm.word_labels(tgt, hm.word_groups(tgt))
        np.testing.assert_allclose(merged, hm.merge_attention(att, hm.word_groups(src), hm.word_groups(tgt)), atol=1e-12)
