"""Metric math, pure numpy: small enough to check by hand.

Inputs are plain arrays: ``logits`` (N, C) raw model outputs, ``labels`` (N,)
integer classes. Conventions: in a confusion matrix rows are the true class
and columns the predicted class; a ratio with a zero denominator is 0.
"""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Class probabilities of ``logits / temperature`` (max-subtracted for stability)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true class (the cross-entropy loss)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), labels].mean())


def top_k_accuracy(logits: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Fraction of samples whose true class is among the ``k`` largest logits."""
    k = min(k, logits.shape[1])
    top_k = np.argsort(-np.asarray(logits), axis=1, kind="stable")[:, :k]
    return float((top_k == np.asarray(labels)[:, None]).any(axis=1).mean())


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """``cm[t, p]`` = number of samples of true class ``t`` predicted as ``p``."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(labels), np.asarray(predictions)), 1)
    return cm


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    numerator, denominator = np.asarray(numerator, float), np.asarray(denominator, float)
    out = np.zeros_like(numerator)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def per_class_metrics(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per class from a confusion matrix.

    precision = TP / predicted as the class (column sum),
    recall    = TP / truly of the class (row sum),
    F1        = harmonic mean of the two.
    """
    true_positives = np.diag(cm).astype(float)
    precision = _ratio(true_positives, cm.sum(axis=0))
    recall = _ratio(true_positives, cm.sum(axis=1))
    f1 = _ratio(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1, "support": cm.sum(axis=1)}


def most_confused_pairs(cm: np.ndarray, top: int = 5) -> list[tuple[int, int, int]]:
    """The largest off-diagonal cells as ``(true, predicted, count)``, largest first."""
    off_diagonal = cm.copy()
    np.fill_diagonal(off_diagonal, 0)
    order = np.argsort(-off_diagonal, axis=None, kind="stable")[:top]
    pairs = [
        (int(t), int(p), int(off_diagonal[t, p]))
        for t, p in zip(*np.unravel_index(order, cm.shape))
    ]
    return [pair for pair in pairs if pair[2] > 0]


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """ECE: mean |accuracy - confidence| over equal-width confidence bins, weighted by size.

    Confidence is the top probability. Bin ``b`` holds confidences in
    ``(b / n_bins, (b + 1) / n_bins]`` (Guo et al., 2017).
    """
    probs = np.asarray(probs, dtype=np.float64)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(labels)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ece = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            gap = abs(correct[in_bin].mean() - confidence[in_bin].mean())
            ece += in_bin.mean() * gap
    return float(ece)
