"""Translator: a model's encoder and decoder step (onnxruntime for a bundle) driven by the decoding algorithms.

from inference import Translator
result = Translator("assets/en-de").translate("A dog runs on the beach.", beam_size=5)
result.text, result.target_tokens, result.attention   # (T × S) weights, one row per target token
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from inference.backend import SPECIAL_TOKENS, Backend, onnx_backend
from inference.bundle import BundleError
from inference.decoding import BeamTree, Hypothesis, beam_search_batch, greedy_batch
from inference.document import beam_tree_json
from inference.source_text import MAX_CHARS, MAX_TOKENS, InputError, check_text, finite_number, whole_number
from rules import max_target_len, pad_ids

DEFAULT_LENGTH_PENALTY = 0.6  # GNMT's alpha; a bundle's evaluation.json may carry one tuned on validation
MAX_DECODE_LEN = 1000  # the most target tokens any caller may ask for

__all__ = ["Translator", "Translation", "StepCall", "InputError", "MAX_CHARS", "MAX_TOKENS", "DEFAULT_LENGTH_PENALTY"]


@dataclass
class StepCall:
    """One decoder.onnx call as it really ran: `batch` rows (live beams; 1 in greedy), each row's attention,
    and the first bmm's operands and product for every row (what the page's bmm picture draws)."""

    batch: int
    attention: np.ndarray  # (batch, S) float32, every row's weights over the real source tokens
    query: np.ndarray | None = field(default=None, repr=False)  # (batch, 2H): the decoder GRU state, the query
    scores: np.ndarray | None = field(default=None, repr=False)  # (batch, S): query · keys, before the mask


@dataclass
class Translation:
    """One decoded hypothesis, complete: its tokens, attention, probabilities, alternatives and its row in every
    decoder call. A beam search's result is its best hypothesis with every returned one, best first, in `nbest`
    (complete hypotheses too); the decoder calls are shared by all of them (`step_calls`, one per step run)."""

    text: str
    source_tokens: list[str]
    source_ids: list[int]
    target_tokens: list[str]
    target_ids: list[int]
    attention: list[list[float]]  # (T, S): row t is the attention of target token t over the source
    token_probs: list[float]  # probability of each target token when it was chosen (or forced)
    alternatives: list[list[tuple[str, float]]]  # per target step: the top-k tokens and their probabilities
    alternative_ids: list[list[int]]  # the ids of `alternatives`, same order
    score: float  # sum of log-probabilities
    normalized_score: float
    finished: bool
    call_rows: list[int] = field(default_factory=list)  # at step t, this hypothesis' row in step_calls[t]
    step_calls: list[StepCall] = field(default_factory=list, repr=False)
    nbest: list[Translation] = field(default_factory=list)
    beam_tree: dict | None = None  # beam search: every candidate ranked per depth (inference/document.py)
    timing_ms: dict = field(default_factory=dict)
    decoding: dict = field(default_factory=dict)
    enc_out: np.ndarray | None = field(default=None, repr=False, compare=False)  # (S, 2H) float32
    keys: np.ndarray | None = field(default=None, repr=False, compare=False)  # (S, 2H): what queries meet

    def hypothesis(self, index: int) -> Translation:
        """n-best hypothesis `index` (0 = the best, which is this result itself when there is no n-best)."""
        return self.nbest[index] if self.nbest else self


def _recording(step, calls: list):
    """`step` unchanged, but each call's (attention (N, S), query (N, 2H)) is appended to `calls`. The query of
    attention is the decoder GRU's new state, which the step returns (training/model.py, Decoder.step)."""

    def recorded_step(prev, hidden, rows):
        log_probs, new_hidden, attention = step(prev, hidden, rows)
        calls.append((np.array(attention, dtype=np.float32), np.array(new_hidden, dtype=np.float32)))
        return log_probs, new_hidden, attention

    return recorded_step


class Translator:
    """Translator(bundle_path) serves a bundle with onnxruntime; Translator(backend=...) drives any encoder and
    decoder step (evaluation builds a torch one) with the same decoding code."""

    def __init__(
        self,
        path=None,
        device: str = "auto",
        threads: int | None = None,
        verify: bool = True,
        backend: Backend | None = None,
    ):
        if backend is None:
            if path is None:
                raise TypeError("Translator needs a bundle folder or a backend")
            backend = onnx_backend(path, device, threads, verify)
        self.backend, self.bundle = backend, backend.bundle
        self.src_lang, self.tgt_lang, self.config = backend.src_lang, backend.tgt_lang, backend.config
        self.pad_id, self.unk_id, self.bos_id, self.eos_id = (backend.special_tokens[k] for k in SPECIAL_TOKENS)
        self.tokenizer = backend.tokenizer  # one, shared by source and target (the model ties one embedding)
        self.providers, self.warnings = backend.providers, backend.warnings
        self.length_penalty = tuned_length_penalty(self.bundle.evaluation if self.bundle else {})
        self.last_latency_ms: float | None = None

    @property
    def name(self) -> str:
        return f"{self.src_lang}-{self.tgt_lang}"

    # ---- text <-> ids -------------------------------------------------------------------------------
    def source_ids(self, text: str, max_chars: int | None = MAX_CHARS) -> list[int]:
        """Validated source ids with EOS appended; raises InputError with a helpful message."""
        return check_text(text, self.tokenizer, self.unk_id, self.src_lang, "input", max_chars) + [self.eos_id]

    def check_sources(self, texts: list[str], max_chars: int | None = MAX_CHARS) -> list[list[int] | InputError]:
        """Per text: its source ids, or the InputError saying why the model refuses it."""
        checked = []
        for text in texts:
            try:
                checked.append(self.source_ids(text, max_chars))
            except InputError as error:
                checked.append(error)
        return checked

    def source_tokens(self, ids) -> list[str]:
        return [self.tokenizer.id_to_token(int(i)) for i in ids]

    def target_tokens(self, ids) -> list[str]:
        return [self.tokenizer.id_to_token(int(i)) for i in ids]

    def detokenize(self, ids) -> str:
        return self.tokenizer.decode([int(i) for i in ids if i != self.eos_id])

    # ---- the two graphs -----------------------------------------------------------------------------
    def encode(self, batch_ids: list[list[int]]):
        """Pads a batch and runs the encoder. Returns enc_out (B, S, 2H), keys, hidden (B, 2H), mask (B, S)."""
        src_ids = pad_ids(batch_ids, self.pad_id)
        mask = src_ids != self.pad_id
        enc_out, keys, hidden = self.backend.encode(src_ids, mask)
        return enc_out, keys, hidden, mask

    def step_function(self, enc_out, keys, mask):
        """The decoder step as the decoding algorithms want it (rows pick each row's sentence)."""
        return self.backend.step_function(enc_out, keys, mask)

    # ---- public API ---------------------------------------------------------------------------------
    def translate(
        self,
        text: str,
        beam_size: int = 1,
        length_penalty: float | None = None,
        n_best: int = 1,
        max_len: int | None = None,
        max_len_ratio: float = 2.0,
        top_k: int = 5,
        prefix: list[int] | None = None,
        reference: str | None = None,
        max_chars: int | None = MAX_CHARS,
    ) -> Translation:
        """Greedy (beam_size 1) or beam search; `prefix` forces the first target ids, then decodes freely;
        `reference` forces a whole target (forced decoding: how likely is this reference?). A length_penalty
        of None is the bundle's own (tuned on validation when its evaluation.json has one)."""
        start = time.perf_counter()
        beam_size, n_best, top_k = (
            whole_number(name, value)
            for name, value in (("beam_size", beam_size), ("n_best", n_best), ("top_k", top_k))
        )
        length_penalty = (
            self.length_penalty if length_penalty is None else finite_number("length_penalty", length_penalty)
        )
        src = self.source_ids(text, max_chars)
        limit = self._max_len(len(src), max_len, max_len_ratio)
        forced = (
            None
            if reference is None
            else check_text(reference, self.tokenizer, self.unk_id, self.tgt_lang, "reference") + [self.eos_id]
        )
        prefix = [whole_number("prefix id", i, 0, self.tokenizer.get_vocab_size() - 1) for i in prefix or []]
        enc_out, keys, hidden, mask = self.encode([src])
        encoded = time.perf_counter()
        calls: list[tuple[np.ndarray, np.ndarray]] = []
        trees: list[BeamTree] = []
        step = _recording(self.step_function(enc_out, keys, mask), calls)
        if forced is not None:
            hyps, mode = greedy_batch(step, hidden, self.bos_id, self.eos_id, len(forced), top_k, [forced]), "forced"
        elif prefix:
            hyps = greedy_batch(step, hidden, self.bos_id, self.eos_id, max(limit, len(prefix) + 1), top_k, [prefix])
            mode = "prefix+greedy"
        elif beam_size > 1:
            hyps = beam_search_batch(
                step, hidden, self.bos_id, self.eos_id, limit, beam_size, length_penalty, n_best, top_k, trees
            )[0]
            mode = "beam"
        else:
            hyps, mode = greedy_batch(step, hidden, self.bos_id, self.eos_id, limit, top_k), "greedy"
        done = time.perf_counter()
        source_keys = np.asarray(keys[0, : len(src)], dtype=np.float32)
        bmm_scores = self.config["attention"] in ("dot", "general")  # additive attention has no first bmm
        step_calls = [
            StepCall(
                int(weights.shape[0]),
                np.round(weights[:, : len(src)], 6),
                query,
                query @ source_keys.T if bmm_scores else None,
            )
            for weights, query in calls
        ]
        result = self._result(src, hyps[0], hyps if mode == "beam" else [], step_calls)
        if trees:
            result.beam_tree = beam_tree_json(trees[0], self.tokenizer.id_to_token, beam_size, length_penalty)
        result.enc_out, result.keys = np.asarray(enc_out[0, : len(src)], dtype=np.float32), source_keys
        result.timing_ms = {
            "encode": (encoded - start) * 1e3,
            "decode": (done - encoded) * 1e3,
            "total": (done - start) * 1e3,
        }
        result.decoding = {
            "mode": mode,
            "beam_size": beam_size if mode == "beam" else 1,
            "length_penalty": length_penalty if mode == "beam" else 0.0,
            "max_len": limit,
            "prefix_ids": prefix if mode == "prefix+greedy" else [],
        }
        self.last_latency_ms = result.timing_ms["total"]
        return result

    def score_reference(self, text: str, reference: str, top_k: int = 5) -> Translation:
        """Forced decoding of `reference`: per-token probabilities and attention under the model."""
        return self.translate(text, reference=reference or "", top_k=top_k)

    def translate_batch(
        self,
        texts: list[str],
        beam_size: int = 1,
        length_penalty: float | None = None,
        batch_size: int = 32,
        max_len_ratio: float = 2.0,
        progress=None,
        max_chars: int | None = MAX_CHARS,
    ) -> list[str]:
        """Many sentences, sorted by length into groups of `batch_size` that share each decoder call (all
        live beams of all sentences of a group at once); batch_size 1 decodes one sentence at a time.
        Raises the InputError of the first text the model refuses (filter with check_sources first)."""
        beam_size, batch_size = whole_number("beam_size", beam_size), whole_number("batch_size", batch_size)
        length_penalty = (
            self.length_penalty if length_penalty is None else finite_number("length_penalty", length_penalty)
        )
        ids = self.check_sources(texts, max_chars)
        refused = next((error for error in ids if isinstance(error, InputError)), None)
        if refused is not None:
            raise refused
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        out: list[str] = [""] * len(texts)
        for chunk in chunks if progress is None else progress(chunks):
            batch = [ids[i] for i in chunk]
            enc_out, keys, hidden, mask = self.encode(batch)
            limits = [self._max_len(len(s), None, max_len_ratio) for s in batch]
            step = self.step_function(enc_out, keys, mask)
            if beam_size > 1:
                best = [
                    hyps[0]
                    for hyps in beam_search_batch(
                        step, hidden, self.bos_id, self.eos_id, limits, beam_size, length_penalty, 1, 1
                    )
                ]
            else:
                best = greedy_batch(step, hidden, self.bos_id, self.eos_id, limits, 1)
            for i, hyp in zip(chunk, best):
                out[i] = self.detokenize(hyp.ids)
        return out

    @staticmethod
    def _max_len(source_len: int, max_len, max_len_ratio) -> int:
        if max_len is not None:
            return whole_number("max_len", max_len, 1, MAX_DECODE_LEN)
        ratio = finite_number("max_len_ratio", max_len_ratio)
        return min(max_target_len(source_len, ratio), MAX_DECODE_LEN)

    def _steps(self, src: list[int], hyp: Hypothesis) -> dict:
        """What the page shows of one hypothesis: its tokens, attention (T × S), probabilities, alternatives."""
        return {
            "target_tokens": self.target_tokens(hyp.ids),
            "target_ids": list(hyp.ids),
            "attention": np.round(hyp.attention[:, : len(src)], 6).tolist(),
            "token_probs": [float(np.exp(lp)) for lp in hyp.token_log_probs],
            "alternatives": [
                [(self.tokenizer.id_to_token(int(i)), float(np.exp(lp))) for i, lp in zip(ids, lps)]
                for ids, lps in zip(hyp.top_ids, hyp.top_log_probs)
            ],
            "alternative_ids": [[int(i) for i in ids] for ids in hyp.top_ids],
        }

    def sentence_result(self, src: list[int], hyp: Hypothesis, max_len: int) -> Translation:
        """One sentence of a greedy batch as a Translation (its decoder calls are the batch's, kept there)."""
        result = self._result(src, hyp, [], [])
        result.decoding = {
            "mode": "greedy",
            "beam_size": 1,
            "length_penalty": 0.0,
            "max_len": max_len,
            "prefix_ids": [],
        }
        return result

    def _result(self, src: list[int], best: Hypothesis, nbest: list[Hypothesis], step_calls: list[StepCall]):
        def complete(hyp: Hypothesis) -> Translation:
            return Translation(
                text=self.detokenize(hyp.ids),
                source_tokens=self.source_tokens(src),
                source_ids=list(src),
                **self._steps(src, hyp),
                score=hyp.score,
                normalized_score=hyp.normalized_score,
                finished=hyp.finished,
                call_rows=list(hyp.step_rows),
                step_calls=step_calls,
            )

        result = complete(best)
        result.nbest = [complete(hyp) for hyp in nbest]
        return result


def tuned_length_penalty(evaluation: dict) -> float:
    """The length penalty `python -m evaluate --tune-length-penalty` chose on validation, else 0.6."""
    tuned = evaluation.get("length_penalty")
    if tuned is None:
        return DEFAULT_LENGTH_PENALTY
    try:
        return finite_number("length_penalty", tuned["value"])
    except (InputError, KeyError, TypeError) as error:
        raise BundleError(
            f"evaluation.json has an unusable length_penalty ({error}); re-run "
            "`python -m evaluate BUNDLE --split validation --tune-length-penalty ...`"
        ) from None
