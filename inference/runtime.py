"""onnxruntime sessions: which execution provider, how many threads, and saying so out loud."""

from __future__ import annotations

import os
import warnings

from inference.bundle import BundleError
from rules import DEVICES

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


class ProviderWarning(UserWarning):
    """CUDA was asked for but cannot be used; decoding goes on on the CPU."""


def select_providers(device: str, available: list[str]) -> tuple[list[str], list[str]]:
    """Providers to ask onnxruntime for, and the warnings a person should see.

    auto: CUDA when this onnxruntime build has it, else CPU. cuda: CUDA, or CPU with a warning when the
    installed onnxruntime has no CUDA provider (install onnxruntime-gpu instead of onnxruntime). cpu: CPU.
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, not {device!r}")
    if device == "cpu":
        return [CPU], []
    if CUDA in available:
        return [CUDA, CPU], []
    if device == "cuda":
        return [CPU], [
            f"CUDA was requested but this onnxruntime has no {CUDA} (available: {', '.join(available)}); "
            "running on CPU. Install onnxruntime-gpu "
            "(pip uninstall onnxruntime; pip install onnxruntime-gpu) "
            "on a machine with an NVIDIA GPU to use it."
        ]
    return [CPU], []


def default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def make_session(path, providers: list[str], threads: int | None = None):
    """An InferenceSession with explicit thread counts and full graph optimisation."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # our own warnings say what matters; ORT's shape chatter does not
    # Idle pool threads sleep instead of spinning: on a few cores a spinning thread competes with the Python
    # loop between decoder steps (one sentence's beam search at 2 threads measured 1.7x slower spinning).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as error:  # onnxruntime raises its own classes (InvalidProtobuf, Fail, ...) for a bad file
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise BundleError(
            f"{path} is not a loadable ONNX graph ({reason}); restore it or re-export the bundle"
        ) from None


def open_sessions(encoder_path, decoder_path, device: str = "auto", threads: int | None = None):
    """Both sessions, the providers really in use, and warnings (also raised as ProviderWarning)."""
    import onnxruntime as ort

    providers, notes = select_providers(device, ort.get_available_providers())
    encoder = make_session(encoder_path, providers, threads)
    decoder = make_session(decoder_path, providers, threads)
    in_use = decoder.get_providers()
    if CUDA in providers and CUDA not in in_use:  # e.g. CUDA libraries missing at run time
        notes.append(f"{CUDA} is installed but could not start (see onnxruntime's log); running on CPU")
    for note in notes:
        warnings.warn(note, ProviderWarning, stacklevel=3)
    return encoder, decoder, in_use, notes
