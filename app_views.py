"""Pure formatting for app.py: the attention heatmap, the "how bmm computes this" panel, downloads, model card.

Nothing here runs a model. Tokens come from user input, so every token is rendered as text: escaped for
plotly (whose labels understand a few HTML tags) and entity-encoded for Markdown (which understands HTML,
Markdown syntax and `$` maths).
"""
from __future__ import annotations

import csv
import html
import json
import os
import shutil
import tempfile
import threading
import uuid
from collections import deque
from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr
import numpy as np
import plotly.graph_objects as go

from inference.bundle import training_stages

SAFE_MARKDOWN = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ▁")
LICENCE = ("Multi30k is distributed for **non-commercial research and education only**; a model trained on it "
           "inherits that restriction, and so do its translations.")
TATOEBA_CREDIT = "Sentence pairs from the Tatoeba Project (tatoeba.org, CC BY 2.0 FR), via www.manythings.org/anki."
CITATION = ("Desmond Elliott, Stella Frank, Khalil Sima'an, Lucia Specia (2016). *Multi30K: Multilingual "
            "English-German Image Descriptions.* Proceedings of the 5th Workshop on Vision and Language. "
            "French (and Czech): Elliott et al. (2017), *Findings of the Second Shared Task on Multimodal "
            "Machine Translation and Multilingual Image Description.*")

# ---- page style and header ----------------------------------------------------------------------------
THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="orange",
                       font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "sans-serif"],
                       font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]).set(
    # Soft's indigo-500 labels on indigo-100 reach only 3.6:1 and white on indigo-500 4.5:1 minus a hair:
    # darker shades keep every label and button at WCAG AA (checked with axe in tests/test_browser.py).
    block_label_text_color="*primary_800", block_title_text_color="*primary_800", block_info_text_color="*neutral_600",
    button_primary_background_fill="*primary_700", button_primary_background_fill_hover="*primary_800",
    button_primary_text_color="white", checkbox_label_background_fill_selected="*primary_700",
    slider_color="*primary_700", link_text_color="*primary_800")
# Scrollable tables must be reachable by keyboard: each one that can scroll gets a tab stop and a name.
HEAD = """<script>
new MutationObserver(() => document.querySelectorAll("#bmm-panel table, #bmm-panel pre").forEach((t) => {
  if (!t.hasAttribute("tabindex")) { t.setAttribute("tabindex", "0"); t.setAttribute("aria-label", `${t.tagName === "PRE" ? "code" : "table"} (scrolls sideways)`); }
})).observe(document.documentElement, {childList: true, subtree: true});
</script>"""
CSS = """
.status p { margin: 0.2em 0; }
#bmm-panel table { font-size: 0.88em; display: block; overflow-x: auto; }
#bmm-panel code { font-size: 0.85em; }
#bmm-panel td:first-child, #bmm-panel td:last-child { white-space: nowrap; }
#batch-shapes table, #batch-step-view table, #batch-translations table { font-size: 0.85em; display: block; overflow-x: auto; }
#batch-shapes td, #batch-shapes th, #batch-step-view td, #batch-step-view th { white-space: nowrap; padding: 2px 5px; }
#alternatives label { font-family: ui-monospace, Menlo, Consolas, monospace; }
[data-testid="min-value"], [data-testid="max-value"], footer, footer a, footer button { color: #374151 !important; }
#bmm-panel h2, #batch-step-view h2 { font-size: 1.1em; margin: 0.2em 0 0.5em; }  /* h2 so headings go in order */
button[role="tab"].selected { color: #3730a3; }  /* indigo-500 on white is 4.46:1 */
.comment { color: #4b5563 !important; }  /* code comments: the highlighter's slate grey is 3.7:1 */
:focus-visible { outline: 3px solid #1d4ed8 !important; outline-offset: -3px; }  /* inside, so scroll boxes keep it */
/* Phones: the sentence box and Translate, then the result and the heatmap, then the examples. */
@media (max-width: 767px) {
  #translate-row { flex-direction: column; align-items: stretch; }
  #input-column { display: contents; }
  #result-column { order: 1; width: 100%; min-width: 0; }
  #examples { order: 2; }
}
"""
ONE_LINE = ("**For B sentences, attention is B independent small matrix products; `torch.bmm` does all B in one "
            "call.**")
PAGE_HEADER = f"""# What does attention look at?
{ONE_LINE}

A bi-GRU encoder reads a sentence; at every output token the decoder's attention is two `torch.bmm` calls: one
scores every source token against the decoder state, one averages the encoder outputs by those weights. Below is
a worked example: **click a target token** to see that step's weights, its alternatives and the two calls with
this sentence's real numbers; the **Batch** tab runs several sentences through the same calls at once.

*What the models know:* they were trained on two kinds of text, **image captions** (Multi30k, descriptions of
photos, for non-commercial research and education only) and **short everyday sentences** (Tatoeba, CC BY 2.0 FR).
They translate "Two children are playing football in the park." and "Could you tell me how to get to the museum?"
well; long, rare or technical sentences are beyond 4.5 million parameters. The **Model card** tab has their scores
on both kinds of text and the data's credits."""


class ResultViews(NamedTuple):
    """Everything the Translate tab shows for one result, in the order app.py wires the components.
    A field set to gr.skip() leaves that component as it is (an error keeps the previous result)."""
    state: Any  # the result's key in the server-side cache (the browser holds only this)
    translation: Any
    status: Any
    nbest: Any
    steps: Any  # the hidden box holding the selected step (the heatmap writes it when the user picks one)
    json_file: Any
    csv_file: Any
    heatmap: Any  # app_heatmap.heatmap_value: drawn and explored in the browser
    alternatives: Any
    bmm: Any
    swap: Any  # "swap the pair and translate", shown when the sentence reads like the other language


STEP_FIELDS = ("alternatives", "bmm")  # what the server redraws when the selected step changes


# ---- escaping -----------------------------------------------------------------------------------------
def md_text(text) -> str:
    """Any text as literal Markdown: every character that could be syntax becomes a numeric entity."""
    return "".join(c if c in SAFE_MARKDOWN or c.isalnum() else f"&#{ord(c)};" for c in str(text))


def md_token(token) -> str:
    return f"**{md_text(token)}**"


def plot_text(text) -> str:
    """Text for plotly labels and hover boxes: `<`, `>` and `&` escaped so tags show literally."""
    return html.escape(str(text), quote=False)


# ---- heatmap ------------------------------------------------------------------------------------------
def attention_figure(source_tokens, target_tokens, attention, selected: int | None = None, title: str = ""):
    """Target × source heatmap; numeric axes with token tick labels, so repeated tokens stay separate rows."""
    weights = np.asarray(attention, dtype=float).reshape(len(target_tokens), len(source_tokens))
    src = [plot_text(t) for t in source_tokens]
    tgt = [plot_text(t) for t in target_tokens]
    custom = [[[t, tgt[t], s, src[s]] for s in range(len(src))] for t in range(len(tgt))]
    small = len(src) <= 14 and len(tgt) <= 30  # numbers in the cells only while they fit
    heatmap = go.Heatmap(
        z=weights, x=list(range(len(src))), y=list(range(len(tgt))), customdata=custom, zmin=0.0,
        zmax=max(float(weights.max(initial=0.0)), 1e-6), colorscale="Blues", colorbar=dict(title="weight"),
        hovertemplate=("target %{customdata[0]}: <b>%{customdata[1]}</b><br>"
                       "source %{customdata[2]}: <b>%{customdata[3]}</b>"
                       "<br>weight %{z:.3f}<extra></extra>"),
        texttemplate="%{z:.2f}" if small else None, textfont=dict(size=10))
    figure = go.Figure(heatmap)
    figure.update_layout(
        title=dict(text=plot_text(title), font=dict(size=14)), height=min(900, 170 + 30 * len(tgt)),
        margin=dict(l=10, r=10, t=40 if title else 10, b=10), plot_bgcolor="white",
        xaxis=dict(title="source tokens (keys)", tickmode="array", tickvals=list(range(len(src))), ticktext=src,
                   side="top", tickangle=0 if len(src) <= 12 else -45 if len(src) <= 30 else -90,
                   tickfont=dict(size=12 if len(src) <= 30 else 9)),
        yaxis=dict(title="target tokens (queries)", tickmode="array", tickvals=list(range(len(tgt))),
                   ticktext=tgt, autorange="reversed"))
    if selected is not None and 0 <= selected < len(tgt):
        figure.add_shape(type="rect", x0=-0.5, x1=len(src) - 0.5, y0=selected - 0.5, y1=selected + 0.5,
                         line=dict(color="#f97316", width=3))
    return figure


# ---- reference scoring --------------------------------------------------------------------------------
def reference_markdown(reference_result: dict, metrics: dict | None) -> str:
    """Summary of a forced decoding of the reference, and sentence BLEU/chrF of the model's output against it."""
    probs = np.asarray(reference_result["token_probs"], dtype=np.float64)
    mean_lp = float(np.mean(np.log(np.maximum(probs, 1e-12))))
    weakest = np.argsort(probs)[:3]
    lines = [f"Under the model, the reference has average log-probability {mean_lp:.2f} per token "
             f"(perplexity {np.exp(-mean_lp):.1f}) over {len(probs)} tokens. Least expected: " +
             ", ".join(f"{md_token(reference_result['target_tokens'][i])} ({probs[i]:.3f})" for i in weakest) + "."]
    if metrics is None:
        lines.append("Sentence BLEU/chrF need `sacrebleu` (pip install sacrebleu).")
    else:
        lines.append(f"Model output vs reference: sentence **BLEU {metrics['bleu']:.1f}**, **chrF {metrics['chrf']:.1f}** "
                     f"(sacreBLEU defaults; one sentence is a noisy measure).")
    return "\n\n".join(lines)


def reference_rows(scored: dict) -> list[list]:
    """One row per reference token: its probability and the token the model would have picked instead."""
    return [[t, token, f"{prob:.4f}", alts[0][0], f"{alts[0][1]:.4f}"] for t, (token, prob, alts)
            in enumerate(zip(scored["target_tokens"], scored["token_probs"], scored["alternatives"]))]


def sentence_metrics(hypothesis: str, reference: str) -> dict | None:
    import sacrebleu  # a requirement of the page; imported here so startup stays quick

    return {"bleu": sacrebleu.sentence_bleu(hypothesis, [reference]).score,
            "chrf": sacrebleu.sentence_chrf(hypothesis, [reference]).score}


# ---- downloads ----------------------------------------------------------------------------------------
def export_payload(state: dict) -> dict:
    """What the API returns and the JSON download holds: translation, tokens, attention, alternatives, n-best."""
    r = state["result"]
    return {"pair": state["pair"], "source": state["text"], "translation": r["text"],
            "source_tokens": r["source_tokens"], "target_tokens": r["target_tokens"], "target_ids": r["target_ids"],
            "attention": r["attention"], "token_probs": r["token_probs"],
            "alternatives": [[{"token": tok, "prob": p} for tok, p in step] for step in r["alternatives"]],
            "nbest": r["nbest"], "score": r["score"], "normalized_score": r["normalized_score"],
            "finished": r["finished"], "decoding": r["decoding"], "timing_ms": r["timing_ms"]}


def _csv_cell(text: str) -> str:
    """Keeps spreadsheets from running tokens such as `=cmd|…` as formulas."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


_DOWNLOADS = Path(tempfile.gettempdir()) / "bmm-attention-downloads"
_RECENT: deque[Path] = deque()  # folders written by this process, oldest first
_RECENT_LOCK = threading.Lock()


def write_downloads(payload: dict, keep: int = 64) -> tuple[str, str]:
    """attention.json and attention.csv in a fresh folder; only the last `keep` folders are kept, so each
    call removes at most one old folder (no scan of the whole directory). Files are written to a temp
    name and renamed, so a download never sees half a file."""
    folder = _DOWNLOADS / uuid.uuid4().hex
    folder.mkdir(parents=True)
    with _RECENT_LOCK:
        _RECENT.append(folder)
        old = _RECENT.popleft() if len(_RECENT) > keep else None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    stem = f"attention-{payload['pair']}"
    json_path, csv_path = folder / f"{stem}.json", folder / f"{stem}.csv"
    tmp_json, tmp_csv = folder / ".json.tmp", folder / ".csv.tmp"
    tmp_json.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    with open(tmp_csv, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "target_token", "probability"] +
                        [_csv_cell(f"{s}:{tok}") for s, tok in enumerate(payload["source_tokens"])])
        for t, (token, prob, row) in enumerate(zip(payload["target_tokens"], payload["token_probs"], payload["attention"])):
            writer.writerow([t, _csv_cell(token), f"{prob:.6f}"] + [f"{w:.6f}" for w in row])
    os.replace(tmp_json, json_path)
    os.replace(tmp_csv, csv_path)
    return str(json_path), str(csv_path)


# ---- model card ---------------------------------------------------------------------------------------
def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


TEST_SET_DOMAINS = {"multi30k": "image captions", "tatoeba": "everyday sentences"}


def _domain_of(name: str) -> str:
    """'image captions' for a Multi30k path or test-set name, 'everyday sentences' for a Tatoeba one."""
    return next((domain for key, domain in TEST_SET_DOMAINS.items() if key in name.lower()), "")


def _data_markdown(data: dict, args: dict) -> str:
    """What the model was trained on, from the manifest's training record: one dataset, or a weighted mix."""
    parts = data.get("datasets") or [data]
    weights = data.get("mix_weights") or [1.0] * len(parts)
    named = []
    for part, weight in zip(parts, weights):
        source = str(part.get("dataset") or args.get("dataset", "bentrevett/multi30k"))
        title = "Tatoeba" if "tatoeba" in source.lower() else "Multi30k task 1"
        share = f", {weight:.0%} of the training pairs" if len(parts) > 1 else ""
        named.append(f"{title}, {_domain_of(source) or 'sentences'} ({md_text(Path(source).name or source)}{share})")
    return (f"**Data:** {'; '.join(named)}; {md_text(data.get('src', '?'))}→{md_text(data.get('tgt', '?'))}; "
            "sentence pairs used: " + ", ".join(f"{k} {v:,}" for k, v in (data.get("sizes") or {}).items()) + ".")


def _metrics_markdown(evaluation: dict) -> list[str]:
    """One row per test set and decoding from the bundle's evaluation.json (written by `python -m evaluate`)."""
    test_sets = evaluation.get("test_sets") or {}
    if not test_sets:
        return ["**Metrics:** not evaluated (run `python -m evaluate assets/<pair> --data-dir DATA`)."]
    lines = ["**Metrics** (onnxruntime, this bundle):", "",
             "| test set | decoding | sentences | sacreBLEU | chrF | BLEU (lowercased, tokenised) |",
             "|---|---|---:|---:|---:|---:|"]
    signatures = {}
    for name, result in test_sets.items():
        domain = _domain_of(name)
        for decoding, r in result.items():
            if isinstance(r, dict) and "sacrebleu" in r:
                alpha = f", α {r['length_penalty']:g}" if r.get("length_penalty") else ""
                lines.append(f"| {md_text(name)}{f' ({domain})' if domain else ''} | {md_text(decoding)}{alpha} | "
                             f"{result.get('sentences', '?')} | {r['sacrebleu']:.2f} | {r.get('chrf', float('nan')):.2f} | "
                             f"{r.get('bleu_lowercase_tokenized', float('nan')):.2f} |")
                signatures = signatures or r.get("signatures", {})
    if signatures:
        lines += ["", "Signatures:", "", "```"] + [f"{name}: {sig}" for name, sig in signatures.items()] + ["```"]
    if any(name.startswith("tatoeba") for name in test_sets):
        lines += ["", TATOEBA_CREDIT]
    return lines


def _epochs_trained(train: dict) -> str:
    """'11', or '11 + 2 (fine-tuned from a checkpoint)' when the run started from another (--init-from)."""
    stages = training_stages(train)
    epochs = " + ".join("?" if s["epochs"] is None else str(s["epochs"]) for s in stages)
    return epochs + (" (fine-tuned from a checkpoint)" if len(stages) > 1 else "")


def model_card_markdown(name: str, manifest: dict, evaluation: dict, providers, warnings, last_latency_ms) -> str:
    cfg, train = manifest["model_config"], manifest.get("training") or {}
    data, args = train.get("data", {}), train.get("args", {})
    files = manifest.get("files", {})
    graph_bytes = sum(files[g["file"]]["bytes"] for g in manifest["graphs"].values() if g.get("file") in files)
    latency = "no translation yet" if last_latency_ms is None else f"{last_latency_ms:.1f} ms (encode + decode)"
    trained_on_tatoeba = any("tatoeba" in str(p.get("dataset", "")).lower() for p in data.get("datasets") or [data])
    lines = [f"### {md_text(name)}", _data_markdown(data, args), "",
             f"**Licence:** {LICENCE}" + (f" {TATOEBA_CREDIT}" if trained_on_tatoeba else ""), "",
             f"**Citation:** {CITATION}", "",
             f"**Model:** bi-GRU encoder and GRU decoder, **{cfg['attention']}** attention computed with `torch.bmm`; "
             f"embedding E = {cfg['embed_dim']}, hidden H = {cfg['hidden_dim']} (decoder 2H = {2 * cfg['hidden_dim']}), "
             f"shared vocabulary V = {cfg['vocab_size']:,}; {manifest.get('num_parameters', 0):,} parameters; "
             f"epochs trained: {_epochs_trained(train)} (best validation BLEU {train.get('best_val_bleu', '?')}"
             f"{', the mean over its validation sets' if len(data.get('datasets') or []) > 1 else ''}).", "",
             f"**Files:** ONNX graphs (encoder + decoder) {_megabytes(graph_bytes)}; bundle files: "
             + ", ".join(f"{md_text(n)} {_megabytes(f['bytes'])}" for n, f in files.items()) + ".", "",
             f"**Precision:** {md_text(manifest.get('precision', 'fp32'))}.", ""]
    lines += _metrics_markdown(evaluation)
    lines += ["", f"**Runtime:** onnxruntime with {md_text(', '.join(providers))}; last latency {latency}."]
    lines += [f"> ⚠️ {md_text(w)}" for w in warnings]
    return "\n".join(lines)
