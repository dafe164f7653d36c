"""Passive checks: verdicts from what the recorder saw. Plain data in, no torch.

Thresholds are chosen so that a correct pipeline passes whatever its seed,
optimizer or style; each constant says what it separates.
"""

from __future__ import annotations

import math
from typing import Any

from clsaudit.probe.catalogue import FAIL, NA, PASS, CheckResult

# PRB001: first training loss / expected loss. An untrained classifier's
# outputs are near uniform, so its loss is near ln(C) (label smoothing and
# mixed targets do not change that); a factor of 2 either way is far outside
# what initialisation noise gives and inside what broken pipelines give.
INITIAL_LOSS_BAND = (0.5, 2.0)
# PRB009: raw 8-bit pixels, or channel statistics far from standardised.
RAW_PIXEL_MAX = 20.0
CHANNEL_MEAN_LIMIT = 2.0
CHANNEL_STD_RANGE = (0.05, 5.0)
# PRB010: neighbouring pixels of images, natural or the synthetic ones of the
# fixtures and the reference pipeline, correlate above 0.6; NHWC memory read
# as NCHW falls below 0.3 (measured: README of the probe).
SPATIAL_CORR_MIN = 0.3
# PRB013: the lr is "collapsed" below this fraction of its largest value.
LR_COLLAPSE = 0.02
# Schedules that return to a low lr and climb again on purpose.
CYCLIC_SCHEDULERS = {"CyclicLR", "CosineAnnealingWarmRestarts"}


def _first_class_loss(obs: dict) -> dict | None:
    for sample in obs.get("loss_samples", []):
        if sample.get("fn") in ("cross_entropy", "nll_loss") and sample.get("input"):
            return sample
    return None


def initial_loss(obs: dict, extra: dict) -> CheckResult:
    sample = _first_class_loss(obs)
    if sample is None or sample.get("value") is None:
        return CheckResult("PRB001", NA, "no cross-entropy or NLL loss seen")
    num_classes = sample["input"].get("num_classes") or extra.get("num_classes")
    if not num_classes:
        return CheckResult("PRB001", NA, "number of classes unknown")
    value = float(sample["value"])
    if sample.get("reduction") == "sum":
        size = (sample.get("target") or {}).get("size") or 1
        value /= size
    expected = math.log(num_classes)
    ratio = value / expected
    numbers = {
        "loss": round(value, 4),
        "ln_C": round(expected, 4),
        "ratio": round(ratio, 3),
        "num_classes": num_classes,
        "label_smoothing": sample.get("label_smoothing", 0.0),
    }
    lo, hi = INITIAL_LOSS_BAND
    if not math.isfinite(value):
        return CheckResult("PRB001", FAIL, f"first loss is {value}", numbers)
    if lo <= ratio <= hi:
        return CheckResult(
            "PRB001", PASS, f"first loss {value:.3f} vs ln({num_classes}) = {expected:.3f}", numbers
        )
    why = (
        "too high: logits start large (initialisation or input scale)"
        if ratio > hi
        else "too low: the model is not starting from scratch, or the loss is not "
        "a mean cross-entropy over the classes"
    )
    return CheckResult(
        "PRB001",
        FAIL,
        f"first loss {value:.3f} is {ratio:.2f} x ln({num_classes})"
        f" = {expected:.3f}, outside [{lo}, {hi}]: {why}",
        numbers,
    )


def non_finite(obs: dict) -> CheckResult:
    bad_losses = [
        s
        for s in obs.get("steps", [])
        if s.get("loss") is not None and not math.isfinite(s["loss"])
    ]
    bad_losses += [
        s
        for s in obs.get("loss_samples", [])
        if s.get("value") is not None and not math.isfinite(s["value"])
    ]
    bad_grads = [s for s in obs.get("steps", []) if s.get("nonfinite_grads")]
    bad_inputs = [s for s in obs.get("input_samples", []) if s.get("finite") is False]
    bad_inputs += [
        s for s in obs.get("loss_samples", []) if (s.get("input") or {}).get("finite") is False
    ]
    numbers = {
        "losses": len(bad_losses),
        "steps_with_bad_grads": len(bad_grads),
        "inputs": len(bad_inputs),
    }
    if not (bad_losses or bad_grads or bad_inputs):
        return CheckResult("PRB002", PASS, "all finite", numbers)
    parts = []
    if bad_losses:
        parts.append(f"non-finite loss at step {bad_losses[0].get('step')}")
    if bad_grads:
        parts.append(
            f"non-finite gradients at step {bad_grads[0]['step']} in "
            + ", ".join(bad_grads[0]["nonfinite_grads"][:3])
        )
    if bad_inputs:
        parts.append("non-finite model or loss inputs")
    return CheckResult("PRB002", FAIL, "; ".join(parts), numbers)


def gradients_carried_over(obs: dict) -> CheckResult:
    carry = obs.get("grad_carry", [])
    if not carry:
        return CheckResult("PRB003", NA, "needs two optimizer steps")
    dirty = [c for c in carry if c["grad_norm"] > 0]
    numbers = {"steps_checked": len(carry), "steps_with_old_grads": len(dirty)}
    if dirty:
        first = dirty[0]
        numbers["grad_norm"] = first["grad_norm"]
        return CheckResult(
            "PRB003",
            FAIL,
            f"at step {first['step']} the first backward started with gradients of norm "
            f"{first['grad_norm']:.3g} left from the previous step: zero_grad() is missing",
            numbers,
        )
    return CheckResult(
        "PRB003", PASS, f"gradients empty at the start of {len(carry)} steps", numbers
    )


def parameters_without_gradient(obs: dict) -> CheckResult:
    params = obs.get("parameters", {})
    if not obs.get("steps"):
        return CheckResult("PRB004", NA, "no optimizer step seen")
    never = params.get("never_grad", [])
    numbers = {"count": len(never), "names": never[:10]}
    if never:
        return CheckResult(
            "PRB004",
            FAIL,
            f"{len(never)} trainable parameters never got a gradient: " + ", ".join(never[:4]),
            numbers,
        )
    return CheckResult("PRB004", PASS, "every trainable parameter got a gradient", numbers)


def gradients_outside_optimizer(obs: dict) -> CheckResult:
    params = obs.get("parameters", {})
    if not params.get("optimizers"):
        return CheckResult("PRB005", NA, "no optimizer step seen")
    outside = params.get("not_in_optimizer", [])
    numbers = {"count": len(outside), "names": outside[:10]}
    if outside:
        return CheckResult(
            "PRB005",
            FAIL,
            f"{len(outside)} parameters get gradients but no optimizer updates "
            "them (optimizer built before a layer was replaced?): " + ", ".join(outside[:4]),
            numbers,
        )
    return CheckResult("PRB005", PASS, "all parameters with gradients are in an optimizer", numbers)


def eval_mode_training(obs: dict) -> CheckResult:
    if not obs.get("backwards"):
        return CheckResult("PRB006", NA, "no backward seen")
    events = obs.get("eval_mode_training", [])
    if events:
        ev = events[0]
        return CheckResult(
            "PRB006",
            FAIL,
            f"{ev['module']} was in eval mode in a training "
            f"step (step {ev['step']}): model.train() is missing after an "
            "evaluation",
            {"first_step": ev["step"], "events": len(events)},
        )
    return CheckResult("PRB006", PASS, "model in train mode in every training forward")


def train_mode_evaluation(obs: dict) -> CheckResult:
    counts = obs.get("forward_counts", {})
    events = obs.get("train_mode_eval", [])
    numbers = {"no_grad_forwards": counts.get("no_grad", 0)}
    if events:
        ev = events[0]
        numbers["first_step"] = ev["step"]
        return CheckResult(
            "PRB007",
            FAIL,
            f"{ev['module']} ran a no-grad forward in train mode "
            f"(after step {ev['step']}): model.eval() is missing before "
            "evaluation; dropout stays on and BatchNorm updates its statistics",
            numbers,
        )
    if not counts.get("no_grad"):
        return CheckResult("PRB007", NA, "no evaluation (no-grad forward) seen", numbers)
    return CheckResult("PRB007", PASS, "no-grad forwards ran in eval mode", numbers)


def probabilities_into_loss(obs: dict) -> CheckResult:
    samples = [s for s in obs.get("loss_samples", []) if s.get("input")]
    if not samples:
        return CheckResult("PRB008", NA, "no loss call seen")
    for s in samples:
        inp = s["input"]
        if s["fn"] == "cross_entropy" and inp.get("is_probabilities"):
            return CheckResult(
                "PRB008",
                FAIL,
                "cross_entropy received probabilities (rows sum "
                "to 1): remove the softmax, it takes logits",
                {"row_sum_max_dev": inp.get("row_sum_max_dev")},
                rule="CLS101",
            )
        if s["fn"] == "nll_loss" and inp.get("is_probabilities"):
            return CheckResult(
                "PRB008",
                FAIL,
                "nll_loss received probabilities: use log_softmax, not softmax",
                {"row_sum_max_dev": inp.get("row_sum_max_dev")},
                rule="CLS103",
            )
        if (
            s["fn"] == "binary_cross_entropy_with_logits"
            and inp.get("in_unit_interval")
            and inp.get("numel", 0) >= 32
        ):
            return CheckResult(
                "PRB008",
                FAIL,
                "binary_cross_entropy_with_logits received values in [0, 1]: remove the sigmoid",
                {"min": inp.get("min"), "max": inp.get("max")},
                rule="CLS102",
            )
    first = samples[0]
    if first["fn"] == "cross_entropy" and first["input"].get("is_log_probabilities"):
        return CheckResult(
            "PRB008",
            PASS,
            "note: cross_entropy receives log-probabilities; "
            "harmless (log_softmax is idempotent) but redundant",
            {"logsumexp_max_abs": first["input"].get("logsumexp_max_abs")},
        )
    return CheckResult(
        "PRB008",
        PASS,
        f"{first['fn']} receives "
        + ("log-probabilities" if first["fn"] == "nll_loss" else "logits"),
    )


def _image_samples(obs: dict) -> list[dict]:
    return [s for s in obs.get("input_samples", []) if "min" in s]


def unnormalised_inputs(obs: dict) -> CheckResult:
    samples = _image_samples(obs)
    if not samples:
        return CheckResult("PRB009", NA, "no float model input seen")
    s = samples[0]
    means = s.get("channel_mean") or [s["mean"]]
    stds = s.get("channel_std") or [s["std"]]
    numbers = {"min": s["min"], "max": s["max"], "channel_mean": means, "channel_std": stds}
    if s["max"] > RAW_PIXEL_MAX and s["min"] >= 0:
        return CheckResult(
            "PRB009",
            FAIL,
            f"inputs range {s['min']:.3g}..{s['max']:.3g}: raw "
            "pixel values; scale to [0, 1] and standardise with the training "
            "split's mean/std",
            numbers,
        )
    lo, hi = CHANNEL_STD_RANGE
    if max(abs(m) for m in means) > CHANNEL_MEAN_LIMIT or not all(lo <= v <= hi for v in stds):
        return CheckResult(
            "PRB009",
            FAIL,
            "per-channel mean/std far from 0/1: "
            f"mean {[round(m, 2) for m in means]}, std "
            f"{[round(v, 2) for v in stds]}",
            numbers,
        )
    if s["min"] >= 0 and s["max"] <= 1:
        return CheckResult("PRB009", PASS, "note: inputs in [0, 1], not standardised", numbers)
    return CheckResult("PRB009", PASS, "inputs look standardised", numbers)


def scrambled_spatial_structure(obs: dict) -> CheckResult:
    samples = [
        s
        for s in _image_samples(obs)
        if s.get("corr_h") is not None and s.get("corr_v") is not None
    ]
    if not samples:
        return CheckResult("PRB010", NA, "no image-shaped (N, C, H, W) input seen")
    h = sum(s["corr_h"] for s in samples) / len(samples)
    v = sum(s["corr_v"] for s in samples) / len(samples)
    numbers = {
        "corr_horizontal": round(h, 3),
        "corr_vertical": round(v, 3),
        "threshold": SPATIAL_CORR_MIN,
    }
    if min(h, v) < SPATIAL_CORR_MIN:
        return CheckResult(
            "PRB010",
            FAIL,
            f"neighbouring pixels barely correlate (horizontal "
            f"{h:.2f}, vertical {v:.2f}): NHWC data reshaped to NCHW with "
            "view/reshape (use permute(0, 3, 1, 2)), or random-noise inputs",
            numbers,
        )
    return CheckResult("PRB010", PASS, f"neighbour correlation {h:.2f} / {v:.2f}", numbers)


def _label_samples(obs: dict) -> list[dict]:
    return [
        s["target"]
        for s in obs.get("loss_samples", [])
        if (s.get("target") or {}).get("kind") == "index" and "distinct" in s["target"]
    ]


def single_class_batches(obs: dict) -> CheckResult:
    labels = _label_samples(obs)
    labels = [t for t in labels if t["size"] >= 4]
    if len(labels) < 2:
        return CheckResult("PRB011", NA, "needs two training batches of 4 or more labels")
    single = sum(1 for t in labels if t["distinct"] == 1)
    ordered = sum(1 for t in labels if t["sorted"] and t["size"] >= 8)
    numbers = {
        "batches": len(labels),
        "single_class": single,
        "sorted": ordered,
        "distinct_per_batch": [t["distinct"] for t in labels],
    }
    if single * 2 >= len(labels) or (len(labels) >= 3 and ordered == len(labels)):
        return CheckResult(
            "PRB011",
            FAIL,
            f"{single} of {len(labels)} training batches hold a "
            f"single class, {ordered} are sorted by label: the training data is "
            "not shuffled",
            numbers,
        )
    return CheckResult("PRB011", PASS, "batches mix classes", numbers)


def labels_out_of_range(obs: dict) -> CheckResult:
    labels = _label_samples(obs)
    if not labels:
        return CheckResult("PRB012", NA, "no class-index targets seen")
    low = min(t["min"] for t in labels)
    high = max(t["max"] for t in labels)
    classes = [
        s["input"].get("num_classes")
        for s in obs.get("loss_samples", [])
        if s.get("target", {}).get("kind") == "index"
    ]
    numbers = {"min": low, "max": high, "num_classes": classes[0] if classes else None}
    if any(t.get("out_of_range") for t in labels):
        return CheckResult(
            "PRB012",
            FAIL,
            f"labels span {low}..{high} but the model has {numbers['num_classes']} outputs",
            numbers,
        )
    return CheckResult("PRB012", PASS, f"labels in {low}..{high}", numbers)


def learning_rate_trajectory(obs: dict, result: dict) -> CheckResult:
    warned = [w for w in obs.get("warnings", []) if "lr_scheduler.step()" in w]
    if warned:
        return CheckResult(
            "PRB013",
            FAIL,
            "scheduler.step() was called before "
            "optimizer.step(): the first lr of the schedule is skipped",
            {"warning": warned[0][:200]},
        )
    lrs = [s["lrs"][0] for s in obs.get("steps", []) if s.get("lrs") and s["lrs"][0] is not None]
    if len(lrs) < 2:
        return CheckResult("PRB013", NA, "needs two optimizer steps")
    top = max(lrs)
    numbers = {"first": lrs[0], "max": top, "last": lrs[-1], "steps": len(lrs)}
    if top <= 0:
        return CheckResult("PRB013", FAIL, "learning rate is zero", numbers)
    cyclic = sorted(set(obs.get("schedulers", [])) & CYCLIC_SCHEDULERS)
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
    # A schedule that ends with the run reaches ~0 only at its last steps; the
    # script going on for two or more steps after that is a schedule far
    # shorter than the run (an epoch-sized schedule stepped per batch).
    if collapsed and len(lrs) - collapsed[0] > 2:
        numbers["collapsed_at_step"] = collapsed[0]
        return CheckResult(
            "PRB013",
            FAIL,
            f"learning rate fell from {peak[collapsed[0]]:.3g} to "
            f"{lrs[collapsed[0]]:.3g} by step {collapsed[0]} and training went "
            "on: a schedule sized in epochs stepped every batch?",
            numbers,
        )
    return CheckResult(
        "PRB013", PASS, f"lr {lrs[0]:.3g} -> {lrs[-1]:.3g} over {len(lrs)} steps", numbers
    )


def run_all(result: dict) -> list[CheckResult]:
    """Every passive check over one child result (observations plus run status)."""
    obs = result.get("observations") or {}
    extra: dict[str, Any] = dict(result.get("factory") or {})
    if result.get("mode") == "factory":
        # The probe runs the loop itself (zero_grad, train(), eval()): these
        # checks are about a script's own loop and would only check the probe.
        why = "the probe drives a factory's loop itself; run the script to check its loop"
        loop_checks = [CheckResult(check, NA, why) for check in ("PRB003", "PRB006", "PRB007")]
    else:
        loop_checks = [
            gradients_carried_over(obs),
            eval_mode_training(obs),
            train_mode_evaluation(obs),
        ]
    return [
        initial_loss(obs, extra),
        non_finite(obs),
        loop_checks[0],
        parameters_without_gradient(obs),
        gradients_outside_optimizer(obs),
        loop_checks[1],
        loop_checks[2],
        probabilities_into_loss(obs),
        unnormalised_inputs(obs),
        scrambled_spatial_structure(obs),
        single_class_batches(obs),
        labels_out_of_range(obs),
        learning_rate_trajectory(obs, result),
    ]
