"""Passive checks: verdicts from what the recorder saw. Plain data in, no torch.

Thresholds are chosen so that a correct pipeline passes whatever its seed,
optimizer or style; each constant says what it separates.
"""

from __future__ import annotations

import math
from typing import Any

from clsaudit.probe import schedule_check
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
# PRB010: images (natural, or the fixtures' synthetic ones) correlate 0.7-0.9
# with their neighbours, decaying with distance; white noise ~0 at every lag
# (no structure: n/a). NHWC memory read as NCHW puts one channel's neighbours
# C elements apart: the correlation at lag C exceeds lag 1 by 0.6-1.1 there,
# while it falls by 0.3-0.5 on correct images (measured: probe README).
SPATIAL_STRUCTURE_MIN = 0.2
INTERLEAVE_MIN = 0.3
# PRB105 (script mode): evaluated items also seen in training batches.
OVERLAP_MIN_ITEMS = 2
OVERLAP_MIN_SHARE = 0.01


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
        "band": list(INITIAL_LOSS_BAND),
    }
    lo, hi = INITIAL_LOSS_BAND
    if not math.isfinite(value):
        return CheckResult("PRB001", FAIL, f"first loss is {value}", numbers)
    if lo <= ratio <= hi:
        return CheckResult(
            "PRB001",
            PASS,
            f"first loss {value:.3f} is {ratio:.2f} x ln({num_classes}) = {expected:.3f}, within "
            f"[{lo}, {hi}]",
            numbers,
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
    stale = [c for c in carry if c.get("stale_params")]
    numbers: dict[str, Any] = {
        "steps_checked": len(carry),
        "steps_with_old_grads": len(dirty),
        "threshold": "any non-zero gradient on a parameter the step updates",
    }
    if dirty:
        first = dirty[0]
        numbers["grad_norm"] = first["grad_norm"]
        numbers["optimizers"] = first.get("optimizers")
        return CheckResult(
            "PRB003",
            FAIL,
            f"at step {first['step']} the first backward started with gradients of norm "
            f"{first['grad_norm']:.3g} on {first.get('grads_present', '?')} parameters that "
            f"{', '.join(first.get('optimizers') or ['the optimizer'])} then stepped, left from "
            f"the previous step ({len(dirty)} of {len(carry)} steps): zero_grad() is missing",
            numbers,
        )
    message = f"gradients empty at the start of {len(carry)} steps"
    if stale:
        numbers["stale_params"] = max(c["stale_params"] for c in stale)
        numbers["stale_grad_norm"] = stale[-1]["stale_elsewhere"]
        message += (
            f"; note: stale gradients (norm {stale[-1]['stale_elsewhere']:.3g}) on "
            f"{numbers['stale_params']} parameters no optimizer steps (a frozen or dropped "
            "part of the model): harmless"
        )
    return CheckResult("PRB003", PASS, message, numbers)


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
    output_layer = params.get("output_layer_outside", [])
    orphans = params.get("optimizer_params_outside_models", 0)
    numbers = {
        "count": len(outside),
        "names": outside[:10],
        "output_layer_outside": output_layer[:4],
        "optimizer_params_outside_model": orphans,
    }
    idle = [
        o
        for o in params.get("optimizer_facts", [])
        if o["steps"] >= 2 and o["steps_with_grads"] == 0
    ]
    if idle:
        opt = idle[0]
        numbers["idle_optimizer"] = opt
        return CheckResult(
            "PRB005",
            FAIL,
            f"{opt['name']} stepped {opt['steps']} times (from step {opt['first_step']}) but "
            f"none of its {opt['params']} parameters ever had a gradient: it holds the wrong "
            "parameters (frozen ones, or those of another model)"
            + (
                f"; meanwhile {len(outside)} parameters get gradients that no optimizer steps "
                f"({', '.join(outside[:3])})"
                if outside
                else ""
            ),
            numbers,
        )
    if outside and (orphans or output_layer):
        why = []
        if output_layer:
            why.append(f"the output layer ({', '.join(output_layer[:2])}) among them")
        if orphans:
            why.append(
                f"{orphans} optimizer parameters belong to no trained model: the optimizer "
                "was built before a layer was replaced"
            )
        return CheckResult(
            "PRB005",
            FAIL,
            f"{len(outside)} parameters get gradients but no optimizer updates them "
            f"({', '.join(outside[:3])}); " + "; ".join(why),
            numbers,
        )
    if outside:
        return CheckResult(
            "PRB005",
            PASS,
            f"note: {len(outside)} parameters get gradients that no optimizer steps "
            f"({', '.join(outside[:3])}), none of them the output layer: frozen by leaving them "
            "out of the optimizer? requires_grad_(False) would save their backward",
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
    deviation = first["input"].get("row_sum_max_dev")
    return CheckResult(
        "PRB008",
        PASS,
        f"{first['fn']} receives "
        + ("log-probabilities" if first["fn"] == "nll_loss" else "logits")
        + (
            f" (row sums miss 1 by up to {deviation:.3g}; probabilities sum to 1 within 1e-3)"
            if isinstance(deviation, (int, float)) and first["fn"] == "cross_entropy"
            else ""
        ),
        {"row_sum_max_dev": deviation, "tolerance": 1e-3} if deviation is not None else {},
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
    numbers = {
        "min": s["min"],
        "max": s["max"],
        "channel_mean": means,
        "channel_std": stds,
        "limits": f"raw if max > {RAW_PIXEL_MAX} and min >= 0; |mean| <= {CHANNEL_MEAN_LIMIT}, "
        f"std in {list(CHANNEL_STD_RANGE)}",
    }
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
    samples = [s for s in _image_samples(obs) if s.get("corr_h_lags") and s.get("corr_v_lags")]
    if not samples:
        return CheckResult("PRB010", NA, "no image-shaped (N, C, H, W) input seen")
    channels = samples[0]["shape"][1]

    def mean_lags(key: str) -> list[float]:
        rows = [[v if v is not None else 0.0 for v in s[key]] for s in samples]
        return [round(sum(col) / len(col), 3) for col in zip(*rows)]

    h, v = mean_lags("corr_h_lags"), mean_lags("corr_v_lags")
    numbers: dict[str, Any] = {
        "corr_horizontal_lags": h,
        "corr_vertical_lags": v,
        "channels": channels,
        "structure_min": SPATIAL_STRUCTURE_MIN,
        "interleave_min": INTERLEAVE_MIN,
    }
    if max(h + v) < SPATIAL_STRUCTURE_MIN:
        return CheckResult(
            "PRB010",
            NA,
            f"the inputs carry no spatial structure (neighbour correlation horizontal {h[0]:.2f},"
            f" vertical {v[0]:.2f}, every lag below {SPATIAL_STRUCTURE_MIN}): random tensors or "
            "noise data, so a scrambled layout cannot be told apart",
            numbers,
        )
    if channels >= 2 and len(h) >= channels:
        lag = channels - 1
        jump = max(h[lag] - h[0], v[lag] - v[0])
        numbers["interleave"] = round(jump, 3)
        if jump >= INTERLEAVE_MIN:
            direction = "horizontal" if h[lag] - h[0] >= v[lag] - v[0] else "vertical"
            lags = h if direction == "horizontal" else v
            return CheckResult(
                "PRB010",
                FAIL,
                f"pixels {channels} apart ({direction}) correlate more than neighbours "
                f"({lags[lag]:.2f} vs {lags[0]:.2f}, a jump of {jump:.2f} >= {INTERLEAVE_MIN}): the "
                f"period-{channels} interleave of NHWC memory read as NCHW; use "
                "permute(0, 3, 1, 2), not view/reshape",
                numbers,
            )
    return CheckResult(
        "PRB010",
        PASS,
        f"neighbour correlation {h[0]:.2f} horizontal / {v[0]:.2f} vertical, decaying with "
        f"distance; no period-{channels} interleave (jump {numbers.get('interleave', 0):.2f} < "
        f"{INTERLEAVE_MIN})",
        numbers,
    )


def _label_samples(obs: dict) -> list[dict]:
    return [
        s["target"]
        for s in obs.get("loss_samples", [])
        if (s.get("target") or {}).get("kind") == "index" and "distinct" in s["target"]
    ]


def single_class_batches(obs: dict) -> CheckResult:
    labels = obs.get("label_batches") or _label_samples(obs)
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
        "threshold": "half the batches single-class, or all of 3+ batches (8+ labels) sorted",
    }
    if single * 2 >= len(labels) or (len(labels) >= 3 and ordered == len(labels)):
        return CheckResult(
            "PRB011",
            FAIL,
            f"{single} of {len(labels)} training batches (labels at the loss call) hold a "
            f"single class, {ordered} are sorted by label: the training data is not shuffled",
            numbers,
        )
    return CheckResult(
        "PRB011",
        PASS,
        f"batches mix classes ({single} of {len(labels)} single-class, {ordered} sorted)",
        numbers,
    )


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
            f"labels span {low}..{high} but the model has {numbers['num_classes']} outputs, "
            f"so valid labels are 0..{(numbers['num_classes'] or 1) - 1}",
            numbers,
        )
    within = f", within 0..{numbers['num_classes'] - 1}" if numbers["num_classes"] else ""
    return CheckResult("PRB012", PASS, f"labels in {low}..{high}{within}", numbers)


def learning_rate_trajectory(obs: dict, result: dict) -> CheckResult:
    return schedule_check.check(obs)


def train_eval_overlap(obs: dict) -> CheckResult:
    """Script-mode PRB105: evaluated images that training batches also carried."""
    passes = obs.get("loader_passes") or {}
    entries = [e for e in passes.get("overlap", []) if e["items"]]
    if not entries:
        return CheckResult("PRB105", NA, "no no-grad evaluation over a DataLoader seen")
    independent = [e for e in entries if not (e["same_data_as_training"] or e["training_loader"])]
    numbers: dict[str, Any] = {
        "training_items": entries[0]["training_items"],
        "evaluated": [
            {k: e[k] for k in ("loader", "items", "also_trained", "same_data_as_training")}
            for e in entries
        ],
        "threshold": f">= {OVERLAP_MIN_ITEMS} items and >= {OVERLAP_MIN_SHARE:.0%}",
    }
    for e in independent:
        share = e["also_trained"] / e["items"]
        if e["also_trained"] >= OVERLAP_MIN_ITEMS and share >= OVERLAP_MIN_SHARE:
            return CheckResult(
                "PRB105",
                FAIL,
                f"{e['also_trained']} of {e['items']} evaluated items ({share:.0%}) were also in "
                f"training batches (threshold {OVERLAP_MIN_SHARE:.0%}): the evaluation data is "
                "part of the training data, so its accuracy is inflated",
                numbers,
            )
    if not independent:
        return CheckResult(
            "PRB105",
            NA,
            "only the training data itself was evaluated (training accuracy)",
            numbers,
        )
    seen = sum(e["items"] for e in independent)
    matched = sum(e["also_trained"] for e in independent)
    return CheckResult(
        "PRB105",
        PASS,
        f"{matched} of {seen} evaluated items also in {numbers['training_items']} training items",
        numbers,
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
    ] + ([train_eval_overlap(obs)] if result.get("mode") == "script" else [])
