"""Translate a few sentences as ONE padded batch and record every decoder call: what bmm really batches.

    from inference import Translator
    from inference.batch_trace import trace_batch
    trace = trace_batch(Translator("assets/en-de"), ["A dog runs.", "Two children play in the park."])
    trace.src_ids, trace.mask, trace.enc_out.shape    # (B, S) padded, (B, S) bool, (B, S, 2H)
    [call.rows for call in trace.calls]                # which sentences were still decoding at each step

The batch goes through encoder.onnx once and through decoder.onnx once per step, exactly like
`Translator.translate_batch` (greedy, finished sentences leave the batch); a wrapper around the step
function keeps each call's rows and attention. numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inference.decoding import greedy_batch
from inference.translator import InputError
from rules import max_target_len, pad_ids

MIN_SENTENCES, MAX_SENTENCES = 2, 8


@dataclass
class DecoderCall:
    """One decoder.onnx call: `rows[i]` is the sentence of row i; attention (N, S) over the padded source, and
    the first bmm's operands and product: each row's query (the decoder GRU state) and scores."""

    rows: np.ndarray  # (N,) int
    attention: np.ndarray  # (N, S) float32
    query: np.ndarray | None = None  # (N, 2H) float32
    scores: np.ndarray | None = None  # (N, S) float32, query · keys before the mask (None for additive attention)

    @property
    def batch(self) -> int:
        return len(self.rows)


@dataclass
class BatchTrace:
    texts: list[str]
    source_tokens: list[list[str]]  # per sentence, real tokens only (EOS included)
    src_ids: np.ndarray  # (B, S) int64, padded with pad_id on the right
    mask: np.ndarray  # (B, S) bool, True = real token
    enc_out: np.ndarray  # (B, S, 2H) float32
    calls: list[DecoderCall]  # one per decoding step
    target_tokens: list[list[str]]  # per sentence
    attention: list[np.ndarray]  # per sentence (T_b, S): its rows of the calls, padded positions included
    translations: list[str]
    pad_id: int
    keys: np.ndarray | None = None  # (B, S, 2H) float32, what the queries meet (enc_out itself for dot attention)
    sentences: list = None  # per sentence, its inference.Translation (tokens, attention, alternatives)

    @property
    def lengths(self) -> list[int]:
        return [len(tokens) for tokens in self.source_tokens]


def split_sentences(text: str) -> list[str]:
    """One sentence per non-empty line; refuses fewer than 2 or more than 8 with a message."""
    if not isinstance(text, str):
        raise InputError("The sentences are not text; type one sentence per line.")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not MIN_SENTENCES <= len(lines) <= MAX_SENTENCES:
        raise InputError(f"Type {MIN_SENTENCES} to {MAX_SENTENCES} sentences, one per line; got {len(lines)}.")
    return lines


def source_ids_by_line(translator, texts: list[str]) -> list[list[int]]:
    """Each text's source ids; an InputError names the bad line."""
    batch_ids = []
    for line, text in enumerate(texts, start=1):
        try:
            batch_ids.append(translator.source_ids(text))
        except InputError as error:
            raise InputError(f"Line {line}: {error}") from None
    return batch_ids


def trace_batch(translator, texts: list[str], max_len_ratio: float = 2.0) -> BatchTrace:
    """Greedy decoding of `texts` as one batch, keeping every decoder call (InputError names the bad line)."""
    batch_ids = source_ids_by_line(translator, texts)
    enc_out, keys, hidden, mask = translator.encode(batch_ids)
    src_ids = pad_ids(batch_ids, translator.pad_id)  # what translator.encode fed the encoder
    calls: list[DecoderCall] = []
    step = translator.step_function(enc_out, keys, mask)
    keys = np.asarray(keys, dtype=np.float32)
    bmm_scores = translator.config["attention"] in ("dot", "general")

    def recorded_step(prev, hidden_state, rows):
        log_probs, new_hidden, attention = step(prev, hidden_state, rows)
        query = np.array(new_hidden, dtype=np.float32)  # the query of attention is the GRU's new state
        scores = np.einsum("nd,nsd->ns", query, keys[rows]) if bmm_scores else None
        calls.append(DecoderCall(np.array(rows), np.array(attention, dtype=np.float32), query, scores))
        return log_probs, new_hidden, attention

    limits = [max_target_len(len(ids), max_len_ratio) for ids in batch_ids]
    hyps = greedy_batch(recorded_step, hidden, translator.bos_id, translator.eos_id, limits, top_k=5)
    return BatchTrace(
        texts=list(texts),
        source_tokens=[translator.source_tokens(ids) for ids in batch_ids],
        src_ids=src_ids,
        mask=np.asarray(mask),
        enc_out=np.asarray(enc_out, dtype=np.float32),
        calls=calls,
        target_tokens=[translator.target_tokens(h.ids) for h in hyps],
        attention=[np.asarray(h.attention, dtype=np.float32) for h in hyps],
        translations=[translator.detokenize(h.ids) for h in hyps],
        pad_id=translator.pad_id,
        keys=keys,
        sentences=[translator.sentence_result(ids, hyp, limit) for ids, hyp, limit in zip(batch_ids, hyps, limits)],
    )
