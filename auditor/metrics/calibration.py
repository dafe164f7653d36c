"""Calibration: does a confidence of 0.9 mean right 90% of the time?

- :func:`reliability_bins` / :func:`expected_calibration_error`: equal-width
  confidence bins, ECE = mean |accuracy - confidence| weighted by bin size
  (Guo et al., 2017, "On Calibration of Modern Neural Networks").
- :func:`fit_temperature`: the T > 0 minimising the NLL of ``softmax(z / T)``.
  Written in ``beta = 1 / T`` the NLL is convex (its second derivative is
  the variance of the logits under the softmax), so a safeguarded Newton
  iteration converges in a handful of passes over the scores, with no
  optimiser library and no torch.

Dividing logits by T > 0 never changes the argmax: accuracy is untouched,
only the confidences move.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from clsaudit.metrics.score_table import ScoreTable

BETA_MIN, BETA_MAX = 1e-3, 1e3  # T between 0.001 and 1000: beyond either the fit has no optimum
MAX_NEWTON_STEPS = 60


@dataclass(frozen=True)
class ReliabilityBin:
    """Confidences in ``(low, high]``: how many, how confident on average, how often right."""

    low: float
    high: float
    count: int
    confidence: float
    accuracy: float


def reliability_bins(
    confidences: Sequence[float], correct: Sequence[bool], n_bins: int = 15
) -> list[ReliabilityBin]:
    """Bin ``b`` holds confidences in ``(b / n_bins, (b + 1) / n_bins]``; empty bins are kept."""
    counts = [0] * n_bins
    confidence_sums = [0.0] * n_bins
    correct_sums = [0] * n_bins
    for confidence, right in zip(confidences, correct):
        # ceil(conf * n) - 1, clamped: conf exactly on an edge goes to the lower bin.
        index = min(max(int(-(-confidence * n_bins // 1)) - 1, 0), n_bins - 1)
        counts[index] += 1
        confidence_sums[index] += confidence
        correct_sums[index] += bool(right)
    return [
        ReliabilityBin(
            low=b / n_bins,
            high=(b + 1) / n_bins,
            count=counts[b],
            confidence=confidence_sums[b] / counts[b] if counts[b] else 0.0,
            accuracy=correct_sums[b] / counts[b] if counts[b] else 0.0,
        )
        for b in range(n_bins)
    ]


def expected_calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], n_bins: int = 15
) -> float:
    """ECE over :func:`reliability_bins`."""
    total = len(confidences)
    if not total:
        return 0.0
    return sum(
        b.count / total * abs(b.accuracy - b.confidence)
        for b in reliability_bins(confidences, correct, n_bins)
    )


def nll(table: ScoreTable, labels: Sequence[int], temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true class under ``softmax(z / T)`` (cross-entropy)."""
    return table.nll_terms(labels, 1.0 / temperature)[0]


@dataclass(frozen=True)
class TemperatureFit:
    """The fitted T and the NLL before (T = 1) and after.

    ``unbounded`` is true when no finite T is optimal: the NLL still falls
    at the edge of the search range, or has fallen to zero while still
    falling (every prediction right with a margin: T -> 0 keeps helping).
    The reported T is then where the search stopped.
    """

    temperature: float
    nll_before: float
    nll_after: float
    steps: int
    unbounded: bool


def fit_temperature(table: ScoreTable, labels: Sequence[int]) -> TemperatureFit:
    """Newton's method on ``beta = 1 / T`` with step halving whenever the NLL would rise."""
    beta = 1.0
    loss, gradient, curvature = table.nll_terms(labels, beta)
    before = loss
    steps = 0
    for steps in range(1, MAX_NEWTON_STEPS + 1):
        if abs(gradient) < 1e-10:
            break
        step = -gradient / curvature if curvature > 1e-12 else -gradient * beta * 1e6
        # At most a factor 4 per step: a flat region must not fling beta to the bound.
        target = min(max(beta + step, beta / 4, BETA_MIN), beta * 4, BETA_MAX)
        accepted = False
        for _ in range(40):
            trial = table.nll_terms(labels, target)
            if trial[0] <= loss + 1e-15:
                accepted = True
                break
            target = beta + (target - beta) / 2
        if not accepted or abs(target - beta) < 1e-12 * beta:
            break
        beta = target
        loss, gradient, curvature = trial
    unbounded = (
        (beta >= BETA_MAX and gradient < 0)
        or (beta <= BETA_MIN and gradient > 0)
        or (loss < 1e-8 and gradient <= 0)
    )
    return TemperatureFit(
        temperature=1.0 / beta, nll_before=before, nll_after=loss, steps=steps, unbounded=unbounded
    )
