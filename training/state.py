"""What a run remembers between steps and sessions: position, history, best, clock, stop requests, resume."""

from __future__ import annotations

import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from training.checkpoint import load_checkpoint
from training.errors import CheckpointError

if TYPE_CHECKING:  # annotations only
    from training.distributed import Cluster

# Flags that define the run; on --resume they come from the checkpoint, not the command line.
RUN_FLAGS = (
    "dataset",
    "dataset_config",
    "data_dir",
    "src",
    "tgt",
    "vocab_size",
    "tokenizer",
    "embed_dim",
    "hidden_dim",
    "attention",
    "attention_dim",
    "dropout",
    "label_smoothing",
    "lr",
    "batch_size",
    "clip",
    "seed",
    "max_len",
    "lr_patience",
    "average",
    "streaming",
    "tokenizer_sample",
    "data_dirs",
    "mix_weights",
)

# Why a run stops early, as codes so that all ranks can agree on one with a max all-reduce.
MAX_MINUTES, MAX_STEPS, INTERRUPTED = 1, 2, 3


def stop_reason(code: int, args) -> str:
    """The reason a checkpoint records and the log prints."""
    return {
        MAX_MINUTES: f"--max-minutes {args.max_minutes}",
        MAX_STEPS: f"--max-steps {args.max_steps}",
        INTERRUPTED: "interrupted",
    }[code]


@dataclass
class TrainState:
    """The run's position and record; saved in every checkpoint as the plain dict `progress`."""

    epoch: int = 0  # epochs finished
    step_in_epoch: int = 0  # optimizer steps done in the current epoch (each rank does the same number)
    global_step: int = 0  # optimizer steps in total
    minutes: float = 0.0  # training minutes over every session of this run
    best_bleu: float = -1.0  # validation BLEU of the weights in best.pt
    best: dict | None = None  # which weights best.pt holds: epoch, val_bleu, averaged_epochs
    history: list = field(default_factory=list)  # one record per finished epoch
    started_from: dict | None = None  # --init-from: that checkpoint's own training record (epochs, minutes, device)
    # Token-weighted train loss of the current epoch so far, over all ranks. Saved, so that an epoch
    # stopped and resumed still reports the loss over all of its batches.
    epoch_loss_sum: float = 0.0
    epoch_target_tokens: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, progress: dict) -> TrainState:
        return cls(**progress)


class Clock:
    """Training minutes of this run: those of earlier sessions plus the time since this one started."""

    def __init__(self, minutes_before: float):
        self.minutes_before = minutes_before
        self.start = time.monotonic()

    def minutes(self) -> float:
        return self.minutes_before + (time.monotonic() - self.start) / 60


class StopRequests:
    """Ctrl-C or SIGTERM asks the loop to stop between two steps and save once.

    Alone, a second Ctrl-C aborts at once. Under torchrun a Ctrl-C reaches every rank and torchrun then
    forwards the same signal again (and SIGKILLs after 30 s), so there every repeat is ignored: it must
    not cut the save short.
    """

    def __init__(self, second_ctrl_c_aborts: bool = True):
        self.requested = False
        self.second_ctrl_c_aborts = second_ctrl_c_aborts
        self.previous = {}

    def _on_signal(self, signum, frame):
        self.requested = True
        if self.second_ctrl_c_aborts:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    def __enter__(self):
        for signum in (signal.SIGINT, signal.SIGTERM):
            self.previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *exc):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        return False

    def code(self, state: TrainState, clock: Clock, max_steps: int | None, max_minutes: float | None) -> int:
        """This process's reason to stop now as a code, 0 for none."""
        if self.requested:
            return INTERRUPTED
        if max_steps and state.global_step >= max_steps:
            return MAX_STEPS
        if max_minutes and clock.minutes() >= max_minutes:
            return MAX_MINUTES
        return 0


def rng_states(device: torch.device) -> dict:
    """The random generators that dropout uses on this process."""
    states = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    return states


def restore_rng(saved, rank: int, world_size: int, device: torch.device) -> bool:
    """Puts back this rank's generators from a checkpoint's `rng` (one entry per rank).

    Returns False when the checkpoint came from a different number of processes (then dropout draws
    differ from an uninterrupted run, nothing else does).
    """
    if len(saved) != world_size:
        return False
    torch.set_rng_state(saved[rank]["cpu"])
    if device.type == "cuda" and "cuda" in saved[rank]:
        torch.cuda.set_rng_state(saved[rank]["cuda"], device)
    return True


def resume_point(args, out: Path, cluster: Cluster) -> dict | None:
    """OUT/last.pt when resuming, with the run-defining flags taken from it."""
    if not args.resume:
        return None
    saved = load_checkpoint(out / "last.pt")
    for name in RUN_FLAGS:  # the run is defined by its checkpoint
        setattr(args, name, saved["args"][name])
    saved_world = saved["world_size"]
    if saved["progress"]["step_in_epoch"] and saved_world != cluster.world_size:
        raise CheckpointError(
            f"{out / 'last.pt'} stopped inside an epoch with {saved_world} process(es); resume it "
            f"with the same number (torchrun --nproc_per_node {saved_world}), "
            f"not {cluster.world_size}"
        )
    return saved


def restore(run, saved: dict) -> TrainState:
    """Puts the weights, optimizer, LR schedule, loss scale and random generators back where they were."""
    run.model.load_state_dict(saved["model"])
    run.optimizer.load_state_dict(saved["optimizer"])
    run.scheduler.load_state_dict(saved["scheduler"])
    if saved["scaler"]:
        run.precision.scaler.load_state_dict(saved["scaler"])
    if not restore_rng(saved["rng"], run.cluster.rank, run.cluster.world_size, run.cluster.device):
        run.log(
            f"note: last.pt was saved by {len(saved['rng'])} process(es), not {run.cluster.world_size}: "
            "dropout draws differ from an uninterrupted run"
        )
    state = TrainState.from_dict(saved["progress"])
    if not run.cluster.is_main:  # the saved running loss is the sum over all ranks: count it once
        state.epoch_loss_sum, state.epoch_target_tokens = 0.0, 0
    run.log(f"resuming {run.out / 'last.pt'} at epoch {state.epoch + 1}, step {state.step_in_epoch}")
    return state
