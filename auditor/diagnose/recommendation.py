"""The one recommendation: the single next step most likely to pay, by explicit rules.

A confusion matrix invites a dozen fixes; a user can try one at a time.
The rules below are tried in order and the first that fires wins, so the
order *is* the policy: a broken or degenerate evaluation first (nothing
else is worth reading then), then failures that one change can fix
(a class that absorbs predictions, a pipeline at chance, one confused
pair, one weak class), then calibration, which moves no prediction.
Each recommendation carries the numbers that triggered it in
``evidence``, and its message quotes them.

The thresholds are constants here and explained in the README's
"Diagnose" section; ``RULES`` lists the rules for the docs and tests.
"""

from __future__ import annotations

from collections.abc import Callable
from math import sqrt
from statistics import NormalDist, median
from typing import Any

from clsaudit.metrics.counts import nonzero_cells

NEAR_CHANCE_FRACTION = 0.1  # balanced accuracy within 10% of the way from chance to perfect
ABSORB_ERROR_SHARE = 0.5  # one class receives at least half of all errors ...
ABSORB_NET_GAIN = 0.5  # ... and is predicted more often than it occurs, by half of those
IMBALANCE_FACTOR = 1.5  # a class holding 1.5x the even share of labels is a majority
PAIR_ERROR_SHARE = 0.25  # one unordered pair holds a quarter of all errors ...
PAIR_SYMMETRY = 1 / 3  # ... in both directions (smaller >= a third of the larger) ...
PAIR_LEAD = 2.0  # ... and twice as many as the next pair ...
PAIR_SAMPLE_SHARE = 0.01  # ... and at least 1% of all samples: fixing it could move accuracy a point
WEAK_RECALL_GAP = 0.2  # a class's recall 0.2 below the median of the others ...
WEAK_FAMILY_ALPHA = 0.05  # ... and beyond sampling noise, with a Bonferroni correction over classes
MIN_ERRORS = 5  # fewer errors than this are too few to name a pattern
MIN_SUPPORT = 5  # a class with fewer samples is too small to call weak
ECE_HIGH = 0.05
GOOD_ACCURACY_FRACTION = 0.5  # "good": balanced accuracy at least half-way from chance to perfect

Recommendation = dict[str, Any]


def _make(rule: str, title: str, message: str, **evidence: Any) -> Recommendation:
    return {"rule": rule, "title": title, "message": message, "evidence": evidence}


def single_class(report: dict) -> Recommendation | None:
    present = [row for row in report["per_class"] if row["support"]]
    if len(present) >= 2:
        return None
    name = present[0]["class"] if present else "?"
    return _make(
        "single-class",
        "Evaluate on data that holds more than one class",
        f"every one of the {report['num_samples']} samples is of class {name!r}: accuracy "
        f"({report['accuracy']:.3f}) cannot show whether the model tells classes apart.",
        classes_present=len(present),
        num_samples=report["num_samples"],
        accuracy=report["accuracy"],
    )


def no_errors(report: dict) -> Recommendation | None:
    if report["errors"]:
        return None
    return _make(
        "no-errors",
        "Check that the evaluation split is really held out",
        f"all {report['num_samples']} predictions are right. On held-out data that is rare: make "
        "sure these samples (or near-duplicates of them) were not in the training set.",
        accuracy=report["accuracy"],
        num_samples=report["num_samples"],
    )


def _absorber(report: dict) -> dict | None:
    """The class that receives most errors as false positives, if it absorbs them on balance."""
    errors = report["errors"]
    if errors < MIN_ERRORS:
        return None
    rows = report["per_class"]
    false_positives = [row["predicted"] - report["confusion_matrix"][c][c] for c, row in enumerate(rows)]
    top = max(range(len(rows)), key=lambda c: false_positives[c])
    net_gain = rows[top]["predicted"] - rows[top]["support"]
    if false_positives[top] < ABSORB_ERROR_SHARE * errors or net_gain < ABSORB_NET_GAIN * false_positives[top]:
        return None
    total = report["num_samples"]
    label_share = rows[top]["support"] / total
    majority = max(rows, key=lambda row: row["support"]) is rows[top]
    return {
        "index": top,
        "class": rows[top]["class"],
        "error_share": false_positives[top] / errors,
        "predicted_share": rows[top]["predicted"] / total,
        "label_share": label_share,
        "imbalanced_majority": majority and label_share >= IMBALANCE_FACTOR * report["chance"],
    }


def _near_chance(report: dict) -> bool:
    chance = report["chance"]
    return report["balanced_accuracy"] < chance + NEAR_CHANCE_FRACTION * (1 - chance)


def absorbing_class(report: dict) -> Recommendation | None:
    absorber = _absorber(report)
    # A model at chance on balanced data that dumps everything in one class is broken, not
    # skewed by the data: the near-chance rule speaks to that case.
    if absorber is None or (_near_chance(report) and not absorber["imbalanced_majority"]):
        return None
    name = absorber["class"]
    return _make(
        "absorbing-class",
        f"Check class imbalance and sampling: class {name!r} absorbs predictions",
        f"class {name!r} is {absorber['predicted_share']:.0%} of the predictions but "
        f"{absorber['label_share']:.0%} of the labels, and receives {absorber['error_share']:.0%} "
        f"of all {report['errors']} errors (balanced accuracy {report['balanced_accuracy']:.3f} vs "
        f"accuracy {report['accuracy']:.3f}). Check how the training data are sampled: a "
        "class-balanced sampler or class weights in the loss, and the train/test class shares.",
        **{key: absorber[key] for key in ("class", "predicted_share", "label_share", "error_share")},
        errors=report["errors"],
        accuracy=report["accuracy"],
        balanced_accuracy=report["balanced_accuracy"],
    )


def near_chance(report: dict) -> Recommendation | None:
    if not _near_chance(report):
        return None
    threshold = report["chance"] + NEAR_CHANCE_FRACTION * (1 - report["chance"])
    return _make(
        "near-chance",
        "Run `clsaudit probe` on the training pipeline",
        f"balanced accuracy {report['balanced_accuracy']:.3f} is near chance ({report['chance']:.3f} "
        f"for {report['num_classes']} classes; below {threshold:.3f} counts as near). Results this "
        "poor usually come from a pipeline bug (labels misaligned with images, a model left in the "
        "wrong mode, broken normalisation), not from the model's capacity: "
        "`clsaudit train.py` and `clsaudit probe train.py` look for those.",
        balanced_accuracy=report["balanced_accuracy"],
        chance=report["chance"],
        threshold=threshold,
    )


def _pair_totals(report: dict) -> list[tuple[int, int, int, int]]:
    """Unordered confused pairs as ``(total, a, b, a->b)`` with ``a < b``, largest first."""
    cm = report["confusion_matrix"]
    pairs = {(min(t, p), max(t, p)) for t, p, _ in nonzero_cells(cm) if t != p}
    totals = [(cm[a][b] + cm[b][a], a, b, cm[a][b]) for a, b in pairs]
    totals.sort(key=lambda item: (-item[0], item[1], item[2]))
    return totals


def confused_pair(report: dict) -> Recommendation | None:
    if report["num_classes"] < 3 or report["errors"] < MIN_ERRORS:
        return None
    totals = _pair_totals(report)
    if not totals:
        return None
    total, a, b, forward = totals[0]
    backward = total - forward
    following = totals[1][0] if len(totals) > 1 else 0
    share = total / report["errors"]
    symmetric = min(forward, backward) >= PAIR_SYMMETRY * max(forward, backward)
    material = total >= PAIR_SAMPLE_SHARE * report["num_samples"]
    if share < PAIR_ERROR_SHARE or not symmetric or total < PAIR_LEAD * following or not material:
        return None
    names = report["classes"]
    return _make(
        "confused-pair",
        f"Targeted augmentation or more data for {names[a]!r} vs {names[b]!r}",
        f"{names[a]!r} and {names[b]!r} are mistaken for each other in both directions "
        f"({names[a]} -> {names[b]}: {forward}, {names[b]} -> {names[a]}: {backward}): "
        f"{share:.0%} of all {report['errors']} errors, against {following} for the next pair. "
        "Collect more examples of the two, and look at what tells them apart: an augmentation "
        "that destroys that cue (a crop that cuts it away, a colour jitter when colour decides) "
        "will cost exactly this pair.",
        pair=[names[a], names[b]],
        forward=forward,
        backward=backward,
        error_share=share,
        errors=report["errors"],
        next_pair=following,
    )


def weak_class(report: dict) -> Recommendation | None:
    rows = [row for row in report["per_class"] if row["support"]]
    candidates = [row for row in rows if row["support"] >= MIN_SUPPORT]
    if len(rows) < 2 or not candidates or report["errors"] < MIN_ERRORS:
        return None
    weakest = min(candidates, key=lambda row: row["recall"])
    others = median(row["recall"] for row in rows if row is not weakest)
    gap = others - weakest["recall"]
    # With many small classes the worst recall is low by chance alone (1,000 classes of 50:
    # about 3 standard errors below the rest). The gap must exceed z binomial standard errors
    # of a class with the others' median recall, z the 1 - alpha/classes normal quantile.
    z = NormalDist().inv_cdf(1 - WEAK_FAMILY_ALPHA / len(rows))
    noise = z * sqrt(others * (1 - others) / weakest["support"])
    if gap < WEAK_RECALL_GAP or gap <= noise:
        return None
    c = report["classes"].index(weakest["class"])
    row = report["confusion_matrix"][c]
    lost = max((count, p) for p, count in enumerate(row) if p != c)
    lost_to = report["classes"][lost[1]]
    return _make(
        "weak-class",
        f"Look at class {weakest['class']!r}'s data",
        f"class {weakest['class']!r} has recall {weakest['recall']:.3f} against a median of "
        f"{others:.3f} for the other classes, beyond the {noise:.3f} that sampling noise could "
        f"explain ({weakest['support']} samples; most often taken for "
        f"{lost_to!r}: {lost[0]}). Check its labels for noise, and whether its training images "
        "are too few or unlike its test images.",
        **{"class": weakest["class"]},
        recall=weakest["recall"],
        median_recall_of_others=others,
        noise_margin=noise,
        support=weakest["support"],
        most_predicted_instead=lost_to,
        count=lost[0],
    )


def miscalibrated(report: dict) -> Recommendation | None:
    calibration = report["calibration"]
    if calibration is None or calibration["ece"] < ECE_HIGH:
        return None
    chance = report["chance"]
    if report["balanced_accuracy"] < chance + GOOD_ACCURACY_FRACTION * (1 - chance):
        return None
    temperature = calibration["temperature"]
    direction = "over" if temperature > 1 else "under"
    cause = (
        "or train with label smoothing"
        if direction == "over"
        else "and if training used label smoothing or mixup, they are the likely cause of the timidity"
    )
    return _make(
        "miscalibrated",
        "Temperature scaling" + (" or label smoothing" if direction == "over" else ""),
        f"predictions are good (accuracy {report['accuracy']:.3f}) but {direction}confident: ECE "
        f"{calibration['ece']:.3f} (mean confidence {calibration['mean_confidence']:.3f}). Dividing "
        f"the logits by T = {temperature:.3f} lowers ECE to {calibration['ece_after_temperature']:.3f} "
        f"and NLL from {calibration['nll']:.3f} to {calibration['nll_after_temperature']:.3f} without "
        f"changing a prediction. Fit T on a validation split, {cause}.",
        ece=calibration["ece"],
        temperature=temperature,
        ece_after_temperature=calibration["ece_after_temperature"],
        accuracy=report["accuracy"],
        mean_confidence=calibration["mean_confidence"],
    )


def spread_errors(report: dict) -> Recommendation:
    totals = _pair_totals(report)
    top_pair = totals[0][0] / report["errors"] if totals and report["errors"] else 0.0
    recalls = [row["recall"] for row in report["per_class"] if row["support"]]
    return _make(
        "spread-errors",
        "Improve the model as a whole",
        f"no single class or pair stands out (the largest pair holds {top_pair:.1%} of the errors; "
        f"recall ranges {min(recalls):.3f}-{max(recalls):.3f}). The next gains come from training "
        "as a whole: a longer schedule, stronger augmentation or a larger model "
        "(`clsaudit train-reference --ablation` shows what each step buys).",
        top_pair_error_share=top_pair,
        min_recall=min(recalls),
        max_recall=max(recalls),
    )


RULES: list[tuple[str, Callable[[dict], Recommendation | None]]] = [
    ("single-class", single_class),
    ("no-errors", no_errors),
    ("absorbing-class", absorbing_class),
    ("near-chance", near_chance),
    ("confused-pair", confused_pair),
    ("weak-class", weak_class),
    ("miscalibrated", miscalibrated),
    ("spread-errors", spread_errors),
]


def recommend(report: dict) -> Recommendation:
    """The first rule of :data:`RULES` that fires (``spread-errors`` always does)."""
    for _, rule in RULES:
        found = rule(report)
        if found is not None:
            return found
    raise AssertionError("spread-errors always fires")  # pragma: no cover
