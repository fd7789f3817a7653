"""The What if? tab's views as values and Markdown (pure functions over the translation JSON and the results of
inference.what_if and inference.compare); page/what_if_tab.py runs the models and wires the components."""

from __future__ import annotations

import math
import uuid

from inference.compare import ROW_CHANGE
from inference.document import SCHEMA_VERSION, translation_json
from inference.examples import examples_for
from page.text import md_text

# Written for this page: swapping subject and object changes the meaning, not the words.
PAIRS_OF_SENTENCES = {
    "en": ("The dog bites the man.", "The man bites the dog."),
    "de": ("Der Hund beißt den Mann.", "Der Mann beißt den Hund."),
    "fr": ("Le chien mord l'homme.", "L'homme mord le chien."),
}


def sentences_for(language: str) -> tuple[str, str]:
    return PAIRS_OF_SENTENCES.get(language, (examples_for(language)[0], examples_for(language)[1]))


def ours_in(language: str, text) -> str:
    """`text` when the visitor wrote it; one of our sentences becomes the same one in `language`."""
    for sentences in PAIRS_OF_SENTENCES.values():
        if text in sentences:
            return sentences_for(language)[sentences.index(text)]
    return text if isinstance(text, str) else ""


def one_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def editor_value(doc: dict, step: int, weights=None) -> dict:
    """The attention editor's value: step `step`'s source tokens, the model's row and the row being edited."""
    model = doc["attention"][step]
    return {
        "key": uuid.uuid4().hex,
        "step": step,
        "target": doc["target_tokens"][step],
        "tokens": doc["source_tokens"],
        "model_weights": model,
        "weights": list(model if weights is None else weights),
        "edited": weights is not None,
    }


def model_top_markdown(doc: dict, step: int) -> str:
    rows = doc["alternatives"][step]
    lines = [
        f"**Step {step}: the model chose {md_text(doc['target_tokens'][step])}** "
        f"(p = {doc['token_probs'][step]:.3f}). Edit its attention to see what it would choose instead.",
        "",
        "| # | model's top 5 | p |",
        "|---:|---|---:|",
    ]
    lines += [f"| {i + 1} | {md_text(a['token'])} | {a['prob']:.3f} |" for i, a in enumerate(rows)]
    return "\n".join(lines)


def what_if_markdown(result: dict) -> str:
    """The edited step's top 5 beside the model's own, and whether the choice changed."""
    own, edited = result["original_top"], result["edited_top"]
    chosen, new = result["model_choice"], edited[0]
    verdict = (
        f"**With your weights step {result['step']} would choose {md_text(new['token'])}** "
        f"(p = {math.exp(new['log_prob']):.3f}) **instead of {md_text(chosen['token'])}**."
        if new["id"] != chosen["id"]
        else f"**Step {result['step']} still chooses {md_text(chosen['token'])}** "
        f"(p = {math.exp(new['log_prob']):.3f} with your weights, {math.exp(chosen['log_prob']):.3f} with the model's)."
    )
    lines = [verdict, "", "| # | your weights | p | model's weights | p |", "|---:|---|---:|---|---:|"]
    for i, (a, b) in enumerate(zip(edited, own)):
        lines.append(
            f"| {i + 1} | {md_text(a['token'])} | {math.exp(a['log_prob']):.3f} | "
            f"{md_text(b['token'])} | {math.exp(b['log_prob']):.3f} |"
        )
    return "\n".join(lines)


def one_heatmap(doc: dict, title: str, changed_rows=(), step: int = 0, changed_tokens=()) -> dict:
    """A value for a quiet heatmap (page/static/heatmap.js mountMany) of one translation JSON; the rows of
    `changed_rows` are underlined, the labels of `changed_tokens` filled."""
    sentence = {"key": uuid.uuid4().hex, "step": step, "words": False, "share": None, "translation": doc}
    marks = dict(title=title, changed_rows=list(changed_rows), changed_tokens=list(changed_tokens))
    return {"key": uuid.uuid4().hex, "sentences": [dict(sentence, **marks)]}


def prefix_of(tree: dict, depth: int, index: int) -> list[int]:
    """The target ids from the start to node (depth, index) of a beam_tree."""
    ids = []
    while depth >= 0 and index >= 0:
        node = tree["depths"][depth]["nodes"][index]
        ids.append(node["id"])
        index, depth = node["parent"], depth - 1
    return ids[::-1]


def cut(doc: dict, length: int, text: str) -> dict:
    """The translation JSON of its first `length` target tokens (a prefix's own rows)."""
    out = dict(doc, translation=text)
    for name in ("target_tokens", "target_ids", "attention", "token_probs", "alternatives", "call_rows"):
        out[name] = doc[name][:length]
    return out


def compare_markdown(result: dict, doc_a: dict, doc_b: dict) -> str:
    steps = result["steps"]
    if result["same_translation"] and not result["changed_rows"]:
        head = "**No difference**: the same translation, and every attention row within 0.05 of the other's."
    else:
        head = (
            f"**{len(result['changed_tokens'])} of {len(steps)} target positions changed token, "
            f"{len(result['changed_rows'])} attention rows moved by more than {ROW_CHANGE}** (half the L1 distance "
            "between the two rows, source position by position; 1 = no overlap). In the maps, a changed token's label is "
            "filled red and a moved row's label underlined."
        )
    lines = [
        head,
        "",
        f"A: {md_text(doc_a['translation'])}  \nB: {md_text(doc_b['translation'])}",
        "",
        "| step | A | B | token | row moved |",
        "|---:|---|---|---|---:|",
    ]
    for s in steps:
        lines.append(
            f"| {s['step']} | {md_text(s['token_a'] or '—')} | {md_text(s['token_b'] or '—')} | "
            f"{'**changed**' if s['token_changed'] else 'same'} | "
            f"{'**' if s['row_changed'] else ''}{s['attention_moved']:.2f}{'**' if s['row_changed'] else ''} |"
        )
    return "\n".join(lines)


def compare_json(result: dict, pair: str, model: dict, text_a: str, text_b: str) -> dict:
    """inference.compare's result as the schema's $defs/compare document."""
    return {
        "schema_version": SCHEMA_VERSION,
        "pair": pair,
        "a": translation_json(result["a"], pair, text_a, model),
        "b": translation_json(result["b"], pair, text_b, model),
        "steps": result["steps"],
        "same_translation": result["same_translation"],
        "changed_tokens": result["changed_tokens"],
        "changed_rows": result["changed_rows"],
    }
