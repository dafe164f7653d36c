"""Command line: ``python -m clsaudit.reference_pipeline`` and ``clsaudit train-reference``.

``train_reference`` is a click command object; the clsaudit CLI registers it
lazily so that ``clsaudit train.py`` never imports torch.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command("train-reference", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data",
    default="synthetic",
    show_default=True,
    help="'synthetic', a CIFAR-10 folder (cifar-10-batches-py), or an .npz file.",
)
@click.option(
    "--synthetic-size",
    default=5000,
    show_default=True,
    help="Training images of the synthetic data set.",
)
@click.option(
    "--model", type=click.Choice(["small", "resnet18"]), default="small", show_default=True
)
@click.option("--epochs", type=click.IntRange(min=1), default=5, show_default=True)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=128,
    show_default=True,
    help="Global batch size, split across torchrun processes.",
)
@click.option("--lr", default=0.2, show_default=True, help="Peak learning rate.")
@click.option("--momentum", default=0.9, show_default=True, help="Nesterov momentum.")
@click.option(
    "--weight-decay", default=5e-4, show_default=True, help="On conv/linear weights only."
)
@click.option("--warmup-epochs", default=1.0, show_default=True)
@click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True
)
@click.option(
    "--crop-flip/--no-crop-flip",
    default=True,
    show_default=True,
    help="Reflect-pad random crop and horizontal flip.",
)
@click.option("--cutout", default=0, show_default=True, help="Cutout square side (0: off).")
@click.option("--mixup", default=0.0, show_default=True, help="Mixup Beta alpha (0: off).")
@click.option("--cutmix", default=0.0, show_default=True, help="CutMix Beta alpha (0: off).")
@click.option("--label-smoothing", default=0.1, show_default=True)
@click.option(
    "--tta/--no-tta",
    default=True,
    show_default=True,
    help="Flip test-time augmentation for the final test predictions.",
)
@click.option("--compile", "compile_model", is_flag=True, help="torch.compile the model.")
@click.option(
    "--bf16/--no-bf16",
    default=None,
    help="bf16 autocast (default: on a GPU only; --bf16 forces it on the CPU too).",
)
@click.option(
    "--channels-last/--no-channels-last",
    default=None,
    help="channels_last memory format (default: on a GPU only).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder for best.pt, log.csv and report.json.",
)
@click.option(
    "--save-predictions",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the test split's logits (.csv, .json or .npz) for `clsaudit diagnose FILE --logits`.",
)
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--ablation",
    is_flag=True,
    help="Run the ablation ladder instead and print validation accuracy per rung.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="CPU threads for torch (default: torch's choice). Use the cores that are free: "
    "on a busy machine more OpenMP threads than free cores is many times slower.",
)
@click.option("--no-progress", is_flag=True, help="No progress bar (logs, CI).")
def train_reference(
    data: str,
    synthetic_size: int,
    model: str,
    epochs: int,
    batch_size: int,
    lr: float,
    momentum: float,
    weight_decay: float,
    warmup_epochs: float,
    device: str,
    crop_flip: bool,
    cutout: int,
    mixup: float,
    cutmix: float,
    label_smoothing: float,
    tta: bool,
    compile_model: bool,
    bf16: bool | None,
    channels_last: bool | None,
    out: str | None,
    save_predictions: str | None,
    seed: int,
    ablation: bool,
    threads: int | None,
    no_progress: bool,
) -> None:
    """Train the reference CIFAR classifier and print its evaluation report."""
    import torch
    from clsaudit.reference_pipeline.ablation import run_ablation
    from clsaudit.reference_pipeline.train import TrainConfig, fit

    if save_predictions and Path(save_predictions).suffix.lower() not in (".csv", ".json", ".npz"):
        # Checked before training, not after an hour of it.
        raise click.BadParameter("use a .csv, .json or .npz file", param_hint="--save-predictions")
    config = TrainConfig(
        data=data,
        synthetic_size=synthetic_size,
        model=model,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        momentum=momentum,
        nesterov=momentum > 0,
        weight_decay=weight_decay,
        warmup_epochs=warmup_epochs,
        crop=crop_flip,
        flip=crop_flip,
        cutout=cutout,
        mixup=mixup,
        cutmix=cutmix,
        label_smoothing=label_smoothing,
        tta=tta,
        device=device,
        compile=compile_model,
        bf16=bf16,
        channels_last=channels_last,
        seed=seed,
        out=out,
        save_predictions=save_predictions,
        progress=not no_progress,
    )
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        if ablation:
            run_ablation(config)
        else:
            fit(config)
    except (FileNotFoundError, KeyError, ValueError, RuntimeError) as error:
        # A missing data folder or a bad option is a usage error, not a traceback.
        raise click.ClickException(str(error)) from error
