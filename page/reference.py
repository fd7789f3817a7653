"""Score a reference translation: forced decoding of a sentence the visitor pastes, and its sentence BLEU/chrF."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from page.text import md_token, plot_text


def attention_figure(source_tokens, target_tokens, attention, selected: int | None = None, title: str = ""):
    """Target × source heatmap; numeric axes with token tick labels, so repeated tokens stay separate rows."""
    weights = np.asarray(attention, dtype=float).reshape(len(target_tokens), len(source_tokens))
    src = [plot_text(t) for t in source_tokens]
    tgt = [plot_text(t) for t in target_tokens]
    custom = [[[t, tgt[t], s, src[s]] for s in range(len(src))] for t in range(len(tgt))]
    small = len(src) <= 14 and len(tgt) <= 30  # numbers in the cells only while they fit
    heatmap = go.Heatmap(
        z=weights,
        x=list(range(len(src))),
        y=list(range(len(tgt))),
        customdata=custom,
        zmin=0.0,
        zmax=max(float(weights.max(initial=0.0)), 1e-6),
        colorscale="Blues",
        colorbar=dict(title="weight"),
        hovertemplate=(
            "target %{customdata[0]}: <b>%{customdata[1]}</b><br>"
            "source %{customdata[2]}: <b>%{customdata[3]}</b>"
            "<br>weight %{z:.3f}<extra></extra>"
        ),
        texttemplate="%{z:.2f}" if small else None,
        textfont=dict(size=10),
    )
    figure = go.Figure(heatmap)
    figure.update_layout(
        title=dict(text=plot_text(title), font=dict(size=14)),
        height=min(900, 170 + 30 * len(tgt)),
        margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        plot_bgcolor="white",
        xaxis=dict(
            title="source tokens (keys)",
            tickmode="array",
            tickvals=list(range(len(src))),
            ticktext=src,
            side="top",
            tickangle=0 if len(src) <= 12 else -45 if len(src) <= 30 else -90,
            tickfont=dict(size=12 if len(src) <= 30 else 9),
        ),
        yaxis=dict(
            title="target tokens (queries)",
            tickmode="array",
            tickvals=list(range(len(tgt))),
            ticktext=tgt,
            autorange="reversed",
        ),
    )
    if selected is not None and 0 <= selected < len(tgt):
        figure.add_shape(
            type="rect",
            x0=-0.5,
            x1=len(src) - 0.5,
            y0=selected - 0.5,
            y1=selected + 0.5,
            line=dict(color="#f97316", width=3),
        )
    return figure


def reference_markdown(reference_result, metrics: dict | None) -> str:
    """Summary of a forced decoding of the reference, and sentence BLEU/chrF of the model's output against it."""
    probs = np.asarray(reference_result.token_probs, dtype=np.float64)
    mean_lp = float(np.mean(np.log(np.maximum(probs, 1e-12))))
    weakest = np.argsort(probs)[:3]
    lines = [
        f"Under the model, the reference has average log-probability {mean_lp:.2f} per token "
        f"(perplexity {np.exp(-mean_lp):.1f}) over {len(probs)} tokens. Least expected: "
        + ", ".join(f"{md_token(reference_result.target_tokens[i])} ({probs[i]:.3f})" for i in weakest)
        + "."
    ]
    if metrics is None:
        lines.append("Sentence BLEU/chrF need `sacrebleu` (pip install sacrebleu).")
    else:
        lines.append(
            f"Model output vs reference: sentence **BLEU {metrics['bleu']:.1f}**, **chrF {metrics['chrf']:.1f}** "
            f"(sacreBLEU defaults; one sentence is a noisy measure)."
        )
    return "\n\n".join(lines)


def reference_rows(scored) -> list[list]:
    """One row per reference token: its probability and the token the model would have picked instead."""
    return [
        [t, token, f"{prob:.4f}", alts[0][0], f"{alts[0][1]:.4f}"]
        for t, (token, prob, alts) in enumerate(zip(scored.target_tokens, scored.token_probs, scored.alternatives))
    ]


def sentence_metrics(hypothesis: str, reference: str) -> dict | None:
    import sacrebleu  # a requirement of the page; imported here so startup stays quick

    return {
        "bleu": sacrebleu.sentence_bleu(hypothesis, [reference]).score,
        "chrf": sacrebleu.sentence_chrf(hypothesis, [reference]).score,
    }
