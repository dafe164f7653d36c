"""Data: images in, a train/validation/test split and training-split statistics out.

Every source ends in the same form, :class:`ImageArrays`: ``uint8`` images in
NCHW order (batch, channel, height, width, the layout ``nn.Conv2d`` expects)
and ``int64`` labels. Three sources:

- :func:`synthetic_cifar`: deterministic CIFAR-like images for tests and the probe;
- :func:`load_cifar10`: the CIFAR-10 "python version" pickle batches from a local folder;
- :func:`load_npz`: any ``.npz`` with ``x_train, y_train, x_test, y_test``.

:func:`split_train_val` then carves a validation split out of the training set
(model selection must never look at the test set) and computes the
normalisation statistics on the remaining training split only.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_FILES = CIFAR10_TRAIN_FILES + ("test_batch", "batches.meta")
CIFAR10_VAL_SIZE = 5_000  # of 50,000 training images: the usual 45k/5k split


@dataclass
class ImageArrays:
    """A dataset as loaded: uint8 NCHW images, int64 labels, class names."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: list[str]


@dataclass
class Splits:
    """Train / validation / test splits and the training split's statistics.

    ``mean`` and ``std`` are per-channel, in units of the [0, 1] pixel scale,
    computed on ``train_x`` only: statistics that saw validation or test
    images leak information about them into the model's inputs.
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    classes: list[str]

    @property
    def num_classes(self) -> int:
        return len(self.classes)


# --------------------------------------------------------------------------
# Synthetic data
# --------------------------------------------------------------------------


def _smooth_field(n: int, size: int, grid: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` random 3-channel fields, smooth at the scale of ``size / grid`` pixels.

    A coarse Gaussian grid upsampled bicubically: neighbouring pixels are
    strongly correlated, as in photographs, unlike white noise.
    """
    coarse = torch.randn(n, 3, grid, grid, generator=generator)
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)


def synthetic_cifar(
    num_train: int = 5_000,
    num_test: int = 1_000,
    num_classes: int = 10,
    seed: int = 0,
) -> ImageArrays:
    """Deterministic CIFAR-like data: 32x32 RGB textures, one texture family per class.

    A class is a coloured plaid: two gratings at angles +-theta with one
    spatial frequency (5 angles x 2 frequencies = 10 classes) and a class
    colour. Each image draws random phases (so the class is in the local
    structure, not at fixed pixels: the per-class mean image is nearly flat
    and a nearest-mean or linear classifier on pixels is close to chance),
    a jittered angle, random contrast and brightness, a smooth per-image
    nuisance pattern and a little pixel noise. Mirroring an image keeps its
    class, as for photographs, so horizontal flips are a valid augmentation.
    Neighbouring pixels correlate at ~0.86, as in natural images. An untrained
    model is at chance; the small ResNet needs 2-3 epochs for 95%+.
    Same ``seed``, same bytes.
    """
    if num_classes > 10:
        raise ValueError("synthetic_cifar has at most 10 classes")
    generator = torch.Generator().manual_seed(seed)
    size = 32
    label_ids = torch.arange(num_classes)
    angle = (math.pi / 8) * (label_ids // 2)  # 0, 22.5, 45, 67.5, 90 degrees
    frequency = torch.where(label_ids % 2 == 0, 1 / 9, 1 / 5.5)  # cycles per pixel
    colour = torch.randn(num_classes, 3, generator=generator)
    colour = 1.5 * colour / colour.norm(dim=1, keepdim=True)
    coords = torch.arange(size, dtype=torch.float32)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")

    def uniform(n: int, low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=generator)

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.randint(num_classes, (n,), generator=generator)
        theta = (angle[labels] + uniform(n, -math.pi / 16, math.pi / 16))[:, None, None]
        freq = (frequency[labels] * uniform(n, 0.95, 1.05))[:, None, None]
        phase_a, phase_b = uniform(n, 0, 2 * math.pi), uniform(n, 0, 2 * math.pi)
        along = xx * torch.cos(theta) + yy * torch.sin(theta)
        mirrored = -xx * torch.cos(theta) + yy * torch.sin(theta)
        plaid = torch.sin(2 * math.pi * freq * along + phase_a[:, None, None]) + torch.sin(
            2 * math.pi * freq * mirrored + phase_b[:, None, None]
        )
        images = colour[labels][:, :, None, None] * plaid[:, None]
        contrast = uniform(n, 0.5, 1.5).view(n, 1, 1, 1)
        brightness = 0.4 * torch.randn(n, 3, 1, 1, generator=generator)
        nuisance = 1.2 * _smooth_field(n, size, 6, generator)
        noise = 0.25 * torch.randn(n, 3, size, size, generator=generator)
        images = contrast * images + brightness + nuisance + noise
        pixels = (128 + 40 * images).round().clamp(0, 255).to(torch.uint8)
        return pixels, labels

    x_train, y_train = draw(num_train)
    x_test, y_test = draw(num_test)
    classes = [f"plaid{i // 2}_{'coarse' if i % 2 == 0 else 'fine'}" for i in range(num_classes)]
    return ImageArrays(x_train, y_train, x_test, y_test, classes)


# --------------------------------------------------------------------------
# CIFAR-10 pickle batches and .npz files
# --------------------------------------------------------------------------


def _unpickle(path: Path) -> dict:
    # The CIFAR batches are Python 2 pickles: bytes keys, hence encoding="bytes".
    # Unpickling runs code from the file; only point this at files you trust.
    with path.open("rb") as f:
        return pickle.load(f, encoding="bytes")


def _cifar_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    batch = _unpickle(path)
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    # Each row is 3072 bytes: the 1024 red pixels row by row, then green, then
    # blue. That is already channel-first, so (N, 3, 32, 32) is the correct
    # view: no transpose. (Reshaping to (N, 32, 32, 3) would scramble pixels.)
    images = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())
    labels = torch.tensor(batch[b"labels"], dtype=torch.int64)
    return images, labels


def load_cifar10(folder: str | Path) -> ImageArrays:
    """Load CIFAR-10 from the folder ``cifar-10-batches-py`` (the python version).

    Raises ``FileNotFoundError`` naming the missing files when the folder is
    absent or incomplete. There is no download: fetch and unpack
    ``cifar-10-python.tar.gz`` yourself.
    """
    folder = Path(folder)
    missing = [name for name in CIFAR10_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"CIFAR-10 folder {str(folder)!r} is missing {', '.join(missing)}. Expected the "
            f"python-version batches {', '.join(CIFAR10_FILES)} (the folder "
            "'cifar-10-batches-py' unpacked from cifar-10-python.tar.gz)."
        )
    parts = [_cifar_batch(folder / name) for name in CIFAR10_TRAIN_FILES]
    x_train = torch.cat([images for images, _ in parts])
    y_train = torch.cat([labels for _, labels in parts])
    x_test, y_test = _cifar_batch(folder / "test_batch")
    names = _unpickle(folder / "batches.meta")[b"label_names"]
    classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    return ImageArrays(x_train, y_train, x_test, y_test, classes)


def _images_to_nchw_uint8(array: np.ndarray) -> torch.Tensor:
    """NHWC or NCHW, uint8 or float in [0, 1] -> uint8 NCHW."""
    if array.ndim != 4 or 3 not in (array.shape[1], array.shape[3]):
        raise ValueError(f"expected images shaped (N, H, W, 3) or (N, 3, H, W), got {array.shape}")
    if array.dtype != np.uint8:
        array = np.clip(np.rint(array * 255.0), 0, 255).astype(np.uint8)
    images = torch.from_numpy(np.ascontiguousarray(array))
    if images.shape[1] != 3:
        # NumPy/Keras store images channel-last (NHWC); convolutions want NCHW.
        # permute moves the axes; a view/reshape would scramble the pixels.
        images = images.permute(0, 3, 1, 2).contiguous()
    return images


def load_npz(path: str | Path) -> ImageArrays:
    """Load an ``.npz`` with ``x_train, y_train, x_test, y_test`` (optional ``classes``)."""
    with np.load(path, allow_pickle=False) as arrays:
        missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in arrays]
        if missing:
            raise KeyError(f"{path}: missing arrays {missing}")
        x_train = _images_to_nchw_uint8(arrays["x_train"])
        x_test = _images_to_nchw_uint8(arrays["x_test"])
        y_train = torch.from_numpy(arrays["y_train"].reshape(-1).astype(np.int64))
        y_test = torch.from_numpy(arrays["y_test"].reshape(-1).astype(np.int64))
        if "classes" in arrays:
            classes = [str(c) for c in arrays["classes"]]
        else:
            classes = [str(i) for i in range(int(max(y_train.max(), y_test.max())) + 1)]
    return ImageArrays(x_train, y_train, x_test, y_test, classes)


def load_data(source: str, synthetic_size: int = 5_000, seed: int = 0) -> ImageArrays:
    """``"synthetic"``, a CIFAR-10 pickle folder, or an ``.npz`` file."""
    if source == "synthetic":
        return synthetic_cifar(num_train=synthetic_size, num_test=synthetic_size // 5, seed=seed)
    if source.endswith(".npz"):
        return load_npz(source)
    return load_cifar10(source)


# --------------------------------------------------------------------------
# Validation split and statistics
# --------------------------------------------------------------------------


def channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation of uint8 NCHW images, on the [0, 1] scale."""
    pixels = images.to(torch.float64).div_(255.0)
    mean = pixels.mean(dim=(0, 2, 3))
    std = pixels.std(dim=(0, 2, 3))
    return mean.float(), std.float()


def normalise(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 NCHW -> float32, standardised per channel with the given statistics."""
    mean = mean.to(images.device).view(1, -1, 1, 1)
    std = std.to(images.device).view(1, -1, 1, 1)
    return (images.float() / 255.0 - mean) / std


def default_val_size(num_train: int) -> int:
    """5,000 of CIFAR's 50,000 training images, and the same 10% for other sizes."""
    return max(1, round(num_train * CIFAR10_VAL_SIZE / 50_000))


def split_train_val(data: ImageArrays, val_size: int | None = None, seed: int = 0) -> Splits:
    """Carve a validation split out of the training set; compute statistics on the rest.

    The split is a seeded random permutation, so it is the same on every run
    and on every process of a distributed job.
    """
    n = len(data.y_train)
    val_size = default_val_size(n) if val_size is None else val_size
    if not 0 < val_size < n:
        raise ValueError(f"val_size must be between 1 and {n - 1}, got {val_size}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    val_idx, train_idx = order[:val_size], order[val_size:]
    train_x, train_y = data.x_train[train_idx], data.y_train[train_idx]
    # Statistics from the training split only: never validation, never test.
    mean, std = channel_stats(train_x)
    return Splits(
        train_x=train_x,
        train_y=train_y,
        val_x=data.x_train[val_idx],
        val_y=data.y_train[val_idx],
        test_x=data.x_test,
        test_y=data.y_test,
        mean=mean,
        std=std,
        classes=list(data.classes),
    )


def neighbour_correlation(images: torch.Tensor) -> float:
    """Correlation of horizontally adjacent pixels: ~0.9 for photographs, ~0 for noise."""
    x = images.float()
    left, right = x[..., :-1].reshape(-1), x[..., 1:].reshape(-1)
    return float(torch.corrcoef(torch.stack([left, right]))[0, 1])
