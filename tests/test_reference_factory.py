"""The probe factory: every part present, fast, and behaving like a sane pipeline."""

from __future__ import annotations

import math

import torch
from clsaudit.reference_pipeline import make_probe_parts, probe_factory

KEYS = {
    "model",
    "loss_fn",
    "label_smoothing",
    "optimizer",
    "scheduler",
    "train_loader",
    "eval_loader",
    "test_loader",
    "num_classes",
    "device",
    "mean",
    "std",
}


def test_factory_returns_every_part() -> None:
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)  # torch's one-off lazy imports
    parts = make_probe_parts()
    assert KEYS <= set(parts)
    assert probe_factory is make_probe_parts
    assert parts["num_classes"] == 10 and parts["device"] == torch.device("cpu")
    assert 0 < parts["label_smoothing"] < 0.5
    assert len(parts["train_loader"].dataset) == 1024
    assert len(parts["eval_loader"].dataset) > 0 and len(parts["test_loader"].dataset) > 0
    # Every model parameter is in the optimizer.
    in_optimizer = {id(p) for group in parts["optimizer"].param_groups for p in group["params"]}
    assert {id(p) for p in parts["model"].parameters()} == in_optimizer


def test_loaders_yield_normalised_nchw_batches_with_several_classes() -> None:
    parts = make_probe_parts(seed=1, num_train=512, batch_size=32)
    for name in ("train_loader", "eval_loader", "test_loader"):
        images, labels = next(iter(parts[name]))
        assert images.dtype == torch.float32 and images.shape[1:] == (3, 32, 32)
        assert labels.dtype == torch.int64 and labels.shape == images.shape[:1]
        assert int(labels.max()) < parts["num_classes"]
    images, labels = next(iter(parts["train_loader"]))
    assert images.shape[0] == 32 and labels.unique().numel() >= 5  # shuffled: mixed classes
    all_train = torch.cat([x for x, _ in parts["train_loader"]])
    assert torch.allclose(all_train.mean(dim=(0, 2, 3)), torch.zeros(3), atol=0.05)
    assert torch.allclose(all_train.std(dim=(0, 2, 3)), torch.ones(3), atol=0.05)
    assert parts["mean"].shape == (3,) and bool((parts["std"] > 0).all())
    # Reshuffled every epoch.
    first = next(y for _, y in parts["train_loader"])
    second = next(y for _, y in parts["train_loader"])
    assert not torch.equal(first, second)


def test_training_steps_behave() -> None:
    parts = make_probe_parts(seed=0)
    model, loss_fn, optimizer = parts["model"], parts["loss_fn"], parts["optimizer"]
    scheduler = parts["scheduler"]
    images, labels = next(iter(parts["train_loader"]))
    model.train()
    with torch.no_grad():
        initial = loss_fn(model(images), labels).item()
    assert abs(initial - math.log(10)) < 0.3  # a fresh classifier is uniform-ish
    lr_before = optimizer.param_groups[0]["lr"]
    losses = []
    for _ in range(8):  # overfit one batch a little
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(images), labels)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    assert optimizer.param_groups[0]["lr"] > lr_before  # still warming up
    assert all(p.grad is not None for p in model.parameters())
