"""The reference pipeline: a correct, readable CIFAR classifier.

Read it top to bottom, one file per step:

    data.py          arrays in: synthetic, CIFAR-10 pickles, .npz; split; statistics
    batches.py       shuffled, sharded, device-resident batches
    augment.py       crop, flip, Cutout, Mixup, CutMix, label smoothing, soft-target loss
    models.py        ResNet-18 with the CIFAR stem, and a small ResNet for CPUs
    optimization.py  SGD with Nesterov momentum, weight-decay groups, warm-up + cosine
    train.py         the training and evaluation loops, checkpointing, TTA
    distributed.py   torchrun / DDP set-up
    metrics.py       pure numpy metric math (top-k, confusion, P/R/F1, ECE)
    report.py        temperature scaling, rich tables and the JSON report
    ablation.py      the ablation ladder
    factory.py       ``make_probe_parts``: the pieces ``clsaudit probe`` drives
    cli.py           ``python -m clsaudit.reference_pipeline`` / ``clsaudit train-reference``

This module imports nothing heavy: ``import clsaudit.reference_pipeline`` must
not pull in torch (the static linter shares the ``clsaudit`` namespace).
"""

__all__ = ["make_probe_parts", "probe_factory"]


def __getattr__(name: str):
    # Lazy: the factory imports torch, so only load it when someone asks for it.
    if name in ("make_probe_parts", "probe_factory"):
        from clsaudit.reference_pipeline import factory

        return getattr(factory, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
