"""Training throughput of the reference pipeline: images/s and seconds per epoch.

A script, not a test (pytest does not collect tests/benchmarks):

    python tests/benchmarks/bench_reference.py            # every device available
    python tests/benchmarks/bench_reference.py --steps 20 --device cuda

For each device (cpu; cuda when present) and model (small, resnet18) it times
full training steps of the real loop (augmentation on the device, forward,
backward, SGD step, schedule step; bf16 autocast and channels_last on CUDA)
after a warm-up, and converts to time per CIFAR-10 epoch (45,000 images).
"""

from __future__ import annotations

import argparse
import time

import torch
from clsaudit.reference_pipeline.augment import AugmentConfig
from clsaudit.reference_pipeline.batches import Batches
from clsaudit.reference_pipeline.data import split_train_val, synthetic_cifar
from clsaudit.reference_pipeline.models import build_model
from clsaudit.reference_pipeline.optimization import make_optimizer, make_scheduler
from clsaudit.reference_pipeline.train import train_one_epoch

CIFAR_TRAIN_IMAGES = 45_000


def bench(
    model_name: str, device: torch.device, batch_size: int, steps: int
) -> tuple[float, float]:
    """(images per second, seconds per 45k-image epoch) of training steps."""
    on_gpu = device.type == "cuda"
    splits = split_train_val(synthetic_cifar(num_train=batch_size * (steps + 2), num_test=10))
    loader = Batches(
        splits.train_x,
        splits.train_y,
        batch_size,
        splits.mean,
        splits.std,
        shuffle=True,
        drop_last=True,
        device=device,
        channels_last=on_gpu,
    )
    torch.manual_seed(0)
    model = build_model(model_name, 10).to(device)
    if on_gpu:
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, lr=0.1)
    scheduler = make_scheduler(optimizer, total_steps=10 * len(loader), warmup_steps=len(loader))
    augment = AugmentConfig(label_smoothing=0.1)
    # Warm-up pass: allocator, cuDNN autotuning, lazy initialisation.
    warm = Batches(
        splits.train_x[: 2 * batch_size],
        splits.train_y[: 2 * batch_size],
        batch_size,
        splits.mean,
        splits.std,
        shuffle=True,
        drop_last=True,
        device=device,
        channels_last=on_gpu,
    )
    train_one_epoch(model, warm, optimizer, scheduler, augment, 10)
    if on_gpu:
        torch.cuda.synchronize()
    start = time.perf_counter()
    stats = train_one_epoch(model, loader, optimizer, scheduler, augment, 10)
    if on_gpu:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    speed = stats["images"] / seconds
    return speed, CIFAR_TRAIN_IMAGES / speed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per configuration")
    parser.add_argument("--device", choices=["all", "cpu", "cuda"], default="all")
    args = parser.parse_args()
    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    if args.device != "all":
        devices = [d for d in devices if d.type == args.device]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print(f"{'device':<8}{'model':<10}{'batch':>6}{'images/s':>12}{'s / CIFAR epoch':>18}")
    for device in devices:
        for model_name in ("small", "resnet18"):
            # Fewer steps for ResNet-18 on a CPU: each one takes seconds.
            steps = (
                max(2, args.steps // 5)
                if device.type == "cpu" and model_name == "resnet18"
                else args.steps
            )
            batch = 512 if device.type == "cuda" else 64
            speed, epoch_seconds = bench(model_name, device, batch, steps)
            print(
                f"{device.type:<8}{model_name:<10}{batch:>6}{speed:>12,.0f}{epoch_seconds:>18,.1f}"
            )


if __name__ == "__main__":
    main()
