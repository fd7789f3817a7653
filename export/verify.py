"""Checks that run as part of every export and fail loudly: structure, values, and chosen tokens."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from tqdm import tqdm

from inference.runtime import CPU, make_session
from training.model import Seq2Seq

ATOL = 1e-4
# (batch, source length) pairs unlike the export example (2, 7), including batch 1 and long sources.
PARITY_SHAPES = ((1, 3), (3, 11), (5, 24), (8, 40))


class ExportError(RuntimeError):
    """The exported graphs are wrong; the bundle is not written."""


def check_structure(path: Path) -> None:
    """onnx.checker, and every GRU computes like torch's (linear_before_reset=1)."""
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    for node in proto.graph.node:
        if node.op_type == "GRU":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if attrs.get("linear_before_reset") != 1:
                raise ExportError(
                    f"{path.name}: GRU node {node.name!r} has linear_before_reset="
                    f"{attrs.get('linear_before_reset')}, torch's GRU needs 1 (exporter bug)"
                )


def random_batch(model: Seq2Seq, batch: int, length: int, generator: torch.Generator):
    """Random source ids with random lengths (the first row is full length)."""
    cfg = model.config
    ids = torch.randint(4, cfg.vocab_size, (batch, length), generator=generator)
    lengths = torch.randint(2, length + 1, (batch,), generator=generator)
    lengths[0] = length
    mask = torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)
    return ids.masked_fill(~mask, cfg.pad_id), mask


@torch.no_grad()
def check_parity(model: Seq2Seq, folder: Path, atol: float = ATOL) -> dict:
    """Max |onnxruntime - torch| over encoder and decoder outputs at several shapes; raises past atol."""
    encoder = make_session(folder / "encoder.onnx", [CPU])
    decoder = make_session(folder / "decoder.onnx", [CPU])
    generator = torch.Generator().manual_seed(0)
    worst = {}
    for batch, length in PARITY_SHAPES:
        src_ids, src_mask = random_batch(model, batch, length, generator)
        expected = model.encode(src_ids, src_mask)
        got = encoder.run(None, {"src_ids": src_ids.numpy(), "src_mask": src_mask.numpy()})
        prev = torch.randint(4, model.config.vocab_size, (batch,), generator=generator)
        enc_out, keys, hidden = (torch.from_numpy(x) for x in got)
        expected_step = model.decoder.step(prev, hidden, keys, enc_out, src_mask)
        got_step = decoder.run(
            None,
            {
                "prev_token": prev.numpy(),
                "hidden": got[2],
                "keys": got[1],
                "enc_out": got[0],
                "src_mask": src_mask.numpy(),
            },
        )
        names = ("enc_out", "keys", "hidden", "log_probs", "new_hidden", "attention")
        for name, e, g in zip(names, list(expected) + list(expected_step), got + got_step):
            diff = float(np.abs(e.numpy() - g).max())
            worst[name] = max(worst.get(name, 0.0), diff)
            if not diff <= atol:
                raise ExportError(
                    f"onnxruntime and torch differ by {diff:.2e} > {atol:g} in {name} "
                    f"at batch {batch}, source length {length}"
                )
    return {"atol": atol, "shapes": [list(s) for s in PARITY_SHAPES], "max_abs_diff": worst}


OUTPUT_ATOL = 1e-5  # the what-if's promise: the model's own weights give back its own log-probabilities


@torch.no_grad()
def check_output_layer(model: Seq2Seq, folder: Path, atol: float | None = OUTPUT_ATOL) -> dict:
    """output.onnx (decoder state + context -> log-probabilities) against torch's output layer at real decoder
    states and contexts, including a one-hot context (one source position's enc_out); raises past atol
    (None: only measure, as for int8 weights, whose drift compare_translators bounds)."""
    session = make_session(folder / "output.onnx", [CPU])
    generator = torch.Generator().manual_seed(1)
    worst = 0.0
    for batch, length in PARITY_SHAPES:
        src_ids, src_mask = random_batch(model, batch, length, generator)
        enc_out, keys, hidden = model.encode(src_ids, src_mask)
        prev = torch.randint(4, model.config.vocab_size, (batch,), generator=generator)
        _, state, weights = model.decoder.step(prev, hidden, keys, enc_out, src_mask)
        contexts = (torch.bmm(weights.unsqueeze(1), enc_out).squeeze(1), enc_out[:, 0])  # (B, 2H) each
        for context in contexts:
            expected = torch.log_softmax(model.decoder.output_logits(state, context), dim=-1).numpy()
            got = session.run(None, {"hidden": state.numpy(), "context": context.numpy()})[0]
            diff = float(np.abs(expected - got).max())
            worst = max(worst, diff)
            if atol is not None and not diff <= atol:
                raise ExportError(f"output.onnx and torch differ by {diff:.2e} > {atol:g} at batch {batch}")
    return {"atol": atol, "shapes": [list(s) for s in PARITY_SHAPES], "max_abs_diff": worst}


@torch.no_grad()
def torch_greedy(model: Seq2Seq, src: list[int], max_len: int) -> list[int]:
    ids = torch.tensor([src])
    out = model.greedy(ids, torch.ones_like(ids, dtype=torch.bool), max_len)[0].tolist()
    return out[: out.index(model.config.eos_id) + 1] if model.config.eos_id in out else out


def check_greedy(model: Seq2Seq, translator, sentences: list[str]) -> dict:
    """The bundle's greedy token ids equal torch's for every sentence; raises on the first difference."""
    for sentence in tqdm(sentences, desc="greedy ids vs torch", leave=False):
        src = translator.source_ids(sentence)
        result = translator.translate(sentence)
        expected = torch_greedy(model, src, result.decoding["max_len"])
        if result.target_ids != expected:
            raise ExportError(f"greedy output differs from torch for {sentence!r}: {result.target_ids} vs {expected}")
    return {"sentences": len(sentences), "identical": len(sentences)}


INT8_MIN_AGREEMENT = 0.5  # below this share of identical greedy outputs, quantization broke the model


def compare_translators(reference, candidate, sentences: list[str]) -> dict:
    """How often `candidate` (int8) picks the same greedy tokens as `reference` (fp32), and how far its
    log-probabilities drift along the fp32 output; raises when fewer than half the outputs agree."""
    same, drift = 0, 0.0
    for sentence in sentences:
        ours = reference.translate(sentence)
        theirs = candidate.translate(sentence, prefix=ours.target_ids)  # forced along the fp32 output
        same += candidate.translate(sentence).target_ids == ours.target_ids
        n = len(ours.token_probs)
        drift = max(drift, float(np.max(np.abs(np.log(theirs.token_probs[:n]) - np.log(ours.token_probs)))))
    if same < INT8_MIN_AGREEMENT * len(sentences):
        raise ExportError(
            f"int8 graphs agree with fp32 on only {same}/{len(sentences)} greedy outputs; "
            "quantization broke the model (export without --quantize)"
        )
    return {"sentences": len(sentences), "identical_greedy": int(same), "max_abs_token_log_prob_diff": round(drift, 4)}
