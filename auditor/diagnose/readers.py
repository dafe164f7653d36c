"""Read a predictions file (CSV, JSON or NPZ) into checked :class:`Predictions`.

The three formats hold the same thing:

- CSV: a header row; a ``label`` column (also ``true``, ``target``,
  ``y_true``) and either a ``prediction`` column (also ``predicted``,
  ``pred``, ``y_pred``) or one score column per class, whose header cells
  are the class names. ``id``, ``path``, ``file``, ``filename`` and
  ``image`` columns are skipped.
- JSON: ``{"classes": [...], "labels": [...], "predictions": [...]}`` or
  ``"scores": [[...], ...]`` instead of ``predictions``; ``classes`` optional.
- NPZ: arrays of the same names (numpy is needed to read it).

Labels and predictions are class names or indices. Scores are
probabilities (each row checked to be a distribution) unless
``--logits`` says they are logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from clsaudit.diagnose.csv_reader import read_csv
from clsaudit.diagnose.json_reader import read_json
from clsaudit.diagnose.npz_reader import read_npz
from clsaudit.diagnose.predictions import PredictionFileError, Predictions

READERS = {".csv": read_csv, ".json": read_json, ".npz": read_npz}


def read_predictions(
    path: str, classes: Sequence[str] | None = None, logits: bool = False
) -> Predictions:
    """Dispatch on the file's suffix; every problem is a :class:`PredictionFileError`."""
    suffix = Path(path).suffix.lower()
    if suffix not in READERS:
        raise PredictionFileError(f"{path}: unknown format {suffix or '(no suffix)'!r}: use .csv, .json or .npz")
    try:
        result = READERS[suffix](path, classes, logits)
    except PredictionFileError as error:
        raise PredictionFileError(f"{path}: {error}") from None
    except OSError as error:
        raise PredictionFileError(f"{path}: cannot read: {error.strerror or error}") from None
    if not result.labels:
        raise PredictionFileError(f"{path}: no samples in the file")
    return result
