"""Data: synthetic set, CIFAR-10 pickle loader, .npz loader, split and statistics."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from clsaudit.reference_pipeline.data import (
    CIFAR10_FILES,
    channel_stats,
    default_val_size,
    load_cifar10,
    load_data,
    load_npz,
    neighbour_correlation,
    normalise,
    split_train_val,
    synthetic_cifar,
)


def test_synthetic_is_deterministic_and_cifar_shaped() -> None:
    a = synthetic_cifar(num_train=200, num_test=50, seed=3)
    b = synthetic_cifar(num_train=200, num_test=50, seed=3)
    c = synthetic_cifar(num_train=200, num_test=50, seed=4)
    assert a.x_train.shape == (200, 3, 32, 32) and a.x_test.shape == (50, 3, 32, 32)
    assert a.x_train.dtype == torch.uint8 and a.y_train.dtype == torch.int64
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, c.x_train)
    assert len(a.classes) == 10 and set(a.y_train.tolist()) == set(range(10))


def test_synthetic_has_natural_spatial_structure() -> None:
    data = synthetic_cifar(num_train=300, num_test=10)
    corr = neighbour_correlation(data.x_train)
    assert 0.7 < corr < 0.98  # photographs ~0.9; white noise ~0
    scrambled = data.x_train.flatten(1)[:, torch.randperm(3072)].view(-1, 3, 32, 32)
    assert abs(neighbour_correlation(scrambled)) < 0.1
    # A wrong view of NCHW data as NHWC destroys the structure too.
    wrong = data.x_train.reshape(-1, 32, 32, 3).permute(0, 3, 1, 2)
    assert neighbour_correlation(wrong) < corr - 0.3


def test_synthetic_classes_are_not_a_pixel_lookup() -> None:
    """The class lives in local structure: a nearest-mean classifier on pixels is weak."""
    data = synthetic_cifar(num_train=2000, num_test=500, seed=0)
    x = data.x_train.flatten(1).float()
    centroids = torch.stack([x[data.y_train == c].mean(0) for c in range(10)])
    predicted = torch.cdist(data.x_test.flatten(1).float(), centroids).argmin(1)
    assert (predicted == data.y_test).float().mean() < 0.4


def _write_fake_cifar(folder: Path, per_batch: int = 4) -> dict:
    """Fake CIFAR-10 folder in the real format; returns the raw rows for checking."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = {}
    for index, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = [(index + j) % 10 for j in range(per_batch)]
        rows[name] = (data, labels)
        batch = {b"data": data, b"labels": labels, b"batch_label": name.encode()}
        with (folder / name).open("wb") as f:
            pickle.dump(batch, f)
    names = [
        b"airplane",
        b"automobile",
        b"bird",
        b"cat",
        b"deer",
        b"dog",
        b"frog",
        b"horse",
        b"ship",
        b"truck",
    ]
    with (folder / "batches.meta").open("wb") as f:
        pickle.dump({b"label_names": names, b"num_cases_per_batch": per_batch}, f)
    return rows


def test_cifar10_pickles_load_as_nchw(tmp_path: Path) -> None:
    rows = _write_fake_cifar(tmp_path)
    data = load_cifar10(tmp_path)
    assert data.x_train.shape == (20, 3, 32, 32) and data.x_test.shape == (4, 3, 32, 32)
    assert data.x_train.dtype == torch.uint8 and data.y_train.dtype == torch.int64
    assert data.classes[0] == "airplane" and data.classes[9] == "truck"
    # Training batches in order 1..5, labels in file order.
    expected = [label for i in range(1, 6) for label in rows[f"data_batch_{i}"][1]]
    assert data.y_train.tolist() == expected
    assert data.y_test.tolist() == rows["test_batch"][1]
    # Row layout: 1024 red values row by row, then green, then blue -> [c, h, w].
    raw = rows["data_batch_2"][0][1]
    image = data.x_train[4 + 1].numpy()
    for c, h, w in [(0, 0, 0), (0, 0, 31), (0, 1, 0), (1, 0, 0), (2, 31, 31), (1, 17, 5)]:
        assert image[c, h, w] == raw[c * 1024 + h * 32 + w]


def test_cifar10_missing_file_names_it(tmp_path: Path) -> None:
    _write_fake_cifar(tmp_path)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3") as info:
        load_cifar10(tmp_path)
    assert "batches.meta" in str(info.value)  # the message lists what is expected
    with pytest.raises(FileNotFoundError, match="test_batch"):
        load_data(str(tmp_path / "nowhere"))
    assert set(CIFAR10_FILES) >= {"data_batch_1", "data_batch_5", "test_batch", "batches.meta"}


def test_npz_nhwc_is_permuted_to_nchw(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x_train = rng.integers(0, 256, size=(6, 32, 32, 3), dtype=np.uint8)  # NHWC, like Keras
    x_test = rng.integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8)
    path = tmp_path / "d.npz"
    np.savez(
        path,
        x_train=x_train,
        y_train=np.arange(6).reshape(6, 1),
        x_test=x_test,
        y_test=np.array([1, 0]),
    )
    data = load_npz(path)
    assert data.x_train.shape == (6, 3, 32, 32) and data.y_train.tolist() == list(range(6))
    assert data.x_train[2, 1, 5, 7] == x_train[2, 5, 7, 1]  # [n, c, h, w] == [n, h, w, c]
    assert data.y_test.dtype == torch.int64 and len(data.classes) == 6


def test_npz_float_nchw(tmp_path: Path) -> None:
    x = np.full((4, 3, 32, 32), 0.5, dtype=np.float32)
    path = tmp_path / "f.npz"
    np.savez(path, x_train=x, y_train=np.array([0, 1, 0, 1]), x_test=x[:2], y_test=np.array([0, 1]))
    data = load_npz(path)
    assert data.x_train.dtype == torch.uint8 and int(data.x_train[0, 0, 0, 0]) == 128


def test_split_sizes_and_train_only_statistics() -> None:
    assert default_val_size(50_000) == 5_000 and default_val_size(1_000) == 100
    data = synthetic_cifar(num_train=1000, num_test=200)
    # Make the test set very different: statistics must not notice.
    data.x_test = torch.full_like(data.x_test, 255)
    splits = split_train_val(data, seed=0)
    assert len(splits.val_y) == 100 and len(splits.train_y) == 900
    assert len(splits.test_y) == 200
    # Disjoint: every training image goes to exactly one split.
    train_rows = {bytes(x.numpy()) for x in splits.train_x}
    assert not any(bytes(x.numpy()) in train_rows for x in splits.val_x)
    mean, std = channel_stats(splits.train_x)
    assert torch.allclose(splits.mean, mean) and torch.allclose(splits.std, std)
    # The statistics are those of the training split, not of train+val.
    all_mean, _ = channel_stats(data.x_train)
    assert not torch.equal(splits.mean, all_mean)
    normalised = normalise(splits.train_x, splits.mean, splits.std)
    assert normalised.dtype == torch.float32
    assert torch.allclose(normalised.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-3)
    assert torch.allclose(normalised.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-3)
    # Seeded: same split every time.
    again = split_train_val(data, seed=0)
    assert torch.equal(again.val_y, splits.val_y)


def test_package_import_does_not_import_torch() -> None:
    code = "import sys, clsaudit.reference_pipeline; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_batches_cover_the_split_normalised_and_reshuffle_per_epoch() -> None:
    from clsaudit.reference_pipeline.batches import Batches

    data = synthetic_cifar(num_train=300, num_test=10)
    mean, std = channel_stats(data.x_train)
    labels = torch.arange(300)
    evaluation = Batches(data.x_train, labels, 64, mean, std, shuffle=False)
    assert len(evaluation) == 5  # 4 full batches and a last one of 44
    seen = torch.cat([y for _, y in evaluation])
    assert torch.equal(seen, labels)  # every image once, in order
    images, _ = next(iter(evaluation))
    assert torch.allclose(images, normalise(data.x_train[:64], mean, std))
    training = Batches(data.x_train, labels, 64, mean, std, shuffle=True, drop_last=True, seed=1)
    assert len(training) == 4 and all(len(y) == 64 for _, y in training)
    training.set_epoch(0)
    epoch0 = torch.cat([y for _, y in training])
    assert torch.equal(epoch0, torch.cat([y for _, y in training]))  # same epoch, same order
    training.set_epoch(1)
    assert not torch.equal(epoch0, torch.cat([y for _, y in training]))
    last = Batches(data.x_train, labels, 64, mean, std, shuffle=False, channels_last=True)
    assert next(iter(last))[0].is_contiguous(memory_format=torch.channels_last)
