"""Metrics of predicted labels: the confusion matrix and everything read off it.

These need only the true and the predicted class of each sample, so they
work on plain integer sequences (numpy arrays are accepted too). Cost is
one pass over the samples plus one over the ``classes x classes`` matrix.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from itertools import compress, repeat
from operator import truediv
from typing import Any


def _ints(values: Iterable[Any]) -> list[int]:
    """Plain ints from a list or a numpy array (``tolist`` is far faster than iterating one)."""
    if hasattr(values, "tolist"):
        values = values.tolist()
    return [int(value) for value in values]


def confusion_matrix(
    labels: Iterable[Any], predictions: Iterable[Any], num_classes: int
) -> list[list[int]]:
    """``cm[t][p]`` = number of samples of true class ``t`` predicted as ``p``."""
    matrix = [[0] * num_classes for _ in range(num_classes)]
    for (true, predicted), count in Counter(zip(_ints(labels), _ints(predictions))).items():
        matrix[true][predicted] += count
    return matrix


def nonzero_cells(cm: Sequence[Sequence[int]]) -> Iterator[tuple[int, int, int]]:
    """``(true, predicted, count)`` of every non-zero cell, row by row.

    ``compress`` skips the zeros at C speed: a 1,000-class matrix has a
    million cells but at most as many non-zero ones as there are samples.
    """
    columns = range(len(cm))
    for true, row in enumerate(cm):
        for predicted in compress(columns, row):
            yield true, predicted, row[predicted]


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def per_class_metrics(cm: Sequence[Sequence[int]]) -> dict[str, list]:
    """Precision, recall, F1, support and predicted count per class.

    precision = TP / predicted as the class (column sum),
    recall    = TP / truly of the class (row sum),
    F1        = harmonic mean of the two.
    A class never predicted has precision 0 by this convention (the
    ratio is 0/0); :mod:`clsaudit.diagnose` says so in a note.
    """
    num_classes = len(cm)
    support = [sum(row) for row in cm]
    predicted = [0] * num_classes
    for _, column, count in nonzero_cells(cm):
        predicted[column] += count
    true_positives = [cm[c][c] for c in range(num_classes)]
    precision = [_ratio(true_positives[c], predicted[c]) for c in range(num_classes)]
    recall = [_ratio(true_positives[c], support[c]) for c in range(num_classes)]
    f1 = [_ratio(2 * p * r, p + r) for p, r in zip(precision, recall)]
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": support,
        "predicted": predicted,
    }


def balanced_accuracy(per_class: dict[str, list]) -> float:
    """Mean recall over the classes present in the labels (a class with no samples has no recall)."""
    recalls = [r for r, n in zip(per_class["recall"], per_class["support"]) if n > 0]
    return sum(recalls) / len(recalls) if recalls else 0.0


def summary_averages(per_class: dict[str, list]) -> dict[str, dict[str, float]]:
    """Macro (every present class counts once) and weighted (by support) precision/recall/F1.

    Classes with no samples are left out of both: they have no recall,
    and counting their precision of 0 would punish the model for a class
    the data never asked about.
    """
    present = [c for c, n in enumerate(per_class["support"]) if n > 0]
    total = sum(per_class["support"][c] for c in present)
    averages: dict[str, dict[str, float]] = {"macro": {}, "weighted": {}}
    for name in ("precision", "recall", "f1"):
        values = per_class[name]
        averages["macro"][name] = _ratio(sum(values[c] for c in present), len(present))
        averages["weighted"][name] = _ratio(
            sum(values[c] * per_class["support"][c] for c in present), total
        )
    return averages


def row_normalised(cm: Sequence[Sequence[int]]) -> list[list[float]]:
    """Each row divided by its sum: ``[t][p]`` is the share of class ``t`` predicted as ``p``."""
    normalised = []
    for row in cm:
        total = sum(row)
        normalised.append(list(map(truediv, row, repeat(total))) if total else [0.0] * len(row))
    return normalised


def most_confused_pairs(cm: Sequence[Sequence[int]], top: int = 5) -> list[tuple[int, int, int]]:
    """The largest off-diagonal cells as ``(true, predicted, count)``, largest first.

    Ties go to the smaller (true, predicted) index, so the order is stable.
    """
    cells = ((count, true, predicted) for true, predicted, count in nonzero_cells(cm) if predicted != true)
    largest = heapq.nsmallest(top, cells, key=lambda cell: (-cell[0], cell[1], cell[2]))
    return [(true, predicted, count) for count, true, predicted in largest]
