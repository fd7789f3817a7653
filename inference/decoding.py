"""Decoding algorithms over one decoder step, in numpy: greedy, beam, forced, forced prefix + continuation.

They only need a `step` callable, so the same code decodes with onnxruntime (the app) and with torch
(training.evaluate), and is tested against exhaustive search with a toy step function:

    step(prev_tokens (N,), hidden (N, D), rows (N,)) -> log_probs (N, V), new_hidden (N, D), attention (N, S)

`rows` says which sentence of the encoded batch each of the N decoder rows belongs to, so live beams of one
sentence (or sentences of a batch) go through the decoder in a single call per step.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Hypothesis:
    """One decoded target: ids (EOS included when it was produced) and what happened at each step."""
    ids: list[int]
    token_log_probs: list[float]
    attention: np.ndarray  # (T, S)
    top_ids: np.ndarray  # (T, k): the k most likely tokens at each step
    top_log_probs: np.ndarray  # (T, k)
    score: float  # sum of token log-probabilities
    normalized_score: float  # score / length penalty, what beam search ranks by
    finished: bool = True  # False when max length was hit before EOS
    step_rows: list[int] = field(default_factory=list)  # at step t, this hypothesis' row in the decoder call


def length_penalty(length: int, alpha: float) -> float:
    """GNMT length penalty ((5 + length) / 6) ** alpha; alpha = 0 ranks by raw log-probability."""
    return ((5.0 + length) / 6.0) ** alpha


def _top_k(log_probs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best (ids, log-probs) of each row of an (N, V) array, best first. Runs once per step, so no
    V-sized copies: argpartition on the array itself, then only k values are sorted."""
    k = min(k, log_probs.shape[-1])
    rows = np.arange(log_probs.shape[0])[:, None]
    idx = np.argpartition(log_probs, -k, axis=-1)[:, -k:]  # (N, k), unordered
    vals = log_probs[rows, idx]
    order = np.argsort(-vals, axis=-1, kind="stable")
    return idx[rows, order], vals[rows, order]


def _hypothesis(ids, log_probs, attention, top_ids, top_lp, alpha, finished=True, step_rows=()) -> Hypothesis:
    score = float(np.sum(log_probs)) if log_probs else 0.0
    return Hypothesis(list(map(int, ids)), [float(x) for x in log_probs],
                      np.asarray(attention, dtype=np.float32).reshape(len(ids), -1),
                      np.asarray(top_ids).reshape(len(ids), -1), np.asarray(top_lp, dtype=np.float32).reshape(len(ids), -1),
                      score, score / length_penalty(len(ids), alpha), finished, [int(r) for r in step_rows])


def greedy_batch(step, hidden: np.ndarray, bos_id: int, eos_id: int, max_lens, top_k: int = 5,
                 forced_prefixes=None) -> list[Hypothesis]:
    """Greedy decoding of a whole batch at once; finished rows leave the decoder call.

    `forced_prefixes[i]` (a list of ids) is fed to sentence i before it continues freely: forced decoding
    of a full reference (ending in EOS) and "continue from this word" are both this.
    """
    batch = hidden.shape[0]
    forced_prefixes = forced_prefixes or [[] for _ in range(batch)]
    max_lens = np.broadcast_to(np.asarray(max_lens), (batch,))
    rows = np.arange(batch)
    prev = np.full(batch, bos_id, dtype=np.int64)
    out = [dict(ids=[], lp=[], attn=[], top_ids=[], top_lp=[], rows=[]) for _ in range(batch)]
    done: list[Hypothesis | None] = [None] * batch
    t = 0
    while len(rows):
        log_probs, hidden, attention = step(prev, hidden, rows)
        top_ids, top_lp = _top_k(log_probs, top_k)
        keep = []
        for j, row in enumerate(rows):
            prefix = forced_prefixes[row]
            token = int(prefix[t]) if t < len(prefix) else int(top_ids[j, 0])
            rec = out[row]
            rec["ids"].append(token)
            rec["lp"].append(float(log_probs[j, token]))
            rec["attn"].append(attention[j])
            rec["top_ids"].append(top_ids[j])
            rec["top_lp"].append(top_lp[j])
            rec["rows"].append(j)
            prev[j] = token
            ended = token == eos_id and t >= len(prefix) - 1
            if ended or t + 1 >= max(max_lens[row], len(prefix)):
                done[row] = _hypothesis(rec["ids"], rec["lp"], rec["attn"], rec["top_ids"], rec["top_lp"], 0.0,
                                        finished=token == eos_id, step_rows=rec["rows"])
            else:
                keep.append(j)
        keep = np.asarray(keep, dtype=np.int64)
        rows, prev, hidden = rows[keep], prev[keep], hidden[keep]
        t += 1
    return done


def beam_search(step, hidden: np.ndarray, bos_id: int, eos_id: int, max_len: int, beam_size: int = 5,
                alpha: float = 0.6, n_best: int = 1, top_k: int = 5) -> list[Hypothesis]:
    """Beam search for one sentence (hidden is (1, D)); all live beams share one decoder call per step.

    Keeps `beam_size` live prefixes; a prefix that emits EOS becomes a finished hypothesis. Stops when
    `beam_size` hypotheses are finished and no live prefix scores above the best of them, or at max_len
    (live prefixes are then kept as unfinished).
    Returns the `n_best` best by normalized score.
    """
    tokens = np.full((1, 0), bos_id, dtype=np.int64)  # (n, t) ids so far
    scores = np.zeros(1)  # (n,) sum of log-probs
    history = [dict(lp=[], attn=[], top_ids=[], top_lp=[], rows=[])]
    prev = np.array([bos_id], dtype=np.int64)
    finished: list[Hypothesis] = []
    for t in range(max_len):
        rows = np.zeros(len(prev), dtype=np.int64)
        log_probs, new_hidden, attention = step(prev, hidden, rows)
        top_ids, top_lp = _top_k(log_probs, top_k)
        candidates = (scores[:, None] + log_probs).ravel()
        n_cand = min(2 * beam_size, candidates.size)
        best = np.argpartition(-candidates, n_cand - 1)[:n_cand]
        best = best[np.argsort(-candidates[best], kind="stable")]
        vocab = log_probs.shape[1]
        keep_beam, keep_token = [], []
        for flat in best:
            beam, token = divmod(int(flat), vocab)
            h = history[beam]
            record = (h["lp"] + [float(log_probs[beam, token])], h["attn"] + [attention[beam]],
                      h["top_ids"] + [top_ids[beam]], h["top_lp"] + [top_lp[beam]], h["rows"] + [beam])
            if token == eos_id:
                finished.append(_hypothesis(list(tokens[beam]) + [token], *record[:4], alpha, step_rows=record[4]))
            else:
                keep_beam.append((beam, token, record))
            if len(keep_beam) == beam_size:
                break
        if not keep_beam:
            break
        beams = np.array([b for b, _, _ in keep_beam])
        tokens = np.concatenate([tokens[beams], np.array([[tok] for _, tok, _ in keep_beam])], axis=1)
        scores = np.array([sum(rec[0]) for _, _, rec in keep_beam])
        # Stop once beam_size hypotheses are finished and none of the live prefixes, ended now, would
        # rank above the best of them. Log-probs are <= 0, so with alpha = 0 this is exact: a live
        # prefix can only lose score.
        if len(finished) >= beam_size and max(h.normalized_score for h in finished) >= \
                scores.max() / length_penalty(tokens.shape[1], alpha):
            break
        history = [dict(lp=r[0], attn=r[1], top_ids=r[2], top_lp=r[3], rows=r[4]) for _, _, r in keep_beam]
        prev = tokens[:, -1].copy()
        hidden = new_hidden[beams]
    else:
        for beam in range(len(tokens)):
            h = history[beam]
            finished.append(_hypothesis(tokens[beam], h["lp"], h["attn"], h["top_ids"], h["top_lp"], alpha, False,
                                        h["rows"]))
    finished.sort(key=lambda hyp: -hyp.normalized_score)
    return finished[:n_best]
