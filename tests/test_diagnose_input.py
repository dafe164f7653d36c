"""Reading predictions: the three formats, class names, and an error naming the place for each mistake."""

from __future__ import annotations

import json
import math
import sys

import pytest
from clsaudit.diagnose.errors import PredictionFileError
from clsaudit.diagnose.npz_reader import NUMPY_MESSAGE
from clsaudit.diagnose.predictions import read_class_names
from clsaudit.diagnose.readers import read_predictions
from clsaudit.diagnose.writer import write_predictions


def _write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _error(path: str, **options) -> str:
    with pytest.raises(PredictionFileError) as caught:
        read_predictions(path, **options)
    return str(caught.value)


def test_csv_of_labels_and_predictions_with_names_learnt_from_the_values(tmp_path) -> None:
    path = _write(tmp_path, "p.csv", "id,label,prediction\n1,dog,cat\n2,cat,cat\n\n3,bird,dog\n")
    read = read_predictions(path)
    assert read.classes == ["bird", "cat", "dog"]  # sorted names when no list is given
    assert read.labels == [2, 1, 0] and read.predictions == [1, 1, 2]
    assert read.scores is None


def test_csv_integer_labels_make_classes_zero_to_max(tmp_path) -> None:
    read = read_predictions(_write(tmp_path, "p.csv", "y_true,y_pred\n0,3\n2,2\n"))
    assert read.classes == ["0", "1", "2", "3"] and read.labels == [0, 2] and read.predictions == [3, 2]


def test_csv_probabilities_with_class_names_in_the_header(tmp_path) -> None:
    path = _write(tmp_path, "p.csv", "label,cat,dog\ndog,0.2,0.8\ncat,1,0\n")
    read = read_predictions(path)
    assert read.classes == ["cat", "dog"] and read.labels == [1, 0]
    assert read.scores_given == "probabilities"
    # Stored as log-probabilities; a probability of 0 is floored so that the log is finite.
    assert read.scores[0] == pytest.approx([math.log(0.2), math.log(0.8)])
    assert read.scores[1][1] == pytest.approx(math.log(1e-12))


def test_classes_file_names_the_score_columns_and_maps_indices(tmp_path) -> None:
    names = _write(tmp_path, "names.txt", "cat\n\ndog\n")
    classes = read_class_names(names)
    assert classes == ["cat", "dog"]
    read = read_predictions(_write(tmp_path, "p.csv", "label,a,b\n1,2.0,-1.0\ncat,0.5,0.1\n"), classes, logits=True)
    assert read.classes == ["cat", "dog"] and read.labels == [1, 0]
    assert read.scores == [[2.0, -1.0], [0.5, 0.1]]


def test_json_and_npz_round_trip_through_the_writer(tmp_path) -> None:
    numpy = pytest.importorskip("numpy")
    logits = numpy.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
    for suffix in (".csv", ".json", ".npz"):
        path = tmp_path / f"preds{suffix}"
        write_predictions(path, numpy.array([0, 2]), logits, ["a", "b", "c"])
        read = read_predictions(str(path), logits=True)
        assert read.classes == ["a", "b", "c"] and read.labels == [0, 2], suffix
        assert numpy.allclose(numpy.asarray(read.scores), logits, atol=1e-6), suffix
        assert not list(tmp_path.glob(".clsaudit-*")), "a temporary file was left behind"


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        ("label,prediction\ncat,dog\n,dog\n", {}, "line 3, column 'label': missing label"),
        ("label,prediction\ncat,\n", {}, "line 2, column 'prediction': missing prediction"),
        ("label,a,b\na,0.7,0.8\n", {}, "line 2: the probabilities sum to 1.5, not 1; pass --logits"),
        ("label,a,b\na,1.5,-0.5\n", {}, "line 2: 1.5 is not a probability (outside [0, 1])"),
        ("label,a,b\na,0.5,x\n", {"logits": True}, "line 2, column 'b': 'x' is not a number"),
        ("label,a,b\na,0.5,nan\n", {"logits": True}, "line 2, column 'b': score nan is not finite"),
        ("label,a,b\na,0.5\n", {"logits": True}, "line 2: 2 values, but the header has 3 columns"),
        ("label,a,b\nzebra,0.5,0.5\n", {}, "line 2, column 'label': label 'zebra' is not one of the 2 classes (a, b)"),
        ("label,a,b\n7,0.5,0.5\n", {}, "label '7' is not one of the 2 classes (a, b) nor an index 0..1"),
        ("truth,prediction\na,b\n", {}, "line 1: no 'label' column in the header"),
        ("label\na\n", {}, "line 1: no 'prediction' column and no score columns"),
        ("label,prediction,a\nx,y,1\n", {}, "both a 'prediction' column and score columns"),
        ("", {}, "empty file"),
        ("label,prediction\n", {}, "no samples in the file"),
        ("label,a,a\na,0.5,0.5\n", {}, "score column 'a' appears twice"),
    ],
)
def test_csv_errors_name_the_line_and_column(tmp_path, text: str, options: dict, expected: str) -> None:
    message = _error(_write(tmp_path, "p.csv", text), **options)
    assert expected in message
    assert message.startswith(str(tmp_path / "p.csv") + ": ")


def test_classes_list_that_does_not_match_the_score_columns(tmp_path) -> None:
    path = _write(tmp_path, "p.csv", "label,a,b,c\na,0.2,0.3,0.5\n")
    assert "3 score columns, but --classes lists 2 classes" in _error(path, classes=["a", "b"])


def test_classes_file_errors(tmp_path) -> None:
    with pytest.raises(PredictionFileError, match="line 3: class 'cat' is listed twice \\(first on line 1\\)"):
        read_class_names(_write(tmp_path, "names.txt", "cat\ndog\ncat\n"))
    with pytest.raises(PredictionFileError, match="no class names"):
        read_class_names(_write(tmp_path, "empty.txt", "\n\n"))


@pytest.mark.parametrize(
    ("record", "options", "expected"),
    [
        ({"labels": [0, 1, 1], "predictions": [0, 1]}, {}, "3 labels but 2 predictions"),
        ({"labels": [0, None], "predictions": [0, 1]}, {}, "labels[1]: missing label"),
        ({"classes": ["a", "b"], "labels": [0, 2], "predictions": [0, 1]}, {}, "labels[1]: label 2 is outside the class indices 0..1"),
        ({"labels": [0, 1], "scores": [[0.5, 0.5], [0.9, 0.3]]}, {}, "scores[1]: the probabilities sum to 1.2"),
        ({"labels": [0, 1], "scores": [[0.5, 0.5], [0.9]]}, {}, "scores[1]: 1 values, expected 2"),
        ({"labels": [0, 1], "scores": [[1, 2], [3, "x"]]}, {"logits": True}, "scores[1][1]: 'x' is not a finite number"),
        ({"labels": [0, 1], "scores": [[1e300, 0], [0, 1]]}, {"logits": True}, "scores[0][0]: 1e+300 is not a finite number of at most 1e+12"),
        ({"labels": [0], "predictions": [0], "scores": [[1.0]]}, {}, "give exactly one of 'predictions' and 'scores'"),
        ({"predictions": [0]}, {}, "no 'labels' field"),
        ([1, 2], {}, "expected a JSON object"),
        ({"classes": ["a", "a"], "labels": [0], "predictions": [0]}, {}, "class 'a' is listed twice"),
    ],
)
def test_json_errors_name_the_entry(tmp_path, record, options: dict, expected: str) -> None:
    assert expected in _error(_write(tmp_path, "p.json", json.dumps(record)), **options)


def test_broken_json_and_unknown_suffix(tmp_path) -> None:
    assert "not valid JSON: line 1" in _error(_write(tmp_path, "p.json", "{"))
    assert "unknown format '.txt': use .csv, .json or .npz" in _error(_write(tmp_path, "p.txt", "x"))
    assert "cannot read" in _error(str(tmp_path / "missing.csv"))


def test_npz_errors_name_the_row(tmp_path) -> None:
    numpy = pytest.importorskip("numpy")

    def npz(**arrays) -> str:
        path = tmp_path / "p.npz"
        numpy.savez(path, **arrays)
        return str(path)

    scores = numpy.array([[0.5, 0.5], [0.2, 0.2], [0.1, 0.9]])
    assert "scores[1]: the probabilities sum to 0.4" in _error(npz(labels=numpy.array([0, 1, 1]), scores=scores))
    scores[1] = [0.4, 0.6]
    assert "labels[2]: label 5 is outside the class indices 0..1" in _error(
        npz(labels=numpy.array([0, 1, 5]), scores=scores)
    )
    assert "3 labels but 2 score rows" in _error(npz(labels=numpy.array([0, 1, 1]), scores=scores[:2]))
    infinite = scores.copy()
    infinite[2, 0] = numpy.inf
    assert "scores[2][0]: inf is not a finite number" in _error(npz(labels=numpy.array([0, 1, 1]), scores=infinite))
    names = npz(labels=numpy.array(["b", "a"]), predictions=numpy.array(["a", "a"]), classes=numpy.array(["a", "b"]))
    read = read_predictions(names)
    assert read.labels == [1, 0] and read.predictions == [0, 0]


def test_files_that_are_not_npz_archives(tmp_path) -> None:
    numpy = pytest.importorskip("numpy")
    assert "not an .npz archive (numpy.savez writes one)" in _error(_write(tmp_path, "p.npz", "garbage"))
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04garbage")
    assert "not a readable .npz archive" in _error(str(tmp_path / "broken.npz"))
    numpy.savez(tmp_path / "objects.npz", labels=numpy.array([0]), classes=numpy.array([{"a": 1}], dtype=object))
    assert "array 'classes' holds Python objects" in _error(str(tmp_path / "objects.npz"))


def test_npz_without_numpy_says_how_to_get_it(tmp_path, monkeypatch) -> None:
    path = _write(tmp_path, "p.npz", "not read")
    monkeypatch.setitem(sys.modules, "numpy", None)  # import numpy now raises ImportError
    assert NUMPY_MESSAGE in _error(path)
