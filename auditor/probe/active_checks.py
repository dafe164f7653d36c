"""Active checks: experiments on copies of a factory's model and optimizer.

Each check starts from a deep copy of the parts as the factory built them
(before the probe's passive steps), so the user's objects and the other
checks are undisturbed. Each returns a :class:`CheckResult` as a dict.
"""

from __future__ import annotations

import copy
import hashlib
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from clsaudit.probe.catalogue import FAIL, NA, PASS, CheckResult
from torch import nn

# Overfitting one batch: how many samples, how many steps at most, how long.
OVERFIT_SAMPLES = 16
OVERFIT_MAX_STEPS = 150
OVERFIT_MAX_SECONDS = 120.0  # a safety net only: the overall --timeout still applies
# Layers must get a gradient within this many steps: not at the first one,
# since zero-initialised residual branches (last BN gamma = 0) pass no
# gradient to their convolutions until the gamma has moved once.
GRADIENT_STEPS = 3
# "Near zero": the loss must lose this fraction of its distance to the floor.
OVERFIT_FRACTION = 0.1
# How many images per loader the overlap check hashes at most.
OVERLAP_MAX_IMAGES = 50_000


@dataclass
class Context:
    model: nn.Module
    optimizer: torch.optim.Optimizer
    loss_fn: Callable
    num_classes: int
    batch: tuple | None
    device: torch.device
    label_smoothing: float = 0.0
    train_loader: Any = None
    test_loaders: dict = field(default_factory=dict)
    overfit_model: nn.Module | None = None
    layers_with_grad: dict | None = None


def smoothed_floor(num_classes: int, eps: float) -> float:
    """The smallest cross-entropy reachable with label smoothing ``eps``: its target's entropy."""
    if eps <= 0:
        return 0.0
    hi = 1 - eps + eps / num_classes
    lo = eps / num_classes
    return -(hi * math.log(hi) + (num_classes - 1) * lo * math.log(lo))


def overfit_one_batch(ctx: Context) -> dict:
    x, y = ctx.batch[0][:OVERFIT_SAMPLES], ctx.batch[1][:OVERFIT_SAMPLES]
    model, opt = copy.deepcopy((ctx.model, ctx.optimizer))
    for group in opt.param_groups:  # a warm-up schedule may have set the lr near zero
        group["lr"] = group.get("initial_lr", group["lr"])
    model.train()
    floor = smoothed_floor(ctx.num_classes, ctx.label_smoothing)
    first = last = None
    target = None
    started = time.perf_counter()
    steps = 0
    layers = _trainable_layers(model)
    got_grad = {name: False for name in layers}
    for steps in range(1, OVERFIT_MAX_STEPS + 1):
        opt.zero_grad(set_to_none=True)
        loss = ctx.loss_fn(model(x), y)
        loss.backward()
        if steps <= GRADIENT_STEPS:
            for name, params in layers.items():
                got_grad[name] = got_grad[name] or any(
                    p.grad is not None and bool(p.grad.detach().abs().sum() > 0) for p in params
                )
        opt.step()
        last = float(loss.detach())
        if first is None:
            first = last
            target = floor + OVERFIT_FRACTION * max(first - floor, 1e-6)
        if not math.isfinite(last) or (last <= target and steps >= GRADIENT_STEPS):
            break
        if time.perf_counter() - started > OVERFIT_MAX_SECONDS:
            break
    ctx.overfit_model = model
    ctx.layers_with_grad = got_grad
    numbers = {
        "samples": int(x.shape[0]),
        "steps": steps,
        "first_loss": round(first, 4),
        "last_loss": round(last, 4),
        "target_loss": round(target, 4),
    }
    if math.isfinite(last) and last <= target:
        return CheckResult(
            "PRB101", PASS, f"loss {first:.3f} -> {last:.3f} in {steps} steps", numbers
        ).to_dict()
    return CheckResult(
        "PRB101",
        FAIL,
        f"could not fit {x.shape[0]} samples: loss {first:.3f} -> {last:.3f} after {steps} "
        f"steps (target {target:.3f}); the model, loss or optimizer cannot learn",
        numbers,
    ).to_dict()


def batch_independence(ctx: Context) -> dict:
    x = ctx.batch[0][:4].detach().clone()
    if x.shape[0] < 2:
        return CheckResult("PRB102", NA, "needs a batch of at least 2 samples").to_dict()
    model = copy.deepcopy(ctx.model).eval()
    x.requires_grad_(True)
    out = model(x)
    out[0].float().sum().backward()
    grad = x.grad.detach().float().flatten(1).abs().amax(dim=1)
    own, leak = float(grad[0]), float(grad[1:].max())
    numbers = {"own_grad": own, "other_samples_grad": leak}
    if own == 0.0:
        return CheckResult(
            "PRB102", FAIL, "sample 0's output does not depend on its own input", numbers
        ).to_dict()
    if leak > 1e-6 * own:
        return CheckResult(
            "PRB102",
            FAIL,
            f"sample 0's output depends on other samples' inputs (grad {leak:.3g} vs own "
            f"{own:.3g}): a view/reshape mixes the batch dimension",
            numbers,
        ).to_dict()
    return CheckResult("PRB102", PASS, "outputs depend only on their own sample", numbers).to_dict()


def _trainable_layers(model: nn.Module) -> dict[str, list]:
    layers = {}
    for name, module in model.named_modules():
        params = [p for p in module.parameters(recurse=False) if p.requires_grad]
        if params:
            layers[name or type(module).__name__] = params
    return layers


def every_layer_gets_gradient(ctx: Context) -> dict:
    """Read from the overfit run: every layer must get a gradient in its first steps."""
    if ctx.layers_with_grad is None:
        return CheckResult("PRB103", NA, "needs the overfit run").to_dict()
    missing = [name for name, got in ctx.layers_with_grad.items() if not got]
    layers = len(ctx.layers_with_grad)
    numbers = {"layers": layers, "without_gradient": missing[:10]}
    if missing:
        return CheckResult(
            "PRB103",
            FAIL,
            f"{len(missing)} of {layers} layers get no gradient in "
            f"{GRADIENT_STEPS} steps: " + ", ".join(missing[:5]),
            numbers,
        ).to_dict()
    return CheckResult("PRB103", PASS, f"all {layers} layers get a gradient", numbers).to_dict()


def real_beats_zeroed(ctx: Context) -> dict:
    model = ctx.overfit_model
    if model is None:
        return CheckResult("PRB104", NA, "needs the overfit copy").to_dict()
    x, y = ctx.batch[0][:OVERFIT_SAMPLES], ctx.batch[1][:OVERFIT_SAMPLES]
    model.eval()
    with torch.no_grad():
        real = float(ctx.loss_fn(model(x), y))
        zero = float(ctx.loss_fn(model(torch.zeros_like(x)), y))
    numbers = {"loss_real": round(real, 4), "loss_zeroed": round(zero, 4)}
    if real < zero:
        return CheckResult(
            "PRB104", PASS, f"loss {real:.3f} on real vs {zero:.3f} on zeroed inputs", numbers
        ).to_dict()
    return CheckResult(
        "PRB104",
        FAIL,
        f"loss {real:.3f} on real inputs is no better than "
        f"{zero:.3f} on zeroed inputs: the model ignores its input",
        numbers,
    ).to_dict()


def _image_hashes(loader) -> tuple[set, int]:
    """Hashes of every image a loader yields (raw tensors of a TensorDataset when it has one)."""
    dataset = getattr(loader, "dataset", None)
    tensors = getattr(dataset, "tensors", None)
    batches = [tensors[0]] if tensors else (b[0] for b in loader)
    hashes: set = set()
    count = 0
    for images in batches:
        flat = images.detach().to("cpu", torch.float32).flatten(1)
        rounded = (flat * 1e4).round().to(torch.int64).numpy()
        for row in rounded:
            hashes.add(hashlib.blake2b(row.tobytes(), digest_size=16).digest())
            count += 1
            if count >= OVERLAP_MAX_IMAGES:
                return hashes, count
    return hashes, count


def train_test_overlap(ctx: Context) -> dict:
    if ctx.train_loader is None or not ctx.test_loaders:
        return CheckResult(
            "PRB105", NA, "needs train_loader and test_loader or eval_loader"
        ).to_dict()
    train, n_train = _image_hashes(ctx.train_loader)
    numbers: dict[str, Any] = {"train_images": n_train}
    worst = 0.0
    parts = []
    for name, loader in ctx.test_loaders.items():
        held, n_held = _image_hashes(loader)
        shared = len(held & train)
        numbers[name] = {"images": n_held, "also_in_train": shared}
        if n_held:
            worst = max(worst, shared / n_held)
        parts.append(f"{shared} of {n_held} {name.replace('_loader', '')} images in train")
    # A few exact duplicates exist in real data sets; a leak is a sizeable share.
    verdict = FAIL if worst > 0.01 else PASS
    return CheckResult("PRB105", verdict, "; ".join(parts), numbers).to_dict()


def run_all(ctx: Context) -> list[dict]:
    results = []
    checks = [
        overfit_one_batch,
        batch_independence,
        every_layer_gets_gradient,
        real_beats_zeroed,
        train_test_overlap,
    ]
    ids = ["PRB101", "PRB102", "PRB103", "PRB104", "PRB105"]
    for check, check_id in zip(checks, ids):
        if ctx.batch is None and check is not train_test_overlap:
            results.append(CheckResult(check_id, NA, "no training batch").to_dict())
            continue
        try:
            results.append(check(ctx))
        except Exception as exc:  # noqa: BLE001 (one broken check must not hide the rest)
            results.append(CheckResult(check_id, NA, f"could not run: {exc!r}").to_dict())
    return results
