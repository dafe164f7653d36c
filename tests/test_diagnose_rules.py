"""Each recommendation rule, triggered by an input built to trigger it, and the dominance warning."""

from __future__ import annotations

import pytest
from clsaudit.diagnose.analysis import diagnose
from clsaudit.diagnose.predictions import Predictions
from clsaudit.diagnose.recommendation import RULES

NAMES = ["ant", "bee", "cat", "dog"]


def _balanced(moves: dict[tuple[int, int], int], per_class: int = 20) -> Predictions:
    """Four classes of ``per_class`` samples; ``moves[(t, p)]`` samples of ``t`` predicted as ``p``."""
    labels, predicted = [], []
    for true in range(4):
        wrong = [(p, n) for (t, p), n in moves.items() if t == true]
        right = per_class - sum(n for _, n in wrong)
        labels += [true] * per_class
        predicted += [true] * right + [p for p, n in wrong for _ in range(n)]
    return Predictions(list(NAMES), labels, predictions=predicted)


def _rule(predictions: Predictions) -> dict:
    return diagnose(predictions)["recommendation"]


def test_rules_are_listed_once_each_and_the_fallback_is_last() -> None:
    names = [name for name, _ in RULES]
    assert len(names) == len(set(names)) == 8
    assert names[-1] == "spread-errors"


def test_single_class() -> None:
    found = _rule(Predictions(["a", "b"], [0] * 10, predictions=[0] * 8 + [1] * 2))
    assert found["rule"] == "single-class"
    assert found["evidence"]["classes_present"] == 1
    assert "10 samples" in found["message"] and "'a'" in found["message"]


def test_no_errors() -> None:
    found = _rule(_balanced({}))
    assert found["rule"] == "no-errors"
    assert "all 80 predictions are right" in found["message"]


def test_absorbing_majority_class_on_imbalanced_data_and_the_dominance_warning() -> None:
    # A model that always predicts the majority class: 90% accuracy, balanced accuracy 1/3.
    report = diagnose(Predictions(["a", "b", "c"], [0] * 90 + [1] * 5 + [2] * 5, predictions=[0] * 100))
    found = report["recommendation"]
    assert found["rule"] == "absorbing-class"
    assert found["evidence"]["predicted_share"] == 1.0 and found["evidence"]["label_share"] == 0.9
    assert "100% of the predictions but 90% of the labels" in found["message"]
    assert "balanced accuracy 0.333 vs accuracy 0.900" in found["message"]
    (warning,) = report["warnings"]
    assert "dominated by class 'a'" in warning and "90% of the labels" in warning
    assert "100% of the correct predictions" in warning


def test_no_dominance_warning_on_a_balanced_model() -> None:
    assert diagnose(_balanced({(0, 1): 2, (1, 2): 2, (2, 3): 2, (3, 0): 2}))["warnings"] == []


def test_absorbing_class_on_balanced_data() -> None:
    # Classes ant, bee and cat each lose 8 samples to dog; dog is always right.
    found = _rule(_balanced({(0, 3): 8, (1, 3): 8, (2, 3): 8}))
    assert found["rule"] == "absorbing-class"
    assert found["evidence"]["class"] == "dog"
    assert found["evidence"]["error_share"] == 1.0
    assert "'dog' is 55% of the predictions but 25% of the labels" in found["message"]


def test_near_chance() -> None:
    # 25% right on four balanced classes, the errors spread evenly: chance level.
    moves = {(t, (t + k) % 4): 5 for t in range(4) for k in (1, 2, 3)}
    found = _rule(_balanced(moves))
    assert found["rule"] == "near-chance"
    assert found["evidence"]["balanced_accuracy"] == pytest.approx(0.25)
    assert "clsaudit probe" in found["title"]
    assert "balanced accuracy 0.250 is near chance (0.250 for 4 classes; below 0.325" in found["message"]


def test_collapse_onto_one_class_of_balanced_data_is_near_chance_not_imbalance() -> None:
    moves = {(t, 2): 20 for t in (0, 1, 3)}
    assert _rule(_balanced(moves))["rule"] == "near-chance"


def test_confused_pair() -> None:
    found = _rule(_balanced({(0, 1): 6, (1, 0): 5, (2, 3): 1}))
    assert found["rule"] == "confused-pair"
    assert found["evidence"]["pair"] == ["ant", "bee"]
    assert (found["evidence"]["forward"], found["evidence"]["backward"]) == (6, 5)
    assert "ant -> bee: 6, bee -> ant: 5" in found["message"]
    assert "92% of all 12 errors, against 1 for the next pair" in found["message"]


def test_a_pair_below_one_percent_of_the_samples_is_not_worth_the_recommendation() -> None:
    # The same 11 symmetric errors among 1,200 samples instead of 80: under a point of accuracy.
    assert _rule(_balanced({(0, 1): 6, (1, 0): 5, (2, 3): 1}, per_class=300))["rule"] == "spread-errors"


def test_a_one_way_pair_is_not_a_confused_pair() -> None:
    found = _rule(_balanced({(2, 0): 4, (2, 1): 3, (2, 3): 3}))
    assert found["rule"] == "weak-class"
    assert found["evidence"]["class"] == "cat"
    assert found["evidence"]["recall"] == 0.5 and found["evidence"]["median_recall_of_others"] == 1.0
    assert "recall 0.500 against a median of 1.000" in found["message"]
    assert "most often taken for 'ant': 4" in found["message"]


def _many_classes(weak_right: int) -> Predictions:
    """100 classes of 20 samples, 14 right each (recall 0.7), except class 0 with ``weak_right``.

    Errors of class k go to the next six classes in turn: no pair, no absorber.
    """
    labels, predicted = [], []
    for true in range(100):
        right = weak_right if true == 0 else 14
        labels += [true] * 20
        predicted += [true] * right + [(true + 1 + j % 6) % 100 for j in range(20 - right)]
    return Predictions([f"c{c}" for c in range(100)], labels, predictions=predicted)


def test_a_weak_class_within_sampling_noise_is_not_named() -> None:
    # Recall 0.45 against 0.7: a gap of 0.25, but with 20 samples a class and 100 classes the
    # noise margin is z(1 - 0.05/100) * sqrt(0.7 * 0.3 / 20) = 3.29 * 0.102 = 0.337.
    assert _rule(_many_classes(weak_right=9))["rule"] == "spread-errors"
    found = _rule(_many_classes(weak_right=2))  # recall 0.1: a gap of 0.6
    assert found["rule"] == "weak-class" and found["evidence"]["class"] == "c0"
    assert found["evidence"]["noise_margin"] == pytest.approx(3.2905 * (0.21 / 20) ** 0.5, rel=1e-3)
    assert "beyond the 0.337 that sampling noise could explain" in found["message"]


def _overconfident(accuracy_percent: int = 80) -> Predictions:
    """Logits of 10 on the predicted class, 0 elsewhere; right ``accuracy_percent``% of the time."""
    labels, scores = [], []
    for i in range(400):
        label = i % 4
        predicted = label if i % 100 < accuracy_percent else (label + 1 + i % 3) % 4
        row = [0.0] * 4
        row[predicted] = 10.0
        labels.append(label)
        scores.append(row)
    return Predictions(list(NAMES), labels, scores=scores, scores_given="logits")


def test_miscalibrated() -> None:
    report = diagnose(_overconfident())
    found = report["recommendation"]
    assert found["rule"] == "miscalibrated"
    calibration = report["calibration"]
    assert calibration["ece"] == pytest.approx(found["evidence"]["ece"]) and calibration["ece"] > 0.15
    assert calibration["temperature"] > 1 and calibration["ece_after_temperature"] < 0.01
    assert f"ECE {calibration['ece']:.3f}" in found["message"]
    assert f"T = {calibration['temperature']:.3f}" in found["message"]
    assert "overconfident" in found["message"] and "label smoothing" in found["title"]


def test_spread_errors() -> None:
    moves = {(t, p): 1 for t in range(4) for p in range(4) if p != t}
    found = _rule(_balanced(moves))
    assert found["rule"] == "spread-errors"
    assert found["evidence"]["top_pair_error_share"] == pytest.approx(2 / 12)
    assert "16.7% of the errors" in found["message"] and "0.850-0.850" in found["message"]


def test_every_recommendation_carries_its_numbers() -> None:
    inputs = [
        _balanced({}),
        _balanced({(0, 1): 6, (1, 0): 5, (2, 3): 1}),
        _overconfident(),
        _balanced({(t, p): 1 for t in range(4) for p in range(4) if p != t}),
    ]
    for predictions in inputs:
        found = _rule(predictions)
        assert found["evidence"], found["rule"]
        assert any(character.isdigit() for character in found["message"]), found["rule"]
