"""Every name heuristic of the semantic model, pinned by a table: whole tokens, never substrings."""

from __future__ import annotations

import pytest
from clsaudit.semantic.heuristics import (
    classify_name,
    is_data_text,
    names_evaluation_data,
    names_statistics,
    names_training,
    selection_action,
    split_of_name,
    split_of_text,
)


@pytest.mark.parametrize("name, split", [
    ("x_test", "test"), ("testloader", "test"), ("test_acc", "test"), ("val_loader", "val"),
    ("valid_ds", "val"), ("x_train", "train"), ("trainset", "train"),
    ("test_id", None), ("runtests", None), ("disabled_test", None), ("interval", None), ("offset", None),
    ("latest", None), ("contest_score", None),
])
def test_split_of_name(name: str, split) -> None:
    assert split_of_name(name) == split


@pytest.mark.parametrize("text, split", [
    ("data/test_batch", "test"), ("./cifar/val", "val"), ("train", "train"), ("interval", None),
])
def test_split_of_text(text: str, split) -> None:
    assert split_of_text(text) == split


@pytest.mark.parametrize("name, kind", [
    ("model", "model"), ("ema_model", "model"), ("model_ft", "model"), ("resnet", "model"), ("base_net", "model"),
    ("optimizer", "optimizer"), ("d_opt", "optimizer"), ("lr_scheduler", "scheduler"), ("criterion", "loss"),
    ("scaler", "scaler"), ("train_loader", "loader"), ("val_dl", "loader"), ("trainset", "dataset"),
    ("offset", None), ("preset", None), ("models_dir", None), ("opts", None), ("network_name", None),
])
def test_classify_name(name: str, kind) -> None:
    assert classify_name(name) == kind


@pytest.mark.parametrize("text, data", [
    ("train_loader", True), ("zip(x_train, y_train)", True), ("testset", True), ("tqdm(loader)", True),
    ("range(epochs)", False), ("interval", False), ("offsets", False), ("settings", False),
    ("split_mod.graph.nodes", False), ("metrics.items()", False),
])
def test_is_data_text(text: str, data: bool) -> None:
    assert is_data_text(text) is data


@pytest.mark.parametrize("name, action", [
    ("torch.save", "save"), ("save_checkpoint", "save"), ("shutil.copyfile", "save"), ("best_acc", "best"),
    ("self.best_prec1", "best"), ("patience", "stop"), ("early_stopping", "stop"), ("bestow", None),
    ("print", None), ("saved", None),
])
def test_selection_action(name: str, action) -> None:
    assert selection_action(name) == action


def test_statistics_training_and_evaluation_words() -> None:
    assert names_statistics("channel_stats") and names_statistics("compute_mean_std")
    assert not names_statistics("statement") and not names_statistics("standard")
    assert names_training("engine.train_one_epoch") and names_training("fit")
    assert not names_training("trainable_params") and not names_training("restrain")
    assert names_evaluation_data("eval_loader") and names_evaluation_data("validation_data")
    assert not names_evaluation_data("train_loader") and not names_evaluation_data("interval")
