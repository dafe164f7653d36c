"""Read a JSON file of predictions: ``{"classes", "labels", "predictions" | "scores"}``.

Errors name the entry (``labels[3]``, ``scores[7][2]``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from clsaudit.diagnose.predictions import (
    MAX_ABS_SCORE,
    ClassIndex,
    PredictionFileError,
    Predictions,
    check_probability_row,
    check_same_length,
    class_list,
    logits_from_probabilities,
    scores_kind,
)


def read_json(path: str, classes: Sequence[str] | None, logits: bool) -> Predictions:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except UnicodeDecodeError:
        raise PredictionFileError("not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise PredictionFileError(f"not valid JSON: line {error.lineno}: {error.msg}") from None
    if not isinstance(data, dict):
        raise PredictionFileError("expected a JSON object with 'labels' and 'predictions' or 'scores'")
    classes = class_list(data.get("classes"), classes, "classes")
    labels = _list_field(data, "labels")
    has_predictions, has_scores = "predictions" in data, "scores" in data
    if has_predictions == has_scores:
        raise PredictionFileError("give exactly one of 'predictions' and 'scores'")
    if has_predictions:
        predicted = _list_field(data, "predictions")
        check_same_length(labels, predicted, "predictions")
        index = ClassIndex(classes)
        labels_raw = [index.resolve(v, f"labels[{i}]") for i, v in enumerate(labels)]
        predicted_raw = [index.resolve(v, f"predictions[{i}]", "prediction") for i, v in enumerate(predicted)]
        names, (label_ids, prediction_ids) = index.finish(labels_raw, predicted_raw)
        return Predictions(names, label_ids, predictions=prediction_ids)
    rows = _list_field(data, "scores")
    check_same_length(labels, rows, "scores")
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
    return Predictions(list(classes), label_ids, scores=table, scores_given=scores_kind(logits))


def _list_field(data: dict, key: str) -> list:
    if key not in data:
        raise PredictionFileError(f"no {key!r} field")
    value = data[key]
    if not isinstance(value, list):
        raise PredictionFileError(f"{key!r} must be a list, not {type(value).__name__}")
    return value
