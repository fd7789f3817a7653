"""Translator: a bundle's ONNX encoder and decoder step driven by the decoding algorithms.

    from inference import Translator
    result = Translator("assets/en-de").translate("A dog runs on the beach.", beam_size=5)
    result.text, result.target_tokens, result.attention   # (T × S) weights, one row per target token
"""
from __future__ import annotations

import time
import unicodedata
from dataclasses import dataclass, field, fields

import numpy as np
from tokenizers import Tokenizer

from inference.bundle import load_bundle
from inference.decoding import Hypothesis, beam_search, greedy_batch
from inference.runtime import open_sessions

MAX_CHARS = 300  # longer inputs are refused: Multi30k sentences are short captions
MAX_TOKENS = 100
DEFAULT_LENGTH_PENALTY = 0.6  # GNMT's alpha; a bundle's manifest may carry one tuned on validation


class InputError(ValueError):
    """Text the model cannot translate; the message says what was wrong and what to do."""


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
    nbest: list[dict] = field(default_factory=list)  # [{"text", "score", "normalized_score"}], beam search
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


def _control_chars(text: str) -> list[str]:
    return [c for c in text if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") and c not in "\t\n"]


def _recording(step, calls: list):
    """`step` unchanged, but each call's attention (N, S) is appended to `calls`."""
    def recorded_step(prev, hidden, rows):
        log_probs, new_hidden, attention = step(prev, hidden, rows)
        calls.append(np.array(attention, dtype=np.float32))
        return log_probs, new_hidden, attention

    return recorded_step


class Translator:
    def __init__(self, path, device: str = "auto", threads: int | None = None, verify: bool = True):
        self.bundle = load_bundle(path, verify_hashes=verify)
        manifest = self.bundle.manifest
        self.src_lang, self.tgt_lang = manifest["pair"]["src"], manifest["pair"]["tgt"]
        self.config = manifest["model_config"]
        self.length_penalty = float((manifest.get("decoding") or {}).get("length_penalty", DEFAULT_LENGTH_PENALTY))
        special = manifest["special_tokens"]
        self.pad_id, self.unk_id, self.bos_id, self.eos_id = (special[k] for k in ("pad", "unk", "bos", "eos"))
        self.source_tokenizer = Tokenizer.from_file(str(self.bundle.file(manifest["tokenizers"]["source"])))
        self.target_tokenizer = Tokenizer.from_file(str(self.bundle.file(manifest["tokenizers"]["target"])))
        for tokenizer in (self.source_tokenizer, self.target_tokenizer):
            tokenizer.encode_special_tokens = True  # typed "</s>" or "<pad>" is text, not a control id
        self.encoder, self.decoder, self.providers, self.warnings = open_sessions(
            self.bundle.file(manifest["graphs"]["encoder"]["file"]),
            self.bundle.file(manifest["graphs"]["decoder"]["file"]), device, threads)
        self.last_latency_ms: float | None = None

    @property
    def name(self) -> str:
        return f"{self.src_lang}-{self.tgt_lang}"

    # ---- text <-> ids -------------------------------------------------------------------------------
    def source_ids(self, text: str) -> list[int]:
        """Validated source ids with EOS appended; raises InputError with a helpful message."""
        return self._checked_ids(text, self.source_tokenizer, "input", self.src_lang) + [self.eos_id]

    def _checked_ids(self, text: str, tokenizer: Tokenizer, what: str, language: str) -> list[int]:
        """Token ids of `text`, refusing what the model cannot read: empty, too long, control characters,
        characters the tokenizer never saw (other scripts)."""
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"The {what} is empty: type a sentence to translate." if what == "input"
                             else f"The {what} is empty: paste a sentence.")
        if len(text) > MAX_CHARS:
            raise InputError(f"The {what} has {len(text)} characters; the limit is {MAX_CHARS}. Translate one sentence at a time.")
        bad = _control_chars(text)
        if bad:
            raise InputError(f"The {what} contains control characters ({', '.join(repr(c) for c in bad[:3])}); remove them and try again.")
        text = " ".join(text.split())
        encoding = tokenizer.encode(text, add_special_tokens=False)
        unknown = sorted({text[s:e] for tid, (s, e) in zip(encoding.ids, encoding.offsets) if tid == self.unk_id})
        if unknown:
            raise InputError(f"The model has never seen {', '.join(repr(u) for u in unknown[:3])}: it reads "
                             f"{language} text written in the Latin alphabet.")
        if len(encoding.ids) + 1 > MAX_TOKENS:
            raise InputError(f"The {what} is {len(encoding.ids)} tokens long; the limit is {MAX_TOKENS - 1}. Shorten it.")
        return encoding.ids

    def source_tokens(self, ids) -> list[str]:
        return [self.source_tokenizer.id_to_token(int(i)) for i in ids]

    def target_tokens(self, ids) -> list[str]:
        return [self.target_tokenizer.id_to_token(int(i)) for i in ids]

    def detokenize(self, ids) -> str:
        return self.target_tokenizer.decode([int(i) for i in ids if i != self.eos_id])

    # ---- the two graphs -----------------------------------------------------------------------------
    def encode(self, batch_ids: list[list[int]]):
        """Pads a batch and runs encoder.onnx. Returns enc_out (B, S, 2H), keys, hidden (B, 2H), mask (B, S)."""
        width = max(map(len, batch_ids))
        src_ids = np.full((len(batch_ids), width), self.pad_id, dtype=np.int64)
        for row, ids in enumerate(batch_ids):
            src_ids[row, : len(ids)] = ids
        mask = src_ids != self.pad_id
        enc_out, keys, hidden = self.encoder.run(None, {"src_ids": src_ids, "src_mask": mask})
        return enc_out, keys, hidden, mask

    def step_function(self, enc_out, keys, mask):
        """The decoder.onnx step as the decoding algorithms want it (rows pick each row's sentence)."""
        cache = {}

        def step(prev, hidden, rows):
            key = rows.tobytes()
            if key not in cache:  # beams of one sentence keep the same rows for many steps
                cache.clear()
                cache[key] = (np.ascontiguousarray(keys[rows]), np.ascontiguousarray(enc_out[rows]), mask[rows])
            k, e, m = cache[key]
            log_probs, new_hidden, attention = self.decoder.run(
                None, {"prev_token": prev, "hidden": hidden, "keys": k, "enc_out": e, "src_mask": m})
            return log_probs, new_hidden, attention

        return step

    # ---- public API ---------------------------------------------------------------------------------
    def translate(self, text: str, beam_size: int = 1, length_penalty: float | None = None, n_best: int = 1,
                  max_len: int | None = None, max_len_ratio: float = 2.0, top_k: int = 5,
                  prefix: list[int] | None = None, reference: str | None = None) -> Translation:
        """Greedy (beam_size 1) or beam search; `prefix` forces the first target ids, then decodes freely;
        `reference` forces a whole target (forced decoding: how likely is this reference?). A length_penalty
        of None is the bundle's own (tuned on validation when its manifest has one)."""
        start = time.perf_counter()
        length_penalty = self.length_penalty if length_penalty is None else length_penalty
        src = self.source_ids(text)
        enc_out, keys, hidden, mask = self.encode([src])
        encoded = time.perf_counter()
        limit = max_len or int(max_len_ratio * len(src)) + 10
        calls: list[np.ndarray] = []
        step = _recording(self.step_function(enc_out, keys, mask), calls)
        if reference is not None:
            forced = self._checked_ids(reference, self.target_tokenizer, "reference", self.tgt_lang) + [self.eos_id]
            hyps = greedy_batch(step, hidden, self.bos_id, self.eos_id, len(forced), top_k, [forced])
            mode = "forced"
        elif prefix:
            hyps = greedy_batch(step, hidden, self.bos_id, self.eos_id, max(limit, len(prefix) + 1), top_k, [list(prefix)])
            mode = "prefix+greedy"
        elif beam_size > 1:
            hyps = beam_search(step, hidden, self.bos_id, self.eos_id, limit, beam_size, length_penalty,
                               max(n_best, 1), top_k)
            mode = "beam"
        else:
            hyps = greedy_batch(step, hidden, self.bos_id, self.eos_id, limit, top_k)
            mode = "greedy"
        done = time.perf_counter()
        result = self._result(src, hyps[0], hyps if mode == "beam" else [])
        result.step_calls = [{"batch": int(calls[t].shape[0]), "row": row,
                              "attention": np.round(calls[t][:, : len(src)], 6).tolist()}
                             for t, row in enumerate(hyps[0].step_rows)]
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
                        batch_size: int = 32, max_len_ratio: float = 2.0, progress=None) -> list[str]:
        """Many sentences: greedy in batches of `batch_size` (sorted by length), or beam one by one."""
        if beam_size > 1:
            iterator = texts if progress is None else progress(texts)
            return [self.translate(t, beam_size=beam_size, length_penalty=length_penalty,
                                   max_len_ratio=max_len_ratio).text for t in iterator]
        ids = [self.source_ids(t) for t in texts]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        out: list[str | None] = [None] * len(texts)
        for chunk in (chunks if progress is None else progress(chunks)):
            batch = [ids[i] for i in chunk]
            enc_out, keys, hidden, mask = self.encode(batch)
            limits = [int(max_len_ratio * len(s)) + 10 for s in batch]
            hyps = greedy_batch(self.step_function(enc_out, keys, mask), hidden, self.bos_id, self.eos_id, limits, 1)
            for i, hyp in zip(chunk, hyps):
                out[i] = self.detokenize(hyp.ids)
        return out

    def _result(self, src: list[int], best: Hypothesis, nbest: list[Hypothesis]) -> Translation:
        alternatives = [[(self.target_tokenizer.id_to_token(int(i)), float(np.exp(lp))) for i, lp in zip(ids, lps)]
                        for ids, lps in zip(best.top_ids, best.top_log_probs)]
        return Translation(
            text=self.detokenize(best.ids), source_tokens=self.source_tokens(src),
            target_tokens=self.target_tokens(best.ids), target_ids=best.ids,
            attention=np.round(best.attention[:, : len(src)], 6).tolist(),
            token_probs=[float(np.exp(lp)) for lp in best.token_log_probs], alternatives=alternatives,
            alternative_ids=[[int(i) for i in ids] for ids in best.top_ids],
            score=best.score, normalized_score=best.normalized_score, finished=best.finished,
            nbest=[{"text": self.detokenize(h.ids), "score": h.score, "normalized_score": h.normalized_score}
                   for h in nbest])
