"""Factory targets: build the user's parts, drive a few steps, run the active checks.

A factory is a callable with no required arguments that returns a mapping
or an object with ``model``, ``loss_fn``, ``optimizer``, ``train_loader`` and
``num_classes``, and optionally ``eval_loader``, ``test_loader``,
``scheduler``, ``scheduler_interval`` (``"step"``, the default, or
``"epoch"``), ``device`` and ``label_smoothing``.

The passive steps run on the parts the factory built for the probe; every
active check works on a deep copy of the model (and optimizer) taken before
those steps, so that no check disturbs another.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import inspect
import os
import sys
from typing import Any

import torch
from clsaudit.probe import active_checks

REQUIRED = ("model", "loss_fn", "optimizer", "train_loader", "num_classes")
OPTIONAL = (
    "eval_loader",
    "test_loader",
    "scheduler",
    "scheduler_interval",
    "device",
    "label_smoothing",
)


class FactoryError(Exception):
    """The target could not be loaded or returned unusable parts."""


def load_factory(target: str):
    """Resolve ``package.module:name`` or ``path/to/file.py:name`` to the callable."""
    where, _, name = target.rpartition(":")
    if not where or not name.isidentifier():
        raise FactoryError(f"expected MODULE:FACTORY or FILE.py:FACTORY, got {target!r}")
    if where.endswith(".py") or os.sep in where or "/" in where:
        path = os.path.abspath(where)
        if not os.path.isfile(path):
            raise FactoryError(f"no such file: {where}")
        sys.path.insert(0, os.path.dirname(path))
        module_name = "_clsaudit_factory_" + os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise FactoryError(f"cannot import {where}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    else:
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        module = importlib.import_module(where)
    factory = getattr(module, name, None)
    if not callable(factory):
        raise FactoryError(f"{where} has no callable {name!r}")
    return factory


def call_factory(factory, device: str | None) -> dict:
    """Call the factory, passing ``device`` when it takes one and one was asked for."""
    kwargs = {}
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}
    if device and "device" in params:
        kwargs["device"] = device
    parts = factory(**kwargs)
    if isinstance(parts, dict):
        got = dict(parts)
    else:
        got = {k: getattr(parts, k) for k in REQUIRED + OPTIONAL if hasattr(parts, k)}
    missing = [k for k in REQUIRED if got.get(k) is None]
    if missing:
        raise FactoryError("the factory's result lacks " + ", ".join(missing))
    return got


def _to(device: torch.device, batch: Any) -> tuple:
    if not isinstance(batch, (list, tuple)) or len(batch) < 2:
        raise FactoryError("train_loader must yield (images, labels) pairs")
    x, y = batch[0], batch[1]
    return x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def _batches(loader):
    """Cycle over a loader forever (a short loader restarts, like a new epoch)."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise FactoryError("the loader yielded no batches")


def run_factory(spec: dict, recorder) -> dict:
    """Drive ``steps`` training steps under the recorder, then the active checks."""
    target = spec["target"]
    device_asked = spec.get("device")
    if device_asked is None and spec.get("reference"):
        # The self-test checks the machine: on the GPU when there is one.
        device_asked = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        factory = load_factory(target)
        parts = call_factory(factory, device_asked)
    except FactoryError as exc:
        return {
            "status": "error",
            "error": {"type": "FactoryError", "message": str(exc), "traceback": ""},
        }
    except BaseException as exc:  # noqa: BLE001 (the factory's own error: reported)
        from clsaudit.probe.child import _user_traceback

        return {
            "status": "error",
            "error": {
                "type": type(exc).__name__,
                "message": str(exc),
                "traceback": _user_traceback(exc, target),
            },
        }
    model = parts["model"]
    loss_fn = parts["loss_fn"]
    optimizer = parts["optimizer"]
    scheduler = parts.get("scheduler")
    interval = parts.get("scheduler_interval") or "step"
    num_classes = int(parts["num_classes"])
    device = torch.device(parts.get("device") or next(model.parameters()).device)
    steps = int(spec["steps"])

    # Snapshot before training: the active checks start from these copies.
    initial_model, initial_optimizer = copy.deepcopy((model, optimizer))

    train_batches = _batches(parts["train_loader"])
    first_batch = None
    recorder.install()
    try:
        model.train()
        for _ in range(steps):
            x, y = _to(device, next(train_batches))
            if first_batch is None:
                first_batch = (x.detach().clone(), y.detach().clone())
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            if scheduler is not None and interval == "step":
                scheduler.step()
        eval_loader = parts.get("eval_loader") or parts.get("test_loader")
        if eval_loader is not None:
            model.eval()
            with torch.no_grad():
                for i, batch in enumerate(eval_loader):
                    if i >= 2:
                        break
                    x, y = _to(device, batch)
                    loss_fn(model(x), y)
    finally:
        recorder.uninstall()

    context = active_checks.Context(
        model=initial_model,
        optimizer=initial_optimizer,
        loss_fn=loss_fn,
        num_classes=num_classes,
        batch=first_batch,
        device=device,
        label_smoothing=float(parts.get("label_smoothing") or 0.0),
        train_loader=parts["train_loader"],
        test_loaders={
            k: parts[k] for k in ("test_loader", "eval_loader") if parts.get(k) is not None
        },
    )
    return {
        "status": "finished",
        "exit_code": 0,
        "factory": {
            "num_classes": num_classes,
            "device": str(device),
            "label_smoothing": context.label_smoothing,
            "scheduler": type(scheduler).__name__ if scheduler is not None else None,
            "scheduler_interval": interval,
        },
        "active": active_checks.run_all(context),
    }
