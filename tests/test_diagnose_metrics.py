"""clsaudit.metrics against values worked out by hand, and its two score backends against each other."""

from __future__ import annotations

import math
import random

import pytest
from clsaudit import metrics
from clsaudit.diagnose.analysis import diagnose
from clsaudit.diagnose.predictions import Predictions

# Imbalanced, three classes: 6 x class 0, 3 x class 1, 1 x class 2; class 2 is never predicted.
#   class 0: 5 -> 0, 1 -> 1     class 1: 2 -> 1, 1 -> 0     class 2: 1 -> 0
LABELS = [0] * 6 + [1] * 3 + [2]
PREDICTED = [0, 0, 0, 0, 0, 1] + [1, 1, 0] + [0]


def test_confusion_matrix_and_per_class_on_imbalanced_data() -> None:
    cm = metrics.confusion_matrix(LABELS, PREDICTED, 3)
    assert cm == [[5, 1, 0], [1, 2, 0], [1, 0, 0]]
    per_class = metrics.per_class_metrics(cm)
    assert per_class["precision"] == pytest.approx([5 / 7, 2 / 3, 0.0])
    assert per_class["recall"] == pytest.approx([5 / 6, 2 / 3, 0.0])
    # F1 of class 0: 2 * (5/7) * (5/6) / (5/7 + 5/6) = (50/42) / (65/42) = 10/13.
    assert per_class["f1"] == pytest.approx([10 / 13, 2 / 3, 0.0])
    assert per_class["support"] == [6, 3, 1]
    assert per_class["predicted"] == [7, 3, 0]
    # Balanced accuracy = mean recall = (5/6 + 2/3 + 0) / 3 = 1/2, against accuracy 7/10.
    assert metrics.balanced_accuracy(per_class) == pytest.approx(0.5)


def test_macro_and_weighted_averages_by_hand() -> None:
    averages = metrics.summary_averages(metrics.per_class_metrics(metrics.confusion_matrix(LABELS, PREDICTED, 3)))
    assert averages["macro"]["precision"] == pytest.approx((5 / 7 + 2 / 3) / 3)  # 29/63
    assert averages["macro"]["recall"] == pytest.approx(0.5)
    assert averages["macro"]["f1"] == pytest.approx((10 / 13 + 2 / 3) / 3)  # 56/117
    assert averages["weighted"]["precision"] == pytest.approx((6 * 5 / 7 + 3 * 2 / 3) / 10)  # 22/35
    assert averages["weighted"]["recall"] == pytest.approx(0.7)  # weighted recall is accuracy
    assert averages["weighted"]["f1"] == pytest.approx((6 * 10 / 13 + 3 * 2 / 3) / 10)  # 43/65


def test_class_never_predicted_has_precision_zero_and_a_note() -> None:
    report = diagnose(Predictions(["a", "b", "c"], LABELS, predictions=PREDICTED))
    assert report["per_class"][2]["precision"] == 0.0
    assert report["accuracy"] == pytest.approx(0.7)
    assert any("class 'c' is never predicted" in note and "reported as 0" in note for note in report["notes"])


def test_class_without_samples_is_left_out_of_the_averages() -> None:
    # Class "d" exists in the class list but not in the data; class 0 predicted as it once.
    report = diagnose(Predictions(["a", "b", "c", "d"], LABELS, predictions=[3] + PREDICTED[1:]))
    assert report["per_class"][3]["support"] == 0
    assert report["balanced_accuracy"] == pytest.approx((4 / 6 + 2 / 3 + 0) / 3)
    assert any("class 'd' has no samples" in note for note in report["notes"])


def test_single_class_dataset() -> None:
    report = diagnose(Predictions(["only"], [0, 0, 0, 0], predictions=[0, 0, 0, 0]))
    assert report["confusion_matrix"] == [[4]]
    assert report["accuracy"] == 1.0 and report["balanced_accuracy"] == 1.0
    assert report["per_class"][0]["precision"] == 1.0 and report["per_class"][0]["f1"] == 1.0
    assert report["most_confused"] == []
    assert report["recommendation"]["rule"] == "single-class"


def test_row_normalised_and_most_confused_pairs() -> None:
    cm = [[5, 3, 0], [1, 4, 0], [0, 7, 2]]
    assert metrics.most_confused_pairs(cm, 2) == [(2, 1, 7), (0, 1, 3)]
    assert metrics.most_confused_pairs([[1, 0], [0, 1]]) == []
    # Ties go to the smaller (true, predicted) pair.
    assert metrics.most_confused_pairs(metrics.confusion_matrix(LABELS, PREDICTED, 3)) == [
        (0, 1, 1), (1, 0, 1), (2, 0, 1),
    ]
    assert metrics.row_normalised([[1, 3], [0, 0]]) == [[0.25, 0.75], [0.0, 0.0]]


def test_reliability_bins_by_hand() -> None:
    bins = metrics.reliability_bins([0.95, 0.95, 0.65, 0.65, 0.2], [True, False, True, True, False], 5)
    counts = [b.count for b in bins]
    assert counts == [1, 0, 0, 2, 2]  # 0.2 sits on the edge of (0, 0.2]: the lower bin
    assert bins[4].accuracy == 0.5 and bins[4].confidence == pytest.approx(0.95)
    # ECE = (1 * 0.2 + 2 * 0.35 + 2 * 0.45) / 5
    assert metrics.expected_calibration_error(
        [0.95, 0.95, 0.65, 0.65, 0.2], [True, False, True, True, False], 5
    ) == pytest.approx((0.2 + 0.7 + 0.9) / 5)


def _random_logits(rows: int, classes: int, seed: int) -> tuple[list[list[float]], list[int]]:
    rng = random.Random(seed)
    # Rounded to one decimal so that ties happen and the tie rule is exercised.
    logits = [[round(rng.gauss(0, 1.5), 1) for _ in range(classes)] for _ in range(rows)]
    labels = [rng.randrange(classes) for _ in range(rows)]
    return logits, labels


def test_python_and_numpy_score_tables_agree() -> None:
    pytest.importorskip("numpy")
    logits, labels = _random_logits(300, 7, seed=3)
    python_rows = metrics.score_table(logits, use_numpy=False)
    numpy_rows = metrics.score_table(logits, use_numpy=True)
    a, b = python_rows.summary(labels), numpy_rows.summary(labels)
    assert a.predictions == b.predictions and a.ranks == b.ranks
    assert a.confidences == pytest.approx(b.confidences, rel=1e-12)
    assert python_rows.nll_terms(labels, 0.7) == pytest.approx(numpy_rows.nll_terms(labels, 0.7), rel=1e-10)
    fit_a = metrics.fit_temperature(python_rows, labels)
    fit_b = metrics.fit_temperature(numpy_rows, labels)
    assert fit_a.temperature == pytest.approx(fit_b.temperature, rel=1e-8)


def test_rank_ties_follow_the_argmax() -> None:
    table = metrics.score_table([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]], use_numpy=False)
    summary = table.summary([0, 1])
    # argmax takes the first of equal scores: row 0 is right (rank 0), row 1 is ranked second.
    assert summary.predictions == [0, 0] and summary.ranks == [0, 1]
    assert metrics.top_k_accuracy(summary.ranks, 1) == 0.5
    assert metrics.top_k_accuracy(summary.ranks, 2) == 1.0


def test_temperature_fit_pure_python_matches_closed_form() -> None:
    # 80 right, 20 wrong, 4 classes, the chosen logit 5 and the rest 0. The NLL-optimal T makes the
    # confidence e^(5/T) / (e^(5/T) + 3) equal the accuracy 0.8: T = 5 / ln(3 * 0.8 / 0.2) = 5 / ln 12.
    logits, labels = [], []
    for i in range(100):
        label = i % 4
        predicted = label if i < 80 else (label + 1) % 4
        row = [0.0] * 4
        row[predicted] = 5.0
        logits.append(row)
        labels.append(label)
    table = metrics.score_table(logits, use_numpy=False)
    fit = metrics.fit_temperature(table, labels)
    assert fit.temperature == pytest.approx(5 / math.log(12), rel=1e-6)
    assert not fit.unbounded and fit.nll_after < fit.nll_before
    assert fit.nll_after == pytest.approx(-(0.8 * math.log(0.8) + 0.2 * math.log(0.2 / 3)), rel=1e-6)


def test_temperature_fit_says_when_no_temperature_is_optimal() -> None:
    # Every prediction right with a margin: the NLL falls towards 0 as T -> 0.
    separable = metrics.score_table([[3.0, 0.0], [0.0, 3.0]], use_numpy=False)
    fit = metrics.fit_temperature(separable, [0, 1])
    assert fit.unbounded and fit.temperature < 0.2 and fit.nll_after < 1e-8
    # Every prediction wrong with a margin: the NLL falls as T -> infinity, to ln 2.
    inverted = metrics.score_table([[0.0, 3.0], [3.0, 0.0]], use_numpy=False)
    fit = metrics.fit_temperature(inverted, [0, 1])
    assert fit.unbounded and fit.temperature == pytest.approx(1e3)
