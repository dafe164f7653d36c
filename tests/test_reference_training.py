"""End to end on the synthetic data: learnable, selected on validation, reported once on test."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from clsaudit.reference_pipeline.ablation import ladder
from clsaudit.reference_pipeline.batches import Batches
from clsaudit.reference_pipeline.cli import train_reference
from clsaudit.reference_pipeline.data import split_train_val, synthetic_cifar
from clsaudit.reference_pipeline.models import resnet18, small_resnet
from clsaudit.reference_pipeline.train import TrainConfig, evaluate, fit, predict

QUICK = {"device": "cpu", "progress": False, "quiet": True}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("run")
    config = TrainConfig(
        synthetic_size=2500, epochs=3, batch_size=64, lr=0.2, out=str(out), seed=0, **QUICK
    )
    return fit(config), out


def test_small_model_reaches_95_percent_validation_in_3_epochs(trained) -> None:
    result, _ = trained
    assert result.best_val_acc >= 0.95
    assert result.test_acc is not None and result.test_acc >= 0.9


def test_untrained_and_zero_models_are_at_chance() -> None:
    splits = split_train_val(synthetic_cifar(num_train=2500, num_test=10), seed=0)
    loader = Batches(splits.val_x, splits.val_y, 256, splits.mean, splits.std, shuffle=False)
    torch.manual_seed(0)
    assert evaluate(small_resnet(), loader)["acc"] < 0.25
    zero = small_resnet()
    for p in zero.parameters():
        torch.nn.init.zeros_(p)
    assert evaluate(zero, loader)["acc"] < 0.25


def test_outputs_checkpoint_csv_and_report(trained) -> None:
    result, out = trained
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert {
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "lr",
        "seconds",
        "images_per_s",
    } <= set(rows[0])
    val_accs = [float(r["val_acc"]) for r in rows]
    checkpoint = torch.load(out / "best.pt", weights_only=False)
    # Selected on validation accuracy: the first epoch with the best val_acc.
    assert checkpoint["epoch"] == val_accs.index(max(val_accs)) + 1 == result.best_epoch
    assert checkpoint["val_acc"] == pytest.approx(max(val_accs))
    for name, value in result.model.state_dict().items():
        assert torch.equal(value, checkpoint["model"][name])
    report = json.loads((out / "report.json").read_text())
    assert report["top1"] == pytest.approx(result.test_acc)
    assert report["num_test"] == 500 and len(report["confusion_matrix"]) == 10
    assert report["top5"] >= report["top1"]
    assert report["calibration"]["nll_after"] <= report["calibration"]["nll_before"] + 1e-9


def test_flip_tta_averages_logits_of_image_and_mirror() -> None:
    torch.manual_seed(0)
    model = small_resnet().eval()
    images = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        expected = (model(images) + model(images.flip(3))) / 2
        assert torch.allclose(predict(model, images, tta=True), expected)
        assert torch.allclose(predict(model, images), model(images))


def test_resnet18_has_the_cifar_stem() -> None:
    model = resnet18()
    first = model.stem[0]
    assert first.kernel_size == (3, 3) and first.stride == (1, 1)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())
    assert 11_000_000 < sum(p.numel() for p in model.parameters()) < 11_300_000
    with torch.no_grad():
        assert model.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_ablation_ladder_is_cumulative() -> None:
    rungs = ladder(TrainConfig())
    assert len(rungs) == 5
    base = rungs[0][1]
    assert not (base.crop or base.flip or base.cosine) and base.momentum == 0
    assert base.label_smoothing == 0 and base.weight_decay == 0
    assert rungs[1][1].crop and rungs[1][1].flip and not rungs[1][1].cosine
    assert rungs[2][1].cosine and rungs[2][1].momentum == 0.9 and rungs[2][1].weight_decay > 0
    assert rungs[3][1].label_smoothing > 0 and rungs[4][1].cutout == 8
    assert all(not config.report for _, config in rungs)  # never looks at the test split


def test_cli_help_and_clear_error_for_missing_cifar(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(train_reference, ["--help"])
    assert result.exit_code == 0
    for option in (
        "--data",
        "--model",
        "--epochs",
        "--mixup",
        "--cutmix",
        "--cutout",
        "--label-smoothing",
        "--compile",
        "--out",
        "--seed",
        "--ablation",
        "--device",
    ):
        assert option in result.output
    result = runner.invoke(train_reference, ["--data", str(tmp_path), "--device", "cpu"])
    assert result.exit_code == 1
    assert "data_batch_1" in result.output and "Traceback" not in result.output


def test_cli_trains_one_tiny_epoch(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        train_reference,
        [
            "--synthetic-size",
            "300",
            "--epochs",
            "1",
            "--batch-size",
            "50",
            "--device",
            "cpu",
            "--mixup",
            "0.2",
            "--cutmix",
            "1.0",
            "--cutout",
            "8",
            "--no-progress",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Confusion matrix" in result.output
    assert {"best.pt", "log.csv", "report.json"} <= {p.name for p in tmp_path.iterdir()}


def test_gpu_recipe_runs_on_the_cpu() -> None:
    """bf16 autocast and channels_last are the GPU path; forced on, the same code trains on a CPU."""
    from clsaudit.reference_pipeline.train import autocast

    layer = torch.nn.Linear(4, 4)
    with autocast(torch.device("cpu"), True):
        assert layer(torch.randn(2, 4)).dtype == torch.bfloat16
    with autocast(torch.device("cpu")):
        assert layer(torch.randn(2, 4)).dtype == torch.float32  # default: fp32 off the GPU

    config = TrainConfig(
        synthetic_size=600, epochs=1, batch_size=64, lr=0.1, bf16=True, channels_last=True,
        report=True, tta=False, **QUICK,
    )
    result = fit(config)
    conv = next(m for m in result.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert all(torch.isfinite(torch.tensor(row["train_loss"])) for row in result.history)
    assert result.test_acc is not None and 0.0 <= result.test_acc <= 1.0
