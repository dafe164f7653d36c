"""The evaluation report: accuracy, confusion, per-class metrics and calibration.

Built from logits collected once on the validation and test splits:

- top-1 / top-5 accuracy, the confusion matrix, per-class precision/recall/F1
  and the most-confused pairs, on the test split;
- expected calibration error before and after temperature scaling. The
  temperature is fitted on the *validation* split (fitting it on the test
  split would tune a parameter on the data we report on), then applied to
  the test logits. Dividing logits by T > 0 never changes the argmax, so
  accuracy is untouched; only the confidences move.

The numbers come from :mod:`metrics`; this module adds the temperature fit,
the rich tables and the JSON file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from clsaudit.reference_pipeline import metrics
from rich.console import Console
from rich.table import Table


def fit_temperature(logits: np.ndarray, labels: np.ndarray, max_iter: int = 100) -> float:
    """The T > 0 minimising the NLL of ``softmax(logits / T)``; LBFGS on log T keeps T positive."""
    z = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp())


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
    predictions = test_logits.argmax(axis=1)  # argmax of logits: softmax would not change it
    cm = metrics.confusion_matrix(test_labels, predictions, num_classes)
    per_class = metrics.per_class_metrics(cm)
    temperature = fit_temperature(val_logits, val_labels)
    return {
        "num_test": len(test_labels),
        "top1": metrics.top_k_accuracy(test_logits, test_labels, 1),
        "top5": metrics.top_k_accuracy(test_logits, test_labels, 5),
        "classes": list(classes),
        "confusion_matrix": cm.tolist(),
        "per_class": [
            {
                "class": classes[c],
                "precision": float(per_class["precision"][c]),
                "recall": float(per_class["recall"][c]),
                "f1": float(per_class["f1"][c]),
                "support": int(per_class["support"][c]),
            }
            for c in range(num_classes)
        ],
        "most_confused": [
            {"true": classes[t], "predicted": classes[p], "count": n}
            for t, p, n in metrics.most_confused_pairs(cm, top_pairs)
        ],
        "calibration": {
            "bins": n_bins,
            "temperature": temperature,
            "ece_before": metrics.expected_calibration_error(
                metrics.softmax(test_logits), test_labels, n_bins
            ),
            "ece_after": metrics.expected_calibration_error(
                metrics.softmax(test_logits, temperature), test_labels, n_bins
            ),
            "nll_before": metrics.nll(test_logits, test_labels),
            "nll_after": metrics.nll(test_logits, test_labels, temperature),
        },
    }


def print_report(report: dict, console: Console | None = None) -> None:
    """The report as rich tables."""
    console = console or Console()
    calibration = report["calibration"]
    summary = Table(title="Test set (best validation checkpoint)")
    for column in ("images", "top-1", "top-5", "ECE", "ECE after T", "T", "NLL", "NLL after T"):
        summary.add_column(column, justify="right")
    summary.add_row(
        str(report["num_test"]),
        f"{report['top1']:.2%}",
        f"{report['top5']:.2%}",
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
