"""What the page and the `/explain` API show of "is attention an explanation?": the coverage and occlusion
rows static/heatmap.js draws under the attention heatmap, the status line's confidence, and the JSON payload.

    import app_explain
    from inference.explain import explanation
    explained = explanation(translator, text, state["result"], reverse=reverse_translator)  # plain dicts
    heatmap_value["explain"] = app_explain.heatmap_explain(explained)   # drawn in the browser
    app_explain.sentence_confidence(explained)                          # one status line
    app_explain.explanation_payload(explained)                          # /explain and the downloads

Nothing here runs a model. Inputs are the dicts of inference.explain (to_dict) or the dataclasses themselves.
"""
from __future__ import annotations

from dataclasses import asdict, is_dataclass


def _plain(value):
    return asdict(value) if is_dataclass(value) else value


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
