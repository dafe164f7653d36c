"""PRB013: a learning-rate schedule judged against the horizon it was built for.

A schedule is wrong when the script steps it at a cadence its size does not
fit: a cosine sized in epochs stepped every batch ends inside the first
epoch while training goes on; a OneCycle sized in batches stepped once per
epoch never leaves its warm-up. A schedule that reaches its floor at the
end it was sized for is correct, however low it goes. Plain data in, no torch.
"""

from __future__ import annotations

from clsaudit.probe.catalogue import FAIL, NA, PASS, CheckResult

# The lr counts as collapsed below this fraction of its running peak.
LR_COLLAPSE = 0.02
# A scheduler stepped at least this share of optimizer steps is stepped per batch.
PER_BATCH_SHARE = 0.7
# Schedules that return to a low lr and climb again on purpose.
CYCLIC_SCHEDULERS = {"CyclicLR", "CosineAnnealingWarmRestarts"}


def _trained_after(boundaries: list[int], step: int, total: int) -> bool:
    """Training went on in a later epoch than the one holding ``step``."""
    later = [b for b in boundaries if b > step]
    return bool(later) and total > later[0]


def _per_batch(record: dict, total_steps: int) -> bool:
    calls = len(record.get("calls", []))
    return calls >= 3 and calls >= PER_BATCH_SHARE * total_steps


def _per_epoch(record: dict, boundaries: list[int], total_steps: int) -> bool:
    calls = record.get("calls", [])
    if len(boundaries) < 2 or not calls or total_steps < 2 * len(boundaries):
        return False
    return len(calls) <= len(boundaries) + 1 and all(c in boundaries for c in calls[:-1])


def _lr_rows(obs: dict) -> tuple[list[float], list[int]]:
    """The lr of the optimizer that stepped last, over the steps it took (and their indices).

    A script with two training phases has two optimizers; the second's lr is
    not the first's schedule falling.
    """
    rows = [s for s in obs.get("steps", []) if s.get("lrs") and s["lrs"][0] is not None]
    if not rows:
        return [], []
    last = rows[-1].get("optimizer")
    mine = [s for s in rows if s.get("optimizer") == last]
    return [s["lrs"][0] for s in mine], [s["step"] for s in mine]


def check(obs: dict) -> CheckResult:
    warned = [w for w in obs.get("warnings", []) if "lr_scheduler.step()" in w]
    if warned:
        return CheckResult(
            "PRB013",
            FAIL,
            "scheduler.step() was called before optimizer.step() (torch warned): the first "
            "lr of the schedule is skipped",
            {"warning": warned[0][:200]},
        )
    lrs, indices = _lr_rows(obs)
    if len(lrs) < 2:
        return CheckResult("PRB013", NA, "needs two optimizer steps")
    total = len(lrs)
    numbers: dict = {"first": lrs[0], "max": max(lrs), "last": lrs[-1], "steps": total}
    if indices[0] > 0:
        numbers["from_step"] = indices[0]  # a later training phase's optimizer
    if max(lrs) <= 0:
        return CheckResult("PRB013", FAIL, "learning rate is 0 at every observed step", numbers)
    boundaries = obs.get("loader_passes", {}) or {}
    boundaries = boundaries.get("training_boundaries", []) if boundaries else []
    length = obs.get("epoch_length")
    schedulers = [s for s in obs.get("schedulers", []) if s.get("calls")]
    numbers["epoch_boundaries"] = len(boundaries)
    numbers["batches_per_epoch"] = length
    for record in schedulers:
        verdict = _judge_scheduler(record, boundaries, length, indices, numbers)
        if verdict is not None:
            return verdict
    return _judge_trajectory(lrs, indices, boundaries, schedulers, numbers)


def _judge_scheduler(
    record: dict, boundaries: list[int], length: int | None, indices: list[int], numbers: dict
) -> CheckResult | None:
    total = len(indices)
    name = record["class"]
    facts = record.get("horizon", {})
    calls = len(record["calls"])
    cadence = {
        "scheduler": name,
        "scheduler_steps": calls,
        "horizon": {k: v for k, v in facts.items() if k != "base_lr"},
    }
    # Training went on past the first epoch end of this optimizer's phase.
    went_on = any(indices[0] < b <= indices[-1] for b in boundaries)
    projected = record.get("first_epoch_floor")
    if _per_batch(record, total) and went_on and length and projected:
        factor = projected["factor"]
        ends = projected.get("ends_at")
        if factor < LR_COLLAPSE or (ends is not None and ends < length):
            numbers.update(cadence, projected_factor=round(factor, 6), threshold=LR_COLLAPSE)
            at = projected.get("at_step", length)
            return CheckResult(
                "PRB013",
                FAIL,
                f"{name} is stepped every batch ({calls} steps over {total} optimizer steps), "
                f"but sized so that the lr falls to {factor:.3g} x its peak after {at} "
                f"steps, inside the first epoch of {length} batches, and training goes on "
                f"(threshold {LR_COLLAPSE}): a schedule sized in epochs stepped every batch",
                numbers,
            )
    t_max = facts.get("T_max")
    if name == "CosineAnnealingLR" and t_max and calls > t_max + 1:
        past = record["calls"][int(t_max) - 1]
        if indices[-1] > past + 1:
            numbers.update(cadence)
            return CheckResult(
                "PRB013",
                FAIL,
                f"CosineAnnealingLR(T_max={t_max}) was stepped {calls} times over {total} "
                f"optimizer steps: it reached its floor after {t_max} steps (at optimizer step "
                f"{past}) and then climbs back while training goes on; size T_max in the unit "
                "you step it (epochs x batches per epoch when stepped every batch)",
                numbers,
            )
    if name == "OneCycleLR" and _per_epoch(record, boundaries, total):
        size = facts.get("total_steps")
        sized_in_batches = bool(size and length and length >= 2 and size % length == 0)
        if sized_in_batches:
            numbers.update(cadence)
            return CheckResult(
                "PRB013",
                FAIL,
                f"OneCycleLR is sized for total_steps={size} (= {size // length} epochs x "
                f"{length} batches) but stepped once per epoch ({calls} steps over "
                f"{len(boundaries)} epochs): it never leaves its warm-up; step it every batch",
                numbers,
            )
    return None


def _judge_trajectory(
    lrs: list[float],
    indices: list[int],
    boundaries: list[int],
    schedulers: list[dict],
    numbers: dict,
) -> CheckResult:
    cyclic = sorted({s["class"] for s in schedulers} & CYCLIC_SCHEDULERS)
    if cyclic:
        numbers["schedulers"] = cyclic
        return CheckResult(
            "PRB013",
            PASS,
            f"lr {lrs[0]:.3g} -> {lrs[-1]:.3g}; {cyclic[0]} cycles by design",
            numbers,
        )
    peak = [max(lrs[: i + 1]) for i in range(len(lrs))]
    collapsed = [i for i, lr in enumerate(lrs) if lr < LR_COLLAPSE * peak[i]]
    if collapsed:
        first = collapsed[0]
        numbers.update(collapsed_at_step=indices[first], threshold=LR_COLLAPSE)
        if _trained_after(boundaries, indices[first], indices[-1] + 1):
            return CheckResult(
                "PRB013",
                FAIL,
                f"lr fell from {peak[first]:.3g} to {lrs[first]:.3g} (< {LR_COLLAPSE} x peak) at "
                f"step {indices[first]}, and training went on into a later epoch: the schedule ends "
                "long before the run (sized in epochs, stepped every batch?)",
                numbers,
            )
        return CheckResult(
            "PRB013",
            PASS,
            f"lr {lrs[0]:.3g} -> {lrs[-1]:.3g} over {len(lrs)} steps; it reached its floor "
            f"(< {LR_COLLAPSE} x peak) at step {indices[first]}, at the end of the observed run",
            numbers,
        )
    return CheckResult(
        "PRB013", PASS, f"lr {lrs[0]:.3g} -> {lrs[-1]:.3g} over {len(lrs)} steps", numbers
    )
