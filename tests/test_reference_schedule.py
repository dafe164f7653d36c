"""Optimizer groups and the per-step warm-up + cosine schedule."""

from __future__ import annotations

import math

import pytest
import torch
from clsaudit.reference_pipeline.models import small_resnet
from clsaudit.reference_pipeline.optimization import (
    make_optimizer,
    make_scheduler,
    parameter_groups,
    warmup_cosine,
)


def test_warmup_then_cosine_factors() -> None:
    total, warmup = 100, 10
    assert warmup_cosine(0, total, warmup) == pytest.approx(0.1)
    assert warmup_cosine(4, total, warmup) == pytest.approx(0.5)
    assert warmup_cosine(9, total, warmup) == pytest.approx(1.0)
    assert warmup_cosine(10, total, warmup) == pytest.approx(1.0)  # cosine starts at its peak
    assert warmup_cosine(55, total, warmup) == pytest.approx(0.5)  # halfway through the cosine
    assert warmup_cosine(25, total, warmup) == pytest.approx(0.5 * (1 + math.cos(math.pi / 6)))
    assert warmup_cosine(100, total, warmup) == pytest.approx(0.0)
    assert warmup_cosine(0, 10, 0) == pytest.approx(1.0)  # no warm-up


def test_lambda_lr_stepped_per_optimizer_step() -> None:
    model = torch.nn.Linear(2, 2)
    optimizer = make_optimizer(model, lr=0.4)
    scheduler = make_scheduler(optimizer, total_steps=20, warmup_steps=4)
    lrs = []
    for _ in range(20):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[:4] == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert lrs[4] == pytest.approx(0.4)
    assert lrs[12] == pytest.approx(0.2)  # step 12: halfway through the 16 cosine steps
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:]))
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0)
    # Both parameter groups follow the same schedule.
    assert optimizer.param_groups[1]["lr"] == optimizer.param_groups[0]["lr"]


def test_constant_schedule_for_the_ablation_baseline() -> None:
    optimizer = make_optimizer(torch.nn.Linear(2, 2), lr=0.1, momentum=0.0, weight_decay=0.0)
    scheduler = make_scheduler(optimizer, total_steps=10, warmup_steps=0, cosine=False)
    for _ in range(10):
        optimizer.step()
        scheduler.step()
        assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1)
    assert optimizer.defaults["nesterov"] is False  # nesterov needs momentum


def test_no_weight_decay_on_norm_weights_and_biases() -> None:
    model = small_resnet()
    decay, no_decay = parameter_groups(model, 5e-4)
    assert decay["weight_decay"] == 5e-4 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim == 4 or p.ndim == 2 for p in decay["params"])
    norm_and_bias = [m.weight for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    norm_and_bias.append(model.head.bias)
    ids = {id(p) for p in no_decay["params"]}
    assert all(id(p) in ids for p in norm_and_bias)
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
    optimizer = make_optimizer(model, lr=0.1)
    assert optimizer.defaults["nesterov"] and optimizer.defaults["momentum"] == 0.9
