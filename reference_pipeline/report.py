"""The evaluation report: accuracy, confusion, per-class metrics and calibration.

Built from logits collected once on the validation and test splits:

- top-1 / top-5 accuracy, balanced accuracy, the confusion matrix,
  per-class precision/recall/F1 with macro and weighted averages, and the
  most-confused pairs, on the test split;
- expected calibration error before and after temperature scaling. The
  temperature is fitted on the *validation* split (fitting it on the test
  split would tune a parameter on the data we report on), then applied to
  the test logits. Dividing logits by T > 0 never changes the argmax, so
  accuracy is untouched; only the confidences move.

Every number comes from :mod:`clsaudit.metrics`, the module behind
``clsaudit diagnose`` too: run diagnose on the file ``--save-predictions``
writes and you get the same numbers (and the same definitions) for the
test split. This module adds the rich tables and the JSON file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from clsaudit import metrics
from rich.console import Console
from rich.table import Table


def build_report(
    test_logits: np.ndarray,
    test_labels: np.ndarray,
    val_logits: np.ndarray,
    val_labels: np.ndarray,
    classes: list[str],
    n_bins: int = 15,
    top_pairs: int = 5,
) -> dict:
    """Every number of the report, as plain JSON-ready Python values."""
    num_classes = len(classes)
    labels = np.asarray(test_labels).tolist()
    test = metrics.score_table(test_logits)
    rows = test.summary(labels)  # predictions = argmax of the logits, ranks for top-k
    cm = metrics.confusion_matrix(labels, rows.predictions, num_classes)
    per_class = metrics.per_class_metrics(cm)
    temperature = metrics.fit_temperature(
        metrics.score_table(val_logits), np.asarray(val_labels).tolist()
    ).temperature
    correct = [p == y for p, y in zip(rows.predictions, labels)]
    return {
        "num_test": len(labels),
        "top1": metrics.top_k_accuracy(rows.ranks, 1),
        "top5": metrics.top_k_accuracy(rows.ranks, 5),
        "balanced_accuracy": metrics.balanced_accuracy(per_class),
        "classes": list(classes),
        "confusion_matrix": cm,
        "per_class": [
            {
                "class": classes[c],
                "precision": per_class["precision"][c],
                "recall": per_class["recall"][c],
                "f1": per_class["f1"][c],
                "support": per_class["support"][c],
            }
            for c in range(num_classes)
        ],
        "averages": metrics.summary_averages(per_class),
        "most_confused": [
            {"true": classes[t], "predicted": classes[p], "count": n}
            for t, p, n in metrics.most_confused_pairs(cm, top_pairs)
        ],
        "calibration": {
            "bins": n_bins,
            "temperature": temperature,
            "ece_before": metrics.expected_calibration_error(rows.confidences, correct, n_bins),
            "ece_after": metrics.expected_calibration_error(
                test.confidences(temperature), correct, n_bins
            ),
            "nll_before": metrics.nll(test, labels),
            "nll_after": metrics.nll(test, labels, temperature),
        },
    }


def print_report(report: dict, console: Console | None = None) -> None:
    """The report as rich tables."""
    console = console or Console()
    calibration = report["calibration"]
    summary = Table(title="Test set (best validation checkpoint)")
    for column in (
        "images", "top-1", "top-5", "balanced", "ECE", "ECE after T", "T", "NLL", "NLL after T"
    ):
        summary.add_column(column, justify="right")
    summary.add_row(
        str(report["num_test"]),
        f"{report['top1']:.2%}",
        f"{report['top5']:.2%}",
        f"{report['balanced_accuracy']:.2%}",
        f"{calibration['ece_before']:.4f}",
        f"{calibration['ece_after']:.4f}",
        f"{calibration['temperature']:.3f}",
        f"{calibration['nll_before']:.4f}",
        f"{calibration['nll_after']:.4f}",
    )
    console.print(summary)

    classes = report["classes"]
    confusion = Table(title="Confusion matrix (rows: true class, columns: predicted)")
    confusion.add_column("")
    for c in range(len(classes)):
        confusion.add_column(str(c), justify="right")
    for c, row in enumerate(report["confusion_matrix"]):
        confusion.add_row(f"{c} {classes[c]}", *(str(v) for v in row))
    console.print(confusion)

    per_class = Table(title="Per class")
    for column in ("class", "precision", "recall", "F1", "support"):
        per_class.add_column(column, justify="left" if column == "class" else "right")
    for row in report["per_class"]:
        per_class.add_row(
            row["class"],
            f"{row['precision']:.3f}",
            f"{row['recall']:.3f}",
            f"{row['f1']:.3f}",
            str(row["support"]),
        )
    for name, average in report["averages"].items():  # macro: each class once; weighted: by support
        per_class.add_row(
            f"{name} avg",
            f"{average['precision']:.3f}",
            f"{average['recall']:.3f}",
            f"{average['f1']:.3f}",
            str(report["num_test"]),
        )
    console.print(per_class)

    if report["most_confused"]:
        pairs = Table(title="Most confused pairs")
        for column in ("true", "predicted", "count"):
            pairs.add_column(column, justify="right" if column == "count" else "left")
        for pair in report["most_confused"]:
            pairs.add_row(pair["true"], pair["predicted"], str(pair["count"]))
        console.print(pairs)


def write_report(report: dict, path: str | Path) -> None:
    Path(path).write_text(json.dumps(report, indent=2) + "\n")


def save_predictions(
    path: str | Path, logits: np.ndarray, labels: np.ndarray, classes: list[str]
) -> None:
    """The test split's logits in ``clsaudit diagnose``'s input format (read it with --logits)."""
    from clsaudit.diagnose.writer import write_predictions

    write_predictions(path, labels, logits, classes)
