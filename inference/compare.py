"""Two sentences side by side: both translations, and which target tokens and attention rows changed.

compare(translator, "The dog bites the man.", "The man bites the dog.")
"""

from __future__ import annotations

import numpy as np

ROW_CHANGE = 0.05  # an attention row "changed" when its weights moved by more than this (L1 / 2, 0..1)


def compare(translator, text_a: str, text_b: str, **decoding) -> dict:
    """Both results (greedy unless `decoding` says otherwise) and, per target position, whether the token
    differs and how far its attention row moved (total variation over the padded source, 0 = identical)."""
    a, b = translator.translate(text_a, **decoding), translator.translate(text_b, **decoding)
    width = max(len(a.source_ids), len(b.source_ids))
    steps = []
    for t in range(max(len(a.target_ids), len(b.target_ids))):
        rows = [np.zeros(width) for _ in range(2)]
        for row, result in zip(rows, (a, b)):
            if t < len(result.attention):
                row[: len(result.attention[t])] = result.attention[t]
        present = t < len(a.target_ids) and t < len(b.target_ids)
        moved = round(float(np.abs(rows[0] - rows[1]).sum() / 2), 6) if present else 1.0
        steps.append(
            {
                "step": t,
                "token_a": a.target_tokens[t] if t < len(a.target_tokens) else None,
                "token_b": b.target_tokens[t] if t < len(b.target_tokens) else None,
                "token_changed": not present or a.target_ids[t] != b.target_ids[t],
                "attention_moved": moved,
                "row_changed": moved > ROW_CHANGE,
            }
        )
    return {
        "a": a,
        "b": b,
        "steps": steps,
        "same_translation": a.target_ids == b.target_ids,
        "changed_tokens": [s["step"] for s in steps if s["token_changed"]],
        "changed_rows": [s["step"] for s in steps if s["row_changed"]],
    }
