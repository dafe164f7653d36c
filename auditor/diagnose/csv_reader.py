"""Read a CSV of predictions: a header row, a label column, and a prediction column or score columns.

The header names the columns: ``label`` (also ``true``, ``target``,
``y_true``), then either ``prediction`` (also ``predicted``, ``pred``,
``y_pred``) or one score column per class headed by the class name.
``id``, ``path``, ``file``, ``filename`` and ``image`` columns are
skipped. Errors name the line (the header is line 1) and the column.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from typing import Any

from clsaudit.diagnose.predictions import (
    MAX_ABS_SCORE,
    ClassIndex,
    PredictionFileError,
    Predictions,
    check_probability_row,
    logits_from_probabilities,
    scores_kind,
)

LABEL_COLUMNS = ("label", "true", "target", "y_true")
PREDICTION_COLUMNS = ("prediction", "predicted", "pred", "y_pred")
SKIPPED_COLUMNS = ("id", "path", "file", "filename", "image")


def read_csv(path: str, classes: Sequence[str] | None, logits: bool) -> Predictions:
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
    return Predictions(names, label_ids, scores=table, scores_given=scores_kind(logits))


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
