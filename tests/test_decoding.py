"""inference/decoding.py against references with toy step functions: exhaustive search, batching, ancestry."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from inference.decoding import Hypothesis, beam_search_batch, greedy_batch, length_penalty


def beam_search(
    step,
    hidden: np.ndarray,
    bos_id: int,
    eos_id: int,
    max_len: int,
    beam_size: int = 5,
    alpha: float = 0.6,
    n_best: int = 1,
    top_k: int = 5,
) -> list[Hypothesis]:
    """Beam search for one sentence (hidden is (1, D)): the `n_best` best hypotheses."""
    return beam_search_batch(step, hidden, bos_id, eos_id, max_len, beam_size, alpha, n_best, top_k)[0]


# ---- algorithms on a toy step function --------------------------------------------------------------
def toy_step(vocab: int, seed: int):
    """A deterministic 'decoder': next-token log-probs depend on the previous token and the hidden state."""
    rng = np.random.default_rng(seed)
    table = rng.normal(size=(vocab, vocab)) * 2
    mix = rng.normal(size=(vocab, vocab)) * 0.5

    def step(prev, hidden, rows):
        logits = table[prev] + hidden @ mix
        log_probs = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        new_hidden = np.tanh(hidden + np.eye(vocab)[prev])
        return log_probs, new_hidden, np.ones((len(prev), 3)) / 3

    return step


def exhaustive_best(step, vocab, bos, eos, max_len, alpha):
    """Score every sequence up to max_len (ending in EOS, or cut at max_len) by brute force."""
    best = (-np.inf, None)
    for length in range(1, max_len + 1):
        for body in itertools.product([t for t in range(vocab) if t != eos], repeat=length - 1):
            for last in range(vocab):
                seq = list(body) + [last]
                if last != eos and length < max_len:
                    continue
                hidden, prev, score = np.zeros((1, vocab)), np.array([bos]), 0.0
                for token in seq:
                    log_probs, hidden, _ = step(prev, hidden, np.zeros(1, dtype=int))
                    score += log_probs[0, token]
                    prev = np.array([token])
                normalized = score / length_penalty(len(seq), alpha)
                if normalized > best[0]:
                    best = (normalized, seq)
    return best


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_beam_search_finds_the_exact_best_on_a_tiny_vocabulary(seed, alpha):
    vocab, bos, eos, max_len = 4, 0, 1, 4
    step = toy_step(vocab, seed)
    expected_score, expected = exhaustive_best(step, vocab, bos, eos, max_len, alpha)
    # A beam wide enough to keep every prefix is exhaustive search.
    best = beam_search(step, np.zeros((1, vocab)), bos, eos, max_len, beam_size=vocab**max_len, alpha=alpha)[0]
    assert best.ids == expected
    assert best.normalized_score == pytest.approx(expected_score)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_beam_search_does_not_stop_while_a_live_prefix_can_still_win(alpha):
    """Two finished hypotheses are not enough when a live prefix already scores better than both."""
    bos, eos, a, _b = 0, 1, 2, 3
    table = {
        1: [-50, -0.15, -0.1, -0.2],  # after BOS: ending now costs 0.15, 'a' 0.1, 'b' 0.2
        13: [-50, -5, -0.01, -5],  # after 'a': 'a' again is nearly free
        14: [-50, -0.01, -5, -5],  # after 'b': ending is nearly free (the second finished hypothesis)
        133: [-50, -0.01, -5, -5],
    }  # after 'a a': end; total -0.12 beats -0.15

    def step(prev, hidden, rows):
        code = hidden[:, 0] * 10 + prev + 1  # the hidden state spells the prefix
        log_probs = np.array([table.get(int(c), [-50, -1, -5, -5]) for c in code], dtype=float)
        return log_probs, code[:, None], np.ones((len(prev), 2)) / 2

    best = beam_search(step, np.zeros((1, 1), dtype=np.int64), bos, eos, 6, beam_size=2, alpha=alpha)[0]
    assert best.ids == [a, a, eos] and best.score == pytest.approx(-0.12)


def test_beam_early_stop_compares_live_prefixes_at_their_current_length():
    """The documented rule: stop once beam_size hypotheses are finished and no live prefix, ended now, ranks
    above the best. Exact at alpha = 0; at alpha > 0 a longer prefix is divided by a larger penalty, so the
    rule (like GNMT's) can stop before a longer hypothesis that would have ranked first."""
    bos, eos, a = 0, 1, 2
    table = {1: [-50, -1.0, -1.05], 13: [-50, -1e-4, -5]}  # after BOS: end (-1) or 'a' (-1.05); after 'a': end

    def step(prev, hidden, rows):
        code = hidden[:, 0] * 10 + prev + 1
        return np.array([table.get(int(c), [-50, -5, -5]) for c in code]), code[:, None], np.ones((len(prev), 1))

    hidden = np.zeros((1, 1), dtype=np.int64)
    for alpha in (0.0, 1.0):  # one finished ([eos], -1.0) and the live 'a' at -1.05 / lp(1): the search stops
        assert beam_search(step, hidden, bos, eos, 5, beam_size=1, alpha=alpha)[0].ids == [eos]
    # With alpha = 1, ['a', eos] would have won: -1.0501 / lp(2) = -0.900 > -1.0 / lp(1); a beam wide enough
    # never to have beam_size finished hypotheses does not stop early and finds it.
    assert (-1.05 - 1e-4) / length_penalty(2, 1.0) > -1.0 / length_penalty(1, 1.0)
    assert beam_search(step, hidden, bos, eos, 5, beam_size=3, alpha=1.0)[0].ids == [a, eos]
    assert beam_search(step, hidden, bos, eos, 5, beam_size=3, alpha=0.0)[0].ids == [eos]


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.5])
@pytest.mark.parametrize("beam_size", [2, 4])
def test_batched_beam_search_equals_one_sentence_at_a_time(alpha, beam_size):
    """Sentences that share decoder calls get exactly the hypotheses they get alone (toy decoder)."""
    vocab, bos, eos = 7, 0, 1
    step = toy_step(vocab, seed=3)
    hidden = np.random.default_rng(0).normal(size=(5, vocab))  # five different "sentences"
    max_lens = [3, 8, 5, 8, 1]
    batched = beam_search_batch(step, hidden, bos, eos, max_lens, beam_size, alpha, n_best=3)
    for sentence, hyps in enumerate(batched):
        alone = beam_search(
            step, hidden[sentence : sentence + 1], bos, eos, max_lens[sentence], beam_size, alpha, n_best=3
        )
        assert [h.ids for h in hyps] == [h.ids for h in alone] and len(hyps) >= 1
        assert [h.normalized_score for h in hyps] == pytest.approx([h.normalized_score for h in alone])
        assert [h.finished for h in hyps] == [h.finished for h in alone]
        assert all(len(h.ids) <= max_lens[sentence] for h in hyps)


def test_beam_one_equals_greedy_on_the_toy_model():
    for seed in range(10):
        step = toy_step(5, seed)
        greedy = greedy_batch(step, np.zeros((1, 5)), 0, 1, 6)[0]
        beam = beam_search(step, np.zeros((1, 5)), 0, 1, 6, beam_size=1, alpha=0.0)[0]
        assert beam.ids == greedy.ids and beam.score == pytest.approx(greedy.score)


def prev_token_step(vocab: int, seed: int):
    """toy_step whose 'attention' is the one-hot of each row's previous token: it shows the row's ancestry."""
    inner = toy_step(vocab, seed)

    def step(prev, hidden, rows):
        log_probs, new_hidden, _ = inner(prev, hidden, rows)
        return log_probs, new_hidden, np.eye(vocab)[prev]

    return step


@pytest.mark.parametrize("seed", range(4))
def test_hypothesis_step_rows_follow_its_own_ancestors(seed):
    vocab, bos, eos = 6, 0, 1
    calls = []
    step = prev_token_step(vocab, seed)

    def recorded(prev, hidden, rows):
        calls.append(prev.copy())
        return step(prev, hidden, rows)

    for hyp in beam_search(recorded, np.zeros((1, vocab)), bos, eos, 7, beam_size=3, alpha=0.6, n_best=3):
        for t, row in enumerate(hyp.step_rows):  # the row fed at step t had the hypothesis' token t - 1
            assert calls[t][row] == ([bos] + hyp.ids)[t]
