"""What the model accepts as text: the one input filter shared by the app, the command line and evaluation.

ids = check_text("A dog runs.", tokenizer, unk_id, language="en")   # token ids, or InputError
"""

from __future__ import annotations

import math
import unicodedata
from numbers import Real

from tokenizers import Tokenizer

from rules import language_name

MAX_CHARS = 300  # the page refuses longer inputs: Multi30k sentences are short captions
MAX_TOKENS = 100  # source tokens including EOS: every caller (page, command line, evaluation) keeps to it


class InputError(ValueError):
    """Text the model cannot translate; the message says what was wrong and what to do."""


def _control_chars(text: str) -> list[str]:
    return [c for c in text if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") and c not in "\t\n"]


def check_text(
    text, tokenizer: Tokenizer, unk_id: int, language: str, what: str = "input", max_chars: int | None = MAX_CHARS
) -> list[int]:
    """Token ids of `text` (no EOS), refusing what the model cannot read: not a string, empty, too long,
    control characters, characters the tokenizer never saw (other scripts). `max_chars` None: tokens only."""
    if not isinstance(text, str):
        raise InputError(f"The {what} is not text (got {type(text).__name__} {text!r:.40}); pass a string.")
    if not text.strip():
        raise InputError(
            f"The {what} is empty: type a sentence to translate."
            if what == "input"
            else f"The {what} is empty: paste a sentence."
        )
    if max_chars is not None and len(text) > max_chars:
        raise InputError(
            f"The {what} has {len(text)} characters; the limit is {max_chars}. Translate one sentence at a time."
        )
    bad = _control_chars(text)
    if bad:
        shown = ", ".join(repr(c) for c in bad[:3])
        raise InputError(f"The {what} contains control characters ({shown}); remove them and try again.")
    text = " ".join(text.split())
    encoding = tokenizer.encode(text, add_special_tokens=False)
    unknown = sorted({text[s:e] for tid, (s, e) in zip(encoding.ids, encoding.offsets) if tid == unk_id})
    if unknown:
        raise InputError(
            f"The model has never seen {', '.join(repr(u) for u in unknown[:3])}: it reads "
            f"{language_name(language)} written in the Latin alphabet."
        )
    if len(encoding.ids) + 1 > MAX_TOKENS:
        raise InputError(f"The {what} is {len(encoding.ids)} tokens long; the limit is {MAX_TOKENS - 1}. Shorten it.")
    return encoding.ids


# ---- arguments: the one set of checks the translator, the page, its API and share links use --------------
def describe(value) -> str:
    """A short, safe rendering of what was sent, for error messages."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, Real):
        return f"the number {value!r}" if math.isfinite(value) else f"the number {value}"
    if isinstance(value, str):
        return f"the text {value[:20]!r}" + ("…" if len(value) > 20 else "")
    return f"a {type(value).__name__}"


def whole_number(name: str, value, low: int = 1, high: int | None = None, meaning: str = "") -> int:
    """An int in [low, high] (high None: no upper bound). 2 and 2.0 are accepted (JSON clients send either);
    2.7, "2", True, NaN and infinity are refused, never rounded."""
    hint = f" ({meaning})" if meaning else ""
    rule = f"from {low} to {high}" if high is not None else f"of at least {low}"
    if (
        isinstance(value, bool)
        or not isinstance(value, Real)
        or not math.isfinite(value)
        or value != int(value)
        or int(value) < low
        or (high is not None and int(value) > high)
    ):
        raise InputError(f"{name} must be a whole number {rule}{hint}; got {describe(value)}.")
    return int(value)


def finite_number(name: str, value, low: float = 0.0, high: float | None = None) -> float:
    """`value` as a float if it is a real, finite number in [low, high] (NaN, infinity, text, True refused)."""
    rule = f"from {low:g} to {high:g}" if high is not None else f"of at least {low:g}"
    if (
        isinstance(value, bool)
        or not isinstance(value, Real)
        or not math.isfinite(value)
        or value < low
        or (high is not None and value > high)
    ):
        raise InputError(f"{name} must be a finite number {rule}; got {describe(value)}.")
    return float(value)


def text_value(name: str, value, what: str = "a sentence") -> str:
    if not isinstance(value, str):
        raise InputError(f"The {name} argument is not text (got {describe(value)}); send {what} as a string.")
    return value
