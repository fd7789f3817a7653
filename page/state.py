"""What the page shows, as one typed value (`Shown`), and the bounded server-side cache that keeps it.

A browser session holds only a cache key (gr.State); every handler looks the Shown up by that key.
"""

from __future__ import annotations

import pickle
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace

from inference import Translation
from inference.document import translation_json


@dataclass
class Shown:
    """One translation as the page shows it: what was asked, what came out, and which hypothesis is on screen."""

    pair: str
    text: str
    max_len: int  # what the visitor asked for: 0 = automatic
    translation: Translation  # the whole result: best hypothesis, n-best, decoder calls, encoder output
    model: dict  # the bundle's model_config (score function, H)
    hypothesis: int = 0  # the n-best row on screen (0 = the best)
    explanation: dict | None = None  # inference.explain.explanation, computed once per result

    @property
    def result(self) -> Translation:
        """The hypothesis on screen: tokens, attention, alternatives and its rows of the decoder calls."""
        return self.translation.hypothesis(self.hypothesis)

    @property
    def forced(self) -> int:
        """How many target tokens were forced (Continue from an alternative)."""
        return len(self.translation.decoding.get("prefix_ids", []))

    def showing(self, hypothesis: int) -> Shown:
        """The same result with n-best row `hypothesis` on screen (its explanation is computed anew)."""
        return replace(self, hypothesis=hypothesis, explanation=None)

    def document(self, with_explanation: bool = True, tensors: bool = False) -> dict:
        """The translation JSON (inference/translation.schema.json) of the hypothesis on screen; `tensors` adds
        the bmm picture's numbers (enc_out, each call's queries and scores)."""
        translation = self.translation
        if self.hypothesis:
            shown = self.result
            translation = replace(
                shown,
                nbest=translation.nbest,
                beam_tree=translation.beam_tree,
                timing_ms=translation.timing_ms,
                decoding=translation.decoding,
            )
        return translation_json(
            translation, self.pair, self.text, self.model, self.explanation if with_explanation else None, tensors
        )


def held_bytes(value) -> int:
    """What a cached value holds, counted as its pickled size: arrays by their bytes, Python lists of floats at
    about half their size in memory (the costliest result, 300 characters at beam 10 with its explanation,
    pickles to 1.7 MiB and holds 3.0 MiB, measured with tracemalloc)."""
    return len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


class ResultCache:
    """The last `capacity` values by random key, and no more than `max_bytes` of them (held_bytes; the newest
    value is always kept): a browser session keeps only the key in gr.State, so memory per session is one short
    string, and all sessions together hold a bounded amount whatever they ask."""

    def __init__(self, capacity: int = 256, max_bytes: int | None = None):
        self.capacity, self.max_bytes = capacity, max_bytes
        self._items: OrderedDict[str, tuple[object, int]] = OrderedDict()
        self._pinned: dict[str, object] = {}
        self.bytes = 0  # held_bytes of every value kept (the pinned ones aside)
        self._lock = threading.Lock()  # two requests run at once (the queue's concurrency limit)

    def put(self, value) -> str:
        key, size = secrets.token_hex(8), held_bytes(value) if self.max_bytes is not None else 0
        with self._lock:
            self._items[key] = value, size
            self.bytes += size
            while len(self._items) > 1 and (
                len(self._items) > self.capacity or (self.max_bytes is not None and self.bytes > self.max_bytes)
            ):
                self.bytes -= self._items.popitem(last=False)[1][1]
        return key

    def pin(self, value) -> str:
        """A value kept for the server's lifetime, outside the capacity (the result every page opens on)."""
        key = secrets.token_hex(8)
        with self._lock:
            self._pinned[key] = value
        return key

    def get(self, key):
        if not isinstance(key, str):
            return None
        with self._lock:
            if key in self._pinned:
                return self._pinned[key]
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def __len__(self) -> int:
        return len(self._items)
