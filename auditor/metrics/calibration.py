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
WARM_START_ROWS = 4096
STEP_TOLERANCE = 1e-4  # a Newton step this small (relative) ends the fit: T is then known to ~1e-8


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


def fit_temperature(
    table: ScoreTable, labels: Sequence[int], nll_at_one: float | None = None
) -> TemperatureFit:
    """Newton's method on ``beta = 1 / T`` with step halving whenever the NLL would rise.

    Each step is a pass over every score. On a large table the search
    starts from the optimum of every k-th row (about :data:`WARM_START_ROWS`
    rows): that is close to the full optimum, and Newton's quadratic
    convergence then needs one or two full passes instead of five or six.
    ``nll_at_one`` (the NLL at T = 1, when the caller has it from
    :meth:`ScoreTable.summary`) saves the pass that would measure it.
    """
    beta, start = 1.0, None
    if table.num_rows > 2 * WARM_START_ROWS:
        stride = table.num_rows // WARM_START_ROWS
        beta = _newton(table.every(stride), list(labels[::stride]), 1.0, None)[0]
    if beta == 1.0 or nll_at_one is None:
        start = table.nll_terms(labels, 1.0)
        nll_at_one = start[0]
        if beta != 1.0:
            start = None
    beta, (loss, gradient, curvature), steps = _newton(table, labels, beta, start)
    unbounded = (
        (beta >= BETA_MAX and gradient < 0)
        or (beta <= BETA_MIN and gradient > 0)
        or (loss < 1e-8 and gradient <= 0)
    )
    return TemperatureFit(
        temperature=1.0 / beta, nll_before=nll_at_one, nll_after=loss, steps=steps, unbounded=unbounded
    )


def _newton(
    table: ScoreTable,
    labels: Sequence[int],
    beta: float,
    terms: tuple[float, float, float] | None,
) -> tuple[float, tuple[float, float, float], int]:
    """Minimise the convex NLL(beta) from ``beta`` (whose terms may be known already)."""
    loss, gradient, curvature = terms if terms is not None else table.nll_terms(labels, beta)
    steps = 0
    while steps < MAX_NEWTON_STEPS and abs(gradient) >= 1e-10:
        steps += 1
        step = -gradient / curvature if curvature > 1e-12 else -gradient * beta * 1e6
        # At most a factor 4 per step: a flat region must not fling beta to the bound.
        target = min(max(beta + step, beta / 4, BETA_MIN), beta * 4, BETA_MAX)
        if abs(target - beta) <= STEP_TOLERANCE * beta:
            # Converged: near the minimum Newton's error is about the step squared, so this last
            # step is taken without a pass to measure it (the NLL moves by O(step^2) too).
            beta = target
            break
        accepted = False
        while abs(target - beta) > STEP_TOLERANCE * beta * 1e-3:
            trial = table.nll_terms(labels, target)
            if trial[0] <= loss + 1e-12 * abs(loss):
                accepted = True
                break
            target = beta + (target - beta) / 2
        if not accepted:
            break
        beta = target
        loss, gradient, curvature = trial
    return beta, (loss, gradient, curvature), steps
