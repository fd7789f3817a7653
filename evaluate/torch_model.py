"""A checkpoint decoded with torch through the same decoding code as a bundle: a Backend, not a subclass.

translator = torch_translator("runs/en-de/best.pt")   # inference.Translator(backend=torch_backend(...))
"""

from __future__ import annotations

import numpy as np
import torch

from inference.backend import Backend, prepare_tokenizer, special_tokens_of
from inference.translator import Translator
from training.checkpoint import load_checkpoint, model_from_checkpoint


def torch_backend(checkpoint, threads: int | None = None) -> Backend:
    """Encoder and Decoder.step of a checkpoint (a path, or a loaded checkpoint dict) in eager PyTorch, with
    numpy in and out like onnxruntime."""
    state = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint)
    if threads:
        torch.set_num_threads(threads)
    model, tokenizer = model_from_checkpoint(state)  # in eval mode

    @torch.no_grad()
    def encode(src_ids: np.ndarray, src_mask: np.ndarray):
        enc_out, keys, hidden = model.encode(torch.from_numpy(src_ids), torch.from_numpy(src_mask))
        return enc_out.numpy(), keys.numpy(), hidden.numpy()

    def step_function(enc_out, keys, src_mask):
        enc_out, keys, src_mask = (torch.from_numpy(np.ascontiguousarray(a)) for a in (enc_out, keys, src_mask))

        @torch.no_grad()
        def step(prev, hidden, rows):
            index = torch.from_numpy(rows)
            log_probs, new_hidden, attention = model.decoder.step(
                torch.from_numpy(prev),
                torch.from_numpy(np.ascontiguousarray(hidden)),
                keys[index],
                enc_out[index],
                src_mask[index],
            )
            return log_probs.numpy(), new_hidden.numpy(), attention.numpy()

        return step

    args = state.get("args", {})
    return Backend(
        args.get("src", "src"),
        args.get("tgt", "tgt"),
        dict(state["config"]),
        special_tokens_of(state["config"]),
        prepare_tokenizer(tokenizer),
        encode,
        step_function,
        providers=["torch"],
    )


def torch_translator(checkpoint, threads: int | None = None) -> Translator:
    return Translator(backend=torch_backend(checkpoint, threads))
