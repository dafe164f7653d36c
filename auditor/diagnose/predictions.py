"""What diagnose reads: true labels, and predicted labels or per-class scores, checked.

Every reader (CSV, JSON, NPZ) ends here, so the checks and their
messages are the same whatever the format: a message names the place
(``line 7, column 'cat'`` in a CSV, ``labels[6]`` in JSON or NPZ) and
what is wrong with it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from clsaudit.diagnose.errors import PredictionFileError

__all__ = [
    "ClassIndex",
    "PredictionFileError",
    "Predictions",
    "check_same_length",
    "class_list",
    "scores_kind",
]

PROBABILITY_TOLERANCE = 0.01  # a row of probabilities must sum to 1 within this
PROBABILITY_FLOOR = 1e-12  # log(0) is -inf: a probability of 0 is read as this for the logits
MAX_ABS_SCORE = 1e12  # no model emits logits this large; beyond it exp() overflows into nonsense


@dataclass
class Predictions:
    """Checked input: labels and predictions are class indices; scores are logits.

    ``scores_given`` says what the file held ("logits" or "probabilities"),
    None when it held predicted labels only. Probabilities are stored as
    their logarithm, so every later step has one kind of score.
    """

    classes: list[str]
    labels: list[int]
    predictions: list[int] | None = None
    scores: Any = None
    scores_given: str | None = None
    notes: list[str] = field(default_factory=list)


class ClassIndex:
    """Turns a label cell (a class name or an index) into a class index.

    With a known class list a name wins over an index (a class may be
    called "3"); without one, the classes are learnt from the values
    seen: all integers -> classes 0..max, otherwise the sorted names.
    """

    def __init__(self, classes: Sequence[str] | None) -> None:
        self.classes = list(classes) if classes is not None else None
        self.index = {name: i for i, name in enumerate(self.classes or [])}

    def resolve(self, value: Any, where: str, what: str = "label") -> int | str:
        """An index when the classes are known; the raw text otherwise (see :meth:`finish`)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            raise PredictionFileError(f"{where}: missing {what}")
        if isinstance(value, bool):
            raise PredictionFileError(f"{where}: {what} {value!r} is neither a class name nor an index")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and self.classes is not None:
            # A number (not text) is an index, even where a class is called "3".
            if 0 <= value < len(self.classes):
                return value
            raise PredictionFileError(
                f"{where}: {what} {value} is outside the class indices 0..{len(self.classes) - 1}"
            )
        text = str(value).strip()
        if not text:
            raise PredictionFileError(f"{where}: missing {what}")
        if self.classes is None:
            return text
        if text in self.index:
            return self.index[text]
        number = _as_int(text)
        if number is not None and 0 <= number < len(self.classes):
            return number
        raise PredictionFileError(
            f"{where}: {what} {text!r} is not one of the {len(self.classes)} classes "
            f"({_preview(self.classes)}) nor an index 0..{len(self.classes) - 1}"
        )

    def finish(self, *columns: list[int | str]) -> tuple[list[str], list[list[int]]]:
        """The class list and the columns as indices (learning the classes if none were given)."""
        if self.classes is not None:
            return self.classes, [list(column) for column in columns]
        values = {value for column in columns for value in column}
        numbers = {value: _as_int(value) for value in values}
        if values and all(n is not None and n >= 0 for n in numbers.values()):
            classes = [str(i) for i in range(max(numbers.values()) + 1)]
            return classes, [[numbers[v] for v in column] for column in columns]
        classes = sorted(values)
        index = {name: i for i, name in enumerate(classes)}
        return classes, [[index[v] for v in column] for column in columns]


def _as_int(text: Any) -> int | None:
    try:
        return int(str(text))
    except ValueError:
        return None


def _preview(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... {len(names) - limit} more" if len(names) > limit else "")


def read_class_names(path: str) -> list[str]:
    """``--classes`` file: one name a line, blank lines skipped, no duplicates."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError as error:
        raise PredictionFileError(f"{path}: cannot read the class names: {error.strerror}") from None
    except UnicodeDecodeError:
        raise PredictionFileError(f"{path}: the class names are not UTF-8 text") from None
    names: list[str] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        name = line.strip()
        if not name:
            continue
        if name in seen:
            raise PredictionFileError(
                f"{path}: line {number}: class {name!r} is listed twice (first on line {seen[name]})"
            )
        seen[name] = number
        names.append(name)
    if not names:
        raise PredictionFileError(f"{path}: no class names in the file")
    return names


def check_probability_row(row: Sequence[float], where: str) -> None:
    """A row promised to be probabilities must be one: values in [0, 1] summing to 1."""
    for value in row:
        if value < -1e-9 or value > 1 + 1e-9:
            raise PredictionFileError(
                f"{where}: {value:g} is not a probability (outside [0, 1]); "
                "pass --logits if the scores are logits"
            )
    total = sum(row)
    if abs(total - 1.0) > PROBABILITY_TOLERANCE:
        raise PredictionFileError(
            f"{where}: the probabilities sum to {total:.4g}, not 1; "
            "pass --logits if the scores are logits"
        )


def logits_from_probabilities(rows: list[list[float]]) -> list[list[float]]:
    """Log-probabilities: softmax gives the probabilities back, and the temperature fit works on them."""
    return [[math.log(max(p, PROBABILITY_FLOOR)) for p in row] for row in rows]


def scores_kind(logits: bool) -> str:
    """What the scores of a file are, as :attr:`Predictions.scores_given` records it."""
    return "logits" if logits else "probabilities"


def check_same_length(labels: Sequence[Any], other: Sequence[Any], name: str) -> None:
    """One entry per sample in each list."""
    if len(labels) != len(other):
        raise PredictionFileError(f"{len(labels)} labels but {len(other)} {name}: one per sample")


def class_list(in_file: Any, given: Sequence[str] | None, where: str) -> list[str] | None:
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
