"""Decoding algorithms over one decoder step, in numpy: greedy, beam, forced, forced prefix + continuation.

They only need a `step` callable, so the same code decodes with onnxruntime (the app) and with torch
(evaluate), and is tested against exhaustive search with a toy step function:

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
    node: tuple[int, int] | None = None  # beam search with a tree: (depth, index) of its last node there


def decoding_name(beam_size: int) -> str:
    """ "greedy" or "beam5": the key of a decoding in evaluation results and benchmark tables."""
    return "greedy" if beam_size == 1 else f"beam{beam_size}"


def length_penalty(length: int, alpha: float) -> float:
    """GNMT length penalty ((5 + length) / 6) ** alpha; alpha = 0 ranks by raw log-probability."""
    return ((5.0 + length) / 6.0) ** alpha


def _top_k(log_probs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best (ids, log-probs) of each row of an (N, V) array, best first, ties to the lower id.

    k rounds of argmax (each a fast vectorised pass) instead of argpartition, which is ~100× slower per
    element and dominated beam search time; chosen entries are masked in place and restored afterwards.
    """
    k = min(k, log_probs.shape[-1])
    rows = np.arange(log_probs.shape[0])
    ids = np.empty((len(rows), k), dtype=np.int64)
    values = np.empty((len(rows), k), dtype=log_probs.dtype)
    try:
        for j in range(k):
            ids[:, j] = log_probs.argmax(axis=-1)
            values[:, j] = log_probs[rows, ids[:, j]]
            log_probs[rows, ids[:, j]] = -np.inf
    finally:
        for j in reversed(range(k)):  # restore (first pick last: it holds the true value), output unchanged
            log_probs[rows, ids[:, j]] = values[:, j]
    return ids, values


def _hypothesis(ids, log_probs, attention, top_ids, top_lp, alpha, finished=True, step_rows=()) -> Hypothesis:
    score = float(np.sum(log_probs)) if log_probs else 0.0
    return Hypothesis(
        list(map(int, ids)),
        [float(x) for x in log_probs],
        np.asarray(attention, dtype=np.float32).reshape(len(ids), -1),
        np.asarray(top_ids).reshape(len(ids), -1),
        np.asarray(top_lp, dtype=np.float32).reshape(len(ids), -1),
        score,
        score / length_penalty(len(ids), alpha),
        finished,
        [int(r) for r in step_rows],
    )


def greedy_batch(
    step, hidden: np.ndarray, bos_id: int, eos_id: int, max_lens, top_k: int = 5, forced_prefixes=None
) -> list[Hypothesis]:
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
                done[row] = _hypothesis(
                    rec["ids"],
                    rec["lp"],
                    rec["attn"],
                    rec["top_ids"],
                    rec["top_lp"],
                    0.0,
                    finished=token == eos_id,
                    step_rows=rec["rows"],
                )
            else:
                keep.append(j)
        keep = np.asarray(keep, dtype=np.int64)
        rows, prev, hidden = rows[keep], prev[keep], hidden[keep]
        t += 1
    return done


def beam_search_batch(
    step,
    hidden: np.ndarray,
    bos_id: int,
    eos_id: int,
    max_lens,
    beam_size: int = 5,
    alpha: float = 0.6,
    n_best: int = 1,
    top_k: int = 5,
    trees: list | None = None,
) -> list[list[Hypothesis]]:
    """Beam search for every sentence of a batch (hidden is (B, D)); the live beams of all sentences share
    one decoder call per step, and each sentence's search is exactly what it would be alone.

    Per sentence: keeps `beam_size` live prefixes; a prefix that emits EOS becomes a finished hypothesis.
    Stops when `beam_size` hypotheses are finished and no live prefix, ended now, would rank above the best
    of them (exact for alpha = 0; for alpha > 0 a heuristic: a longer prefix is divided by a larger length
    penalty and could still overtake), or at its max length (live prefixes are then kept as unfinished).
    Returns, per sentence, the `n_best` best by normalized score. A list passed as `trees` gets each sentence's
    BeamTree: every candidate the search ranked at every step (kept, ended with EOS or pruned), with its parent.
    """
    batch = hidden.shape[0]
    max_lens = np.broadcast_to(np.asarray(max_lens, dtype=np.int64), (batch,))
    searches = [_Search(int(limit), BeamTree() if trees is not None else None) for limit in max_lens]
    active = list(range(batch))  # sentences with live prefixes, in the order of their decoder rows
    prev, rows = np.full(batch, bos_id, dtype=np.int64), np.arange(batch)
    t = 0
    while active:
        log_probs, new_hidden, attention = step(prev, hidden, rows)
        # Each sentence's 2 × beam_size best continuations are among its rows' 2 × beam_size best tokens.
        best_ids, best_lp = _top_k(log_probs, max(top_k, 2 * beam_size))
        top_ids, top_lp = best_ids[:, :top_k], best_lp[:, :top_k]
        keep, still_active, offset = [], [], 0
        for sentence in active:
            search = searches[sentence]
            block = slice(offset, offset + len(search.scores))
            kept = search.advance(
                log_probs[block],
                attention[block],
                top_ids[block],
                top_lp[block],
                best_ids[block],
                best_lp[block],
                offset,
                t,
                beam_size,
                eos_id,
                alpha,
            )
            if kept is not None:
                keep.extend(offset + kept)
                still_active.append(sentence)
            offset = block.stop
        active = still_active
        if active:
            hidden = new_hidden[np.asarray(keep, dtype=np.int64)]
            prev = np.concatenate([searches[s].steps[-1]["token"] for s in active])
            rows = np.concatenate([np.full(len(searches[s].scores), s, dtype=np.int64) for s in active])
        t += 1
    best = [sorted(search.finished, key=lambda hyp: -hyp.normalized_score)[:n_best] for search in searches]
    if trees is not None:
        for search, hyps in zip(searches, best):
            search.tree.nbest = [hyp.node for hyp in hyps]
            trees.append(search.tree)
    return best


@dataclass
class BeamTree:
    """Every candidate one sentence's beam search ranked, depth by depth, as indices and numbers only.

    Depth t is decoder call t: `batch[t]` live prefixes (B of that call) were extended, and its candidates are the
    2 × beam_size best (prefix, token) pairs by score, best first (those beyond cannot be kept). `parent[t][i]` is
    the node at depth t - 1 the candidate extends (-1: the start), `status[t][i]` is KEPT (a live prefix of the
    next call), ENDED (it emitted EOS: a finished hypothesis) or PRUNED (ranked, not kept). When the search stops
    at its max length the last depth's kept prefixes end unfinished (`unfinished`). `nbest[r]` is the (depth,
    index) node of the r-th returned hypothesis."""

    KEPT, ENDED, PRUNED = 0, 1, 2
    batch: list[int] = field(default_factory=list)
    parent: list[np.ndarray] = field(default_factory=list)
    token: list[np.ndarray] = field(default_factory=list)
    log_prob: list[np.ndarray] = field(default_factory=list)  # the token's own log-probability
    score: list[np.ndarray] = field(default_factory=list)  # the prefix's summed log-probability
    status: list[np.ndarray] = field(default_factory=list)
    unfinished: bool = False
    nbest: list[tuple[int, int] | None] = field(default_factory=list)


class _Search:
    """One sentence's beam: live prefixes (tokens, summed log-probs) and finished hypotheses.

    What each step recorded is kept once per step with a back-pointer to the prefix it extended, so a
    step costs the same however long the prefixes are; a hypothesis' records are gathered when it ends.
    """

    def __init__(self, max_len: int, tree: BeamTree | None = None):
        self.max_len = max_len
        self.tree = tree
        self.nodes = np.full(1, -1)  # (n,) each live prefix's node in the tree's last depth (-1: the start)
        self.scores = np.zeros(1)  # (n,) sum of log-probs of the n live prefixes
        # per step, for its n live prefixes: parent, token, lp, attn, top_ids, top_lp, rows
        self.steps: list[dict] = []
        self.finished: list[Hypothesis] = []

    def advance(
        self,
        log_probs,
        attention,
        top_ids,
        top_lp,
        best_ids,
        best_lp,
        offset: int,
        t: int,
        beam_size: int,
        eos_id: int,
        alpha: float,
    ) -> np.ndarray | None:
        """Extends the live prefixes by step t's output (this sentence's rows start at `offset`; best_ids and
        best_lp are each row's best tokens). Returns which rows live on, or None when the search is over."""
        candidates = (self.scores[:, None] + best_lp).ravel()  # the same sums as over the whole vocabulary
        beams = np.repeat(np.arange(len(self.scores)), best_ids.shape[1])
        tokens = best_ids.ravel()
        order = np.lexsort((beams * log_probs.shape[1] + tokens, -candidates))  # best first; ties: lower beam, id
        kept_beams, kept_tokens, kept_nodes = [], [], []
        ranked = order[: 2 * beam_size]
        status = np.full(len(ranked), BeamTree.PRUNED, dtype=np.int8) if self.tree is not None else None
        for i, (beam, token) in enumerate(zip(beams[ranked].tolist(), tokens[ranked].tolist())):
            if token == eos_id:
                self.finished.append(
                    self._hypothesis(beam, token, log_probs, attention, top_ids, top_lp, offset, alpha, True)
                )
                if status is not None:
                    status[i] = BeamTree.ENDED
                    self.finished[-1].node = (len(self.steps), i)
            else:
                kept_beams.append(beam)
                kept_tokens.append(token)
                kept_nodes.append(i)
                if status is not None:
                    status[i] = BeamTree.KEPT
            if len(kept_beams) == beam_size:
                break
        if status is not None:
            tree, ranked_beams = self.tree, beams[ranked]
            tree.batch.append(len(self.scores))
            tree.parent.append(self.nodes[ranked_beams])
            tree.token.append(tokens[ranked])
            tree.log_prob.append(log_probs[ranked_beams, tokens[ranked]].astype(np.float64))
            tree.score.append(candidates[ranked])
            tree.status.append(status)
        if not kept_beams:
            return None
        self.nodes = np.array(kept_nodes)
        beams, tokens = np.array(kept_beams), np.array(kept_tokens)
        step_lp = log_probs[beams, tokens].astype(np.float64)
        self.steps.append(
            dict(
                parent=beams,
                token=tokens,
                lp=step_lp,
                attn=attention[beams],
                top_ids=top_ids[beams],
                top_lp=top_lp[beams],
                rows=offset + beams,
            )
        )
        self.scores = self.scores[beams] + step_lp
        if len(self.finished) >= beam_size and max(
            h.normalized_score for h in self.finished
        ) >= self.scores.max() / length_penalty(len(self.steps), alpha):
            return None
        if t + 1 >= self.max_len:
            for beam in range(len(self.scores)):
                self.finished.append(self._hypothesis(beam, None, None, None, None, None, 0, alpha, False))
                if self.tree is not None:
                    self.finished[-1].node = (len(self.steps) - 1, int(self.nodes[beam]))
            if self.tree is not None:
                self.tree.unfinished = True
            return None
        return beams

    def _hypothesis(
        self, beam: int, token, log_probs, attention, top_ids, top_lp, offset: int, alpha: float, finished: bool
    ) -> Hypothesis:
        """Live prefix `beam` (after the last recorded step), extended by `token` from the current step unless
        token is None, as a Hypothesis."""
        records, ids = [], []
        if token is not None:
            records.append((float(log_probs[beam, token]), attention[beam], top_ids[beam], top_lp[beam], offset + beam))
            ids.append(token)
        for step in reversed(self.steps):  # back from the prefix's last recorded step
            records.append(
                (
                    float(step["lp"][beam]),
                    step["attn"][beam],
                    step["top_ids"][beam],
                    step["top_lp"][beam],
                    int(step["rows"][beam]),
                )
            )
            ids.append(int(step["token"][beam]))
            beam = int(step["parent"][beam])
        lp, attn, ids_top, lp_top, rows = zip(*reversed(records)) if records else ((), (), (), (), ())
        return _hypothesis(ids[::-1], list(lp), list(attn), list(ids_top), list(lp_top), alpha, finished, rows)
