"""The reference pipeline's report and ``clsaudit diagnose`` agree: one metrics module, one format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
import numpy
from click.testing import CliRunner
from clsaudit.diagnose.analysis import diagnose
from clsaudit.diagnose.readers import read_predictions
from clsaudit.reference_pipeline.cli import train_reference
from clsaudit.reference_pipeline.report import build_report, save_predictions

TINY = ["--synthetic-size", "200", "--epochs", "1", "--batch-size", "50", "--device", "cpu",
        "--no-tta", "--no-progress"]
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _logits(rows: int, seed: int) -> tuple[numpy.ndarray, numpy.ndarray]:
    rng = numpy.random.default_rng(seed)
    labels = rng.integers(0, 10, rows)
    logits = rng.normal(0, 1, (rows, 10)).astype(numpy.float32)
    logits[numpy.arange(rows), labels] += 2.0
    return logits, labels


@pytest.mark.parametrize("suffix", [".csv", ".json", ".npz"])
def test_saved_predictions_diagnose_to_the_reports_numbers(tmp_path: Path, suffix: str) -> None:
    test_logits, test_labels = _logits(500, seed=1)
    val_logits, val_labels = _logits(500, seed=2)
    report = build_report(test_logits, test_labels, val_logits, val_labels, CLASSES)
    path = tmp_path / f"preds{suffix}"
    save_predictions(path, test_logits, test_labels, CLASSES)
    diagnosis = diagnose(read_predictions(str(path), logits=True))
    assert diagnosis["classes"] == CLASSES and diagnosis["num_samples"] == report["num_test"]
    assert diagnosis["confusion_matrix"] == report["confusion_matrix"]
    assert diagnosis["accuracy"] == pytest.approx(report["top1"])
    assert diagnosis["top_k"]["accuracy"] == pytest.approx(report["top5"])
    assert diagnosis["balanced_accuracy"] == pytest.approx(report["balanced_accuracy"])
    assert diagnosis["averages"] == report["averages"]  # same counts, same code: equal, not close
    for ours, theirs in zip(diagnosis["per_class"], report["per_class"]):
        assert ours["class"] == theirs["class"] and ours["support"] == theirs["support"]
        assert ours["f1"] == pytest.approx(theirs["f1"])
    # The CSV keeps 7 significant digits of each logit: calibration agrees to that precision.
    assert diagnosis["calibration"]["ece"] == pytest.approx(report["calibration"]["ece_before"], abs=1e-5)
    assert diagnosis["calibration"]["nll"] == pytest.approx(report["calibration"]["nll_before"], rel=1e-5)


def test_train_reference_writes_its_test_predictions(tmp_path: Path) -> None:
    predictions = tmp_path / "preds.csv"
    result = CliRunner().invoke(
        train_reference, [*TINY, "--out", str(tmp_path), "--save-predictions", str(predictions)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    read = read_predictions(str(predictions), logits=True)
    assert read.classes == report["classes"] and len(read.labels) == report["num_test"]
    assert diagnose(read)["confusion_matrix"] == report["confusion_matrix"]


def test_a_bad_predictions_suffix_is_refused_before_training(tmp_path: Path) -> None:
    result = CliRunner().invoke(train_reference, [*TINY, "--save-predictions", str(tmp_path / "p.txt")])
    assert result.exit_code == 2
    assert "use a .csv, .json or .npz file" in result.output
    assert "Confusion matrix" not in result.output  # it stopped before training
