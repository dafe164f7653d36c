"""Write predictions in diagnose's input format (the reference pipeline's ``--save-predictions``).

The suffix picks the format, as when reading: ``.csv`` (a ``label``
column of class names, then one logit column per class), ``.json`` or
``.npz``. Scores are written as logits, so diagnose reads them with
``--logits``. The file appears whole or not at all.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clsaudit.atomic_write import atomic_write
from clsaudit.diagnose.csv_reader import LABEL_COLUMNS, PREDICTION_COLUMNS, SKIPPED_COLUMNS


def write_predictions(path: str | Path, labels: Any, logits: Any, classes: Sequence[str]) -> None:
    """``labels`` (N,) class indices, ``logits`` (N, C) raw scores, ``classes`` C names."""
    path = str(path)
    labels = labels.tolist() if hasattr(labels, "tolist") else list(labels)
    rows = logits.tolist() if hasattr(logits, "tolist") else [list(row) for row in logits]
    classes = [str(name) for name in classes]
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        data = _csv_bytes(labels, rows, classes)
    elif suffix == ".json":
        record = {"classes": classes, "labels": [classes[y] for y in labels], "scores": rows}
        data = (json.dumps(record) + "\n").encode()
    elif suffix == ".npz":
        data = _npz_bytes(labels, logits, classes)
    else:
        raise ValueError(f"{path}: unknown predictions format {suffix!r}: use .csv, .json or .npz")
    atomic_write(path, data)


def _csv_bytes(labels: list[int], rows: list[list[float]], classes: list[str]) -> bytes:
    reserved = {*LABEL_COLUMNS, *PREDICTION_COLUMNS, *SKIPPED_COLUMNS}
    clash = [name for name in classes if name.strip().lower() in reserved]
    if clash:
        raise ValueError(f"class {clash[0]!r} has the name of a CSV column: write .json or .npz instead")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["label", *classes])
    for label, row in zip(labels, rows):
        writer.writerow([classes[label], *(f"{value:.7g}" for value in row)])
    return buffer.getvalue().encode()


def _npz_bytes(labels: list[int], logits: Any, classes: list[str]) -> bytes:
    import numpy

    buffer = io.BytesIO()
    numpy.savez_compressed(
        buffer,
        labels=numpy.asarray(labels, dtype=numpy.int64),
        scores=numpy.asarray(logits, dtype=numpy.float32),
        classes=numpy.asarray(classes, dtype=str),
    )
    return buffer.getvalue()
