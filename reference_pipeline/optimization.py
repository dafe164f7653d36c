"""The optimiser and the learning-rate schedule.

SGD with Nesterov momentum and weight decay is still the strongest simple
recipe for ResNets on CIFAR. Two details matter:

- Weight decay only on the weights of convolutions and linear layers.
  Decaying BatchNorm scales and biases does not regularise anything useful
  (BatchNorm undoes the scale of the weights before it) and only drags those
  parameters towards zero.
- The schedule is per optimizer step, not per epoch: a linear warm-up (large
  learning rates on a freshly initialised network are unstable) then a cosine
  decay to zero. It is a ``LambdaLR`` sized in total steps, so it must be
  stepped once after every ``optimizer.step()``.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: multi-dimensional weights with decay; norm weights and biases without."""
    decay, no_decay = [], []
    for param in model.parameters():
        if not param.requires_grad:
            continue
        # 1-D parameters are exactly the BatchNorm weights/biases and layer biases.
        (decay if param.ndim > 1 else no_decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def make_optimizer(
    model: nn.Module,
    lr: float,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    nesterov: bool = True,
) -> torch.optim.SGD:
    """SGD over every trainable parameter of ``model``: build it after the model is final."""
    return torch.optim.SGD(
        parameter_groups(model, weight_decay),
        lr=lr,
        momentum=momentum,
        nesterov=nesterov and momentum > 0,
    )


def warmup_cosine(step: int, total_steps: int, warmup_steps: int) -> float:
    """Learning-rate factor at ``step``: linear warm-up to 1, then cosine decay to 0.

    During warm-up the factor is ``(step + 1) / warmup_steps``, so the very
    first step already uses a small non-zero learning rate; the cosine part
    reaches 0 at ``step == total_steps``.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def constant_after_warmup(step: int, total_steps: int, warmup_steps: int) -> float:
    """The ablation baseline's schedule: warm-up, if any, then constant."""
    return (step + 1) / warmup_steps if step < warmup_steps else 1.0


def make_scheduler(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    warmup_steps: int,
    cosine: bool = True,
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step ``LambdaLR``: call ``scheduler.step()`` after every ``optimizer.step()``."""
    shape = warmup_cosine if cosine else constant_after_warmup
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: shape(step, total_steps, warmup_steps)
    )
