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

import csv
import json
import math
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clsaudit.diagnose.predictions import (
    MAX_ABS_SCORE,
    PROBABILITY_FLOOR,
    PROBABILITY_TOLERANCE,
    ClassIndex,
    PredictionFileError,
    Predictions,
    check_probability_row,
    logits_from_probabilities,
)

LABEL_COLUMNS = ("label", "true", "target", "y_true")
PREDICTION_COLUMNS = ("prediction", "predicted", "pred", "y_pred")
SKIPPED_COLUMNS = ("id", "path", "file", "filename", "image")
NUMPY_MESSAGE = "reading .npz files needs numpy: pip install numpy (or read a .csv or .json file)"


def read_predictions(
    path: str, classes: Sequence[str] | None = None, logits: bool = False
) -> Predictions:
    """Dispatch on the file's suffix; every problem is a :class:`PredictionFileError`."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".csv", ".json", ".npz"):
        raise PredictionFileError(f"{path}: unknown format {suffix or '(no suffix)'!r}: use .csv, .json or .npz")
    try:
        if suffix == ".csv":
            result = _read_csv(path, classes, logits)
        elif suffix == ".json":
            result = _read_json(path, classes, logits)
        else:
            result = _read_npz(path, classes, logits)
    except PredictionFileError as error:
        raise PredictionFileError(f"{path}: {error}") from None
    except OSError as error:
        raise PredictionFileError(f"{path}: cannot read: {error.strerror or error}") from None
    if not result.labels:
        raise PredictionFileError(f"{path}: no samples in the file")
    return result


# --- CSV ---------------------------------------------------------------------------------


def _read_csv(path: str, classes: Sequence[str] | None, logits: bool) -> Predictions:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except UnicodeDecodeError:
        raise PredictionFileError("not UTF-8 text") from None
    except csv.Error as error:
        raise PredictionFileError(f"not a readable CSV file: {error}") from None
    if not rows:
        raise PredictionFileError("empty file: expected a header row such as 'label,prediction'")
    header = [cell.strip() for cell in rows[0]]
    lowered = [cell.lower() for cell in header]
    label_column = _find_column(lowered, LABEL_COLUMNS, required=True)
    prediction_column = _find_column(lowered, PREDICTION_COLUMNS, required=False)
    score_columns = [
        i
        for i, name in enumerate(lowered)
        if i not in (label_column, prediction_column) and name not in SKIPPED_COLUMNS
    ]
    if prediction_column is not None and score_columns:
        raise PredictionFileError(
            f"line 1: both a {header[prediction_column]!r} column and score columns "
            f"({', '.join(header[i] for i in score_columns[:3])}...): give one or the other"
        )
    if prediction_column is None and not score_columns:
        raise PredictionFileError(
            "line 1: no 'prediction' column and no score columns: "
            "the header needs 'label' and 'prediction', or 'label' and one column per class"
        )
    if score_columns:
        classes = _score_classes(classes, [header[i] for i in score_columns])
    index = ClassIndex(classes)
    width = len(header)
    labels: list[Any] = []
    predicted: list[Any] = []
    scores: list[list[float]] = []
    for number, row in enumerate(rows[1:], start=2):
        if not row or all(not cell.strip() for cell in row):
            continue  # a blank line, often the last one
        if len(row) != width:
            raise PredictionFileError(
                f"line {number}: {len(row)} values, but the header has {width} columns"
            )
        labels.append(index.resolve(row[label_column], f"line {number}, column {header[label_column]!r}"))
        if prediction_column is not None:
            where = f"line {number}, column {header[prediction_column]!r}"
            predicted.append(index.resolve(row[prediction_column], where, "prediction"))
        else:
            scores.append(_score_row(row, score_columns, header, number, logits))
    if prediction_column is not None:
        names, (label_ids, prediction_ids) = index.finish(labels, predicted)
        return Predictions(names, label_ids, predictions=prediction_ids)
    names, (label_ids,) = index.finish(labels)
    table = scores if logits else logits_from_probabilities(scores)
    return Predictions(names, label_ids, scores=table, scores_given=_kind(logits))


def _find_column(lowered: list[str], names: Sequence[str], required: bool) -> int | None:
    found = [i for i, cell in enumerate(lowered) if cell in names]
    if len(found) > 1:
        raise PredictionFileError(
            f"line 1: {len(found)} columns could be the {names[0]} column ({', '.join(lowered[i] for i in found)})"
        )
    if not found:
        if required:
            raise PredictionFileError(
                f"line 1: no {names[0]!r} column in the header (also accepted: {', '.join(names[1:])})"
            )
        return None
    return found[0]


def _score_classes(classes: Sequence[str] | None, header_names: list[str]) -> list[str]:
    """``--classes`` names the score columns when given; otherwise the header does."""
    if classes is not None:
        if len(classes) != len(header_names):
            raise PredictionFileError(
                f"line 1: {len(header_names)} score columns, but --classes lists {len(classes)} classes"
            )
        return list(classes)
    duplicates = sorted({name for name in header_names if header_names.count(name) > 1})
    if duplicates:
        raise PredictionFileError(f"line 1: score column {duplicates[0]!r} appears twice")
    return header_names


def _score_row(
    row: list[str], columns: list[int], header: list[str], number: int, logits: bool
) -> list[float]:
    values = []
    for i in columns:
        try:
            value = float(row[i])
        except ValueError:
            cell = row[i].strip()
            problem = "missing score" if not cell else f"{cell!r} is not a number"
            raise PredictionFileError(f"line {number}, column {header[i]!r}: {problem}") from None
        if not math.isfinite(value) or abs(value) > MAX_ABS_SCORE:
            raise PredictionFileError(
                f"line {number}, column {header[i]!r}: score {row[i].strip()} is not finite"
                + ("" if not math.isfinite(value) else f" enough (|score| > {MAX_ABS_SCORE:g})")
            )
        values.append(value)
    if not logits:
        check_probability_row(values, f"line {number}")
    return values


def _kind(logits: bool) -> str:
    return "logits" if logits else "probabilities"


# --- JSON --------------------------------------------------------------------------------


def _read_json(path: str, classes: Sequence[str] | None, logits: bool) -> Predictions:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except UnicodeDecodeError:
        raise PredictionFileError("not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise PredictionFileError(f"not valid JSON: line {error.lineno}: {error.msg}") from None
    if not isinstance(data, dict):
        raise PredictionFileError("expected a JSON object with 'labels' and 'predictions' or 'scores'")
    classes = _file_classes(data.get("classes"), classes, "classes")
    labels = _list_field(data, "labels")
    has_predictions, has_scores = "predictions" in data, "scores" in data
    if has_predictions == has_scores:
        raise PredictionFileError("give exactly one of 'predictions' and 'scores'")
    if has_predictions:
        predicted = _list_field(data, "predictions")
        _same_length(labels, predicted, "predictions")
        index = ClassIndex(classes)
        labels_raw = [index.resolve(v, f"labels[{i}]") for i, v in enumerate(labels)]
        predicted_raw = [index.resolve(v, f"predictions[{i}]", "prediction") for i, v in enumerate(predicted)]
        names, (label_ids, prediction_ids) = index.finish(labels_raw, predicted_raw)
        return Predictions(names, label_ids, predictions=prediction_ids)
    rows = _list_field(data, "scores")
    _same_length(labels, rows, "scores")
    width = len(classes) if classes is not None else None
    scores = []
    for i, row in enumerate(rows):
        if not isinstance(row, list):
            raise PredictionFileError(f"scores[{i}]: expected a list of numbers, one per class")
        if width is None:
            width = len(row)
        if len(row) != width:
            expected = "classes" if classes is not None else "values as scores[0]"
            raise PredictionFileError(f"scores[{i}]: {len(row)} values, expected {width} (as many as {expected})")
        values = []
        for j, value in enumerate(row):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or abs(value) > MAX_ABS_SCORE
            ):
                raise PredictionFileError(
                    f"scores[{i}][{j}]: {value!r} is not a finite number of at most {MAX_ABS_SCORE:g}"
                )
            values.append(float(value))
        if not logits:
            check_probability_row(values, f"scores[{i}]")
        scores.append(values)
    if classes is None:
        classes = [str(c) for c in range(width or 0)]
    index = ClassIndex(classes)
    label_ids = [index.resolve(v, f"labels[{i}]") for i, v in enumerate(labels)]
    table = scores if logits else logits_from_probabilities(scores)
    return Predictions(list(classes), label_ids, scores=table, scores_given=_kind(logits))


def _list_field(data: dict, key: str) -> list:
    if key not in data:
        raise PredictionFileError(f"no {key!r} field")
    value = data[key]
    if not isinstance(value, list):
        raise PredictionFileError(f"{key!r} must be a list, not {type(value).__name__}")
    return value


def _same_length(labels: Sequence[Any], other: Sequence[Any], name: str) -> None:
    if len(labels) != len(other):
        raise PredictionFileError(f"{len(labels)} labels but {len(other)} {name}: one per sample")


def _file_classes(in_file: Any, given: Sequence[str] | None, where: str) -> list[str] | None:
    """``--classes`` overrides the file's own list; the file's list must be names without repeats."""
    if given is not None:
        return list(given)
    if in_file is None:
        return None
    names = [str(name) for name in (in_file.tolist() if hasattr(in_file, "tolist") else in_file)]
    if len(set(names)) != len(names):
        repeated = next(name for name in names if names.count(name) > 1)
        raise PredictionFileError(f"{where}: class {repeated!r} is listed twice")
    return names


# --- NPZ ---------------------------------------------------------------------------------


def _read_npz(path: str, classes: Sequence[str] | None, logits: bool) -> Predictions:
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
    classes = _file_classes(arrays.get("classes"), classes, "classes")
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
        _same_length(labels, predicted, "predictions")
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
    _same_length(labels, scores, "score rows")
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
    return Predictions(list(classes), label_ids, scores=scores, scores_given=_kind(logits))


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
