"""The rules training and inference share, in one place that needs neither torch nor onnxruntime (numpy only).

    from rules import DEVICES, language_name, max_target_len, pad_ids

`training` may not import `inference` (and `inference` never imports torch), so what both sides must agree
on lives here: how long a translation may get, how a batch is padded, which devices the command lines offer
and what the languages are called. This module imports nothing of the project.
"""

from __future__ import annotations

import numpy as np

DEVICES = ("auto", "cpu", "cuda")  # every --device: auto = the GPU when there is a usable one, else the CPU
LANGUAGE_NAMES = {"en": "English", "de": "German", "fr": "French", "cs": "Czech"}


def language_name(code: str) -> str:
    """ "English" for "en"; an unknown code is returned as it is."""
    return LANGUAGE_NAMES.get(code, code)


def max_target_len(source_len: int, ratio: float = 2.0) -> int:
    """How many target tokens decoding may produce for `source_len` source tokens (EOS included)."""
    return int(ratio * source_len) + 10


def pad_ids(batch_ids: list[list[int]], pad_id: int) -> np.ndarray:
    """Token id lists -> (B, S) int64 array padded with `pad_id` on the right; the mask is ids != pad_id."""
    src_ids = np.full((len(batch_ids), max(map(len, batch_ids))), pad_id, dtype=np.int64)
    for row, ids in enumerate(batch_ids):
        src_ids[row, : len(ids)] = ids
    return src_ids
