"""Every number of a diagnosis, as plain JSON-ready data.

The report is a dict so that the terminal tables, ``--format json``, the
HTML page and the recommendation rules all read the same facts; the
rules in :mod:`clsaudit.diagnose.recommendation` never recompute anything.
"""

from __future__ import annotations

from typing import Any

from clsaudit import metrics
from clsaudit.diagnose.predictions import Predictions
from clsaudit.diagnose.recommendation import recommend

DOMINANT_CORRECT_SHARE = 0.5  # one class supplies at least half of the correct predictions ...
DOMINANT_ACCURACY_GAP = 0.1  # ... and accuracy exceeds balanced accuracy by this much
LISTED_NOTE_CLASSES = 5


def diagnose(
    predictions: Predictions, top_k: int = 5, n_bins: int = 15, top_pairs: int = 10
) -> dict[str, Any]:
    """The full report of ``predictions``; see the README's "Diagnose" section for each field."""
    classes = predictions.classes
    num_classes = len(classes)
    labels = predictions.labels
    notes = list(predictions.notes)
    calibration = None
    top_k_result = None
    if predictions.scores is not None:
        table = metrics.score_table(predictions.scores)
        summary = table.summary(labels)
        predicted = summary.predictions
        if top_k < num_classes:  # top-k of k >= classes is 1 by definition: not a number worth showing
            top_k_result = {"k": top_k, "accuracy": metrics.top_k_accuracy(summary.ranks, top_k)}
        calibration = _calibration(table, labels, summary, n_bins, notes)
    else:
        predicted = predictions.predictions
    cm = metrics.confusion_matrix(labels, predicted, num_classes)
    per_class = metrics.per_class_metrics(cm)
    total = len(labels)
    correct = sum(cm[c][c] for c in range(num_classes))
    accuracy = correct / total
    balanced = metrics.balanced_accuracy(per_class)
    report: dict[str, Any] = {
        "num_samples": total,
        "num_classes": num_classes,
        "classes": list(classes),
        "scores": predictions.scores_given,
        "accuracy": accuracy,
        "top_k": top_k_result,
        "balanced_accuracy": balanced,
        "chance": 1 / num_classes,
        "errors": total - correct,
        "per_class": [
            {
                "class": classes[c],
                "precision": per_class["precision"][c],
                "recall": per_class["recall"][c],
                "f1": per_class["f1"][c],
                "support": per_class["support"][c],
                "predicted": per_class["predicted"][c],
            }
            for c in range(num_classes)
        ],
        "averages": metrics.summary_averages(per_class),
        "confusion_matrix": cm,
        "confusion_matrix_normalised": metrics.row_normalised(cm),
        "most_confused": [
            {
                "true": classes[t],
                "predicted": classes[p],
                "count": count,
                "share_of_true": count / per_class["support"][t],
            }
            for t, p, count in metrics.most_confused_pairs(cm, top_pairs)
        ],
        "calibration": calibration,
    }
    report["warnings"] = _dominance_warnings(report, cm)
    notes.extend(_class_notes(report))
    report["notes"] = notes
    report["recommendation"] = recommend(report)
    return report


def _calibration(
    table: metrics.ScoreTable,
    labels: list[int],
    summary: metrics.RowSummary,
    n_bins: int,
    notes: list[str],
) -> dict[str, Any]:
    confidences = summary.confidences
    correct = [p == y for p, y in zip(summary.predictions, labels)]
    fit = metrics.fit_temperature(table, labels, nll_at_one=summary.nll)
    scaled = table.confidences(fit.temperature)
    if fit.unbounded:
        notes.append(
            f"no finite temperature minimises the NLL of these scores (the search stopped at "
            f"T = {fit.temperature:g}, NLL {fit.nll_after:.3g})"
        )
    notes.append(
        "the temperature is fitted on the same predictions it is scored on: "
        "fit it on a validation split before using it"
    )
    return {
        "bins": n_bins,
        "ece": metrics.expected_calibration_error(confidences, correct, n_bins),
        "temperature": fit.temperature,
        "temperature_unbounded": fit.unbounded,
        "ece_after_temperature": metrics.expected_calibration_error(scaled, correct, n_bins),
        "nll": fit.nll_before,
        "nll_after_temperature": fit.nll_after,
        "mean_confidence": sum(confidences) / len(confidences),
        "reliability": [
            {
                "low": b.low,
                "high": b.high,
                "count": b.count,
                "confidence": b.confidence,
                "accuracy": b.accuracy,
            }
            for b in metrics.reliability_bins(confidences, correct, n_bins)
        ],
    }


def _dominance_warnings(report: dict[str, Any], cm: list[list[int]]) -> list[str]:
    """Warn when one class's easy hits make accuracy look better than the model is."""
    correct = report["num_samples"] - report["errors"]
    if not correct or report["accuracy"] - report["balanced_accuracy"] < DOMINANT_ACCURACY_GAP:
        return []
    top = max(range(report["num_classes"]), key=lambda c: cm[c][c])
    share = cm[top][top] / correct
    if share < DOMINANT_CORRECT_SHARE:
        return []
    name = report["classes"][top]
    label_share = report["per_class"][top]["support"] / report["num_samples"]
    return [
        f"accuracy {report['accuracy']:.3f} is dominated by class {name!r}: it is "
        f"{label_share:.0%} of the labels and supplies {share:.0%} of the correct predictions; "
        f"balanced accuracy is {report['balanced_accuracy']:.3f}. Judge the model by balanced "
        "accuracy and the per-class table."
    ]


def _class_notes(report: dict[str, Any]) -> list[str]:
    never_predicted = [row["class"] for row in report["per_class"] if row["predicted"] == 0 and row["support"]]
    absent = [row["class"] for row in report["per_class"] if row["support"] == 0]
    notes = []
    if never_predicted:
        subject, plural = _names(never_predicted)
        notes.append(
            f"{subject} {'are' if plural else 'is'} never predicted: "
            "precision is 0/0 there, reported as 0"
        )
    if absent:
        subject, plural = _names(absent)
        notes.append(
            f"{subject} {'have' if plural else 'has'} no samples: left out of balanced accuracy "
            "and the macro and weighted averages"
        )
    return notes


def _names(names: list[str]) -> tuple[str, bool]:
    """``class 'a'`` or ``3 classes ('a', 'b', 'c')``, and whether it is plural."""
    if len(names) == 1:
        return f"class {names[0]!r}", False
    shown = ", ".join(repr(name) for name in names[:LISTED_NOTE_CLASSES])
    more = f" and {len(names) - LISTED_NOTE_CLASSES} more" if len(names) > LISTED_NOTE_CLASSES else ""
    return f"{len(names)} classes ({shown}{more})", True
