"""Checkpoints: one file holds the config, the weights and the tokenizer, so it alone rebuilds the model.

Everything in a checkpoint is plain data: tensors, numbers, strings, lists and dicts (the tokenizer as its
JSON text, the config and the training history as dicts). So every load uses
`torch.load(weights_only=True)`, which refuses any other pickled object instead of running its code:
opening a checkpoint from the internet cannot execute anything.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from pathlib import Path

import torch
from tokenizers import Tokenizer

from training.config import ModelConfig
from training.errors import CheckpointError
from training.model import Seq2Seq


def atomic_save(obj, path: str | os.PathLike) -> None:
    """torch.save to a temp file in the same folder, then rename: a crash never leaves half a checkpoint.

    Serialised through memory so the archive's inner folder name is fixed (torch uses the file name),
    which makes the same state give the same bytes.
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with open(tmp, "wb") as f:
            f.write(buffer.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def to_cpu(value, _moved: dict | None = None):
    """The same nested dicts/lists with every tensor on the CPU, so a file saved on a GPU loads anywhere.

    Tensors that share memory (the tied embedding appears under three names) stay shared, so they are saved once.
    """
    moved = {} if _moved is None else _moved
    if isinstance(value, torch.Tensor):
        key = (value.device, value.data_ptr(), value.dtype, tuple(value.shape), value.stride())
        if key not in moved:
            moved[key] = value.detach().cpu()
        return moved[key]
    if isinstance(value, dict):
        return type(value)((k, to_cpu(v, moved)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(to_cpu(v, moved) for v in value)
    return value


def safe_load(path: str | os.PathLike):
    """torch.load of plain data and tensors only, onto the CPU; anything else is a one-line CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist (train one with `python -m training`)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        refused = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        if refused:  # a pickle that would build an arbitrary object (and could run code while doing so)
            raise CheckpointError(
                f"refusing to load {path}: it holds a pickled {refused.group(1)}, not just tensors "
                "and plain data; only files written by `python -m training` are accepted"
            ) from None
        first_line = (str(error).strip().splitlines() or [""])[0]
        raise CheckpointError(
            f"checkpoint {path} cannot be read ({type(error).__name__}: {first_line}); "
            "is it a file written by `python -m training`?"
        ) from None


def load_checkpoint(path: str | os.PathLike) -> dict:
    """A whole checkpoint (weights, config, tokenizer, training state), loaded safely onto the CPU."""
    state = safe_load(path)
    if not isinstance(state, dict) or not {"config", "model", "src_tokenizer", "tgt_tokenizer"} <= set(state):
        raise CheckpointError(f"{path} is not a checkpoint of this project (needs config, model and tokenizer)")
    if state["src_tokenizer"] != state["tgt_tokenizer"]:
        raise CheckpointError(
            f"{path} has two different tokenizers; this project's model shares one between source and target"
        )
    return state


def load_weights(path: str | os.PathLike) -> dict:
    """Only the state dict of a weights snapshot (OUT/epochs/epoch-NNN.pt)."""
    state = safe_load(path)
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise CheckpointError(f"{path} is not a weights snapshot of this project (needs a 'model' state dict)")
    return state["model"]


def tokenizer_fields(tokenizer_json: str) -> dict:
    """How a checkpoint holds its one tokenizer: the same JSON text under the source and the target key, the
    layout every shipped checkpoint has (one string object, so it is saved once)."""
    return {"src_tokenizer": tokenizer_json, "tgt_tokenizer": tokenizer_json}


def tokenizer_json(state: dict) -> str:
    """The tokenizer of a loaded checkpoint, as JSON text (load_checkpoint checked both keys hold the same)."""
    return state["src_tokenizer"]


def model_from_checkpoint(state: dict) -> tuple[Seq2Seq, Tokenizer]:
    """Rebuilds the fp32 model in eval mode and its tokenizer from a loaded checkpoint."""
    config = ModelConfig(**state["config"])
    model = Seq2Seq(config)
    model.load_state_dict({k: v.float() for k, v in state["model"].items()})
    model.eval()
    return model, Tokenizer.from_str(tokenizer_json(state))


def average_weights(states: list[dict]) -> dict:
    """The element-wise mean of several state dicts of one model (checkpoint averaging).

    Averaging the last few epochs' weights smooths out the noise of the final Adam steps; on small
    data it usually beats every single checkpoint it was made from. Tied tensors stay tied.
    """
    if not states:
        raise ValueError("average_weights needs at least one state dict")
    averaged, seen = {}, {}
    for name, value in states[0].items():
        if not value.is_floating_point():
            averaged[name] = value.clone()
            continue
        key = value.data_ptr()
        if key not in seen:
            seen[key] = torch.stack([s[name].float() for s in states]).mean(0).to(value.dtype)
        averaged[name] = seen[key]
    return averaged


def strip_for_release(state: dict, half: bool = True) -> dict:
    """What ships beside a bundle: weights (fp16 if asked), config, tokenizer, run facts; no optimizer."""
    keep = {k: v for k, v in state.items() if k not in ("optimizer", "rng")}
    if half:
        converted = {}  # tied weights appear under several keys: convert each storage once so it is saved once
        keep["model"] = {}
        for name, value in state["model"].items():
            if value.is_floating_point():
                if value.data_ptr() not in converted:
                    converted[value.data_ptr()] = value.half()
                value = converted[value.data_ptr()]
            keep["model"][name] = value
    keep["weights_dtype"] = "float16" if half else "float32"
    return keep
