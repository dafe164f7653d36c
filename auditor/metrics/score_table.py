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
    """Per-row facts at temperature 1, and the mean NLL they give.

    ``rank`` counts the classes ranked above the true one (higher score,
    or the same score and a smaller index, as a stable sort orders them),
    so the true class is in the top k exactly when ``rank < k``, and
    ``rank == 0`` exactly when ``prediction`` (the first largest score)
    is the true class.
    """

    predictions: list[int]
    ranks: list[int]
    confidences: list[float]
    nll: float  # mean negative log-likelihood of the true class at T = 1


class ScoreTable(Protocol):
    """Logits of ``num_rows`` samples over ``num_classes`` classes."""

    num_rows: int
    num_classes: int

    def summary(self, labels: Sequence[int]) -> RowSummary: ...

    def every(self, stride: int) -> ScoreTable:
        """Every ``stride``-th row (a cheap sample for a first estimate)."""
        ...

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

    def every(self, stride: int) -> ListScores:
        return ListScores(self.rows[::stride])

    def summary(self, labels: Sequence[int]) -> RowSummary:
        predictions, ranks, confidences = [], [], []
        loss = 0.0
        for row, label in zip(self.rows, labels):
            top = max(row)
            predictions.append(row.index(top))
            true_score = row[label]
            ranks.append(
                sum(1 for c, s in enumerate(row) if s > true_score or (s == true_score and c < label))
            )
            total = sum(math.exp(s - top) for s in row)
            confidences.append(1.0 / total)
            loss += math.log(total) + top - true_score
        return RowSummary(predictions, ranks, confidences, loss / max(self.num_rows, 1))

    def confidences(self, temperature: float) -> list[float]:
        out = []
        for row in self.rows:
            top = max(row)
            out.append(1.0 / sum(math.exp((s - top) / temperature) for s in row))
        return out

    def nll_terms(self, labels: Sequence[int], beta: float) -> tuple[float, float, float]:
        loss = gradient = curvature = 0.0
        for row, label in zip(self.rows, labels):
            top = max(row)
            below = [s - top for s in row]  # <= 0: stable softmax, no cancellation in the variance
            weights = [math.exp(beta * d) for d in below]
            total = sum(weights)
            mean = sum(w * d for w, d in zip(weights, below)) / total
            square = sum(w * d * d for w, d in zip(weights, below)) / total
            loss += math.log(total) - beta * below[label]
            gradient += mean - below[label]
            curvature += max(square - mean * mean, 0.0)
        n = max(self.num_rows, 1)
        return loss / n, gradient / n, curvature / n


class NumpyScores:
    """The same sums with numpy, a chunk of rows at a time.

    Each row's largest logit is kept after the first pass: softmax at any
    temperature subtracts ``beta * max`` for stability, and reusing it
    saves a reduction over every score in each later pass.
    """

    def __init__(self, array: Any) -> None:
        import numpy

        self.numpy = numpy
        self.array = numpy.asarray(array)
        if self.array.dtype.kind != "f":
            self.array = self.array.astype(numpy.float64)
        self.num_rows, self.num_classes = self.array.shape
        self.step = max(1, CHUNK_ELEMENTS // max(self.num_classes, 1))
        self._row_max: Any = None

    def _chunks(self):
        # Computed in the array's own precision: float32 logits halve the memory traffic; the
        # sums over rows are accumulated in Python floats (float64).
        for start in range(0, self.num_rows, self.step):
            yield start, self.array[start : start + self.step]

    def _top(self) -> Any:
        if self._row_max is None:
            self._row_max = self.array.max(axis=1)
        return self._row_max

    def every(self, stride: int) -> NumpyScores:
        return NumpyScores(self.array[::stride])

    def summary(self, labels: Sequence[int]) -> RowSummary:
        np = self.numpy
        labels = np.asarray(labels, dtype=np.int64)
        predictions, ranks, confidences, tops = [], [], [], []
        loss = 0.0
        columns = np.arange(self.num_classes)
        for start, z in self._chunks():
            y = labels[start : start + len(z)]
            rows = np.arange(len(z))
            true_score = z[rows, y][:, None]
            rank = np.count_nonzero(z > true_score, axis=1)
            tied = np.count_nonzero(z >= true_score, axis=1) - rank > 1  # another class ties
            if tied.any():  # rare in floats: only those rows pay for the index comparison
                which = np.flatnonzero(tied)
                before = (z[which] == true_score[which]) & (columns < y[which, None])
                rank[which] += before.sum(axis=1)
            predicted = z.argmax(axis=1)
            top = z[rows, predicted]
            total = np.exp(z - top[:, None]).sum(axis=1)
            predictions.append(predicted)
            ranks.append(rank)
            tops.append(top)
            confidences.append(1.0 / total)
            loss += float((np.log(total) + top - true_score[:, 0]).sum(dtype=np.float64))
        if tops:
            self._row_max = np.concatenate(tops)
        return RowSummary(
            np.concatenate(predictions).tolist() if predictions else [],
            np.concatenate(ranks).tolist() if ranks else [],
            np.concatenate(confidences).astype(np.float64).tolist() if confidences else [],
            loss / max(self.num_rows, 1),
        )

    def confidences(self, temperature: float) -> list[float]:
        np = self.numpy
        top = self._top()
        out = []
        for start, z in self._chunks():
            below = z - top[start : start + len(z), None]
            out.append(1.0 / np.exp(below / temperature).sum(axis=1))
        return np.concatenate(out).astype(np.float64).tolist() if out else []

    def nll_terms(self, labels: Sequence[int], beta: float) -> tuple[float, float, float]:
        np = self.numpy
        labels = np.asarray(labels, dtype=np.int64)
        top = self._top()
        loss = gradient = curvature = 0.0
        for start, z in self._chunks():
            y = labels[start : start + len(z)]
            # Distances below the row maximum (<= 0): softmax is stable in them, and the mean and
            # variance taken in them do not cancel catastrophically in float32.
            below = z - top[start : start + len(z), None]
            weights = np.exp(beta * below)
            total = weights.sum(axis=1)
            mean = np.einsum("ij,ij->i", weights, below) / total
            square = np.einsum("ij,ij->i", weights * below, below) / total
            true_below = below[np.arange(len(z)), y]
            loss += float((np.log(total) - beta * true_below).sum(dtype=np.float64))
            gradient += float((mean - true_below).sum(dtype=np.float64))
            curvature += float(np.maximum(square - mean * mean, 0.0).sum(dtype=np.float64))
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
