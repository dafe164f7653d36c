"""Two DDP processes (gloo, CPU): identical weights after training, disjoint data shards."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import torch
import torch.multiprocessing as mp
from clsaudit.reference_pipeline.batches import Batches
from clsaudit.reference_pipeline.models import small_resnet
from clsaudit.reference_pipeline.train import TrainConfig, fit

WORLD_SIZE = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, out_dir: str) -> None:
    # What torchrun would set for each process.
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(WORLD_SIZE),
    )
    torch.set_num_threads(1)  # two processes on two cores
    config = TrainConfig(
        synthetic_size=640,
        epochs=2,
        batch_size=64,
        device="cpu",
        progress=False,
        quiet=True,
        report=False,
    )
    result = fit(config)
    # The shard this rank trains on in epochs 0 and 1 (same construction as in fit).
    labels = torch.arange(576)
    loader = Batches(
        torch.zeros(576, 3, 32, 32, dtype=torch.uint8),
        labels,
        32,
        torch.zeros(3),
        torch.ones(3),
        shuffle=True,
        drop_last=True,
        rank=rank,
        world_size=WORLD_SIZE,
        seed=0,
    )
    shards = []
    for epoch in range(2):
        loader.set_epoch(epoch)
        shards.append(torch.cat([y for _, y in loader]))
    torch.save(
        {
            "params": dict(result.model.named_parameters()),
            "history": result.history,
            "shards": shards,
            "steps": len(loader),
        },
        Path(out_dir) / f"rank{rank}.pt",
    )


def test_two_gloo_processes_end_with_identical_weights(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD_SIZE, join=True)
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=False)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=False)

    # Gradients are averaged across ranks every step, so the weights agree exactly...
    assert rank0["params"].keys() == rank1["params"].keys()
    for name, value in rank0["params"].items():
        assert torch.equal(value, rank1["params"][name]), name
    # ...and they did train: far from the seeded initial weights.
    torch.manual_seed(0)
    initial = dict(small_resnet().named_parameters())
    moved = sum((rank0["params"][n] - initial[n]).abs().sum().item() for n in initial)
    assert moved > 1.0
    # Validation metrics are all-reduced: both ranks saw the same numbers.
    assert [h["val_acc"] for h in rank0["history"]] == [h["val_acc"] for h in rank1["history"]]

    # The shards are disjoint, cover the data, and change with set_epoch.
    for epoch in range(2):
        a, b = rank0["shards"][epoch], rank1["shards"][epoch]
        assert len(a) == len(b) == 288
        assert not set(a.tolist()) & set(b.tolist())
        assert set(a.tolist()) | set(b.tolist()) == set(range(576))
    assert not torch.equal(rank0["shards"][0], rank0["shards"][1])
    assert rank0["steps"] == rank1["steps"] == 9
