"""Formatting for the "is attention an explanation?" panel: occlusion beside attention, coverage, confidence.

    import app_explain
    from inference.explain import explanation
    explained = explanation(translator, text, state["result"], reverse=reverse_translator)  # plain dicts
    app_explain.occlusion_figure(explained["occlusion"], step)      # attention and occlusion, one step
    app_explain.agreement_markdown(explained["occlusion"], step)
    app_explain.heatmap_with_coverage(app_views.attention_figure(...), explained["coverage"], source_tokens)
    app_explain.confidence_markdown(explained["confidence"], step, explained["direction"])

Nothing here runs a model. Inputs are the dicts of inference.explain (to_dict) or the dataclasses themselves;
tokens are escaped with app_views' helpers, and the palette is the heatmap's ("Blues").
"""
from __future__ import annotations

from dataclasses import asdict, is_dataclass

import numpy as np
import plotly.graph_objects as go

from app_views import md_text, md_token, plot_text

ATTENTION_COLOUR = "#2171b5"  # a dark step of plotly's "Blues", the heatmap's colorscale
OCCLUSION_COLOUR = "#6baed6"  # a lighter step of the same scale
FLAG_COLOUR = "#f97316"  # the heatmap's selected-row outline


def _plain(value):
    return asdict(value) if is_dataclass(value) else value


def _axis(tokens) -> dict:
    labels = [plot_text(t) for t in tokens]
    return dict(tickmode="array", tickvals=list(range(len(labels))), ticktext=labels,
                tickangle=0 if len(labels) <= 12 else -45 if len(labels) <= 30 else -90,
                range=[-0.5, len(labels) - 0.5])


# ---- occlusion beside attention -------------------------------------------------------------------------
def occlusion_figure(occlusion, step: int):
    """Two rows over the same source tokens: this step's attention weights, and how much log p(chosen token)
    falls when each source token is hidden from attention. Grey band: batch quantization noise.
    Built from plain layout dicts (no make_subplots): it is redrawn on every step click."""
    occ = _plain(occlusion)
    step = min(max(int(step), 0), len(occ["target_tokens"]) - 1)
    tokens = occ["source_tokens"]
    weights, drops = np.asarray(occ["attention"][step]), np.asarray(occ["drops"][step])
    x, hover = list(range(len(tokens))), [plot_text(t) for t in tokens]
    bars = [go.Bar(x=x, y=weights, marker_color=ATTENTION_COLOUR, customdata=hover, xaxis="x", yaxis="y",
                   hovertemplate="<b>%{customdata}</b><br>weight %{y:.3f}<extra></extra>"),
            go.Bar(x=x, y=drops, marker_color=OCCLUSION_COLOUR, customdata=hover, xaxis="x2", yaxis="y2",
                   hovertemplate="<b>%{customdata}</b><br>drop %{y:+.3f} nats<extra></extra>")]
    noise = float(occ.get("batch_noise") or 0.0)
    shapes = [dict(type="rect", xref="x2 domain", yref="y2", x0=0, x1=1, y0=-noise, y1=noise, fillcolor="#9ca3af",
                   opacity=0.3, line_width=0)] if noise > 0 else []
    marks = [dict(x=int(np.argmax(v)), y=float(np.max(v)), xref=xr, yref=yr, text="top", showarrow=True,
                  arrowhead=2, ay=-18, arrowcolor=FLAG_COLOUR, font=dict(color=FLAG_COLOUR, size=11))
             for v, xr, yr in ((weights, "x", "y"), (drops, "x2", "y2"))]
    titles = [dict(text=text, x=0.5, y=y, xref="paper", yref="paper", showarrow=False, font=dict(size=13),
                   yanchor="bottom") for text, y in (("attention weight", 1.0), ("drop in log p when occluded", 0.42))]
    axis = _axis(tokens)
    layout = dict(title=dict(text=f"step {step}: {plot_text(occ['target_tokens'][step])}", font=dict(size=14)),
                  showlegend=False, height=380, margin=dict(l=10, r=10, t=60, b=10), plot_bgcolor="white",
                  bargap=0.25, shapes=shapes, annotations=marks + titles,
                  xaxis=dict(axis, anchor="y", matches="x2", showticklabels=False), yaxis=dict(domain=[0.58, 1.0],
                  range=[0, 1.05]), xaxis2=dict(axis, anchor="y2"), yaxis2=dict(domain=[0.0, 0.42]))
    return go.Figure(data=bars, layout=layout)


def _correlation(value) -> str:
    return "undefined (one side is constant)" if value is None else f"{value:+.2f}"


def agreement_markdown(occlusion, step: int) -> str:
    """Does attention point where occlusion does, at this step and over the sentence; what it cost."""
    occ = _plain(occlusion)
    step = min(max(int(step), 0), len(occ["target_tokens"]) - 1)
    tokens, weights, drops = occ["source_tokens"], np.asarray(occ["attention"][step]), np.asarray(occ["drops"][step])
    top_attention, top_drop = int(np.argmax(weights)), int(np.argmax(drops))
    verdict = ("**agree**" if occ["top1_agree"][step] else "**disagree**")
    steps = len(occ["target_tokens"])
    cost = occ["cost"]
    return "\n".join([
        f"At step {step} ({md_token(occ['target_tokens'][step])}) attention and occlusion {verdict}: "
        f"most attended {md_token(tokens[top_attention])} (weight {weights[top_attention]:.2f}), most needed "
        f"{md_token(tokens[top_drop])} (hiding it lowers log p by {drops[top_drop]:.2f}).",
        "",
        f"Rank correlation (Spearman) {_correlation(occ['spearman'][step])}, linear (Pearson) "
        f"{_correlation(occ['pearson'][step])}. Over the sentence: the top tokens agree at "
        f"{sum(occ['top1_agree'])} of {steps} steps, mean Spearman {_correlation(occ['mean_spearman'])}, "
        f"mean Pearson {_correlation(occ['mean_pearson'])}.",
        "",
        f"*How:* each source token in turn is removed from the decoder's source mask (the encoder still read it), "
        f"and the same target is forced again: {cost['forced_decodes']} extra forced decodes as one batch of "
        f"{cost['batch_rows']} rows, {cost['ms']:.0f} ms. Drops within ±{occ.get('batch_noise', 0.0):.4f} "
        f"are int8 rounding noise (grey band)."])


# ---- coverage -----------------------------------------------------------------------------------------
def _coverage_strip(cov: dict, labels: list[str], showscale: bool) -> go.Heatmap:
    values = np.asarray(cov["values"], dtype=float)
    return go.Heatmap(z=[values], x=list(range(len(labels))), y=[0], colorscale="Blues", zmin=0.0,
                      zmax=max(float(values.max(initial=0.0)), 1e-6), customdata=[labels], showscale=showscale,
                      colorbar=dict(title="times", thickness=20),
                      hovertemplate="<b>%{customdata}</b><br>coverage %{z:.2f}<extra></extra>",
                      texttemplate="%{z:.1f}" if len(labels) <= 30 else None, textfont=dict(size=10))


def _mark_flags(figure, cov: dict, **where) -> None:
    for positions, mark in ((cov["dropped"], "dropped?"), (cov["repeated"], "repeated?")):
        for s in positions:
            figure.add_shape(type="rect", x0=s - 0.5, x1=s + 0.5, y0=-0.5, y1=0.5,
                             line=dict(color=FLAG_COLOUR, width=3), **where)
            figure.add_annotation(x=s, y=0, text=mark, showarrow=False, yshift=-24,
                                  font=dict(color=FLAG_COLOUR, size=11), **where)


def coverage_title(cov: dict) -> str:
    return (f"coverage: attention summed over the {cov['total']:.0f} target steps · flagged below {cov['low']:g} "
            f"(dropped?) or above {cov['high']:g} (repeated?), thresholds chosen on validation")


def coverage_figure(coverage, source_tokens):
    """A strip of its own: total attention each source token received, flagged tokens outlined."""
    cov = _plain(coverage)
    labels = [plot_text(t) for t in source_tokens]
    figure = go.Figure(_coverage_strip(cov, labels, showscale=True))
    _mark_flags(figure, cov)
    figure.update_layout(title=dict(text=coverage_title(cov), font=dict(size=12)), height=170,
                         margin=dict(l=10, r=10, t=50, b=10), plot_bgcolor="white",
                         xaxis=_axis(source_tokens), yaxis=dict(visible=False))
    return figure


def heatmap_with_coverage(heatmap, coverage, source_tokens):
    """Adds the coverage strip to app_views.attention_figure's heatmap (in place, and returns it) as a last
    row on the same source axis, so each column's total sits exactly under it. In place because copying
    the heatmap would validate its T x S cells again, which costs more than drawing it."""
    cov = _plain(coverage)
    labels = [plot_text(t) for t in source_tokens]
    share = min(0.3, 1.4 / (len(heatmap.data[0].y) + 1.4))  # about one heatmap row tall
    strip = _coverage_strip(cov, labels, showscale=False)
    strip.update(xaxis="x2", yaxis="y2")
    heatmap.add_trace(strip)
    heatmap.update_layout(
        height=int(heatmap.layout.height or 400) + 90, xaxis=dict(anchor="y", matches="x2"),
        yaxis=dict(domain=[share + 0.03, 1.0]),
        xaxis2=dict(anchor="y2", showticklabels=False, range=[-0.5, len(labels) - 0.5],
                    title=dict(text=coverage_title(cov), font=dict(size=11))),
        yaxis2=dict(domain=[0.0, share], tickmode="array", tickvals=[0], ticktext=["coverage"]))
    heatmap.data[0].colorbar.update(len=1 - share, y=1, yanchor="top")  # the weight scale spans the heatmap only
    _mark_flags(heatmap, cov, xref="x2", yref="y2")
    return heatmap


def coverage_markdown(coverage, source_tokens) -> str:
    cov = _plain(coverage)
    parts = []
    for positions, what in ((cov["dropped"], f"got almost no attention (under {cov['low']:g} in total, the "
                                             "least attended 1% of tokens on validation): left untranslated, or "
                                             "folded into a neighbour's translation, as words like \"is\" and "
                                             "\"of\" often are"),
                            (cov["repeated"], f"got over {cov['high']:g} steps' worth of attention: perhaps "
                                              "translated more than once")):
        if positions:
            parts.append(", ".join(md_token(source_tokens[s]) for s in positions) + " " + what + ".")
    return " ".join(parts) or "No source token looks dropped or repeated (coverage thresholds chosen on validation)."


# ---- confidence -------------------------------------------------------------------------------------
BADGES = {"focused": "🎯 focused", "spread": "↔️ spread", "diffuse": "🌫️ diffuse"}


def confidence_markdown(confidence, step: int, direction=None) -> str:
    """The entropy badge of this step, the sentence's confidence, and the wrong-direction hint if any."""
    from inference.explain import DIFFUSE_ABOVE, FOCUSED_BELOW

    conf = _plain(confidence)
    step = min(max(int(step), 0), len(conf["badges"]) - 1)
    lines = [f"**Attention at step {step}: {BADGES[conf['badges'][step]]}**: it spreads over "
             f"{conf['effective_tokens'][step]:.1f} source tokens' worth (exp of entropy "
             f"{conf['entropy'][step]:.2f} nats; focused below {FOCUSED_BELOW:g}, diffuse above {DIFFUSE_ABOVE:g}).",
             "",
             f"**Sentence confidence:** mean token probability {conf['mean_token_prob']:.2f}, "
             f"perplexity {conf['perplexity']:.2f} (1 = certain of every token)."]
    hint = _plain(direction)
    if hint and hint.get("swap"):
        lines += ["", f"⚠️ {md_text(hint['message'])}"]
    return "\n".join(lines)


def explanation_payload(explained: dict) -> dict:
    """The JSON the `/explain` API returns and downloads carry: the same numbers the panel draws."""
    return {key: _plain(value) for key, value in explained.items()}


def heatmap_explain(explained: dict) -> dict:
    """What static/heatmap.js draws beside the attention: the coverage row with its flags, the occlusion row of
    the selected step (all steps sent, so a step change needs no server call), the entropy badges, and the
    method and cost of the occlusion. Rounded to 4 decimals, as the page shows at most 3."""
    cov, conf, occ = (_plain(explained[k]) for k in ("coverage", "confidence", "occlusion"))
    out = {"coverage": [round(float(v), 4) for v in cov["values"]], "dropped": cov["dropped"],
           "repeated": cov["repeated"], "low": cov["low"], "high": cov["high"], "badges": conf["badges"],
           "effective": [round(float(e), 4) for e in conf["effective_tokens"]]}
    if occ:
        out.update(drops=[[round(float(d), 4) for d in row] for row in occ["drops"]], method=occ["method"],
                   noise=round(float(occ["batch_noise"]), 4), top1_rate=float(occ["top1_rate"]), cost=occ["cost"])
    return out


def sentence_confidence(explained: dict) -> str:
    """One status line: the sentence's confidence and how many steps attended narrowly (Markdown)."""
    conf = _plain(explained["confidence"])
    focused = conf["badges"].count("focused")
    return (f"confidence: mean token probability {conf['mean_token_prob']:.2f}, perplexity {conf['perplexity']:.2f}; "
            f"attention focused at {focused} of {len(conf['badges'])} steps")
