"""Translator: a model's encoder and decoder step (onnxruntime for a bundle) driven by the decoding algorithms.

    from inference import Translator
    result = Translator("assets/en-de").translate("A dog runs on the beach.", beam_size=5)
    result.text, result.target_tokens, result.attention   # (T × S) weights, one row per target token
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, fields

import numpy as np
from inference.backend import SPECIAL_TOKENS, Backend, onnx_backend
from inference.bundle import BundleError
from inference.decoding import Hypothesis, beam_search_batch, greedy_batch, max_target_len, pad_ids
from inference.source_text import MAX_CHARS, MAX_TOKENS, InputError, check_text, finite_number, whole_number

DEFAULT_LENGTH_PENALTY = 0.6  # GNMT's alpha; a bundle's evaluation.json may carry one tuned on validation
MAX_DECODE_LEN = 1000  # the most target tokens any caller may ask for

__all__ = ["Translator", "Translation", "InputError", "MAX_CHARS", "MAX_TOKENS", "DEFAULT_LENGTH_PENALTY"]


@dataclass
class Translation:
    text: str
    source_tokens: list[str]
    target_tokens: list[str]
    target_ids: list[int]
    attention: list[list[float]]  # (T, S): row t is the attention of target token t over the source
    token_probs: list[float]  # probability of each target token when it was chosen (or forced)
    alternatives: list[list[tuple[str, float]]]  # per target step: the top-k tokens and their probabilities
    alternative_ids: list[list[int]]  # the ids of `alternatives`, same order
    score: float  # sum of log-probabilities
    normalized_score: float
    finished: bool
    # Beam search: every returned hypothesis, best first, as {"text", "score", "normalized_score", "finished",
    # target_tokens/target_ids/attention/token_probs/alternatives/alternative_ids like the fields above, and
    # "step_calls": per step {"batch", "row"} of the decoder call that produced it (the calls' attention
    # rows are in the top-level step_calls; a step past the best's length carries its call's "attention")}
    nbest: list[dict] = field(default_factory=list)
    timing_ms: dict = field(default_factory=dict)
    decoding: dict = field(default_factory=dict)
    # One entry per target token t: the decoder.onnx call that produced it, as it really ran.
    # {"batch": N rows in that call (live beams; 1 in greedy), "row": the row that is this result's ancestor,
    #  "attention": N lists of S weights, every row's attention}
    step_calls: list[dict] = field(default_factory=list)
    enc_out: np.ndarray | None = field(default=None, repr=False, compare=False)  # (S, 2H) float32, not in JSON

    def to_dict(self) -> dict:
        """Everything but enc_out, as JSON-serialisable Python values."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.name != "enc_out"}


def _plain(value):
    """Deep copy with tuples as lists and numpy scalars as Python numbers (what json.dumps accepts)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _recording(step, calls: list):
    """`step` unchanged, but each call's attention (N, S) is appended to `calls`."""
    def recorded_step(prev, hidden, rows):
        log_probs, new_hidden, attention = step(prev, hidden, rows)
        calls.append(np.array(attention, dtype=np.float32))
        return log_probs, new_hidden, attention

    return recorded_step


class Translator:
    """Translator(bundle_path) serves a bundle with onnxruntime; Translator(backend=...) drives any encoder and
    decoder step (evaluation builds a torch one) with the same decoding code."""

    def __init__(self, path=None, device: str = "auto", threads: int | None = None, verify: bool = True,
                 backend: Backend | None = None):
        if backend is None:
            if path is None:
                raise TypeError("Translator needs a bundle folder or a backend")
            backend = onnx_backend(path, device, threads, verify)
        self.backend, self.bundle = backend, backend.bundle
        self.src_lang, self.tgt_lang, self.config = backend.src_lang, backend.tgt_lang, backend.config
        self.pad_id, self.unk_id, self.bos_id, self.eos_id = (backend.special_tokens[k] for k in SPECIAL_TOKENS)
        self.tokenizer = self.source_tokenizer = self.target_tokenizer = backend.tokenizer  # one, shared
        self.providers, self.warnings = backend.providers, backend.warnings
        self.length_penalty = tuned_length_penalty(self.bundle.evaluation if self.bundle else {})
        self.last_latency_ms: float | None = None

    @property
    def name(self) -> str:
        return f"{self.src_lang}-{self.tgt_lang}"

    # ---- text <-> ids -------------------------------------------------------------------------------
    def source_ids(self, text: str, max_chars: int | None = MAX_CHARS) -> list[int]:
        """Validated source ids with EOS appended; raises InputError with a helpful message."""
        return check_text(text, self.source_tokenizer, self.unk_id, self.src_lang, "input", max_chars) + [self.eos_id]

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
        return [self.source_tokenizer.id_to_token(int(i)) for i in ids]

    def target_tokens(self, ids) -> list[str]:
        return [self.target_tokenizer.id_to_token(int(i)) for i in ids]

    def detokenize(self, ids) -> str:
        return self.target_tokenizer.decode([int(i) for i in ids if i != self.eos_id])

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
    def translate(self, text: str, beam_size: int = 1, length_penalty: float | None = None, n_best: int = 1,
                  max_len: int | None = None, max_len_ratio: float = 2.0, top_k: int = 5,
                  prefix: list[int] | None = None, reference: str | None = None,
                  max_chars: int | None = MAX_CHARS) -> Translation:
        """Greedy (beam_size 1) or beam search; `prefix` forces the first target ids, then decodes freely;
        `reference` forces a whole target (forced decoding: how likely is this reference?). A length_penalty
        of None is the bundle's own (tuned on validation when its evaluation.json has one)."""
        start = time.perf_counter()
        beam_size, n_best, top_k = (whole_number(name, value) for name, value in
                                    (("beam_size", beam_size), ("n_best", n_best), ("top_k", top_k)))
        length_penalty = self.length_penalty if length_penalty is None else finite_number("length_penalty", length_penalty)
        src = self.source_ids(text, max_chars)
        limit = self._max_len(len(src), max_len, max_len_ratio)
        forced = None if reference is None else \
            check_text(reference, self.target_tokenizer, self.unk_id, self.tgt_lang, "reference") + [self.eos_id]
        prefix = [whole_number("prefix id", i, 0, self.target_tokenizer.get_vocab_size() - 1) for i in prefix or []]
        enc_out, keys, hidden, mask = self.encode([src])
        encoded = time.perf_counter()
        calls: list[np.ndarray] = []
        step = _recording(self.step_function(enc_out, keys, mask), calls)
        if forced is not None:
            hyps, mode = greedy_batch(step, hidden, self.bos_id, self.eos_id, len(forced), top_k, [forced]), "forced"
        elif prefix:
            hyps = greedy_batch(step, hidden, self.bos_id, self.eos_id, max(limit, len(prefix) + 1), top_k, [prefix])
            mode = "prefix+greedy"
        elif beam_size > 1:
            hyps = beam_search_batch(step, hidden, self.bos_id, self.eos_id, limit, beam_size, length_penalty,
                                     n_best, top_k)[0]
            mode = "beam"
        else:
            hyps, mode = greedy_batch(step, hidden, self.bos_id, self.eos_id, limit, top_k), "greedy"
        done = time.perf_counter()
        result = self._result(src, hyps[0], hyps if mode == "beam" else [])
        result.step_calls = [{"batch": int(calls[t].shape[0]), "row": row,
                              "attention": np.round(calls[t][:, : len(src)], 6).tolist()}
                             for t, row in enumerate(hyps[0].step_rows)]
        for entry, hyp in zip(result.nbest, hyps):  # the calls' rows are shared: only those past the best's steps
            entry["step_calls"] = [{"batch": int(calls[t].shape[0]), "row": row} | (
                {} if t < len(result.step_calls) else {"attention": np.round(calls[t][:, : len(src)], 6).tolist()})
                for t, row in enumerate(hyp.step_rows)]
        result.enc_out = np.asarray(enc_out[0, : len(src)], dtype=np.float32)
        result.timing_ms = {"encode": (encoded - start) * 1e3, "decode": (done - encoded) * 1e3,
                            "total": (done - start) * 1e3}
        result.decoding = {"mode": mode, "beam_size": beam_size if mode == "beam" else 1,
                           "length_penalty": length_penalty if mode == "beam" else 0.0, "max_len": limit}
        self.last_latency_ms = result.timing_ms["total"]
        return result

    def score_reference(self, text: str, reference: str, top_k: int = 5) -> Translation:
        """Forced decoding of `reference`: per-token probabilities and attention under the model."""
        return self.translate(text, reference=reference or "", top_k=top_k)

    def translate_batch(self, texts: list[str], beam_size: int = 1, length_penalty: float | None = None,
                        batch_size: int = 32, max_len_ratio: float = 2.0, progress=None,
                        max_chars: int | None = MAX_CHARS) -> list[str]:
        """Many sentences, sorted by length into groups of `batch_size` that share each decoder call (all
        live beams of all sentences of a group at once); batch_size 1 decodes one sentence at a time.
        Raises the InputError of the first text the model refuses (filter with check_sources first)."""
        beam_size, batch_size = whole_number("beam_size", beam_size), whole_number("batch_size", batch_size)
        length_penalty = self.length_penalty if length_penalty is None else finite_number("length_penalty", length_penalty)
        ids = self.check_sources(texts, max_chars)
        refused = next((error for error in ids if isinstance(error, InputError)), None)
        if refused is not None:
            raise refused
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        out: list[str] = [""] * len(texts)
        for chunk in (chunks if progress is None else progress(chunks)):
            batch = [ids[i] for i in chunk]
            enc_out, keys, hidden, mask = self.encode(batch)
            limits = [self._max_len(len(s), None, max_len_ratio) for s in batch]
            step = self.step_function(enc_out, keys, mask)
            if beam_size > 1:
                best = [hyps[0] for hyps in beam_search_batch(step, hidden, self.bos_id, self.eos_id, limits,
                                                              beam_size, length_penalty, 1, 1)]
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
        return {"target_tokens": self.target_tokens(hyp.ids), "target_ids": list(hyp.ids),
                "attention": np.round(hyp.attention[:, : len(src)], 6).tolist(),
                "token_probs": [float(np.exp(lp)) for lp in hyp.token_log_probs],
                "alternatives": [[(self.target_tokenizer.id_to_token(int(i)), float(np.exp(lp)))
                                  for i, lp in zip(ids, lps)] for ids, lps in zip(hyp.top_ids, hyp.top_log_probs)],
                "alternative_ids": [[int(i) for i in ids] for ids in hyp.top_ids]}

    def _result(self, src: list[int], best: Hypothesis, nbest: list[Hypothesis]) -> Translation:
        return Translation(
            text=self.detokenize(best.ids), source_tokens=self.source_tokens(src), **self._steps(src, best),
            score=best.score, normalized_score=best.normalized_score, finished=best.finished,
            nbest=[{"text": self.detokenize(h.ids), "score": h.score, "normalized_score": h.normalized_score,
                    "finished": h.finished, **self._steps(src, h)} for h in nbest])


def tuned_length_penalty(evaluation: dict) -> float:
    """The length penalty `python -m evaluate --tune-length-penalty` chose on validation, else 0.6."""
    tuned = evaluation.get("length_penalty")
    if tuned is None:
        return DEFAULT_LENGTH_PENALTY
    try:
        return finite_number("length_penalty", tuned["value"])
    except (InputError, KeyError, TypeError) as error:
        raise BundleError(f"evaluation.json has an unusable length_penalty ({error}); re-run "
                          "`python -m evaluate BUNDLE --split validation --tune-length-penalty ...`") from None
