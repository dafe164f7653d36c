"""Read an NPZ archive of predictions: arrays ``labels``, ``predictions`` or ``scores``, ``classes``.

numpy is imported here only, when an NPZ file is read, and its absence
is a one-line message. The checks are vectorised (a 50,000 x 1,000
float32 table is 200 MB); only the first bad row is looked at in Python,
to name it.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from typing import Any

from clsaudit.diagnose.predictions import (
    MAX_ABS_SCORE,
    PROBABILITY_FLOOR,
    PROBABILITY_TOLERANCE,
    ClassIndex,
    PredictionFileError,
    Predictions,
    check_probability_row,
    check_same_length,
    class_list,
    scores_kind,
)

NUMPY_MESSAGE = "reading .npz files needs numpy: pip install numpy (or read a .csv or .json file)"


def read_npz(path: str, classes: Sequence[str] | None, logits: bool) -> Predictions:
    try:
        import numpy
    except ImportError:
        raise PredictionFileError(NUMPY_MESSAGE) from None
    with open(path, "rb") as handle:
        if handle.read(4) not in (b"PK\x03\x04", b"PK\x05\x06"):
            raise PredictionFileError("not an .npz archive (numpy.savez writes one)")
    arrays = {}
    try:
        with numpy.load(path, allow_pickle=False) as archive:
            for key in archive.files:
                try:
                    arrays[key] = archive[key]
                except ValueError as error:
                    if "pickle" not in str(error):
                        raise
                    raise PredictionFileError(
                        f"array {key!r} holds Python objects; save names as a str array (numpy.array(names))"
                    ) from None
    except (ValueError, EOFError, zipfile.BadZipFile) as error:
        raise PredictionFileError(f"not a readable .npz archive: {error}") from None
    classes = class_list(arrays.get("classes"), classes, "classes")
    if "labels" not in arrays:
        raise PredictionFileError(f"no 'labels' array (arrays: {', '.join(sorted(arrays)) or 'none'})")
    labels = arrays["labels"]
    if labels.ndim != 1:
        raise PredictionFileError(f"'labels' must be one-dimensional, not of shape {labels.shape}")
    has_predictions, has_scores = "predictions" in arrays, "scores" in arrays
    if has_predictions == has_scores:
        raise PredictionFileError("give exactly one of the arrays 'predictions' and 'scores'")
    if has_predictions:
        predicted = arrays["predictions"]
        check_same_length(labels, predicted, "predictions")
        index = ClassIndex(classes)
        labels_raw = [index.resolve(v, f"labels[{i}]") for i, v in enumerate(labels.tolist())]
        predicted_raw = [
            index.resolve(v, f"predictions[{i}]", "prediction") for i, v in enumerate(predicted.tolist())
        ]
        names, (label_ids, prediction_ids) = index.finish(labels_raw, predicted_raw)
        return Predictions(names, label_ids, predictions=prediction_ids)
    scores = arrays["scores"]
    if scores.ndim != 2:
        raise PredictionFileError(f"'scores' must be two-dimensional (samples x classes), not of shape {scores.shape}")
    check_same_length(labels, scores, "score rows")
    if scores.dtype.kind not in "fiu":
        raise PredictionFileError(f"'scores' must be numbers, not {scores.dtype}")
    if classes is not None and len(classes) != scores.shape[1]:
        raise PredictionFileError(f"'scores' has {scores.shape[1]} columns but there are {len(classes)} classes")
    if classes is None:
        classes = [str(c) for c in range(scores.shape[1])]
    if scores.dtype.kind != "f":
        scores = scores.astype(numpy.float64)
    # No mask of 50 million entries: a row's max and min are out of bounds (or NaN, which
    # max and min propagate and every comparison rejects) exactly when some score in it is.
    finite = (scores.max(axis=1) <= MAX_ABS_SCORE) & (scores.min(axis=1) >= -MAX_ABS_SCORE)
    if not finite.all():
        row = int(numpy.argmin(finite))
        column = int(numpy.argmax(~(numpy.abs(scores[row]) <= MAX_ABS_SCORE)))
        raise PredictionFileError(
            f"scores[{row}][{column}]: {scores[row, column]} is not a finite number of at most {MAX_ABS_SCORE:g}"
        )
    if not logits:
        _check_probability_array(numpy, scores)
        scores = numpy.log(numpy.maximum(scores, scores.dtype.type(PROBABILITY_FLOOR)))
    index = ClassIndex(classes)
    label_ids = _npz_label_ids(numpy, labels, index, len(classes))
    return Predictions(list(classes), label_ids, scores=scores, scores_given=scores_kind(logits))


def _check_probability_array(numpy: Any, scores: Any) -> None:
    """The same test as :func:`check_probability_row`, vectorised; the first bad row is reported."""
    in_range = ((scores >= -1e-9) & (scores <= 1 + 1e-9)).all(axis=1)
    sums = scores.sum(axis=1, dtype=numpy.float64)
    good = in_range & (numpy.abs(sums - 1.0) <= PROBABILITY_TOLERANCE)
    if not good.all():
        row = int(numpy.argmin(good))
        check_probability_row(scores[row].tolist(), f"scores[{row}]")


def _npz_label_ids(numpy: Any, labels: Any, index: ClassIndex, num_classes: int) -> list[int]:
    """Integer labels are checked in one vectorised pass; names go through :class:`ClassIndex`."""
    if labels.dtype.kind in "iu":
        bad = (labels < 0) | (labels >= num_classes)
        if bad.any():
            row = int(numpy.argmax(bad))
            index.resolve(int(labels[row]), f"labels[{row}]")  # raises with the standard message
        return labels.astype(numpy.int64).tolist()
    return [index.resolve(v, f"labels[{i}]") for i, v in enumerate(labels.tolist())]
