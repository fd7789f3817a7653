"""What the page shows, as one typed value (`Shown`), and the bounded server-side cache that keeps it.

A browser session holds only a cache key (gr.State); every handler looks the Shown up by that key.
"""

from __future__ import annotations

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


class ResultCache:
    """The last `capacity` values by random key: a browser session keeps only the key in gr.State, so
    memory per session is one short string, and all sessions together hold at most `capacity` values."""

    def __init__(self, capacity: int = 256):
        self.capacity = capacity
        self._items: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()  # two requests run at once (the queue's concurrency limit)

    def put(self, value) -> str:
        key = secrets.token_hex(8)
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return key

    def get(self, key):
        if not isinstance(key, str):
            return None
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def __len__(self) -> int:
        return len(self._items)
