"""Where training runs: the device (CPU, or CUDA with mixed precision) and, under torchrun, the process group.

    torchrun --standalone --nproc_per_node 2 -m training --data-dir ../shared/data/multi30k --out runs/en-de

torchrun starts one process (rank) per GPU or CPU share and tells each its RANK, WORLD_SIZE and LOCAL_RANK.
Every rank holds the whole model; DistributedDataParallel averages the gradients of all ranks after each
backward pass, so every rank takes the same optimizer step. Each rank trains on its own share of the
batches, so `--batch-size` is per rank: the global batch is WORLD_SIZE × batch size (the learning rate is
not scaled). Without torchrun the same code runs as a world of one process.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from rules import DEVICES
from training.constants import PRECISIONS
from training.errors import DeviceError


def pick_device(requested: str, local_rank: int = 0) -> torch.device:
    """auto: the GPU when torch can use one, else the CPU. Under torchrun each rank takes GPU LOCAL_RANK."""
    if requested not in DEVICES:
        raise DeviceError(f"unknown --device {requested!r}; choose {', '.join(DEVICES[:-1])} or {DEVICES[-1]}")
    if requested == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        if requested == "cuda":
            raise DeviceError(
                f"--device cuda: this torch ({torch.__version__}) sees no usable CUDA GPU; install a "
                "CUDA build of torch (https://pytorch.org/get-started/locally/) or pass --device cpu"
            )
        return torch.device("cpu")
    return torch.device("cuda", local_rank % torch.cuda.device_count())


@dataclass
class MixedPrecision:
    """bf16 autocast on GPUs that have it, else fp16 autocast with loss scaling; plain fp32 on the CPU.

    bf16 keeps fp32's exponent range, so it needs no loss scaling; fp16 gradients underflow without it.
    The weights and the Adam state stay fp32 either way.
    """

    device: torch.device
    requested: str = "auto"  # --precision: auto, bf16, fp16 or fp32
    dtype: torch.dtype | None = field(init=False, default=None)  # None: no autocast
    scaler: torch.amp.GradScaler = field(init=False)

    def __post_init__(self):
        if self.requested not in PRECISIONS:
            raise DeviceError(f"unknown --precision {self.requested!r}; choose {', '.join(PRECISIONS)}")
        if self.device.type != "cuda":
            if self.requested in ("bf16", "fp16"):
                raise DeviceError(
                    f"--precision {self.requested} is for CUDA; the CPU trains in fp32 "
                    "(pass --precision auto or fp32, or --device cuda)"
                )
        elif self.requested == "auto":
            self.dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        elif self.requested == "bf16":
            if not torch.cuda.is_bf16_supported():
                raise DeviceError("--precision bf16: this GPU has no bf16; use --precision fp16 or fp32")
            self.dtype = torch.bfloat16
        elif self.requested == "fp16":
            self.dtype = torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.dtype == torch.float16)

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def describe(self) -> str:
        if self.dtype is None:
            return "fp32"
        return "bf16 autocast" if self.dtype == torch.bfloat16 else "fp16 autocast with loss scaling"


@dataclass
class Cluster:
    """This process's place in the run: its rank among world_size processes and its device."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes checkpoints, logs and the progress bar."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def shard(self, batches: list) -> list:
        """This rank's disjoint share: every world_size-th batch, the same count on every rank.

        Equal counts matter: a rank with one batch more would wait forever in the gradient all-reduce.
        The few leftover batches (fewer than world_size) are skipped this epoch; the shuffle differs every epoch.
        """
        per_rank = len(batches) // self.world_size
        return batches[: per_rank * self.world_size][self.rank :: self.world_size]

    def broadcast(self, obj):
        """Rank 0's value of a picklable object, on every rank."""
        if not self.distributed:
            return obj
        holder = [obj]
        dist.broadcast_object_list(holder, src=0)
        return holder[0]

    def gather(self, obj) -> list:
        """Every rank's value, in rank order, on every rank."""
        if not self.distributed:
            return [obj]
        values = [None] * self.world_size
        dist.all_gather_object(values, obj)
        return values

    def reduce(self, values: list[float], op: str = "sum") -> list[float]:
        """Element-wise sum or max of a few numbers over all ranks."""
        if not self.distributed:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX)
        return tensor.tolist()

    @contextlib.contextmanager
    def main_first(self):
        """Rank 0 runs the block first (filling caches such as the datasets cache), then the others."""
        if self.distributed and not self.is_main:
            dist.barrier()
        yield
        if self.distributed and self.is_main:
            dist.barrier()

    def finish(self):
        """After the last epoch, on the normal path only: every rank waits here until all have arrived."""
        if self.distributed:
            dist.barrier()

    def close(self):
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()


def start(device: str = "auto", backend: str | None = None) -> Cluster:
    """Joins the torchrun process group when there is one (gloo on CPU, nccl on CUDA unless `backend` says)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    chosen = pick_device(device, local_rank)
    if world_size > 1:
        backend = backend or ("nccl" if chosen.type == "cuda" else "gloo")
        if backend == "nccl" and chosen.type != "cuda":
            raise DeviceError("--dist-backend nccl needs CUDA GPUs; use gloo on the CPU")
        if chosen.type == "cuda":
            torch.cuda.set_device(chosen)
        # Validation runs on rank 0 while the others wait in a broadcast: allow it an hour, not the default.
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=60))
    return Cluster(rank=rank, world_size=world_size, device=chosen)
