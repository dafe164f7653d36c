"""Learning-rate schedulers: which were built, their horizon, and when each was stepped.

PRB013 judges a schedule against the horizon it was built for (``T_max``,
``total_steps``, a step size, a lambda) and the cadence at which the script
steps it (every batch or every epoch). That needs the scheduler objects
themselves, so their ``__init__`` and ``step`` are wrapped while the probe
is installed; the wrappers call the originals unchanged and only note the
optimizer step count at each call. The wrappers are class attributes,
never instance attributes, so a scheduler's ``state_dict()`` stays the same.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from torch.optim import lr_scheduler

# Classes that override ``step`` (ReduceLROnPlateau follows a metric: not judged).
_OWN_STEP = ("SequentialLR", "ChainedScheduler", "CosineAnnealingWarmRestarts")
MAX_CALLS_KEPT = 5000
# How far a lambda schedule is evaluated to project its first epoch.
MAX_PROJECTED_STEPS = 20_000


def _horizon(scheduler: Any) -> dict:
    """The numbers that size a schedule, by class (plain data)."""
    facts: dict[str, Any] = {}
    for name in ("T_max", "total_steps", "step_size", "total_iters", "eta_min", "power"):
        value = getattr(scheduler, name, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            facts[name] = value
    gamma = getattr(scheduler, "gamma", None)
    if isinstance(gamma, (int, float)):
        facts["gamma"] = float(gamma)
    milestones = getattr(scheduler, "milestones", None)
    if milestones is not None and type(scheduler).__name__ == "MultiStepLR":
        try:
            facts["milestones"] = sorted(int(m) for m in milestones)[:100]
        except (TypeError, ValueError):
            pass
    base = getattr(scheduler, "base_lrs", None)
    if base:
        facts["base_lr"] = float(base[0])
    return facts


class ScheduleWatch:
    """Records every LR scheduler built while installed and the steps it took."""

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder
        self.schedulers: dict[int, dict] = {}
        self._objects: dict[int, Any] = {}
        self._originals: list[tuple[type, str, Any]] = []
        self._initialising = 0
        self._stepping = 0

    def install(self) -> None:
        base = lr_scheduler.LRScheduler
        self._wrap(base, "__init__", self._wrapped_init)
        self._wrap(base, "step", self._wrapped_step)
        for name in _OWN_STEP:
            cls = getattr(lr_scheduler, name, None)
            if cls is not None and "step" in cls.__dict__:
                self._wrap(cls, "step", self._wrapped_step)
            if cls is not None and "__init__" in cls.__dict__:
                self._wrap(cls, "__init__", self._wrapped_init)

    def uninstall(self) -> None:
        for cls, name, original in reversed(self._originals):
            setattr(cls, name, original)
        self._originals = []

    def _wrap(self, cls: type, name: str, factory) -> None:
        original = cls.__dict__[name]
        self._originals.append((cls, name, original))
        setattr(cls, name, factory(original))

    def _wrapped_init(self, original):
        watch = self

        @functools.wraps(original)
        def init(scheduler, *args, **kwargs):
            watch._initialising += 1
            try:
                original(scheduler, *args, **kwargs)
            finally:
                watch._initialising -= 1
            if watch._initialising == 0:
                watch._register(scheduler)

        return init

    def _wrapped_step(self, original):
        watch = self

        @functools.wraps(original)
        def step(scheduler, *args, **kwargs):
            outer = watch._initialising == 0 and watch._stepping == 0
            watch._stepping += 1
            try:
                return original(scheduler, *args, **kwargs)
            finally:
                watch._stepping -= 1
                if outer:
                    watch._on_step(scheduler)

        return step

    def _register(self, scheduler: Any) -> dict:
        key = id(scheduler)
        if key not in self.schedulers:
            self._objects[key] = scheduler
            self.schedulers[key] = {
                "class": type(scheduler).__name__,
                "horizon": _horizon(scheduler),
                "built_at_step": self.recorder.optimizer_steps,
                "calls": [],
            }
        return self.schedulers[key]

    def _on_step(self, scheduler: Any) -> None:
        try:
            record = self._register(scheduler)
            if len(record["calls"]) < MAX_CALLS_KEPT:
                record["calls"].append(self.recorder.optimizer_steps)
        except Exception as exc:  # noqa: BLE001 (observers never break the run)
            self.recorder.internal_errors.append(f"scheduler hook: {exc!r}")

    def summary(self, epoch_length: int | None) -> list[dict]:
        """Each scheduler's record, with its lr factor projected over one epoch of batches."""
        out = []
        for key, record in self.schedulers.items():
            record = dict(record)
            if epoch_length:
                try:
                    record["first_epoch_floor"] = _first_epoch_floor(
                        self._objects[key], record, epoch_length
                    )
                except Exception as exc:  # noqa: BLE001 (a user's lambda may raise)
                    record["projection_error"] = repr(exc)[:200]
            out.append(record)
        return out


def _first_epoch_floor(scheduler: Any, record: dict, length: int) -> dict | None:
    """If stepped once per batch, the lowest lr factor (vs its running peak) within ``length`` steps.

    ``None`` where the class's closed form is not known. The factor is the
    learning rate divided by the largest learning rate before it, so a
    warm-up that starts near zero is not a collapse.
    """
    name = record["class"]
    facts = record["horizon"]
    base = facts.get("base_lr") or 0.0
    if name == "CosineAnnealingLR":
        t_max = facts.get("T_max")
        if not t_max or base <= 0:
            return None
        floor = facts.get("eta_min", 0.0) / base
        at = min(length, int(t_max))
        factor = floor + (1 - floor) * (1 + math.cos(math.pi * at / t_max)) / 2
        return {"factor": factor, "at_step": at, "ends_at": int(t_max)}
    if name == "PolynomialLR":
        total = facts.get("total_iters")
        if not total:
            return None
        at = min(length, int(total))
        factor = (1 - at / total) ** facts.get("power", 1.0)
        return {"factor": factor, "at_step": at, "ends_at": int(total)}
    if name == "StepLR":
        size, gamma = facts.get("step_size"), facts.get("gamma")
        if not size or gamma is None:
            return None
        return {"factor": gamma ** (length // int(size)), "at_step": length}
    if name == "MultiStepLR":
        gamma = facts.get("gamma")
        if gamma is None or "milestones" not in facts:
            return None
        passed = sum(1 for m in facts["milestones"] if m <= length)
        return {"factor": gamma**passed, "at_step": length}
    if name == "ExponentialLR":
        gamma = facts.get("gamma")
        return None if gamma is None else {"factor": gamma**length, "at_step": length}
    if name == "LambdaLR":
        lambdas = getattr(scheduler, "lr_lambdas", None)
        if not lambdas:
            return None
        fn = lambdas[0]
        peak, lowest, lowest_at = 0.0, 1.0, 0
        for i in range(min(length, MAX_PROJECTED_STEPS) + 1):
            value = float(fn(i))
            peak = max(peak, value)
            if peak > 0 and value / peak < lowest:
                lowest, lowest_at = value / peak, i
        return {"factor": lowest, "at_step": lowest_at}
    return None
