"""The Model card tab: data, licence, citation, model, files and measured scores of every loaded bundle."""

from __future__ import annotations

from pathlib import Path

from inference.bundle import training_stages
from page.text import md_text

LICENCE = (
    "Multi30k is distributed for **non-commercial research and education only**; a model trained on it "
    "inherits that restriction, and so do its translations."
)
TATOEBA_CREDIT = "Sentence pairs from the Tatoeba Project (tatoeba.org, CC BY 2.0 FR), via www.manythings.org/anki."
CITATION = (
    "Desmond Elliott, Stella Frank, Khalil Sima'an, Lucia Specia (2016). *Multi30K: Multilingual "
    "English-German Image Descriptions.* Proceedings of the 5th Workshop on Vision and Language. "
    "French (and Czech): Elliott et al. (2017), *Findings of the Second Shared Task on Multimodal "
    "Machine Translation and Multilingual Image Description.*"
)


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
    return (
        f"**Data:** {'; '.join(named)}; {md_text(data.get('src', '?'))}→{md_text(data.get('tgt', '?'))}; "
        "sentence pairs used: " + ", ".join(f"{k} {v:,}" for k, v in (data.get("sizes") or {}).items()) + "."
    )


def _metrics_markdown(evaluation: dict) -> list[str]:
    """One row per test set and decoding from the bundle's evaluation.json (written by `python -m evaluate`)."""
    test_sets = evaluation.get("test_sets") or {}
    if not test_sets:
        return ["**Metrics:** not evaluated (run `python -m evaluate assets/<pair> --data-dir DATA`)."]
    lines = [
        "**Metrics** (onnxruntime, this bundle):",
        "",
        "| test set | decoding | sentences | sacreBLEU | chrF | BLEU (lowercased, tokenised) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    signatures = {}
    for name, result in test_sets.items():
        domain = _domain_of(name)
        for decoding, r in result.items():
            if isinstance(r, dict) and "sacrebleu" in r:
                alpha = f", α {r['length_penalty']:g}" if r.get("length_penalty") else ""
                lines.append(
                    f"| {md_text(name)}{f' ({domain})' if domain else ''} | {md_text(decoding)}{alpha} | "
                    f"{result.get('sentences', '?')} | {r['sacrebleu']:.2f} | {r.get('chrf', float('nan')):.2f} | "
                    f"{r.get('bleu_lowercase_tokenized', float('nan')):.2f} |"
                )
                signatures = signatures or r.get("signatures", {})
    copies = [
        f"{md_text(name)} {md_text(decoding)}: {r['names_copied']:.1f}%"
        for name, result in test_sets.items()
        for decoding, r in result.items()
        if isinstance(r, dict) and "names_copied" in r
    ]
    if copies:
        lines += ["", "**Names copied verbatim** (unseen first names, evaluate/names.py): " + "; ".join(copies) + "."]
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
    lines = [
        f"### {md_text(name)}",
        _data_markdown(data, args),
        "",
        f"**Licence:** {LICENCE}" + (f" {TATOEBA_CREDIT}" if trained_on_tatoeba else ""),
        "",
        f"**Citation:** {CITATION}",
        "",
        f"**Model:** bi-GRU encoder and GRU decoder, **{cfg['attention']}** attention computed with `torch.bmm`; "
        f"embedding E = {cfg['embed_dim']}, hidden H = {cfg['hidden_dim']} (decoder 2H = {2 * cfg['hidden_dim']}), "
        f"shared vocabulary V = {cfg['vocab_size']:,}; {manifest.get('num_parameters', 0):,} parameters; "
        f"epochs trained: {_epochs_trained(train)} (best validation BLEU {train.get('best_val_bleu', '?')}"
        f"{', the mean over its validation sets' if len(data.get('datasets') or []) > 1 else ''}).",
        "",
        f"**Files:** ONNX graphs (encoder + decoder) {_megabytes(graph_bytes)}; bundle files: "
        + ", ".join(f"{md_text(n)} {_megabytes(f['bytes'])}" for n, f in files.items())
        + ".",
        "",
        f"**Precision:** {md_text(manifest.get('precision', 'fp32'))}.",
        "",
    ]
    lines += _metrics_markdown(evaluation)
    lines += ["", f"**Runtime:** onnxruntime with {md_text(', '.join(providers))}; last latency {latency}."]
    lines += [f"> ⚠️ {md_text(w)}" for w in warnings]
    return "\n".join(lines)
