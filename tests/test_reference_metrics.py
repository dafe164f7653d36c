"""The evaluation report's numbers against values worked out by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from clsaudit import metrics
from clsaudit.reference_pipeline.report import build_report, print_report, write_report

# Three classes, six samples. Predictions (argmax) are 0, 0, 1, 1, 2, 0.
LOGITS = np.array(
    [
        [3.0, 1.0, 0.0],
        [2.0, 0.0, 1.0],
        [0.0, 2.0, 1.5],
        [0.0, 2.0, 1.0],
        [0.0, 0.5, 1.0],
        [1.0, 0.0, 0.5],
    ]
)
LABELS = np.array([0, 0, 1, 2, 2, 1])


def test_confusion_matrix_rows_true_columns_predicted() -> None:
    cm = metrics.confusion_matrix(LABELS, LOGITS.argmax(1), 3)
    assert cm == [[2, 0, 0], [1, 1, 0], [0, 1, 1]]


def test_per_class_precision_recall_f1() -> None:
    cm = metrics.confusion_matrix(LABELS, LOGITS.argmax(1), 3)
    m = metrics.per_class_metrics(cm)
    # class 0: TP 2, predicted 3, true 2; class 1: TP 1, predicted 2, true 2; class 2: 1, 1, 2.
    assert np.allclose(m["precision"], [2 / 3, 1 / 2, 1.0])
    assert np.allclose(m["recall"], [1.0, 1 / 2, 1 / 2])
    assert np.allclose(m["f1"], [0.8, 0.5, 2 / 3])
    assert m["support"] == [2, 2, 2]


def test_zero_denominators_give_zero() -> None:
    cm = np.array([[2, 0], [1, 0]])  # class 1 never predicted, never right
    m = metrics.per_class_metrics(cm)
    assert m["precision"][1] == 0 and m["recall"][1] == 0 and m["f1"][1] == 0


def test_top_k_accuracy() -> None:
    ranks = metrics.score_table(LOGITS).summary(LABELS.tolist()).ranks
    assert metrics.top_k_accuracy(ranks, 1) == pytest.approx(4 / 6)
    # Top-2 sets: {0,1} {0,2} {1,2} {1,2} {2,1} {0,2}: only sample 5 (label 1) is missed.
    assert metrics.top_k_accuracy(ranks, 2) == pytest.approx(5 / 6)
    assert metrics.top_k_accuracy(ranks, 5) == 1.0  # more than the class count: every row


def test_most_confused_pairs() -> None:
    cm = np.array([[5, 3, 0], [1, 4, 0], [0, 7, 2]])
    assert metrics.most_confused_pairs(cm, 2) == [(2, 1, 7), (0, 1, 3)]
    assert metrics.most_confused_pairs(np.eye(3, dtype=int), 5) == []


def test_softmax_confidence_and_nll() -> None:
    table = metrics.score_table(np.array([[0.0, math.log(3.0)]]))
    assert table.summary([1]).confidences == pytest.approx([0.75])
    assert metrics.nll(table, [1]) == pytest.approx(-math.log(0.75))
    halved = metrics.score_table(np.array([[0.0, 2.0]])).confidences(temperature=2.0)
    assert halved == pytest.approx(metrics.score_table(np.array([[0.0, 1.0]])).confidences(1.0))


def test_expected_calibration_error_by_hand() -> None:
    confidences = [0.95, 0.95, 0.65, 0.65]
    correct = [True, False, True, True]
    # Bin (14/15, 1]: conf 0.95, acc 0.5 -> gap 0.45; bin (0.6, 0.667]: conf 0.65, acc 1 -> 0.35.
    assert metrics.expected_calibration_error(confidences, correct, 15) == pytest.approx(
        0.5 * 0.45 + 0.5 * 0.35
    )
    assert metrics.expected_calibration_error([1.0, 1.0], [True, True]) == pytest.approx(0.0)


def _overconfident(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """80% accurate predictions whose logits are scaled to ~100% confidence."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    predicted = np.where(rng.random(n) < 0.8, labels, (labels + 1) % 4)
    logits = np.zeros((n, 4))
    logits[np.arange(n), predicted] = 10.0
    return logits, labels


def test_temperature_scaling_lowers_nll_and_ece_on_overconfident_logits() -> None:
    logits, labels = _overconfident()
    table = metrics.score_table(logits)
    t = metrics.fit_temperature(table, labels.tolist()).temperature
    # The NLL-optimal temperature for this construction is known in closed form:
    # confidence p = e^(10/T) / (e^(10/T) + 3) must equal the accuracy (~0.8).
    accuracy = (logits.argmax(1) == labels).mean()
    assert t > 1
    assert t == pytest.approx(10 / math.log(3 * accuracy / (1 - accuracy)), rel=1e-3)
    assert metrics.nll(table, labels, t) < metrics.nll(table, labels) - 1.0
    correct = (logits.argmax(1) == labels).tolist()
    before = metrics.expected_calibration_error(table.confidences(1.0), correct)
    after = metrics.expected_calibration_error(table.confidences(t), correct)
    assert before > 0.15 and after < 0.01


def test_build_report_json_and_tables(tmp_path) -> None:
    val_logits, val_labels = _overconfident(seed=1)
    test_logits, test_labels = _overconfident(seed=2)
    report = build_report(test_logits, test_labels, val_logits, val_labels, ["a", "b", "c", "d"])
    assert report["top1"] == pytest.approx((test_logits.argmax(1) == test_labels).mean())
    assert report["calibration"]["ece_after"] < report["calibration"]["ece_before"]
    assert report["calibration"]["nll_after"] < report["calibration"]["nll_before"]
    assert report["calibration"]["bins"] == 15
    assert np.array(report["confusion_matrix"]).sum() == len(test_labels)
    assert report["per_class"][0]["class"] == "a"
    assert report["most_confused"][0]["count"] > 0
    path = tmp_path / "report.json"
    write_report(report, path)
    assert json.loads(path.read_text()) == report

    from rich.console import Console

    console = Console(record=True, width=120)
    print_report(report, console)
    text = console.export_text()
    assert "Confusion matrix" in text and "Most confused" in text and "precision" in text
