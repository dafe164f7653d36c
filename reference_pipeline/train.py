"""Training: the epoch loop, evaluation, checkpointing on validation, one final test.

Read ``train_one_epoch`` and ``evaluate`` first; they hold the invariants that
the rest of clsaudit checks for:

1. ``model.train()`` at the top of the training epoch, ``model.eval()`` at the
   top of evaluation (BatchNorm and dropout behave differently in each);
2. ``optimizer.zero_grad(set_to_none=True)`` every step, before ``backward()``;
3. running metrics accumulated with ``.item()``, so no autograd graph is kept
   alive across steps;
4. evaluation under ``torch.no_grad()``;
5. predictions are the argmax of the logits: the loss takes logits, never
   probabilities, and softmax is never needed to pick a class.

``fit`` wires the pieces together: data, model, optimiser, the epoch loop,
the best checkpoint by *validation* accuracy, and one evaluation of that
checkpoint on the test split at the very end.
"""

from __future__ import annotations

import csv
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from clsaudit.reference_pipeline import distributed
from clsaudit.reference_pipeline.augment import (
    AugmentConfig,
    augment_batch,
    soft_target_cross_entropy,
)
from clsaudit.reference_pipeline.batches import Batches
from clsaudit.reference_pipeline.data import load_data, split_train_val
from clsaudit.reference_pipeline.models import build_model
from clsaudit.reference_pipeline.optimization import make_optimizer, make_scheduler
from clsaudit.reference_pipeline.progress import StepCallback, epoch_bar
from clsaudit.reference_pipeline.report import (
    build_report,
    print_report,
    save_predictions,
    write_report,
)
from rich.console import Console
from torch import nn
from torch.nn.parallel import DistributedDataParallel


@dataclass
class TrainConfig:
    """Everything a run depends on. The defaults are a quick CPU demo on synthetic data."""

    data: str = "synthetic"  # "synthetic", a CIFAR-10 pickle folder, or an .npz file
    synthetic_size: int = 5_000  # training images when data == "synthetic"
    val_size: int | None = None  # default: 10% of the training set (5,000 for CIFAR-10)
    model: str = "small"  # "small" or "resnet18"
    epochs: int = 5
    batch_size: int = 128  # global: split evenly across torchrun processes
    lr: float = 0.2
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    warmup_epochs: float = 1.0
    cosine: bool = True
    crop: bool = True
    flip: bool = True
    cutout: int = 0
    mixup: float = 0.0
    cutmix: float = 0.0
    label_smoothing: float = 0.1
    tta: bool = True  # flip test-time augmentation for the final predictions
    device: str = "auto"  # "auto", "cpu" or "cuda"
    # The GPU recipe: bf16 autocast and channels_last memory format. None means "on a GPU
    # only"; True forces them on the CPU too (slow there, but it runs the same code path).
    bf16: bool | None = None
    channels_last: bool | None = None
    compile: bool = False
    seed: int = 0
    out: str | None = None  # folder for best.pt, log.csv and report.json
    save_predictions: str | None = None  # test logits for `clsaudit diagnose` (.csv/.json/.npz)
    report: bool = True  # final test evaluation and report (the ablation turns it off)
    progress: bool = True
    quiet: bool = False

    def augment(self) -> AugmentConfig:
        return AugmentConfig(
            crop=self.crop,
            flip=self.flip,
            cutout=self.cutout,
            mixup=self.mixup,
            cutmix=self.cutmix,
            label_smoothing=self.label_smoothing,
        )


@dataclass
class FitResult:
    """What ``fit`` returns: the model holding the best checkpoint's weights, and the numbers."""

    model: nn.Module
    best_val_acc: float
    best_epoch: int
    history: list[dict] = field(default_factory=list)
    test_acc: float | None = None
    report: dict | None = None


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` picks the GPU when there is one; under torchrun each process takes its own."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda requested but torch.cuda.is_available() is False")
        return torch.device("cuda", local_rank)
    return torch.device(name)


def autocast(device: torch.device, enabled: bool | None = None) -> torch.autocast:
    """bf16 autocast (no loss scaling needed, unlike fp16); by default on the GPU only."""
    on = device.type == "cuda" if enabled is None else enabled
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=on)


def predict(model: nn.Module, images: torch.Tensor, tta: bool = False) -> torch.Tensor:
    """Logits for ``images``; with ``tta``, the average of the logits of the image and its mirror.

    Flip TTA is for predictions only: it never feeds a loss that trains the
    model, and the argmax of the averaged logits is the prediction.
    """
    logits = model(images)
    if tta:
        logits = (logits + model(images.flip(3))) / 2
    return logits


def train_one_epoch(
    model: nn.Module,
    loader: Batches,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    augment: AugmentConfig,
    num_classes: int,
    on_step: StepCallback | None = None,
) -> dict[str, float]:
    """One pass over this process's shard of the training split. Returns mean loss and accuracy."""
    model.train()
    loss_sum, correct, seen = 0.0, 0, 0
    start = time.perf_counter()
    for images, labels in loader:
        images, targets = augment_batch(images, labels, num_classes, augment)
        optimizer.zero_grad(set_to_none=True)
        with autocast(images.device, loader.bf16):
            logits = model(images)
        loss = soft_target_cross_entropy(logits.float(), targets)
        loss.backward()
        optimizer.step()
        scheduler.step()  # per step: the schedule is sized in optimizer steps
        # .item() turns the numbers into Python floats: accumulating the loss
        # tensor itself would keep every step's autograd graph alive.
        loss_sum += loss.item() * len(labels)
        correct += (logits.argmax(dim=1) == labels).sum().item()
        seen += len(labels)
        if on_step is not None:
            lr = optimizer.param_groups[0]["lr"]
            on_step(loss_sum / seen, correct / seen, lr, seen / (time.perf_counter() - start))
    return {"loss": loss_sum / max(seen, 1), "acc": correct / max(seen, 1), "images": seen}


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Batches,
    context: distributed.DistContext | None = None,
    tta: bool = False,
) -> dict[str, float]:
    """Mean loss and accuracy over the split, summed over every process's shard."""
    model.eval()
    context = context or distributed.DistContext()
    loss_sum, correct, seen = 0.0, 0, 0
    device = loader.device
    for images, labels in loader:
        with autocast(device, loader.bf16):
            logits = predict(model, images, tta)
        loss_sum += F.cross_entropy(logits.float(), labels, reduction="sum").item()
        correct += (logits.argmax(dim=1) == labels).sum().item()
        seen += len(labels)
    loss_sum, correct, seen = distributed.all_reduce_sum([loss_sum, correct, seen], device, context)
    return {"loss": loss_sum / max(seen, 1), "acc": correct / max(seen, 1)}


@torch.no_grad()
def collect_logits(
    model: nn.Module, loader: Batches, tta: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """All logits and labels of a split, as float32 numpy arrays, for the report."""
    model.eval()
    all_logits, all_labels = [], []
    for images, labels in loader:
        with autocast(loader.device, loader.bf16):
            logits = predict(model, images, tta)
        all_logits.append(logits.float().cpu())
        all_labels.append(labels.cpu())
    return torch.cat(all_logits).numpy(), torch.cat(all_labels).numpy()


class CsvLog:
    """One row per epoch, flushed as it is written, so a crashed run keeps its history."""

    def __init__(self, path: Path | None) -> None:
        self.path, self.writer, self.file = path, None, None

    def write(self, row: dict) -> None:
        if self.path is None:
            return
        if self.writer is None:
            self.file = self.path.open("w", newline="")
            self.writer = csv.DictWriter(self.file, fieldnames=list(row))
            self.writer.writeheader()
        self.writer.writerow(row)
        self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def fit(config: TrainConfig, console: Console | None = None) -> FitResult:
    """Train with ``config``; select the best epoch on validation; evaluate it once on test."""
    console = console or Console(quiet=config.quiet)
    if config.epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {config.epochs}")
    device_type = resolve_device(config.device).type
    context = distributed.setup(device_type)
    device = resolve_device(config.device, context.local_rank)
    on_gpu = device.type == "cuda"
    out = Path(config.out) if config.out and context.is_main else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)

    # --- data: the same split and statistics on every process --------------
    data = load_data(config.data, config.synthetic_size, config.seed)
    splits = split_train_val(data, config.val_size, seed=config.seed)
    if config.batch_size % context.world_size:
        raise ValueError(f"batch size {config.batch_size} is not divisible by {context.world_size}")
    per_process_batch = config.batch_size // context.world_size
    channels_last = on_gpu if config.channels_last is None else config.channels_last
    bf16 = on_gpu if config.bf16 is None else config.bf16
    common = {"mean": splits.mean, "std": splits.std, "device": device,
              "channels_last": channels_last, "bf16": bf16}
    train_loader = Batches(
        splits.train_x,
        splits.train_y,
        per_process_batch,
        shuffle=True,
        drop_last=True,
        rank=context.rank,
        world_size=context.world_size,
        seed=config.seed,
        **common,
    )
    val_loader = Batches(
        splits.val_x,
        splits.val_y,
        per_process_batch,
        shuffle=False,
        rank=context.rank,
        world_size=context.world_size,
        **common,
    )

    # --- model: identical initial weights everywhere, then the final wrapping
    torch.manual_seed(config.seed)
    net = build_model(config.model, splits.num_classes).to(device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)  # faster convolutions on tensor cores
    model: nn.Module = net
    if context.enabled:
        model = DistributedDataParallel(net, device_ids=[device.index] if on_gpu else None)
    if config.compile:
        model = torch.compile(model)
    # Augmentation randomness differs per process (seeded by rank).
    torch.manual_seed(config.seed + 1_000 * context.rank + 1)

    # --- optimiser and schedule, built after the model is final ------------
    optimizer = make_optimizer(
        model, config.lr, config.momentum, config.weight_decay, config.nesterov
    )
    steps_per_epoch = len(train_loader)
    scheduler = make_scheduler(
        optimizer,
        total_steps=config.epochs * steps_per_epoch,
        warmup_steps=round(config.warmup_epochs * steps_per_epoch),
        cosine=config.cosine,
    )

    if context.is_main:
        console.print(
            f"{config.model}: {sum(p.numel() for p in net.parameters()):,} parameters | "
            f"train {len(splits.train_y):,} / val {len(splits.val_y):,} / "
            f"test {len(splits.test_y):,} images | {device} x {context.world_size} | "
            f"{steps_per_epoch} steps/epoch"
        )

    # --- the epoch loop ------------------------------------------------------
    csv_log = CsvLog(out / "log.csv" if out else None)
    best_val_acc, best_epoch, best_state = -1.0, -1, None
    history: list[dict] = []
    augment = config.augment()
    for epoch in range(config.epochs):
        train_loader.set_epoch(epoch)  # a new shuffle, consistent across processes
        start = time.perf_counter()
        show_bar = config.progress and context.is_main
        with epoch_bar(epoch, config.epochs, steps_per_epoch, console, show_bar) as on_step:
            train_stats = train_one_epoch(
                model, train_loader, optimizer, scheduler, augment, splits.num_classes, on_step
            )
        seconds = time.perf_counter() - start
        # Evaluate the bare network, not the DDP wrapper: the weights are identical
        # on every process, and the wrapper's collectives are for training steps.
        val_stats = evaluate(net, val_loader, context)
        row = {
            "epoch": epoch + 1,
            "train_loss": round(train_stats["loss"], 5),
            "train_acc": round(train_stats["acc"], 5),
            "val_loss": round(val_stats["loss"], 5),
            "val_acc": round(val_stats["acc"], 5),
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": round(seconds, 3),
            "images_per_s": round(train_stats["images"] * context.world_size / seconds, 1),
        }
        history.append(row)
        csv_log.write(row)
        if context.is_main:
            console.print(
                f"epoch {epoch + 1:>3}/{config.epochs}  train loss {row['train_loss']:.4f} "
                f"acc {row['train_acc']:.2%}  val loss {row['val_loss']:.4f} "
                f"acc {row['val_acc']:.2%}  {seconds:.1f}s  {row['images_per_s']:,.0f} img/s"
            )
        # Model selection on VALIDATION accuracy. The test split plays no part.
        if val_stats["acc"] > best_val_acc:
            best_val_acc, best_epoch = val_stats["acc"], epoch + 1
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            if out is not None:
                checkpoint = {
                    "model": best_state,
                    "epoch": best_epoch,
                    "val_acc": best_val_acc,
                    "config": asdict(config),
                    "mean": splits.mean,
                    "std": splits.std,
                    "classes": splits.classes,
                }
                torch.save(checkpoint, out / "best.pt")
    csv_log.close()

    # --- one final test evaluation, of the best checkpoint ------------------
    net.load_state_dict(best_state)
    result = FitResult(net, best_val_acc, best_epoch, history)
    if config.report and context.is_main:
        full = {"batch_size": per_process_batch, "shuffle": False, **common}
        test_loader = Batches(splits.test_x, splits.test_y, **full)
        full_val_loader = Batches(splits.val_x, splits.val_y, **full)
        test_logits, test_labels = collect_logits(net, test_loader, config.tta)
        val_logits, val_labels = collect_logits(net, full_val_loader, config.tta)
        result.report = build_report(
            test_logits, test_labels, val_logits, val_labels, splits.classes
        )
        result.test_acc = result.report["top1"]
        if config.save_predictions:
            save_predictions(config.save_predictions, test_logits, test_labels, splits.classes)
        console.print(f"best epoch {best_epoch}: val acc {best_val_acc:.2%}")
        print_report(result.report, console)
        if out is not None:
            write_report(result.report, out / "report.json")
            console.print(f"wrote {out / 'best.pt'}, {out / 'log.csv'}, {out / 'report.json'}")
    distributed.barrier(context)
    distributed.teardown(context)
    return result
