"""page.heatmap and page.share: the word rule against hand-computed numbers, the payload (the translation JSON,
checked against its schema on real greedy and beam results), and share-link validation."""

from __future__ import annotations

import jsonschema
import numpy as np
import pytest

import page.heatmap as hm
from inference import Translator
from inference.document import load_schema
from inference.translator import StepCall, Translation
from page.share import state_from_query
from page.state import Shown

SOURCE = ["▁A", "▁dog", "'s", "▁o", "w", "ner", "▁runs", ",", "▁does", "n", "'", "t", "?", "</s>"]


def test_word_groups_join_pieces_and_keep_split_punctuation_alone():
    assert hm.word_groups(SOURCE) == [[0], [1, 2], [3, 4, 5], [6], [7], [8, 9], [10], [11], [12], [13]]
    assert hm.word_labels(SOURCE, hm.word_groups(SOURCE)) == [
        "A",
        "dog's",
        "owner",
        "runs",
        ",",
        "doesn",
        "'",
        "t",
        "?",
        "</s>",
    ]
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
    attention = [[0.5, 0.3, 0.1, 0.1], [0.1, 0.7, 0.2, 0.0], [0.0, 0.2, 0.6, 0.2], [0.1, 0.1, 0.1, 0.7]]
    merged = hm.merge_attention(attention, hm.word_groups(source), hm.word_groups(target))
    # Row "Haus": columns summed per row -> [0.8, 0.1, 0.1] and [0.8, 0.2, 0.0]; their mean -> [0.8, 0.15, 0.05].
    expected = [[0.8, 0.15, 0.05], [0.2, 0.6, 0.2], [0.2, 0.1, 0.7]]
    np.testing.assert_allclose(merged, expected, atol=1e-12)
    np.testing.assert_allclose(merged.sum(axis=1), 1.0)  # rows of a softmax stay distributions
    assert hm.word_labels(target, hm.word_groups(target)) == ["Haus", ".", "</s>"]


def _shown(mode="greedy", steps=3, hypotheses=1):
    """A Shown of a made-up translation: 4 source tokens, `steps` target tokens, its first target token forced."""
    attention = np.full((steps, 4), 0.25).tolist()

    def hypothesis(k):
        return Translation(
            text=f"t{k}",
            source_tokens=["▁a", "b", ".", "</s>"],
            source_ids=[5, 6, 7, 2],
            target_tokens=[f"▁t{k}{i}" for i in range(steps)],
            target_ids=[10 + k + i for i in range(steps)],
            attention=attention,
            token_probs=[0.5] * steps,
            alternatives=[[("▁x", 0.5), ("▁y", 0.25)] for _ in range(steps)],
            alternative_ids=[[8, 9] for _ in range(steps)],
            score=-1.0 - k,
            normalized_score=-0.5 - k,
            finished=True,
            call_rows=[k] * steps,
            step_calls=calls,
        )

    batch = hypotheses if mode == "beam" else 1
    calls = [StepCall(batch, np.full((batch, 4), 0.25, dtype=np.float32)) for _ in range(steps)]
    best = hypothesis(0)
    best.nbest = [hypothesis(k) for k in range(hypotheses)] if mode == "beam" else []
    best.timing_ms = {"encode": 1.0, "decode": 2.0, "total": 3.0}
    best.decoding = {
        "mode": mode,
        "beam_size": 4 if mode == "beam" else 1,
        "length_penalty": 1.2 if mode == "beam" else 0.0,
        "max_len": 7,
        "prefix_ids": [10] if mode != "beam" else [],
    }
    return Shown("en-de", "a b.", 7, best, {"attention": "dot", "hidden_dim": 3})


def test_heatmap_value_carries_the_data_the_page_needs():
    value = hm.heatmap_value(_shown(), step=9, words=True)
    assert value["step"] == 2 and value["words"] is True  # step clamped to the last one
    doc = value["translation"]
    assert doc["decoding"]["prefix_ids"] == [10]  # the page marks step 0 as forced
    assert doc["source_tokens"] == ["▁a", "b", ".", "</s>"] and len(doc["attention"]) == 3
    assert doc["alternatives"][0] == [{"token": "▁x", "id": 8, "prob": 0.5}, {"token": "▁y", "id": 9, "prob": 0.25}]
    # a continued result's link carries its forced prefix, so the link restores this translation
    assert value["share"] == {"pair": "en-de", "text": "a b.", "mode": "greedy", "max_len": 7, "prefix": "10"}
    jsonschema.Draft202012Validator(load_schema()).validate(doc)
    beam = hm.heatmap_value(_shown("beam", hypotheses=2))
    assert beam["share"]["mode"] == "beam" and beam["share"]["beam"] == 4 and beam["share"]["penalty"] == 1.2
    assert beam["translation"]["decoding"]["prefix_ids"] == [] and len(beam["translation"]["nbest"]) == 2
    assert hm.heatmap_value(None) is None
    assert hm.heatmap_value(_shown())["key"] != hm.heatmap_value(_shown())["key"]  # each render is new to the page


def test_heatmap_value_draws_the_hypothesis_on_screen():
    shown = _shown("beam", hypotheses=2)
    second = hm.heatmap_value(shown.showing(1))["translation"]
    assert second["target_tokens"] == ["▁t10", "▁t11", "▁t12"] and second["call_rows"] == [1, 1, 1]
    assert second["nbest"] == hm.heatmap_value(shown)["translation"]["nbest"]  # the whole n-best stays listed
    assert hm.heatmap_value(shown)["translation"]["target_tokens"] == ["▁t00", "▁t01", "▁t02"]


# ---- the heatmap's input is the translation JSON of its schema, on real results ---------------------------
@pytest.fixture(scope="module")
def translator(app_bundle_dir):
    return Translator(app_bundle_dir, device="cpu", threads=1)


def _sentence(translator) -> str:
    for text in ("The small dog runs in the park.", "A dog runs on the beach.", "The man waits."):
        if not isinstance(translator.check_sources([text])[0], Exception):
            return text
    pytest.fail("no test sentence the bundle can read")


@pytest.mark.parametrize("beam_size", [1, 5])
def test_the_heatmaps_input_validates_against_the_schema(translator, beam_size):
    validator = jsonschema.Draft202012Validator(load_schema())
    text = _sentence(translator)
    result = translator.translate(text, beam_size=beam_size, n_best=beam_size, top_k=5)
    shown = Shown(translator.name, text, 0, result, translator.config)
    hypotheses = range(len(result.nbest)) if beam_size > 1 else [0]
    if beam_size > 1:
        assert len(hypotheses) >= 2  # the n-best rows are drawn too: each must be a valid document
    for index in hypotheses:
        value = hm.heatmap_value(shown.showing(index), step=1)
        doc = value["translation"]
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
        hyp = result.hypothesis(index)
        assert doc["target_tokens"] == hyp.target_tokens and doc["call_rows"] == hyp.call_rows
        assert doc["decoding"]["mode"] == ("beam" if beam_size > 1 else "greedy")
        assert doc["decoding"]["beam_size"] == beam_size and len(doc["nbest"]) == len(result.nbest)
        assert len(doc["step_calls"]) >= len(doc["target_tokens"])
        assert all(len(call["attention"]) == call["batch"] for call in doc["step_calls"])
        assert value["step"] == min(1, len(doc["target_tokens"]) - 1)
    broken = dict(hm.heatmap_value(shown)["translation"])
    broken["decoding"] = {k: v for k, v in broken["decoding"].items() if k != "prefix_ids"}
    assert not validator.is_valid(broken)  # the check is not vacuous: the schema requires what the page reads


def test_the_heatmaps_input_with_its_explanation_validates(translator):
    from inference.explain import explanation

    text = _sentence(translator)
    result = translator.translate(text, beam_size=5, n_best=5, top_k=5)
    shown = Shown(translator.name, text, 0, result, translator.config)
    shown.explanation = explanation(translator, text, shown.result)
    doc = hm.heatmap_value(shown)["translation"]
    jsonschema.Draft202012Validator(load_schema()).validate(doc)
    assert np.asarray(doc["explanation"]["occlusion"]["drops"]).shape == np.asarray(doc["attention"]).shape


def test_component_brings_its_script_and_style():
    head = hm.static_head("heatmap.css", "heatmap_rule.js", "heatmap.js")
    assert head.startswith("<style>") and head.count("</script>") == 2
    assert head.index("window.BmmHeatmapRule =") < head.index("window.BmmHeatmap =")  # the rule loads first
    component = hm.heatmap_component(step_elem_id="my-step")
    assert component.js_on_load.startswith("window.BmmHeatmap.mount") and component.props["step_elem_id"] == "my-step"
    assert component.props["rule_text"] == hm.RULE_TEXT and "sum" in hm.RULE_TEXT and "mean" in hm.RULE_TEXT


PAIRS = ["en-de", "de-en"]
GOOD = {
    "pair": "de-en",
    "text": "Ein Hund rennt.",
    "mode": "beam",
    "beam": "4",
    "penalty": "1.5",
    "max_len": "40",
    "step": "3",
    "words": "1",
}


def test_state_from_query_accepts_a_full_link():
    assert state_from_query(GOOD, PAIRS) == {
        "pair": "de-en",
        "text": "Ein Hund rennt.",
        "mode": "beam search",
        "beam_size": 4,
        "length_penalty": 1.5,
        "max_len": 40,
        "step": 3,
        "words": True,
        "messages": [],
    }
    assert state_from_query({}, PAIRS) == {"messages": []}
    assert state_from_query({"view": "api", "__theme": "dark"}, PAIRS) == {"messages": []}  # not ours: left alone


@pytest.mark.parametrize(
    "key, value, why",
    [
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
    ],
)
def test_state_from_query_ignores_a_bad_value_with_one_line_saying_why(key, value, why):
    state = state_from_query({**GOOD, key: value}, PAIRS)
    field = {"beam": "beam_size", "penalty": "length_penalty"}.get(key, key)
    assert field not in state  # the bad value is dropped ...
    assert len(state["messages"]) == 1 and state["messages"][0].startswith(f"Ignored {key}=")
    assert why in state["messages"][0] and "\n" not in state["messages"][0] and len(state["messages"][0]) < 200
    kept = {k: v for k, v in state_from_query(GOOD, PAIRS).items() if k not in (field, "messages")}
    assert {k: v for k, v in state.items() if k not in ("messages",)} == kept  # ... and only that one


@pytest.mark.parametrize("value, expected", [("0", 0.0), ("3", 3.0), ("0.75", 0.75), ("1.5", 1.5)])
def test_state_from_query_penalty_bounds_are_inclusive(value, expected):
    assert state_from_query({"penalty": value}, PAIRS)["length_penalty"] == expected


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
    done = subprocess.run(
        [node, "-e", NODE_SCRIPT, str(hm.STATIC / "heatmap_rule.js")],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    for (src, tgt, att), (groups, src_labels, tgt_labels, merged) in zip(cases, json.loads(done.stdout)):
        assert groups == hm.word_groups(src), src
        assert src_labels == hm.word_labels(src, hm.word_groups(src))
        assert tgt_labels == hm.word_labels(tgt, hm.word_groups(tgt))
        np.testing.assert_allclose(
            merged, hm.merge_attention(att, hm.word_groups(src), hm.word_groups(tgt)), atol=1e-12
        )
