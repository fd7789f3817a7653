"""Share links: the page's state in its address (?pair=…&text=…&mode=…&step=…), read back with every value checked.

The browser writes the link (page/static/heatmap.js); `state_from_query` reads it, keeping each value that
passes and saying in one line why any other was ignored.
"""

from __future__ import annotations

import math
import re
import unicodedata

from page.limits import MAX_BEAM, MAX_CHARS, MAX_LEN, MAX_PENALTY, MAX_STEP

MAX_VALUE_CHARS = 1000  # longer query values are refused before any parsing


def _control_characters(text: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") and c not in "\t\n" for c in text)


def _whole(value: str, low: int, high: int) -> int | None:
    return int(value) if re.fullmatch(r"[0-9]{1,4}", value) and low <= int(value) <= high else None


def _number(value: str, low: float, high: float) -> float | None:
    if not re.fullmatch(r"[0-9]{1,2}(\.[0-9]{1,4})?", value):
        return None
    number = float(value)
    return number if math.isfinite(number) and low <= number <= high else None


def _prefix(value: str) -> list[int] | None:
    """The target ids a continued translation forces first ("12.408.7"); the model checks each id's range."""
    if not re.fullmatch(r"[0-9]{1,6}(\.[0-9]{1,6})*", value) or value.count(".") >= MAX_LEN:
        return None
    return [int(i) for i in value.split(".")]


def state_from_query(params, pairs) -> dict:
    """Validated settings from a share link's query (e.g. dict(gr.Request.query_params)); `pairs` = known pairs.

    Returns only the keys whose values passed (pair, text, mode, beam_size, length_penalty, max_len, step,
    words, prefix: the target ids a continued translation forced) and "messages": one line per ignored value saying why. Unknown keys (Gradio's own) are left alone.
    """
    state: dict = {"messages": []}
    pairs = list(pairs)
    checks = {
        "pair": ("pair", lambda v: v if v in pairs else None, f"not one of {', '.join(pairs)}"),
        "text": (
            "text",
            lambda v: v if v.strip() and len(v) <= MAX_CHARS and not _control_characters(v) else None,
            f"must be 1 to {MAX_CHARS} characters without control characters",
        ),
        "mode": ("mode", lambda v: {"greedy": "greedy", "beam": "beam search"}.get(v), "must be greedy or beam"),
        "beam": ("beam_size", lambda v: _whole(v, 2, MAX_BEAM), f"must be a whole number from 2 to {MAX_BEAM}"),
        "penalty": (
            "length_penalty",
            lambda v: _number(v, 0.0, MAX_PENALTY),
            f"must be a number from 0 to {MAX_PENALTY:g}",
        ),
        "max_len": ("max_len", lambda v: _whole(v, 0, MAX_LEN), f"must be a whole number from 0 to {MAX_LEN}"),
        "step": ("step", lambda v: _whole(v, 0, MAX_STEP), f"must be a whole number from 0 to {MAX_STEP}"),
        "words": ("words", lambda v: {"0": False, "1": True}.get(v), "must be 0 or 1"),
        "prefix": ("prefix", _prefix, f"must be 1 to {MAX_LEN} token ids joined by dots"),
    }
    for name, (key, parse, rule) in checks.items():
        if name not in params:
            continue
        raw = params[name]
        value = parse(raw) if isinstance(raw, str) and len(raw) <= MAX_VALUE_CHARS else None
        if value is None:
            shown = repr(raw[:40] + "…" if isinstance(raw, str) and len(raw) > 40 else raw)
            state["messages"].append(f"Ignored {name}={shown} from the link: it {rule}.")
        else:
            state[key] = value
    return state
