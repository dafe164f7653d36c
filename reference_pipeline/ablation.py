"""The ablation ladder: what each ingredient of the recipe is worth.

Each rung adds to the one before, starting from plain SGD at a constant
learning rate on un-augmented images. Only validation accuracy is reported:
comparing configurations is model selection, and model selection never
looks at the test split.
"""

from __future__ import annotations

import os
from dataclasses import replace

from clsaudit.reference_pipeline.train import TrainConfig, fit
from rich.console import Console
from rich.table import Table


def ladder(config: TrainConfig) -> list[tuple[str, TrainConfig]]:
    """The five cumulative configurations, built on ``config``'s data, model and budget."""
    baseline = replace(
        config,
        crop=False,
        flip=False,
        cosine=False,
        warmup_epochs=0.0,
        momentum=0.0,
        nesterov=False,
        weight_decay=0.0,
        label_smoothing=0.0,
        mixup=0.0,
        cutmix=0.0,
        cutout=0,
        report=False,
        out=None,
        progress=False,
        quiet=True,
    )
    augmented = replace(baseline, crop=True, flip=True)
    optimised = replace(
        augmented,
        cosine=True,
        warmup_epochs=config.warmup_epochs,
        momentum=0.9,
        nesterov=True,
        weight_decay=config.weight_decay or 5e-4,
    )
    smoothed = replace(optimised, label_smoothing=config.label_smoothing or 0.1)
    # The last rung mixes images: the requested Mixup/CutMix, otherwise Cutout.
    if config.mixup or config.cutmix:
        last = ("+ mixup/cutmix", replace(smoothed, mixup=config.mixup, cutmix=config.cutmix))
    else:
        last = ("+ cutout", replace(smoothed, cutout=config.cutout or 8))
    return [
        ("baseline (SGD, constant lr)", baseline),
        ("+ crop/flip", augmented),
        ("+ cosine, momentum, weight decay", optimised),
        ("+ label smoothing", smoothed),
        last,
    ]


def run_ablation(config: TrainConfig, console: Console | None = None) -> list[tuple[str, float]]:
    """Train every rung and print one table of best validation accuracy."""
    # Under torchrun only rank 0 prints.
    console = console or Console(quiet=os.environ.get("RANK", "0") != "0")
    results = []
    for name, rung in ladder(config):
        result = fit(rung)
        results.append((name, result.best_val_acc))
        console.print(f"{name}: val acc {result.best_val_acc:.2%} (epoch {result.best_epoch})")
    table = Table(title=f"Ablation: {config.model} on {config.data}, {config.epochs} epochs")
    table.add_column("configuration")
    table.add_column("val acc", justify="right")
    table.add_column("change", justify="right")
    previous = None
    for name, accuracy in results:
        change = "" if previous is None else f"{(accuracy - previous) * 100:+.2f}"
        table.add_row(name, f"{accuracy:.2%}", change)
        previous = accuracy
    console.print(table)
    return results
