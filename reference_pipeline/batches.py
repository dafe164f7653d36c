"""Batches: shuffled, sharded across processes, normalised, and kept on the device.

CIFAR fits in GPU memory many times over (50,000 uint8 images are 150 MB),
so the whole split is moved to the device once and batches are cut from it
by indexing: no DataLoader workers, no per-batch host-to-device copy. When
the data stays on the host (``resident=False``) it is pinned and each batch
is copied with ``non_blocking=True`` so the copy overlaps compute.

The shuffling works like ``DistributedSampler``: one permutation per epoch,
seeded by ``(seed, epoch)`` so that every process draws the same one, then
process ``rank`` takes every ``world_size``-th index. The shards are disjoint
and change every epoch, which is why the training loop calls
``set_epoch(epoch)`` at the start of each epoch.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from clsaudit.reference_pipeline.data import normalise


class Batches:
    """Iterable of ``(normalised float NCHW images, int64 labels)`` batches of one split."""

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        mean: torch.Tensor,
        std: torch.Tensor,
        *,
        shuffle: bool,
        drop_last: bool = False,
        device: torch.device | str = "cpu",
        resident: bool = True,
        channels_last: bool = False,
        bf16: bool | None = None,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
    ) -> None:
        self.device = torch.device(device)
        storage = self.device if resident else torch.device("cpu")
        self.images = images.to(storage)
        self.labels = labels.to(storage)
        if storage.type == "cpu" and self.device.type == "cuda":
            self.images, self.labels = self.images.pin_memory(), self.labels.pin_memory()
        self.batch_size = batch_size
        self.mean, self.std = mean.to(self.device), std.to(self.device)
        self.shuffle, self.drop_last = shuffle, drop_last
        self.channels_last = channels_last
        self.bf16 = bf16  # bf16 autocast for the model that consumes these batches (None: GPU only)
        self.rank, self.world_size = rank, world_size
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's permutation (same on every process, different every epoch)."""
        self.epoch = epoch

    def shard_indices(self) -> torch.Tensor:
        """The indices this process iterates over this epoch, in order."""
        n = len(self.labels)
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(n, generator=generator)
        else:
            order = torch.arange(n)
        if self.shuffle and self.world_size > 1:
            # Equal shard sizes, so every process runs the same number of steps
            # (a process with one step more would wait forever in all-reduce).
            order = order[: n - n % self.world_size]
        return order[self.rank :: self.world_size]

    def __len__(self) -> int:
        n = len(self.shard_indices())
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self.shard_indices().to(self.images.device)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            if self.drop_last and len(idx) < self.batch_size:
                break  # equal batch sizes: a tiny last batch gives noisy BatchNorm statistics
            images = self.images[idx].to(self.device, non_blocking=True)
            labels = self.labels[idx].to(self.device, non_blocking=True)
            images = normalise(images, self.mean, self.std)
            if self.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            yield images, labels
