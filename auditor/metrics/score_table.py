"""The one place that touches every score: ``rows x classes`` logits, with or without numpy.

Everything score-based (top-k, calibration, the temperature fit) needs
only a few numbers per row, or a few sums over all rows at a given
temperature. :class:`ScoreTable` computes exactly those, in one pass, with
numpy when it is installed (in chunks of rows, so a 50,000 x 1,000 table
never needs more than a few MB of temporaries) and with plain lists when
it is not. Both implementations are tested against each other.

Scores are logits here. Probabilities are turned into logits by the
caller with ``log`` (softmax of log-probabilities gives them back).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

CHUNK_ELEMENTS = 1 << 20  # numpy: rows per chunk = this / classes (about 8 MB of float64)


@dataclass(frozen=True)
class RowSummary:
    """Per-row facts at temperature 1.

    ``rank`` counts the classes ranked above the true one (higher score,
    or the same score and a smaller index, as a stable sort orders them),
    so the true class is in the top k exactly when ``rank < k``, and
    ``rank == 0`` exactly when ``prediction`` (the first largest score)
    is the true class.
    """

    predictions: list[int]
    ranks: list[int]
    confidences: list[float]


class ScoreTable(Protocol):
    """Logits of ``num_rows`` samples over ``num_classes`` classes."""

    num_rows: int
    num_classes: int

    def summary(self, labels: Sequence[int]) -> RowSummary: ...

    def confidences(self, temperature: float) -> list[float]: ...

    def nll_terms(self, labels: Sequence[int], beta: float) -> tuple[float, float, float]:
        """Mean NLL of ``softmax(beta * z)`` and its first and second derivatives in ``beta``."""
        ...


def top_k_accuracy(ranks: Sequence[int], k: int) -> float:
    """Share of rows whose true class is among the ``k`` highest scores."""
    return sum(1 for rank in ranks if rank < k) / len(ranks) if ranks else 0.0


class ListScores:
    """Pure-Python rows; fine for the sizes people read by eye, slow past a few million scores."""

    def __init__(self, rows: Sequence[Sequence[float]]) -> None:
        self.rows = [list(map(float, row)) for row in rows]
        self.num_rows = len(self.rows)
        self.num_classes = len(self.rows[0]) if self.rows else 0

    def summary(self, labels: Sequence[int]) -> RowSummary:
        predictions, ranks, confidences = [], [], []
        for row, label in zip(self.rows, labels):
            top = max(row)
            predictions.append(row.index(top))
            true_score = row[label]
            ranks.append(
                sum(1 for c, s in enumerate(row) if s > true_score or (s == true_score and c < label))
            )
            confidences.append(1.0 / sum(math.exp(s - top) for s in row))
        return RowSummary(predictions, ranks, confidences)

    def confidences(self, temperature: float) -> list[float]:
        out = []
        for row in self.rows:
            top = max(row)
            out.append(1.0 / sum(math.exp((s - top) / temperature) for s in row))
        return out

    def nll_terms(self, labels: Sequence[int], beta: float) -> tuple[float, float, float]:
        loss = gradient = curvature = 0.0
        for row, label in zip(self.rows, labels):
            scaled = [beta * s for s in row]
            top = max(scaled)
            weights = [math.exp(v - top) for v in scaled]
            total = sum(weights)
            mean = sum(w * s for w, s in zip(weights, row)) / total
            square = sum(w * s * s for w, s in zip(weights, row)) / total
            loss += top + math.log(total) - scaled[label]
            gradient += mean - row[label]
            curvature += max(square - mean * mean, 0.0)
        n = max(self.num_rows, 1)
        return loss / n, gradient / n, curvature / n


class NumpyScores:
    """The same sums with numpy, a chunk of rows at a time."""

    def __init__(self, array: Any) -> None:
        import numpy

        self.numpy = numpy
        self.array = numpy.asarray(array)
        if self.array.dtype.kind != "f":
            self.array = self.array.astype(numpy.float64)
        self.num_rows, self.num_classes = self.array.shape
        self.step = max(1, CHUNK_ELEMENTS // max(self.num_classes, 1))

    def _chunks(self):
        for start in range(0, self.num_rows, self.step):
            yield start, self.array[start : start + self.step].astype(self.numpy.float64)

    def summary(self, labels: Sequence[int]) -> RowSummary:
        np = self.numpy
        labels = np.asarray(labels, dtype=np.int64)
        predictions, ranks, confidences = [], [], []
        columns = np.arange(self.num_classes)
        for start, z in self._chunks():
            y = labels[start : start + len(z)]
            true_score = z[np.arange(len(z)), y][:, None]
            above = (z > true_score) | ((z == true_score) & (columns < y[:, None]))
            top = z.max(axis=1, keepdims=True)
            predictions.append(z.argmax(axis=1))
            ranks.append(above.sum(axis=1))
            confidences.append(1.0 / np.exp(z - top).sum(axis=1))
        return RowSummary(
            np.concatenate(predictions).tolist() if predictions else [],
            np.concatenate(ranks).tolist() if ranks else [],
            np.concatenate(confidences).tolist() if confidences else [],
        )

    def confidences(self, temperature: float) -> list[float]:
        np = self.numpy
        out = []
        for _, z in self._chunks():
            z = z / temperature
            out.append(1.0 / np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1))
        return np.concatenate(out).tolist() if out else []

    def nll_terms(self, labels: Sequence[int], beta: float) -> tuple[float, float, float]:
        np = self.numpy
        labels = np.asarray(labels, dtype=np.int64)
        loss = gradient = curvature = 0.0
        for start, z in self._chunks():
            y = labels[start : start + len(z)]
            scaled = beta * z
            top = scaled.max(axis=1, keepdims=True)
            weights = np.exp(scaled - top)
            total = weights.sum(axis=1)
            mean = (weights * z).sum(axis=1) / total
            square = (weights * z * z).sum(axis=1) / total
            rows = np.arange(len(z))
            loss += float((top[:, 0] + np.log(total) - scaled[rows, y]).sum())
            gradient += float((mean - z[rows, y]).sum())
            curvature += float(np.maximum(square - mean * mean, 0.0).sum())
        n = max(self.num_rows, 1)
        return loss / n, gradient / n, curvature / n


def score_table(scores: Any, use_numpy: bool | None = None) -> ScoreTable:
    """The fastest table for ``scores`` (a numpy array or a list of rows).

    ``use_numpy=None`` picks numpy when it can be imported; ``False``
    forces the pure-Python rows (tests compare the two).
    """
    if use_numpy is None:
        try:
            import numpy  # noqa: F401
        except ImportError:
            use_numpy = False
        else:
            use_numpy = True
    if use_numpy:
        return NumpyScores(scores)
    if hasattr(scores, "tolist"):
        scores = scores.tolist()
    return ListScores(scores)
