"""Several processes with ``torchrun``: DistributedDataParallel set-up and helpers.

``torchrun --nproc_per_node=N -m clsaudit.reference_pipeline ...`` starts N
copies of the program with ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` in the
environment. Each process trains on its own shard of every batch, DDP
averages the gradients across processes during ``backward()``, and so every
process holds identical weights after every step. A plain ``python -m``
launch is a world of one process, with no process group at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the job."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone prints, writes files and saves checkpoints."""
        return self.rank == 0


def setup(device_type: str) -> DistContext:
    """Join the process group when launched by torchrun; otherwise a world of one.

    The backend follows the device: NCCL between GPUs, gloo between CPU
    processes (which is how the tests run two processes on a laptop).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return DistContext()
    context = DistContext(
        rank=int(os.environ["RANK"]),
        local_rank=int(os.environ.get("LOCAL_RANK", os.environ["RANK"])),
        world_size=world_size,
    )
    if device_type == "cuda":
        torch.cuda.set_device(context.local_rank)  # one GPU per process
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return context


def all_reduce_sum(values: list[float], device: torch.device, context: DistContext) -> list[float]:
    """Sum a few numbers (counts, loss sums) over all processes."""
    if not context.enabled:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def barrier(context: DistContext) -> None:
    if context.enabled:
        dist.barrier()


def teardown(context: DistContext) -> None:
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()
