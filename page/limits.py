"""Every limit the page, its API and its share links keep, in one place, and the checks that apply them."""

from __future__ import annotations

from typing import NamedTuple

from inference import MAX_CHARS, InputError
from inference.source_text import finite_number, text_value, whole_number

MAX_BEAM = 10  # beam sizes 2..MAX_BEAM (1 = greedy)
MAX_LEN = 200  # the longest "max target tokens" a visitor may ask for (0 = automatic)
MAX_PENALTY = 3.0  # length penalty α from 0 to this, on the page, in share links and in the API
MAX_STEP = 400  # the largest step a share link may select
TOP_K = 5  # alternatives shown per step
WORKED_BEAM = 5  # the worked example the page opens on is a beam search: its decoder calls batch 5 beams
CONCURRENCY = 2  # two requests decode at once on a 2-CPU Space, one onnxruntime thread each
QUEUE_SIZE = 32  # further requests are refused with "queue full" instead of piling up
PER_VISITOR = 6  # requests one visitor (address) may have in the queue at once; more are refused (page/api.py)
# The decoding gate (page/gate.py): CONCURRENCY sections decode at once server-wide; work (decoder rows × source
# tokens², about 0.3 s here at the threshold) from HEAVY_WORK up is costly: one at a time, HEAVY_WAITING waiting,
# more refused at once. DECODE_WORKERS Gradio workers feed the gate (all decoding events share them), so costly
# waits (at most HEAVY_WAITING + 1) never hold every worker and a cheap request always gets in.
HEAVY_WORK = 40_000
HEAVY_WAITING = 2
DECODE_WORKERS = 8
DECODE_EVENT = dict(api_visibility="private", concurrency_id="decode", concurrency_limit=DECODE_WORKERS)
MAX_UPLOAD = "4kb"  # no component takes files; uploads are refused, and capped should that ever change
CACHED_RESULTS = 200  # results kept server-side for all sessions together (each a few tens of kB)
CACHED_BATCHES = 32  # Batch-tab traces kept server-side
# ...and no more than these bytes of them (page/state.py held_bytes, pickled; in memory at most 2.5 times as
# much: 1.8 measured on the shipped models, 2.4 on the tests' tiny one). Whatever visitors ask, the three caches
# (results, batches, the What if? tab's) together stay under 200 MiB; the costliest result (300 characters,
# beam 10) pickles to 1.7 MiB.
CACHED_RESULT_BYTES = 48 * 2**20
CACHED_BATCH_BYTES = 16 * 2**20
CACHED_WHAT_IF = 64  # the What if? tab's greedy translations and beam trees
CACHED_WHAT_IF_BYTES = 16 * 2**20
# Gradio keeps each session's copy of the page config (110-180 kB for this page, measured); every API call
# over plain HTTP is a new session, so the default 10,000 would let memory grow by 1-2 GB. Sessions older
# than the last 1,000 only lose result keys that CACHED_RESULTS has already dropped.
SESSIONS = 1000

__all__ = [
    "MAX_CHARS",
    "MAX_BEAM",
    "MAX_LEN",
    "MAX_PENALTY",
    "MAX_STEP",
    "TOP_K",
    "CONCURRENCY",
    "QUEUE_SIZE",
    "PER_VISITOR",
    "HEAVY_WORK",
    "HEAVY_WAITING",
    "DECODE_WORKERS",
    "DECODE_EVENT",
    "MAX_UPLOAD",
    "WORKED_BEAM",
    "CACHED_RESULTS",
    "CACHED_BATCHES",
    "CACHED_RESULT_BYTES",
    "CACHED_BATCH_BYTES",
    "CACHED_WHAT_IF",
    "CACHED_WHAT_IF_BYTES",
    "SESSIONS",
    "Settings",
    "settings",
    "check_pair",
    "step_number",
]


def step_number(step) -> int | None:
    """The hidden step box's text as a step; "" (no result) and anything else that is not a number → None."""
    try:
        return int(step)
    except (TypeError, ValueError):
        return None


class Settings(NamedTuple):
    """A request's decoding settings after every check."""

    text: str
    beam_size: int  # 1 = greedy
    length_penalty: float | None  # None = the bundle's own, tuned on validation
    max_len: int  # 0 = automatic


def settings(text, beam_size=1, length_penalty=None, max_len=0) -> Settings:
    """The request's arguments checked; InputError says which one is wrong and what is allowed."""
    text = text_value("text", text)
    beam_size = whole_number("beam_size", beam_size, 1, MAX_BEAM, "1 = greedy")
    max_len = whole_number("max_len", max_len, 0, MAX_LEN, "0 = automatic")
    if length_penalty is not None:
        length_penalty = finite_number("length_penalty", length_penalty, 0.0, MAX_PENALTY)
    return Settings(text, beam_size, length_penalty, max_len)


def check_pair(pair, pairs) -> str:
    pair = text_value("pair", pair, 'a language pair such as "en-de"')
    if pair not in pairs:
        raise InputError(f"Unknown language pair {pair!r}; choose one of {', '.join(pairs)}.")
    return pair
