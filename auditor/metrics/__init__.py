"""Classification metrics shared by ``clsaudit diagnose`` and the reference pipeline's report.

One implementation, two callers: the numbers a user gets from
``clsaudit diagnose preds.csv`` are the numbers the reference pipeline
prints for its own test split, because both come from here.

Pure Python, so that diagnose runs without torch or numpy. The only work
that grows with ``rows x classes`` (reading the scores of every class)
goes through :mod:`clsaudit.metrics.score_table`, which uses numpy when
it is installed and plain lists otherwise; everything else works on
per-row summaries or on the ``classes x classes`` confusion matrix.

Conventions: in a confusion matrix rows are the true class and columns
the predicted class; a ratio with a zero denominator is 0 (and the
callers say so in a note where it matters).
"""

from clsaudit.metrics.calibration import (
    ReliabilityBin,
    TemperatureFit,
    expected_calibration_error,
    fit_temperature,
    nll,
    reliability_bins,
)
from clsaudit.metrics.counts import (
    balanced_accuracy,
    confusion_matrix,
    most_confused_pairs,
    per_class_metrics,
    row_normalised,
    summary_averages,
)
from clsaudit.metrics.score_table import RowSummary, ScoreTable, score_table, top_k_accuracy

__all__ = [
    "ReliabilityBin",
    "RowSummary",
    "ScoreTable",
    "TemperatureFit",
    "balanced_accuracy",
    "confusion_matrix",
    "expected_calibration_error",
    "fit_temperature",
    "most_confused_pairs",
    "nll",
    "per_class_metrics",
    "reliability_bins",
    "row_normalised",
    "score_table",
    "summary_averages",
    "top_k_accuracy",
]
