"""Augmentations and losses: shapes, padding, flips, Cutout, Mixup/CutMix label mixing."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from clsaudit.reference_pipeline.augment import (
    AugmentConfig,
    augment_batch,
    cutmix,
    cutout,
    mixup,
    random_crop,
    random_flip,
    smooth_labels,
    soft_target_cross_entropy,
)


def _ramp(n: int = 8) -> torch.Tensor:
    """Images whose pixel value encodes its column (plus a per-image offset)."""
    cols = torch.arange(32.0).view(1, 1, 1, 32).expand(n, 3, 32, 32)
    return cols + 100.0 * torch.arange(n).view(n, 1, 1, 1)


def test_crop_keeps_shape_and_uses_reflect_padding() -> None:
    torch.manual_seed(0)
    images = _ramp(64)
    cropped = random_crop(images, padding=4)
    assert cropped.shape == images.shape and cropped.dtype == images.dtype
    offsets = (cropped - 100.0 * torch.arange(64).view(64, 1, 1, 1))[:, 0, 0, :]
    # Reflection of columns 0..31 padded by 4: values -4..-1 become 4..1, 32..35 become 30..27.
    padded_columns = F.pad(torch.arange(32.0).view(1, 1, 1, 32), (4, 4, 0, 0), mode="reflect")[
        0, 0, 0
    ]
    assert padded_columns[:4].tolist() == [4.0, 3.0, 2.0, 1.0]
    seen_shifts = set()
    for row in offsets:
        # Every crop is a 32-wide window of the reflect-padded row (never a zero border).
        start = next(s for s in range(9) if torch.equal(row, padded_columns[s : s + 32]))
        seen_shifts.add(start)
    assert len(seen_shifts) > 3  # different offsets per image
    # The rows were shifted by another amount than zero for some images: the crop moved.
    assert seen_shifts - {4}


def test_crop_pads_with_reflection_not_zeros() -> None:
    torch.manual_seed(1)
    images = torch.full((32, 3, 32, 32), 5.0)
    assert torch.equal(random_crop(images), images)  # constant image: reflection is invisible


def test_flip_mirrors_width_for_about_half() -> None:
    torch.manual_seed(0)
    images = _ramp(200)
    flipped = random_flip(images)
    mirrored = (flipped == images.flip(3)).flatten(1).all(1)
    unchanged = (flipped == images).flatten(1).all(1)
    assert torch.all(mirrored ^ unchanged)
    assert 60 < int(mirrored.sum()) < 140


def test_cutout_zeroes_one_square_per_image() -> None:
    torch.manual_seed(0)
    images = torch.ones(50, 3, 32, 32)
    out = cutout(images, size=8)
    zero = out[:, 0] == 0
    assert torch.equal(zero, (out == 0).all(1))  # all channels together
    counts = zero.flatten(1).sum(1)
    assert counts.max() == 64 and counts.min() > 0  # 8x8, clipped at edges
    for mask in zero:
        rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
        # a solid rectangle: its area is rows x cols
        assert int(mask.sum()) == len(rows) * len(cols) and len(rows) <= 8 and len(cols) <= 8


def test_smooth_labels_match_torch_convention() -> None:
    labels = torch.tensor([0, 3])
    targets = smooth_labels(labels, 4, 0.1)
    assert torch.allclose(targets[0], torch.tensor([0.925, 0.025, 0.025, 0.025]))
    assert torch.allclose(targets.sum(1), torch.ones(2))
    logits = torch.randn(2, 4)
    expected = F.cross_entropy(logits, labels, label_smoothing=0.1)
    assert torch.allclose(soft_target_cross_entropy(logits, targets), expected)
    one_hot = smooth_labels(labels, 4, 0.0)
    assert torch.allclose(
        soft_target_cross_entropy(logits, one_hot), F.cross_entropy(logits, labels)
    )


def test_mixup_mixes_images_and_targets_with_the_same_lambda() -> None:
    torch.manual_seed(0)
    images = torch.randn(16, 3, 32, 32)
    targets = smooth_labels(torch.arange(16) % 10, 10)
    mixed, mixed_targets, lam = mixup(images, targets, lam=0.7)
    assert lam == 0.7
    # Recover the partner of each image from the targets and check the pixels.
    for i in range(16):
        partner_label = [c for c in mixed_targets[i].nonzero().flatten().tolist() if c != i % 10]
        if not partner_label:  # paired with itself, or with a same-class image
            continue
        j = next(
            j
            for j in range(16)
            if j % 10 == partner_label[0]
            and torch.allclose(mixed[i], 0.7 * images[i] + 0.3 * images[j], atol=1e-6)
        )
        assert torch.isclose(mixed_targets[i, j % 10], torch.tensor(0.3))
    assert torch.allclose(mixed_targets.sum(1), torch.ones(16))
    _, _, sampled = mixup(images, targets, alpha=0.2)
    assert 0.0 <= sampled <= 1.0


@pytest.mark.parametrize("lam", [0.3, 0.75, 0.95])
def test_cutmix_lambda_is_area_corrected(lam: float) -> None:
    torch.manual_seed(2)
    n = 8
    images = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, 32, 32).clone()
    targets = smooth_labels(torch.arange(n), n)
    mixed, mixed_targets, used = cutmix(images, targets, lam=lam)
    for i in range(n):
        own = (mixed[i, 0] == i).float().mean().item()
        if torch.equal(mixed[i], images[i]):
            continue  # partnered with itself: nothing visible changed
        # The returned lambda is exactly the fraction of pixels left from the original.
        assert math.isclose(own, used, abs_tol=1e-6)
        assert math.isclose(mixed_targets[i, i].item(), used, abs_tol=1e-6)
        assert math.isclose(mixed_targets[i].sum().item(), 1.0, abs_tol=1e-6)
    assert used >= lam - 1e-9  # clipping at the border only removes pasted area


def test_cutmix_box_clipped_at_border_changes_lambda() -> None:
    results = set()
    for seed in range(20):
        torch.manual_seed(seed)
        _, _, used = cutmix(torch.zeros(4, 3, 32, 32), smooth_labels(torch.arange(4), 4), lam=0.5)
        results.add(round(used, 6))
    assert len(results) > 1 and any(r > 0.5 for r in results)


def test_augment_batch_all_off_is_identity_and_all_on_keeps_shapes() -> None:
    torch.manual_seed(0)
    images, labels = torch.randn(8, 3, 32, 32), torch.arange(8)
    off = AugmentConfig(crop=False, flip=False)
    same, targets = augment_batch(images, labels, 10, off)
    assert torch.equal(same, images) and torch.equal(targets.argmax(1), labels)
    on = AugmentConfig(cutout=8, mixup=0.2, cutmix=1.0, label_smoothing=0.1)
    augmented, targets = augment_batch(images, labels, 10, on)
    assert augmented.shape == images.shape and targets.shape == (8, 10)
    assert torch.allclose(targets.sum(1), torch.ones(8))
